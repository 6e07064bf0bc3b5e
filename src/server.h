/* server: the docsyncd event loop as seen by modules (document sync, the
 * built-in /broadcasting/auth, ...).
 *
 * One thread, the loop thread, owns every connection, channel and HTTP
 * request. Every function below must be called on the loop thread, from a
 * handler, hook or timer the server invoked, EXCEPT server_wake(), which any
 * thread may call. A module registers its handlers once, from
 * docsync_module_init() (see the end of this header), before the loop runs.
 *
 * What a module gets:
 *   - client events: server_on_event() routes inbound WebSocket messages
 *     whose event name starts with a prefix (e.g. "docsync:") to a handler,
 *     before the built-in Pusher handling (which answers "pusher:*" and
 *     relays "client-*"); no switch to edit;
 *   - HTTP API events: server_on_publish() sees each event an app
 *     publishes with POST /apps/{id}/events or batch_events;
 *   - HTTP routes: server_route() adds a route on the same port, under the
 *     REVERB_SERVER_PATH prefix, optionally with the Pusher HTTP API
 *     signature check (section 5.1) done by the server; responses may be
 *     sent later (after a durable commit, say) with http_req_respond();
 *   - connections: socket id, authenticated user id, subscription check,
 *     send to one connection, broadcast to a channel except one socket;
 *   - the loop: a hook called after every wake-up (including wake-ups made
 *     with server_wake() from a writer thread), periodic timers, and a hook
 *     called when a connection closes;
 *   - the configuration and the data directory.
 */
#ifndef DOCSYNC_SERVER_H
#define DOCSYNC_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "frame.h"
#include "log.h"
#include "message.h"

struct server;
struct conn;
struct http_req;

#define SERVER_ENOMEM (-1)
#define SERVER_EINVAL (-2)
#define SERVER_ENOENT (-3)  /* no such channel / connection */
#define SERVER_EFULL (-4)   /* a table is full (handlers, routes, hooks, timers) */
#define SERVER_ECLOSED (-5) /* the connection is closing; nothing was queued */

/* ---- Configuration and environment ------------------------------------ */

/* The loaded configuration (read-only, lives as long as the server). */
const struct config *server_config(const struct server *srv);

/* The logger (one line per event; never pass secrets, see log.h). */
const struct logger *server_logger(const struct server *srv);

/* The data directory (DOCSYNC_DATA_DIR / --data). */
const char *server_data_dir(const struct server *srv);

/* Current Unix time in seconds, as the server sees it (wall clock). */
int64_t server_now(const struct server *srv);

/* ---- Client events ---------------------------------------------------- */

/* Handler for an inbound message whose event starts with a registered
 * prefix. `m` is the parsed message (borrowed for the call). Return 0 when
 * handled (the handler sent any reply itself), or a negative value to make
 * the server answer pusher:error 4200 "Invalid message format". */
typedef int (*server_event_fn)(struct server *srv, struct conn *c, const message *m, void *ud);

/* Routes events starting with `prefix` (copied; not "pusher:" or "client-",
 * which the server owns) to `fn`. Longest prefix wins. Returns 0,
 * SERVER_EINVAL or SERVER_EFULL (at most 16 handlers). */
int server_on_event(struct server *srv, const char *prefix, server_event_fn fn, void *ud);

/* ---- HTTP routes ------------------------------------------------------ */

/* Route flags */
#define SERVER_ROUTE_APP 1u    /* path starts /apps/{app_id}/: unknown id -> 404 */
#define SERVER_ROUTE_SIGNED 2u /* Pusher HTTP API signature (5.1) verified -> else 401 */

/* Handler for a matched request. It must eventually call
 * http_req_respond() exactly once: before returning or later, from another
 * callback on the loop thread. The request stays valid until then (if the
 * client goes away meanwhile, respond still frees it and sends nothing). */
typedef void (*server_route_fn)(struct server *srv, struct http_req *req, void *ud);

