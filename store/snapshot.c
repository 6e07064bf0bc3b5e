/* snapshot.c - snapshots: putting one (which also applies op retention)
 * and reading the newest one at or below a version. */
#include "record.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

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
        if (rc || !store__key_is_docver(&k, kb, plen, &ver) || ver > to)
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
        return store__env_fail(rc, mdb_rc);
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
            return store__env_fail(rc, mdb_rc);
        uint64_t t = 0;
        MDB_val sv;
        rc = store__seek_docver_le(c, it->doc, it->doc_len, d.head - retain, &t, &sv);
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return store__env_fail(rc, mdb_rc);
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

int store__snapshot_apply_base(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    struct store_doc_info d;
    uint8_t *meta = NULL;
    int err = store__doc_load_owned(s, txn, it->doc, it->doc_len, &d, &meta);
    free(meta);
    if (err == 0)
        return STORE_ECONFLICT; /* the document exists: delete it first */
    if (err != STORE_ENOTFOUND)
        return err;
    memset(&d, 0, sizeof d);
    d.head = d.snapshot_version = d.trunc_version = it->version;
    d.created_ms = d.updated_ms = it->ts_ms;
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, it->version), kb};
    MDB_val v = {record_snap_size(it->len), NULL};
    int rc = mdb_put(txn, s->snaps, &k, &v, MDB_RESERVE);
    if (rc)
        return store__env_fail(rc, mdb_rc);
    record_snap_encode(v.mv_data, it->ts_ms, it->data, it->len);
    return store__doc_save(s, txn, it->doc, it->doc_len, &d, mdb_rc);
}

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
    rc = store__seek_docver_le(c, doc, (size_t)n, at_most, &ver, &v);
    int err = rc ? store__err(rc, NULL) : record_snap_decode(v.mv_data, v.mv_size, out);
    mdb_cursor_close(c);
    if (!err)
        out->version = ver;
    return err;
}
