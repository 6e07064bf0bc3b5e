/* broadcast: a frame to every subscriber of a channel, as modules use it.
 * Loop thread only. The frame is built once and shared by reference, so a
 * delivery costs a queue slot, never a copy. */
#ifndef DOCSYNC_BROADCAST_H
#define DOCSYNC_BROADCAST_H

#include "common/frame.h"

struct server;
struct conn;

/* Queues `f` to every subscriber of `channel` except `except` (NULL =
 * nobody excluded); cache channels remember it as their last event. A
 * reference is taken per delivery; the caller keeps its own. Returns the
 * number of deliveries queued, 0 when the channel has no subscribers. */
int broadcast_frame(struct server *srv, const char *channel, struct frame *f,
                    const struct conn *except);

/* ---- Relaying to other nodes (cluster/) ----
 * In cluster mode every frame a publisher sends to a channel (an HTTP API
 * event, a whisper, a module's broadcast_frame such as DocumentUpdated)
 * must reach the subscribers on the other nodes too. The server hands each
 * such frame, once, to the relay (one per server) right after its local
 * fan-out, whether or not the channel has local subscribers; `except_sid`
 * is the socket id to skip (the HTTP API's socket_id, a whisper's sender),
 * or NULL. Presence's own member_added / member_removed frames are not
 * relayed: they follow each node's roster. The relay must not block (queue
 * the frame, take a reference if it keeps it). */
typedef void (*broadcast_relay_fn)(struct server *srv, const char *channel, struct frame *f,
                                   const char *except_sid, void *ud);

/* Sets the relay, before the loop runs. Returns 0, SERVER_EINVAL, or
 * SERVER_EFULL when one is set already. */
int broadcast_on_relay(struct server *srv, broadcast_relay_fn fn, void *ud);

/* Delivers a frame another node relayed to the local subscribers of
 * `channel` except the connection whose socket id is `except_sid` (NULL =
 * nobody), as broadcast_frame does, but without relaying it again. Returns
 * the number of deliveries queued. */
int broadcast_remote(struct server *srv, const char *channel, struct frame *f,
                     const char *except_sid);

/* ---- Presence and channel counts across nodes (cluster/) ----
 * With a cluster module set, presence rosters and member events are the
 * cluster's, not this node's: the server still keeps each connection's
 * member (user id, info) and the local roster, but asks the module at
 * every presence join and leave, and the module decides what the joiner
 * and the other members hear (broadcast_presence_answer,
 * broadcast_member). `count` hears every change of a channel's local
 * subscription count (any channel), for the HTTP API's cluster-wide
 * counts. None of these is called while the server stops (the module
 * clears the node's entries itself). Strings are borrowed for the call. */
struct broadcast_cluster {
    /* `c` joined presence channel `channel` as `uid` (info: JSON text,
     * "null" when none), past the local checks, or subscribed again
     * (again = 1). The subscription is held (no frame of the channel
     * reaches c) until the module answers with broadcast_presence_answer
     * or refuses with broadcast_presence_refuse, now or later; `data` is
     * the subscribe message's raw data JSON, to hand back to the answer. */
    void (*join)(struct server *srv, struct conn *c, const char *channel, const char *uid,
                 const char *info, int again, const char *data, void *ud);
    /* Connection `sid` left presence channel `channel`, where it was
     * `uid` (info as it joined); last_local: that user has no other
     * connection on this node there now. */
    void (*leave)(struct server *srv, const char *sid, const char *channel, const char *uid,
                  const char *info, int last_local, void *ud);
    /* The local subscriptions of `channel` changed by `delta` (+1, -1). */
    void (*count)(struct server *srv, const char *channel, int delta, void *ud);
    void *ud;
};

/* Sets the cluster module's hooks, before the loop runs. Returns 0,
 * SERVER_EINVAL or SERVER_EFULL (one per server). */
int broadcast_on_cluster(struct server *srv, const struct broadcast_cluster *h);

/* One member of a roster handed to broadcast_presence_answer. */
struct broadcast_member {
    const char *user_id;
    const char *user_info; /* JSON text; NULL = null */
};

/* Answers the join of connection `sid` to `channel` (held since the join
 * hook): pusher_internal:subscription_succeeded with these members, then
 * the release of the hold and the subscribed hooks (session.h), which get
 * the subscribe message again from `data` (the join hook's). Nothing
 * happens when the connection left meanwhile. Returns 0 or SERVER_ENOENT. */
int broadcast_presence_answer(struct server *srv, const char *sid, const char *channel,
                              const struct broadcast_member *members, size_t n, const char *data);

/* Refuses the held join of `sid` to `channel` with 4100 "Over capacity"
 * (the cluster's member limit): the connection leaves the channel without
 * the leave hook. Returns 0 or SERVER_ENOENT. */
int broadcast_presence_refuse(struct server *srv, const char *sid, const char *channel);

/* Local subscriptions of `channel` (0 when nobody here). */
size_t broadcast_subscriber_count(struct server *srv, const char *channel);

/* What broadcast_member does: tell the observers, send the frame. */
#define BROADCAST_MEMBER_TELL 1u
#define BROADCAST_MEMBER_SEND 2u

/* Tells the local members of presence channel `channel` (all but `except_sid`, NULL =
 * nobody, and but the held) that `uid` was added (added = 1, with its
 * info) or removed; `how` says whether to send the frame
 * (BROADCAST_MEMBER_SEND) and whether to tell the observers
 * (BROADCAST_MEMBER_TELL: webhooks, only on the node where it happened).
 * Returns the deliveries. */
int broadcast_member(struct server *srv, const char *channel, int added, const char *uid,
                     const char *info, const char *except_sid, unsigned how);

