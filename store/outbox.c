/* outbox.c - the outbox: opaque messages a caller must deliver somewhere
 * (the webhook module's requests), recorded before the first attempt and
 * deleted once delivered, so that they survive a crash. Keyed by an id the
 * caller chooses (u64be, so ids come back in numeric order). */
#include "record.h"
#include "store_int.h"

#include <string.h>

#define OUTBOX_HEAD (1 + 8 + 4) /* [1][u64 created_ms][u32 len] */

int store_batch_outbox_put(store_batch *b, uint64_t id, uint64_t created_ms, const void *data,
                           size_t len)
{
    if (!b || id == 0 || len > STORE_OUTBOX_MAX || (len && !data))
        return STORE_EINVAL;
    struct store_item *it;
    int err = store__batch_add_data(b, STORE_ITEM_OUTBOX_PUT, data, len, &it);
    if (!err) {
        it->version = id;
        it->ts_ms = created_ms;
    }
    return err;
}

int store_batch_outbox_delete(store_batch *b, uint64_t id)
{
    if (!b || id == 0)
        return STORE_EINVAL;
    struct store_item *it;
    int err = store__batch_add_data(b, STORE_ITEM_OUTBOX_DELETE, NULL, 0, &it);
    if (!err)
        it->version = id;
    return err;
}

int store__outbox_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[8];
    MDB_val k = {record_key_offset(kb, it->version), kb};
    int rc;
    if (it->type == STORE_ITEM_OUTBOX_DELETE) {
        rc = mdb_del(txn, s->outbox, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    } else {
        MDB_val v = {OUTBOX_HEAD + it->len, NULL};
        rc = mdb_put(txn, s->outbox, &k, &v, MDB_RESERVE);
        if (rc == 0) {
            uint8_t *p = v.mv_data;
            p[0] = RECORD_FORMAT;
            record_put_u64le(p + 1, it->ts_ms);
            record_put_u32le(p + 9, (uint32_t)it->len);
            if (it->len)
                memcpy(p + OUTBOX_HEAD, it->data, it->len);
        }
    }
    if (rc)
        return store__env_fail(rc, mdb_rc);
    return 0;
}

static int outbox_decode(const MDB_val *k, const MDB_val *v, struct store_outbox_entry *out)
{
    const uint8_t *p = v->mv_data;
    if (k->mv_size != 8 || v->mv_size < OUTBOX_HEAD || p[0] != RECORD_FORMAT)
        return STORE_ECORRUPT;
    uint32_t len = record_get_u32le(p + 9);
    if ((size_t)len != v->mv_size - OUTBOX_HEAD)
        return STORE_ECORRUPT;
    out->id = record_get_u64be(k->mv_data);
    out->created_ms = record_get_u64le(p + 1);
    out->data = p + OUTBOX_HEAD;
    out->len = len;
    return 0;
}

int store_outbox_get(store_read *r, uint64_t id, struct store_outbox_entry *out)
{
    if (!r || !out || id == 0)
        return STORE_EINVAL;
    uint8_t kb[8];
    MDB_val k = {record_key_offset(kb, id), kb}, v;
    int rc = mdb_get(r->txn, r->s->outbox, &k, &v);
    if (rc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (rc)
        return store__err(rc, NULL);
    return outbox_decode(&k, &v, out);
}

struct outbox_list_ctx {
    store_outbox_fn fn;
    void *ctx;
};

static int outbox_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct outbox_list_ctx *lc = ctx;
    struct store_outbox_entry e;
    int err = outbox_decode(k, v, &e);
    return err ? err : lc->fn(lc->ctx, &e);
}

int store_outbox_list(store_read *r, uint64_t after, size_t limit, store_outbox_fn fn, void *ctx)
{
    if (!r || !fn)
        return STORE_EINVAL;
    uint8_t kb[8];
    struct store__walk w = {.limit = limit};
    if (after) {
        w.from = kb;
        w.from_len = record_key_offset(kb, after);
        w.skip_from = 1;
    }
    struct outbox_list_ctx lc = {fn, ctx};
    return store__walk(r->txn, r->s->outbox, &w, outbox_each, &lc);
}

int store_outbox_count(store_read *r, uint64_t *out)
{
    if (!r || !out)
        return STORE_EINVAL;
    MDB_stat st;
    int rc = mdb_stat(r->txn, r->s->outbox, &st);
    if (rc)
        return store__err(rc, NULL);
    *out = st.ms_entries;
    return 0;
}
