/* The server's own /broadcasting/auth and /broadcasting/user-auth, for
 * deployments without a Laravel app, answering in the shapes Echo and
 * pusher-js expect from Laravel's own routes.
 *
 * The caller sends `Authorization: Bearer <HS256 token signed with the app
 * secret>` (token.h) and the form body pusher-js posts
 * (`socket_id=..&channel_name=..`, or `socket_id=..` for user-auth). The
 * rules (auth_rules.h) decide; answers:
 *   200 {"auth":"key:hex"}                                  private
 *   200 {"auth":"key:hex","channel_data":"{\"user_id\":..}"} presence
 *   200 {"auth":"key:hex","user_data":"{\"id\":..}"}        user-auth
 *   401 missing/invalid/expired token; 403 refused by the rules;
 *   422 bad socket_id / channel_name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "broadcasting_auth.h"
#include "pusher/channel_name.h"
#include "pusher/sign.h"
#include "server/socketio_auth.h"
#include "token.h"

static void respond_error(struct http_req *req, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s)
        http_req_respond(req, status, NULL, s, strlen(s), NULL, NULL);
    else
        http_req_respond(req, 500, NULL, "{}", 2, NULL, NULL);
    free(s);
}

static int socket_id_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    return n >= 3 && n <= 40 && socket_id_shape(s, n);
}

/* Verifies the bearer token; on failure responds 401 and returns NULL. */
static token_claims *bearer(struct broadcasting_auth *m, struct http_req *req)
{
    char h[TOKEN_MAX_LEN + 64];
    int n = http_req_header(req, "authorization", h, sizeof h);
    if (n < 0 || strncmp(h, "Bearer ", 7) != 0) {
        respond_error(req, 401, "a bearer token is required (Authorization: Bearer <token>)");
        return NULL;
    }
    const struct config *cfg = server_config(m->srv);
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    token_claims *c = NULL;
    int rc = token_verify(cfg->app_secret, strlen(cfg->app_secret), tok, strlen(tok),
                          server_now(m->srv), &c);
    if (rc != 0) {
        char msg[120];
        snprintf(msg, sizeof msg, "invalid token: %s", token_strerror(rc));
        respond_error(req, 401, msg);
        return NULL;
    }
    return c;
}

static int form(struct http_req *req, struct sign_query *q)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    memset(q, 0, sizeof *q);
    return sign_query_parse(body, len, q);
}

static void respond_obj(struct http_req *req, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        respond_error(req, 500, "out of memory");
        return;
    }
    http_req_respond(req, 200, NULL, s, strlen(s), NULL, NULL);
    free(s);
}

/* A JSON object {"name": name} for user_info, or NULL. */
static cJSON *user_info(const token_claims *c)
{
    cJSON *info = cJSON_CreateObject();
    if (info && token_claims_name(c))
        cJSON_AddStringToObject(info, "name", token_claims_name(c));
    return info;
}

/* ---- a decision that may wait for access lists ---------------------------------
 * The rules are evaluated with the lists known so far; a list they ask for
 * that is not known yet is fetched (acl_async) and the rules evaluated
 * again with it, until they ask for nothing new (the rules are pure: the
 * same answers give the same decision). At most AUTH_ACL_ASKS lists. */

struct auth_wait {
    struct broadcasting_auth *m;
    token_claims *c;
    char *channel, *socket_id;
    struct http_req *req; /* POST /broadcasting/auth; NULL for Socket.IO */
    size_t nknown;
    struct {
        char *doc, *user;
        int acl;
    } known[AUTH_ACL_ASKS];
    char *miss_doc, *miss_user; /* the list the last evaluation lacked */
    /* Socket.IO, while the authoriser has not returned: the decision is
     * its return value (sio_auth_done only follows SIO_AUTH_LATER). */
    int sio_inline, sio_result;
    char *sio_cd;
};

static void wait_free(struct auth_wait *w)
{
    token_claims_free(w->c);
    free(w->channel);
    free(w->socket_id);
    for (size_t i = 0; i < w->nknown; i++) {
        free(w->known[i].doc);
        free(w->known[i].user);
    }
    free(w->miss_doc);
    free(w->miss_user);
    free(w->sio_cd);
    free(w);
}

/* A Socket.IO decision: returned by the authoriser, or told later. Frees w
 * unless the authoriser is still running (it frees it). */
static void sio_finish(struct auth_wait *w, int allowed, char *cd)
{
    if (w->sio_inline) {
        w->sio_result = allowed ? SIO_AUTH_ALLOW : SIO_AUTH_DENY;
        w->sio_cd = cd;
        return;
    }
    sio_auth_done(w->m->srv, w->socket_id, w->channel, allowed, cd);
    free(cd);
    wait_free(w);
}

