/* sync_route: documents in cluster mode (README.md, "Documents in a
 * cluster"). Each document has one home node, recorded in Redis; only the
 * home applies, commits and answers its requests. A request reaching
 * another node is forwarded to the home over Redis and its answer relayed
 * back; when the home is down or Redis unreachable the request is refused
 * with `unavailable` (retryable). Off (every function a no-op, requests
 * handled locally) unless cluster mode is on. Loop thread. */
#ifndef DOCSYNC_SYNC_ROUTE_H
#define DOCSYNC_SYNC_ROUTE_H

#include <cjson/cJSON.h>

#include "route_msg.h"
#include "sync_server.h"

/* Starts routing when cluster mode is on (cluster_start ran before):
 * subscribes to this node's request channel, registers the timeout timer
 * and the /metrics lines. Returns 0 (also when off) or -1. */
int sync_route_start(struct sync_module *m);

/* 1 when requests must go through sync_route_handle. */
int sync_route_active(void);

/* Handles one parsed request in cluster mode: finds the document's home
 * (claiming it for this node when the document has none), then hands it to
 * the engine here or forwards `data` (the request's JSON object) to the
 * home. `req` is moved (the caller's copy is left cleared); `user` is the
 * user the request acts as ("" = anonymous reads); `role` says whether the
 * home reads the user's role from the access list or grants the owner's
 * (HTTP API); `claim`: make this node the home of a document that has none
 * (every docsync request does: even a catch-up's answer names the home's
 * store, by its epoch). The answer goes to `reply`, exactly once. */
void sync_route_handle(struct sync_module *m, struct sync_request *req, const cJSON *data,
                       const char *user, enum route_role role, int claim,
                       const struct sync_reply *reply);

/* The HTTP API's document routes (and the access-list reads of
 * /broadcasting/auth) in cluster mode: `event` (a static string:
 * docsync:document, docsync:acl or docsync:role) with the JSON object
 * `json` is answered by the document's home node, through
 * sync_http_doc_serve there, and its answer relayed to `reply` as it is,
 * exactly once; refusals as for sync_route_handle. `claim`: a write, which
 * makes this node the home of a document that has none. */
void sync_route_doc(struct sync_module *m, const char *doc, const char *event, const char *json,
                    int claim, const struct sync_reply *reply);

/* Sends `event` with the JSON object `json` to node `node`'s request
 * channel (an auditor's docsync:audit) and relays its answer to `reply`,
 * exactly once: the node's answer, or an `unavailable` error when it is not
 * a live node, does not listen or does not answer in time. */
void sync_route_ask(struct sync_module *m, const char *node, const char *event, const char *json,
                    const struct sync_reply *reply);

/* After a change of `doc`'s access list committed here (its home): tells
 * every other node, with the whole new list, so that each unsubscribes its
 * own subscribers who lost the viewer role (sync_server_revoke_list). A
 * no-op on a lone server. */
void sync_route_acl_changed(struct sync_module *m, const char *doc);

/* Cluster mode: the ACL poll saw the store's access-list change count go
 * from `since` to `now` (docsync-admin, or this server's own changes).
 * Only lists that count are acted on: each changed document this store
 * holds has this node's subscribers checked against it, and each one Redis
 * names this node the home of (and not told of already) is told to the
 * other nodes as sync_route_acl_changed does. A list another node's store
 * took for a document homed elsewhere is ignored. At most
 * SYNC_ROUTE_ACL_PAGE changes are looked at per call: returns the count
 * acted on up to (`now` when every change was, or the store's log no
 * longer reaches back to `since`), where the next poll starts. Returns
 * `now` on a lone server. */
#define SYNC_ROUTE_ACL_PAGE 256
uint64_t sync_route_acl_poll(struct sync_module *m, uint64_t since, uint64_t now);

/* Frees what waits (after the engine is freed: no answer comes any more).
 * Lookups still queued in Redis find the module gone and free themselves. */
void sync_route_stop(struct sync_module *m);

#endif
