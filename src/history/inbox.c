/* inbox: a notifications inbox per user, for deployments without a Laravel
 * database.
 *
 * The backend stores a notification with a signed HTTP call; the server
 * keeps it (durable, before answering) and broadcasts it on the user's
 * channel (DOCSYNC_NOTIFICATION_CHANNEL, private-App.Models.User.{id} by
 * default) exactly as Laravel's BroadcastNotificationCreated does, so
 * Echo's .notification(fn) works unchanged, missed ones included when the
 * channel keeps history. The user (over the WebSocket, with the rights its
 * subscription to that channel gives) and the backend can list
 * notifications (all or unread, paged), count the unread, mark one, several
 * or all read, and delete; every change is broadcast on the same channel as
 * docsync:inbox so the user's other tabs follow.
 *
 * Storage: a user's notifications are a history of their own in the store,
 * under the channel-like name "#inbox.{user}" ('#' cannot start a Pusher
 * channel name, so it never meets a real one): offset = order of arrival,
 * event = the notification's id, data = its JSON record
 * {"id","type","data","created_at","read_at"}. Retention: DOCSYNC_INBOX_MAX
 * per user (the oldest go first) and DOCSYNC_INBOX_MAX_AGE seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "common/clock.h"
#include "common/jsonw.h"
#include "hist_route.h"
#include "history_int.h"

#define NOTIFICATION_EVENT "Illuminate\\Notifications\\Events\\BroadcastNotificationCreated"
#define INBOX_CHANGE_EVENT "docsync:inbox"
#define INBOX_PREFIX "#inbox."
#define USER_MAX 128
#define ID_MAX 100
#define TYPE_MAX 200
#define DATA_MAX (64u * 1024u)
#define LIST_MAX 100

struct inbox {
    struct server *srv;
    store *st;
    store_writer *w;
    char channel_fmt[256]; /* with {id} */
    uint64_t max, max_age_ms;
    uint64_t stored;
};

static struct inbox *the_inbox;

static int user_ok(const char *u)
{
    size_t n = u ? strlen(u) : 0;
    if (n == 0 || n > USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f)
            return 0;
    return 1;
}

static void inbox_name(char *out, size_t cap, const char *user)
{
    snprintf(out, cap, INBOX_PREFIX "%s", user);
}

/* The user's notification channel, or "" when it would be too long. */
static void user_channel(const struct inbox *ib, char *out, size_t cap, const char *user)
{
    const char *at = strstr(ib->channel_fmt, "{id}");
    int n = at ? snprintf(out, cap, "%.*s%s%s", (int)(at - ib->channel_fmt), ib->channel_fmt, user,
                          at + 4)
               : snprintf(out, cap, "%s", ib->channel_fmt);
    if (n < 0 || (size_t)n >= cap)
        out[0] = 0;
}

/* ---- reading a user's inbox ---- */

struct note {
    uint64_t offset;
    cJSON *rec; /* {"id","type","data","created_at","read_at"} */
};

struct notes {
    struct note *v;
    size_t n, cap;
};

static int collect_note(void *ctx, const struct store_history_entry *e)
{
    struct notes *ns = ctx;
    cJSON *rec = cJSON_ParseWithLength((const char *)e->data, e->len);
    if (!cJSON_IsObject(rec)) {
        cJSON_Delete(rec);
        return 0; /* not ours: skipped */
    }
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 32;
        struct note *v = realloc(ns->v, cap * sizeof *v);
        if (!v) {
            cJSON_Delete(rec);
            return -1;
        }
        ns->v = v;
        ns->cap = cap;
    }
    ns->v[ns->n++] = (struct note){e->offset, rec};
    return 0;
}

