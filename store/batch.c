/* batch.c - write batches: building them, applying their items inside a
 * write transaction, and committing one batch synchronously. */
#include "record.h"
#include "store_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_ITEMS_MAX (1u << 20)

/* Items are carved from blocks that grow as the batch does (an item larger
 * than the next block gets one of its own): a batch of many small ops costs
 * a few allocations instead of one per item, and the writer thread, which
 * frees it, frees as few. */
#define BLOCK_FIRST 4096
#define BLOCK_MAX (64 * 1024)

struct block {
    struct block *next;
    size_t used, cap;
    max_align_t data[];
};

struct store_batch {
    struct store_item **items;
    size_t count, cap, bytes;
    uint64_t chain;       /* store_batch_set_chain; 0 = none */
    struct block *blocks; /* the newest first */
};

/* n bytes for an item, aligned as malloc's are; NULL without memory. */
static void *batch_alloc(store_batch *b, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    struct block *k = b->blocks;
    if (!k || k->cap - k->used < n) {
        size_t cap = k ? k->cap * 2 : BLOCK_FIRST;
        if (cap > BLOCK_MAX)
            cap = BLOCK_MAX;
        if (cap < n)
            cap = n;
        k = malloc(sizeof *k + cap);
        if (!k)
            return NULL;
        k->used = 0;
        k->cap = cap;
        k->next = b->blocks;
        b->blocks = k;
    }
    void *p = (char *)k->data + k->used;
    k->used += n;
    return p;
}

void store_batch_set_chain(store_batch *b, uint64_t chain)
{
    if (b)
        b->chain = chain;
}

uint64_t store__batch_chain(const store_batch *b)
{
    return b ? b->chain : 0;
}

int store_batch_new(store_batch **out)
{
    if (!out)
        return STORE_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? 0 : STORE_ENOMEM;
}

void store_batch_free(store_batch *b)
{
    if (!b)
        return;
    for (struct block *k = b->blocks, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    free(b->items);
    free(b);
}

size_t store_batch_count(const store_batch *b)
{
    return b ? b->count : 0;
}

size_t store_batch_bytes(const store_batch *b)
{
    return b ? b->bytes : 0;
}

/* Makes an item holding copies of doc, s2, s3 and data in one piece of
 * b's blocks and appends it to b. */
static int batch_add(store_batch *b, enum store_item_type type, const char *doc, size_t doc_len,
                     const char *s2, size_t s2_len, const char *s3, size_t s3_len, const void *data,
                     size_t len, struct store_item **out)
{
    if (b->count >= BATCH_ITEMS_MAX)
        return STORE_EINVAL;
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        struct store_item **items = realloc(b->items, cap * sizeof *items);
        if (!items)
            return STORE_ENOMEM;
        b->items = items;
        b->cap = cap;
    }
    size_t total = sizeof(struct store_item) + doc_len + 1 + s2_len + 1 + s3_len + 1 + len;
    struct store_item *it = batch_alloc(b, total);
    if (!it)
        return STORE_ENOMEM;
    memset(it, 0, sizeof *it);
    char *p = (char *)(it + 1);
    it->type = type;
    it->doc = p;
    it->doc_len = doc_len;
    if (doc_len)
        memcpy(p, doc, doc_len);
    p[doc_len] = 0;
    p += doc_len + 1;
    it->s2 = p;
    it->s2_len = s2_len;
    if (s2_len)
        memcpy(p, s2, s2_len);
    p[s2_len] = 0;
    p += s2_len + 1;
    it->s3 = p;
    it->s3_len = s3_len;
    if (s3_len)
        memcpy(p, s3, s3_len);
    p[s3_len] = 0;
    p += s3_len + 1;
    it->data = (uint8_t *)p;
    it->len = len;
    if (len)
        memcpy(p, data, len);
    b->items[b->count++] = it;
    b->bytes += total;
    *out = it;
    return 0;
}

int store_batch_op_append(store_batch *b, const char *doc, uint64_t version, const char *user,
                          const char *client, uint64_t seq, uint64_t ts_ms, const void *data,
                          size_t len)
{
    int dn = store__doc_check(doc);
    int un = record_id_check(user, STORE_USER_ID_MAX, 0);
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 1);
    if (!b || dn < 0 || un < 0 || cn < 0 || version == 0 || len > STORE_UPDATE_MAX ||
        (len && !data))
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_OP, doc, (size_t)dn, user, (size_t)un, client, (size_t)cn,
                        data, len, &it);
    if (err)
        return err;
    it->version = version;
    it->seq = seq;
    it->ts_ms = ts_ms;
    return 0;
}

