/* presence: unique-user roster with per-user connection counts. */
#include "presence.h"

#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"

struct presence_member {
    size_t conns;
    char *info; /* JSON text, NUL-terminated */
    size_t info_len;
    size_t id_len;
    char id[]; /* NUL-terminated */
};

struct presence {
    struct hmap members; /* id -> struct presence_member */
};

struct presence *presence_new(void)
{
    struct presence *p = malloc(sizeof(*p));
    if (p)
        hmap_init(&p->members);
    return p;
}

static void presence_member_free(struct presence_member *m)
{
    if (m) {
        free(m->info);
        free(m);
    }
}

void presence_free(struct presence *p)
{
    if (!p)
        return;
    size_t it = 0;
    struct presence_member *m;
    while ((m = hmap_next(&p->members, &it, NULL, NULL)))
        presence_member_free(m);
    hmap_deinit(&p->members);
    free(p);
}

int presence_join(struct presence *p, const char *id, size_t id_len, const char *info,
                  size_t info_len, size_t max_members, int *first, struct presence_member **member)
{
    struct presence_member *m = hmap_get(&p->members, id, id_len);
    if (m) {
        m->conns++;
        *first = 0;
        if (member)
            *member = m;
        return 0;
    }
    if (max_members && hmap_count(&p->members) >= max_members)
        return PRESENCE_EFULL;
    if (!info || !info_len) {
        info = "null";
        info_len = 4;
    }
    m = malloc(sizeof(*m) + id_len + 1);
    if (!m)
        return PRESENCE_ENOMEM;
    m->info = malloc(info_len + 1);
    if (!m->info) {
        free(m);
        return PRESENCE_ENOMEM;
    }
    memcpy(m->info, info, info_len);
    m->info[info_len] = '\0';
    m->info_len = info_len;
    m->conns = 1;
    m->id_len = id_len;
    memcpy(m->id, id, id_len);
    m->id[id_len] = '\0';
    if (hmap_put(&p->members, m->id, m->id_len, m)) {
        presence_member_free(m);
        return PRESENCE_ENOMEM;
    }
    *first = 1;
    if (member)
        *member = m;
    return 0;
}

int presence_leave(struct presence *p, const char *id, size_t id_len, int *last)
{
    struct presence_member *m = hmap_get(&p->members, id, id_len);
    if (!m)
        return PRESENCE_ENOENT;
    if (--m->conns) {
        *last = 0;
        return 0;
    }
    hmap_del(&p->members, m->id, m->id_len);
    presence_member_free(m);
    *last = 1;
    return 0;
}

size_t presence_count(const struct presence *p)
{
    return hmap_count(&p->members);
}

size_t presence_connections(const struct presence *p, const char *id, size_t id_len)
{
    const struct presence_member *m = hmap_get(&p->members, id, id_len);
    return m ? m->conns : 0;
}

struct presence_member *presence_next(const struct presence *p, size_t *iter)
{
    return hmap_next(&p->members, iter, NULL, NULL);
}

const char *presence_member_id(const struct presence_member *m, size_t *len)
{
    if (len)
        *len = m->id_len;
    return m->id;
}

const char *presence_member_info(const struct presence_member *m, size_t *len)
{
    if (len)
        *len = m->info_len;
    return m->info;
}
