/* hist_route: channel history and the inbox in cluster mode (README.md,
 * "History in a cluster"). Each history channel, and each user's inbox,
 * has one home node, recorded in Redis exactly as documents' homes are
 * (cluster_home_lookup, kind "hist"); only the home assigns offsets, stores
 * events and reads them. Publishes, recoveries, HTTP reads and inbox
 * requests reaching another node are forwarded to the home over Redis
 * (hist_msg.h) and its answers relayed back. Off (every entry point
 * unused) unless cluster mode is on. Loop thread. */
#ifndef DOCSYNC_HIST_ROUTE_H
#define DOCSYNC_HIST_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "recover.h"
#include "server/server.h"
#include "store.h"

/* Starts routing when cluster mode is on (cluster_start ran before):
 * subscribes to this node's history request channel, registers the timer,
 * the re-claim pass and the /metrics lines. Returns 0 (also when off) or
 * -1. */
int hist_route_start(struct server *srv, store *st);
void hist_route_stop(void);

/* 1 when cluster mode routes history. */
int hist_route_active(void);

/* history__publish in cluster mode: the event goes to the channel's home
 * (this node: history__publish_here), which stores it under its next
 * offset and delivers it with that offset to every node; done(ctx, ok) is
 * called once, after the home's commit (ok 1) or on a refusal (ok 0: home
 * down or Redis unreachable, with why; not stored by the home, why NULL). Returns 0 (done will be
 * called). */
int hist_route_publish(const char *channel, const char *event, const char *data, size_t data_len,
                       const char *except_sid, const char *user_id,
                       void (*done)(void *ctx, int ok, const char *why), void *ctx);

/* A subscription to a history channel in cluster mode. `rq` is the parsed
 * recover member (present 0: none), `invalid_why` non-NULL when it was
 * malformed, `here_delivered` this node's delivered offset of the channel
 * (what a subscriber without recover has seen, when this node is the
 * home). The connection is held from live delivery until the home says
 * where it stands. */
void hist_route_subscribed(struct conn *c, const char *channel, const struct history_recover *rq,
                           const char *invalid_why, uint64_t here_delivered);

/* GET .../channels/{channel}/history in cluster mode: answered by the home
 * with its status and bytes. */
void hist_route_read(struct http_req *req, const char *channel, uint64_t after, uint64_t limit);

/* An inbox request (inbox.c's JSON, `json`) for `user`'s inbox, answered
 * by the home of "#inbox.{user}": reply(ctx, status, body) once, body the
 * home's JSON answer (NULL only when out of memory). */
void hist_route_inbox(const char *user, const char *json, size_t len,
                      void (*reply)(void *ctx, int status, const char *body, size_t len),
                      void *ctx);

#endif
