/* The owner of a client id in the sequence index: the user of the client
 * id's first op owns it on that document, and the ops of any other user
 * under it are refused (STORE_EOWNER) before anything of their batch is
 * written: one at a time, two first ops in one batch, after a reopen, and
 * in a store written by format 1 (seqs records without an owner, upgraded
 * when opened); and through a batch's runs of one document's ops. */
#include "raw_lmdb.h"
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>

/* Commits one op of doc (seq = version). Returns the commit's code; the
 * index of the refused item goes to *failed when not NULL. */
static int put_op(store *s, const char *doc, uint64_t v, const char *user, const char *client,
                  uint64_t seq)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_op_append(b, doc, v, user, client, seq, v, "x", 1);
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

static uint64_t head_of(store *s, const char *doc)
{
    store_read *r;
    struct store_doc_info d;
    memset(&d, 0, sizeof d);
    CHECK_EQ(store_read_begin(s, &r), 0);
    int rc = store_doc_get(r, doc, &d);
    store_read_end(r);
    return rc == 0 ? d.head : 0;
}

/* store_seq_get's owner of (doc, client), "" when unknown or on error. */
static void owner_of(store *s, const char *doc, const char *client, char *owner)
{
    store_read *r;
    uint64_t seq = 0, ver = 0;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, doc, client, &seq, &ver, owner), 0);
    store_read_end(r);
}

static void test_owner(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-seqowner");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(put_op(s, "doc", 1, "alice", "c1", 1), 0);
    char owner[STORE_USER_ID_MAX + 1];
    owner_of(s, "doc", "c1", owner);
    CHECK_STR_EQ(owner, "alice");

    /* Another user's op under alice's client id, with her next seq or the
     * largest one: refused, nothing written, the index unchanged. */
    CHECK_EQ(put_op(s, "doc", 2, "mallory", "c1", 2), STORE_EOWNER);
    CHECK_EQ(put_op(s, "doc", 2, "mallory", "c1", 9007199254740991ull), STORE_EOWNER);
    CHECK_EQ(head_of(s, "doc"), 1);
    store_read *r;
    uint64_t seq = 0, ver = 0;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, "doc", "c1", &seq, &ver, NULL), 0);
    CHECK_EQ(seq, 1);
    CHECK_EQ(ver, 1);
    store_read_end(r);
    /* Her own next op goes through; the client id is per document. */
    CHECK_EQ(put_op(s, "doc", 2, "alice", "c1", 2), 0);
    CHECK_EQ(put_op(s, "other", 1, "mallory", "c1", 1), 0);
    owner_of(s, "other", "c1", owner);
    CHECK_STR_EQ(owner, "mallory");
    /* Ops without a client id are not indexed and belong to no one. */
    CHECK_EQ(put_op(s, "doc", 3, "mallory", NULL, 0), 0);

    /* Two users' first ops under one new client id in one batch: the
     * second is refused, and with it the whole batch. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 4, "alice", "fresh", 1, 4, "x", 1), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 5, "mallory", "fresh", 2, 5, "x", 1), 0);
    struct store_batch_result res;
    CHECK_EQ(store_batch_commit(s, b, &res), STORE_EOWNER);
    CHECK_EQ(res.failed_item, 1);
    store_batch_free(b);
    CHECK_EQ(head_of(s, "doc"), 3);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, "doc", "fresh", &seq, &ver, owner), STORE_ENOTFOUND);
    CHECK_STR_EQ(owner, "");
    store_read_end(r);
    /* Through the writer thread, the refused batch fails alone. */
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 4, "mallory", "c1", 3, 4, "x", 1), 0);
    CHECK_EQ(store_writer_submit(w, b, NULL, NULL), 0);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 4, "alice", "c1", 3, 4, "x", 1), 0);
    CHECK_EQ(store_writer_submit(w, b, NULL, NULL), 0);
    store_writer_flush(w);
    store_writer_free(w);
    CHECK_EQ(head_of(s, "doc"), 4);
    store_close(s);

    /* After a reopen the owner is still known. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(put_op(s, "doc", 5, "mallory", "c1", 4), STORE_EOWNER);
    owner_of(s, "doc", "c1", owner);
    CHECK_STR_EQ(owner, "alice");
    CHECK_EQ(put_op(s, "doc", 5, "alice", "c1", 4), 0);
    /* Deleting the document frees its client ids. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_delete(b, "doc"), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(put_op(s, "doc", 1, "mallory", "c1", 1), 0);
    store_close(s);
    tmp_store_rm(dir);
}

/* Writes value v[0..len) under key k[0..klen) of table db, raw. */
static void raw_put(const char *dir, const char *db, const void *k, size_t klen, const void *v,
                    size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    raw_open(dir, db, &env, &txn, &dbi);
    MDB_val key = {klen, (void *)k}, val = {len, (void *)v};
    CHECK_EQ(mdb_put(txn, dbi, &key, &val, 0), 0);
    raw_close(env, txn);
}