static void notes_free(struct notes *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        cJSON_Delete(ns->v[i].rec);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

/* Every notification of `user`, oldest first. 0 or -1. */
static int notes_load(struct inbox *ib, const char *user, struct notes *ns)
{
    char name[USER_MAX + 16];
    inbox_name(name, sizeof name, user);
    memset(ns, 0, sizeof *ns);
    store_read *r;
    if (store_read_begin(ib->st, &r) != 0)
        return -1;
    int err = store_history_read(r, name, 0, 0, collect_note, ns);
    store_read_end(r);
    if (err) {
        notes_free(ns);
        return -1;
    }
    return 0;
}

static int is_unread(const cJSON *rec)
{
    const cJSON *ra = cJSON_GetObjectItemCaseSensitive(rec, "read_at");
    return !ra || cJSON_IsNull(ra);
}

static size_t unread_count(const struct notes *ns)
{
    size_t k = 0;
    for (size_t i = 0; i < ns->n; i++)
        k += is_unread(ns->v[i].rec);
    return (size_t)k;
}

static const char *note_id(const cJSON *rec)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "id");
    return cJSON_IsString(id) ? id->valuestring : "";
}

/* ---- operations, shared by the HTTP API and the WebSocket ---- */

/* What an operation answers, once its commit (if any) is done. */
typedef void (*inbox_reply_fn)(void *ctx, int status, cJSON *body);

struct pending_op {
    struct inbox *ib;
    char user[USER_MAX + 1];
    cJSON *body;   /* the answer */
    cJSON *change; /* docsync:inbox data to broadcast, or NULL */
    inbox_reply_fn reply;
    void *ctx;
    char except[64];
};

static void finish(struct pending_op *op, int ok)
{
    if (ok && op->change) {
        char ch[300];
        user_channel(op->ib, ch, sizeof ch, op->user);
        char *s = cJSON_PrintUnformatted(op->change);
        if (s && ch[0]) /* kept by channel history when it keeps that channel */
            http_api_publish(op->ib->srv, ch, INBOX_CHANGE_EVENT, s, strlen(s));
        free(s);
    }
    if (ok) {
        op->reply(op->ctx, 200, op->body);
    } else {
        cJSON_Delete(op->body);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "code", "storage_error");
        cJSON_AddStringToObject(e, "message", "the inbox could not be written; retry");
        op->reply(op->ctx, 503, e);
    }
    cJSON_Delete(op->change);
    free(op);
}

static void op_committed(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    finish(ctx, status == 0);
}

static void reply_error(inbox_reply_fn reply, void *ctx, int status, const char *code,
                        const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    reply(ctx, status, e);
}

/* Appends the retention trims of an inbox that is about to hold one more. */
static void retention(struct inbox *ib, store_batch *b, const char *name, const struct notes *ns,
                      uint64_t now)
{
    uint64_t upto = 0;
    size_t keep_from = ns->n + 1 > ib->max ? ns->n + 1 - (size_t)ib->max : 0;
    for (size_t i = 0; i < ns->n; i++) {
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(ns->v[i].rec, "created_at");
        uint64_t created = cJSON_IsNumber(ca) ? (uint64_t)ca->valuedouble : 0;
        int old = ib->max_age_ms && created + ib->max_age_ms < now;
        if (i < keep_from || old)
            upto = ns->v[i].offset;
        else
            break;
    }
    if (upto)
        store_batch_history_trim(b, name, upto);
}

/* The broadcast of a stored notification, once its inbox record is durable. */
struct created {
    struct pending_op *op;
    char *payload;
};

static void created_published(void *ctx, int ok, const char *why)
{
    (void)why;
    /* the notification is stored either way; a failed broadcast is still
     * in the inbox, and a plain broadcast was not possible after a store
     * failure */
    (void)ok;
    finish(ctx, 1);
}

static void created_committed(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct created *c = ctx;
    struct pending_op *op = c->op;
    if (status != 0) {
        free(c->payload);
        free(c);
        finish(op, 0);
        return;
    }
    char ch[300];
    user_channel(op->ib, ch, sizeof ch, op->user);
    int queued = ch[0] && history__publish(ch, NOTIFICATION_EVENT, c->payload, strlen(c->payload),
                                           NULL, NULL, created_published, op) == 0;
    if (!queued) {
        /* the channel keeps no history: delivered at once */
        if (ch[0])
            http_api_publish(op->ib->srv, ch, NOTIFICATION_EVENT, c->payload, strlen(c->payload));
        finish(op, 1);
    }
    free(c->payload);
    free(c);
}

