/* The signed HTTP API of document sync (clients/PROTOCOL-sync.md, "HTTP
 * API"): the same operations as the WebSocket events, for a Laravel backend
 * or any Pusher HTTP SDK signer, plus access lists and the activity log.
 * Every route is under /apps/{app_id}/ and requires the Pusher HTTP API
 * signature (the server verifies it before calling us). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pusher/json_check.h"
#include "sync_msg.h"
#include "sync_route.h"
#include "sync_server.h"

#include "cluster/bus.h"
#include "common/base64.h"
#include "common/hex.h"
#include "common/jsonw.h"
#include "sync_activity.h"

#define ACTIVITY_LIMIT_DEFAULT 100
#define ACTIVITY_LIMIT_MAX 1000

static void respond_json(struct http_req *req, int status, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        static const char oom[] = "{\"code\":\"internal\",\"message\":\"out of memory\"}";
        http_req_respond(req, 500, NULL, oom, sizeof oom - 1, NULL, NULL);
        return;
    }
    http_req_respond(req, status, NULL, s, strlen(s), NULL, NULL);
    free(s);
}

static void respond_error(struct http_req *req, int status, const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "code", code);
        cJSON_AddStringToObject(o, "message", msg);
    }
    respond_json(req, status, o);
}

static int status_of(const char *code)
{
    static const struct {
        const char *code;
        int status;
    } map[] = {{"invalid", 422},         {"forbidden", 403},
               {"conflict", 409},        {"missing_dependencies", 409},
               {"too_large", 413},       {"storage_full", 507},
               {"storage_error", 503},   {"busy", 503},
               {"not_found", 404},       {"not_retained", 410},
               {"client_id_taken", 409}, {"forbidden_agent", 403},
               {"too_many_ops", 413},    {"too_costly", 413},
               {"document_full", 413},   {"unavailable", 503}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].status;
    return 500;
}

/* Engine reply -> HTTP response (called exactly once per request). */
static void http_done(void *arg, const char *event, const char *json)
{
    struct http_req *req = arg;
    int status = 200;
    if (strcmp(event, "docsync:error") == 0) {
        cJSON *o = cJSON_Parse(json);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
        status = status_of(cJSON_IsString(code) ? code->valuestring : "");
        cJSON_Delete(o);
    }
    http_req_respond(req, status, NULL, json, strlen(json), NULL, NULL);
}

/* The reply that answers the HTTP request `req` (http_done). */
static struct sync_reply http_reply(struct http_req *req)
{
    return (struct sync_reply){.done = http_done, .arg = req};
}

/* `o` (taken) printed as JSON, or NULL after answering 500. */
static char *json_or_500(struct http_req *req, cJSON *o)
{
    char *json = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!json)
        respond_error(req, 500, "internal", "out of memory");
    return json;
}

static int user_valid(const char *u)
{
    size_t n = strlen(u);
    if (n == 0 || n > SYNC_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
            return 0;
    return 1;
}

/* Answers a batch the writer could not commit: 507 storage_full when the
 * map or the disk is full, else 503 storage_error. */
static void respond_store_failure(struct http_req *req, int status)
{
    int full = status == STORE_EFULL || status == STORE_ENOSPC;
    respond_error(req, full ? 507 : 503, full ? "storage_full" : "storage_error",
                  store_strerror(status));
}

/* Parses the body as a JSON object (an empty body gives {}), then sets
 * documentId from the path. NULL after responding 400/422. */
static cJSON *body_object(struct http_req *req, const char *doc)
{
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    cJSON *o = len ? cJSON_ParseWithLength(body, len) : cJSON_CreateObject();
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        respond_error(req, 400, "invalid", "the body must be a JSON object");
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "documentId");
    cJSON_AddStringToObject(o, "documentId", doc ? doc : "");
    return o;
}

/* Runs one sync request built from `data` for the backend user named in
 * data.user (default "api"), with owner rights: the caller holds the app
 * secret. */
static void run(struct sync_module *m, struct http_req *req, enum sync_op op, cJSON *data)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(data, "user");
    char user[SYNC_USER_MAX + 1] = "api";
    if (u) {
        if (!cJSON_IsString(u) || !user_valid(u->valuestring)) {
            cJSON_Delete(data);
            respond_error(req, 422, "invalid", "user must be 1-128 printable characters");
            return;
        }
        snprintf(user, sizeof user, "%s", u->valuestring);
    }
    struct sync_request sr;
    const char *why = NULL;
    size_t limit = server_config(m->srv)->doc_max_bytes;
    int rc = sync_msg_parse(op, data, limit, limit, &sr, &why);
    if (rc == 0 && sync_route_active()) {
        /* Cluster mode: the document's home node applies it (maybe this one). */
        struct sync_reply reply = http_reply(req);
        /* A catch-up or history read claims a document nobody holds, as a
         * subscriber's does: its answer names the home's store (its
         * epoch), the same through every node from then on. */
        sync_route_handle(m, &sr, data, user, ROUTE_ROLE_OWNER, 1, &reply);
        sync_msg_clear(&sr);
        cJSON_Delete(data);
        return;
    }
    cJSON_Delete(data);
    if (rc != 0) {
        respond_error(req, rc == SYNC_MSG_ETOOBIG ? 413 : 422,
                      rc == SYNC_MSG_ETOOBIG ? "too_large" : "invalid",
                      why ? why : "invalid request");
        return;
    }
    struct sync_reply reply = http_reply(req);
    sync_engine_handle(m->engine, &sr, user, AUTH_ROLE_OWNER, &reply);
    sync_msg_clear(&sr);
}