static uint32_t raw_format(const char *dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    raw_open(dir, "meta", &env, &txn, &dbi);
    MDB_val k = {6, "format"}, v;
    uint32_t f = 0;
    if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 5) {
        const uint8_t *p = v.mv_data;
        f = (uint32_t)p[1] | (uint32_t)p[2] << 8 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 24;
    }
    raw_close(env, txn);
    return f;
}

/* A format-1 seqs value: [1][u64 seq][u64 version]. */
static void seq_v1(uint8_t out[17], uint64_t seq, uint64_t version)
{
    out[0] = 1;
    for (int i = 0; i < 8; i++) {
        out[1 + i] = (uint8_t)(seq >> (8 * i));
        out[9 + i] = (uint8_t)(version >> (8 * i));
    }
}

static void test_format1(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-seqowner1");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(put_op(s, "doc", 1, "alice", "c1", 1), 0);
    CHECK_EQ(put_op(s, "doc", 2, "bob", "c2", 7), 0);
    store_close(s);
    CHECK_EQ(raw_format(dir), 2);

    /* Make it a store written by format 1: the format record says 1 and
     * the seqs records carry no owner; "gone" points at an op that left
     * the log. */
    static const uint8_t fmt1[5] = {1, 1, 0, 0, 0};
    raw_put(dir, "meta", "format", 6, fmt1, sizeof fmt1);
    uint8_t v[17];
    seq_v1(v, 1, 1);
    raw_put(dir, "seqs",
            "\x03"
            "docc1",
            6, v, sizeof v);
    seq_v1(v, 7, 2);
    raw_put(dir, "seqs",
            "\x03"
            "docc2",
            6, v, sizeof v);
    seq_v1(v, 3, 99);
    raw_put(dir, "seqs",
            "\x03"
            "docgone",
            8, v, sizeof v);

    /* It opens, and is format 2 from then on. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_close(s);
    CHECK_EQ(raw_format(dir), 2);
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    char owner[STORE_USER_ID_MAX + 1];
    /* The owner of an old record is the user of the op it points at. */
    owner_of(s, "doc", "c1", owner);
    CHECK_STR_EQ(owner, "alice");
    owner_of(s, "doc", "c2", owner);
    CHECK_STR_EQ(owner, "bob");
    CHECK_EQ(put_op(s, "doc", 3, "mallory", "c1", 2), STORE_EOWNER);
    CHECK_EQ(put_op(s, "doc", 3, "mallory", "c2", 8), STORE_EOWNER);
    /* Bob's next op rewrites his record with the owner; a lower seq keeps
     * the higher one. */
    CHECK_EQ(put_op(s, "doc", 3, "bob", "c2", 5), 0);
    store_read *r;
    uint64_t seq = 0, ver = 0;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, "doc", "c2", &seq, &ver, owner), 0);
    CHECK_EQ(seq, 7);
    CHECK_EQ(ver, 2);
    CHECK_STR_EQ(owner, "bob");
    /* Unknown owner: the op left the log. */
    CHECK_EQ(store_seq_get(r, "doc", "gone", &seq, &ver, owner), 0);
    CHECK_EQ(seq, 3);
    CHECK_STR_EQ(owner, "");
    store_read_end(r);
    /* The next user of it becomes its owner. */
    CHECK_EQ(put_op(s, "doc", 4, "carol", "gone", 4), 0);
    owner_of(s, "doc", "gone", owner);
    CHECK_STR_EQ(owner, "carol");
    CHECK_EQ(put_op(s, "doc", 5, "mallory", "gone", 5), STORE_EOWNER);
    store_close(s);

    /* A format the build does not know is refused. */
    static const uint8_t fmt3[5] = {1, 3, 0, 0, 0};
    raw_put(dir, "meta", "format", 6, fmt3, sizeof fmt3);
    CHECK_EQ(store_open(dir, NULL, &s), STORE_EFORMAT);
    /* A damaged owned record is reported, not misread. */
    raw_put(dir, "meta", "format", 6, fmt1, sizeof fmt1);
    static const uint8_t bad[19] = {2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 'x'};
    raw_put(dir, "seqs",
            "\x03"
            "docc1",
            6, bad, sizeof bad);
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, "doc", "c1", &seq, &ver, owner), STORE_ECORRUPT);
    store_read_end(r);
    CHECK_EQ(put_op(s, "doc", 5, "alice", "c1", 9), STORE_ECORRUPT);
    store_close(s);
    tmp_store_rm(dir);
}