/* Adds a route. `method` is "GET", "POST", "PUT", "PATCH", "DELETE" or
 * "OPTIONS". `pattern` is a path without the server prefix, made of
 * '/'-separated segments: a literal, "{}" or "{name}" (one non-empty
 * segment, captured), or a final "*" (the rest, possibly empty, captured).
 * E.g. "/broadcasting/auth", "/apps/{app_id}/documents/{id}/ops".
 * Requests that match a route's pattern but no route's method get 405 with
 * Allow. Returns 0, SERVER_EINVAL or SERVER_EFULL (at most 64 routes). */
int server_route(struct server *srv, const char *method, const char *pattern, unsigned flags,
                 server_route_fn fn, void *ud);

/* Request accessors; strings are NUL-terminated and borrowed from the
 * request (valid until http_req_respond). */
const char *http_req_method(const struct http_req *req);            /* "GET", ... */
const char *http_req_path(const struct http_req *req);              /* decoded, prefix stripped */
const char *http_req_query(const struct http_req *req);             /* raw (re-encoded), no '?' */
const void *http_req_body(const struct http_req *req, size_t *len); /* NULL/0 when none */

/* The i-th captured pattern segment ("{...}" or "*", left to right), or NULL. */
const char *http_req_param(const struct http_req *req, unsigned i);

/* The decoded value of query parameter `name`, or NULL. */
const char *http_req_arg(const struct http_req *req, const char *name);

/* Copies request header `name` (lower-case, without ':', e.g.
 * "authorization", "content-type", "x-socket-id") into `buf` (NUL-terminated).
 * Returns its length, or -1 when absent, too long or no longer available
 * (headers are only available during the route handler call). */
int http_req_header(struct http_req *req, const char *name, char *buf, size_t cap);

/* Runs the Pusher HTTP API signature check (section 5.1, body_md5,
 * timestamp window) on this request. Returns a SIGN_* code (sign.h);
 * SIGN_OK means authentic. Routes with SERVER_ROUTE_SIGNED get this for
 * free. */
int http_req_verify_signature(const struct http_req *req);

/* Sends the response and ends the request: status code, content type (NULL
 * = "application/json"), body (copied), and optionally one extra header
 * (`hname` like "allow", NULL = none). After this call `req` is gone.
 * Returns 0 or SERVER_ENOMEM (the request is still ended). */
int http_req_respond(struct http_req *req, int status, const char *content_type, const void *body,
                     size_t len, const char *hname, const char *hvalue);

/* ---- Events published through the HTTP API ----------------------------- */

/* Called once per (event, channel) accepted by POST /apps/{id}/events or
 * /batch_events, after the whole request was validated and right after the
 * event was queued to that channel's subscribers (whether or not it had
 * any), before the HTTP reply. `socket_id` is the request's excluded socket
 * id, or NULL. Strings are borrowed for the call; `data` is the event's
 * data string (`data_len` bytes, NUL-terminated). The hook cannot change
 * delivery or the reply; it must not block (queue work, e.g. to the store
 * writer). */
typedef void (*server_publish_fn)(struct server *srv, const char *channel, const char *event,
                                  const char *data, size_t data_len, const char *socket_id,
                                  void *ud);

/* Registers a publish hook. Returns 0, SERVER_EINVAL or SERVER_EFULL (at
 * most 16 hooks). */
int server_on_publish(struct server *srv, server_publish_fn fn, void *ud);

/* ---- Connections ------------------------------------------------------ */

/* The connection's socket id ("123.456"). */
const char *conn_socket_id(const struct conn *c);

/* The user id the connection authenticated as for `channel`: its presence
 * user_id there if it is subscribed to that presence channel, else its
 * pusher:signin user id, else NULL. `channel` NULL = the signin id only. */
const char *conn_user_id(const struct conn *c, const char *channel);

/* 1 when the connection is subscribed to `channel`. */
int conn_is_subscribed(const struct conn *c, const char *channel);

/* A per-connection pointer for one module (NULL at start). The module owns
 * what it points to and frees it in its close hook. */
void *conn_module_data(const struct conn *c);
void conn_set_module_data(struct conn *c, void *data);

