/* subscribe: pusher:subscribe and pusher:unsubscribe.
 *
 * Channel names are validated (charset, length <= channel_name_max) and
 * refused with pusher:error 4009 otherwise, as Pusher does. Guarded
 * channels (private-, private-encrypted-, presence-, their cache variants)
 * need `auth` = "<app key>:<HMAC>" over "socket:channel[:channel_data]",
 * verified in constant time with the key part checked (sign.h); a failure
 * is pusher:error 4009 "Connection is unauthorized" and, when
 * DOCSYNC_SUBSCRIPTION_ERROR is on, also a channel-scoped
 * pusher:subscription_error so Echo's .error() fires. Presence needs
 * channel_data unless the connection is signed in. #server-to-user-<id>
 * admits only the connection signed in as <id>.
 *
 * On a presence join the other members get member_added first (only for a
 * user's first connection), then the joiner gets subscription_succeeded
 * with the roster of unique users. Cache channels then replay their last
 * event or send pusher:cache_miss. */
#include "server_int.h"

#include <stdlib.h>
#include <string.h>

#include "pusher/channel_name.h"
#include "pusher/sign.h"

static void subscribe_queue_built(struct conn *c, int rc, struct message_frame *mf)
{
    if (rc != MESSAGE_OK)
        return;
    struct frame *f = message_frame_adopt(mf);
    if (f) {
        conn_queue(c, f);
        frame_unref(f);
    }
}

static void subscribe_refuse(struct conn *c, const char *channel, int code, const char *text,
                             int status)
{
    conn_error(c, code, text, 0);
    if (c->srv->cfg->subscription_error) {
        struct message_frame mf = {0};
        int rc = message_build_subscription_error(MESSAGE_FRAME_HEADROOM, channel, "AuthError",
                                                  text, status, &mf);
        subscribe_queue_built(c, rc, &mf);
    }
}

/* subscription_succeeded (+ cache replay) for a channel the connection is
 * in; a presence channel's roster is `mm` (n members). */
static void subscribe_succeeded_with(struct conn *c, struct channel *ch,
                                     const struct message_presence_member *mm, size_t n)
{
    const char *name = channel_get_name(ch, NULL);
    struct message_frame mf = {0};
    int rc;
    if (channel_presence(ch))
        rc = message_build_presence_succeeded(MESSAGE_FRAME_HEADROOM, name, mm, n, &mf);
    else
        rc = message_build_subscription_succeeded(MESSAGE_FRAME_HEADROOM, name, NULL, &mf);
    subscribe_queue_built(c, rc, &mf);
    if (channel_flags(ch) & CHANNEL_F_CACHE) {
        struct frame *cached = channel_cache(ch);
        if (cached) {
            conn_queue(c, cached);
        } else {
            rc = message_build_cache_miss(MESSAGE_FRAME_HEADROOM, name, &mf);
            subscribe_queue_built(c, rc, &mf);
            if (c->srv->nobservers)
                broadcast_notify(c->srv, &(struct broadcast_event){.kind = BROADCAST_CACHE_MISS,
                                                                   .channel = name,
                                                                   .socket_id = c->sid});
        }
    }
}

/* The same with this node's own roster (one node, or Redis down). */
static void subscribe_succeeded(struct conn *c, struct channel *ch)
{
    const struct presence *p = channel_presence(ch);
    size_t n = p ? presence_count(p) : 0, i = 0, it = 0;
    struct message_presence_member *mm = calloc(n ? n : 1, sizeof(*mm));
    if (!mm)
        return;
    struct presence_member *m;
    while (p && (m = presence_next(p, &it)) && i < n) {
        mm[i].user_id = presence_member_id(m, NULL);
        mm[i].user_info = presence_member_info(m, NULL);
        i++;
    }
    subscribe_succeeded_with(c, ch, mm, i);
    free(mm);
}

/* The subscribed hooks (session_on_subscribed), after the success. */
static void subscribe_tell(struct conn *c, const char *channel, const message *m)
{
    struct server *srv = c->srv;
    for (size_t i = 0; i < srv->nsubscribed_hooks && !(c->flags & CONN_F_DEAD); i++)
        srv->subscribed_hooks[i].fn(srv, c, channel, m, srv->subscribed_hooks[i].ud);
}

int session_on_subscribed(struct server *srv, session_subscribed_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nsubscribed_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->subscribed_hooks[srv->nsubscribed_hooks++] = (struct session_subscribed_hook){fn, ud};
    return 0;
}

static int subscribe_verify(struct conn *c, const char *name, const struct message_subscribe *s,
                            const char *cdata, size_t cdata_len, int trusted)
{
    const struct config *cfg = c->srv->cfg;
    if (trusted)
        return SIGN_OK; /* authorised by other means before (sio_echo.c) */
    return sign_channel_auth_verify(cfg->app_key, cfg->app_secret, c->sid, name, cdata, cdata_len,
                                    s->auth, s->auth ? s->auth_len : 0);
}

