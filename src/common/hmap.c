/* hmap: open addressing, linear probing, backward-shift deletion. */
#include "hmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define HMAP_MIN_CAP 8

void hmap_init(struct hmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void hmap_deinit(struct hmap *m)
{
    free(m->slots);
    hmap_init(m);
}

uint64_t hmap_hash(const void *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);
    return h ? h : 1;
}

static size_t hmap_find(const struct hmap *m, uint64_t h, const void *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        const struct hmap_entry *e = &m->slots[i];
        if (!e->hash)
            return i;
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

static int hmap_grow(struct hmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : HMAP_MIN_CAP;
    struct hmap_entry *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return HMAP_ENOMEM;
    struct hmap_entry *old = m->slots;
    size_t ocap = m->cap;
    m->slots = ns;
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].hash)
            continue;
        size_t j = (size_t)old[i].hash & (ncap - 1);
        while (ns[j].hash)
            j = (j + 1) & (ncap - 1);
        ns[j] = old[i];
    }
    free(old);
    return 0;
}

void *hmap_get(const struct hmap *m, const void *key, size_t len)
{
    if (!m->count)
        return NULL;
    size_t i = hmap_find(m, hmap_hash(key, len), key, len);
    return m->slots[i].hash ? m->slots[i].val : NULL;
}

int hmap_put(struct hmap *m, const void *key, size_t len, void *val)
{
    if ((m->count + 1) * 4 > m->cap * 3) {
        if (hmap_grow(m))
            return HMAP_ENOMEM;
    }
    uint64_t h = hmap_hash(key, len);
    size_t i = hmap_find(m, h, key, len);
    if (m->slots[i].hash)
        return HMAP_EEXIST;
    m->slots[i].hash = h;
    m->slots[i].key = key;
    m->slots[i].len = len;
    m->slots[i].val = val;
    m->count++;
    return 0;
}

void *hmap_del(struct hmap *m, const void *key, size_t len)
{
    if (!m->count)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = hmap_find(m, hmap_hash(key, len), key, len);
    if (!m->slots[i].hash)
        return NULL;
    void *val = m->slots[i].val;
    /* Backward-shift: move later entries of the cluster into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].hash)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        int in_range = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (in_range)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    memset(&m->slots[i], 0, sizeof(m->slots[i]));
    m->count--;
    return val;
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

void *hmap_next(const struct hmap *m, size_t *iter, const char **key, size_t *len)
{
    while (*iter < m->cap) {
        const struct hmap_entry *e = &m->slots[(*iter)++];
        if (e->hash) {
            if (key)
                *key = e->key;
            if (len)
                *len = e->len;
            return e->val;
        }
    }
    return NULL;
}