static void random_id(char out[37])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* a version 4 UUID, as Laravel makes them */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Stores {id?, type, data} for user and broadcasts it. */
static void op_create(struct inbox *ib, const char *user, const cJSON *req, inbox_reply_fn reply,
                      void *ctx)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(req, "type");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(req, "data");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
    if (!cJSON_IsString(type) || !*type->valuestring || strlen(type->valuestring) > TYPE_MAX ||
        (data && !cJSON_IsObject(data)) ||
        (id && (!cJSON_IsString(id) || !*id->valuestring || strlen(id->valuestring) > ID_MAX))) {
        reply_error(reply, ctx, 422, "invalid",
                    "expected {type: string, data: object, id?: string of at most 100 characters}");
        return;
    }
    char gen[37];
    const char *nid = id ? id->valuestring : (random_id(gen), gen);
    struct notes ns;
    if (notes_load(ib, user, &ns) != 0) {
        reply_error(reply, ctx, 503, "storage_error", "the inbox could not be read");
        return;
    }
    for (size_t i = 0; i < ns.n; i++)
        if (strcmp(note_id(ns.v[i].rec), nid) == 0) {
            notes_free(&ns);
            reply_error(reply, ctx, 409, "conflict", "a notification with this id exists");
            return;
        }
    uint64_t now = clock_wall_ms(), off = ns.n ? ns.v[ns.n - 1].offset + 1 : 1;
    if (!ns.n) {
        /* an emptied inbox continues after its last offset */
        char name[USER_MAX + 16];
        inbox_name(name, sizeof name, user);
        store_read *r;
        uint64_t first = 0, last = 0;
        if (store_read_begin(ib->st, &r) == 0) {
            store_history_bounds(r, name, &first, &last);
            store_read_end(r);
        }
        off = last + 1;
    }
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "id", nid);
    cJSON_AddStringToObject(rec, "type", type->valuestring);
    cJSON_AddItemToObject(rec, "data", data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
    cJSON_AddNumberToObject(rec, "created_at", (double)now);
    cJSON_AddNullToObject(rec, "read_at");
    /* Laravel's payload: the notification's data with id and type added */
    cJSON *payload = data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(payload, "id");
    cJSON_DeleteItemFromObjectCaseSensitive(payload, "type");
    cJSON_AddStringToObject(payload, "id", nid);
    cJSON_AddStringToObject(payload, "type", type->valuestring);
    char *rs = cJSON_PrintUnformatted(rec), *ps = cJSON_PrintUnformatted(payload);
    cJSON_Delete(rec);
    cJSON_Delete(payload);
    char name[USER_MAX + 16];
    inbox_name(name, sizeof name, user);
    store_batch *b = NULL;
    struct pending_op *op = calloc(1, sizeof *op);
    struct created *c = calloc(1, sizeof *c);
    if (!rs || !ps || strlen(rs) > DATA_MAX || !op || !c || store_batch_new(&b) != 0 ||
        store_batch_history_append(b, name, off, now, nid, NULL, rs, strlen(rs)) != 0) {
        int big = rs && strlen(rs) > DATA_MAX;
        free(rs);
        free(ps);
        free(op);
        free(c);
        store_batch_free(b);
        notes_free(&ns);
        reply_error(reply, ctx, big ? 413 : 500, big ? "too_large" : "internal",
                    big ? "a notification may have at most 64 KiB of data" : "out of memory");
        return;
    }
    retention(ib, b, name, &ns, now);
    notes_free(&ns);
    free(rs);
    op->ib = ib;
    snprintf(op->user, sizeof op->user, "%s", user);
    op->reply = reply;
    op->ctx = ctx;
    op->body = cJSON_CreateObject();
    cJSON_AddStringToObject(op->body, "id", nid);
    c->op = op;
    c->payload = ps;
    if (store_writer_submit(ib->w, b, created_committed, c) != 0) {
        store_batch_free(b);
        free(ps);
        free(c);
        cJSON_Delete(op->body);
        free(op);
        reply_error(reply, ctx, 503, "busy", "the store's queue is full; retry");
        return;
    }
    ib->stored++;
}

