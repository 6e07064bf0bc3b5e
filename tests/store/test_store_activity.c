/* Unit tests of the activity log: offsets, reads, chain verification, and
 * detection of tampering done behind the store's back with raw LMDB. */
#include "raw_lmdb.h"
#include "store.h"
#include "test.h"
#include "util.h"

#include <openssl/evp.h>
#include <stdint.h>

#define N_ENTRIES 10

/* Entry layout (store.h): [1][u64 ts][32 prev][32 hash][u32 len][payload]. */
#define OFF_PREV 9
#define OFF_HASH 41
#define OFF_PAYLOAD 77

static void key_of(uint8_t k[8], uint64_t off)
{
    for (int i = 0; i < 8; i++)
        k[7 - i] = (uint8_t)(off >> (8 * i));
}

static void build(const char *dir, uint8_t head_hash[STORE_HASH_LEN])
{
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    for (int i = 0; i < N_ENTRIES; i += 2) {
        store_batch *b;
        char p1[32], p2[32];
        int n1 = snprintf(p1, sizeof p1, "{\"event\":%d}", i + 1);
        int n2 = snprintf(p2, sizeof p2, "{\"event\":%d}", i + 2);
        CHECK_EQ(store_batch_new(&b), 0);
        CHECK_EQ(store_batch_activity_append(b, 1000 + (uint64_t)i, p1, (size_t)n1), 0);
        CHECK_EQ(store_batch_activity_append(b, 1001 + (uint64_t)i, p2, (size_t)n2), 0);
        struct store_batch_result res;
        CHECK_EQ(store_batch_commit(s, b, &res), 0);
        CHECK_EQ(res.activity_first, (uint64_t)i + 1);
        CHECK_EQ(res.activity_count, 2);
        store_batch_free(b);
    }
    store_read *r;
    uint64_t head;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_activity_head(r, &head, head_hash), 0);
    CHECK_EQ(head, N_ENTRIES);
    store_read_end(r);
    store_close(s);
}

/* Opens the store's LMDB env directly (test-only tampering path). */
static void raw_get(MDB_txn *txn, MDB_dbi dbi, uint64_t off, uint8_t *buf, size_t *len)
{
    uint8_t k[8];
    key_of(k, off);
    MDB_val key = {8, k}, v;
    CHECK_EQ(mdb_get(txn, dbi, &key, &v), 0);
    memcpy(buf, v.mv_data, v.mv_size);
    *len = v.mv_size;
}

static void raw_put(MDB_txn *txn, MDB_dbi dbi, uint64_t off, const uint8_t *buf, size_t len)
{
    uint8_t k[8];
    key_of(k, off);
    MDB_val key = {8, k}, v = {len, (void *)buf};
    CHECK_EQ(mdb_put(txn, dbi, &key, &v, 0), 0);
}

static void raw_del(MDB_txn *txn, MDB_dbi dbi, uint64_t off)
{
    uint8_t k[8];
    key_of(k, off);
    MDB_val key = {8, k};
    CHECK_EQ(mdb_del(txn, dbi, &key, NULL), 0);
}

/* Recomputes an entry's hash as a careful forger would. */
static void rehash(uint8_t *buf, size_t len, uint64_t off)
{
    uint8_t nums[16];
    for (int i = 0; i < 8; i++) {
        nums[i] = (uint8_t)(off >> (8 * i));
        nums[8 + i] = buf[1 + i];
    }
    unsigned int hl = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, buf + OFF_PREV, 32);
    EVP_DigestUpdate(md, nums, 16);
    EVP_DigestUpdate(md, buf + OFF_PAYLOAD, len - OFF_PAYLOAD);
    EVP_DigestFinal_ex(md, buf + OFF_HASH, &hl);
    EVP_MD_CTX_free(md);
}

static int verify(const char *dir, uint64_t from, const uint8_t *head_hash, uint64_t *bad)
{
    store *s;
    int err = store_open(dir, NULL, &s);
    if (err)
        return err;
    store_read *r;
    err = store_read_begin(s, &r);
    if (!err) {
        err = store_activity_verify(r, from, UINT64_MAX, head_hash, bad);
        store_read_end(r);
    }
    store_close(s);
    return err;
}

