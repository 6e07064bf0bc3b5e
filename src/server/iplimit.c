/* iplimit: per-address connection counts (see iplimit.h). */
#include "iplimit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"

struct ipent {
    uint8_t key[16]; /* the map's key */
    uint32_t open;   /* connections open now */
    uint32_t fresh;  /* connections accepted during second `window` */
    int64_t window;
};

struct iplimit {
    struct hmap byaddr; /* key -> struct ipent */
    size_t nfd;
    size_t open;
    struct ipent *byfd[]; /* the entry a counted descriptor belongs to */
};

struct iplimit *iplimit_new(unsigned fd_limit)
{
    struct iplimit *t = calloc(1, sizeof(*t) + (size_t)fd_limit * sizeof(struct ipent *));
    if (!t)
        return NULL;
    hmap_init(&t->byaddr);
    t->nfd = fd_limit;
    return t;
}

void iplimit_free(struct iplimit *t)
{
    if (!t)
        return;
    size_t it = 0;
    struct ipent *e;
    while ((e = hmap_next(&t->byaddr, &it, NULL, NULL)) != NULL)
        free(e);
    hmap_deinit(&t->byaddr);
    free(t);
}

int iplimit_addr_key(const struct sockaddr *sa, uint8_t key[16])
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memset(key, 0, 10);
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return 0;
    }
    return -1;
}

static void iplimit_drop_if_idle(struct iplimit *t, struct ipent *e, int64_t now)
{
    if (e->open == 0 && e->window < now) {
        hmap_del(&t->byaddr, e->key, sizeof e->key);
        free(e);
    }
}

void iplimit_release(struct iplimit *t, int fd)
{
    if (!t || fd < 0 || (size_t)fd >= t->nfd || !t->byfd[fd])
        return;
    struct ipent *e = t->byfd[fd];
    t->byfd[fd] = NULL;
    e->open--;
    t->open--;
}

int iplimit_admit(struct iplimit *t, int fd, const struct sockaddr *addr, size_t max_open,
                  unsigned per_second, int64_t now)
{
    uint8_t key[16];
    if (!t || fd < 0 || (size_t)fd >= t->nfd || iplimit_addr_key(addr, key) != 0)
        return IPLIMIT_OK;
    iplimit_release(t, fd); /* a release that never came (see iplimit.h) */
    struct ipent *e = hmap_get(&t->byaddr, key, sizeof key);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e)
            return IPLIMIT_ENOMEM;
        memcpy(e->key, key, sizeof key);
        if (hmap_put(&t->byaddr, e->key, sizeof e->key, e) != 0) {
            free(e);
            return IPLIMIT_ENOMEM;
        }
    }
    if (e->window != now) {
        e->window = now;
        e->fresh = 0;
    }
    if (max_open && e->open >= max_open)
        return IPLIMIT_OPEN;
    if (per_second && e->fresh >= per_second)
        return IPLIMIT_RATE;
    e->fresh++;
    e->open++;
    t->open++;
    t->byfd[fd] = e;
    return IPLIMIT_OK;
}

size_t iplimit_open(const struct iplimit *t)
{
    return t ? t->open : 0;
}

void iplimit_sweep(struct iplimit *t, int64_t now)
{
    if (!t)
        return;
    /* The map may not change during an iteration: collect, then drop. */
    struct ipent *batch[256];
    for (;;) {
        size_t it = 0, n = 0;
        struct ipent *e;
        while (n < 256 && (e = hmap_next(&t->byaddr, &it, NULL, NULL)) != NULL) {
            if (e->open == 0 && e->window < now)
                batch[n++] = e;
        }
        for (size_t i = 0; i < n; i++)
            iplimit_drop_if_idle(t, batch[i], now);
        if (n < 256)
            return;
    }
}
