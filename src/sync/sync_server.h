/* sync_server: the document sync module of docsyncd, started with
 * sync_server_start() (main.c calls it before the loop runs): it opens the
 * LMDB store in the data directory with its writer thread, and registers
 *   - the `docsync:` client events (submit, replace, catchup, history);
 *   - the signed HTTP API routes for documents, access lists and the
 *     activity log (clients/PROTOCOL-sync.md);
 *   - a publish hook that logs the HTTP API events matching
 *     sync_activity.h (UserActivity) in the activity log;
 *   - the built-in /broadcasting/auth and /broadcasting/user-auth
 *     (auth/broadcasting_auth.h) for deployments without a Laravel app.
 * Everything runs on the loop thread; the writer wakes the loop with
 * server_wake() and completions are drained by a wake hook. */
#ifndef DOCSYNC_SYNC_SERVER_H
#define DOCSYNC_SYNC_SERVER_H

#include "auth/auth_rules.h"
#include "auth/broadcasting_auth.h"
#include "server/server.h"
#include "store.h"
#include "sync_engine.h"

/* The module's state, shared by sync_server.c and sync_http.c (nobody else
 * uses it). Created by sync_server_start, freed by sync_server_stop. */
struct sync_module {
    struct server *srv;
    store *store;
    store_writer *writer;
    sync_engine *engine;
    auth_rules *rules;
    struct broadcasting_auth auth; /* the built-in /broadcasting/auth routes' context */
    uint64_t app_events_logged;    /* app events queued to the activity log */
    uint64_t app_events_dropped;   /* ... not logged (writer queue full, store error) */
    uint64_t acl_changes_seen;     /* the store's access-list change count last acted on */
    /* Access-list changes of the HTTP API submitted, not yet completed:
     * the ACL poll waits for them (each tells the other nodes itself). */
    size_t acl_writes_pending;
    struct sync_feed_state *feed; /* the server's own activity feed (sync_feed.h), or NULL */
    /* Cluster mode: this node's id, named by every activity entry
     * (sync_activity_stamp); "" on a lone server. */
    char activity_node[64];
};

/* The role of `user` on `doc` ("" or NULL = neither a presence member nor
 * signed in: what the access list's "*" entry allows, at most a viewer):
 * the access-list role; a document without an access list gives an editor
 * (whoever authorised the channel subscription decided). Loop thread. */
int sync_server_role(struct sync_module *m, const char *doc, const char *user);

/* Sends an answer (event, JSON object text) to `to` as the engine would:
 * its callback, else its connection. Loop thread. */
void sync_server_send(struct sync_module *m, const struct sync_reply *to, const char *event,
                      const char *json);

/* Answers a docsync:audit request another node relayed (an auditor asked
 * it for this node's log with ?node=): `body` is the query as JSON; the
 * answer, {"status","contentType"?,"page"?,"body64"}, goes to `reply` as
 * a docsync:audit event. Loop thread. */
struct sync_reply;
void sync_http_audit_serve(struct sync_module *m, const char *body, size_t len,
                           const struct sync_reply *reply);

/* Answers one request of the HTTP API's document routes as this node's
 * store and engine hold the document (on a lone server, and on a
 * document's home node for every node of a cluster; sync_route_doc):
 * `event` docsync:document ({"documentId"}: its text and version, as
 * docsync:history, or docsync:error not_found), docsync:acl
 * ({"documentId"}: the access list; with "user" and "role": a change,
 * answered {} once committed) or docsync:role ({"documentId","user"}:
 * {"acl":n}, sync_engine_acl_fn's answer). `body` is hostile when another
 * node sent it: every member is checked. The answer goes to `reply`
 * exactly once, as the engine's do (docsync:error with a code for
 * refusals). Loop thread. */
void sync_http_doc_serve(struct sync_module *m, const char *event, const char *body, size_t len,
                         const struct sync_reply *reply);

/* Registers the HTTP API routes of sync_http.c, with `m` as their context.
 * Returns 0, or the SERVER_E* of the first http_route that failed. Called
 * by sync_server_start. */
int sync_http_register(struct sync_module *m);

/* After a change to `doc`'s access list (through the HTTP API at once; made
 * by another process, within a second, when the module's poll of the
 * store's change count sees it): unsubscribes, from the document's
 * private and presence channels, every connection whose user no longer has
 * at least the viewer role, telling it with docsync:error access_revoked,
 * so that no DocumentUpdated reaches it any more. Loop thread. */
void sync_server_revoke(struct sync_module *m, const char *doc);

/* The same, with the roles read from `acl` (n entries: the whole list,
 * as the document's home node holds it, told over Redis) instead of this
 * node's store. Loop thread. */
struct route_ship_acl;

/* The ids of the documents with subscribers on this server (on
 * private-document.{id} or presence-document.{id}), once each: a malloc'd
 * array of *n (NULL when none or out of memory). Loop thread. */
char (*sync_server_subscribed_docs(struct sync_module *m, size_t *n))[SYNC_DOC_ID_MAX + 1];
void sync_server_revoke_list(struct sync_module *m, const char *doc,
                             const struct route_ship_acl *acl, size_t n);

/* Starts the module: opens the store in the data directory with its writer
 * thread and registers every handler, route and hook above. Returns 0, or -1
 * (logged) when the store cannot be opened, the engine or the rules file
 * cannot be set up, or a registration fails; call sync_server_stop() either
 * way. Main thread, before the loop runs. */
int sync_server_start(struct server *srv);

/* The store the module opened (NULL before sync_server_start or after a
 * failed one): the webhook module keeps its outbox there, since one process
 * opens a store directory once. Main thread. */
store *sync_server_store(struct server *srv);

/* The store's writer thread the module started (NULL likewise): channel
 * history commits its events through it, in order with the documents'. */
store_writer *sync_server_writer(struct server *srv);

/* Flushes what is queued to the store (running the completions, whose
 * replies go nowhere once connections are gone), stops the writer and frees
 * the module. Safe when sync_server_start failed or never ran. Main thread,
 * after the loop. */
void sync_server_stop(struct server *srv);

#endif