/* POST /apps/{app_id}/documents/{id}/updates  {clientId, seq, update, user?} */
static void post_updates(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    cJSON *o = body_object(req, http_req_param(req, 1));
    if (o)
        run(ud, req, SYNC_OP_SUBMIT, o);
}

/* PUT /apps/{app_id}/documents/{id}/content  {baseVersion, content, user?, clientId?, seq?} */
static void put_content(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    cJSON *o = body_object(req, http_req_param(req, 1));
    if (o)
        run(ud, req, SYNC_OP_REPLACE, o);
}

static cJSON *query_object(const char *doc)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "documentId", doc ? doc : "");
    return o;
}

/* GET /apps/{app_id}/documents/{id}/updates?since=V&epoch=E */
static void get_updates(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    cJSON *o = query_object(http_req_param(req, 1));
    const char *since = http_req_arg(req, "since"), *epoch = http_req_arg(req, "epoch");
    if (o) {
        cJSON_AddStringToObject(o, "version", since ? since : "0");
        if (epoch)
            cJSON_AddStringToObject(o, "epoch", epoch);
    }
    run(ud, req, SYNC_OP_CATCHUP, o);
}

/* GET /apps/{app_id}/documents/{id}/history?version=V */
static void get_history(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    cJSON *o = query_object(http_req_param(req, 1));
    const char *v = http_req_arg(req, "version");
    if (o)
        cJSON_AddStringToObject(o, "version", v ? v : "");
    run(ud, req, SYNC_OP_HISTORY, o);
}

/* The request's document id ({id}), or NULL after answering 422. */
static const char *doc_param(struct http_req *req)
{
    const char *doc = http_req_param(req, 1);
    if (!sync_msg_doc_id_valid(doc)) {
        respond_error(req, 422, "invalid", "bad document id");
        return NULL;
    }
    return doc;
}

/* Opens a read handle on the store, or answers 503 and returns -1. */
static int read_begin(struct sync_module *m, struct http_req *req, store_read **r)
{
    if (store_read_begin(m->store, r) != 0) {
        respond_error(req, 503, "storage_error", "cannot read the store");
        return -1;
    }
    return 0;
}

/* ---- reads of a document, access lists ----------------------------------------
 * Answered by sync_http_doc_serve wherever the document lives: here on a
 * lone server; in cluster mode on the document's home node, which this
 * node asks (sync_route_doc) and whose answer it sends as it comes, so
 * every node answers these routes with the home's bytes. */

/* Sends the answer {"code","message"} as a refusal: the body respond_error
 * writes, so that a refusal reads the same wherever it was made. */
static void send_error(struct sync_module *m, const struct sync_reply *reply, const char *code,
                       const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddStringToObject(o, "message", msg);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    sync_server_send(m, reply, "docsync:error", s);
    free(s);
}

/* The document, as the text and version at its head: the engine's history
 * read of that version. */
static void serve_document(struct sync_module *m, const char *doc, const struct sync_reply *reply)
{
    store_read *r = NULL;
    if (store_read_begin(m->store, &r) != 0) {
        send_error(m, reply, "storage_error", "cannot read the store");
        return;
    }
    struct store_doc_info info;
    memset(&info, 0, sizeof info);
    int rc = store_doc_get(r, doc, &info);
    store_read_end(r);
    if (rc == STORE_ENOTFOUND) {
        send_error(m, reply, "not_found", "no such document");
        return;
    }
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)info.head);
    cJSON *o = query_object(doc);
    if (o)
        cJSON_AddStringToObject(o, "version", v);
    struct sync_request sr;
    const char *why = NULL;
    size_t limit = server_config(m->srv)->doc_max_bytes;
    rc = o ? sync_msg_parse(SYNC_OP_HISTORY, o, limit, limit, &sr, &why) : SYNC_MSG_EINVAL;
    cJSON_Delete(o);
    if (rc != 0) {
        send_error(m, reply, "invalid", why ? why : "invalid request");
        return;
    }
    sync_engine_handle(m->engine, &sr, "api", AUTH_ROLE_OWNER, reply);
    sync_msg_clear(&sr);
}

static int acl_item(void *ctx, const char *user, size_t user_len, enum store_role role)
{
    cJSON *arr = ctx;
    cJSON *o = cJSON_CreateObject();
    char u[SYNC_USER_MAX + 1];
    size_t n = user_len < SYNC_USER_MAX ? user_len : SYNC_USER_MAX;
    memcpy(u, user, n);
    u[n] = '\0';
    cJSON_AddStringToObject(o, "user", u);
    cJSON_AddStringToObject(o, "role", auth_role_name((int)role));
    cJSON_AddItemToArray(arr, o);
    return 0;
}

