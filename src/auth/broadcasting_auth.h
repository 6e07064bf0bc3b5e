/* broadcasting_auth: the server's own POST /broadcasting/auth and
 * /broadcasting/user-auth, for deployments without a Laravel app. The caller
 * proves who it is with a bearer token (token.h); the rules (auth_rules.h)
 * decide which channels it may join and as whom. Loop thread only. */
#ifndef DOCSYNC_BROADCASTING_AUTH_H
#define DOCSYNC_BROADCASTING_AUTH_H

#include "auth_rules.h"
#include "server/server.h"

/* An access-list answer that arrives later (auth_acl_fn's values, or
 * AUTH_ACL_UNAVAILABLE). */
#define AUTH_ACL_UNAVAILABLE (-101) /* the list could not be read now: retry */
typedef void (*auth_acl_done_fn)(void *arg, int acl);
/* Reads `doc`'s list for `user` and calls done(arg, acl) exactly once, now
 * or later (loop thread): in cluster mode the list lives on the document's
 * home node. `doc` and `user` are borrowed for the call. */
typedef void (*auth_acl_async_fn)(void *ctx, const char *doc, const char *user,
                                  auth_acl_done_fn done, void *arg);

/* What the routes need; owned by the caller, which keeps it alive (and
 * unchanged) as long as the server runs. */
struct broadcasting_auth {
    struct server *srv;
    const auth_rules *rules;
    auth_acl_fn acl; /* a document's access list, for the rules' document channels */
    void *acl_ctx;
    /* When set, the access lists are read with it instead of `acl` (the
     * decision waits for them; at most AUTH_ACL_ASKS lists per decision). */
    auth_acl_async_fn acl_async;
    void *acl_async_ctx;
};
#define AUTH_ACL_ASKS 4

/* Registers both routes with `ba` as their context. Returns 0 or a negative
 * SERVER_E* code (server_route). */
int broadcasting_auth_register(struct broadcasting_auth *ba);

#endif
