/* http: an HTTP request on the server's port, as route handlers see it
 * (http_route() in server.h registers them). Loop thread only. A request
 * is valid from the handler call until http_req_respond(), which must be
 * called exactly once, then or later. */
#ifndef DOCSYNC_HTTP_H
#define DOCSYNC_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct http_req;

/* Route flags */
#define HTTP_ROUTE_APP 1u    /* path starts /apps/{app_id}/: unknown id -> 404 */
#define HTTP_ROUTE_SIGNED 2u /* Pusher HTTP API signature verified -> else 401 */
#define HTTP_ROUTE_JSON 4u   /* the server's own refusals (404 app, 401, 413) as JSON
                                {"code","message"} instead of plain text */

/* Handler for a matched request. It must eventually call
 * http_req_respond() exactly once: before returning or later, from another
 * callback on the loop thread. The request stays valid until then (if the
 * client goes away meanwhile, respond still frees it and sends nothing). */
typedef void (*http_route_fn)(struct server *srv, struct http_req *req, void *ud);

/* Adds a route, before the loop runs. `method` is "GET", "POST", "PUT",
 * "PATCH", "DELETE" or "OPTIONS". `pattern` is a path without the server
 * prefix (REVERB_SERVER_PATH), made of '/'-separated segments: a literal,
 * "{}" or "{name}" (one non-empty segment, captured), or a final "*" (the
 * rest, possibly empty, captured). E.g. "/broadcasting/auth",
 * "/apps/{app_id}/documents/{id}/ops". Requests that match a route's
 * pattern but no route's method get 405 with Allow. Returns 0,
 * SERVER_EINVAL, SERVER_ENOMEM or SERVER_EFULL (at most 64 routes). */
int http_route(struct server *srv, const char *method, const char *pattern, unsigned flags,
               http_route_fn fn, void *ud);

/* The same with the route's own limit on the request's size (headers and
 * body, bytes): a request over it is refused with 413 before its body is
 * read. 0 = REVERB_MAX_REQUEST_SIZE, the limit of every other route. */
int http_route_sized(struct server *srv, const char *method, const char *pattern, unsigned flags,
                     size_t max_request, http_route_fn fn, void *ud);

/* The same with a limit decided per request from its headers and query
 * (e.g. by the session it names): max_fn(req, ud) is called once, before
 * the body is read, and its answer holds for the whole request. */
typedef size_t (*http_route_size_fn)(const struct http_req *req, void *ud);
int http_route_sizer(struct server *srv, const char *method, const char *pattern, unsigned flags,
                     http_route_size_fn max_fn, http_route_fn fn, void *ud);

/* Request accessors; strings are NUL-terminated and borrowed from the
 * request (valid until http_req_respond). */
const char *http_req_method(const struct http_req *req);            /* "GET", ... */
const char *http_req_path(const struct http_req *req);              /* decoded, prefix stripped */
const char *http_req_query(const struct http_req *req);             /* raw (re-encoded), no '?' */
const void *http_req_body(const struct http_req *req, size_t *len); /* NULL/0 when none */

/* The i-th captured pattern segment ("{...}" or "*", left to right), or NULL. */
const char *http_req_param(const struct http_req *req, unsigned i);

/* The decoded value of query parameter `name`, or NULL. */
const char *http_req_arg(const struct http_req *req, const char *name);

/* Copies request header `name` (lower-case, without ':', e.g.
 * "authorization", "content-type", "x-socket-id") into `buf` (NUL-terminated).
 * Returns its length, or -1 when absent, too long or no longer available
 * (headers are only available during the route handler call). */
int http_req_header(struct http_req *req, const char *name, char *buf, size_t cap);

/* Runs the Pusher HTTP API signature check on this request: the
 * HMAC-SHA256 of method, path and sorted query with the app secret, the
 * body_md5 of a body, and auth_timestamp within 600 s of now. Returns a SIGN_* code
 * (pusher/sign.h); SIGN_OK means authentic. Routes with HTTP_ROUTE_SIGNED get this for free. */
int http_req_verify_signature(const struct http_req *req);

/* Sends the response and ends the request: status code, content type (NULL
 * = "application/json"), body (copied), and optionally one extra header
 * (`hname` like "allow", NULL = none). After this call `req` is gone.
 * Returns 0 or SERVER_ENOMEM (the request is still ended). */
int http_req_respond(struct http_req *req, int status, const char *content_type, const void *body,
                     size_t len, const char *hname, const char *hvalue);

/* Adds a response header (`name` like "vary") to what http_req_respond
 * sends; up to 1 KiB of names and values per request in all. Call before
 * http_req_respond, e.g. when the request arrives (its headers may be gone
 * by the time a held request is answered). Returns 0, or -1 when it does
 * not fit (nothing added). */
int http_req_add_header(struct http_req *req, const char *name, const char *value);

/* The client's address as 16 bytes (IPv4 as v4-mapped IPv6, iplimit.h's
 * key). Returns 0, or -1 when it is not an IP socket or is gone. */
int http_req_peer_key(struct http_req *req, uint8_t key[16]);

/* Asks for `fn(ud)` when the client goes away before the response (a
 * long-poll the client cut); the request must still be answered with
 * http_req_respond (which then sends nothing). Loop thread. */
void http_req_on_gone(struct http_req *req, void (*fn)(void *ud), void *ud);

/* 1 when the client of a held request closed its connection (or it
 * failed), else 0: lws 4.1.6 does not notice a FIN while a request is
 * being answered, so a handler holding requests asks. Loop thread. */
int http_req_peer_gone(struct http_req *req);

/* Tells lws not to time the request out while the handler holds it
 * (a long-poll, answered when there is something to say). */
void http_req_hold(struct http_req *req);

#endif