/* Lists notifications newest first: {notifications:[...], unread, total,
 * next}; `before` (an offset, 0 = from the newest) pages backwards. */
static void op_list(struct inbox *ib, const char *user, int only_unread, uint64_t before,
                    uint64_t limit, inbox_reply_fn reply, void *ctx)
{
    struct notes ns;
    if (notes_load(ib, user, &ns) != 0) {
        reply_error(reply, ctx, 503, "storage_error", "the inbox could not be read");
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(body, "notifications");
    uint64_t n = 0, last = 0;
    int more = 0;
    for (size_t i = ns.n; limit && i-- > 0;) {
        if (before && ns.v[i].offset >= before)
            continue;
        if (only_unread && !is_unread(ns.v[i].rec))
            continue;
        if (n == limit) {
            more = 1;
            break;
        }
        cJSON *item = cJSON_Duplicate(ns.v[i].rec, 1);
        cJSON_AddNumberToObject(item, "offset", (double)ns.v[i].offset);
        cJSON_AddItemToArray(arr, item);
        last = ns.v[i].offset;
        n++;
    }
    /* the next page: list again with before = next */
    if (more)
        cJSON_AddNumberToObject(body, "next", (double)last);
    else
        cJSON_AddNullToObject(body, "next");
    cJSON_AddNumberToObject(body, "unread", (double)unread_count(&ns));
    cJSON_AddNumberToObject(body, "total", (double)ns.n);
    notes_free(&ns);
    reply(ctx, 200, body);
}

static int id_listed(const cJSON *ids, const char *id)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        if (cJSON_IsString(it) && strcmp(it->valuestring, id) == 0)
            return 1;
    }
    return 0;
}

/* Marks read (ids, or all) or deletes (ids). */
static void op_change(struct inbox *ib, const char *user, int del, const cJSON *ids, int all,
                      const char *except_sid, inbox_reply_fn reply, void *ctx)
{
    if ((!all && !cJSON_IsArray(ids)) || (ids && cJSON_GetArraySize(ids) > 1000)) {
        reply_error(reply, ctx, 422, "invalid",
                    del ? "expected ids: an array of notification ids"
                        : "expected ids: an array of notification ids, or all: true");
        return;
    }
    struct notes ns;
    if (notes_load(ib, user, &ns) != 0) {
        reply_error(reply, ctx, 503, "storage_error", "the inbox could not be read");
        return;
    }
    char name[USER_MAX + 16];
    inbox_name(name, sizeof name, user);
    store_batch *b = NULL;
    if (store_batch_new(&b) != 0) {
        notes_free(&ns);
        reply_error(reply, ctx, 500, "internal", "out of memory");
        return;
    }
    uint64_t now = clock_wall_ms();
    cJSON *changed = cJSON_CreateArray();
    size_t unread = 0;
    for (size_t i = 0; i < ns.n; i++) {
        cJSON *rec = ns.v[i].rec;
        const char *id = note_id(rec);
        int hit = all || id_listed(ids, id);
        if (!hit || (!del && !is_unread(rec))) {
            unread += is_unread(rec);
            continue;
        }
        if (del) {
            store_batch_history_delete(b, name, ns.v[i].offset);
        } else {
            cJSON_ReplaceItemInObjectCaseSensitive(rec, "read_at", cJSON_CreateNumber((double)now));
            char *s = cJSON_PrintUnformatted(rec);
            if (s)
                store_batch_history_append(b, name, ns.v[i].offset, now, id, NULL, s, strlen(s));
            free(s);
        }
        cJSON_AddItemToArray(changed, cJSON_CreateString(id));
    }
    notes_free(&ns);
    struct pending_op *op = calloc(1, sizeof *op);
    if (!op) {
        store_batch_free(b);
        cJSON_Delete(changed);
        reply_error(reply, ctx, 500, "internal", "out of memory");
        return;
    }
    op->ib = ib;
    snprintf(op->user, sizeof op->user, "%s", user);
    op->reply = reply;
    op->ctx = ctx;
    if (except_sid)
        snprintf(op->except, sizeof op->except, "%s", except_sid);
    op->body = cJSON_CreateObject();
    int count = cJSON_GetArraySize(changed);
    cJSON_AddNumberToObject(op->body, del ? "deleted" : "read", count);
    cJSON_AddNumberToObject(op->body, "unread", (double)unread);
    if (count) {
        op->change = cJSON_CreateObject();
        cJSON_AddStringToObject(op->change, "action", del ? "deleted" : "read");
        cJSON_AddItemToObject(op->change, "ids", changed);
        cJSON_AddNumberToObject(op->change, "unread", (double)unread);
    } else {
        cJSON_Delete(changed);
    }
    if (!count) {
        store_batch_free(b);
        finish(op, 1);
        return;
    }
    if (store_writer_submit(ib->w, b, op_committed, op) != 0) {
        store_batch_free(b);
        cJSON_Delete(op->change);
        op->change = NULL;
        finish(op, 0);
    }
}