static int known_acl(void *ctx, const char *doc, const char *user)
{
    struct auth_wait *w = ctx;
    for (size_t i = 0; i < w->nknown; i++)
        if (strcmp(w->known[i].doc, doc) == 0 && strcmp(w->known[i].user, user) == 0)
            return w->known[i].acl;
    if (!w->m->acl_async)
        return w->m->acl ? w->m->acl(w->m->acl_ctx, doc, user) : AUTH_ACL_ABSENT;
    if (!w->miss_doc) {
        w->miss_doc = strdup(doc);
        w->miss_user = strdup(user);
    }
    return AUTH_ACL_ABSENT; /* this evaluation is discarded */
}

/* The channel_data of a presence member, malloc'd, or NULL. */
static char *member_data(const token_claims *c)
{
    cJSON *cd = cJSON_CreateObject();
    cJSON_AddStringToObject(cd, "user_id", token_claims_sub(c));
    cJSON_AddItemToObject(cd, "user_info", user_info(c));
    char *s = cJSON_PrintUnformatted(cd);
    cJSON_Delete(cd);
    return s;
}

static void http_decided(struct auth_wait *w, const struct auth_decision *d)
{
    struct server *srv = w->m->srv;
    const struct config *cfg = server_config(srv);
    struct http_req *req = w->req;
    const char *ch = w->channel;
    int presence = strncmp(ch, "presence-", 9) == 0;
    int guarded = presence || strncmp(ch, "private-", 8) == 0;
    if (!d->allowed || !guarded) {
        log_info(server_logger(srv), "auth: user %s refused on %s", token_claims_sub(w->c), ch);
        respond_error(req, 403,
                      guarded ? "not allowed on this channel"
                              : "only private- and presence- channels need auth");
        return;
    }
    char *channel_data = presence ? member_data(w->c) : NULL;
    char auth[CONFIG_CRED_MAX + SIGN_HEX_LEN + 2];
    int n = sign_channel_auth_make(cfg->app_key, cfg->app_secret, w->socket_id, ch, channel_data,
                                   channel_data ? strlen(channel_data) : 0, auth, sizeof auth);
    cJSON *o = cJSON_CreateObject();
    if (n > 0)
        cJSON_AddStringToObject(o, "auth", auth);
    if (channel_data)
        cJSON_AddStringToObject(o, "channel_data", channel_data);
    free(channel_data);
    if (n <= 0) {
        cJSON_Delete(o);
        respond_error(req, 500, "cannot sign");
        return;
    }
    respond_obj(req, o);
}

static void sio_decided(struct auth_wait *w, const struct auth_decision *d)
{
    struct server *srv = w->m->srv;
    if (!d->allowed) {
        log_info(server_logger(srv), "auth: user %s refused on %s (socket.io)",
                 token_claims_sub(w->c), w->channel);
        sio_finish(w, 0, NULL);
        return;
    }
    sio_finish(w, 1, strncmp(w->channel, "presence-", 9) == 0 ? member_data(w->c) : NULL);
}

static void wait_step(struct auth_wait *w);

static void wait_answer(void *arg, int acl)
{
    struct auth_wait *w = arg;
    if (acl == AUTH_ACL_UNAVAILABLE) {
        /* Neither yes nor no: the client may retry (pusher-js does on its
         * next subscription attempt). */
        log_info(server_logger(w->m->srv), "auth: access list of %s unavailable for %s",
                 w->miss_doc, w->channel);
        if (w->req) {
            respond_error(w->req, 503,
                          "the document's access list cannot be read now (its home node is "
                          "down or Redis is unreachable); retry");
            wait_free(w);
        } else {
            sio_finish(w, 0, NULL);
        }
        return;
    }
    w->known[w->nknown].doc = w->miss_doc;
    w->known[w->nknown].user = w->miss_user;
    w->known[w->nknown].acl = acl;
    w->nknown++;
    w->miss_doc = w->miss_user = NULL;
    wait_step(w);
}

static void wait_step(struct auth_wait *w)
{
    struct auth_decision d;
    auth_rules_check(w->m->rules, w->channel, w->c, known_acl, w, &d);
    if (w->miss_doc) {
        if (w->nknown < AUTH_ACL_ASKS && w->miss_user) {
            w->m->acl_async(w->m->acl_async_ctx, w->miss_doc, w->miss_user, wait_answer, w);
            return;
        }
        d.allowed = 0; /* rules that read more lists than that: refused */
    }
    if (w->req) {
        http_decided(w, &d);
        wait_free(w);
    } else {
        sio_decided(w, &d);
    }
}