static void seq_is(store *s, const char *doc, const char *client, uint64_t want_seq,
                   uint64_t want_ver, const char *want_owner)
{
    store_read *r;
    uint64_t seq = 0, ver = 0;
    char owner[STORE_USER_ID_MAX + 1] = "";
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, doc, client, &seq, &ver, owner), 0);
    store_read_end(r);
    CHECK_EQ(seq, want_seq);
    CHECK_EQ(ver, want_ver);
    CHECK_STR_EQ(owner, want_owner);
}

/* A batch's ops of one document in a row (with their activity entries
 * between them) are applied as a run: its record is written once at the
 * end, and a client's seq record once for the ops of that client in a
 * row. What the store holds afterwards is what one op at a time leaves. */
static void test_runs(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-seqruns");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(put_op(s, "a", 1, "alice", "c1", 1), 0);

    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    static const struct {
        const char *doc;
        uint64_t v;
        const char *user, *client;
        uint64_t seq;
    } ops[] = {
        {"a", 2, "alice", "c1", 2}, {"a", 3, "bob", "c2", 1},   {"a", 4, "alice", "c1", 3},
        {"a", 5, "alice", "c1", 4}, {"b", 1, "carol", "c1", 5}, {"a", 6, "alice", "c1", 2},
        {"a", 7, "bob", "c2", 2},   {"a", 8, "dave", NULL, 0},  {"b", 2, "carol", "c1", 6},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        CHECK_EQ(store_batch_op_append(b, ops[i].doc, ops[i].v, ops[i].user, ops[i].client,
                                       ops[i].seq, 100 + i, "x", 1),
                 0);
        CHECK_EQ(store_batch_activity_append(b, 100 + i, "{}", 2), 0);
    }
    struct store_batch_result res;
    CHECK_EQ(store_batch_commit(s, b, &res), 0);
    CHECK_EQ(res.activity_count, 9);
    store_batch_free(b);
    CHECK_EQ(head_of(s, "a"), 8);
    CHECK_EQ(head_of(s, "b"), 2);
    /* c1 on a: seq 2 at v6 is below 4, so the record stays at (4, 5). */
    seq_is(s, "a", "c1", 4, 5, "alice");
    seq_is(s, "a", "c2", 2, 7, "bob");
    seq_is(s, "b", "c1", 6, 2, "carol");
    store_read *r;
    uint64_t bad = 0;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    uint64_t head = 0;
    uint8_t hash[STORE_HASH_LEN];
    CHECK_EQ(store_activity_head(r, &head, hash), 0);
    CHECK_EQ(head, 9);
    store_read_end(r);

    /* A refusal in the middle of a run refuses the batch: nothing of the
     * run before it is written, neither ops nor records. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "a", 9, "alice", "c1", 5, 200, "x", 1), 0);
    CHECK_EQ(store_batch_activity_append(b, 200, "{}", 2), 0);
    CHECK_EQ(store_batch_op_append(b, "a", 10, "mallory", "c2", 3, 201, "x", 1), 0);
    CHECK_EQ(store_batch_commit(s, b, &res), STORE_EOWNER);
    CHECK_EQ(res.failed_item, 2);
    store_batch_free(b);
    CHECK_EQ(head_of(s, "a"), 8);
    seq_is(s, "a", "c1", 4, 5, "alice");
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_activity_head(r, &head, hash), 0);
    CHECK_EQ(head, 9);
    store_read_end(r);
    /* And a version gap in a run is a conflict at that op. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "a", 9, "alice", "c1", 5, 200, "x", 1), 0);
    CHECK_EQ(store_batch_op_append(b, "a", 11, "alice", "c1", 6, 201, "x", 1), 0);
    CHECK_EQ(store_batch_commit(s, b, &res), STORE_ECONFLICT);
    CHECK_EQ(res.failed_item, 1);
    store_batch_free(b);
    CHECK_EQ(head_of(s, "a"), 8);
    store_close(s);
    tmp_store_rm(dir);
}

int main(void)
{
    test_owner();
    test_format1();
    test_runs();
    return TEST_RESULT();
}