/* ---- in a cluster: every request of a user's inbox is run by its home ----
 * The request travels as JSON (hist_route.c forwards it when the home is
 * another node) and the answer comes back as the home printed it:
 *   {"user":U,"op":"create","req":{type, data, id?}}
 *   {"user":U,"op":"list","unread":bool,"before":N,"limit":N}
 *   {"user":U,"op":"change","del":bool,"ids":[...]|null,"all":bool,"except":sid|null} */

typedef void (*inbox_raw_fn)(void *ctx, int status, const char *body, size_t len);

struct raw_ctx {
    inbox_raw_fn reply;
    void *ctx;
};

/* An operation's cJSON answer, printed, to a raw reply. */
static void raw_reply(void *ctx, int status, cJSON *body)
{
    struct raw_ctx *r = ctx;
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    r->reply(r->ctx, s ? status : 500, s, s ? strlen(s) : 0);
    free(s);
    free(r);
}

void inbox__serve(const char *json, size_t len, inbox_raw_fn reply, void *ctx)
{
    struct inbox *ib = the_inbox;
    struct raw_ctx *r = calloc(1, sizeof *r);
    if (!r || !ib) {
        free(r);
        reply(ctx, 500, NULL, 0);
        return;
    }
    r->reply = reply;
    r->ctx = ctx;
    cJSON *j = cJSON_ParseWithLength(json, len);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
    const char *u = cJSON_IsString(user) ? user->valuestring : NULL;
    const char *o = cJSON_IsString(op) ? op->valuestring : "";
    uint64_t before = 0, limit = 0;
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(j, "before");
    const cJSON *lm = cJSON_GetObjectItemCaseSensitive(j, "limit");
    if (cJSON_IsNumber(bf) && bf->valuedouble > 0 && bf->valuedouble < 9007199254740992.0)
        before = (uint64_t)bf->valuedouble;
    if (cJSON_IsNumber(lm) && lm->valuedouble >= 0 && lm->valuedouble <= LIST_MAX)
        limit = (uint64_t)lm->valuedouble;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "except");
    const char *except =
        cJSON_IsString(ex) && strlen(ex->valuestring) < 64 ? ex->valuestring : NULL;
    /* checked again here: the request came from Redis */
    if (!cJSON_IsObject(j) || !user_ok(u))
        reply_error(raw_reply, r, 422, "invalid", "malformed inbox request");
    else if (!strcmp(o, "create") && cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "req")))
        op_create(ib, u, cJSON_GetObjectItemCaseSensitive(j, "req"), raw_reply, r);
    else if (!strcmp(o, "list"))
        op_list(ib, u, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "unread")), before, limit,
                raw_reply, r);
    else if (!strcmp(o, "change"))
        op_change(ib, u, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "del")),
                  cJSON_GetObjectItemCaseSensitive(j, "ids"),
                  cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "all")), except, raw_reply, r);
    else
        reply_error(raw_reply, r, 422, "invalid", "malformed inbox request");
    cJSON_Delete(j);
}