/* The local roster of `channel` (unique users of this node's connections):
 * fn is called once per member. Returns 0, or SERVER_ENOENT when nobody here. */
int broadcast_local_members(struct server *srv, const char *channel,
                            void (*fn)(void *ctx, const char *uid, const char *info), void *ctx);

/* Calls fn for every local presence subscription (socket id, channel,
 * user id, info) and, with fn_count, every channel's local subscription
 * count: what a node republishes after Redis lost its state. */
void broadcast_each_subscription(struct server *srv,
                                 void (*fn)(void *ctx, const char *sid, const char *channel,
                                            const char *uid, const char *info),
                                 void (*fn_count)(void *ctx, const char *channel, size_t n),
                                 void *ctx);

/* The Pusher socket id to skip for an id a publisher named (the HTTP API's
 * socket_id, the `socket` of a Laravel Redis broadcast: Echo's X-Socket-ID).
 * Over Engine.IO protocol 3 a socket.io-client 2 connection has no socket
 * id but its Engine.IO session id, so that is what Echo sends. The session
 * id is a secret (whoever holds it can read and write the session), but the
 * app holds it already from every request of that client; what would widen
 * its reach is passing it on, so it is resolved here, at once, and only the
 * connection's Pusher socket id goes further (exclusion, the cluster relay,
 * history, logs). Protocol 3 only: a protocol 4 session id never leaves its
 * transport. Returns `id` when it is a socket id's shape, the resolved id
 * written to buf (size bytes) for a live protocol 3 session, NULL for
 * anything else (an unknown session excludes nobody, with the same answer
 * to the publisher: no oracle). A session on another node is not resolved:
 * its id is never relayed. */
const char *broadcast_except_sid(struct server *srv, const char *id, char *buf, size_t size);

/* ---- Observing channels (webhooks) ----
 * What happened to a channel, in the terms of Pusher's webhooks. The server
 * decides these where it already does (joins and leaves, presence rosters,
 * whispers, cache replays) and tells every observer on the loop thread at
 * once; an observer (webhook/) must be quick: copy what it needs and
 * return, never subscribe, unsubscribe or close anyone from it. A channel
 * that is vacated by a leave of a presence member's last connection reports
 * member_removed, then vacated; a join that occupies a channel reports
 * occupied, then member_added. Strings are borrowed for the call. */
enum broadcast_event_kind {
    BROADCAST_OCCUPIED,       /* the channel's first subscriber */
    BROADCAST_VACATED,        /* its last subscriber left (also at shutdown) */
    BROADCAST_MEMBER_ADDED,   /* presence: user_id's first connection joined */
    BROADCAST_MEMBER_REMOVED, /* presence: user_id's last connection left */
    BROADCAST_CLIENT_EVENT,   /* a client-* event was relayed: event, data (the
                                 raw JSON of its data), socket_id of the sender,
                                 user_id when the sender is a presence member */
    BROADCAST_CACHE_MISS,     /* a subscriber of a cache channel found nothing
                                 cached (socket_id: who) */
    BROADCAST_MODULE_EVENT,   /* a module's own (broadcast_notify): event is its
                                 name, data NULL or JSON object members
                                 ("\"k\":v,...") to add to the report */
};

struct broadcast_event {
    enum broadcast_event_kind kind;
    const char *channel;
    const char *user_id;   /* NULL when none */
    const char *event;     /* CLIENT_EVENT, MODULE_EVENT; else NULL */
    const char *data;      /* CLIENT_EVENT, MODULE_EVENT; else NULL */
    size_t data_len;       /* bytes of data */
    const char *socket_id; /* CLIENT_EVENT, CACHE_MISS; else NULL */
    int settled;           /* VACATED: the leave delay is over already (cluster/ waited it) */
};

typedef void (*broadcast_observer_fn)(struct server *srv, const struct broadcast_event *ev,
                                      void *ud);

/* Adds an observer, before the loop runs. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16). */
int broadcast_observe(struct server *srv, broadcast_observer_fn fn, void *ud);

/* Tells every observer of `ev` (the server's own events, and a module's
 * BROADCAST_MODULE_EVENT such as sync/'s document_updated). Cheap when
 * nobody observes. */
void broadcast_notify(struct server *srv, const struct broadcast_event *ev);

/* Tells `allowed` every subscriber of `channel` (its user as conn_user_id
 * reports it); each one for which it returns 0 gets `notice` (a prebuilt
 * frame; NULL = none) and is unsubscribed at once, the other presence
 * members hearing member_removed as usual. For an access that was revoked:
 * a subscription must not outlive the right that granted it. Returns how
 * many connections were unsubscribed, or SERVER_ENOMEM (nobody was). */
int broadcast_revoke(struct server *srv, const char *channel,
                     int (*allowed)(void *ctx, const struct conn *c, const char *channel),
                     void *ctx, struct frame *notice);

/* Holds (on = 1) or releases `c`'s subscription to `channel`: while held,
 * broadcasts to the channel pass `c` by, so that a module can replay to it
 * what it missed, in order, before live events flow to it again (channel
 * history). Returns 0, or SERVER_EINVAL when c is not subscribed. */
int broadcast_hold(struct conn *c, const char *channel, int on);

/* Calls fn with the name (nlen bytes, NUL-terminated) of every channel that
 * has subscribers and whose name starts with `prefix`, in no particular
 * order. fn must not subscribe or unsubscribe anyone (collect the names,
 * then act). */
void broadcast_each_channel(struct server *srv, const char *prefix,
                            void (*fn)(void *ctx, const char *name, size_t nlen), void *ctx);

#endif
