/* conn: a client's WebSocket connection as modules see it (sync/, demo/).
 * Loop thread only. A `struct conn *` is valid during the handler or hook
 * the server passed it to; to reach a connection later, keep its socket id
 * and look it up again with conn_find(): it may have closed meanwhile. */
#ifndef DOCSYNC_CONN_H
#define DOCSYNC_CONN_H

#include <stdint.h>

#include "common/frame.h"

struct server;
struct conn;

/* The connection's socket id ("123.456"), unique among live connections. */
const char *conn_socket_id(const struct conn *c);

/* The user id the connection authenticated as for `channel`: its presence
 * user_id there if it is subscribed to that presence channel, else its
 * pusher:signin user id, else NULL. `channel` NULL = the signin id only. */
const char *conn_user_id(const struct conn *c, const char *channel);

/* 1 when the connection is subscribed to `channel`, else 0. */
int conn_is_subscribed(const struct conn *c, const char *channel);

/* The live connection with this socket id, or NULL. */
struct conn *conn_find(struct server *srv, const char *socket_id);

/* Makes every socket id this server draws from now on "<prefix>.<random>"
 * (prefix 1..1e9; 0 = random as by default, Reverb's shape): cluster/
 * gives each node its own prefix, so that socket ids cannot collide across
 * nodes. Before the loop runs. */
void conn_set_socket_prefix(struct server *srv, unsigned prefix);

/* How many connections this server holds (WebSocket ones, every state). */
size_t conn_count(const struct server *srv);

/* Counts one request of a module (a docsync: message, say) against the
 * connection's budget of `per_second` requests per second (0 = no limit).
 * Returns 1 when it is within the budget, 0 when the module should refuse
 * it: what any one client may cost the loop is bounded. */
int conn_request_allowed(struct conn *c, unsigned per_second);

/* Server time as a budget per connection, for module work whose cost
 * depends on what the client sent (applying a CRDT update, say): the time
 * a piece of work took is a debt the connection pays back at
 * `us_per_second` microseconds per second. conn_work_allowed() returns 1
 * while the debt is within one second's worth (0 = no limit), else 0, and
 * the module should refuse the work; conn_work_start() / conn_work_done()
 * measure a piece of work (monotonic clock) and add it to the debt. One
 * client can then take at most that share of the loop, however costly its
 * requests. */
int conn_work_allowed(struct conn *c, unsigned us_per_second);
int64_t conn_work_start(void);
void conn_work_done(struct conn *c, int64_t start, unsigned us_per_second);

/* Queues a prebuilt frame to the connection (a reference is taken; the
 * caller keeps its own). Returns 0, or SERVER_ECLOSED when the connection is
 * closing or its send queue overflowed: a client that stopped reading is
 * disconnected (slow consumer) rather than allowed to grow memory. */
int conn_send_frame(struct conn *c, struct frame *f);

/* Bytes the connection's send queue can still take before it counts as too
 * slow (DOCSYNC_SEND_QUEUE_MAX): a module sending much at once (a replay of
 * missed events) pages by it. 0 for a closing connection. */
size_t conn_send_room(const struct conn *c);

/* Sends pusher:error {code, text} to the connection; with `close_code`
 * non-zero, then closes it with that close code once the error is written. */
void conn_error(struct conn *c, int code, const char *text, int close_code);

#endif
