/* The engine's reads: catch-up pages and history, answered at once from a
 * store read (the store holds exactly what is durable). See engine_int.h. */
#include <stdio.h>
#include <stdlib.h>

#include "common/base64.h"
#include "document.h"
#include "engine_int.h"

/* `len` bytes in base64 as a malloc'd string, or NULL. */
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
    if (jsonw_room(&c->j, item) != 0)
        return STORE_ENOMEM;
    if (c->count)
        JSONW_LIT(&c->j, ",{\"version\":");
    else
        JSONW_LIT(&c->j, "{\"version\":");
    jsonw_u64(&c->j, op->version);
    JSONW_LIT(&c->j, ",\"user\":\"");
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

/* A merged catch-up: the operations a replica at `req->version` lacks, as one
 * update taken from the open replica, instead of every version's own update.
 * Served only when it is exactly the durable state: the document is open,
 * nothing is pending (assigned == head), the client's epoch is the store's
 * and its version is one whose mark is known (engine__doc_mark), and the
 * update fits one page. Returns 1 when answered, 0 to answer with pages. */
static int read_merged(sync_engine *e, const struct sync_request *req,
                       const struct sync_reply *reply, const struct store_epoch *cur)
{
    struct doc *d = hmap_get(&e->docs, req->doc, strlen(req->doc));
    if (!d || d->broken || d->assigned != d->head || engine__doc_busy(d))
        return 0;
    if (req->version >= d->head || req->version < d->marks_base ||
        req->version - d->marks_base >= d->nmarks)
        return 0;
    if (req->epoch[0]) {
        struct store_epoch want;
        if (store_epoch_parse(req->epoch, strlen(req->epoch), &want) != 0 ||
            memcmp(want.bytes, cur->bytes, sizeof want.bytes) != 0)
            return 0;
    } else if (req->version != 0) {
        return 0; /* a version without its epoch may be another store's */
    }
    uint8_t *upd = NULL;
    size_t len = 0;
    if (crdt_doc_encode_since_mark(d->crdt, d->marks[req->version - d->marks_base], &upd, &len) !=
        CRDT_OK)
        return 0;
    size_t b64len = base64_encoded_len(len, 0);
    if (len > e->o.catchup_max_bytes || b64len + 1024 > e->o.catchup_max_frame) {
        crdt_free_bytes(NULL, upd);
        return 0;
    }
    struct jsonw j;
    char first[4096];
    jsonw_init(&j, first, sizeof first);
    JSONW_LIT(&j, "{\"documentId\":");
    jsonw_cstr(&j, req->doc);
    if (req->request_id[0]) {
        JSONW_KEY(&j, "requestId");
        jsonw_cstr(&j, req->request_id);
    }
    char hex[STORE_EPOCH_HEX_LEN + 1];
    store_epoch_format(cur, hex);
    JSONW_KEY(&j, "epoch");
    jsonw_cstr(&j, hex);
    JSONW_KEY(&j, "head");
    jsonw_u64(&j, d->head);
    JSONW_LIT(&j, ",\"replay\":true,\"more\":false,\"nextVersion\":");
    jsonw_u64(&j, d->head + 1);
    JSONW_LIT(&j, ",\"updates\":[],\"merged\":{\"from\":");
    jsonw_u64(&j, req->version);
    JSONW_LIT(&j, ",\"version\":");
    jsonw_u64(&j, d->head);
    JSONW_LIT(&j, ",\"update\":\"");
    if (jsonw_room(&j, b64len + 8) == 0) {
        size_t n = 0;
        base64_encode(upd, len, 0, j.p + j.len, b64len + 1, &n);
        j.len += n;
    }
    JSONW_LIT(&j, "\"}}");
    crdt_free_bytes(NULL, upd);
    engine__reply_text(e, reply, "docsync:catchup", j.oom ? NULL : j.p);
    jsonw_free(&j);
    return 1;
}

