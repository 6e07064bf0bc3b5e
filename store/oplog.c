/* oplog.c - the op log, snapshots, the sequence index, retention and
 * catch-up. */
#include "record.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* Whether key k is (str8 doc, u64be v) for this doc; sets *version. */
static int key_is_doc_ver(const MDB_val *k, const uint8_t *prefix, size_t plen, uint64_t *version)
{
    if (k->mv_size != plen + 8 || memcmp(k->mv_data, prefix, plen) != 0)
        return 0;
    *version = record_get_u64be((const uint8_t *)k->mv_data + plen);
    return 1;
}

/* Positions c on the newest (doc, version) key with version <= at_most.
 * Returns 0 with *version and v set, MDB_NOTFOUND, or an LMDB error. */
static int seek_le(MDB_cursor *c, const char *doc, size_t doc_len, uint64_t at_most,
                   uint64_t *version, MDB_val *v)
{
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + doc_len;
    MDB_val k = {record_key_docver(kb, doc, doc_len, at_most), kb};
    uint8_t prefix[RECORD_KEY_MAX];
    memcpy(prefix, kb, plen);
    int rc = mdb_cursor_get(c, &k, v, MDB_SET_RANGE);
    if (rc == 0 && key_is_doc_ver(&k, prefix, plen, version) && *version == at_most)
        return 0;
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, v, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(c, &k, v, MDB_PREV);
    if (rc)
        return rc;
    if (!key_is_doc_ver(&k, prefix, plen, version) || *version > at_most)
        return MDB_NOTFOUND;
    return 0;
}

/* Deletes keys (doc, v) of dbi with from <= v <= to. */
static int delete_range(MDB_txn *txn, MDB_dbi dbi, const char *doc, size_t doc_len, uint64_t from,
                        uint64_t to, int *mdb_rc)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + doc_len;
    size_t kn = record_key_docver(kb, doc, doc_len, from);
    for (;;) {
        MDB_val k = {kn, kb}, v;
        uint64_t ver;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc || !key_is_doc_ver(&k, kb, plen, &ver) || ver > to)
            break;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return 0;
}

static int put_fail(int rc, int *mdb_rc)
{
    *mdb_rc = rc;
    return STORE_EIO;
}

static int append_op(store *s, MDB_txn *txn, const struct store_item *it, struct store_doc_info *d,
                     int *mdb_rc);

int store__oplog_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    struct store_doc_info d;
    uint8_t *meta = NULL;
    int err = store__doc_load_owned(s, txn, it->doc, it->doc_len, &d, &meta);
    if (err == STORE_ENOTFOUND) {
        memset(&d, 0, sizeof d);
        d.created_ms = it->ts_ms;
        err = 0;
    }
    if (!err)
        err = append_op(s, txn, it, &d, mdb_rc);
    free(meta);
    return err;
}

/* The append proper; d->meta is owned by the caller (see store__doc_load_owned). */
static int append_op(store *s, MDB_txn *txn, const struct store_item *it, struct store_doc_info *dp,
                     int *mdb_rc)
{
    struct store_doc_info d = *dp;
    if (d.head == UINT64_MAX || it->version != d.head + 1)
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
        return put_fail(rc, mdb_rc);
    record_op_encode(v.mv_data, &op);

    if (it->s3_len) {
        MDB_val sk = {record_key_docstr(kb, it->doc, it->doc_len, it->s3, it->s3_len), kb}, sv;
        uint64_t old_seq = 0, old_ver = 0;
        rc = mdb_get(txn, s->seqs, &sk, &sv);
        if (rc == 0 && record_seq_decode(sv.mv_data, sv.mv_size, &old_seq, &old_ver) != 0)
            return STORE_ECORRUPT;
        if (rc && rc != MDB_NOTFOUND)
            return put_fail(rc, mdb_rc);
        if (rc == MDB_NOTFOUND || it->seq > old_seq) {
            uint8_t vb[RECORD_SEQ_SIZE];
            record_seq_encode(vb, it->seq, it->version);
            sv.mv_size = sizeof vb;
            sv.mv_data = vb;
            rc = mdb_put(txn, s->seqs, &sk, &sv, 0);
            if (rc)
                return put_fail(rc, mdb_rc);
        }
    }
    d.head = it->version;
    d.updated_ms = it->ts_ms;
    return store__doc_save(s, txn, it->doc, it->doc_len, &d, mdb_rc);
}

static int put_snapshot(store *s, MDB_txn *txn, const struct store_item *it,
                        struct store_doc_info *d, int *mdb_rc);

int store__snapshot_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    struct store_doc_info d;
    uint8_t *meta = NULL;
    int err = store__doc_load_owned(s, txn, it->doc, it->doc_len, &d, &meta);
    if (err == STORE_ENOTFOUND)
        err = STORE_ECONFLICT;
    if (!err)
        err = put_snapshot(s, txn, it, &d, mdb_rc);
    free(meta);
    return err;
}