/* Runs `req` (its "user" and "op" set by the caller, which it takes) on
 * the inbox's home and gives the answer to reply. */
static void route_op(cJSON *req, inbox_raw_fn reply, void *ctx)
{
    char *s = cJSON_PrintUnformatted(req);
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(req, "user");
    if (!s || !cJSON_IsString(user))
        reply(ctx, 500, NULL, 0);
    else
        hist_route_inbox(user->valuestring, s, strlen(s), reply, ctx);
    free(s);
    cJSON_Delete(req);
}

static cJSON *route_req(const char *user, const char *op)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "user", user);
    cJSON_AddStringToObject(j, "op", op);
    return j;
}

static void run_create(struct inbox *ib, const char *user, const cJSON *req, inbox_reply_fn reply,
                       inbox_raw_fn raw, void *ctx)
{
    if (!hist_route_active()) {
        op_create(ib, user, req, reply, ctx);
        return;
    }
    cJSON *j = route_req(user, "create");
    cJSON_AddItemToObject(j, "req", cJSON_Duplicate(req, 1));
    route_op(j, raw, ctx);
}

static void run_list(struct inbox *ib, const char *user, int only_unread, uint64_t before,
                     uint64_t limit, inbox_reply_fn reply, inbox_raw_fn raw, void *ctx)
{
    if (!hist_route_active()) {
        op_list(ib, user, only_unread, before, limit, reply, ctx);
        return;
    }
    cJSON *j = route_req(user, "list");
    cJSON_AddBoolToObject(j, "unread", only_unread);
    cJSON_AddNumberToObject(j, "before", (double)before);
    cJSON_AddNumberToObject(j, "limit", (double)limit);
    route_op(j, raw, ctx);
}

static void run_change(struct inbox *ib, const char *user, int del, const cJSON *ids, int all,
                       const char *except_sid, inbox_reply_fn reply, inbox_raw_fn raw, void *ctx)
{
    if (!hist_route_active()) {
        op_change(ib, user, del, ids, all, except_sid, reply, ctx);
        return;
    }
    cJSON *j = route_req(user, "change");
    cJSON_AddBoolToObject(j, "del", del);
    cJSON_AddItemToObject(j, "ids", ids ? cJSON_Duplicate(ids, 1) : cJSON_CreateNull());
    cJSON_AddBoolToObject(j, "all", all);
    if (except_sid)
        cJSON_AddStringToObject(j, "except", except_sid);
    route_op(j, raw, ctx);
}

/* ---- HTTP: /apps/{app_id}/users/{user}/notifications[...] ---- */

/* The home's answer, as it printed it. */
static void http_reply_raw(void *ctx, int status, const char *body, size_t len)
{
    if (!body)
        http_req_respond(ctx, 500, NULL, "{\"code\":\"internal\"}", 19, NULL, NULL);
    else
        http_req_respond(ctx, status, NULL, body, len, NULL, NULL);
}

static void http_reply(void *ctx, int status, cJSON *body)
{
    struct http_req *req = ctx;
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!s) {
        http_req_respond(req, 500, NULL, "{\"code\":\"internal\"}", 19, NULL, NULL);
        return;
    }
    http_req_respond(req, status, NULL, s, strlen(s), NULL, NULL);
    free(s);
}

static int u64_arg(struct http_req *req, const char *name, uint64_t def, uint64_t *out)
{
    const char *v = http_req_arg(req, name);
    *out = def;
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (*end || v[0] == '-')
        return -1;
    *out = x;
    return 0;
}

static cJSON *body_json(struct http_req *req)
{
    size_t len;
    const char *b = http_req_body(req, &len);
    return b ? cJSON_ParseWithLength(b, len) : NULL;
}

static void http_create(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *user = http_req_param(req, 1);
    cJSON *j = body_json(req);
    if (!user_ok(user) || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        reply_error(http_reply, req, 422, "invalid",
                    "POST a JSON object {type, data, id?} for a user id of 1 to 128 characters");
        return;
    }
    run_create(ud, user, j, http_reply, http_reply_raw, req);
    cJSON_Delete(j);
}

