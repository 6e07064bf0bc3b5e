/* session: inbound WebSocket messages. The server answers "pusher:*" events
 * and relays "client-*" events itself; a module takes the events whose names
 * start with a prefix of its own (sync/ takes "docsync:"). Loop thread only. */
#ifndef DOCSYNC_SESSION_H
#define DOCSYNC_SESSION_H

#include <stddef.h>

#include "pusher/message.h"

struct server;
struct conn;

/* Handler for an inbound message whose event starts with a registered
 * prefix. `m` is the parsed message (borrowed for the call). Return 0 when
 * handled (the handler sent any reply itself), or a negative value to make
 * the server answer pusher:error 4200 "Invalid message format". */
typedef int (*session_event_fn)(struct server *srv, struct conn *c, const message *m, void *ud);

/* Routes events starting with `prefix` (copied; not "pusher:" or "client-",
 * which the server owns) to `fn`, before the loop runs. Longest prefix wins.
 * Returns 0, SERVER_EINVAL or SERVER_EFULL (at most 16 handlers). */
int session_on_event(struct server *srv, const char *prefix, session_event_fn fn, void *ud);

/* The same, and messages of these events may be up to `max_bytes` long
 * (beyond REVERB_APP_MAX_MESSAGE_SIZE, which stays the limit of everything
 * else) when they come from a connection holding a private or presence
 * subscription: a whole document may travel in one message, and only
 * connections the app authorised may make the server buffer that much. The
 * event must be the first member of the message ({"event":"docsync:...),
 * as pusher-js writes it. */
int session_on_event_sized(struct server *srv, const char *prefix, size_t max_bytes,
                           session_event_fn fn, void *ud);

/* A module's fast path for messages it can read straight from their bytes,
 * tried before the general parse: `buf` is the whole message (len bytes,
 * within the connection's size limit; not NUL-terminated). Return 1 when
 * the hook handled it (and sent any reply), 0 to leave it to the general
 * path (message_parse and the prefix handlers). A hook must take only
 * messages for which it does exactly what the general path would do: it
 * exists to save the parse, never to change an answer. */
typedef int (*session_frame_fn)(struct server *srv, struct conn *c, const char *buf, size_t len,
                                void *ud);

/* Registers a frame hook; hooks are tried in order. Returns 0,
 * SERVER_EINVAL or SERVER_EFULL (at most 16). */
int session_on_frame(struct server *srv, session_frame_fn fn, void *ud);

/* Called after a connection's pusher:subscribe succeeded (its
 * subscription_succeeded, and a cache channel's replay, are queued), also
 * for a repeated subscribe of a channel it is in. `m` is the subscribe
 * message, so a module may read fields of its own in the data (channel
 * history reads "recover"). Loop thread; before the loop runs to register. */
typedef void (*session_subscribed_fn)(struct server *srv, struct conn *c, const char *channel,
                                      const message *m, void *ud);

/* Registers a subscribed hook. Returns 0, SERVER_EINVAL or SERVER_EFULL (at
 * most 16). */
int session_on_subscribed(struct server *srv, session_subscribed_fn fn, void *ud);

/* A module that keeps some channels' client events (channel history) takes
 * their delivery: for each client event the server accepted (membership
 * and rate checked), the claim hooks are asked in order until one returns
 * 1; that one delivers it itself later, to the channel's subscribers but
 * `sender` (conn_socket_id). `data_raw` is the event's data as sent (JSON
 * text, len bytes), `user_id` the sender's presence id or NULL. Return 0 to
 * leave it to the server. Borrowed for the call. */
typedef int (*session_client_claim_fn)(struct server *srv, struct conn *sender, const char *channel,
                                       const char *event, const char *data_raw, size_t len,
                                       const char *user_id, void *ud);

/* Registers a client-event claim hook. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16). */
int session_on_client_claim(struct server *srv, session_client_claim_fn fn, void *ud);

#endif
