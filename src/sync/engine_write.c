/* The engine's writes: submit and replace, from validation and
 * deduplication of (client, seq) to an op applied to the replica and queued
 * for the store. See engine_int.h. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "document.h"
#include "engine_int.h"

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The pending op (client, seq), or NULL. */
static struct pending *find_pending(struct doc *d, const char *client, uint64_t seq)
{
    struct plist *lists[2] = {&d->inflight, &d->queued};
    for (int i = 0; i < 2; i++)
        for (struct pending *p = lists[i]->head; p; p = p->next)
            if (p->seq == seq && strcmp(p->client, client) == 0)
                return p;
    return NULL;
}

/* The newest pending op (the version that holds a no-op), or NULL. */
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
    engine__copy_str(w->client, sizeof w->client, req->client);
    w->seq = req->seq;
    engine__copy_str(w->request_id, sizeof w->request_id, req->request_id);
}

/* Adds a reply owed when `p` is durable; -1 when `p` has WAITERS_MAX. */
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
    engine__copy_str(sn->client, sizeof sn->client, client);
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
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "busy",
                                "this sequence is already being stored; wait for its ack", NULL, 0);
        return 1;
    }
    store_read *r = NULL;
    if (store_read_begin(e->s, &r) != 0) {
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            "storage_error", "cannot read the sequence index", NULL, 0);
        return 1;
    }
    uint64_t last = 0, version = 0;
    int rc = store_seq_get(r, d->id, req->client, &last, &version, NULL);
    if (rc == 0 && req->seq <= last) {
        if (req->seq < last)
            rc = store_seq_find(r, d->id, req->client, req->seq, e->o.seq_scan, &version);
        store_read_end(r);
        if (rc == 0) {
            struct waiter w;
            make_waiter(&w, req, reply, WAIT_DUPLICATE);
            e->st.duplicates++;
            engine__reply_ack(e, &w, d->id, version);
        } else {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "sequence %llu is below the last applied sequence %llu of this client and "
                     "was not found in the recent log; it is not applied again",
                     (unsigned long long)req->seq, (unsigned long long)last);
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                                "stale_seq", msg, "currentVersion", d->head);
        }
        return 1;
    }
    store_read_end(r);
    return 0;
}

void engine__write(sync_engine *e, const struct sync_request *req, const char *user,
                   const struct sync_reply *reply)
{
    int err = 0;
    struct doc *d = engine__doc_get(e, req->doc, &err);
    if (!d) {
        engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id,
                            "storage_error", document_strerror(err), NULL, 0);
        return;
    }
    if (d->broken) {
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            "storage_error", "the document is being reloaded; retry", NULL, 0);
        return;
    }
    if (req->client[0] && req->seq && dedup(e, d, req, reply))
        return;
    if (d->nqueued >= QUEUED_MAX) {
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "busy",
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
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "conflict",
                            msg, "currentVersion", d->assigned);
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
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                                "missing_dependencies", msg, "catchUpFrom", d->head);
            return;
        }
        if (rc != CRDT_OK) {
            char msg[160];
            snprintf(msg, sizeof msg, "the update is not a valid CRDT update: %s",
                     crdt_strerror(rc));
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                                rc == CRDT_ELIMIT ? "too_large" : "invalid", msg, NULL, 0);
            return;
        }
    } else {
        int rc = document_replace(d->crdt, req->content, req->content_len);
        if (rc != 0) {
            if (crdt_doc_mark(d->crdt) != mark && engine__doc_reload(d, 1) != 0) {
                engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
                return;
            }
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
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
        engine__reply_ack(e, &w, d->id, d->assigned);
        return;
    }
    if (crdt_doc_byte_length(d->crdt) > e->o.doc_max_bytes) {
        if (engine__doc_reload(d, 1) != 0) {
            engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
        }
        char msg[160];
        snprintf(msg, sizeof msg, "the document would exceed %zu bytes; update refused",
                 e->o.doc_max_bytes);
        engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id, "too_large",
                            msg, NULL, 0);
        return;
    }
    struct pending *p = calloc(1, sizeof *p);
    uint8_t *delta = NULL;
    size_t dlen = 0;
    if (!p || crdt_doc_encode_since_mark(d->crdt, mark, &delta, &dlen) != CRDT_OK) {
        free(p);
        if (engine__doc_reload(d, 1) != 0)
            engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
        engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id, "internal",
                            "out of memory", NULL, 0);
        return;
    }
    p->delta = delta;
    p->delta_len = dlen;
    p->version = ++d->assigned;
    p->ts_ms = now_ms();
    p->replace = req->op == SYNC_OP_REPLACE;
    engine__copy_str(p->user, sizeof p->user, user);
    engine__copy_str(p->client, sizeof p->client, req->client);
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
    engine__commit_flush(e, d);
}