static void serve_acl_get(struct sync_module *m, const char *doc, const struct sync_reply *reply)
{
    store_read *r = NULL;
    if (store_read_begin(m->store, &r) != 0) {
        send_error(m, reply, "storage_error", "cannot read the store");
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    store_acl_list(r, doc, acl_item, arr);
    store_read_end(r);
    cJSON_AddStringToObject(o, "documentId", doc);
    cJSON_AddItemToObject(o, "acl", arr);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    sync_server_send(m, reply, s ? "docsync:acl" : "docsync:error",
                     s ? s : "{\"code\":\"internal\",\"message\":\"out of memory\"}");
    free(s);
}

/* A change of an access list waiting for its commit. */
struct acl_change {
    struct sync_module *m;
    struct sync_reply reply;
    char doc[SYNC_DOC_ID_MAX + 1];
};

static void acl_done(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct acl_change *a = ctx;
    a->m->acl_writes_pending--;
    if (status != 0) {
        int full = status == STORE_EFULL || status == STORE_ENOSPC;
        send_error(a->m, &a->reply, full ? "storage_full" : "storage_error",
                   store_strerror(status));
    } else {
        /* Durable: live subscriptions of users who lost access end now,
         * here and (cluster mode) on every other node. */
        sync_server_revoke(a->m, a->doc);
        sync_route_acl_changed(a->m, a->doc);
        sync_server_send(a->m, &a->reply, "docsync:acl", "{}");
    }
    free(a);
}

static const char acl_invalid[] = "user (1-128 characters, or * for everyone) and role (viewer, "
                                  "editor, owner or none) are required";

static void serve_acl_put(struct sync_module *m, const char *doc, const cJSON *u, const cJSON *r,
                          const struct sync_reply *reply)
{
    int role = cJSON_IsString(r) ? auth_role_parse(r->valuestring) : -1;
    if (!cJSON_IsString(u) || !user_valid(u->valuestring) || role < 0) {
        send_error(m, reply, "invalid", acl_invalid);
        return;
    }
    store_batch *b = NULL;
    int rc = store_batch_new(&b);
    if (rc == 0)
        rc = role == AUTH_ROLE_NONE
                 ? store_batch_acl_delete(b, doc, u->valuestring)
                 : store_batch_acl_put(b, doc, u->valuestring, (enum store_role)role);
    struct acl_change *a = rc == 0 ? calloc(1, sizeof *a) : NULL;
    if (rc == 0 && !a)
        rc = STORE_ENOMEM;
    if (rc == 0) {
        a->m = m;
        a->reply = *reply;
        snprintf(a->doc, sizeof a->doc, "%s", doc);
        rc = store_writer_submit(m->writer, b, acl_done, a);
        if (rc == 0)
            m->acl_writes_pending++;
    }
    if (rc != 0) {
        free(a);
        store_batch_free(b);
        send_error(m, reply, rc == STORE_EINVAL ? "invalid" : "storage_error", store_strerror(rc));
    }
}

void sync_http_doc_serve(struct sync_module *m, const char *event, const char *body, size_t len,
                         const struct sync_reply *reply)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "documentId");
    if (!cJSON_IsObject(j) || !cJSON_IsString(d) || !sync_msg_doc_id_valid(d->valuestring)) {
        send_error(m, reply, "invalid", "bad document id");
    } else if (strcmp(event, "docsync:document") == 0) {
        serve_document(m, d->valuestring, reply);
    } else if (strcmp(event, "docsync:acl") == 0) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "role");
        if (u || r)
            serve_acl_put(m, d->valuestring, u, r, reply);
        else
            serve_acl_get(m, d->valuestring, reply);
    } else if (strcmp(event, "docsync:role") == 0) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "user");
        if (!cJSON_IsString(u) || strlen(u->valuestring) > SYNC_USER_MAX) {
            send_error(m, reply, "invalid", "user must be a string of at most 128 bytes");
        } else {
            char out[32];
            snprintf(out, sizeof out, "{\"acl\":%d}",
                     sync_engine_acl_fn(m->store, d->valuestring, u->valuestring));
            sync_server_send(m, reply, "docsync:role", out);
        }
    } else {
        send_error(m, reply, "invalid", "unknown document request");
    }
    cJSON_Delete(j);
}

/* Answers `event` with `o` (taken) for the document `doc`: here on a lone
 * server, else wherever the document lives. */
static void doc_call(struct sync_module *m, struct http_req *req, const char *event,
                     const char *doc, cJSON *o, int claim)
{
    char *json = json_or_500(req, o);
    if (!json)
        return;
    struct sync_reply reply = http_reply(req);
    if (sync_route_active())
        sync_route_doc(m, doc, event, json, claim, &reply);
    else
        sync_http_doc_serve(m, event, json, strlen(json), &reply);
    free(json);
}

/* GET /apps/{app_id}/documents/{id}: the current text and version. */
static void get_document(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *doc = doc_param(req);
    if (doc)
        doc_call(ud, req, "docsync:document", doc, query_object(doc), 0);
}

/* GET /apps/{app_id}/documents/{id}/acl */
static void get_acl(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *doc = doc_param(req);
    if (doc)
        doc_call(ud, req, "docsync:acl", doc, query_object(doc), 0);
}

/* PUT /apps/{app_id}/documents/{id}/acl  {user, role: viewer|editor|owner|none}
 * (a change of the document's home node's list, in cluster mode: it is
 * the one every node's requests are checked against) */
