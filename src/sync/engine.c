/* The document sync protocol's server side. See sync_engine.h. */
#include "sync_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth/auth_rules.h"
#include "common/base64.h"
#include "common/hmap.h"
#include "common/jsonw.h"
#include "crdt.h"
#include "document.h"

#define WAITERS_MAX 8   /* replies waiting on one op (original + resubmissions) */
#define QUEUED_MAX 8192 /* ops waiting for the next commit of one document */
#define SEEN_MAX 3072   /* clients in a document's client -> highest seq table */

enum waiter_kind { WAIT_ORIGINAL, WAIT_DUPLICATE, WAIT_NOOP };

struct waiter {
    struct sync_reply to;
    enum waiter_kind kind;
    char client[SYNC_CLIENT_ID_MAX + 1];
    uint64_t seq;
    char request_id[SYNC_REQUEST_ID_MAX + 1];
};

struct pending {
    struct pending *next;
    uint64_t version;
    uint64_t ts_ms;
    char user[SYNC_USER_MAX + 1];
    char client[SYNC_CLIENT_ID_MAX + 1];
    uint64_t seq;
    int replace;
    uint8_t *delta;
    size_t delta_len;
    char *content; /* text at this version when small enough, else NULL */
    size_t content_len;
    struct waiter waiters[WAITERS_MAX];
    size_t nwait;
};

struct plist {
    struct pending *head, *tail;
};

/* The highest seq accepted from one client (a value of doc.seen). */
struct seen {
    uint64_t seq;
    char client[SYNC_CLIENT_ID_MAX + 1]; /* the key */
};

struct doc {
    struct doc *prev, *next; /* LRU, most recent first */
    sync_engine *e;
    char id[SYNC_DOC_ID_MAX + 1];
    crdt_doc *crdt;
    uint64_t head;     /* last durable version */
    uint64_t assigned; /* last version given to an op (>= head) */
    uint64_t snapshot_version;
    struct plist inflight, queued;
    int committing;
    int broken;     /* the replica could not be rebuilt: close when idle */
    size_t nqueued; /* ops in `queued` (bounded by QUEUED_MAX) */
    /* Highest seq accepted per client in this process (client id -> struct
     * seen), so a new seq skips the scan of the pending lists; a client that
     * does not fit in the table (SEEN_MAX) always gets the scan. */
    struct hmap seen;
};

struct sync_engine {
    store *s;
    store_writer *w;
    struct sync_engine_options o;
    struct sync_engine_io io;
    struct hmap docs; /* open documents: id -> struct doc (key: doc.id) */
    struct doc *lru_head, *lru_tail;
    struct sync_engine_stats st;
};

/* ------------------------------------------------------------ helpers */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static char *b64(const uint8_t *data, size_t len)
{
    size_t cap = base64_encoded_len(len, 0) + 1, n;
    char *out = malloc(cap);
    if (out && base64_encode(data, len, 0, out, cap, &n) != 0) {
        free(out);
        out = NULL;
    }
    return out;
}

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    cJSON_AddNumberToObject(o, k, (double)v);
}

static void emit(sync_engine *e, const struct sync_reply *to, const char *event, cJSON *body)
{
    char *json = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    const char *text = json ? json : "{\"code\":\"internal\",\"message\":\"out of memory\"}";
    if (to->done)
        to->done(to->arg, json ? event : "docsync:error", text);
    else if (to->socket_id[0] && e->io.send)
        e->io.send(e->io.ctx, to->socket_id, json ? event : "docsync:error",
                   to->channel[0] ? to->channel : NULL, text);
    free(json);
}

/* ------------------------------------------------------------ JSON text
 * The hot replies (ack, DocumentUpdated, activity, catch-up) are written
 * with jsonw straight into a stack buffer: a cJSON tree cost several
 * allocations per field and printed each number with printf/sscanf round
 * trips. */

/* A string literal `s`, measured at compile time. */
#define JSON_LIT(w, s) jsonw_raw((w), "" s, sizeof(s) - 1)

/* `,"k":` for a member after the first (`k` a literal key). */
#define JSON_KEY(w, k) JSON_LIT((w), ",\"" k "\":")

/* Makes room for `n` more bytes at w->p + w->len, to be written in place
 * (base64, a catch-up item); returns 0, or -1 when out of memory (then the
 * writer's oom is set). */
static int json_room(struct jsonw *w, size_t n)
{
    if (w->oom)
        return -1;
    if (w->len + n + 1 <= w->cap)
        return 0;
    size_t len = w->len;
    jsonw_zero(w, n);
    if (w->oom)
        return -1;
    w->len = len; /* jsonw_zero left zeros, so the text still ends here */
    return 0;
}

/* Sends the JSON text of `w` (or an internal error when it ran out of memory). */
static void emit_str(sync_engine *e, const struct sync_reply *to, const char *event,
                     const char *json)
{
    const char *text = json ? json : "{\"code\":\"internal\",\"message\":\"out of memory\"}";
    const char *ev = json ? event : "docsync:error";
    if (to->done)
        to->done(to->arg, ev, text);
    else if (to->socket_id[0] && e->io.send)
        e->io.send(e->io.ctx, to->socket_id, ev, to->channel[0] ? to->channel : NULL, text);
}