int store_batch_doc_put(store_batch *b, const char *doc, const void *meta, size_t len,
                        uint64_t ts_ms)
{
    int dn = store__doc_check(doc);
    if (!b || dn < 0 || len > STORE_META_MAX || (len && !meta))
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_DOC_PUT, doc, (size_t)dn, NULL, 0, NULL, 0, meta, len, &it);
    if (!err)
        it->ts_ms = ts_ms;
    return err;
}

int store_batch_doc_base(store_batch *b, const char *doc, uint64_t version, uint64_t ts_ms,
                         const void *data, size_t len)
{
    int dn = store__doc_check(doc);
    if (!b || dn < 0 || version == 0 || version == UINT64_MAX || len > STORE_SNAPSHOT_MAX ||
        (len && !data))
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_DOC_BASE, doc, (size_t)dn, NULL, 0, NULL, 0, data, len, &it);
    if (!err) {
        it->version = version;
        it->ts_ms = ts_ms;
    }
    return err;
}

int store_batch_seq_put(store_batch *b, const char *doc, const char *client, uint64_t seq,
                        uint64_t version, const char *owner)
{
    int dn = store__doc_check(doc);
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 0);
    int on = owner && *owner ? record_id_check(owner, STORE_USER_ID_MAX, 0) : 0;
    if (!b || dn < 0 || cn < 0 || on < 0)
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_SEQ_PUT, doc, (size_t)dn, owner, (size_t)on, client,
                        (size_t)cn, NULL, 0, &it);
    if (!err) {
        it->seq = seq;
        it->version = version;
    }
    return err;
}

int store_batch_doc_delete(store_batch *b, const char *doc)
{
    int dn = store__doc_check(doc);
    if (!b || dn < 0)
        return STORE_EINVAL;
    struct store_item *it;
    return batch_add(b, STORE_ITEM_DOC_DELETE, doc, (size_t)dn, NULL, 0, NULL, 0, NULL, 0, &it);
}

int store_batch_snapshot_put(store_batch *b, const char *doc, uint64_t version, uint64_t ts_ms,
                             const void *data, size_t len)
{
    int dn = store__doc_check(doc);
    if (!b || dn < 0 || version == 0 || len > STORE_SNAPSHOT_MAX || (len && !data))
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_SNAPSHOT, doc, (size_t)dn, NULL, 0, NULL, 0, data, len, &it);
    if (!err) {
        it->version = version;
        it->ts_ms = ts_ms;
    }
    return err;
}

static int batch_acl(store_batch *b, enum store_item_type type, const char *doc, const char *user,
                     enum store_role role)
{
    int dn = store__doc_check(doc);
    int un = record_id_check(user, STORE_USER_ID_MAX, 0);
    if (!b || dn < 0 || un < 0 || (int)role < STORE_ROLE_NONE || role > STORE_ROLE_OWNER)
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, type, doc, (size_t)dn, user, (size_t)un, NULL, 0, NULL, 0, &it);
    if (!err)
        it->role = (int)role;
    return err;
}

int store_batch_acl_put(store_batch *b, const char *doc, const char *user, enum store_role role)
{
    return batch_acl(b, STORE_ITEM_ACL_PUT, doc, user, role);
}

int store_batch_acl_delete(store_batch *b, const char *doc, const char *user)
{
    return batch_acl(b, STORE_ITEM_ACL_DELETE, doc, user, STORE_ROLE_NONE);
}

int store_batch_activity_append(store_batch *b, uint64_t ts_ms, const void *payload, size_t len)
{
    if (!b || len > STORE_ACTIVITY_MAX || (len && !payload))
        return STORE_EINVAL;
    struct store_item *it;
    int err = batch_add(b, STORE_ITEM_ACTIVITY, NULL, 0, NULL, 0, NULL, 0, payload, len, &it);
    if (!err)
        it->ts_ms = ts_ms;
    return err;
}

int store__batch_add(store_batch *b, enum store_item_type type, const char *doc, size_t doc_len,
                     const char *s2, size_t s2_len, const char *s3, size_t s3_len, const void *data,
                     size_t len, struct store_item **out)
{
    return batch_add(b, type, doc, doc_len, s2, s2_len, s3, s3_len, data, len, out);
}

int store__batch_add_data(store_batch *b, enum store_item_type type, const void *data, size_t len,
                          struct store_item **out)
{
    return batch_add(b, type, NULL, 0, NULL, 0, NULL, 0, data, len, out);
}

int store_batch_epoch_renew(store_batch *b)
{
    if (!b)
        return STORE_EINVAL;
    struct store_item *it;
    return batch_add(b, STORE_ITEM_EPOCH, NULL, 0, NULL, 0, NULL, 0, NULL, 0, &it);
}

