/* The engine's writes: submit and replace, from validation and
 * deduplication of (client, seq) to an op applied to the replica and queued
 * for the store. See engine_int.h.
 *
 * Before anything is applied, a write is checked against what other users
 * could otherwise do to it: a client id belongs to the user who first wrote
 * with it on the document (client_id_taken), a submitted update may only
 * carry operations of the agent named like its client id, never the
 * server's (forbidden_agent), and an update's operations are bounded by its
 * size (too_many_ops) and a document's, deleted characters included, by
 * doc_max_ops (document_full); the time its merge may take is bounded by
 * its size too (too_costly). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/utf8.h"
#include "document.h"
#include "engine_int.h"

/* An update may add at most this many operations per byte of its length,
 * plus UPDATE_OPS_SLACK, plus the document's visible length: a run of
 * deleted text carries no text, so without this bound a few bytes could fill
 * a whole document's budget; deleting everything visible in one transaction
 * (select all, delete) stays possible. */
#define UPDATE_OPS_PER_BYTE 64
#define UPDATE_OPS_SLACK 4096

/* Merging a remote insert scans the runs inserted concurrently at its place,
 * so a small update of many inserts that share an origin would cost time
 * quadratic in its length. Its merge may scan at most this many runs per
 * byte plus UPDATE_SCAN_SLACK (a few milliseconds); honest concurrent
 * editing scans a handful per insert. Beyond, the replica is reloaded and
 * the update refused (too_costly). */
#define UPDATE_SCAN_PER_BYTE 64
#define UPDATE_SCAN_SLACK 65536

/* The first pending op of `client` (in flight, then queued) with sequence
 * `seq`, or with any sequence when `any_seq`; NULL when there is none. */
static struct pending *find_pending(struct doc *d, const char *client, uint64_t seq, int any_seq)
{
    struct plist *lists[2] = {&d->inflight, &d->queued};
    for (int i = 0; i < 2; i++)
        for (struct pending *p = lists[i]->head; p; p = p->next)
            if ((any_seq || p->seq == seq) && strcmp(p->client, client) == 0)
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

/* Adds a reply owed when `p` is durable; -1 when `p` has WAITERS_MAX (or
 * no memory for more than one). */
static int add_waiter(struct pending *p, const struct sync_request *req,
                      const struct sync_reply *reply, enum waiter_kind kind)
{
    if (p->nwait == WAITERS_MAX)
        return -1;
    if (p->nwait == 1 && !p->more) {
        p->more = malloc(WAITERS_MAX * sizeof *p->more);
        if (!p->more)
            return -1;
        p->more[0] = p->first;
    }
    make_waiter(&pending_waiters(p)[p->nwait++], req, reply, kind);
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
    sn->owner[0] = '\0';
    engine__copy_str(sn->client, sizeof sn->client, client);
    if (hmap_put(&d->seen, sn->client, strlen(sn->client), sn) != 0) {
        free(sn);
        return NULL;
    }
    return sn;
}

static void refuse_taken(sync_engine *e, struct doc *d, const struct sync_request *req,
                         const struct sync_reply *reply)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "clientId %s belongs to another user on this document (a client id is owned by "
             "the user who first wrote with it); nothing was applied: use a clientId (and CRDT "
             "agent) of your own",
             req->client);
    engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "client_id_taken",
                        msg, NULL, 0);
}

/* Checks the client id of a write from `user` and handles a resubmitted
 * (client, seq). Returns 1 when the request was answered (or will be): the
 * client id belongs to another user, or the seq was already applied or is
 * pending; 0 when the write goes on. */
static int check_client(sync_engine *e, struct doc *d, const struct sync_request *req,
                        const char *user, const struct sync_reply *reply)
{
    /* The owner, as far as this process knows it: ops not yet durable are
     * not in the store's index. */
    struct seen *sn = seen_slot(d, req->client, 0);
    int tracked = sn != NULL || hmap_count(&d->seen) < SEEN_MAX;
    const char *owner = sn && sn->owner[0] ? sn->owner : NULL;
    if (!owner && !tracked) {
        const struct pending *any = find_pending(d, req->client, 0, 1);
        owner = any ? any->user : NULL;
    }
    if (owner && strcmp(owner, user) != 0) {
        refuse_taken(e, d, req, reply);
        return 1;
    }
    /* Only a seq at or below the highest one accepted here can be pending. */
    struct pending *p = NULL;
    if (req->seq && (!tracked || (sn && req->seq <= sn->seq)))
        p = find_pending(d, req->client, req->seq, 0);
    if (p) {
        e->st.duplicates++;
        if (add_waiter(p, req, reply, WAIT_DUPLICATE) != 0)
            engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "busy",
                                "this sequence is already being stored; wait for its ack", NULL, 0);
        return 1;
    }
    /* A seq above the highest one accepted here, from the owner already
     * checked: the store's index cannot hold it. What the index held when
     * this entry was made was checked then, and since then only this
     * process has written the document's index (a document that moves away
     * is closed, and its entries go with it). This spares a read transaction
     * per edit. */
    if (sn && sn->owner[0] && req->seq > sn->seq)
        return 0;
    store_read *r = NULL;
    uint64_t last = 0, version = 0;
    char stored_owner[STORE_USER_ID_MAX + 1];
    int rc = store_read_begin(e->s, &r);
    if (rc == 0)
        rc = store_seq_get(r, d->id, req->client, &last, &version, stored_owner);
    if (rc != 0 && rc != STORE_ENOTFOUND) {
        store_read_end(r);
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            "storage_error", "cannot read the sequence index", NULL, 0);
        return 1;
    }
    if (rc == 0 && stored_owner[0] && strcmp(stored_owner, user) != 0) {
        store_read_end(r);
        refuse_taken(e, d, req, reply);
        return 1;
    }
    if (rc == 0 && req->seq && req->seq <= last) {
        /* A client's seqs only increase and the index keeps its last one for
         * good: a seq at or below it was applied, even when its op has left
         * the retained log (then its version is no longer known). */
        if (req->seq < last &&
            store_seq_find(r, d->id, req->client, req->seq, e->o.seq_scan, &version) != 0)
            version = VERSION_UNKNOWN;
        store_read_end(r);
        struct waiter w;
        make_waiter(&w, req, reply, WAIT_DUPLICATE);
        e->st.duplicates++;
        engine__reply_ack(e, &w, d->id, version);
        return 1;
    }
    store_read_end(r);
    return 0;
}