static void emit_text(sync_engine *e, const struct sync_reply *to, const char *event,
                      struct jsonw *w)
{
    emit_str(e, to, event, w->oom ? NULL : w->p);
}

static cJSON *body_for(const char *doc, const char *client, uint64_t seq, const char *request_id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "documentId", doc);
    if (client && client[0]) {
        cJSON_AddStringToObject(o, "clientId", client);
        add_u64(o, "seq", seq);
    }
    if (request_id && request_id[0])
        cJSON_AddStringToObject(o, "requestId", request_id);
    return o;
}

static void reply_error_full(sync_engine *e, const struct sync_reply *to, const char *doc,
                             const char *client, uint64_t seq, const char *request_id,
                             const char *code, const char *message, const char *num_key,
                             uint64_t num)
{
    cJSON *o = body_for(doc ? doc : "", client, seq, request_id);
    if (o) {
        cJSON_AddStringToObject(o, "code", code);
        cJSON_AddStringToObject(o, "message", message);
        if (num_key)
            add_u64(o, num_key, num);
    }
    emit(e, to, "docsync:error", o);
    e->st.refused++;
}

void sync_engine_reply_error(sync_engine *e, const struct sync_reply *reply,
                             const struct sync_request *req, const char *code, const char *message)
{
    reply_error_full(e, reply, req ? req->doc : "", req ? req->client : NULL, req ? req->seq : 0,
                     req ? req->request_id : NULL, code, message, NULL, 0);
}

static void reply_ack(sync_engine *e, const struct waiter *w, const char *doc, uint64_t version)
{
    char buf[1024];
    struct jsonw j;
    jsonw_init(&j, buf, sizeof buf);
    JSON_LIT(&j, "{\"documentId\":");
    jsonw_cstr(&j, doc);
    if (w->client[0]) {
        JSON_KEY(&j, "clientId");
        jsonw_cstr(&j, w->client);
        JSON_KEY(&j, "seq");
        jsonw_u64(&j, w->seq);
    }
    if (w->request_id[0]) {
        JSON_KEY(&j, "requestId");
        jsonw_cstr(&j, w->request_id);
    }
    JSON_KEY(&j, "version");
    jsonw_u64(&j, version);
    JSON_KEY(&j, "duplicate");
    jsonw_lit(&j, w->kind == WAIT_DUPLICATE ? "true" : "false");
    if (w->kind == WAIT_NOOP) {
        JSON_KEY(&j, "applied");
        JSON_LIT(&j, "false");
    }
    JSON_LIT(&j, "}");
    emit_text(e, &w->to, "docsync:ack", &j);
    jsonw_free(&j);
    e->st.acked++;
}

/* ------------------------------------------------------------ registry */

static void lru_unlink(sync_engine *e, struct doc *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        e->lru_head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        e->lru_tail = d->prev;
    d->prev = d->next = NULL;
}

static void lru_front(sync_engine *e, struct doc *d)
{
    if (e->lru_head == d)
        return;
    if (d->prev || d->next || e->lru_tail == d)
        lru_unlink(e, d);
    d->next = e->lru_head;
    if (e->lru_head)
        e->lru_head->prev = d;
    e->lru_head = d;
    if (!e->lru_tail)
        e->lru_tail = d;
}

static void pending_free(struct pending *p)
{
    if (!p)
        return;
    free(p->delta);
    free(p->content);
    free(p);
}

static void plist_free(struct plist *l)
{
    struct pending *p = l->head;
    while (p) {
        struct pending *n = p->next;
        pending_free(p);
        p = n;
    }
    l->head = l->tail = NULL;
}

static void doc_free(struct doc *d)
{
    size_t it = 0;
    struct seen *sn;
    while ((sn = hmap_next(&d->seen, &it, NULL, NULL)) != NULL)
        free(sn);
    hmap_deinit(&d->seen);
    plist_free(&d->inflight);
    plist_free(&d->queued);
    crdt_doc_free(d->crdt);
    free(d);
}

static void doc_remove(sync_engine *e, struct doc *d)
{
    hmap_del(&e->docs, d->id, strlen(d->id));
    lru_unlink(e, d);
    doc_free(d);
}

static int doc_busy(const struct doc *d)
{
    return d->committing || d->queued.head || d->inflight.head;
}

/* Closes idle documents beyond the limit, least recently used first, never
 * `keep` (the document a caller is about to use). */
static void evict(sync_engine *e, const struct doc *keep)
{
    struct doc *d = e->lru_tail;
    size_t scanned = 0;
    while (hmap_count(&e->docs) > e->o.max_open_docs && d && scanned < 64) {
        struct doc *prev = d->prev;
        if (d != keep && !doc_busy(d))
            doc_remove(e, d);
        d = prev;
        scanned++;
    }
}