static int put_snapshot(store *s, MDB_txn *txn, const struct store_item *it,
                        struct store_doc_info *dp, int *mdb_rc)
{
    struct store_doc_info d = *dp;
    int err;
    if (it->version == 0 || it->version > d.head || it->version < d.trunc_version)
        return STORE_ECONFLICT;
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, it->version), kb};
    MDB_val v = {record_snap_size(it->len), NULL};
    int rc = mdb_put(txn, s->snaps, &k, &v, MDB_RESERVE);
    if (rc)
        return put_fail(rc, mdb_rc);
    record_snap_encode(v.mv_data, it->ts_ms, it->data, it->len);
    if (it->version > d.snapshot_version)
        d.snapshot_version = it->version;

    uint64_t retain = s->opt.retain_ops;
    if (retain > 0 && d.head > retain) {
        /* T: the newest snapshot at or below head - retain. Ops up to T and
         * older snapshots are no longer needed to rebuild any version from
         * T on. */
        MDB_cursor *c;
        rc = mdb_cursor_open(txn, s->snaps, &c);
        if (rc)
            return put_fail(rc, mdb_rc);
        uint64_t t = 0;
        MDB_val sv;
        rc = seek_le(c, it->doc, it->doc_len, d.head - retain, &t, &sv);
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return put_fail(rc, mdb_rc);
        if (rc == 0 && t > d.trunc_version) {
            err = delete_range(txn, s->ops, it->doc, it->doc_len, d.trunc_version + 1, t, mdb_rc);
            if (!err && t > 1)
                err = delete_range(txn, s->snaps, it->doc, it->doc_len, 0, t - 1, mdb_rc);
            if (err)
                return err;
            d.trunc_version = t;
        }
    }
    return store__doc_save(s, txn, it->doc, it->doc_len, &d, mdb_rc);
}

/* ---------------------------------------------------------------- reads */

int store_snapshot_get(store_read *r, const char *doc, uint64_t at_most, struct store_snapshot *out)
{
    int n = r && out ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->snaps, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val v;
    uint64_t ver;
    rc = seek_le(c, doc, (size_t)n, at_most, &ver, &v);
    int err = rc ? store__err(rc, NULL) : record_snap_decode(v.mv_data, v.mv_size, out);
    mdb_cursor_close(c);
    if (!err)
        out->version = ver;
    return err;
}

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

static int ops_iter(store_read *r, const char *doc, size_t doc_len, uint64_t after, uint64_t upto,
                    size_t limit, store_op_fn fn, void *ctx, uint64_t *next_version)
{
    uint64_t next = after == UINT64_MAX ? after : after + 1;
    if (next_version)
        *next_version = next;
    if (after == UINT64_MAX || upto <= after)
        return 0;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->ops, &c);
    if (rc)
        return store__err(rc, NULL);
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + doc_len;
    MDB_val k = {record_key_docver(kb, doc, doc_len, after + 1), kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    int err = 0;
    size_t count = 0;
    while (rc == 0 && (limit == 0 || count < limit)) {
        struct store_op op;
        if (!key_is_doc_ver(&k, kb, plen, &op.version) || op.version > upto)
            break;
        err = record_op_decode(v.mv_data, v.mv_size, &op);
        if (err)
            break;
        count++;
        next = op.version == UINT64_MAX ? op.version : op.version + 1;
        int cr = fn(ctx, &op);
        if (cr) {
            err = cr < 0 ? cr : 0;
            break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (!err && rc && rc != MDB_NOTFOUND)
        err = store__err(rc, NULL);
    if (next_version)
        *next_version = next;
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

int store_seq_get(store_read *r, const char *doc, const char *client, uint64_t *seq,
                  uint64_t *version)
{
    int n = r && seq && version ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 0);
    if (cn < 0)
        return STORE_EINVAL;
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docstr(kb, doc, (size_t)n, client, (size_t)cn), kb}, v;
    int rc = mdb_get(r->txn, r->s->seqs, &k, &v);
    if (rc)
        return store__err(rc, NULL);
    return record_seq_decode(v.mv_data, v.mv_size, seq, version);
}

int store_seq_find(store_read *r, const char *doc, const char *client, uint64_t seq,
                   size_t max_scan, uint64_t *version)
{
    int n = r && version ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 0);
    if (cn < 0)
        return STORE_EINVAL;
    if (max_scan == 0)
        max_scan = 1000;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->ops, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val k, v;
    uint64_t ver;
    int err = STORE_ENOTFOUND;
    rc = seek_le(c, doc, (size_t)n, UINT64_MAX, &ver, &v);
    uint8_t prefix[RECORD_KEY_MAX];
    size_t plen = record_key_doc(prefix, doc, (size_t)n);
    for (size_t i = 0; rc == 0 && i < max_scan; i++) {
        struct store_op op;
        if (record_op_decode(v.mv_data, v.mv_size, &op) != 0) {
            err = STORE_ECORRUPT;
            break;
        }
        if (op.client_len == (size_t)cn && memcmp(op.client, client, (size_t)cn) == 0) {
            if (op.seq == seq) {
                *version = ver;
                err = 0;
                break;
            }
            if (op.seq < seq) /* a client's sequences grow with versions */
                break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
        if (rc == 0 && !key_is_doc_ver(&k, prefix, plen, &ver))
            break;
    }
    mdb_cursor_close(c);
    if (err == STORE_ENOTFOUND && rc && rc != MDB_NOTFOUND)
        err = store__err(rc, NULL);
    return err;
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
