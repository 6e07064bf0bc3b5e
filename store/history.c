/* history.c - channel history: the events published on a channel, each
 * under the channel's next offset, so that a client that was away can be
 * given exactly what it missed. Keyed (str8 channel, u64be offset), so a
 * channel's events are contiguous and in offset order; trimming deletes
 * from the oldest. */
#include "record.h"
#include "store_int.h"

#include <string.h>

/* [1][u64 ts_ms][u8 event_len][event][u8 user_len][user][u32 len][data] */
#define HISTORY_FIXED (1 + 8 + 1 + 1 + 4)

static int channel_check(const char *channel)
{
    return record_id_check(channel, STORE_HISTORY_CHANNEL_MAX, 0);
}

int store_batch_history_append(store_batch *b, const char *channel, uint64_t offset, uint64_t ts_ms,
                               const char *event, const char *user_id, const void *data, size_t len)
{
    int cn = b ? channel_check(channel) : STORE_EINVAL;
    int en = event ? record_id_check(event, STORE_HISTORY_EVENT_MAX, 0) : -1;
    int un = record_id_check(user_id ? user_id : "", STORE_USER_ID_MAX, 1);
    if (cn < 0 || en < 0 || un < 0 || offset == 0 || offset == UINT64_MAX ||
        len > STORE_HISTORY_DATA_MAX || (len && !data))
        return STORE_EINVAL;
    struct store_item *it;
    int err = store__batch_add(b, STORE_ITEM_HISTORY_PUT, channel, (size_t)cn, event, (size_t)en,
                               user_id ? user_id : "", (size_t)un, data, len, &it);
    if (!err) {
        it->version = offset;
        it->ts_ms = ts_ms;
    }
    return err;
}

int store_batch_history_trim(store_batch *b, const char *channel, uint64_t upto)
{
    int cn = b ? channel_check(channel) : STORE_EINVAL;
    if (cn < 0 || upto == 0)
        return STORE_EINVAL;
    struct store_item *it;
    int err = store__batch_add(b, STORE_ITEM_HISTORY_TRIM, channel, (size_t)cn, NULL, 0, NULL, 0,
                               NULL, 0, &it);
    if (!err)
        it->version = upto;
    return err;
}

static int put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, it->version), kb};
    MDB_val v = {HISTORY_FIXED + it->s2_len + it->s3_len + it->len, NULL};
    int rc = mdb_put(txn, s->history, &k, &v, MDB_RESERVE);
    if (rc)
        return store__env_fail(rc, mdb_rc);
    uint8_t *p = v.mv_data;
    p[0] = RECORD_FORMAT;
    record_put_u64le(p + 1, it->ts_ms);
    p += 9;
    *p++ = (uint8_t)it->s2_len;
    memcpy(p, it->s2, it->s2_len);
    p += it->s2_len;
    *p++ = (uint8_t)it->s3_len;
    memcpy(p, it->s3, it->s3_len);
    p += it->s3_len;
    record_put_u32le(p, (uint32_t)it->len);
    if (it->len)
        memcpy(p + 4, it->data, it->len);
    return 0;
}

/* Deletes the channel's entries with offsets <= it->version, oldest first. */
static int trim(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + it->doc_len;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->history, &c);
    if (rc)
        return store__env_fail(rc, mdb_rc);
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, 1), kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    uint64_t off;
    while (rc == 0 && store__key_is_docver(&k, kb, plen, &off) && off <= it->version) {
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        k.mv_size = record_key_docver(kb, it->doc, it->doc_len, 1);
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return store__env_fail(rc, mdb_rc);
    return 0;
}

int store_batch_history_delete(store_batch *b, const char *channel, uint64_t offset)
{
    int cn = b ? channel_check(channel) : STORE_EINVAL;
    if (cn < 0 || offset == 0 || offset == UINT64_MAX)
        return STORE_EINVAL;
    struct store_item *it;
    int err = store__batch_add(b, STORE_ITEM_HISTORY_DELETE, channel, (size_t)cn, NULL, 0, NULL, 0,
                               NULL, 0, &it);
    if (!err)
        it->version = offset;
    return err;
}

static int del_one(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, it->doc, it->doc_len, it->version), kb};
    int rc = mdb_del(txn, s->history, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return store__env_fail(rc, mdb_rc);
    return 0;
}

int store__history_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    if (it->type == STORE_ITEM_HISTORY_TRIM)
        return trim(s, txn, it, mdb_rc);
    if (it->type == STORE_ITEM_HISTORY_DELETE)
        return del_one(s, txn, it, mdb_rc);
    return put(s, txn, it, mdb_rc);
}