/* Writes the agent name a[0..n) into out (cap bytes, NUL-terminated) with
 * bytes outside printable ASCII (and backslashes) as \xNN. */
static void printable_agent(char *out, size_t cap, const char *a, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 <= cap; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
}

/* What crdt_update_inspect reports is compared with the submit's client id:
 * the first other agent is kept for the refusal. */
struct agent_check {
    const char *client;
    size_t client_len;
    char agent[4 * CRDT_AGENT_MAX + 1];
};

static int agent_is_client(void *ctx, const char *agent, size_t agent_len, uint64_t seq_first,
                           uint64_t count)
{
    struct agent_check *c = ctx;
    (void)seq_first;
    (void)count;
    if (agent_len == c->client_len && memcmp(agent, c->client, agent_len) == 0)
        return 0;
    printable_agent(c->agent, sizeof c->agent, agent, agent_len);
    return 1;
}

/* The most operations a document of `e` may hold. */
static uint64_t doc_max_ops(const sync_engine *e)
{
    uint64_t max = e->o.doc_max_ops ? e->o.doc_max_ops : 4 * (uint64_t)e->o.doc_max_bytes;
    return max < CRDT_DOC_OPS_MAX ? max : CRDT_DOC_OPS_MAX;
}

static void refuse_full(sync_engine *e, const struct sync_request *req,
                        const struct sync_reply *reply, uint64_t ops)
{
    char msg[300];
    snprintf(msg, sizeof msg,
             "the document would hold %llu operations (every character ever inserted or deleted "
             "counts, deleted ones included), above its limit of %llu; update refused",
             (unsigned long long)ops, (unsigned long long)doc_max_ops(e));
    engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id, "document_full",
                        msg, NULL, 0);
}

/* Checks a submitted update before it is applied: its operations are all of
 * the agent named like the client id (not the server's), and their number
 * fits the update's size and the document's budget. Returns 1 when the
 * request was refused, else 0. */
static int check_update(sync_engine *e, struct doc *d, const struct sync_request *req,
                        const struct sync_reply *reply)
{
    char msg[512];
    if (strcmp(req->client, DOCUMENT_AGENT) == 0) {
        snprintf(msg, sizeof msg,
                 "clientId %s is the server's own CRDT agent (whole-content writes); a client may "
                 "not use it",
                 DOCUMENT_AGENT);
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            "forbidden_agent", msg, NULL, 0);
        return 1;
    }
    struct agent_check c = {req->client, strlen(req->client), ""};
    uint64_t ops = 0;
    int rc = crdt_update_inspect(req->update, req->update_len, agent_is_client, &c, &ops);
    if (rc > 0) {
        snprintf(msg, sizeof msg,
                 "the update carries operations of agent %s; a client may only send its own "
                 "(agent = clientId %s); nothing was applied",
                 c.agent, req->client);
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            "forbidden_agent", msg, NULL, 0);
        return 1;
    }
    if (rc != CRDT_OK) {
        snprintf(msg, sizeof msg, "the update is not a valid CRDT update: %s", crdt_strerror(rc));
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                            rc == CRDT_ELIMIT ? "too_large" : "invalid", msg, NULL, 0);
        return 1;
    }
    uint64_t visible = crdt_doc_length(d->crdt);
    uint64_t max = (uint64_t)req->update_len * UPDATE_OPS_PER_BYTE + UPDATE_OPS_SLACK + visible;
    if (ops > max) {
        snprintf(msg, sizeof msg,
                 "the update adds %llu operations in %zu bytes; at most %d per byte plus %d plus "
                 "the document's %llu visible characters are accepted (deleted characters count "
                 "too); nothing was applied",
                 (unsigned long long)ops, req->update_len, UPDATE_OPS_PER_BYTE, UPDATE_OPS_SLACK,
                 (unsigned long long)visible);
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "too_many_ops",
                            msg, NULL, 0);
        return 1;
    }
    if (crdt_doc_mark(d->crdt) + ops > doc_max_ops(e)) {
        refuse_full(e, req, reply, crdt_doc_mark(d->crdt) + ops);
        return 1;
    }
    return 0;
}

