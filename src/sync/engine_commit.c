/* The engine's commit path: batches of a document's ops to the store
 * writer, and their completion (acks, DocumentUpdated, refusals). See
 * engine_int.h. */
#include <stdio.h>

#include "common/base64.h"
#include "common/strjoin.h"
#include "engine_int.h"

/* Refuses every op of `l` (each waiter gets `code`) and frees them. */
static void fail_list(sync_engine *e, struct doc *d, struct plist *l, const char *code,
                      const char *message)
{
    for (struct pending *p = l->head; p; p = p->next)
        for (size_t i = 0; i < p->nwait; i++) {
            struct waiter *w = &pending_waiters(p)[i];
            engine__reply_error(e, &w->to, d->id, w->client, w->seq, w->request_id, code, message,
                                "currentVersion", d->head);
        }
    engine__doc_list_free(l);
}

int engine__commit_fail(sync_engine *e, struct doc *d, const char *code, const char *message)
{
    if (d->committing > d->doomed) {
        /* Batches that may still commit: keep their ops in the replica. */
        fail_list(e, d, &d->queued, code, message);
        d->nqueued = 0;
        if (engine__doc_reload(d, 1) != 0)
            d->broken = 1;
        d->assigned = d->inflight.tail ? d->inflight.tail->version : d->head;
        return 0;
    }
    fail_list(e, d, &d->inflight, code, message); /* in version order */
    fail_list(e, d, &d->queued, code, message);
    d->nqueued = 0;
    if (engine__doc_reload(d, 0) != 0) {
        if (d->committing) {
            d->broken = 1; /* closed once its doomed batches have completed */
            return 0;
        }
        /* Even the reload failed: close the document; it is loaded again on
         * the next request. */
        engine__doc_remove(e, d);
        return 1;
    }
    return 0;
}

/* The activity record of an op as JSON text in `j`. */
static void activity_payload(const struct doc *d, const struct pending *p, struct jsonw *j)
{
    const char *node = d->e->o.activity_node;
    if (node && *node) { /* cluster mode: the node whose log this is (sync_activity_stamp) */
        JSONW_LIT(j, "{\"node\":");
        jsonw_cstr(j, node);
        JSONW_LIT(j, ",\"kind\":");
    } else {
        JSONW_LIT(j, "{\"kind\":");
    }
    jsonw_lit(j, p->replace ? "\"document.replaced\"" : "\"document.updated\"");
    JSONW_KEY(j, "documentId");
    jsonw_cstr(j, d->id);
    JSONW_KEY(j, "version");
    jsonw_u64(j, p->version);
    JSONW_KEY(j, "user");
    jsonw_cstr(j, p->user);
    if (p->client[0]) {
        JSONW_KEY(j, "clientId");
        jsonw_cstr(j, p->client);
        JSONW_KEY(j, "seq");
        jsonw_u64(j, p->seq);
    }
    JSONW_KEY(j, "bytes");
    jsonw_u64(j, p->delta_len);
    JSONW_LIT(j, "}");
}

static void on_done(void *ctx, int status, const struct store_batch_result *res);

/* A snapshot bounds what loading a document replays, and what catch-up and
 * retention work from. It is written once snapshot_every ops have come since
 * the last one; for a large document also only once the ops' bytes since
 * reach half the last snapshot's size. Encoding the state costs time in
 * proportion to the whole document, on the loop thread: under load every
 * batch crosses snapshot_every, and a document of megabytes would be
 * encoded on every commit (measured: 45 % of the loop thread with 100
 * writers on one document). With the byte rule the encoding costs at most
 * about twice the bytes of the ops themselves, and a load replays at most
 * half a snapshot's worth of ops. Small documents keep the plain rule. */
#define SNAPSHOT_AMORTIZE_FROM (64u * 1024u) /* bytes of the last snapshot */

static int snapshot_due(const sync_engine *e, const struct doc *d, uint64_t last)
{
    if (last - d->snapshot_version < e->o.snapshot_every)
        return 0;
    return d->snapshot_bytes < SNAPSHOT_AMORTIZE_FROM || d->op_bytes_since * 2 >= d->snapshot_bytes;
}

/* A document's queued ops become a batch: op entries, their activity
 * entries and, every snapshot_every versions, a snapshot. At most
 * PIPELINE_MAX batches are in flight; what arrives meanwhile waits in
 * `queued` for the next one, so versions commit strictly in order. */
