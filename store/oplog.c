/* oplog.c - the op log: appending ops, reading them back, and catch-up
 * (a snapshot and the ops after it, or the ops after a client's version). */
#include "record.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static int same_doc(const struct store_item *a, const struct store_item *b)
{
    return a->doc_len == b->doc_len && memcmp(a->doc, b->doc, a->doc_len) == 0;
}

int store__oplog_apply(store *s, MDB_txn *txn, struct store__apply *ap, const struct store_item *it,
                       int *mdb_rc)
{
    int err;
    if (ap->run && !same_doc(ap->run, it) && (err = store__oplog_run_end(s, txn, ap, mdb_rc)) != 0)
        return err;
    if (!ap->run) {
        err = store__doc_load_owned(s, txn, it->doc, it->doc_len, &ap->doc, &ap->meta);
        if (err == STORE_ENOTFOUND) {
            memset(&ap->doc, 0, sizeof ap->doc);
            ap->doc.created_ms = it->ts_ms;
        } else if (err) {
            return err;
        }
        ap->run = it;
    }
    struct store_doc_info *d = &ap->doc;
    if (d->head == UINT64_MAX || it->version != d->head + 1)
        return STORE_ECONFLICT;

    struct store_op op = {.version = it->version,
                          .ts_ms = it->ts_ms,
                          .seq = it->seq,
                          .user = it->s2,
                          .user_len = it->s2_len,
                          .client = it->s3,
                          .client_len = it->s3_len,
                          .data = it->data,
                          .len = it->len};
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, it->version), kb};
    MDB_val v = {record_op_size(op.user_len, op.client_len, op.len), NULL};
    int rc = mdb_put(txn, s->ops, &k, &v, MDB_RESERVE | MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST)
        return STORE_ECORRUPT; /* an op beyond head: the log is inconsistent */
    if (rc)
        return store__env_fail(rc, mdb_rc);
    record_op_encode(v.mv_data, &op);

    if (it->s3_len && (err = store__seq_run_note(s, txn, ap, it, mdb_rc)) != 0)
        return err;
    d->head = it->version;
    d->updated_ms = it->ts_ms;
    return 0;
}

int store__oplog_run_end(store *s, MDB_txn *txn, struct store__apply *ap, int *mdb_rc)
{
    if (!ap->run)
        return 0;
    int err = store__seq_run_flush(s, txn, ap, mdb_rc);
    if (!err)
        err = store__doc_save(s, txn, ap->run->doc, ap->run->doc_len, &ap->doc, mdb_rc);
    store__oplog_run_drop(ap);
    return err;
}

void store__oplog_run_drop(struct store__apply *ap)
{
    free(ap->meta);
    ap->meta = NULL;
    ap->run = NULL;
    ap->seq = NULL;
}

/* ---------------------------------------------------------------- reads */

int store_op_get(store_read *r, const char *doc, uint64_t version, struct store_op *out)
{
    int n = r && out ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, doc, (size_t)n, version), kb}, v;
    int rc = mdb_get(r->txn, r->s->ops, &k, &v);
    if (rc)
        return store__err(rc, NULL);
    int err = record_op_decode(v.mv_data, v.mv_size, out);
    out->version = version;
    return err;
}

struct iter_ctx {
    const uint8_t *prefix; /* str8 doc */
    size_t plen;
    uint64_t upto, next;
    store_op_fn fn;
    void *ctx;
};

static int iter_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct iter_ctx *ic = ctx;
    struct store_op op;
    if (!store__key_is_docver(k, ic->prefix, ic->plen, &op.version) || op.version > ic->upto)
        return 1;
    int err = record_op_decode(v->mv_data, v->mv_size, &op);
    if (err)
        return err;
    ic->next = op.version == UINT64_MAX ? op.version : op.version + 1;
    return ic->fn(ic->ctx, &op);
}

static int ops_iter(store_read *r, const char *doc, size_t doc_len, uint64_t after, uint64_t upto,
                    size_t limit, store_op_fn fn, void *ctx, uint64_t *next_version)
{
    uint64_t next = after == UINT64_MAX ? after : after + 1;
    if (next_version)
        *next_version = next;
    if (after == UINT64_MAX || upto <= after)
        return 0;
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + doc_len;
    struct store__walk w = {.from = kb,
                            .from_len = record_key_docver(kb, doc, doc_len, after + 1),
                            .prefix_len = plen,
                            .limit = limit};
    struct iter_ctx ic = {kb, plen, upto, next, fn, ctx};
    int err = store__walk(r->txn, r->s->ops, &w, iter_each, &ic);
    if (next_version)
        *next_version = ic.next;
    return err;
}

int store_ops_after(store_read *r, const char *doc, uint64_t after, uint64_t upto, size_t limit,
                    store_op_fn fn, void *ctx, uint64_t *next_version)
{
    int n = r && fn ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    return ops_iter(r, doc, (size_t)n, after, upto, limit, fn, ctx, next_version);
}

int store_catchup(store_read *r, const char *doc, const struct store_epoch *epoch, uint64_t version,
                  size_t limit, store_op_fn fn, void *ctx, struct store_catchup *out)
{
    int n = r && epoch && fn && out ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    memset(out, 0, sizeof *out);
    struct store_epoch cur;
    int err = store__read_epoch(r, &cur);
    if (err)
        return err;
    int same_epoch = memcmp(cur.bytes, epoch->bytes, STORE_EPOCH_LEN) == 0;
    struct store_doc_info d;
    err = store__doc_load(r->s, r->txn, doc, (size_t)n, &d);
    if (err == STORE_ENOTFOUND) {
        memset(&d, 0, sizeof d);
    } else if (err) {
        return err;
    }
    out->head = d.head;
    uint64_t from;
    if (same_epoch && version >= d.trunc_version && version <= d.head) {
        out->replay = 1;
        from = version;
    } else {
        err = store_snapshot_get(r, doc, UINT64_MAX, &out->snapshot);
        if (err == STORE_ENOTFOUND) {
            if (d.trunc_version != 0)
                return STORE_ECORRUPT; /* ops dropped without a snapshot */
            memset(&out->snapshot, 0, sizeof out->snapshot);
        } else if (err) {
            return err;
        }
        from = out->snapshot.version;
    }
    err = ops_iter(r, doc, (size_t)n, from, d.head, limit, fn, ctx, &out->next_version);
    if (err)
        return err;
    out->more = out->next_version <= d.head;
    return 0;
}