static void post_auth(struct server *srv, struct http_req *req, void *ud)
{
    struct broadcasting_auth *m = ud;
    const struct config *cfg = server_config(srv);
    token_claims *c = bearer(m, req);
    if (!c)
        return;
    struct sign_query q;
    if (form(req, &q) != 0) {
        token_claims_free(c);
        respond_error(req, 422, "the body must be socket_id=..&channel_name=..");
        return;
    }
    const char *sid = sign_query_get(&q, "socket_id");
    const char *ch = sign_query_get(&q, "channel_name");
    if (!socket_id_valid(sid) || !ch || !*ch || strlen(ch) > cfg->channel_name_max) {
        sign_query_free(&q);
        token_claims_free(c);
        respond_error(req, 422, "socket_id and channel_name are required");
        return;
    }
    struct auth_wait *w = calloc(1, sizeof *w);
    if (w) {
        w->channel = strdup(ch);
        w->socket_id = strdup(sid);
    }
    sign_query_free(&q);
    if (!w || !w->channel || !w->socket_id) {
        if (w)
            w->c = c;
        else
            token_claims_free(c);
        if (w)
            wait_free(w);
        respond_error(req, 500, "out of memory");
        return;
    }
    w->m = m;
    w->c = c;
    w->req = req;
    wait_step(w);
}

static void post_user_auth(struct server *srv, struct http_req *req, void *ud)
{
    struct broadcasting_auth *m = ud;
    const struct config *cfg = server_config(srv);
    token_claims *c = bearer(m, req);
    if (!c)
        return;
    struct sign_query q;
    if (form(req, &q) != 0 || !socket_id_valid(sign_query_get(&q, "socket_id"))) {
        sign_query_free(&q);
        token_claims_free(c);
        respond_error(req, 422, "socket_id is required");
        return;
    }
    cJSON *ud_obj = cJSON_CreateObject();
    cJSON_AddStringToObject(ud_obj, "id", token_claims_sub(c));
    if (token_claims_name(c))
        cJSON_AddStringToObject(ud_obj, "name", token_claims_name(c));
    cJSON_AddItemToObject(ud_obj, "user_info", user_info(c));
    char *user_data = cJSON_PrintUnformatted(ud_obj);
    cJSON_Delete(ud_obj);
    char auth[CONFIG_CRED_MAX + SIGN_HEX_LEN + 2];
    int n = user_data ? sign_user_auth_make(cfg->app_key, cfg->app_secret,
                                            sign_query_get(&q, "socket_id"), user_data,
                                            strlen(user_data), auth, sizeof auth)
                      : -1;
    sign_query_free(&q);
    token_claims_free(c);
    if (n <= 0) {
        free(user_data);
        respond_error(req, 500, "cannot sign");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "auth", auth);
    cJSON_AddStringToObject(o, "user_data", user_data);
    free(user_data);
    respond_obj(req, o);
}

/* Socket.IO subscriptions (socketio_auth.h): the client's auth.headers
 * carry the same bearer token Echo would send to /broadcasting/auth; the
 * same rules decide, and a presence member is the token's user as there.
 * A missing token, or one that is not ours (a Laravel app's own token,
 * for DOCSYNC_SOCKETIO_AUTH_URL), is left to the next authoriser. */
static int sio_authorize(struct server *srv, const struct sio_auth_request *rq, char **channel_data,
                         void *ud)
{
    struct broadcasting_auth *m = ud;
    const struct config *cfg = server_config(srv);
    const char *h = rq->authorization;
    if (!h || strncmp(h, "Bearer ", 7) != 0)
        return SIO_AUTH_NEXT;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    token_claims *c = NULL;
    if (token_verify(cfg->app_secret, strlen(cfg->app_secret), tok, strlen(tok), server_now(srv),
                     &c) != 0)
        return SIO_AUTH_NEXT;
    struct auth_wait *w = calloc(1, sizeof *w);
    if (w) {
        w->channel = strdup(rq->channel);
        w->socket_id = strdup(rq->socket_id);
        w->c = c;
    }
    if (!w || !w->channel || !w->socket_id) {
        if (w)
            wait_free(w);
        else
            token_claims_free(c);
        return SIO_AUTH_DENY;
    }
    w->m = m;
    /* Decided now when every list is at hand, else once they came (then
     * told with sio_auth_done). */
    w->sio_inline = 1;
    wait_step(w);
    w->sio_inline = 0;
    if (!w->sio_result)
        return SIO_AUTH_LATER; /* w lives on until its lists arrive */
    int r = w->sio_result;
    *channel_data = w->sio_cd;
    w->sio_cd = NULL;
    wait_free(w);
    return r;
}

int broadcasting_auth_register(struct broadcasting_auth *m)
{
    int rc = sio_on_authorize(m->srv, sio_authorize, m);
    if (rc == 0)
        rc = http_route(m->srv, "POST", "/broadcasting/auth", 0, post_auth, m);
    if (rc == 0)
        rc = http_route(m->srv, "POST", "/broadcasting/user-auth", 0, post_user_auth, m);
    return rc;
}