struct collect {
    uint64_t offsets[16];
    size_t n;
};

static int collect(void *ctx, const struct store_activity *e)
{
    struct collect *c = ctx;
    if (c->n < 16)
        c->offsets[c->n++] = e->offset;
    return 0;
}

static void test_append_read_verify(void)
{
    char dir[128];
    uint8_t hh[STORE_HASH_LEN];
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    struct collect c = {0};
    CHECK_EQ(store_activity_read(r, 3, 4, collect, &c), 0);
    CHECK_EQ(c.n, 4);
    CHECK_EQ(c.offsets[0], 4);
    CHECK_EQ(c.offsets[3], 7);
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_activity_read(r, N_ENTRIES, 0, collect, &c), 0);
    CHECK_EQ(c.n, 0);
    uint64_t bad = 0;
    CHECK_EQ(store_activity_verify(r, 0, UINT64_MAX, NULL, &bad), 0);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, hh, &bad), 0);
    CHECK_EQ(store_activity_verify(r, 6, UINT64_MAX, hh, &bad), 0);
    CHECK_EQ(store_activity_verify(r, 2, 5, NULL, &bad), 0);
    uint8_t wrong[STORE_HASH_LEN] = {0};
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, wrong, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, N_ENTRIES + 1);
    /* The first entry chains to zeros. */
    memset(&c, 0, sizeof c);
    store_read_end(r);
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.activity, N_ENTRIES);
    CHECK_EQ(st.activity_head, N_ENTRIES);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_tamper(void)
{
    char dir[128];
    uint8_t hh[STORE_HASH_LEN];
    uint8_t buf[256], buf2[256];
    size_t len, len2;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t bad;

    /* 1. One flipped payload byte. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_get(txn, dbi, 5, buf, &len);
    buf[OFF_PAYLOAD + 2] ^= 0x20;
    raw_put(txn, dbi, 5, buf, len);
    raw_close(env, txn);
    bad = 0;
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 5);
    tmp_store_rm(dir);

    /* 2. A changed timestamp (covered by the hash). */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_get(txn, dbi, 2, buf, &len);
    buf[1] ^= 1;
    raw_put(txn, dbi, 2, buf, len);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 2);
    tmp_store_rm(dir);

    /* 3. A rewritten entry with a recomputed hash breaks the next link. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_get(txn, dbi, 4, buf, &len);
    buf[OFF_PAYLOAD + 2] ^= 0x20;
    rehash(buf, len, 4);
    raw_put(txn, dbi, 4, buf, len);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 5);
    tmp_store_rm(dir);

    /* 4. Two entries swapped. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_get(txn, dbi, 3, buf, &len);
    raw_get(txn, dbi, 4, buf2, &len2);
    raw_put(txn, dbi, 3, buf2, len2);
    raw_put(txn, dbi, 4, buf, len);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 3);
    tmp_store_rm(dir);

    /* 5. An entry removed from the middle. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_del(txn, dbi, 7);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 7);
    tmp_store_rm(dir);

    /* 6. A truncated tail: undetectable alone, caught by the head hash. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_del(txn, dbi, 10);
    raw_del(txn, dbi, 9);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), 0);
    CHECK_EQ(verify(dir, 1, hh, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 9);
    tmp_store_rm(dir);

    /* 7. A value cut short no longer decodes. */
    tmp_store_dir(dir, sizeof dir, "store-activity");
    build(dir, hh);
    raw_open(dir, "activity", &env, &txn, &dbi);
    raw_get(txn, dbi, 6, buf, &len);
    raw_put(txn, dbi, 6, buf, len - 1);
    raw_close(env, txn);
    CHECK_EQ(verify(dir, 1, NULL, &bad), STORE_ECORRUPT);
    CHECK_EQ(bad, 6);
    /* Verification from after the damage passes (entry before is trusted). */
    CHECK_EQ(verify(dir, 8, NULL, &bad), 0);
    tmp_store_rm(dir);
}

int main(void)
{
    test_append_read_verify();
    test_tamper();
    return TEST_RESULT();
}
