/* channel: registry of live channels, dense subscriber arrays. */
#include "channel.h"

#include <stdlib.h>
#include <string.h>

#include "common/hmap.h"

struct channel {
    struct channel_sub *subs;
    uint32_t nsubs;
    uint32_t cap;
    unsigned flags;
    struct presence *presence; /* CHANNEL_F_PRESENCE */
    struct frame *cached;      /* CHANNEL_F_CACHE */
    size_t name_len;
    char name[]; /* NUL-terminated */
};

struct channel_registry {
    struct hmap channels; /* name -> struct channel */
};

void channel_set_init(struct channel_set *s, void *owner)
{
    s->owner = owner;
    s->v = NULL;
    s->count = 0;
    s->cap = 0;
}

void channel_set_deinit(struct channel_set *s)
{
    free(s->v);
    s->v = NULL;
    s->count = s->cap = 0;
}

const struct channel_sub *channel_set_find(const struct channel_set *s, const struct channel *ch)
{
    for (uint32_t i = 0; i < s->count; i++) {
        if (s->v[i].ch == ch)
            return &ch->subs[s->v[i].idx];
    }
    return NULL;
}

int channel_sub_hold(const struct channel_set *s, const struct channel *ch, int on)
{
    struct channel_sub *sub = (struct channel_sub *)channel_set_find(s, ch);
    if (!sub)
        return -1;
    sub->held = on ? 1 : 0;
    return 0;
}

struct channel_registry *channel_registry_new(void)
{
    struct channel_registry *reg = malloc(sizeof(*reg));
    if (reg)
        hmap_init(&reg->channels);
    return reg;
}

static void channel_free(struct channel *ch)
{
    presence_free(ch->presence);
    frame_unref(ch->cached);
    free(ch->subs);
    free(ch);
}

void channel_registry_free(struct channel_registry *reg)
{
    if (!reg)
        return;
    size_t it = 0;
    struct channel *ch;
    while ((ch = hmap_next(&reg->channels, &it, NULL, NULL)))
        channel_free(ch);
    hmap_deinit(&reg->channels);
    free(reg);
}

size_t channel_registry_count(const struct channel_registry *reg)
{
    return hmap_count(&reg->channels);
}

struct channel *channel_find(const struct channel_registry *reg, const char *name, size_t len)
{
    return hmap_get(&reg->channels, name, len);
}

struct channel *channel_registry_next(const struct channel_registry *reg, size_t *iter)
{
    return hmap_next(&reg->channels, iter, NULL, NULL);
}

static struct channel *channel_create(struct channel_registry *reg, const char *name, size_t len,
                                      unsigned flags)
{
    struct channel *ch = calloc(1, sizeof(*ch) + len + 1);
    if (!ch)
        return NULL;
    ch->flags = flags;
    ch->name_len = len;
    memcpy(ch->name, name, len);
    ch->name[len] = '\0';
    if ((flags & CHANNEL_F_PRESENCE) && !(ch->presence = presence_new())) {
        free(ch);
        return NULL;
    }
    if (hmap_put(&reg->channels, ch->name, ch->name_len, ch)) {
        channel_free(ch);
        return NULL;
    }
    return ch;
}

static void channel_destroy(struct channel_registry *reg, struct channel *ch)
{
    hmap_del(&reg->channels, ch->name, ch->name_len);
    channel_free(ch);
}

static int channel_reserve(struct channel *ch, struct channel_set *set)
{
    if (ch->nsubs == ch->cap) {
        uint32_t ncap = ch->cap ? ch->cap * 2 : 4;
        struct channel_sub *n = realloc(ch->subs, sizeof(*n) * ncap);
        if (!n)
            return CHANNEL_ENOMEM;
        ch->subs = n;
        ch->cap = ncap;
    }
    if (set->count == set->cap) {
        uint32_t ncap = set->cap ? set->cap * 2 : 4;
        struct channel_set_entry *n = realloc(set->v, sizeof(*n) * ncap);
        if (!n)
            return CHANNEL_ENOMEM;
        set->v = n;
        set->cap = ncap;
    }
    return 0;
}