int engine__commit_flush(sync_engine *e, struct doc *d)
{
    if (d->committing >= PIPELINE_MAX && d->queued.head && !d->broken)
        store_writer_followup(e->w); /* these go out when a batch completes */
    if (d->committing >= PIPELINE_MAX || !d->queued.head || d->broken)
        return 0;
    store_batch *b = NULL;
    int rc = store_batch_new(&b);
    if (rc == 0)
        store_batch_set_chain(b, d->chain);
    for (struct pending *p = d->queued.head; rc == 0 && p; p = p->next) {
        d->op_bytes_since += p->delta_len;
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
    uint64_t last = d->queued.tail->version;
    if (rc == 0 && snapshot_due(e, d, last)) {
        /* Every applied op is in this batch or in one before it, so the
         * replica is exactly the state at `last`. */
        uint8_t *state = NULL;
        size_t slen = 0;
        /* crdt.h guarantees that a fresh replica accepts every state
         * crdt_doc_encode_state produces (updates are bounded by runs, not
         * characters), so the state is stored without a trial load (which
         * cost as much as the encoding, on every snapshot). */
        if (crdt_doc_encode_state(d->crdt, &state, &slen) == CRDT_OK) {
            rc = store_batch_snapshot_put(b, d->id, last, d->queued.tail->ts_ms, state, slen);
            d->snapshot_bytes = slen;
            d->op_bytes_since = 0;
            crdt_free_bytes(NULL, state);
        } else {
            e->st.snapshots_skipped++; /* out of memory: retried after another interval */
        }
        if (rc == 0)
            d->snapshot_version = last; /* a failure reloads it from the store */
    }
    if (rc == 0)
        rc = store_writer_submit(e->w, b, on_done, d);
    if (rc != 0) {
        store_batch_free(b);
        return engine__commit_fail(e, d, rc == STORE_EBUSY ? "busy" : "storage_error",
                                   rc == STORE_EBUSY
                                       ? "the server is overloaded; retry later"
                                       : "the update could not be queued for storage");
    }
    d->batch_ops[d->committing++] = d->nqueued;
    if (d->inflight.tail)
        d->inflight.tail->next = d->queued.head;
    else
        d->inflight.head = d->queued.head;
    d->inflight.tail = d->queued.tail;
    d->queued.head = d->queued.tail = NULL;
    d->nqueued = 0;
    e->st.batches++;
    return 0;
}

/* DocumentUpdated for the durable op `p`, to everyone on
 * private-document.{id} except the connection that sent it. */
static void broadcast_op(sync_engine *e, const struct doc *d, const struct pending *p)
{
    if (e->io.updated)
        e->io.updated(e->io.ctx, d->id, p->version, p->user);
    if (!e->io.broadcast)
        return;
    char channel[SYNC_CHANNEL_MAX];
    str_join(channel, sizeof channel, "private-document.", d->id);
    const struct waiter *w0 = p->more ? p->more : &p->first;
    const char *except =
        p->nwait && w0->kind == WAIT_ORIGINAL && w0->to.socket_id[0] ? w0->to.socket_id : NULL;
    if (e->io.audience && !e->io.audience(e->io.ctx, channel, except))
        return; /* nobody but the sender is there */
    char buf[2048];
    struct jsonw j;
    jsonw_init(&j, buf, sizeof buf);
    JSONW_LIT(&j, "{\"documentId\":");
    jsonw_cstr(&j, d->id);
    JSONW_KEY(&j, "version");
    jsonw_u64(&j, p->version);
    JSONW_KEY(&j, "user");
    jsonw_cstr(&j, p->user);
    JSONW_KEY(&j, "update");
    size_t b64len = base64_encoded_len(p->delta_len, 0), n = 0;
    if (jsonw_room(&j, b64len + 2) == 0) {
        j.p[j.len++] = '"';
        if (base64_encode(p->delta, p->delta_len, 0, j.p + j.len, b64len + 1, &n) != 0)
            n = 0;
        j.len += n;
        j.p[j.len++] = '"';
        j.p[j.len] = '\0';
    }
    if (p->client[0]) {
        JSONW_KEY(&j, "clientId");
        jsonw_cstr(&j, p->client);
        JSONW_KEY(&j, "seq");
        jsonw_u64(&j, p->seq);
    }
    if (p->content) {
        JSONW_KEY(&j, "content");
        jsonw_str(&j, p->content, p->content_len);
    }
    JSONW_LIT(&j, "}");
    if (!j.oom)
        e->io.broadcast(e->io.ctx, channel, SYNC_EVENT_DOCUMENT_UPDATED, j.p, except);
    jsonw_free(&j);
}

/* The writer's completion of a batch, drained on the loop thread: acks and
 * DocumentUpdated in version order, then the next batch; or, when the batch
 * failed, the refusal of its ops and of every op behind it (the batch after
 * it in flight cannot commit: same chain). */
static void on_done(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct doc *d = ctx;
    sync_engine *e = d->e;
    size_t n = d->batch_ops[0];
    for (int i = 1; i < PIPELINE_MAX; i++)
        d->batch_ops[i - 1] = d->batch_ops[i];
    d->committing--;
    if (d->doomed) {
        d->doomed--; /* its ops were refused when the batch before it failed */
    } else if (status != 0) {
        e->st.batch_failures++;
        int full = status == STORE_EFULL || status == STORE_ENOSPC;
        char msg[160];
        snprintf(msg, sizeof msg, "the update was not stored: %s; nothing was applied, retry later",
                 store_strerror(status));
        d->doomed = d->committing;
        d->chain = ++e->chains;
        if (engine__commit_fail(e, d, full ? "storage_full" : "storage_error", msg))
            return; /* removed */
    } else {
        struct plist done = {d->inflight.head, NULL};
        struct pending *p = d->inflight.head;
        for (size_t i = 1; p && i < n; i++)
            p = p->next;
        if (!p) /* cannot happen: a batch's ops are in flight */
            return;
        done.tail = p;
        d->inflight.head = p->next;
        if (!d->inflight.head)
            d->inflight.tail = NULL;
        p->next = NULL;
        d->head = p->version;
        for (p = done.head; p; p = p->next) {
            for (size_t i = 0; i < p->nwait; i++)
                engine__reply_ack(e, &pending_waiters(p)[i], d->id, p->version);
            broadcast_op(e, d, p);
        }
        engine__doc_list_free(&done);
    }
    if (d->broken) {
        if (d->committing)
            return; /* closed when the last batch in flight completes */
        fail_list(e, d, &d->inflight, "storage_error", "the document had to be reloaded");
        fail_list(e, d, &d->queued, "storage_error", "the document had to be reloaded");
        d->nqueued = 0;
        engine__doc_remove(e, d);
        return;
    }
    if (engine__commit_flush(e, d))
        return;
    if (!engine__doc_busy(d))
        engine__doc_evict(e, NULL);
}