/* Returns the open document, loading it from the store when needed. */
static struct doc *doc_get(sync_engine *e, const char *id, int *err)
{
    struct doc *d = hmap_get(&e->docs, id, strlen(id));
    if (d) {
        lru_front(e, d);
        return d;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        *err = DOCUMENT_ENOMEM;
        return NULL;
    }
    copy_str(d->id, sizeof d->id, id);
    d->e = e;
    hmap_init(&d->seen);
    int rc = document_load(e->s, id, &d->crdt, &d->head, &d->snapshot_version, NULL, NULL);
    if (rc) {
        free(d);
        *err = rc;
        return NULL;
    }
    d->assigned = d->head;
    if (hmap_put(&e->docs, d->id, strlen(d->id), d) != 0) {
        doc_free(d);
        *err = DOCUMENT_ENOMEM;
        return NULL;
    }
    lru_front(e, d);
    evict(e, d);
    return d;
}

/* Reloads the replica from the store, then re-applies the ops still in
 * memory (in flight and queued) when `keep_pending`; used to drop an
 * applied change that must not stay (too large). Returns 0 or -1 (then the
 * pending ops are refused by the caller). */
static int doc_reload(struct doc *d, int keep_pending)
{
    crdt_doc *fresh = NULL;
    uint64_t head = 0, snap = 0;
    if (document_load(d->e->s, d->id, &fresh, &head, &snap, NULL, NULL) != 0)
        return -1;
    if (keep_pending) {
        struct plist *lists[2] = {&d->inflight, &d->queued};
        for (int i = 0; i < 2; i++)
            for (struct pending *p = lists[i]->head; p; p = p->next)
                if (crdt_doc_apply(fresh, p->delta, p->delta_len, NULL) != CRDT_OK) {
                    crdt_doc_free(fresh);
                    return -1;
                }
    }
    crdt_doc_set_agent(fresh, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), CRDT_SEQ_AUTO);
    crdt_doc_free(d->crdt);
    d->crdt = fresh;
    d->head = head;
    d->snapshot_version = snap;
    if (!keep_pending)
        d->assigned = head;
    return 0;
}

/* ------------------------------------------------------------ commit path */

static void fail_list(sync_engine *e, struct doc *d, struct plist *l, const char *code,
                      const char *message)
{
    for (struct pending *p = l->head; p; p = p->next)
        for (size_t i = 0; i < p->nwait; i++) {
            struct waiter *w = &p->waiters[i];
            reply_error_full(e, &w->to, d->id, w->client, w->seq, w->request_id, code, message,
                             "currentVersion", d->head);
        }
    plist_free(l);
}

/* Refuses the ops not yet durable and rebuilds the replica from the store.
 * While a batch is in flight its ops are kept (they may still commit) and
 * the replica is rebuilt as store + those ops; only the queued ops are
 * refused. Returns 1 when the document was closed (d is freed), else 0. */
static int fail_all(sync_engine *e, struct doc *d, const char *code, const char *message)
{
    fail_list(e, d, &d->queued, code, message);
    d->nqueued = 0;
    if (d->committing) {
        if (doc_reload(d, 1) != 0)
            d->broken = 1;
        d->assigned = d->inflight.tail ? d->inflight.tail->version : d->head;
        return 0;
    }
    fail_list(e, d, &d->inflight, code, message);
    if (doc_reload(d, 0) != 0) {
        /* Even the reload failed: close the document; it is loaded again on
         * the next request. */
        doc_remove(e, d);
        return 1;
    }
    return 0;
}

/* The activity record of an op as JSON text in `j`. */
static void activity_payload(const struct doc *d, const struct pending *p, struct jsonw *j)
{
    JSON_LIT(j, "{\"kind\":");
    jsonw_lit(j, p->replace ? "\"document.replaced\"" : "\"document.updated\"");
    JSON_KEY(j, "documentId");
    jsonw_cstr(j, d->id);
    JSON_KEY(j, "version");
    jsonw_u64(j, p->version);
    JSON_KEY(j, "user");
    jsonw_cstr(j, p->user);
    if (p->client[0]) {
        JSON_KEY(j, "clientId");
        jsonw_cstr(j, p->client);
        JSON_KEY(j, "seq");
        jsonw_u64(j, p->seq);
    }
    JSON_KEY(j, "bytes");
    jsonw_u64(j, p->delta_len);
    JSON_LIT(j, "}");
}

static void on_done(void *ctx, int status, const struct store_batch_result *res);

/* Submits the queued ops as one batch unless one is in flight. Returns 1
 * when the document was closed (d is freed), else 0. */