int channel_join(struct channel_registry *reg, struct channel_set *set, const char *name,
                 size_t len, unsigned flags, const char *uid, size_t uid_len, const char *info,
                 size_t info_len, size_t max_members, struct channel **out, int *first)
{
    struct channel *ch = hmap_get(&reg->channels, name, len);
    int created = 0;
    if (ch && channel_set_find(set, ch)) {
        *out = ch;
        return CHANNEL_EALREADY;
    }
    if (!ch) {
        ch = channel_create(reg, name, len, flags);
        if (!ch)
            return CHANNEL_ENOMEM;
        created = 1;
    }
    int rc = channel_reserve(ch, set);
    struct presence_member *member = NULL;
    int is_first = 1;
    if (!rc && ch->presence) {
        rc = presence_join(ch->presence, uid ? uid : "", uid ? uid_len : 0, info, info_len,
                           max_members, &is_first, &member);
        if (rc == PRESENCE_EFULL)
            rc = CHANNEL_EFULL;
        else if (rc)
            rc = CHANNEL_ENOMEM;
    }
    if (rc) {
        if (created)
            channel_destroy(reg, ch);
        return rc;
    }
    uint32_t idx = ch->nsubs++;
    uint32_t slot = set->count++;
    ch->subs[idx] = (struct channel_sub){set->owner, set, slot, member, 0};
    set->v[slot] = (struct channel_set_entry){ch, idx};
    *out = ch;
    if (first)
        *first = is_first;
    return 0;
}

int channel_leave(struct channel_registry *reg, struct channel_set *set, struct channel *ch,
                  char **removed_uid, int *vacated)
{
    if (removed_uid)
        *removed_uid = NULL;
    if (vacated)
        *vacated = 0;
    uint32_t slot = 0;
    while (slot < set->count && set->v[slot].ch != ch)
        slot++;
    if (slot == set->count)
        return CHANNEL_ENOENT;
    uint32_t idx = set->v[slot].idx;
    struct presence_member *member = ch->subs[idx].member;

    if (member && ch->presence) {
        size_t id_len;
        const char *id = presence_member_id(member, &id_len);
        char *copy = NULL;
        if (removed_uid) {
            copy = malloc(id_len + 1);
            if (copy)
                memcpy(copy, id, id_len + 1);
        }
        int last = 0;
        presence_leave(ch->presence, copy ? copy : id, id_len, &last);
        if (last && removed_uid)
            *removed_uid = copy;
        else
            free(copy);
    }

    /* Swap-remove from the channel's array and fix the moved entry's back index. */
    uint32_t lasti = --ch->nsubs;
    if (idx != lasti) {
        ch->subs[idx] = ch->subs[lasti];
        ch->subs[idx].set->v[ch->subs[idx].slot].idx = idx;
    }
    /* Swap-remove from the set and fix the moved channel's forward index. */
    uint32_t lasts = --set->count;
    if (slot != lasts) {
        set->v[slot] = set->v[lasts];
        set->v[slot].ch->subs[set->v[slot].idx].slot = slot;
    }

    if (!ch->nsubs) {
        channel_destroy(reg, ch);
        if (vacated)
            *vacated = 1;
    }
    return 0;
}

const char *channel_get_name(const struct channel *ch, size_t *len)
{
    if (len)
        *len = ch->name_len;
    return ch->name;
}

unsigned channel_flags(const struct channel *ch)
{
    return ch->flags;
}

const struct channel_sub *channel_subs(const struct channel *ch, size_t *count)
{
    *count = ch->nsubs;
    return ch->subs;
}

size_t channel_sub_count(const struct channel *ch)
{
    return ch->nsubs;
}

const struct presence *channel_presence(const struct channel *ch)
{
    return ch->presence;
}

struct frame *channel_cache(const struct channel *ch)
{
    return ch->cached;
}

void channel_cache_set(struct channel *ch, struct frame *f)
{
    if (!(ch->flags & CHANNEL_F_CACHE))
        return;
    if (f)
        frame_ref(f);
    frame_unref(ch->cached);
    ch->cached = f;
}
