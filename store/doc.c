/* doc.c - document records: metadata, head version, timestamps. */
#include "record.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

int store__doc_load(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                    struct store_doc_info *out)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_doc(kb, doc, doc_len), kb}, v;
    int rc = mdb_get(txn, s->docs, &k, &v);
    if (rc)
        return store__err(rc, NULL);
    return record_doc_decode(v.mv_data, v.mv_size, out);
}

int store__doc_load_owned(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                          struct store_doc_info *out, uint8_t **owned)
{
    *owned = NULL;
    int err = store__doc_load(s, txn, doc, doc_len, out);
    if (err || out->meta_len == 0)
        return err;
    /* LMDB values are valid only until the next update in the txn. */
    *owned = malloc(out->meta_len);
    if (!*owned)
        return STORE_ENOMEM;
    memcpy(*owned, out->meta, out->meta_len);
    out->meta = *owned;
    return 0;
}

int store__doc_save(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                    const struct store_doc_info *d, int *mdb_rc)
{
    /* Encode into a private buffer first: d->meta may point into the map,
     * at the very value this put replaces. */
    size_t n = record_doc_size(d->meta_len);
    uint8_t stackbuf[256];
    uint8_t *buf = n <= sizeof stackbuf ? stackbuf : malloc(n);
    if (!buf)
        return STORE_ENOMEM;
    record_doc_encode(buf, d);
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_doc(kb, doc, doc_len), kb}, v = {n, buf};
    int rc = mdb_put(txn, s->docs, &k, &v, 0);
    if (buf != stackbuf)
        free(buf);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return 0;
}

int store__doc_apply_put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    struct store_doc_info d;
    int err = store__doc_load(s, txn, it->doc, it->doc_len, &d);
    if (err == STORE_ENOTFOUND) {
        memset(&d, 0, sizeof d);
        d.created_ms = it->ts_ms;
    } else if (err) {
        return err;
    }
    d.updated_ms = it->ts_ms;
    d.meta = it->data;
    d.meta_len = it->len;
    return store__doc_save(s, txn, it->doc, it->doc_len, &d, mdb_rc);
}

int store__doc_apply_delete(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    size_t kn = record_key_doc(kb, it->doc, it->doc_len);
    MDB_val k = {kn, kb};
    int rc = mdb_del(txn, s->docs, &k, NULL);
    if (rc && rc != MDB_NOTFOUND) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    /* Every other table keys by str8 doc first: the prefix is the key. */
    MDB_dbi dbis[] = {s->ops, s->snaps, s->seqs, s->acl};
    for (size_t i = 0; i < 4; i++) {
        int err = store__delete_prefix(txn, dbis[i], kb, kn, mdb_rc);
        if (err)
            return err;
    }
    return store__acl_bump(s, txn, it->doc, it->doc_len, mdb_rc); /* its access list is gone too */
}

int store_doc_get(store_read *r, const char *doc, struct store_doc_info *out)
{
    int n = r && out ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    return store__doc_load(r->s, r->txn, doc, (size_t)n, out);
}

struct list_ctx {
    store_doc_fn fn;
    void *ctx;
};

static int list_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct list_ctx *lc = ctx;
    const char *id;
    size_t id_len;
    struct store_doc_info d;
    int err = record_key_doc_decode(k->mv_data, k->mv_size, &id, &id_len);
    if (!err)
        err = record_doc_decode(v->mv_data, v->mv_size, &d);
    if (err)
        return err;
    return lc->fn(lc->ctx, id, id_len, &d);
}

int store_doc_list(store_read *r, const char *after, size_t limit, store_doc_fn fn, void *ctx)
{
    if (!r || !fn)
        return STORE_EINVAL;
    uint8_t kb[RECORD_KEY_MAX];
    struct store__walk w = {.limit = limit};
    if (after && *after) {
        int n = store__doc_check(after);
        if (n < 0)
            return n;
        w.from = kb;
        w.from_len = record_key_doc(kb, after, (size_t)n);
        w.skip_from = 1;
    }
    struct list_ctx lc = {fn, ctx};
    return store__walk(r->txn, r->s->docs, &w, list_each, &lc);
}