/* ---------------------------------------------------------------- apply */

int store__batch_apply(store *s, MDB_txn *txn, const store_batch *b, struct store_batch_result *res,
                       int *mdb_rc)
{
    memset(res, 0, sizeof *res);
    res->failed_item = UINT32_MAX;
    *mdb_rc = 0;
    struct store__apply ap = {0};
    size_t last_op = 0;
    for (size_t i = 0; i <= b->count; i++) {
        const struct store_item *it = i < b->count ? b->items[i] : NULL;
        int err = 0;
        uint64_t off = 0;
        /* A run of ops ends before any other item than theirs, and at the end. */
        if (!it || (it->type != STORE_ITEM_OP && it->type != STORE_ITEM_ACTIVITY)) {
            if ((err = store__oplog_run_end(s, txn, &ap, mdb_rc)) != 0) {
                res->failed_item = (uint32_t)last_op;
                return *mdb_rc ? store__err(*mdb_rc, s->dir) : err;
            }
            if (!it)
                break;
        }
        switch (it->type) {
        case STORE_ITEM_OP:
            last_op = i;
            err = store__oplog_apply(s, txn, &ap, it, mdb_rc);
            break;
        case STORE_ITEM_DOC_PUT:
            err = store__doc_apply_put(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_DOC_DELETE:
            err = store__doc_apply_delete(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_SNAPSHOT:
            err = store__snapshot_apply(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_ACL_PUT:
        case STORE_ITEM_ACL_DELETE:
            err = store__acl_apply(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_ACTIVITY:
            err = store__activity_apply(s, txn, &ap, it, &off, mdb_rc);
            if (!err) {
                if (!res->activity_first)
                    res->activity_first = off;
                res->activity_count++;
            }
            break;
        case STORE_ITEM_EPOCH:
            err = store__epoch_apply_renew(s, txn, mdb_rc);
            break;
        case STORE_ITEM_OUTBOX_PUT:
        case STORE_ITEM_OUTBOX_DELETE:
            err = store__outbox_apply(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_HISTORY_PUT:
        case STORE_ITEM_HISTORY_TRIM:
        case STORE_ITEM_HISTORY_DELETE:
            err = store__history_apply(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_DOC_BASE:
            err = store__snapshot_apply_base(s, txn, it, mdb_rc);
            break;
        case STORE_ITEM_SEQ_PUT:
            err = store__seq_apply_put(s, txn, it, mdb_rc);
            break;
        }
        if (err) {
            store__oplog_run_drop(&ap);
            res->failed_item = (uint32_t)i;
            if (*mdb_rc)
                return store__err(*mdb_rc, s->dir);
            return err;
        }
    }
    return 0;
}

int store__batch_commit_locked(store *s, const store_batch *b, struct store_batch_result *res)
{
    int err, reopened = 0;
    for (;;) {
        MDB_txn *txn;
        int mdb_rc = 0;
        int rc = store__write_begin(s, &txn);
        if (rc) {
            mdb_rc = rc;
            err = store__err(rc, s->dir);
            res->failed_item = UINT32_MAX;
        } else if ((err = store__batch_apply(s, txn, b, res, &mdb_rc)) != 0) {
            mdb_txn_abort(txn);
        } else {
            mdb_rc = mdb_txn_commit(txn);
            if (mdb_rc) {
                err = store__err(mdb_rc, s->dir);
                res->failed_item = UINT32_MAX;
            }
        }
        /* A full map grows (up to map_size_max) and the batch is retried. */
        if (err == STORE_EFULL && mdb_rc == MDB_MAP_FULL && store__grow_locked(s) == 0)
            continue;
        /* After a failed meta-page write LMDB refuses every transaction:
         * reopen the environment (it reads the last good meta) once. */
        if (err == STORE_EPANIC && !reopened) {
            reopened = 1;
            if (store__reopen_locked(s) == 0)
                continue;
        }
        break;
    }
    if (err) {
        res->activity_first = 0;
        res->activity_count = 0;
    }
    return err;
}

int store_batch_commit(store *s, store_batch *b, struct store_batch_result *res)
{
    struct store_batch_result tmp;
    if (!res)
        res = &tmp;
    memset(res, 0, sizeof *res);
    res->failed_item = UINT32_MAX;
    if (!s || !b)
        return STORE_EINVAL;
    pthread_mutex_lock(&s->write_mu);
    int err = store__batch_commit_locked(s, b, res);
    pthread_mutex_unlock(&s->write_mu);
    return err;
}