static int decode(const MDB_val *v, uint64_t offset, struct store_history_entry *out)
{
    const uint8_t *p = v->mv_data, *end = p + v->mv_size;
    if (v->mv_size < HISTORY_FIXED || p[0] != RECORD_FORMAT)
        return STORE_ECORRUPT;
    out->offset = offset;
    out->ts_ms = record_get_u64le(p + 1);
    p += 9;
    size_t el = *p++;
    if ((size_t)(end - p) < el + 1 + 4)
        return STORE_ECORRUPT;
    out->event = (const char *)p;
    out->event_len = el;
    p += el;
    size_t ul = *p++;
    if ((size_t)(end - p) < ul + 4)
        return STORE_ECORRUPT;
    out->user_id = (const char *)p;
    out->user_len = ul;
    p += ul;
    uint32_t len = record_get_u32le(p);
    p += 4;
    if ((size_t)(end - p) != len)
        return STORE_ECORRUPT;
    out->data = p;
    out->len = len;
    return 0;
}

struct read_ctx {
    const uint8_t *prefix;
    size_t plen;
    store_history_fn fn;
    void *ctx;
};

static int read_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct read_ctx *rc = ctx;
    uint64_t off;
    if (!store__key_is_docver(k, rc->prefix, rc->plen, &off))
        return 1;
    struct store_history_entry e;
    int err = decode(v, off, &e);
    return err ? err : rc->fn(rc->ctx, &e);
}

int store_history_read(store_read *r, const char *channel, uint64_t after, size_t limit,
                       store_history_fn fn, void *ctx)
{
    int cn = r && fn ? channel_check(channel) : STORE_EINVAL;
    if (cn < 0)
        return STORE_EINVAL;
    if (after == UINT64_MAX)
        return 0;
    uint8_t kb[RECORD_KEY_MAX];
    struct store__walk w = {.from = kb,
                            .from_len = record_key_docver(kb, channel, (size_t)cn, after + 1),
                            .prefix_len = 1 + (size_t)cn,
                            .limit = limit};
    struct read_ctx rc = {kb, 1 + (size_t)cn, fn, ctx};
    return store__walk(r->txn, r->s->history, &w, read_each, &rc);
}

int store_history_bounds(store_read *r, const char *channel, uint64_t *first, uint64_t *last)
{
    int cn = r && first && last ? channel_check(channel) : STORE_EINVAL;
    if (cn < 0)
        return STORE_EINVAL;
    *first = *last = 0;
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = 1 + (size_t)cn;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->history, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val k = {record_key_docver(kb, channel, (size_t)cn, 1), kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    uint64_t off;
    if (rc == 0 && store__key_is_docver(&k, kb, plen, &off)) {
        *first = off;
        /* the last: the newest key at or below (channel, UINT64_MAX) */
        k.mv_size = record_key_docver(kb, channel, (size_t)cn, UINT64_MAX);
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
        else if (rc == 0 && !store__key_is_docver(&k, kb, plen, &off))
            rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
        if (rc == 0 && store__key_is_docver(&k, kb, plen, &off))
            *last = off;
        else
            rc = rc ? rc : MDB_CORRUPTED;
    } else if (rc == MDB_NOTFOUND || rc == 0) {
        rc = 0;
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return store__err(rc, NULL);
    return 0;
}

int store_history_channels(store_read *r, const char *after, size_t limit,
                           int (*fn)(void *ctx, const char *channel, size_t len), void *ctx)
{
    if (!r || !after || !fn)
        return STORE_EINVAL;
    int an = after[0] ? channel_check(after) : 0;
    if (an < 0)
        return STORE_EINVAL;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->history, &c);
    if (rc)
        return store__err(rc, NULL);
    uint8_t kb[RECORD_KEY_MAX];
    char name[STORE_HISTORY_CHANNEL_MAX + 1];
    size_t n = 0;
    int out = 0;
    /* From past every key of `after` (no offset is UINT64_MAX), each
     * channel once: its first key, then a jump past its last. */
    MDB_val k = {record_key_docver(kb, after, (size_t)an, UINT64_MAX), kb}, v;
    rc = after[0] ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && (!limit || n < limit)) {
        const char *ch;
        size_t cl;
        uint64_t off;
        if (record_key_docver_decode(k.mv_data, k.mv_size, &ch, &cl, &off) != 0 ||
            cl > STORE_HISTORY_CHANNEL_MAX) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(name, ch, cl);
        name[cl] = '\0';
        int f = fn(ctx, name, cl);
        n++;
        if (f) {
            out = f < 0 ? f : 0;
            break;
        }
        k.mv_size = record_key_docver(kb, name, cl, UINT64_MAX);
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(c);
    if (rc && rc != MDB_NOTFOUND)
        return store__err(rc, NULL);
    return out;
}
