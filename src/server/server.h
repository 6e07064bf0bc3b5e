/* server: the docsyncd event loop as seen by modules (document sync, the
 * built-in /broadcasting/auth, ...).
 *
 * One thread, the loop thread, owns every connection, channel and HTTP
 * request. Every function below must be called on the loop thread, from a
 * handler, hook or timer the server invoked, EXCEPT server_wake(), which any
 * thread may call. A module (sync/, demo/) registers its handlers once, from
 * the start function main.c calls before the loop runs.
 *
 * What a module gets (this header, conn.h, broadcast.h and http.h):
 *   - client events: session_on_event() routes inbound WebSocket messages
 *     whose event name starts with a prefix (e.g. "docsync:") to a handler,
 *     before the built-in Pusher handling (which answers "pusher:*" and
 *     relays "client-*"); no switch to edit;
 *   - HTTP API events: http_api_on_publish() sees each event an app
 *     publishes with POST /apps/{id}/events or batch_events;
 *   - HTTP routes: http_route() adds a route on the same port, under the
 *     REVERB_SERVER_PATH prefix, optionally with the Pusher HTTP API
 *     signature check done by the server; responses may be
 *     sent later (after a durable commit, say) with http_req_respond()
 *     (http.h);
 *   - connections (conn.h): socket id, authenticated user id, subscription
 *     check, send to one connection; channels (broadcast.h): a frame to
 *     every subscriber of a channel except one socket;
 *   - channel events (broadcast.h, broadcast_observe): occupied, vacated,
 *     member added/removed, client events, cache misses, as the server
 *     decides them, and modules' own (broadcast_notify); lines of their own
 *     in GET /metrics (http_api_on_metrics);
 *   - the loop: a hook called after every wake-up (including wake-ups made
 *     with server_wake() from a writer thread), periodic timers, and a hook
 *     called when a connection closes;
 *   - the configuration and the data directory.
 */
#ifndef DOCSYNC_SERVER_H
#define DOCSYNC_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broadcast.h"
#include "common/log.h"
#include "config/config.h"
#include "conn.h"
#include "http.h"
#include "http_api.h"
#include "pusher/message.h"
#include "session.h"
#include "socketio_auth.h"

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
static inline int64_t server_now(const struct server *srv)
{
    (void)srv;
    return (int64_t)time(NULL);
}

/* ---- Loop hooks and timers ------------------------------------------- */

/* Called on the loop thread after every wake-up of the loop (network
 * activity, timers, or server_wake() from another thread). Keep it cheap.
 * Returns 0 or SERVER_EFULL (at most 16 hooks). */
int server_on_wake(struct server *srv, void (*fn)(struct server *srv, void *ud), void *ud);

/* Graceful stop (SIGTERM): before any connection is closed, the loop keeps
 * running (new connections refused) while one of these returns non-zero:
 * a module's work in flight whose replies clients still wait for (the sync
 * module's commits), for at most DOCSYNC_DRAIN_TIMEOUT seconds. Then every
 * connection is closed with 4200 (pusher-js reconnects). Loop thread.
 * Returns 0, SERVER_EINVAL or SERVER_EFULL (at most 16). */
int server_on_drain(struct server *srv, int (*busy)(struct server *srv, void *ud), void *ud);

/* Wakes the loop from any thread (lws_cancel_service): the wake hooks run
 * soon after on the loop thread. Async-signal-safe enough for threads; the
 * only server function other threads may call. */
void server_wake(struct server *srv);

/* Calls fn every `ms` milliseconds on the loop thread until the server
 * stops. Returns 0, SERVER_EINVAL or SERVER_EFULL (at most 16 timers,
 * counting server_timer_new's). */
int server_every(struct server *srv, unsigned ms, void (*fn)(struct server *srv, void *ud),
                 void *ud);

/* A one-shot timer for work that comes and goes: it runs only when armed,
 * so an idle server does not wake for it (every wake-up of an idle process
 * costs a context switch, tens of microseconds on a VM). NULL when the 16
 * timers are taken. server_timer_arm(t, ms) calls fn once, `ms` from now,
 * on the loop thread; arming an armed timer changes nothing. Loop thread. */
struct server_timer;
struct server_timer *server_timer_new(struct server *srv, void (*fn)(struct server *srv, void *ud),
                                      void *ud);
void server_timer_arm(struct server_timer *t, unsigned ms);

#endif
