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
    struct auth_decision d;
    auth_rules_check(m->rules, ch, c, m->acl, m->acl_ctx, &d);
    int presence = strncmp(ch, "presence-", 9) == 0;
    int guarded = presence || strncmp(ch, "private-", 8) == 0;
    if (!d.allowed || !guarded) {
        log_info(server_logger(srv), "auth: user %s refused on %s", token_claims_sub(c), ch);
        sign_query_free(&q);
        token_claims_free(c);
        respond_error(req, 403,
                      guarded ? "not allowed on this channel"
                              : "only private- and presence- channels need auth");
        return;
    }
    char *channel_data = NULL;
    if (presence) {
        cJSON *cd = cJSON_CreateObject();
        cJSON_AddStringToObject(cd, "user_id", token_claims_sub(c));
        cJSON_AddItemToObject(cd, "user_info", user_info(c));
        channel_data = cJSON_PrintUnformatted(cd);
        cJSON_Delete(cd);
    }
    char auth[CONFIG_CRED_MAX + SIGN_HEX_LEN + 2];
    int n = sign_channel_auth_make(cfg->app_key, cfg->app_secret, sid, ch, channel_data,
                                   channel_data ? strlen(channel_data) : 0, auth, sizeof auth);
    cJSON *o = cJSON_CreateObject();
    if (n > 0)
        cJSON_AddStringToObject(o, "auth", auth);
    if (channel_data)
        cJSON_AddStringToObject(o, "channel_data", channel_data);
    free(channel_data);
    sign_query_free(&q);
    token_claims_free(c);
    if (n <= 0) {
        cJSON_Delete(o);
        respond_error(req, 500, "cannot sign");
        return;
    }
    respond_obj(req, o);
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
    struct auth_decision d;
    auth_rules_check(m->rules, rq->channel, c, m->acl, m->acl_ctx, &d);
    if (!d.allowed) {
        log_info(server_logger(srv), "auth: user %s refused on %s (socket.io)", token_claims_sub(c),
                 rq->channel);
        token_claims_free(c);
        return SIO_AUTH_DENY;
    }
    if (strncmp(rq->channel, "presence-", 9) == 0) {
        cJSON *cd = cJSON_CreateObject();
        cJSON_AddStringToObject(cd, "user_id", token_claims_sub(c));
        cJSON_AddItemToObject(cd, "user_info", user_info(c));
        *channel_data = cJSON_PrintUnformatted(cd);
        cJSON_Delete(cd);
    }
    token_claims_free(c);
    return SIO_AUTH_ALLOW;
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