static void subscribe_run(struct conn *c, const message *m, int trusted)
{
    struct server *srv = c->srv;
    const struct config *cfg = srv->cfg;
    struct message_subscribe s;
    if (message_subscribe_get(m, &s) != MESSAGE_OK) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    const char *name = s.channel;
    size_t nlen = strlen(name);
    if (channel_name_validate(name, nlen, cfg->channel_name_max) != CHANNEL_NAME_OK) {
        subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Invalid channel name", 400);
        return;
    }
    struct channel *ch = channel_find(srv->channels, name, nlen);
    if (ch && channel_set_find(&c->chans, ch)) {
        /* Re-subscribing: answer again, change nothing (pusher-js resubscribes
         * after a network blip and waits for the answer). */
        const struct channel_sub *sub = channel_set_find(&c->chans, ch);
        if (sub->member && srv->cluster.join) {
            /* the cluster's roster: the module answers */
            size_t dlen = 0;
            const char *d = message_data_raw(m, &dlen);
            char *data = d ? strndup(d, dlen) : NULL;
            srv->cluster.join(srv, c, name, presence_member_id(sub->member, NULL),
                              presence_member_info(sub->member, NULL), 1, data, srv->cluster.ud);
            free(data);
            return;
        }
        subscribe_succeeded(c, ch);
        subscribe_tell(c, name, m);
        return;
    }
    if (channel_set_count(&c->chans) >= SERVER_MAX_SUBSCRIPTIONS) {
        subscribe_refuse(c, name, PUSHER_GENERIC, "Too many subscriptions", 400);
        return;
    }

    enum channel_kind kind = channel_name_kind(name, nlen);
    struct message_member mb = {0};
    const char *uid = NULL, *info = NULL;
    if (kind == CHANNEL_KIND_SERVER_TO_USER) {
        size_t idlen = 0;
        const char *id = channel_name_user_id(name, nlen, &idlen);
        if (!id || !c->signin_id || strlen(c->signin_id) != idlen ||
            memcmp(id, c->signin_id, idlen) != 0) {
            subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Connection is unauthorized", 403);
            return;
        }
    } else if (channel_kind_is_presence(kind)) {
        if (s.channel_data) {
            if (subscribe_verify(c, name, &s, s.channel_data, s.channel_data_len, trusted) !=
                SIGN_OK) {
                subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Connection is unauthorized", 401);
                return;
            }
            int rc = message_member_decode(s.channel_data, s.channel_data_len, &srv->limits, &mb);
            if (rc != MESSAGE_OK) {
                subscribe_refuse(c, name, PUSHER_UNAUTHORIZED,
                                 rc == MESSAGE_ELIMIT ? "The presence member data is too large"
                                                      : "Invalid presence channel data",
                                 400);
                return;
            }
            uid = mb.user_id;
            info = mb.user_info;
        } else if (c->signin_id) {
            if (subscribe_verify(c, name, &s, NULL, 0, trusted) != SIGN_OK) {
                subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Connection is unauthorized", 401);
                return;
            }
            uid = c->signin_id;
            info = c->signin_info;
        } else {
            subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Connection is unauthorized", 401);
            return;
        }
    } else if (channel_kind_needs_auth(kind)) {
        if (subscribe_verify(c, name, &s, s.channel_data, s.channel_data ? s.channel_data_len : 0,
                             trusted) != SIGN_OK) {
            subscribe_refuse(c, name, PUSHER_UNAUTHORIZED, "Connection is unauthorized", 401);
            return;
        }
    }

    unsigned flags = 0;
    if (channel_kind_is_presence(kind))
        flags |= CHANNEL_F_PRESENCE;
    if (channel_kind_is_cache(kind))
        flags |= CHANNEL_F_CACHE;
    int first = 0;
    int rc = channel_join(srv->channels, &c->chans, name, nlen, flags, uid, uid ? strlen(uid) : 0,
                          info, info ? strlen(info) : 0, cfg->presence_max_members, &ch, &first);
    if (rc == CHANNEL_EFULL) {
        subscribe_refuse(c, name, PUSHER_OVER_CAPACITY, "Over capacity", 400);
        message_member_free(&mb);
        return;
    }
    if (rc != 0 && rc != CHANNEL_EALREADY) {
        conn_error(c, PUSHER_GENERIC, "Internal error", 0);
        message_member_free(&mb);
        return;
    }
    if (srv->cluster.count)
        srv->cluster.count(srv, name, 1, srv->cluster.ud);
    if (uid && srv->cluster.join) {
        /* cluster/: the roster, member_added and channel_occupied are the
         * cluster's. */
        channel_sub_hold(&c->chans, ch, 1);
        size_t dlen = 0;
        const char *d = message_data_raw(m, &dlen);
        char *data = d ? strndup(d, dlen) : NULL;
        char *id = strdup(uid), *inf = info ? strdup(info) : NULL;
        message_member_free(&mb);
        if (id)
            srv->cluster.join(srv, c, name, id, inf ? inf : "null", 0, data, srv->cluster.ud);
        free(id);
        free(inf);
        free(data);
        return;
    }
    if (srv->nobservers) {
        /* cluster/: channel_occupied is the cluster's (its count hook). */
        if (channel_sub_count(ch) == 1 && !srv->cluster.count)
            broadcast_notify(
                srv, &(struct broadcast_event){.kind = BROADCAST_OCCUPIED, .channel = name});
        if (uid && first)
            broadcast_notify(srv, &(struct broadcast_event){.kind = BROADCAST_MEMBER_ADDED,
                                                            .channel = name,
                                                            .user_id = uid});
    }
    if (uid && first) {
        /* Tell the others before the joiner hears it succeeded, as Pusher
         * orders them: a test or app that waits for the joiner's success may
         * count on the others already knowing. */
        struct message_frame mf = {0};
        if (message_build_member_added(MESSAGE_FRAME_HEADROOM, name, uid, info, &mf) ==
            MESSAGE_OK) {
            struct frame *f = message_frame_adopt(&mf);
            if (f) {
                size_t n, peers = 0;
                const struct channel_sub *subs = channel_subs(ch, &n);
                for (size_t i = 0; i < n; i++) {
                    struct conn *o = subs[i].owner;
                    if (o != c && !(o->flags & CONN_F_DEAD) && conn_queue(o, f) == 0)
                        peers++;
                }
                frame_unref(f);
                /* lws would service the joiner first (it is the socket being
                 * read); hold it a moment so the peers' member_added leaves
                 * before its subscription_succeeded. */
                if (peers)
                    conn_hold(c);
            }
        }
    }
    message_member_free(&mb);
    subscribe_succeeded(c, ch);
    subscribe_tell(c, name, m);
    if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
        log_debug(srv->log, "connection %s subscribed to %s", c->sid, name);
}

