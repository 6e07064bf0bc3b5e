/* broadcast: frames to the subscribers of a channel - the fan-out every
 * event goes through (HTTP API, client events, module broadcasts), the
 * cache channels' last event, and leaving channels, which tells the
 * remaining presence members. Calls down to conn.c only. */
#include "server_int.h"

#include <stdlib.h>
#include <string.h>

#include "socketio/sio.h"

int broadcast_observe(struct server *srv, broadcast_observer_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nobservers >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->observers[srv->nobservers++] = (struct broadcast_observer){fn, ud};
    return 0;
}

void broadcast_notify(struct server *srv, const struct broadcast_event *ev)
{
    for (size_t i = 0; i < srv->nobservers; i++)
        srv->observers[i].fn(srv, ev, srv->observers[i].ud);
}

/* A leave or join as observers hear of it. */
static void broadcast_tell(struct server *srv, enum broadcast_event_kind kind, const char *channel,
                           const char *uid)
{
    if (srv->nobservers)
        broadcast_notify(
            srv, &(struct broadcast_event){.kind = kind, .channel = channel, .user_id = uid});
}

int broadcast_fanout(struct server *srv, struct channel *ch, struct frame *f,
                     const struct conn *except)
{
    size_t n;
    const struct channel_sub *subs = channel_subs(ch, &n);
    int delivered = 0;
    for (size_t i = 0; i < n; i++) {
        struct conn *c = subs[i].owner;
        if (c == except || subs[i].held || (c->flags & CONN_F_DEAD))
            continue;
        if (conn_queue(c, f) == 0)
            delivered++;
    }
    srv->metrics.deliveries += (uint64_t)delivered;
    return delivered;
}

int broadcast_publish(struct server *srv, struct channel *ch, struct frame *f,
                      const struct conn *except)
{
    if (channel_flags(ch) & CHANNEL_F_CACHE)
        channel_cache_set(ch, f);
    return broadcast_fanout(srv, ch, f, except);
}

int broadcast_on_relay(struct server *srv, broadcast_relay_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->relay.fn)
        return SERVER_EFULL;
    srv->relay = (struct broadcast_relay){fn, ud};
    return 0;
}

void broadcast_relay(struct server *srv, const char *channel, struct frame *f,
                     const char *except_sid)
{
    if (srv->relay.fn)
        srv->relay.fn(srv, channel, f, except_sid, srv->relay.ud);
}

int broadcast_remote(struct server *srv, const char *channel, struct frame *f,
                     const char *except_sid)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    if (!ch)
        return 0;
    const struct conn *except = except_sid ? conn_find(srv, except_sid) : NULL;
    return broadcast_publish(srv, ch, f, except);
}

int broadcast_hold(struct conn *c, const char *channel, int on)
{
    struct channel *ch = channel_find(c->srv->channels, channel, strlen(channel));
    return ch && channel_sub_hold(&c->chans, ch, on) == 0 ? 0 : SERVER_EINVAL;
}

int broadcast_frame(struct server *srv, const char *channel, struct frame *f,
                    const struct conn *except)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    int n = ch ? broadcast_publish(srv, ch, f, except) : 0;
    broadcast_relay(srv, channel, f, except ? except->sid : NULL);
    return n;
}

/* Leaves `ch`; `hooks` 0 skips the cluster's presence leave hook. */
static void broadcast_leave_as(struct conn *c, struct channel *ch, int hooks)
{
    struct server *srv = c->srv;
    size_t nlen;
    const char *name = channel_get_name(ch, &nlen);
    char *uid = NULL;
    int vacated = 0;
    int presence = (channel_flags(ch) & CHANNEL_F_PRESENCE) != 0;
    /* cluster/: presence is the cluster's; it decides member_removed. */
    int clustered = presence && srv->cluster.leave && !srv->stopping;
    int counted = srv->cluster.count && !srv->stopping;
    /* Keep the name: the channel may be freed by channel_leave. */
    char *name_copy = NULL;
    int tell = srv->nobservers > 0;
    if ((presence && !srv->stopping) || tell || counted)
        name_copy = strndup(name, nlen);
    /* The member's id and user_info (Socket.IO's presence:leaving, the
     * cluster's leave hook). */
    char *info = NULL, *member = NULL;
    const struct channel_sub *sub = channel_set_find(&c->chans, ch);
    if (sub && sub->member && !srv->stopping) {
        size_t ilen = 0;
        const char *i = presence_member_info(sub->member, &ilen);
        info = i ? strndup(i, ilen) : NULL;
        if (clustered)
            member = strdup(presence_member_id(sub->member, NULL));
    }
    channel_leave(srv->channels, &c->chans, ch, &uid, &vacated);
    if (counted && name_copy)
        srv->cluster.count(srv, name_copy, -1, srv->cluster.ud);
    if (clustered && name_copy && member) {
        if (hooks)
            srv->cluster.leave(srv, c->sid, name_copy, member, info ? info : "null", uid != NULL,
                               srv->cluster.ud);
        free(uid);
        uid = NULL; /* member_removed is the cluster's to send */
    }
    if (tell && name_copy) {
        if (uid)
            broadcast_tell(srv, BROADCAST_MEMBER_REMOVED, name_copy, uid);
        /* cluster/: channel_vacated is the cluster's (its count hook). */
        if (vacated && !srv->cluster.count)
            broadcast_tell(srv, BROADCAST_VACATED, name_copy, NULL);
    }
    if (uid && !vacated && name_copy && !srv->stopping) {
        struct message_frame mf = {0};
        if (message_build_member_removed(MESSAGE_FRAME_HEADROOM, name_copy, uid, &mf) ==
            MESSAGE_OK) {
            struct frame *f = message_frame_adopt(&mf);
            if (f) {
                f->alt = sio_frame_leaving(name_copy, uid, info);
                struct channel *still = channel_find(srv->channels, name_copy, nlen);
                if (still)
                    broadcast_fanout(srv, still, f, c);
                frame_unref(f);
            }
        }
    }
    free(uid);
    free(info);
    free(member);
    free(name_copy);
}

