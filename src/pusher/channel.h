/* channel: the registry of live channels and who is subscribed to each.
 *
 * A channel exists while it has at least one subscriber (an empty channel
 * is vacated, as Pusher reports it): channel_join creates it, the channel_leave that removes the
 * last subscriber frees it (and its cached message). Channels are found by name in an xxHash map;
 * subscribers are kept in a dense array per channel so that fan-out walks contiguous memory. Every
 * subscriber keeps a `struct channel_set` (the channels it is in); the two sides index each other,
 * so joins and leaves are O(1) apart from the name lookup.
 *
 * Presence channels carry a roster (presence.h) of unique users; the
 * registry tells the caller when a join is a user's first connection and
 * when a leave is its last, and the caller sends member_added /
 * member_removed accordingly. Cache channels keep the last broadcast frame.
 *
 * Pure bookkeeping: no I/O and no lws; owners are opaque pointers (the
 * server passes its connections). Not thread-safe (loop thread only).
 */
#ifndef DOCSYNC_CHANNEL_H
#define DOCSYNC_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "common/frame.h"
#include "presence.h"

#define CHANNEL_ENOMEM (-1)
#define CHANNEL_EALREADY (-2) /* the set already holds this channel */
#define CHANNEL_EFULL (-3)    /* presence roster full (max_members) */
#define CHANNEL_ENOENT (-4)   /* the set does not hold this channel */

/* Flags fixed when a channel is created. */
#define CHANNEL_F_PRESENCE 1u /* keeps a presence roster */
#define CHANNEL_F_CACHE 2u    /* keeps its last broadcast frame */

struct channel;
struct channel_registry;
struct channel_set;

/* One subscription, as stored in the channel's dense subscriber array. */
struct channel_sub {
    void *owner;                    /* the subscriber (a connection) */
    struct channel_set *set;        /* the owner's set */
    uint32_t slot;                  /* index of this channel in `set` */
    struct presence_member *member; /* presence channels: the user; else NULL */
    unsigned char held;             /* 1: the fan-out passes this subscriber by
                                       (channel_sub_hold) */
};

struct channel_set_entry {
    struct channel *ch;
    uint32_t idx; /* index of the subscription in ch's array */
};

/* The channels one subscriber is in. Embedded by the owner; fields private. */
struct channel_set {
    void *owner;
    struct channel_set_entry *v;
    uint32_t count;
    uint32_t cap;
};

/* Initialises an empty set for `owner` (no allocation). */
void channel_set_init(struct channel_set *s, void *owner);

/* Frees the set's array. The set must be empty (leave every channel first). */
void channel_set_deinit(struct channel_set *s);

/* Number of channels in the set, and the i-th one (0 <= i < count). */
static inline uint32_t channel_set_count(const struct channel_set *s)
{
    return s->count;
}
static inline struct channel *channel_set_at(const struct channel_set *s, uint32_t i)
{
    return s->v[i].ch;
}

/* The subscription of the set's owner in `ch`, or NULL when not subscribed. */
const struct channel_sub *channel_set_find(const struct channel_set *s, const struct channel *ch);

/* Marks the subscription of `s`'s owner to `ch` held (on = 1) or not: a
 * held subscriber is passed by the fan-out while a module replays what it
 * missed, in order, before live events flow to it again. Returns 0, or -1
 * when the owner is not subscribed to ch. */
int channel_sub_hold(const struct channel_set *s, const struct channel *ch, int on);

/* A new empty registry, or NULL. */
struct channel_registry *channel_registry_new(void);

/* Frees every channel and the registry. Subscribers' sets must not be used
 * afterwards (deinit them without leaving). NULL is fine. */
void channel_registry_free(struct channel_registry *reg);

/* Live channels. */
size_t channel_registry_count(const struct channel_registry *reg);

/* The channel named `name` (`len` bytes), or NULL when it has no subscriber. */
struct channel *channel_find(const struct channel_registry *reg, const char *name, size_t len);

/* Iteration over live channels: start with *iter = 0; NULL at the end. No
 * join or leave during an iteration. */
struct channel *channel_registry_next(const struct channel_registry *reg, size_t *iter);

/* Subscribes the owner of `set` to channel `name`, creating the channel with
 * `flags` if it does not exist (flags of an existing channel are kept). For
 * presence channels `uid` (`uid_len` bytes, required) and `info` (JSON text
 * or NULL) describe the member, and `max_members` bounds unique users (0 =
 * none). On success *out is the channel and *first (optional) is 1 when
 * this is the user's first connection in a presence channel (always 1 for
 * other channels). Returns 0, CHANNEL_EALREADY (*out set, nothing changed),
 * CHANNEL_EFULL or CHANNEL_ENOMEM (no channel is left behind on failure). */
int channel_join(struct channel_registry *reg, struct channel_set *set, const char *name,
                 size_t len, unsigned flags, const char *uid, size_t uid_len, const char *info,
                 size_t info_len, size_t max_members, struct channel **out, int *first);

/* Unsubscribes the owner of `set` from `ch`. When this was the user's last
 * connection in a presence channel, *removed_uid (optional) receives a
 * malloc'd NUL-terminated copy of the user id (caller frees), else NULL.
 * When this was the channel's last subscriber the channel is freed and
 * *vacated (optional) is 1: `ch` must not be used any more. Returns 0 or
 * CHANNEL_ENOENT. */
int channel_leave(struct channel_registry *reg, struct channel_set *set, struct channel *ch,
                  char **removed_uid, int *vacated);

/* The channel's name (NUL-terminated) and length. */
const char *channel_get_name(const struct channel *ch, size_t *len);

/* CHANNEL_F_* flags. */
unsigned channel_flags(const struct channel *ch);

/* The subscriber array (valid until the next join/leave on this channel). */
const struct channel_sub *channel_subs(const struct channel *ch, size_t *count);

/* Number of subscriptions (connections). */
size_t channel_sub_count(const struct channel *ch);

/* The presence roster, or NULL for non-presence channels. */
const struct presence *channel_presence(const struct channel *ch);

/* The cached frame (borrowed), or NULL. */
struct frame *channel_cache(const struct channel *ch);

/* Replaces the cached frame with a new reference to `f` (cache channels
 * only; a no-op otherwise). */
void channel_cache_set(struct channel *ch, struct frame *f);

#endif