static void http_list(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *user = http_req_param(req, 1);
    uint64_t before, limit;
    const char *unread = http_req_arg(req, "unread");
    if (!user_ok(user) || u64_arg(req, "before", 0, &before) || u64_arg(req, "limit", 20, &limit) ||
        limit == 0 || limit > LIST_MAX) {
        reply_error(http_reply, req, 422, "invalid",
                    "before must be an offset and limit from 1 to 100; the user id 1 to 128 "
                    "characters");
        return;
    }
    run_list(ud, user, unread && (!strcmp(unread, "1") || !strcmp(unread, "true")), before, limit,
             http_reply, http_reply_raw, req);
}

static void http_read(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *user = http_req_param(req, 1);
    cJSON *j = body_json(req);
    if (!user_ok(user) || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        reply_error(http_reply, req, 422, "invalid", "POST {ids: [...]} or {all: true}");
        return;
    }
    run_change(ud, user, 0, cJSON_GetObjectItemCaseSensitive(j, "ids"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "all")), NULL, http_reply,
               http_reply_raw, req);
    cJSON_Delete(j);
}

static void http_delete(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    const char *user = http_req_param(req, 1), *id = http_req_param(req, 2);
    if (!user_ok(user) || !id || !*id) {
        reply_error(http_reply, req, 422, "invalid", "DELETE .../notifications/{id}");
        return;
    }
    cJSON *ids = cJSON_CreateArray();
    cJSON_AddItemToArray(ids, cJSON_CreateString(id));
    run_change(ud, user, 1, ids, 0, NULL, http_reply, http_reply_raw, req);
    cJSON_Delete(ids);
}

/* ---- WebSocket: docsync:inbox {op, user, requestId, ...} ---- */

struct ws_ctx {
    struct server *srv;
    char sid[64];
    char request_id[80];
    char op[16];
};

static void ws_reply(void *ctx, int status, cJSON *body)
{
    struct ws_ctx *w = ctx;
    struct conn *c = conn_find(w->srv, w->sid);
    if (c && body) {
        cJSON_AddStringToObject(body, "op", w->op);
        if (w->request_id[0])
            cJSON_AddStringToObject(body, "requestId", w->request_id);
        if (status != 200)
            cJSON_AddNumberToObject(body, "status", status);
        char *s = cJSON_PrintUnformatted(body);
        if (s) {
            struct jsonw j;
            jsonw_init(&j, NULL, 0);
            JSONW_LIT(&j, "{\"event\":\"docsync:inbox\",\"data\":");
            jsonw_cstr(&j, s);
            JSONW_LIT(&j, "}");
            struct frame *f = j.oom ? NULL : frame_from(j.p, j.len);
            if (f)
                conn_send_frame(c, f);
            frame_unref(f);
            jsonw_free(&j);
        }
        free(s);
    }
    cJSON_Delete(body);
    free(w);
}

/* The home's answer to a WebSocket request: the reply frame as here. */
static void ws_reply_raw(void *ctx, int status, const char *body, size_t len)
{
    cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (!j) {
        j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "code", "internal");
        status = 500;
    }
    ws_reply(ctx, status, j);
}

