/* activity.c - the append-only, hash-chained activity log. */
#include "record.h"
#include "store_int.h"

#include <openssl/crypto.h>
#include <string.h>

/* Last entry of the log inside txn: offset 0 and zero hash when empty. */
static int activity_last(store *s, MDB_txn *txn, uint64_t *offset, uint8_t *hash)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->activity, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    int err = 0;
    if (rc == MDB_NOTFOUND) {
        *offset = 0;
        memset(hash, 0, STORE_HASH_LEN);
    } else if (rc) {
        err = store__err(rc, NULL);
    } else {
        struct store_activity e;
        err = record_key_offset_decode(k.mv_data, k.mv_size, offset);
        if (!err)
            err = record_activity_decode(v.mv_data, v.mv_size, &e);
        if (!err)
            memcpy(hash, e.hash, STORE_HASH_LEN);
    }
    mdb_cursor_close(c);
    return err;
}

int store__activity_apply(store *s, MDB_txn *txn, struct store__apply *ap,
                          const struct store_item *it, uint64_t *offset, int *mdb_rc)
{
    struct store_activity e = {.ts_ms = it->ts_ms, .payload = it->data, .len = it->len};
    /* Only this batch's entries follow the last one read: one lookup a batch. */
    if (!ap->act_known) {
        int err = activity_last(s, txn, &ap->act_last, ap->act_hash);
        if (err)
            return err;
        ap->act_known = 1;
    }
    if (ap->act_last == UINT64_MAX)
        return STORE_EFULL;
    memcpy(e.prev_hash, ap->act_hash, STORE_HASH_LEN);
    e.offset = ap->act_last + 1;
    int err = record_activity_hash(e.prev_hash, e.offset, e.ts_ms, e.payload, e.len, e.hash);
    if (err)
        return err;
    uint8_t kb[8];
    MDB_val k = {record_key_offset(kb, e.offset), kb};
    MDB_val v = {record_activity_size(e.len), NULL};
    int rc = mdb_put(txn, s->activity, &k, &v, MDB_RESERVE | MDB_APPEND);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    record_activity_encode(v.mv_data, &e);
    *offset = e.offset;
    ap->act_last = e.offset;
    memcpy(ap->act_hash, e.hash, STORE_HASH_LEN);
    return 0;
}

int store_activity_head(store_read *r, uint64_t *offset, uint8_t hash[STORE_HASH_LEN])
{
    if (!r || !offset || !hash)
        return STORE_EINVAL;
    return activity_last(r->s, r->txn, offset, hash);
}

/* Iterates entries with offset >= from, up to `to`, calling each(ctx, e,
 * key_ok). Stops on a non-zero return. */
typedef int (*entry_fn)(void *ctx, uint64_t key_offset, const MDB_val *v);

struct iter_ctx {
    uint64_t to;
    entry_fn each;
    void *ctx;
};

static int iter_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct iter_ctx *ic = ctx;
    uint64_t off;
    int err = record_key_offset_decode(k->mv_data, k->mv_size, &off);
    if (err)
        return err;
    if (off > ic->to)
        return 1;
    return ic->each(ic->ctx, off, v);
}

static int activity_iter(store_read *r, uint64_t from, uint64_t to, size_t limit, entry_fn each,
                         void *ctx)
{
    uint8_t kb[8];
    struct store__walk w = {.from = kb, .from_len = record_key_offset(kb, from), .limit = limit};
    struct iter_ctx ic = {to, each, ctx};
    return store__walk(r->txn, r->s->activity, &w, iter_each, &ic);
}

struct read_ctx {
    store_activity_fn fn;
    void *ctx;
};

static int read_each(void *ctx, uint64_t off, const MDB_val *v)
{
    struct read_ctx *rc = ctx;
    struct store_activity e;
    int err = record_activity_decode(v->mv_data, v->mv_size, &e);
    if (err)
        return err;
    e.offset = off;
    return rc->fn(rc->ctx, &e);
}