static int flush(sync_engine *e, struct doc *d)
{
    if (d->committing || !d->queued.head)
        return 0;
    d->inflight = d->queued;
    d->queued.head = d->queued.tail = NULL;
    d->nqueued = 0;
    store_batch *b = NULL;
    int rc = store_batch_new(&b);
    for (struct pending *p = d->inflight.head; rc == 0 && p; p = p->next) {
        rc = store_batch_op_append(b, d->id, p->version, p->user, p->client, p->seq, p->ts_ms,
                                   p->delta, p->delta_len);
        if (rc == 0) {
            char abuf[1024];
            struct jsonw act;
            jsonw_init(&act, abuf, sizeof abuf);
            activity_payload(d, p, &act);
            rc = act.oom ? STORE_ENOMEM : store_batch_activity_append(b, p->ts_ms, act.p, act.len);
            jsonw_free(&act);
        }
    }
    uint64_t last = d->inflight.tail->version;
    if (rc == 0 && last - d->snapshot_version >= e->o.snapshot_every) {
        /* Every applied op is in this batch, so the replica is exactly the
         * state at `last`. */
        uint8_t *state = NULL;
        size_t slen = 0;
        /* crdt.h guarantees that a fresh replica accepts every state
         * crdt_doc_encode_state produces (updates are bounded by runs, not
         * characters), so the state is stored without a trial load (which
         * cost as much as the encoding, on every snapshot). */
        if (crdt_doc_encode_state(d->crdt, &state, &slen) == CRDT_OK) {
            rc = store_batch_snapshot_put(b, d->id, last, d->inflight.tail->ts_ms, state, slen);
            crdt_free_bytes(NULL, state);
        } else {
            e->st.snapshots_skipped++; /* out of memory: retried after another interval */
        }
    }
    if (rc == 0)
        rc = store_writer_submit(e->w, b, on_done, d);
    if (rc != 0) {
        store_batch_free(b);
        return fail_all(e, d, rc == STORE_EBUSY ? "busy" : "storage_error",
                        rc == STORE_EBUSY ? "the server is overloaded; retry later"
                                          : "the update could not be queued for storage");
    }
    d->committing = 1;
    e->st.batches++;
    return 0;
}

static void broadcast_op(sync_engine *e, const struct doc *d, const struct pending *p)
{
    if (!e->io.broadcast)
        return;
    char buf[2048];
    struct jsonw j;
    jsonw_init(&j, buf, sizeof buf);
    JSON_LIT(&j, "{\"documentId\":");
    jsonw_cstr(&j, d->id);
    JSON_KEY(&j, "version");
    jsonw_u64(&j, p->version);
    JSON_KEY(&j, "user");
    jsonw_cstr(&j, p->user);
    JSON_KEY(&j, "update");
    size_t b64len = base64_encoded_len(p->delta_len, 0), n = 0;
    if (json_room(&j, b64len + 2) == 0) {
        j.p[j.len++] = '"';
        if (base64_encode(p->delta, p->delta_len, 0, j.p + j.len, b64len + 1, &n) != 0)
            n = 0;
        j.len += n;
        j.p[j.len++] = '"';
        j.p[j.len] = '\0';
    }
    if (p->client[0]) {
        JSON_KEY(&j, "clientId");
        jsonw_cstr(&j, p->client);
        JSON_KEY(&j, "seq");
        jsonw_u64(&j, p->seq);
    }
    if (p->content) {
        JSON_KEY(&j, "content");
        jsonw_str(&j, p->content, p->content_len);
    }
    JSON_LIT(&j, "}");
    if (!j.oom) {
        char channel[SYNC_CHANNEL_MAX];
        snprintf(channel, sizeof channel, "private-document.%s", d->id);
        const char *except =
            p->nwait && p->waiters[0].kind == WAIT_ORIGINAL && p->waiters[0].to.socket_id[0]
                ? p->waiters[0].to.socket_id
                : NULL;
        e->io.broadcast(e->io.ctx, channel, SYNC_EVENT_DOCUMENT_UPDATED, j.p, except);
    }
    jsonw_free(&j);
}

static void on_done(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct doc *d = ctx;
    sync_engine *e = d->e;
    d->committing = 0;
    if (status != 0) {
        e->st.batch_failures++;
        int full = status == STORE_EFULL || status == STORE_ENOSPC;
        char msg[160];
        snprintf(msg, sizeof msg, "the update was not stored: %s; nothing was applied, retry later",
                 store_strerror(status));
        fail_all(e, d, full ? "storage_full" : "storage_error", msg);
        return;
    }
    if (!d->inflight.tail) /* cannot happen: a batch always carries ops */
        return;
    uint64_t last = d->inflight.tail->version;
    d->head = last;
    if (last - d->snapshot_version >= e->o.snapshot_every)
        d->snapshot_version = last; /* also when skipped: retry after another interval */
    for (struct pending *p = d->inflight.head; p; p = p->next) {
        for (size_t i = 0; i < p->nwait; i++)
            reply_ack(e, &p->waiters[i], d->id, p->version);
        broadcast_op(e, d, p);
    }
    plist_free(&d->inflight);
    if (d->broken) {
        fail_list(e, d, &d->queued, "storage_error", "the document had to be reloaded");
        d->nqueued = 0;
        doc_remove(e, d);
        return;
    }
    if (flush(e, d))
        return;
    if (!doc_busy(d))
        evict(e, NULL);
}

/* ------------------------------------------------------------ writes */

static struct pending *find_pending(struct doc *d, const char *client, uint64_t seq)
{
    struct plist *lists[2] = {&d->inflight, &d->queued};
    for (int i = 0; i < 2; i++)
        for (struct pending *p = lists[i]->head; p; p = p->next)
            if (p->seq == seq && strcmp(p->client, client) == 0)
                return p;
    return NULL;
}

static struct pending *last_pending(struct doc *d)
{
    return d->queued.tail ? d->queued.tail : d->inflight.tail;
}