static void put_acl(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *doc = doc_param(req);
    if (!doc)
        return;
    cJSON *o = body_object(req, doc);
    if (!o)
        return;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "user");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "role");
    if (!cJSON_IsString(u) || !user_valid(u->valuestring) || !cJSON_IsString(r) ||
        auth_role_parse(r->valuestring) < 0) {
        cJSON_Delete(o);
        respond_error(req, 422, "invalid", acl_invalid);
        return;
    }
    /* Only what the home needs: the body's other members stay here. */
    cJSON *q = query_object(doc);
    if (q) {
        cJSON_AddStringToObject(q, "user", u->valuestring);
        cJSON_AddStringToObject(q, "role", r->valuestring);
    }
    cJSON_Delete(o);
    doc_call(ud, req, "docsync:acl", doc, q, 1);
}

/* ---- activity log ---- */

static int activity_item(void *ctx, const struct store_activity *a)
{
    cJSON *arr = ctx;
    cJSON *o = cJSON_CreateObject();
    char h[2 * STORE_HASH_LEN + 1];
    cJSON_AddNumberToObject(o, "offset", (double)a->offset);
    cJSON_AddNumberToObject(o, "ts", (double)a->ts_ms);
    hex_encode(a->prev_hash, STORE_HASH_LEN, h);
    cJSON_AddStringToObject(o, "prevHash", h);
    hex_encode(a->hash, STORE_HASH_LEN, h);
    cJSON_AddStringToObject(o, "hash", h);
    cJSON *entry = cJSON_ParseWithLength((const char *)a->payload, a->len);
    if (!entry) {
        char *raw = malloc(a->len + 1);
        if (raw) {
            memcpy(raw, a->payload, a->len);
            raw[a->len] = '\0';
            entry = cJSON_CreateString(raw);
            free(raw);
        }
    }
    cJSON_AddItemToObject(o, "entry", entry);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

static int parse_u64_arg(struct http_req *req, const char *name, uint64_t def, uint64_t *out)
{
    const char *v = http_req_arg(req, name);
    *out = def;
    if (!v || !*v)
        return 0;
    cJSON *s = cJSON_CreateString(v);
    int rc = json_u64(s, out);
    cJSON_Delete(s);
    return rc;
}

/* GET /apps/{app_id}/activity?after=N&limit=L (limit clamped to 1..1000) */
static void get_activity(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    struct sync_module *m = ud;
    uint64_t after, limit;
    if (parse_u64_arg(req, "after", 0, &after) != 0 ||
        parse_u64_arg(req, "limit", ACTIVITY_LIMIT_DEFAULT, &limit) != 0) {
        respond_error(req, 400, "invalid", "after and limit must be non-negative integers");
        return;
    }
    if (limit == 0)
        limit = 1;
    if (limit > ACTIVITY_LIMIT_MAX)
        limit = ACTIVITY_LIMIT_MAX;
    store_read *r = NULL;
    if (read_begin(m, req, &r) != 0)
        return;
    uint64_t head = 0;
    uint8_t hh[STORE_HASH_LEN];
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_CreateArray();
    store_activity_head(r, &head, hh);
    int rc = store_activity_read(r, after, (size_t)limit, activity_item, arr);
    store_read_end(r);
    if (rc != 0) {
        cJSON_Delete(o);
        cJSON_Delete(arr);
        respond_error(req, 503, "storage_error", store_strerror(rc));
        return;
    }
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(hh, STORE_HASH_LEN, h);
    cJSON_AddNumberToObject(o, "head", (double)head);
    cJSON_AddStringToObject(o, "headHash", h);
    cJSON_AddNumberToObject(o, "limit", (double)limit);
    cJSON_AddItemToObject(o, "entries", arr);
    respond_json(req, 200, o);
}

static void activity_done(void *ctx, int status, const struct store_batch_result *res)
{
    struct http_req *req = ctx;
    if (status != 0) {
        respond_store_failure(req, status);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "offset", (double)res->activity_first);
    respond_json(req, 200, o);
}

/* POST /apps/{app_id}/activity  {any JSON object, e.g. user, action}: appends
 * an application activity entry ({"kind":"app", ...the object}). */
static void post_activity(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    struct sync_module *m = ud;
    cJSON *o = body_object(req, NULL);
    if (!o)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(o, "documentId");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "kind");
    if (m->activity_node[0]) /* the server says which node's log holds the entry */
        cJSON_DeleteItemFromObjectCaseSensitive(o, "node");
    cJSON_AddStringToObject(o, "kind", "app");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    struct jsonw w;
    jsonw_init(&w, NULL, s ? strlen(s) + 96 : 16);
    if (s)
        sync_activity_stamp(m->activity_node, s, strlen(s), &w);
    free(s);
    store_batch *b = NULL;
    int rc = s && !w.oom ? store_batch_new(&b) : STORE_ENOMEM;
    if (rc == 0)
        rc = store_batch_activity_append(b, (uint64_t)server_now(m->srv) * 1000u, w.p, w.len);
    jsonw_free(&w);
    if (rc == 0)
        rc = store_writer_submit(m->writer, b, activity_done, req);
    if (rc != 0) {
        store_batch_free(b);
        respond_error(req, 503, "storage_error", store_strerror(rc));
    }
}

/* ---- audit API: filtered pages and JSONL export ---- */

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define EXPORT_LIMIT_DEFAULT 1000
#define EXPORT_LIMIT_MAX 10000
#define AUDIT_PAGE_BYTES (1024u * 1024u) /* a page stops after this much text */
/* Entries one page looks at: a filter parses each on the loop thread (about
 * a microsecond each), so a page never holds the loop long. */
