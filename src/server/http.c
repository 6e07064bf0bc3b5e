/* http: plain HTTP requests on the server port - request state, the size
 * limit (413), the route table (404 / 405 + Allow), the signature check
 * for signed routes, and writing the response (one write, keep-alive when
 * the client allows it). The Pusher API handlers live in http_api.c;
 * modules add routes with http_route(). */
#include "server_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/jsonw.h"
#include "common/route.h"
#include "iplimit.h"
#include "pusher/sign.h"

#define HTTP_MAX_CAPS 8

struct http_req {
    struct server *srv;
    struct lws *wsi; /* NULL once the connection is gone */
    char method[8];
    char *path;  /* decoded, prefix stripped */
    char *query; /* re-encoded */
    struct sign_query args;
    char *body;
    size_t body_len, body_cap;
    size_t header_bytes;
    long long content_length; /* -1 = none */
    char *caps[HTTP_MAX_CAPS];
    unsigned ncaps;
    const struct server_route *route;
    size_t max_request;     /* the route's limit for this request, once routed */
    void (*gone)(void *ud); /* http_req_on_gone */
    void *gone_ud;
    /* response */
    int responded;
    int in_callback; /* inside an lws HTTP callback: respond writes at once */
    int body_complete;
    int close_after;
    int status;
    char *resp;
    size_t resp_len;
    char ctype[64];
    char hname[32];
    char hvalue[128];
    char xh[1024]; /* http_req_add_header: "name:\0value\0" pairs */
    size_t xh_len;
};

int http_route_sized(struct server *srv, const char *method, const char *pattern, unsigned flags,
                     size_t max_request, http_route_fn fn, void *ud)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        ok |= method && !strcmp(method, methods[i]);
    if (!ok || !pattern || pattern[0] != '/' || !fn)
        return SERVER_EINVAL;
    if (srv->nroutes >= SERVER_MAX_ROUTES)
        return SERVER_EFULL;
    struct server_route *r = &srv->routes[srv->nroutes];
    r->pattern = strdup(pattern);
    if (!r->pattern)
        return SERVER_ENOMEM;
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->flags = flags;
    r->max_request = max_request;
    r->fn = fn;
    r->ud = ud;
    srv->nroutes++;
    return 0;
}

int http_route_sizer(struct server *srv, const char *method, const char *pattern, unsigned flags,
                     http_route_size_fn max_fn, http_route_fn fn, void *ud)
{
    if (!max_fn)
        return SERVER_EINVAL;
    int rc = http_route_sized(srv, method, pattern, flags, 0, fn, ud);
    if (!rc)
        srv->routes[srv->nroutes - 1].max_fn = max_fn;
    return rc;
}

int http_route(struct server *srv, const char *method, const char *pattern, unsigned flags,
               http_route_fn fn, void *ud)
{
    return http_route_sized(srv, method, pattern, flags, 0, fn, ud);
}

static void http_req_free(struct http_req *req)
{
    if (!req)
        return;
    free(req->path);
    free(req->query);
    sign_query_free(&req->args);
    free(req->body);
    for (unsigned i = 0; i < req->ncaps; i++)
        free(req->caps[i]);
    free(req->resp);
    free(req);
}

struct http_req *http_req_new(struct server *srv, struct lws *wsi)
{
    struct http_req *req = calloc(1, sizeof(*req));
    if (!req)
        return NULL;
    req->srv = srv;
    req->wsi = wsi;
    req->content_length = -1;
    return req;
}

void http_req_detach(struct http_req *req)
{
    req->wsi = NULL;
    if (req->responded) {
        http_req_free(req);
        return;
    }
    /* A handler still owns it and will call http_req_respond; one that
     * holds requests (a long-poll) may want to know now. */
    if (req->gone) {
        void (*fn)(void *) = req->gone;
        req->gone = NULL;
        fn(req->gone_ud);
    }
}

void http_req_on_gone(struct http_req *req, void (*fn)(void *ud), void *ud)
{
    req->gone = fn;
    req->gone_ud = ud;
}