static void make_waiter(struct waiter *w, const struct sync_request *req,
                        const struct sync_reply *reply, enum waiter_kind kind)
{
    memset(w, 0, sizeof *w);
    w->to = *reply;
    w->kind = kind;
    copy_str(w->client, sizeof w->client, req->client);
    w->seq = req->seq;
    copy_str(w->request_id, sizeof w->request_id, req->request_id);
}

static int add_waiter(struct pending *p, const struct sync_request *req,
                      const struct sync_reply *reply, enum waiter_kind kind)
{
    if (p->nwait == WAITERS_MAX)
        return -1;
    make_waiter(&p->waiters[p->nwait++], req, reply, kind);
    return 0;
}

/* The entry of `client` in the seen table, or NULL when it has none. With
 * `insert`, a missing client is added (seq 0) while the table holds fewer
 * than SEEN_MAX clients (NULL when it is full or out of memory). */
static struct seen *seen_slot(struct doc *d, const char *client, int insert)
{
    struct seen *sn = hmap_get(&d->seen, client, strlen(client));
    if (sn || !insert || hmap_count(&d->seen) >= SEEN_MAX)
        return sn;
    sn = malloc(sizeof *sn);
    if (!sn)
        return NULL;
    sn->seq = 0;
    copy_str(sn->client, sizeof sn->client, client);
    if (hmap_put(&d->seen, sn->client, strlen(sn->client), sn) != 0) {
        free(sn);
        return NULL;
    }
    return sn;
}

/* Handles a resubmitted (client, seq). Returns 1 when the request was
 * answered (or will be), 0 when it is new. */
static int dedup(sync_engine *e, struct doc *d, const struct sync_request *req,
                 const struct sync_reply *reply)
{
    /* Only a seq at or below the highest one accepted here can be pending. */
    struct seen *sn = seen_slot(d, req->client, 0);
    int tracked = sn != NULL || hmap_count(&d->seen) < SEEN_MAX;
    struct pending *p = NULL;
    if (!tracked || (sn && req->seq <= sn->seq))
        p = find_pending(d, req->client, req->seq);
    if (p) {
        e->st.duplicates++;
        if (add_waiter(p, req, reply, WAIT_DUPLICATE) != 0)
            reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "busy",
                             "this sequence is already being stored; wait for its ack", NULL, 0);
        return 1;
    }
    store_read *r = NULL;
    if (store_read_begin(e->s, &r) != 0) {
        reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "storage_error",
                         "cannot read the sequence index", NULL, 0);
        return 1;
    }
    uint64_t last = 0, version = 0;
    int rc = store_seq_get(r, d->id, req->client, &last, &version);
    if (rc == 0 && req->seq <= last) {
        if (req->seq < last)
            rc = store_seq_find(r, d->id, req->client, req->seq, e->o.seq_scan, &version);
        store_read_end(r);
        if (rc == 0) {
            struct waiter w;
            make_waiter(&w, req, reply, WAIT_DUPLICATE);
            e->st.duplicates++;
            reply_ack(e, &w, d->id, version);
        } else {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "sequence %llu is below the last applied sequence %llu of this client and "
                     "was not found in the recent log; it is not applied again",
                     (unsigned long long)req->seq, (unsigned long long)last);
            reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "stale_seq",
                             msg, "currentVersion", d->head);
        }
        return 1;
    }
    store_read_end(r);
    return 0;
}

