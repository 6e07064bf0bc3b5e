/* Corrupt records on disk (edited behind the store's back with raw LMDB)
 * come back as STORE_ECORRUPT / STORE_EFORMAT, never as a crash or as
 * garbage. */
#include "raw_lmdb.h"
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>

static void raw_edit(const char *dir, const char *db, const void *key, size_t klen,
                     void (*edit)(uint8_t *buf, size_t *len))
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    raw_open(dir, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key}, v;
    CHECK_EQ(mdb_get(txn, dbi, &k, &v), 0);
    uint8_t buf[512];
    size_t len = v.mv_size < sizeof buf ? v.mv_size : sizeof buf;
    memcpy(buf, v.mv_data, len);
    edit(buf, &len);
    v.mv_size = len;
    v.mv_data = buf;
    CHECK_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    raw_close(env, txn);
}

static void bump_format(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[0] = 9;
}

static void cut_one(uint8_t *buf, size_t *len)
{
    (void)buf;
    (*len)--;
}

static void set_store_format_3(uint8_t *buf, size_t *len)
{
    (void)len;
    buf[1] = 3;
}

static int count_op(void *ctx, const struct store_op *op)
{
    (void)op;
    (*(int *)ctx)++;
    return 0;
}

static void op_key(uint8_t *k, const char *doc, uint64_t v, size_t *klen)
{
    size_t n = strlen(doc);
    k[0] = (uint8_t)n;
    memcpy(k + 1, doc, n);
    for (int i = 0; i < 8; i++)
        k[1 + n + 7 - i] = (uint8_t)(v >> (8 * i));
    *klen = 1 + n + 8;
}

int main(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-corrupt");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    for (uint64_t v = 1; v <= 3; v++)
        CHECK_EQ(store_batch_op_append(b, "doc", v, "u", "c", v, v, "data", 4), 0);
    CHECK_EQ(store_batch_op_append(b, "other", 1, "u", "c", 1, 1, "data", 4), 0);
    CHECK_EQ(store_batch_acl_put(b, "doc", "alice", STORE_ROLE_OWNER), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    store_close(s);

    uint8_t k[64];
    size_t klen;
    op_key(k, "doc", 2, &klen);
    raw_edit(dir, "ops", k, klen, bump_format);
    raw_edit(dir, "docs", "\x05other", 6, cut_one);
    raw_edit(dir, "acl",
             "\x03"
             "docalice",
             9, cut_one);

    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_read *r;
    struct store_op op;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_op_get(r, "doc", 1, &op), 0);
    CHECK_EQ(store_op_get(r, "doc", 2, &op), STORE_ECORRUPT);
    int n = 0;
    CHECK_EQ(store_ops_after(r, "doc", 0, UINT64_MAX, 0, count_op, &n, NULL), STORE_ECORRUPT);
    CHECK_EQ(n, 1);
    CHECK_EQ(store_doc_get(r, "doc", &d), 0);
    CHECK_EQ(store_doc_get(r, "other", &d), STORE_ECORRUPT);
    enum store_role role;
    CHECK_EQ(store_acl_get(r, "doc", "alice", &role), STORE_ECORRUPT);
    store_read_end(r);
    /* Writing onto a corrupt document record is refused, others proceed. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "other", 2, "u", "c", 2, 2, "x", 1), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), STORE_ECORRUPT);
    store_batch_free(b);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 4, "u", "c", 4, 4, "x", 1), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    store_close(s);

    /* A broken epoch record, then an unknown store format, refuse to open. */
    raw_edit(dir, "meta", "epoch", 5, cut_one);
    CHECK_EQ(store_open(dir, NULL, &s), STORE_ECORRUPT);
    raw_edit(dir, "meta", "format", 6, set_store_format_3);
    CHECK_EQ(store_open(dir, NULL, &s), STORE_EFORMAT);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