int http_req_peer_gone(struct http_req *req)
{
    /* lws 4.1.6 does not read a connection whose request is being
     * answered, so it never sees the client's FIN: look for it. */
    if (!req->wsi)
        return 1;
    int fd = lws_get_socket_fd(req->wsi);
    char b;
    if (fd < 0)
        return 1;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void http_req_hold(struct http_req *req)
{
    /* lws's timeouts are for requests being read or written; a request
     * the server holds on purpose is ended by its owner. */
    if (req->wsi)
        lws_set_timeout(req->wsi, NO_PENDING_TIMEOUT, 0);
}

/* ---- accessors -------------------------------------------------------- */

const char *http_req_method(const struct http_req *req)
{
    return req->method;
}

const char *http_req_path(const struct http_req *req)
{
    return req->path;
}

const char *http_req_query(const struct http_req *req)
{
    return req->query ? req->query : "";
}

const void *http_req_body(const struct http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body_len ? req->body : NULL;
}

const char *http_req_param(const struct http_req *req, unsigned i)
{
    return i < req->ncaps ? req->caps[i] : NULL;
}

const char *http_req_arg(const struct http_req *req, const char *name)
{
    return sign_query_get(&req->args, name);
}

int http_req_header(struct http_req *req, const char *name, char *buf, size_t cap)
{
    if (!req->wsi || !cap || cap > 65536)
        return -1;
    static const struct {
        const char *name;
        enum lws_token_indexes tok;
    } known[] = {
        {"authorization", WSI_TOKEN_HTTP_AUTHORIZATION},
        {"content-type", WSI_TOKEN_HTTP_CONTENT_TYPE},
        {"content-length", WSI_TOKEN_HTTP_CONTENT_LENGTH},
        {"origin", WSI_TOKEN_ORIGIN},
        {"host", WSI_TOKEN_HOST},
        {"cookie", WSI_TOKEN_HTTP_COOKIE},
        {"user-agent", WSI_TOKEN_HTTP_USER_AGENT},
        {"accept", WSI_TOKEN_HTTP_ACCEPT},
        {"x-forwarded-for", WSI_TOKEN_X_FORWARDED_FOR},
        {"access-control-request-headers", WSI_TOKEN_HTTP_AC_REQUEST_HEADERS},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (!strcmp(name, known[i].name)) {
            if (!lws_hdr_total_length(req->wsi, known[i].tok))
                return -1;
            return lws_hdr_copy(req->wsi, buf, (int)cap, known[i].tok);
        }
    }
    char hn[64];
    int n = snprintf(hn, sizeof(hn), "%s:", name);
    if (n <= 1 || (size_t)n >= sizeof(hn))
        return -1;
    int len = lws_hdr_custom_length(req->wsi, hn, n);
    if (len < 0 || (size_t)len >= cap)
        return -1;
    return lws_hdr_custom_copy(req->wsi, buf, (int)cap, hn, n);
}

int http_req_verify_signature(const struct http_req *req)
{
    const struct config *cfg = req->srv->cfg;
    const char *q = http_req_query(req);
    return sign_http_verify(req->method, req->path, q, strlen(q), req->body, req->body_len,
                            cfg->app_key, cfg->app_secret, server_now(req->srv),
                            cfg->timestamp_window);
}

/* ---- responding ------------------------------------------------------- */

int http_req_respond(struct http_req *req, int status, const char *content_type, const void *body,
                     size_t len, const char *hname, const char *hvalue)
{
    if (req->responded)
        return 0;
    req->responded = 1;
    req->gone = NULL;
    req->status = status;
    if (req->content_length > 0 && !req->body_complete)
        req->close_after = 1; /* the unread body makes keep-alive unsafe */
    metrics_http(&req->srv->metrics, status);
    if (!req->wsi) { /* the client went away meanwhile */
        http_req_free(req);
        return 0;
    }
    snprintf(req->ctype, sizeof(req->ctype), "%s",
             content_type ? content_type : "application/json");
    if (hname && hvalue && strlen(hname) + 2 < sizeof(req->hname)) {
        snprintf(req->hname, sizeof(req->hname), "%s:", hname);
        snprintf(req->hvalue, sizeof(req->hvalue), "%s", hvalue);
    }
    int rc = 0;
    if (len) {
        req->resp = malloc(len);
        if (req->resp) {
            memcpy(req->resp, body, len);
            req->resp_len = len;
        } else {
            req->status = 500;
            rc = SERVER_ENOMEM;
        }
    }
    /* Inside the request's own lws callback the caller writes right after
     * (http_flush); otherwise wait for HTTP_WRITEABLE. */
    if (!req->in_callback)
        lws_callback_on_writable(req->wsi);
    return rc;
}

int http_req_add_header(struct http_req *req, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (req->responded || req->xh_len + nl + vl + 3 > sizeof req->xh)
        return -1;
    char *p = req->xh + req->xh_len;
    memcpy(p, name, nl);
    p[nl] = ':';
    p[nl + 1] = '\0';
    memcpy(p + nl + 2, value, vl + 1);
    req->xh_len += nl + vl + 3;
    return 0;
}

int http_req_peer_key(struct http_req *req, uint8_t key[16])
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = req->wsi ? lws_get_socket_fd(req->wsi) : -1;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    return iplimit_addr_key((const struct sockaddr *)&ss, key);
}