/* The live connection with this socket id, or NULL. */
struct conn *server_find_conn(struct server *srv, const char *socket_id);

/* Queues a text frame (payload `len` bytes, copied) to one connection.
 * Returns 0, SERVER_ECLOSED or SERVER_ENOMEM. A connection whose queue
 * overflows is disconnected (slow consumer) and SERVER_ECLOSED returned. */
int server_send(struct server *srv, struct conn *c, const void *payload, size_t len);

/* Same with a prebuilt frame (a reference is taken; the caller keeps its own). */
int server_send_frame(struct server *srv, struct conn *c, struct frame *f);

/* Queues the payload to every subscriber of `channel` except `except`
 * (NULL = nobody excluded), building the frame once. Cache channels
 * remember it as their last event. Returns the number of deliveries queued
 * (0 when the channel does not exist) or SERVER_ENOMEM. */
int server_broadcast(struct server *srv, const char *channel, const void *payload, size_t len,
                     const struct conn *except);

/* Same with a prebuilt frame. */
int server_broadcast_frame(struct server *srv, const char *channel, struct frame *f,
                           const struct conn *except);

/* Builds a frame from a message.h builder result (takes ownership of
 * mf->alloc, which must have been built with headroom SERVER_FRAME_HEADROOM)
 * and returns it with one reference, or NULL on a bad argument. */
struct frame *server_frame_adopt(struct message_frame *mf);
#define SERVER_FRAME_HEADROOM (sizeof(struct frame) + FRAME_PRE)

/* Sends pusher:error {code, text} to the connection; with `close_code`
 * non-zero, then closes it with that close code once the error is written. */
void server_send_error(struct server *srv, struct conn *c, int code, const char *text,
                       int close_code);

/* ---- Loop hooks and timers ------------------------------------------- */

/* Called on the loop thread after every wake-up of the loop (network
 * activity, timers, or server_wake() from another thread). Keep it cheap.
 * Returns 0 or SERVER_EFULL (at most 16 hooks). */
int server_on_wake(struct server *srv, void (*fn)(struct server *srv, void *ud), void *ud);

/* Wakes the loop from any thread (lws_cancel_service): the wake hooks run
 * soon after on the loop thread. Async-signal-safe enough for threads; the
 * only server function other threads may call. */
void server_wake(struct server *srv);

/* Calls fn every `ms` milliseconds on the loop thread until the server
 * stops (an lws timer; on the default libev loop it may fire up to ~100 ms
 * late, see server_ev_nudge in server.c). Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16 timers). */
int server_every(struct server *srv, unsigned ms, void (*fn)(struct server *srv, void *ud),
                 void *ud);

/* Called when a connection is about to be freed (after it left its
 * channels). Returns 0 or SERVER_EFULL (at most 16 hooks). */
int server_on_close(struct server *srv, void (*fn)(struct server *srv, struct conn *c, void *ud),
                    void *ud);

/* ---- Module entry points ------------------------------------------------
 * A module linked into docsyncd (e.g. src/sync.cmake adding sources with
 * target_sources) registers itself with DOCSYNC_MODULE(name, init, deinit)
 * at file scope: any number of modules can do so (the entries go to a
 * linker section that main walks, in link order). init runs after the
 * server is created and before the loop starts (register handlers there; a
 * non-zero return aborts start-up); deinit (may be NULL) runs after the
 * loop stopped, in reverse order, before the server is freed.
 *
 * The older single entry points docsync_module_init / _deinit (weak) are
 * still called, first, when one module defines them. */
struct docsync_module {
    const char *name;
    int (*init)(struct server *srv);
    void (*deinit)(struct server *srv);
};

#define DOCSYNC_MODULE(name_, init_, deinit_)                                                      \
    static const struct docsync_module docsync_module_##name_ __attribute__((                      \
        used, section("docsync_modules"), aligned(sizeof(void *)))) = {#name_, init_, deinit_}

int docsync_module_init(struct server *srv) __attribute__((weak));
void docsync_module_deinit(struct server *srv) __attribute__((weak));

#endif
