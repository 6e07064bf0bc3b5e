/* sync_server: the document sync module of docsyncd, registered with
 * DOCSYNC_MODULE (server.h): at start it opens the LMDB store in the data
 * directory with its writer thread, and registers
 *   - the `docsync:` client events (submit, replace, catchup, history);
 *   - the signed HTTP API routes for documents, access lists and the
 *     activity log (clients/PROTOCOL-sync.md);
 *   - a publish hook that logs the HTTP API events matching
 *     sync_activity.h (UserActivity) in the activity log;
 *   - the built-in /broadcasting/auth and /broadcasting/user-auth
 *     (broadcasting_auth.c) for deployments without a Laravel app.
 * Everything runs on the loop thread; the writer wakes the loop with
 * server_wake() and completions are drained by a wake hook. */
#ifndef DOCSYNC_SYNC_SERVER_H
#define DOCSYNC_SYNC_SERVER_H

#include "auth_rules.h"
#include "server.h"
#include "store.h"
#include "sync_engine.h"

/* The module's state, shared by sync_server.c, sync_http.c and
 * broadcasting_auth.c. */
struct sync_module {
    struct server *srv;
    store *store;
    store_writer *writer;
    sync_engine *engine;
    auth_rules *rules;
    uint64_t app_events_logged;  /* app events queued to the activity log */
    uint64_t app_events_dropped; /* ... not logged (writer queue full, store error) */
};

/* Registers the HTTP API routes of sync_http.c. Returns 0 or a SERVER_E*. */
int sync_http_register(struct sync_module *m);

/* Registers /broadcasting/auth and /broadcasting/user-auth. */
int broadcasting_auth_register(struct sync_module *m);

/* Role of `user` on `doc` for the sync module: the ACL role; a document
 * without an access list gives AUTH_ROLE_EDITOR (whoever authorised the
 * channel subscription or signed the HTTP request decided); a store error
 * gives AUTH_ROLE_NONE. */
int sync_module_role(struct sync_module *m, const char *doc, const char *user);

#endif