static void http_respond_text(struct http_req *req, int status, const char *text)
{
    http_req_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

int http_writeable(struct http_req **preq)
{
    struct http_req *req = *preq;
    if (!req->responded || !req->wsi)
        return 0;
    struct lws *wsi = req->wsi;
    size_t cap = LWS_PRE + 1024 + req->resp_len;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        *preq = NULL;
        http_req_free(req);
        return -1;
    }
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + cap - req->resp_len;
    int bad = lws_add_http_common_headers(wsi, (unsigned)req->status, req->ctype,
                                          (lws_filepos_t)req->resp_len, &p, end);
    if (!bad && req->hname[0])
        bad = lws_add_http_header_by_name(wsi, (const unsigned char *)req->hname,
                                          (const unsigned char *)req->hvalue,
                                          (int)strlen(req->hvalue), &p, end);
    for (size_t i = 0; !bad && i < req->xh_len;) {
        const char *name = req->xh + i;
        const char *value = name + strlen(name) + 1;
        bad =
            lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)value, (int)strlen(value), &p, end);
        i = (size_t)(value - req->xh) + strlen(value) + 1;
    }
    if (!bad && req->close_after)
        bad = lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                           (const unsigned char *)"close", 5, &p, end);
    if (!bad)
        bad = lws_finalize_http_header(wsi, &p, end);
    int close_after = req->close_after;
    if (!bad) {
        if (req->resp_len)
            memcpy(p, req->resp, req->resp_len);
        p += req->resp_len;
        bad = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0;
    }
    free(buf);
    *preq = NULL; /* before lws_http_transaction_completed: it calls back */
    http_req_free(req);
    if (bad || close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 1;
}

/* ---- routing ---------------------------------------------------------- */

/* A refusal by the server itself: plain text, as the Pusher HTTP API
 * answers, or {"code","message"} for routes that speak JSON errors. */
static void http_refuse(struct http_req *req, int status, const char *code, const char *text)
{
    if (!req->route || !(req->route->flags & HTTP_ROUTE_JSON)) {
        http_respond_text(req, status, text);
        return;
    }
    struct jsonw w;
    char buf[512];
    jsonw_init(&w, buf, sizeof buf);
    jsonw_lit(&w, "{\"code\":");
    jsonw_cstr(&w, code);
    jsonw_lit(&w, ",\"message\":");
    jsonw_cstr(&w, text);
    jsonw_lit(&w, "}");
    if (w.oom)
        http_respond_text(req, status, text);
    else
        http_req_respond(req, status, NULL, w.p, w.len, NULL, NULL);
    jsonw_free(&w);
}

/* Request bytes (headers included) the matched route accepts. */
static size_t http_max_request(const struct http_req *req)
{
    if (req->max_request)
        return req->max_request;
    if (req->route && req->route->max_request)
        return req->route->max_request;
    return req->srv->cfg->max_request_size;
}