/* The refusal of a whole-content write that the replica did not take
 * although `content` is valid UTF-8: the server's own edit failed. */
static void refuse_replace(sync_engine *e, struct doc *d, const struct sync_request *req,
                           const struct sync_reply *reply)
{
    char msg[400];
    uint64_t next = crdt_doc_next_seq(d->crdt);
    size_t cps = 0;
    for (size_t i = 0; i < req->content_len; i++)
        cps += ((unsigned char)req->content[i] & 0xC0) != 0x80;
    if (next + cps + crdt_doc_length(d->crdt) >= UINT32_MAX) {
        snprintf(msg, sizeof msg,
                 "the server cannot write this content: its own CRDT agent %s has used its "
                 "sequence numbers up to %llu in this document (the limit is 2^32 - 2); nothing "
                 "was applied",
                 DOCUMENT_AGENT, (unsigned long long)next);
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "internal",
                            msg, NULL, 0);
    } else if (crdt_doc_mark(d->crdt) + cps + crdt_doc_length(d->crdt) >= CRDT_DOC_OPS_MAX) {
        refuse_full(e, req, reply, crdt_doc_mark(d->crdt) + cps + crdt_doc_length(d->crdt));
    } else {
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "internal",
                            "the server's replica refused the edits of this whole-content write; "
                            "nothing was applied",
                            NULL, 0);
    }
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
    if (req->client[0] && check_client(e, d, req, user, reply))
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
    if (req->op == SYNC_OP_SUBMIT && check_update(e, d, req, reply))
        return;
    if (req->op == SYNC_OP_REPLACE && !utf8_valid(req->content, req->content_len)) {
        engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id, "invalid",
                            "content is not valid UTF-8", NULL, 0);
        return;
    }
    uint64_t mark = crdt_doc_mark(d->crdt);
    if (req->op == SYNC_OP_SUBMIT) {
        crdt_id missing;
        memset(&missing, 0, sizeof missing);
        uint64_t max_scan = (uint64_t)req->update_len * UPDATE_SCAN_PER_BYTE + UPDATE_SCAN_SLACK;
        int rc = crdt_doc_apply_bounded(d->crdt, req->update, req->update_len, &missing, max_scan);
        if (rc == CRDT_ECOST || rc == CRDT_EORIGIN) {
            /* The replica holds part of the update: back to the last good
             * state (the store plus what is pending). */
            int gone = engine__doc_reload(d, 1) != 0;
            if (gone)
                engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
            char msg[200];
            if (rc == CRDT_ECOST)
                snprintf(msg, sizeof msg,
                         "merging the update's concurrent inserts needs more than %llu steps (%d "
                         "per byte plus %d); nothing was applied",
                         (unsigned long long)max_scan, UPDATE_SCAN_PER_BYTE, UPDATE_SCAN_SLACK);
            else
                snprintf(msg, sizeof msg,
                         "the update is not a valid CRDT update: %s; nothing "
                         "was applied",
                         crdt_strerror(rc));
            engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id,
                                rc == CRDT_ECOST ? "too_costly" : "invalid", msg, NULL, 0);
            return;
        }
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
                /* The failed write is answered too (d may be gone now). */
                engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
                engine__reply_error(e, reply, req->doc, req->client, req->seq, req->request_id,
                                    "storage_error",
                                    "the whole-content write failed and the document had to be "
                                    "reloaded; retry",
                                    NULL, 0);
                return;
            }
            /* The content is valid UTF-8 (checked above): DOCUMENT_EINVAL
             * means the replica refused the server's own edits. */
            if (rc == DOCUMENT_EINVAL)
                refuse_replace(e, d, req, reply);
            else
                engine__reply_error(e, reply, d->id, req->client, req->seq, req->request_id,
                                    "internal", document_strerror(rc), NULL, 0);
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
    uint64_t ops = crdt_doc_mark(d->crdt);
    if (crdt_doc_byte_length(d->crdt) > e->o.doc_max_bytes || ops > doc_max_ops(e)) {
        int bytes = crdt_doc_byte_length(d->crdt) > e->o.doc_max_bytes;
        if (engine__doc_reload(d, 1) != 0) {
            engine__commit_fail(e, d, "storage_error", "the document had to be reloaded");
        }
        if (!bytes) {
            refuse_full(e, req, reply, ops);
            return;
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
    engine__doc_mark(d, p->version, crdt_doc_mark(d->crdt));
    p->ts_ms = clock_wall_ms();
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
        if (sn && !sn->owner[0])
            engine__copy_str(sn->owner, sizeof sn->owner, p->user);
    }
    e->st.applied++;
    engine__commit_flush(e, d);
}