void subscribe_handle(struct conn *c, const message *m)
{
    subscribe_run(c, m, 0);
}

void subscribe_admit(struct conn *c, const message *m)
{
    subscribe_run(c, m, 1);
}

/* The held subscription of `sid` to `channel` (cluster joins), or NULL. */
static struct conn *subscribe_held(struct server *srv, const char *sid, const char *channel,
                                   struct channel **out)
{
    struct conn *c = conn_find(srv, sid);
    struct channel *ch = c ? channel_find(srv->channels, channel, strlen(channel)) : NULL;
    if (!ch || (c->flags & CONN_F_DEAD) || !channel_set_find(&c->chans, ch))
        return NULL;
    *out = ch;
    return c;
}

int broadcast_presence_answer(struct server *srv, const char *sid, const char *channel,
                              const struct broadcast_member *members, size_t n, const char *data)
{
    struct channel *ch;
    struct conn *c = subscribe_held(srv, sid, channel, &ch);
    if (!c)
        return SERVER_ENOENT;
    struct message_presence_member *mm = calloc(n ? n : 1, sizeof(*mm));
    if (!mm)
        return SERVER_ENOMEM;
    for (size_t i = 0; i < n; i++)
        mm[i] = (struct message_presence_member){members[i].user_id, members[i].user_info};
    subscribe_succeeded_with(c, ch, mm, n);
    free(mm);
    channel_sub_hold(&c->chans, ch, 0);
    /* The subscribed hooks (channel history) see the subscribe message as
     * it came. */
    const char *d = data ? data : "null";
    size_t len = strlen(channel) + strlen(d) + 64;
    char *raw = malloc(len);
    message *m = NULL;
    if (raw) {
        int k = snprintf(raw, len, "{\"event\":\"pusher:subscribe\",\"data\":%s}", d);
        if (message_parse(raw, (size_t)k, &srv->limits, &m) == MESSAGE_OK) {
            subscribe_tell(c, channel, m);
            message_free(m);
        }
        free(raw);
    }
    return 0;
}

int broadcast_presence_refuse(struct server *srv, const char *sid, const char *channel)
{
    struct channel *ch;
    struct conn *c = subscribe_held(srv, sid, channel, &ch);
    if (!c)
        return SERVER_ENOENT;
    broadcast_leave_quiet(c, ch);
    subscribe_refuse(c, channel, PUSHER_OVER_CAPACITY, "Over capacity", 400);
    return 0;
}

void unsubscribe_handle(struct conn *c, const message *m)
{
    struct message_subscribe s;
    if (message_subscribe_get(m, &s) != MESSAGE_OK) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    struct channel *ch = channel_find(c->srv->channels, s.channel, strlen(s.channel));
    if (ch && channel_set_find(&c->chans, ch))
        broadcast_leave(c, ch);
}