int store_activity_read(store_read *r, uint64_t after, size_t limit, store_activity_fn fn,
                        void *ctx)
{
    if (!r || !fn)
        return STORE_EINVAL;
    if (after == UINT64_MAX)
        return 0;
    struct read_ctx rc = {fn, ctx};
    return activity_iter(r, after + 1, UINT64_MAX, limit, read_each, &rc);
}

struct verify_ctx {
    uint64_t expect; /* next offset expected */
    uint8_t prev[STORE_HASH_LEN];
    uint64_t bad;
    int err;
};

static int verify_each(void *ctx, uint64_t off, const MDB_val *v)
{
    struct verify_ctx *vc = ctx;
    struct store_activity e;
    uint8_t h[STORE_HASH_LEN];
    if (off != vc->expect) {
        vc->bad = vc->expect;
        return STORE_ECORRUPT;
    }
    if (record_activity_decode(v->mv_data, v->mv_size, &e) != 0 ||
        CRYPTO_memcmp(e.prev_hash, vc->prev, STORE_HASH_LEN) != 0) {
        vc->bad = off;
        return STORE_ECORRUPT;
    }
    int err = record_activity_hash(e.prev_hash, off, e.ts_ms, e.payload, e.len, h);
    if (err) {
        vc->err = err;
        return err;
    }
    if (CRYPTO_memcmp(h, e.hash, STORE_HASH_LEN) != 0) {
        vc->bad = off;
        return STORE_ECORRUPT;
    }
    memcpy(vc->prev, h, STORE_HASH_LEN);
    vc->expect = off + 1;
    return 0;
}

int store_activity_verify(store_read *r, uint64_t from, uint64_t to,
                          const uint8_t *expect_head_hash, uint64_t *bad_offset)
{
    if (!r || !bad_offset)
        return STORE_EINVAL;
    *bad_offset = 0;
    if (from == 0)
        from = 1;
    struct verify_ctx vc = {.expect = from, .bad = 0, .err = 0};
    memset(vc.prev, 0, sizeof vc.prev);
    if (from > 1) {
        /* The entry before `from` is trusted for its hash. */
        uint8_t kb[8];
        MDB_val k = {record_key_offset(kb, from - 1), kb}, v;
        int rc = mdb_get(r->txn, r->s->activity, &k, &v);
        struct store_activity e;
        if (rc == MDB_NOTFOUND) {
            *bad_offset = from - 1;
            return STORE_ECORRUPT;
        }
        if (rc)
            return store__err(rc, NULL);
        if (record_activity_decode(v.mv_data, v.mv_size, &e) != 0) {
            *bad_offset = from - 1;
            return STORE_ECORRUPT;
        }
        memcpy(vc.prev, e.hash, STORE_HASH_LEN);
    }
    int err = activity_iter(r, from, to, 0, verify_each, &vc);
    if (err == STORE_ECORRUPT && vc.bad) {
        *bad_offset = vc.bad;
        return STORE_ECORRUPT;
    }
    if (err)
        return err;
    if (to != UINT64_MAX && vc.expect <= to && from <= to) {
        /* The range asked for runs past the stored entries. */
        uint64_t last;
        uint8_t h[STORE_HASH_LEN];
        err = activity_last(r->s, r->txn, &last, h);
        if (err)
            return err;
        if (last >= vc.expect) {
            *bad_offset = vc.expect;
            return STORE_ECORRUPT;
        }
    }
    if (expect_head_hash && CRYPTO_memcmp(expect_head_hash, vc.prev, STORE_HASH_LEN) != 0) {
        *bad_offset = vc.expect;
        return STORE_ECORRUPT;
    }
    return 0;
}

int store_activity_hash(const uint8_t prev_hash[STORE_HASH_LEN], uint64_t offset, uint64_t ts_ms,
                        const void *payload, size_t len, uint8_t out[STORE_HASH_LEN])
{
    if (!prev_hash || !out || (!payload && len))
        return STORE_EINVAL;
    return record_activity_hash(prev_hash, offset, ts_ms, (const uint8_t *)payload, len, out);
}