#define AUDIT_SCAN_MAX 10000

struct audit_query {
    struct sync_activity_filter f;
    uint64_t after, to, limit;
};

/* Reads the audit query parameters; 0, or -1 after answering 400. */
static int audit_query_parse(struct http_req *req, uint64_t limit_default, uint64_t limit_max,
                             struct audit_query *q)
{
    memset(q, 0, sizeof *q);
    if (parse_u64_arg(req, "after", 0, &q->after) != 0 ||
        parse_u64_arg(req, "to", UINT64_MAX, &q->to) != 0 ||
        parse_u64_arg(req, "limit", limit_default, &q->limit) != 0 ||
        parse_u64_arg(req, "since", 0, &q->f.since_ms) != 0 ||
        parse_u64_arg(req, "until", 0, &q->f.until_ms) != 0) {
        respond_error(req, 400, "invalid",
                      "after, to, limit, since and until must be non-negative integers");
        return -1;
    }
    if (q->limit == 0)
        q->limit = 1;
    if (q->limit > limit_max)
        q->limit = limit_max;
    const char *u = http_req_arg(req, "user"), *d = http_req_arg(req, "document"),
               *k = http_req_arg(req, "kind");
    q->f.user = u && *u ? u : NULL;
    q->f.document = d && *d ? d : NULL;
    q->f.kind = k && *k ? k : NULL;
    return 0;
}

/* One page: the matching entries after q->after (up to q->to), as export
 * lines separated by `sep`, into w. */
struct audit_page {
    const struct audit_query *q;
    struct jsonw *w;
    const char *sep;
    uint64_t next;  /* the last offset looked at (the cursor to continue from) */
    uint64_t count; /* entries written */
};

static int audit_each(void *ctx, const struct store_activity *e)
{
    struct audit_page *p = ctx;
    if (e->offset > p->q->to)
        return 1;
    p->next = e->offset;
    if (!sync_activity_match(&p->q->f, e))
        return 0;
    if (p->count)
        jsonw_lit(p->w, p->sep);
    sync_activity_line(e, p->w);
    p->count++;
    return p->count >= p->q->limit || p->w->len >= AUDIT_PAGE_BYTES || p->w->oom;
}

/* An audit answer, made where the log is (this node, or the node an
 * auditor named with ?node=, which sends it back over Redis). */
struct audit_out {
    int status;
    const char *ctype; /* NULL = application/json */
    char page[96];     /* X-Docsync-Page ("" = none) */
    struct jsonw w;    /* the body */
};

static void audit_error(struct audit_out *o, int status, const char *code, const char *msg)
{
    o->status = status;
    o->ctype = NULL;
    o->page[0] = '\0';
    o->w.len = 0;
    o->w.oom = 0;
    if (o->w.p)
        o->w.p[0] = '\0';
    JSONW_LIT(&o->w, "{\"code\":");
    jsonw_cstr(&o->w, code);
    JSONW_KEY(&o->w, "message");
    jsonw_cstr(&o->w, msg);
    JSONW_LIT(&o->w, "}");
}

/* Runs one page; returns 0 with head in *head (and its hash in hh), or -1
 * with a 503 in `o`. */
static int audit_run(struct sync_module *m, struct audit_out *o, struct audit_page *p,
                     uint64_t *head, uint8_t hh[STORE_HASH_LEN])
{
    store_read *r = NULL;
    if (store_read_begin(m->store, &r) != 0) {
        audit_error(o, 503, "storage_error", "cannot read the store");
        return -1;
    }
    *head = 0;
    p->next = p->q->after;
    int rc = store_activity_head(r, head, hh);
    if (rc == 0 && p->q->after < p->q->to)
        rc = store_activity_read(r, p->q->after, AUDIT_SCAN_MAX, audit_each, p);
    store_read_end(r);
    if (rc != 0 || p->w->oom) {
        audit_error(o, 503, "storage_error", rc ? store_strerror(rc) : "out of memory");
        return -1;
    }
    return 0;
}

/* The /audit answer: {"head","headHash","next","more",("node",)"entries":[line...]}. */
static void audit_answer(struct sync_module *m, const struct audit_query *q, struct audit_out *o)
{
    struct jsonw lines;
    jsonw_init(&lines, NULL, 4096);
    struct audit_page p = {.q = q, .w = &lines, .sep = ","};
    uint64_t head;
    uint8_t hh[STORE_HASH_LEN];
    if (audit_run(m, o, &p, &head, hh) != 0) {
        jsonw_free(&lines);
        return;
    }
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(hh, STORE_HASH_LEN, h);
    uint64_t end = q->to < head ? q->to : head;
    o->status = 200;
    struct jsonw *w = &o->w;
    JSONW_LIT(w, "{\"head\":");
    jsonw_u64(w, head);
    JSONW_KEY(w, "headHash");
    jsonw_cstr(w, h);
    JSONW_KEY(w, "next");
    jsonw_u64(w, p.next);
    JSONW_KEY(w, "more");
    jsonw_lit(w, p.next < end ? "true" : "false");
    if (m->activity_node[0]) { /* cluster mode: whose log this is */
        JSONW_KEY(w, "node");
        jsonw_cstr(w, m->activity_node);
    }
    JSONW_KEY(w, "entries");
    JSONW_LIT(w, "[");
    jsonw_raw(w, lines.p, lines.len);
    JSONW_LIT(w, "]}");
    jsonw_free(&lines);
}