void broadcast_leave(struct conn *c, struct channel *ch)
{
    broadcast_leave_as(c, ch, 1);
}

void broadcast_leave_quiet(struct conn *c, struct channel *ch)
{
    broadcast_leave_as(c, ch, 0);
}

int broadcast_on_cluster(struct server *srv, const struct broadcast_cluster *h)
{
    if (!h || !h->join || !h->leave || !h->count)
        return SERVER_EINVAL;
    if (srv->cluster.join)
        return SERVER_EFULL;
    srv->cluster = *h;
    return 0;
}

size_t broadcast_subscriber_count(struct server *srv, const char *channel)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    return ch ? channel_sub_count(ch) : 0;
}

int broadcast_member(struct server *srv, const char *channel, int added, const char *uid,
                     const char *info, const char *except_sid, unsigned how)
{
    if (how & BROADCAST_MEMBER_TELL)
        broadcast_tell(srv, added ? BROADCAST_MEMBER_ADDED : BROADCAST_MEMBER_REMOVED, channel,
                       uid);
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    if (!ch || !(how & BROADCAST_MEMBER_SEND))
        return 0;
    struct message_frame mf = {0};
    int rc = added ? message_build_member_added(MESSAGE_FRAME_HEADROOM, channel, uid, info, &mf)
                   : message_build_member_removed(MESSAGE_FRAME_HEADROOM, channel, uid, &mf);
    struct frame *f = rc == MESSAGE_OK ? message_frame_adopt(&mf) : NULL;
    if (!f)
        return 0;
    if (!added)
        f->alt = sio_frame_leaving(channel, uid, info);
    const struct conn *except = except_sid ? conn_find(srv, except_sid) : NULL;
    int n = broadcast_fanout(srv, ch, f, except);
    frame_unref(f);
    return n;
}

int broadcast_local_members(struct server *srv, const char *channel,
                            void (*fn)(void *ctx, const char *uid, const char *info), void *ctx)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    const struct presence *p = ch ? channel_presence(ch) : NULL;
    if (!p)
        return SERVER_ENOENT;
    size_t it = 0;
    struct presence_member *m;
    while ((m = presence_next(p, &it)))
        fn(ctx, presence_member_id(m, NULL), presence_member_info(m, NULL));
    return 0;
}

void broadcast_each_subscription(struct server *srv,
                                 void (*fn)(void *ctx, const char *sid, const char *channel,
                                            const char *uid, const char *info),
                                 void (*fn_count)(void *ctx, const char *channel, size_t n),
                                 void *ctx)
{
    size_t it = 0;
    struct channel *ch;
    while ((ch = channel_registry_next(srv->channels, &it))) {
        const char *name = channel_get_name(ch, NULL);
        size_t n;
        const struct channel_sub *subs = channel_subs(ch, &n);
        if (fn_count)
            fn_count(ctx, name, n);
        for (size_t i = 0; fn && i < n; i++) {
            const struct conn *c = subs[i].owner;
            if (subs[i].member && !(c->flags & CONN_F_DEAD))
                fn(ctx, c->sid, name, presence_member_id(subs[i].member, NULL),
                   presence_member_info(subs[i].member, NULL));
        }
    }
}

void broadcast_leave_all(struct conn *c)
{
    while (channel_set_count(&c->chans))
        broadcast_leave(c, channel_set_at(&c->chans, channel_set_count(&c->chans) - 1));
}

int broadcast_revoke(struct server *srv, const char *channel,
                     int (*allowed)(void *ctx, const struct conn *c, const char *channel),
                     void *ctx, struct frame *notice)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    if (!ch)
        return 0;
    /* Decide first, then leave: leaving changes the subscriber array and
     * may free the channel. */
    size_t n;
    const struct channel_sub *subs = channel_subs(ch, &n);
    struct conn **out = n ? malloc(n * sizeof *out) : NULL;
    if (n && !out)
        return SERVER_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct conn *c = subs[i].owner;
        if (!(c->flags & CONN_F_DEAD) && !allowed(ctx, c, channel))
            out[k++] = c;
    }
    for (size_t i = 0; i < k; i++) {
        struct channel *still = channel_find(srv->channels, channel, strlen(channel));
        if (!still)
            break;
        if (notice)
            conn_queue(out[i], notice);
        broadcast_leave(out[i], still);
    }
    free(out);
    return (int)k;
}

void broadcast_each_channel(struct server *srv, const char *prefix,
                            void (*fn)(void *ctx, const char *name, size_t nlen), void *ctx)
{
    size_t plen = strlen(prefix), it = 0;
    struct channel *ch;
    while ((ch = channel_registry_next(srv->channels, &it))) {
        size_t nlen;
        const char *name = channel_get_name(ch, &nlen);
        if (nlen >= plen && memcmp(name, prefix, plen) == 0)
            fn(ctx, name, nlen);
    }
}