static void handle_write(sync_engine *e, const struct sync_request *req, const char *user,
                         const struct sync_reply *reply)
{
    int err = 0;
    struct doc *d = doc_get(e, req->doc, &err);
    if (!d) {
        reply_error_full(e, reply, req->doc, req->client, req->seq, req->request_id,
                         "storage_error", document_strerror(err), NULL, 0);
        return;
    }
    if (d->broken) {
        reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "storage_error",
                         "the document is being reloaded; retry", NULL, 0);
        return;
    }
    if (req->client[0] && req->seq && dedup(e, d, req, reply))
        return;
    if (d->nqueued >= QUEUED_MAX) {
        reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "busy",
                         "too many updates are waiting for storage on this document; retry "
                         "after your pending acks",
                         NULL, 0);
        return;
    }
    if (req->op == SYNC_OP_REPLACE && req->base_version != d->assigned) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "baseVersion %llu is not the current version %llu; catch up and retry",
                 (unsigned long long)req->base_version, (unsigned long long)d->assigned);
        reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id, "conflict", msg,
                         "currentVersion", d->assigned);
        return;
    }
    uint64_t mark = crdt_doc_mark(d->crdt);
    if (req->op == SYNC_OP_SUBMIT) {
        crdt_id missing;
        memset(&missing, 0, sizeof missing);
        int rc = crdt_doc_apply(d->crdt, req->update, req->update_len, &missing);
        if (rc == CRDT_EMISSING) {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "the update depends on operation (%.64s, %llu) which the server does not "
                     "have; catch up from version %llu and resubmit your unacknowledged "
                     "operations together",
                     missing.agent, (unsigned long long)missing.seq, (unsigned long long)d->head);
            reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id,
                             "missing_dependencies", msg, "catchUpFrom", d->head);
            return;
        }
        if (rc != CRDT_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "the update is not a valid CRDT update: %s",
                     crdt_strerror(rc));
            reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id,
                             rc == CRDT_ELIMIT ? "too_large" : "invalid", msg, NULL, 0);
            return;
        }
    } else {
        int rc = document_replace(d->crdt, req->content, req->content_len);
        if (rc != 0) {
            if (crdt_doc_mark(d->crdt) != mark && doc_reload(d, 1) != 0) {
                fail_all(e, d, "storage_error", "the document had to be reloaded");
                return;
            }
            reply_error_full(e, reply, d->id, req->client, req->seq, req->request_id,
                             rc == DOCUMENT_EINVAL ? "invalid" : "internal",
                             rc == DOCUMENT_EINVAL ? "content is not valid UTF-8"
                                                   : document_strerror(rc),
                             NULL, 0);
            return;
        }
    }
    if (crdt_doc_mark(d->crdt) == mark) {
        /* Nothing new: acknowledge with the version that holds it. */
        struct pending *p = last_pending(d);
        if (p && add_waiter(p, req, reply, WAIT_NOOP) == 0)
            return;
        struct waiter w;
        make_waiter(&w, req, reply, WAIT_NOOP);
        reply_ack(e, &w, d->id, d->assigned);
        return;
    }
    if (crdt_doc_byte_length(d->crdt) > e->o.doc_max_bytes) {
        if (doc_reload(d, 1) != 0) {
            fail_all(e, d, "storage_error", "the document had to be reloaded");
        }
        char msg[160];
        snprintf(msg, sizeof msg, "the document would exceed %zu bytes; update refused",
                 e->o.doc_max_bytes);
        reply_error_full(e, reply, req->doc, req->client, req->seq, req->request_id, "too_large",
                         msg, NULL, 0);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    uint8_t *delta = NULL;
    size_t dlen = 0;
    if (!p || crdt_doc_encode_since_mark(d->crdt, mark, &delta, &dlen) != CRDT_OK) {
        free(p);
        if (doc_reload(d, 1) != 0)
            fail_all(e, d, "storage_error", "the document had to be reloaded");
        reply_error_full(e, reply, req->doc, req->client, req->seq, req->request_id, "internal",
                         "out of memory", NULL, 0);
        return;
    }
    p->delta = delta;
    p->delta_len = dlen;
    p->version = ++d->assigned;
    p->ts_ms = now_ms();
    p->replace = req->op == SYNC_OP_REPLACE;
    copy_str(p->user, sizeof p->user, user);
    copy_str(p->client, sizeof p->client, req->client);
    p->seq = req->client[0] ? req->seq : 0;
    if (!e->o.content_off && crdt_doc_byte_length(d->crdt) <= e->o.content_max) {
        char *t = NULL;
        size_t n = 0;
        if (crdt_doc_text(d->crdt, &t, &n) == CRDT_OK) {
            p->content = t;
            p->content_len = n;
        }
    }
    add_waiter(p, req, reply, WAIT_ORIGINAL);
    if (d->queued.tail)
        d->queued.tail->next = p;
    else
        d->queued.head = p;
    d->queued.tail = p;
    d->nqueued++;
    if (p->client[0]) {
        struct seen *sn = seen_slot(d, p->client, 1);
        if (sn && p->seq > sn->seq)
            sn->seq = p->seq;
    }
    e->st.applied++;
    flush(e, d);
}

/* ------------------------------------------------------------ reads */

/* A catch-up reply, written as JSON text directly into one buffer: the
 * updates array first (its length decides `more` and `nextVersion`), then
 * the other members. A page is bounded by the update bytes and by the size
 * of the reply once escaped into the WebSocket envelope, so it always fits
 * the connection's send queue. */
struct catchup_ctx {
    struct jsonw j;
    size_t bytes, max;     /* update bytes so far, bound */
    size_t esc, frame_max; /* bytes the envelope's escaping adds; bound on len + esc */
    size_t count;
    uint64_t last;
    int stopped;
};

static int catchup_op(void *ctx, const struct store_op *op)
{
    struct catchup_ctx *c = ctx;
    size_t b64len = base64_encoded_len(op->len, 0);
    /* Upper bound of this item's text and of its escaping in the envelope:
     * 8 quotes, and each user byte escaped twice at worst. */
    size_t item = 64 + 2 * op->user_len + b64len, item_esc = 8 + 2 * op->user_len;
    if (c->count > 0 && (c->bytes + op->len > c->max ||
                         c->j.len + c->esc + item + item_esc + 1024 > c->frame_max)) {
        c->stopped = 1;
        return 1;
    }
    if (json_room(&c->j, item) != 0)
        return STORE_ENOMEM;
    if (c->count)
        JSON_LIT(&c->j, ",{\"version\":");
    else
        JSON_LIT(&c->j, "{\"version\":");
    jsonw_u64(&c->j, op->version);
    JSON_LIT(&c->j, ",\"user\":\"");
    char *p = c->j.p + c->j.len;
    for (size_t i = 0; i < op->user_len; i++) {
        char ch = op->user[i];
        if (ch == '"' || ch == '\\') {
            *p++ = '\\';
            c->esc += 2;
        }
        if ((unsigned char)ch >= 0x80)
            c->esc += 2; /* invalid UTF-8 becomes U+FFFD in the envelope */
        *p++ = (unsigned char)ch < 0x20 ? '?' : ch;
    }
    memcpy(p, "\",\"update\":\"", 12);
    p += 12;
    size_t n = 0;
    base64_encode(op->data, op->len, 0, p, b64len + 1, &n);
    p += n;
    *p++ = '"';
    *p++ = '}';
    *p = '\0';
    c->j.len = (size_t)(p - c->j.p);
    c->esc += 8;
    c->bytes += op->len;
    c->count++;
    c->last = op->version;
    return 0;
}

