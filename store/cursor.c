/* cursor.c - cursor helpers shared by the tables: walking keys in order
 * (under a prefix), the (doc, version) keys of the op log and the
 * snapshots, and deleting every key under a prefix. */
#include "record.h"
#include "store_int.h"

#include <string.h>

int store__walk(MDB_txn *txn, MDB_dbi dbi, const struct store__walk *w, store__walk_fn fn,
                void *ctx)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val k = {w->from_len, (void *)w->from}, v;
    if (w->from) {
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && w->skip_from && k.mv_size == w->from_len &&
            memcmp(k.mv_data, w->from, w->from_len) == 0)
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    } else {
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    }
    int err = 0;
    size_t count = 0;
    while (rc == 0 && (w->limit == 0 || count < w->limit)) {
        if (w->prefix_len &&
            (k.mv_size <= w->prefix_len || memcmp(k.mv_data, w->from, w->prefix_len) != 0))
            break;
        int cr = fn(ctx, &k, &v);
        count++;
        if (cr) {
            err = cr < 0 ? cr : 0;
            break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (!err && rc && rc != MDB_NOTFOUND)
        err = store__err(rc, NULL);
    return err;
}

int store__key_is_docver(const MDB_val *k, const uint8_t *prefix, size_t plen, uint64_t *version)
{
    if (k->mv_size != plen + 8 || memcmp(k->mv_data, prefix, plen) != 0)
        return 0;
    *version = record_get_u64be((const uint8_t *)k->mv_data + plen);
    return 1;
}

int store__seek_docver_le(MDB_cursor *c, const char *doc, size_t doc_len, uint64_t at_most,
                          uint64_t *version, MDB_val *v)
{
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + doc_len;
    MDB_val k = {record_key_docver(kb, doc, doc_len, at_most), kb};
    uint8_t prefix[RECORD_KEY_MAX];
    memcpy(prefix, kb, plen);
    int rc = mdb_cursor_get(c, &k, v, MDB_SET_RANGE);
    if (rc == 0 && store__key_is_docver(&k, prefix, plen, version) && *version == at_most)
        return 0;
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(c, &k, v, MDB_LAST);
    else if (rc == 0)
        rc = mdb_cursor_get(c, &k, v, MDB_PREV);
    if (rc)
        return rc;
    if (!store__key_is_docver(&k, prefix, plen, version) || *version > at_most)
        return MDB_NOTFOUND;
    return 0;
}

int store__delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t len, int *mdb_rc)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    MDB_val k = {len, (void *)prefix}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= len && memcmp(k.mv_data, prefix, len) == 0) {
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        /* Re-seek rather than rely on cursor position after a delete. */
        k.mv_size = len;
        k.mv_data = (void *)prefix;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return 0;
}