/* The /audit/export answer: JSON lines, X-Docsync-Page "next=N head=H more=0|1". */
static void export_answer(struct sync_module *m, const struct audit_query *q, struct audit_out *o)
{
    struct audit_page p = {.q = q, .w = &o->w, .sep = "\n"};
    uint64_t head;
    uint8_t hh[STORE_HASH_LEN];
    if (audit_run(m, o, &p, &head, hh) != 0)
        return;
    if (p.count)
        JSONW_LIT(&o->w, "\n");
    uint64_t end = q->to < head ? q->to : head;
    o->status = 200;
    o->ctype = "application/x-ndjson";
    snprintf(o->page, sizeof o->page, "next=%llu head=%llu more=%d", (unsigned long long)p.next,
             (unsigned long long)head, p.next < end);
}

/* The /activity/verify answer: {"ok","head","headHash"(,"badOffset")(,"node")}. */
static void verify_answer(struct sync_module *m, uint64_t from, const uint8_t *want,
                          struct audit_out *o)
{
    store_read *r = NULL;
    if (store_read_begin(m->store, &r) != 0) {
        audit_error(o, 503, "storage_error", "cannot read the store");
        return;
    }
    uint64_t head = 0, bad = 0;
    uint8_t hh[STORE_HASH_LEN];
    store_activity_head(r, &head, hh);
    int rc = head ? store_activity_verify(r, from, UINT64_MAX, want, &bad) : 0;
    store_read_end(r);
    char h[2 * STORE_HASH_LEN + 1];
    hex_encode(hh, STORE_HASH_LEN, h);
    o->status = 200;
    struct jsonw *w = &o->w;
    JSONW_LIT(w, "{\"ok\":");
    jsonw_lit(w, rc == 0 ? "true" : "false");
    JSONW_KEY(w, "head");
    jsonw_u64(w, head);
    JSONW_KEY(w, "headHash");
    jsonw_cstr(w, h);
    if (rc != 0) {
        JSONW_KEY(w, "badOffset");
        jsonw_u64(w, bad);
    }
    if (m->activity_node[0]) {
        JSONW_KEY(w, "node");
        jsonw_cstr(w, m->activity_node);
    }
    JSONW_LIT(w, "}");
}

static int parse_hash(const char *hash, uint8_t want[STORE_HASH_LEN])
{
    if (strlen(hash) != 2 * STORE_HASH_LEN)
        return -1;
    for (int i = 0; i < STORE_HASH_LEN; i++) {
        unsigned v;
        if (!isxdigit((unsigned char)hash[2 * i]) || !isxdigit((unsigned char)hash[2 * i + 1]) ||
            sscanf(hash + 2 * i, "%2x", &v) != 1)
            return -1;
        want[i] = (uint8_t)v;
    }
    return 0;
}

enum audit_op { AUDIT_OP_PAGE, AUDIT_OP_EXPORT, AUDIT_OP_VERIFY };
static const char *const audit_ops[] = {"audit", "export", "verify"};

/* What an audit request asks: the query (pages) or from/hash (verify). */
struct audit_ask {
    enum audit_op op;
    struct audit_query q;
    uint64_t from;
    const char *hash; /* NULL = none */
};

static void audit_do(struct sync_module *m, const struct audit_ask *a, struct audit_out *o)
{
    uint8_t want[STORE_HASH_LEN];
    if (a->op == AUDIT_OP_PAGE)
        audit_answer(m, &a->q, o);
    else if (a->op == AUDIT_OP_EXPORT)
        export_answer(m, &a->q, o);
    else if (a->hash && parse_hash(a->hash, want) != 0)
        audit_error(o, 400, "invalid", "hash must be 64 hex characters");
    else
        verify_answer(m, a->from, a->hash ? want : NULL, o);
}

/* ---- ?node=: reading another node's log ---------------------------------------
 * The request goes to that node's request channel as a docsync:audit
 * request (the query as JSON); its answer comes back whole (status,
 * content type, page header, body in base64) and is sent as this node
 * would send its own. */

#define AUDIT_RELAY_MAX (3u * 1024u * 1024u) /* body bytes (base64) of a relayed answer */

static void audit_respond(struct http_req *req, struct audit_out *o)
{
    if (o->w.oom)
        audit_error(o, 500, "internal", "out of memory");
    http_req_respond(req, o->status, o->ctype, o->w.p, o->w.len,
                     o->page[0] ? "X-Docsync-Page" : NULL, o->page[0] ? o->page : NULL);
}