static void handle_catchup(sync_engine *e, const struct sync_request *req,
                           const struct sync_reply *reply)
{
    /* Serve from the store: it holds exactly what is durable. */
    struct store_epoch cur, want;
    memset(&want, 0, sizeof want);
    if (store_epoch_get(e->s, &cur) != 0) {
        sync_engine_reply_error(e, reply, req, "storage_error", "cannot read the store epoch");
        return;
    }
    if (req->epoch[0]) {
        if (store_epoch_parse(req->epoch, strlen(req->epoch), &want) != 0)
            memset(&want, 0, sizeof want); /* unknown epoch: never matches */
    } else if (req->version == 0) {
        want = cur; /* a new client has nothing to mismatch */
    }
    store_read *r = NULL;
    if (store_read_begin(e->s, &r) != 0) {
        sync_engine_reply_error(e, reply, req, "storage_error", "cannot read the store");
        return;
    }
    struct catchup_ctx c;
    memset(&c, 0, sizeof c);
    char first[4096];
    jsonw_init(&c.j, first, sizeof first);
    c.max = e->o.catchup_max_bytes;
    c.frame_max = e->o.catchup_max_frame;
    c.last = req->version;
    /* Room for the small members, written in front of the updates once their
     * count is known (so readers find them early in the text). */
    enum { HEAD_ROOM = 1024 };
    jsonw_zero(&c.j, HEAD_ROOM);
    JSON_LIT(&c.j, "\"updates\":[");
    struct store_catchup out;
    memset(&out, 0, sizeof out);
    int rc = store_catchup(r, req->doc, &want, req->version, 0, catchup_op, &c, &out);
    if (rc == 0 && c.j.oom)
        rc = STORE_ENOMEM;
    if (rc != 0) {
        store_read_end(r);
        jsonw_free(&c.j);
        sync_engine_reply_error(e, reply, req, "storage_error", store_strerror(rc));
        return;
    }
    char hbuf[HEAD_ROOM];
    struct jsonw h;
    jsonw_init(&h, hbuf, sizeof hbuf);
    JSON_LIT(&h, "{\"documentId\":");
    jsonw_cstr(&h, req->doc);
    if (req->request_id[0]) {
        JSON_KEY(&h, "requestId");
        jsonw_cstr(&h, req->request_id);
    }
    char hex[STORE_EPOCH_HEX_LEN + 1];
    store_epoch_format(&cur, hex);
    JSON_KEY(&h, "epoch");
    jsonw_cstr(&h, hex);
    JSON_KEY(&h, "head");
    jsonw_u64(&h, out.head);
    JSON_KEY(&h, "replay");
    jsonw_lit(&h, out.replay ? "true" : "false");
    JSON_KEY(&h, "more");
    jsonw_lit(&h, out.more || c.stopped ? "true" : "false");
    uint64_t base = out.replay ? req->version : out.snapshot.version;
    JSON_KEY(&h, "nextVersion");
    jsonw_u64(&h, c.count ? c.last + 1 : base + 1);
    JSON_LIT(&h, ",");
    struct jsonw *j = &c.j;
    JSON_LIT(j, "]");
    if (!out.replay) {
        /* "The empty document" comes as 0 bytes: send the state of an
         * empty replica instead, so clients can always apply it. */
        uint8_t *empty = NULL;
        size_t elen = 0;
        crdt_doc *blank = NULL;
        if (out.snapshot.len == 0 &&
            crdt_doc_new(NULL, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), &blank) == CRDT_OK)
            crdt_doc_encode_state(blank, &empty, &elen);
        crdt_doc_free(blank);
        char *st = empty ? b64(empty, elen) : b64(out.snapshot.data, out.snapshot.len);
        crdt_free_bytes(NULL, empty);
        JSON_KEY(j, "snapshot");
        if (st) {
            JSON_LIT(j, "{\"version\":");
            jsonw_u64(j, out.snapshot.version);
            JSON_LIT(j, ",\"state\":");
            jsonw_cstr(j, st);
            JSON_LIT(j, "}");
        } else {
            JSON_LIT(j, "{}");
        }
        free(st);
    }
    JSON_LIT(j, "}");
    store_read_end(r);
    const char *text = NULL;
    if (!j->oom && !h.oom && h.len <= HEAD_ROOM) {
        char *start = j->p + HEAD_ROOM - h.len;
        memcpy(start, h.p, h.len);
        text = start;
    }
    emit_str(e, reply, "docsync:catchup", text);
    jsonw_free(&h);
    jsonw_free(j);
}

