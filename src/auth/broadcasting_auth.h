/* broadcasting_auth: the server's own POST /broadcasting/auth and
 * /broadcasting/user-auth, for deployments without a Laravel app. The caller
 * proves who it is with a bearer token (token.h); the rules (auth_rules.h)
 * decide which channels it may join and as whom. Loop thread only. */
#ifndef DOCSYNC_BROADCASTING_AUTH_H
#define DOCSYNC_BROADCASTING_AUTH_H

#include "auth_rules.h"
#include "server/server.h"

/* What the routes need; owned by the caller, which keeps it alive (and
 * unchanged) as long as the server runs. */
struct broadcasting_auth {
    struct server *srv;
    const auth_rules *rules;
    auth_acl_fn acl; /* a document's access list, for the rules' document channels */
    void *acl_ctx;
};

/* Registers both routes with `ba` as their context. Returns 0 or a negative
 * SERVER_E* code (server_route). */
int broadcasting_auth_register(struct broadcasting_auth *ba);

#endif