/* The node's answer (or the refusal of routing) to a relayed request. */
static void audit_relayed(void *arg, const char *event, const char *json)
{
    struct http_req *req = arg;
    cJSON *j = cJSON_Parse(json);
    if (strcmp(event, "docsync:audit") != 0) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        respond_error(req, 503, "unavailable",
                      cJSON_IsString(msg) ? msg->valuestring : "the node did not answer");
        cJSON_Delete(j);
        return;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "status");
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(j, "contentType");
    const cJSON *pg = cJSON_GetObjectItemCaseSensitive(j, "page");
    const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(j, "body64");
    size_t n = cJSON_IsString(b64) ? strlen(b64->valuestring) : 0;
    uint8_t *body = cJSON_IsString(b64) ? malloc(base64_decoded_max(n) + 1) : NULL;
    size_t len = 0;
    if (!cJSON_IsNumber(st) || st->valuedouble < 200 || st->valuedouble > 599 || !body ||
        base64_decode(b64->valuestring, n, 0, body, base64_decoded_max(n) + 1, &len) != 0 ||
        (ct && !cJSON_IsString(ct)) ||
        (pg && (!cJSON_IsString(pg) || strlen(pg->valuestring) > 90))) {
        free(body);
        cJSON_Delete(j);
        respond_error(req, 502, "bad_gateway", "the node's answer could not be read");
        return;
    }
    /* Only the two content types the audit routes send are passed on. */
    const char *ctype =
        ct && strcmp(ct->valuestring, "application/x-ndjson") == 0 ? "application/x-ndjson" : NULL;
    char page[96] = "";
    if (pg)
        snprintf(page, sizeof page, "%s", pg->valuestring);
    http_req_respond(req, (int)st->valuedouble, ctype, body, len, page[0] ? "X-Docsync-Page" : NULL,
                     page[0] ? page : NULL);
    free(body);
    cJSON_Delete(j);
}

/* Answers here, or relays to the node named by ?node= (cluster mode). */
static void audit_dispatch(struct sync_module *m, struct http_req *req, const struct audit_ask *a)
{
    const char *node = http_req_arg(req, "node");
    if (node && *node && !(m->activity_node[0] && strcmp(node, m->activity_node) == 0)) {
        if (!m->activity_node[0]) {
            respond_error(req, 404, "not_found",
                          "node: this server is not in cluster mode; its log is its own");
            return;
        }
        if (!bus_node_id_valid(node, strlen(node))) {
            respond_error(req, 400, "invalid", "node must be a node id");
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "op", audit_ops[a->op]);
        if (a->op == AUDIT_OP_VERIFY) {
            cJSON_AddNumberToObject(o, "from", (double)a->from);
            if (a->hash)
                cJSON_AddStringToObject(o, "hash", a->hash);
        } else {
            cJSON_AddNumberToObject(o, "after", (double)a->q.after);
            if (a->q.to != UINT64_MAX)
                cJSON_AddNumberToObject(o, "to", (double)a->q.to);
            cJSON_AddNumberToObject(o, "limit", (double)a->q.limit);
            cJSON_AddNumberToObject(o, "since", (double)a->q.f.since_ms);
            cJSON_AddNumberToObject(o, "until", (double)a->q.f.until_ms);
            if (a->q.f.user)
                cJSON_AddStringToObject(o, "user", a->q.f.user);
            if (a->q.f.document)
                cJSON_AddStringToObject(o, "document", a->q.f.document);
            if (a->q.f.kind)
                cJSON_AddStringToObject(o, "kind", a->q.f.kind);
        }
        char *json = json_or_500(req, o);
        if (!json)
            return;
        struct sync_reply reply = {.done = audit_relayed, .arg = req};
        sync_route_ask(m, node, "docsync:audit", json, &reply);
        free(json);
        return;
    }
    struct audit_out o = {.status = 200};
    jsonw_init(&o.w, NULL, 64 * 1024);
    audit_do(m, a, &o);
    audit_respond(req, &o);
    jsonw_free(&o.w);
}

static int json_u64_member(const cJSON *o, const char *name, uint64_t def, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    *out = def;
    return v ? json_u64(v, out) : 0;
}