static void handle_history(sync_engine *e, const struct sync_request *req,
                           const struct sync_reply *reply)
{
    char *text = NULL;
    size_t len = 0;
    uint64_t oldest = 0;
    int rc = document_text_at(e->s, req->doc, req->version, &text, &len, &oldest);
    if (rc == DOCUMENT_ENOTFOUND) {
        sync_engine_reply_error(e, reply, req, "not_found",
                                "the version is beyond the document's current version");
        return;
    }
    if (rc == DOCUMENT_ENOTRETAINED) {
        char msg[160];
        snprintf(msg, sizeof msg, "version %llu is older than the retained history (oldest: %llu)",
                 (unsigned long long)req->version, (unsigned long long)oldest);
        reply_error_full(e, reply, req->doc, NULL, 0, req->request_id, "not_retained", msg,
                         "oldestVersion", oldest);
        return;
    }
    if (rc != 0) {
        sync_engine_reply_error(e, reply, req, "storage_error", document_strerror(rc));
        return;
    }
    cJSON *o = body_for(req->doc, NULL, 0, req->request_id);
    if (o) {
        add_u64(o, "version", req->version);
        cJSON_AddStringToObject(o, "content", text);
    }
    free(text);
    emit(e, reply, "docsync:history", o);
}

/* ------------------------------------------------------------ public */

void sync_engine_handle(sync_engine *e, const struct sync_request *req, const char *user, int role,
                        const struct sync_reply *reply)
{
    switch (req->op) {
    case SYNC_OP_SUBMIT:
    case SYNC_OP_REPLACE:
        if (role < AUTH_ROLE_EDITOR) {
            char msg[200];
            snprintf(msg, sizeof msg, "user %.128s is a %s of this document and may not edit it",
                     user, auth_role_name(role));
            sync_engine_reply_error(e, reply, req, "forbidden", msg);
            return;
        }
        handle_write(e, req, user, reply);
        return;
    case SYNC_OP_CATCHUP:
        if (role < AUTH_ROLE_VIEWER) {
            sync_engine_reply_error(e, reply, req, "forbidden", "no access to this document");
            return;
        }
        handle_catchup(e, req, reply);
        return;
    case SYNC_OP_HISTORY:
        if (role < AUTH_ROLE_VIEWER) {
            sync_engine_reply_error(e, reply, req, "forbidden", "no access to this document");
            return;
        }
        handle_history(e, req, reply);
        return;
    }
    sync_engine_reply_error(e, reply, req, "invalid", "unknown operation");
}

struct acl_any {
    int any;
    int star;
};

static int acl_seen(void *ctx, const char *user, size_t user_len, enum store_role role)
{
    struct acl_any *a = ctx;
    a->any = 1;
    if (user_len == 1 && user[0] == '*')
        a->star = (int)role;
    return 0;
}

int sync_engine_acl_fn(void *store_ptr, const char *doc, const char *user)
{
    store *s = store_ptr;
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return -100;
    enum store_role role = STORE_ROLE_NONE;
    int rc = store_acl_get(r, doc, user, &role);
    if (rc == 0 && role != STORE_ROLE_NONE) {
        store_read_end(r);
        return (int)role;
    }
    struct acl_any a = {0, 0};
    rc = store_acl_list(r, doc, acl_seen, &a);
    store_read_end(r);
    if (rc != 0)
        return -100;
    if (!a.any)
        return AUTH_ACL_ABSENT;
    return a.star;
}

int sync_engine_new(store *s, store_writer *w, const struct sync_engine_options *o,
                    const struct sync_engine_io *io, sync_engine **out)
{
    *out = NULL;
    sync_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (o)
        e->o = *o;
    if (!e->o.doc_max_bytes)
        e->o.doc_max_bytes = 1u << 20;
    if (!e->o.snapshot_every)
        e->o.snapshot_every = 100;
    if (!e->o.max_open_docs)
        e->o.max_open_docs = 10000;
    if (!e->o.content_max)
        e->o.content_max = 16384;
    if (!e->o.catchup_max_bytes)
        e->o.catchup_max_bytes = 256u * 1024u;
    if (!e->o.catchup_max_frame)
        e->o.catchup_max_frame = 2 * e->o.catchup_max_bytes + 64u * 1024u;
    if (!e->o.seq_scan)
        e->o.seq_scan = 10000;
    e->s = s;
    e->w = w;
    if (io)
        e->io = *io;
    hmap_init(&e->docs);
    *out = e;
    return 0;
}

void sync_engine_free(sync_engine *e)
{
    if (!e)
        return;
    /* Every open document is on the LRU list. */
    struct doc *d = e->lru_head;
    while (d) {
        struct doc *n = d->next;
        doc_free(d);
        d = n;
    }
    hmap_deinit(&e->docs);
    free(e);
}

void sync_engine_stats_get(const sync_engine *e, struct sync_engine_stats *out)
{
    *out = e->st;
    out->open_docs = hmap_count(&e->docs);
}

size_t sync_engine_pending(const sync_engine *e)
{
    size_t n = 0;
    for (const struct doc *d = e->lru_head; d; d = d->next)
        n += doc_busy(d) ? 1 : 0;
    return n;
}