static void http_dispatch(struct http_req *req)
{
    struct server *srv = req->srv;
    const struct server_route *r = req->route;
    if ((r->flags & HTTP_ROUTE_APP) &&
        (!req->ncaps || strcmp(req->caps[0], srv->cfg->app_id) != 0)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "No matching application for ID [%.200s].",
                 req->ncaps ? req->caps[0] : "");
        http_refuse(req, 404, "not_found", msg);
        return;
    }
    if ((r->flags & HTTP_ROUTE_APP) && srv->cfg->api_requests_per_second) {
        /* DOCSYNC_API_REQUESTS_PER_SECOND: one window per wall-clock
         * second for the app, counted before the signature check so that
         * badly signed floods are limited too. */
        int64_t now = server_monotonic();
        if (srv->api_window != now) {
            srv->api_window = now;
            srv->api_count = 0;
        }
        if (++srv->api_count > srv->cfg->api_requests_per_second) {
            srv->metrics.api_rate_limited++;
            http_refuse(req, 429, "rate_limited", "Too many requests.");
            return;
        }
    }
    if (r->flags & HTTP_ROUTE_SIGNED) {
        int rc = http_req_verify_signature(req);
        if (rc != SIGN_OK) {
            if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
                log_debug(srv->log, "http %s %s: %s", req->method, req->path, sign_strerror(rc));
            http_refuse(req, sign_http_status(rc), "unauthorized", sign_http_message(rc));
            return;
        }
    }
    r->fn(srv, req, r->ud);
}

static const char *const http_methods[] = {"GET",   "POST",   "OPTIONS", "PUT",
                                           "PATCH", "DELETE", "CONNECT", "HEAD"};

static void http_pct(char **w, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *(*w)++ = (char)ch;
        } else {
            *(*w)++ = '%';
            *(*w)++ = hex[ch >> 4];
            *(*w)++ = hex[ch & 15];
        }
    }
}

/* lws hands the query over already split at unescaped '&' and decoded;
 * rebuild an unambiguous raw query (everything re-escaped) for sign.h. */
static int http_collect_query(struct http_req *req)
{
    char frag[2048];
    size_t cap = 1, used = 0;
    char *q = malloc(cap);
    if (!q)
        return -1;
    q[0] = '\0';
    for (int i = 0; i < SIGN_QUERY_MAX_PARAMS + 1; i++) {
        int n = lws_hdr_copy_fragment(req->wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 0)
            break;
        size_t need = used + 1 + (size_t)n * 3 + 1;
        if (need > SIGN_QUERY_MAX_LEN * 3) {
            free(q);
            return -1;
        }
        char *nq = realloc(q, need);
        if (!nq) {
            free(q);
            return -1;
        }
        q = nq;
        char *w = q + used;
        if (used)
            *w++ = '&';
        char *eq = strchr(frag, '=');
        if (eq) {
            *eq = '\0';
            http_pct(&w, frag);
            *w++ = '=';
            http_pct(&w, eq + 1);
        } else {
            http_pct(&w, frag);
        }
        *w = '\0';
        used = (size_t)(w - q);
    }
    req->query = q;
    return sign_query_parse(q, used, &req->args) == SIGN_OK ? 0 : -1;
}