static const char *json_str_member(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

void sync_http_audit_serve(struct sync_module *m, const char *body, size_t len,
                           const struct sync_reply *reply)
{
    cJSON *j = cJSON_ParseWithLength(body, len);
    const char *op = json_str_member(j, "op");
    struct audit_ask a;
    memset(&a, 0, sizeof a);
    struct audit_out o = {.status = 200};
    jsonw_init(&o.w, NULL, 64 * 1024);
    int k = -1;
    for (int i = 0; op && i < 3; i++)
        if (strcmp(op, audit_ops[i]) == 0)
            k = i;
    if (k < 0 || json_u64_member(j, "after", 0, &a.q.after) != 0 ||
        json_u64_member(j, "to", UINT64_MAX, &a.q.to) != 0 ||
        json_u64_member(j, "limit", 1, &a.q.limit) != 0 ||
        json_u64_member(j, "since", 0, &a.q.f.since_ms) != 0 ||
        json_u64_member(j, "until", 0, &a.q.f.until_ms) != 0 ||
        json_u64_member(j, "from", 1, &a.from) != 0 || a.from == 0) {
        audit_error(&o, 400, "invalid", "an audit request from another node could not be read");
    } else {
        a.op = (enum audit_op)k;
        uint64_t max = a.op == AUDIT_OP_EXPORT ? EXPORT_LIMIT_MAX : AUDIT_LIMIT_MAX;
        if (a.q.limit == 0)
            a.q.limit = 1;
        if (a.q.limit > max)
            a.q.limit = max;
        a.q.f.user = json_str_member(j, "user");
        a.q.f.document = json_str_member(j, "document");
        a.q.f.kind = json_str_member(j, "kind");
        a.hash = json_str_member(j, "hash");
        audit_do(m, &a, &o);
    }
    cJSON_Delete(j);
    if (o.w.oom)
        audit_error(&o, 500, "internal", "out of memory");
    size_t blen = base64_encoded_len(o.w.len, 0);
    if (blen > AUDIT_RELAY_MAX) {
        audit_error(&o, 503, "too_large",
                    "this page is too large to relay between nodes; ask with a smaller limit");
        blen = base64_encoded_len(o.w.len, 0);
    }
    char *b64 = malloc(blen + 1);
    struct jsonw w;
    jsonw_init(&w, NULL, blen + 256);
    JSONW_LIT(&w, "{\"status\":");
    jsonw_u64(&w, (uint64_t)o.status);
    if (o.ctype) {
        JSONW_KEY(&w, "contentType");
        jsonw_cstr(&w, o.ctype);
    }
    if (o.page[0]) {
        JSONW_KEY(&w, "page");
        jsonw_cstr(&w, o.page);
    }
    size_t n = 0;
    JSONW_KEY(&w, "body64");
    if (b64 && base64_encode((const uint8_t *)o.w.p, o.w.len, 0, b64, blen + 1, &n) == 0)
        jsonw_cstr(&w, b64);
    else
        w.oom = 1;
    JSONW_LIT(&w, "}");
    free(b64);
    jsonw_free(&o.w);
    sync_server_send(m, reply, "docsync:audit", w.oom ? NULL : w.p);
    jsonw_free(&w);
}

/* GET /apps/{app_id}/audit?after=N&to=M&limit=L&user=U&document=D&kind=K&since=T&until=T
 * (&node=X in cluster mode: that node's log): the entries after offset N
 * (up to M) that match every filter given, oldest first:
 * {"head","headHash","next","more","entries":[line...]}. Continue with
 * after=next while more is true: offsets never change, so pages neither
 * skip nor repeat entries while others append. */
static void get_audit(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    struct audit_ask a = {.op = AUDIT_OP_PAGE, .from = 1};
    if (audit_query_parse(req, AUDIT_LIMIT_DEFAULT, AUDIT_LIMIT_MAX, &a.q) != 0)
        return;
    audit_dispatch(ud, req, &a);
}

/* GET /apps/{app_id}/audit/export?(the parameters of /audit; limit up to
 * 10,000): the same entries as JSON lines (application/x-ndjson), one page
 * of at most about 1 MiB, with "X-Docsync-Page: next=N head=H more=0|1". */
static void get_audit_export(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    struct audit_ask a = {.op = AUDIT_OP_EXPORT, .from = 1};
    if (audit_query_parse(req, EXPORT_LIMIT_DEFAULT, EXPORT_LIMIT_MAX, &a.q) != 0)
        return;
    audit_dispatch(ud, req, &a);
}

/* GET /apps/{app_id}/activity/verify?from=N&hash=H(&node=X): verifies the
 * chain from offset `from` (default 1) to the head; with `hash` (hex), the
 * head must have that hash (detects a truncated tail). */
static void get_activity_verify(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    struct audit_ask a = {.op = AUDIT_OP_VERIFY};
    if (parse_u64_arg(req, "from", 1, &a.from) != 0 || a.from == 0) {
        respond_error(req, 400, "invalid", "from must be a positive integer");
        return;
    }
    uint8_t want[STORE_HASH_LEN];
    a.hash = http_req_arg(req, "hash");
    if (a.hash && parse_hash(a.hash, want) != 0) {
        respond_error(req, 400, "invalid", "hash must be 64 hex characters");
        return;
    }
    audit_dispatch(ud, req, &a);
}

int sync_http_register(struct sync_module *m)
{
    /* Every refusal of these routes is a JSON error of the sync protocol. */
    const unsigned f = HTTP_ROUTE_APP | HTTP_ROUTE_SIGNED | HTTP_ROUTE_JSON;
    /* Writes of a whole document must fit: its text escaped into JSON (at
     * most six bytes per byte, \u00XX) or its update in base64, plus the
     * rest of the request. */
    size_t doc_request = server_config(m->srv)->doc_max_bytes * 6 + 64u * 1024u;
    struct {
        const char *method, *pattern;
        http_route_fn fn;
        size_t max_request; /* 0 = REVERB_MAX_REQUEST_SIZE */
    } routes[] = {
        {"POST", "/apps/{app_id}/documents/{id}/updates", post_updates, doc_request},
        {"GET", "/apps/{app_id}/documents/{id}/updates", get_updates, 0},
        {"PUT", "/apps/{app_id}/documents/{id}/content", put_content, doc_request},
        {"GET", "/apps/{app_id}/documents/{id}/history", get_history, 0},
        {"GET", "/apps/{app_id}/documents/{id}", get_document, 0},
        {"GET", "/apps/{app_id}/documents/{id}/acl", get_acl, 0},
        {"PUT", "/apps/{app_id}/documents/{id}/acl", put_acl, 0},
        {"GET", "/apps/{app_id}/activity", get_activity, 0},
        {"POST", "/apps/{app_id}/activity", post_activity, 0},
        {"GET", "/apps/{app_id}/activity/verify", get_activity_verify, 0},
        {"GET", "/apps/{app_id}/audit", get_audit, 0},
        {"GET", "/apps/{app_id}/audit/export", get_audit_export, 0},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = http_route_sized(m->srv, routes[i].method, routes[i].pattern, f,
                                  routes[i].max_request, routes[i].fn, m);
        if (rc)
            return rc;
    }
    return 0;
}
