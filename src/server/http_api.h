/* http_api: the Pusher HTTP API (events, batch_events, channels, users,
 * connections, terminate_connections) and /up and /metrics. Modules may
 * watch the events apps publish through it. Loop thread only. */
#ifndef DOCSYNC_HTTP_API_H
#define DOCSYNC_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* Called once per (event, channel) accepted by POST /apps/{id}/events or
 * /batch_events, after the whole request was validated and right after the
 * event was queued to that channel's subscribers (whether or not it had
 * any), before the HTTP reply. `socket_id` is the request's excluded socket
 * id, or NULL. Strings are borrowed for the call; `data` is the event's
 * data string (`data_len` bytes, NUL-terminated). The hook cannot change
 * delivery or the reply; it must not block (queue work, e.g. to the store
 * writer). */
typedef void (*http_api_publish_fn)(struct server *srv, const char *channel, const char *event,
                                    const char *data, size_t data_len, const char *socket_id,
                                    void *ud);

/* Registers a publish hook before the loop runs. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16 hooks). */
int http_api_on_publish(struct server *srv, http_api_publish_fn fn, void *ud);

/* A module that must store what is published on some channels before it is
 * delivered (channel history) claims those events: for each (event,
 * channel) accepted by POST /events or /batch_events, the claim hooks are
 * asked in order until one returns 1. That hook then owns the delivery (to
 * do once the event is durable) and must end its claim exactly once with
 * http_api_hold_release(hold, ok), on the loop thread, now or later; the
 * request's answer waits for every claim of the request and becomes 503
 * when one ended with ok = 0. Return 0 to leave the event to the server.
 * The publish hooks run for claimed events too. Strings are borrowed for
 * the call. */
struct http_api_hold;
typedef int (*http_api_claim_fn)(struct server *srv, const char *channel, const char *event,
                                 const char *data, size_t data_len, const char *socket_id,
                                 struct http_api_hold *hold, void *ud);

/* Registers a claim hook before the loop runs. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16 hooks). */
int http_api_on_claim(struct server *srv, http_api_claim_fn fn, void *ud);

/* Ends one claim (see http_api_on_claim); hold NULL (an http_api_publish
 * claim) does nothing. */
void http_api_hold_release(struct http_api_hold *hold, int ok);

/* Ends one claim with a refusal that says why (`why`, a sentence, copied):
 * the request's answer is 503 {"error":why,"code":"unavailable"} (the first
 * reason given, when several claims were refused): the event was neither
 * stored nor delivered, and sending it again may succeed. */
void http_api_hold_refuse(struct http_api_hold *hold, const char *why);

/* A module's own event (the server's UserActivity, say), published on
 * `channel` as the HTTP API publishes an app's: the claim hooks may take it
 * (with hold NULL: nobody waits for the answer), else it is delivered at
 * once. The publish hooks do not see it: they watch what apps publish.
 * Returns 1 when a hook took it, 0 when it was delivered. */
int http_api_publish(struct server *srv, const char *channel, const char *event, const char *data,
                     size_t data_len);

/* A module's lines for GET /metrics (Prometheus text, each ending with a
 * newline), appended after the server's: a malloc'd string the server frees,
 * or NULL for none. Called on the loop thread for each request. */
typedef char *(*http_api_metrics_fn)(struct server *srv, void *ud);

/* Connections a module adds to GET /apps/{id}/connections (cluster/: the
 * other nodes'). Loop thread. */
typedef uint64_t (*http_api_connections_fn)(struct server *srv, void *ud);

/* Registers a connections hook before the loop runs. Returns 0,
 * SERVER_EINVAL or SERVER_EFULL (at most 16 hooks). */
int http_api_on_connections(struct server *srv, http_api_connections_fn fn, void *ud);

/* The channel queries for the whole cluster (cluster/): GET /channels
 * (name = filter_by_prefix or NULL), /channels/{name} and
 * /channels/{name}/users, after the request was checked. `users` and
 * `subs` say which counts `info` asked for; `cache` (/channels/{name}
 * with info=cache) is the JSON of the event this node's channel caches, to
 * answer as its "cache" member when the channel is occupied, or NULL.
 * Return 1 when the module answers `req` itself (http_req_respond, now or
 * later), 0 for this node's answer. */
enum http_api_query { HTTP_API_CHANNELS, HTTP_API_CHANNEL, HTTP_API_USERS };
typedef int (*http_api_query_fn)(struct server *srv, struct http_req *req, enum http_api_query what,
                                 const char *name, int users, int subs, const char *cache,
                                 void *ud);

/* Sets the query hook before the loop runs (one per server). Returns 0,
 * SERVER_EINVAL or SERVER_EFULL. */
int http_api_on_query(struct server *srv, http_api_query_fn fn, void *ud);

/* The counts `info` asks for in the answer of POST /events and
 * /batch_events, for the whole cluster (cluster/): the hook gets the
 * channels the answer names, in order, and returns 1 when it will call
 * http_api_counts_done(t, ...) exactly once, now or later (the answer
 * waits for it), 0 for this node's counts. */
struct http_api_counts;
typedef int (*http_api_counts_fn)(struct server *srv, const char *const *names, size_t n,
                                  struct http_api_counts *t, void *ud);

/* Sets the counts hook before the loop runs (one per server). Returns 0,
 * SERVER_EINVAL or SERVER_EFULL. */
int http_api_on_counts(struct server *srv, http_api_counts_fn fn, void *ud);

/* The counts of the ticket's channels, in its order: subscriptions and
 * presence members of the whole cluster; both NULL when they cannot be
 * known now (Redis unreachable, no answer in time): the answer then leaves
 * the counts out rather than give one node's (the events are delivered
 * all the same: an error status would make the publisher send them
 * again). Loop thread. */
void http_api_counts_done(struct http_api_counts *t, const long long *subs, const long long *users);

/* Closes every connection of user `uid` (signed in as it, or a presence
 * member with that id) with pusher:error 4009 "Connection terminated by
 * the server", as POST .../terminate_connections does. Returns how many. */
size_t http_api_terminate_user(struct server *srv, const char *uid);

/* Called after POST /apps/{id}/users/{user_id}/terminate_connections closed
 * the user's connections on this node (cluster/: to close them on the
 * others). `uid` is borrowed for the call. */
typedef void (*http_api_terminate_fn)(struct server *srv, const char *uid, void *ud);

/* Registers a terminate hook before the loop runs. Returns 0, SERVER_EINVAL
 * or SERVER_EFULL (at most 16 hooks). */
int http_api_on_terminate(struct server *srv, http_api_terminate_fn fn, void *ud);

/* A module's members of GET /up's JSON object (`"k":v,...`, without braces),
 * added after "health": a malloc'd string the server frees, or NULL. Loop
 * thread. */
typedef char *(*http_api_health_fn)(struct server *srv, void *ud);

/* Registers a health hook before the loop runs. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16 hooks). */
int http_api_on_health(struct server *srv, http_api_health_fn fn, void *ud);

/* Registers a metrics hook before the loop runs. Returns 0, SERVER_EINVAL or
 * SERVER_EFULL (at most 16 hooks). */
int http_api_on_metrics(struct server *srv, http_api_metrics_fn fn, void *ud);

#endif