static void http_request_start(struct http_req *req)
{
    struct server *srv = req->srv;
    struct lws *wsi = req->wsi;
    char *uri = NULL;
    int ulen = 0;
    int meth = lws_http_get_uri_and_method(wsi, &uri, &ulen);
    if (meth < 0 || meth >= (int)(sizeof(http_methods) / sizeof(http_methods[0])) || !uri) {
        req->close_after = 1;
        http_respond_text(req, 400, "Bad request.");
        return;
    }
    snprintf(req->method, sizeof(req->method), "%s", http_methods[meth]);
    for (int t = 0; t < WSI_TOKEN_COUNT; t++)
        req->header_bytes += (size_t)lws_hdr_total_length(wsi, (enum lws_token_indexes)t);

    /* Framing that two parsers could read differently (request smuggling,
     * RFC 9112 6.3): two Content-Length headers, or Content-Length with
     * Transfer-Encoding, is refused rather than guessed at. lws keeps each
     * occurrence of a header as a fragment. */
    int has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
    int has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    if (has_cl && (has_te || lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, 1) > 0)) {
        req->close_after = 1;
        http_respond_text(req, 400, "Bad request.");
        return;
    }
    char cl[32];
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
        lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        char *e;
        req->content_length = strtoll(cl, &e, 10);
        if (*e || req->content_length < 0) {
            req->close_after = 1;
            http_respond_text(req, 400, "Bad request.");
            return;
        }
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
        /* lws 4.1.6 does not decode chunked request bodies; say so rather
         * than handle the request as if it had no body. Every Pusher SDK
         * sends Content-Length. */
        req->close_after = 1;
        http_respond_text(req, 411, "Length required.");
        return;
    }
    if (req->header_bytes > srv->cfg->max_request_size) {
        req->close_after = 1;
        http_respond_text(req, 413, "Payload too large.");
        return;
    }

    size_t plen = strlen(srv->cfg->path);
    if ((size_t)ulen < plen || strncmp(uri, srv->cfg->path, plen) != 0 || (uri[plen] != '/')) {
        http_respond_text(req, 404, "Not found.");
        return;
    }
    req->path = strndup(uri + plen, (size_t)ulen - plen);
    if (!req->path) {
        http_respond_text(req, 500, "Internal server error.");
        return;
    }
    if (http_collect_query(req)) {
        http_respond_text(req, 400, "Bad request.");
        return;
    }

    /* Route: the first route whose pattern and method match; collect the
     * methods of pattern-only matches for 405's Allow. */
    char allow[64] = "";
    for (size_t i = 0; i < srv->nroutes; i++) {
        const struct server_route *r = &srv->routes[i];
        unsigned n = 0;
        if (!route_match(r->pattern, req->path, NULL, 0, &n))
            continue;
        if (!strcmp(r->method, req->method)) {
            route_match(r->pattern, req->path, req->caps, HTTP_MAX_CAPS, &req->ncaps);
            req->route = r;
            break;
        }
        if (!strstr(allow, r->method) && strlen(allow) + strlen(r->method) + 3 < sizeof(allow)) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, r->method);
        }
    }
    if (!req->route) {
        if (allow[0])
            http_req_respond(req, 405, "text/plain; charset=utf-8", "Method not allowed.", 19,
                             "allow", allow);
        else
            http_respond_text(req, 404, "Not found.");
        return;
    }
    /* The body limit is the route's: document routes take whole documents. */
    if (req->route->max_fn)
        req->max_request = req->route->max_fn(req, req->route->ud);
    size_t max = http_max_request(req);
    if (req->content_length > 0 && (size_t)req->content_length > max - req->header_bytes) {
        req->close_after = 1;
        http_refuse(req, 413, "too_large", "Payload too large.");
        return;
    }
    if (req->content_length > 0)
        return; /* wait for the body */
    http_dispatch(req);
}

static int http_body_append(struct http_req *req, const void *in, size_t len)
{
    if (req->responded)
        return 0;
    if (req->header_bytes + req->body_len + len > http_max_request(req)) {
        req->close_after = 1;
        http_refuse(req, 413, "too_large", "Payload too large.");
        return 0;
    }
    if (req->body_len + len + 1 > req->body_cap) {
        size_t ncap = req->body_len + len + 1;
        if (req->content_length > 0 && (size_t)req->content_length + 1 > ncap)
            ncap = (size_t)req->content_length + 1;
        char *nb = realloc(req->body, ncap);
        if (!nb)
            return -1;
        req->body = nb;
        req->body_cap = ncap;
    }
    memcpy(req->body + req->body_len, in, len);
    req->body_len += len;
    req->body[req->body_len] = '\0';
    return 0;
}

static void http_body_finish(struct http_req *req)
{
    req->body_complete = 1;
    if (req->responded)
        return;
    if (req->route)
        http_dispatch(req);
}

/* After an lws HTTP callback: a response given during it is written now
 * (saving a loop iteration per request); returns what the callback should
 * return (-1 closes). */
static int http_flush(struct http_req **preq)
{
    struct http_req *req = *preq;
    req->in_callback = 0;
    if (!req->responded)
        return 0;
    return http_writeable(preq) < 0 ? -1 : 0;
}

int http_begin(struct http_req **preq)
{
    (*preq)->in_callback = 1;
    http_request_start(*preq);
    return http_flush(preq);
}

int http_body(struct http_req **preq, const void *in, size_t len)
{
    struct http_req *req = *preq;
    if (req->responded)
        return 0; /* an early answer is already out or queued: drop the body */
    req->in_callback = 1;
    if (http_body_append(req, in, len) < 0)
        return -1;
    return http_flush(preq);
}

int http_body_done(struct http_req **preq)
{
    struct http_req *req = *preq;
    if (req->responded) {
        req->body_complete = 1;
        return 0;
    }
    req->in_callback = 1;
    http_body_finish(req);
    return http_flush(preq);
}