void engine__read_catchup(sync_engine *e, const struct sync_request *req,
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
    if (req->merge && read_merged(e, req, reply, &cur))
        return;
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
    JSONW_LIT(&c.j, "\"updates\":[");
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
    JSONW_LIT(&h, "{\"documentId\":");
    jsonw_cstr(&h, req->doc);
    if (req->request_id[0]) {
        JSONW_KEY(&h, "requestId");
        jsonw_cstr(&h, req->request_id);
    }
    char hex[STORE_EPOCH_HEX_LEN + 1];
    store_epoch_format(&cur, hex);
    JSONW_KEY(&h, "epoch");
    jsonw_cstr(&h, hex);
    JSONW_KEY(&h, "head");
    jsonw_u64(&h, out.head);
    JSONW_KEY(&h, "replay");
    jsonw_lit(&h, out.replay ? "true" : "false");
    JSONW_KEY(&h, "more");
    jsonw_lit(&h, out.more || c.stopped ? "true" : "false");
    uint64_t base = out.replay ? req->version : out.snapshot.version;
    JSONW_KEY(&h, "nextVersion");
    jsonw_u64(&h, c.count ? c.last + 1 : base + 1);
    JSONW_LIT(&h, ",");
    struct jsonw *j = &c.j;
    JSONW_LIT(j, "]");
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
        JSONW_KEY(j, "snapshot");
        if (st) {
            JSONW_LIT(j, "{\"version\":");
            jsonw_u64(j, out.snapshot.version);
            JSONW_LIT(j, ",\"state\":");
            jsonw_cstr(j, st);
            JSONW_LIT(j, "}");
        } else {
            JSONW_LIT(j, "{}");
        }
        free(st);
    }
    JSONW_LIT(j, "}");
    store_read_end(r);
    const char *text = NULL;
    if (!j->oom && !h.oom && h.len <= HEAD_ROOM) {
        char *start = j->p + HEAD_ROOM - h.len;
        memcpy(start, h.p, h.len);
        text = start;
    }
    engine__reply_text(e, reply, "docsync:catchup", text);
    jsonw_free(&h);
    jsonw_free(j);
}

/* Answers a history read with its outcome (document_text_at's code). */
static void read_history_answer(sync_engine *e, const struct sync_request *req,
                                const struct sync_reply *reply, int rc, const char *text,
                                uint64_t oldest)
{
    if (rc == DOCUMENT_ENOTFOUND) {
        sync_engine_reply_error(e, reply, req, "not_found",
                                "the version is beyond the document's current version");
        return;
    }
    if (rc == DOCUMENT_ENOTRETAINED) {
        char msg[160];
        snprintf(msg, sizeof msg, "version %llu is older than the retained history (oldest: %llu)",
                 (unsigned long long)req->version, (unsigned long long)oldest);
        engine__reply_error(e, reply, req->doc, NULL, 0, req->request_id, "not_retained", msg,
                            "oldestVersion", oldest);
        return;
    }
    if (rc != 0) {
        sync_engine_reply_error(e, reply, req, "storage_error", document_strerror(rc));
        return;
    }
    engine__reply_history(e, reply, req, text);
}

void engine__read_history(sync_engine *e, const struct sync_request *req,
                          const struct sync_reply *reply)
{
    if (e->reader) {
        /* Rebuilding a version costs time proportional to the document:
         * the reader thread does it, never the loop every client shares. */
        int rc = reader_submit(e->reader, req, reply);
        if (rc == READER_EFULL)
            sync_engine_reply_error(e, reply, req, "busy",
                                    "too many history reads are in progress; retry later");
        else if (rc != 0)
            sync_engine_reply_error(e, reply, req, "internal", "out of memory");
        return;
    }
    char *text = NULL;
    size_t len = 0;
    uint64_t oldest = 0;
    int rc = document_text_at(e->s, req->doc, req->version, &text, &len, &oldest);
    read_history_answer(e, req, reply, rc, text, oldest);
    free(text);
}

static void read_history_done(void *ctx, const struct reader_job *job)
{
    read_history_answer(ctx, &job->req, &job->reply, job->rc, job->text, job->oldest);
}

void sync_engine_drain(sync_engine *e)
{
    if (e->reader)
        reader_drain(e->reader, read_history_done, e);
}