static int on_ws(struct server *srv, struct conn *c, const message *m, void *ud)
{
    struct inbox *ib = ud;
    const cJSON *d = message_data(m);
    struct ws_ctx *w = calloc(1, sizeof *w);
    if (!w)
        return 0;
    w->srv = srv;
    snprintf(w->sid, sizeof w->sid, "%s", conn_socket_id(c));
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(d, "requestId");
    if (cJSON_IsString(rid) && strlen(rid->valuestring) < sizeof w->request_id)
        snprintf(w->request_id, sizeof w->request_id, "%s", rid->valuestring);
    else if (cJSON_IsNumber(rid))
        snprintf(w->request_id, sizeof w->request_id, "%.0f", rid->valuedouble);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(d, "op");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(d, "user");
    char uid[32];
    const char *u = NULL;
    if (cJSON_IsString(user))
        u = user->valuestring;
    else if (cJSON_IsNumber(user) && user->valuedouble >= 0 && user->valuedouble < 1e15) {
        snprintf(uid, sizeof uid, "%.0f", user->valuedouble);
        u = uid;
    }
    snprintf(w->op, sizeof w->op, "%s", cJSON_IsString(op) ? op->valuestring : "");
    if (!cJSON_IsObject(d) || !cJSON_IsString(op) || !user_ok(u)) {
        reply_error(ws_reply, w, 422, "invalid",
                    "expected {op: list|count|read|delete, user, requestId?, ...}");
        return 0;
    }
    /* the rights the app gave: a subscription to the user's channel */
    char ch[300];
    user_channel(ib, ch, sizeof ch, u);
    if (!ch[0] || !conn_is_subscribed(c, ch)) {
        char msg[400];
        snprintf(msg, sizeof msg, "subscribe to %s first: only its subscribers may use this inbox",
                 ch[0] ? ch : "the user's channel");
        reply_error(ws_reply, w, 403, "forbidden", msg);
        return 0;
    }
    if (!conn_request_allowed(c, 20)) {
        reply_error(ws_reply, w, 429, "rate_limited", "at most 20 inbox requests per second");
        return 0;
    }
    const char *o = op->valuestring;
    if (!strcmp(o, "list") || !strcmp(o, "count")) {
        const cJSON *bf = cJSON_GetObjectItemCaseSensitive(d, "before");
        const cJSON *lm = cJSON_GetObjectItemCaseSensitive(d, "limit");
        uint64_t before = cJSON_IsNumber(bf) && bf->valuedouble > 0 ? (uint64_t)bf->valuedouble : 0;
        uint64_t limit = cJSON_IsNumber(lm) && lm->valuedouble >= 1 && lm->valuedouble <= LIST_MAX
                             ? (uint64_t)lm->valuedouble
                             : 20;
        if (!strcmp(o, "count"))
            limit = 0; /* the counts only */
        run_list(ib, u, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "unread")), before, limit,
                 ws_reply, ws_reply_raw, w);
    } else if (!strcmp(o, "read") || !strcmp(o, "delete")) {
        run_change(ib, u, !strcmp(o, "delete"), cJSON_GetObjectItemCaseSensitive(d, "ids"),
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "all")), w->sid, ws_reply,
                   ws_reply_raw, w);
    } else {
        reply_error(ws_reply, w, 422, "invalid", "op must be list, count, read or delete");
    }
    return 0;
}

int inbox__start(struct server *srv, store *st, store_writer *w)
{
    const struct config *cfg = server_config(srv);
    struct inbox *ib = calloc(1, sizeof *ib);
    if (!ib)
        return -1;
    ib->srv = srv;
    ib->st = st;
    ib->w = w;
    snprintf(ib->channel_fmt, sizeof ib->channel_fmt, "%s", cfg->notification_channel);
    ib->max = cfg->inbox_max;
    ib->max_age_ms = (uint64_t)cfg->inbox_max_age * 1000u;
    the_inbox = ib;
    static const char *base = "/apps/{app_id}/users/{user}/notifications";
    char p1[128], p2[128], p3[128];
    snprintf(p1, sizeof p1, "%s", base);
    snprintf(p2, sizeof p2, "%s/read", base);
    snprintf(p3, sizeof p3, "%s/{id}", base);
    unsigned fl = HTTP_ROUTE_APP | HTTP_ROUTE_SIGNED | HTTP_ROUTE_JSON;
    if (http_route(srv, "POST", p1, fl, http_create, ib) != 0 ||
        http_route(srv, "GET", p1, fl, http_list, ib) != 0 ||
        http_route(srv, "POST", p2, fl, http_read, ib) != 0 ||
        http_route(srv, "DELETE", p3, fl, http_delete, ib) != 0 ||
        session_on_event(srv, "docsync:inbox", on_ws, ib) != 0)
        return -1;
    return 0;
}

void inbox__stop(void)
{
    free(the_inbox);
    the_inbox = NULL;
}
