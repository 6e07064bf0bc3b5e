/* Unit tests of snapshots, retention (compaction) and catch-up. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>

static void add_ops(store *s, const char *doc, uint64_t from, uint64_t to)
{
    for (uint64_t v = from; v <= to; v++) {
        store_batch *b;
        char data[32];
        int n = snprintf(data, sizeof data, "op%llu", (unsigned long long)v);
        CHECK_EQ(store_batch_new(&b), 0);
        CHECK_EQ(store_batch_op_append(b, doc, v, "u", "c", v, 100 + v, data, (size_t)n), 0);
        CHECK_EQ(store_batch_commit(s, b, NULL), 0);
        store_batch_free(b);
    }
}

static int snap(store *s, const char *doc, uint64_t v)
{
    store_batch *b;
    char data[32];
    int n = snprintf(data, sizeof data, "S%llu", (unsigned long long)v);
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_snapshot_put(b, doc, v, 1000 + v, data, (size_t)n);
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

struct collect {
    uint64_t versions[64];
    size_t n;
};

static int collect_op(void *ctx, const struct store_op *op)
{
    struct collect *c = ctx;
    if (c->n < 64)
        c->versions[c->n++] = op->version;
    return 0;
}

static uint64_t doc_field(store *s, const char *doc, int which)
{
    store_read *r;
    struct store_doc_info d;
    uint64_t out = UINT64_MAX;
    if (store_read_begin(s, &r) == 0) {
        if (store_doc_get(r, doc, &d) == 0)
            out = which == 0 ? d.head : which == 1 ? d.snapshot_version : d.trunc_version;
        store_read_end(r);
    }
    return out;
}

static void test_retention(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-oplog");
    struct store_options o;
    store_options_init(&o);
    o.snapshot_interval = 4;
    o.retain_ops = 5;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);

    CHECK_EQ(snap(s, "d", 1), STORE_ECONFLICT); /* no such document */
    add_ops(s, "d", 1, 3);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "d", &d), 0);
    CHECK_EQ(store_snapshot_due(s, &d), 0);
    store_read_end(r);
    add_ops(s, "d", 4, 4);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "d", &d), 0);
    CHECK_EQ(store_snapshot_due(s, &d), 1);
    store_read_end(r);

    CHECK_EQ(snap(s, "d", 5), STORE_ECONFLICT); /* beyond head */
    CHECK_EQ(snap(s, "d", 4), 0);
    CHECK_EQ(doc_field(s, "d", 1), 4);
    CHECK_EQ(doc_field(s, "d", 2), 0);
    add_ops(s, "d", 5, 8);
    CHECK_EQ(snap(s, "d", 8), 0);
    CHECK_EQ(doc_field(s, "d", 2), 0); /* head 8 - 5 = 3: no snapshot <= 3 */
    add_ops(s, "d", 9, 12);
    CHECK_EQ(snap(s, "d", 12), 0);
    CHECK_EQ(doc_field(s, "d", 2), 4); /* 12 - 5 = 7: snapshot 4 */
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, 8);       /* 5..12 */
    CHECK_EQ(st.snapshots, 3); /* 4, 8, 12 */
    add_ops(s, "d", 13, 16);
    CHECK_EQ(snap(s, "d", 16), 0);
    CHECK_EQ(doc_field(s, "d", 2), 8);
    CHECK_EQ(snap(s, "d", 7), STORE_ECONFLICT); /* below the retained base */
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, 8);       /* 9..16 */
    CHECK_EQ(st.snapshots, 3); /* 8, 12, 16 */

    CHECK_EQ(store_read_begin(s, &r), 0);
    struct store_op op;
    CHECK_EQ(store_op_get(r, "d", 8, &op), STORE_ENOTFOUND);
    CHECK_EQ(store_op_get(r, "d", 9, &op), 0);
    /* History: the snapshot at or below a version, then the ops after it. */
    struct store_snapshot sn;
    CHECK_EQ(store_snapshot_get(r, "d", 10, &sn), 0);
    CHECK_EQ(sn.version, 8);
    CHECK_EQ(sn.ts_ms, 1008);
    CHECK_EQ(sn.len, 2);
    CHECK_MEM_EQ(sn.data, "S8", 2);
    CHECK_EQ(store_snapshot_get(r, "d", 12, &sn), 0);
    CHECK_EQ(sn.version, 12);
    CHECK_EQ(store_snapshot_get(r, "d", UINT64_MAX, &sn), 0);
    CHECK_EQ(sn.version, 16);
    CHECK_EQ(store_snapshot_get(r, "d", 7, &sn), STORE_ENOTFOUND);
    CHECK_EQ(store_snapshot_get(r, "e", UINT64_MAX, &sn), STORE_ENOTFOUND);
    struct collect c = {0};
    CHECK_EQ(store_ops_after(r, "d", 8, 10, 0, collect_op, &c, NULL), 0);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.versions[1], 10);
    store_read_end(r);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_catchup(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-oplog");
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = 5;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    add_ops(s, "d", 1, 12);
    CHECK_EQ(snap(s, "d", 4), 0);
    CHECK_EQ(snap(s, "d", 10), 0); /* 12 - 5 = 7: base 4, ops 1..4 dropped */
    add_ops(s, "n", 1, 3);         /* never snapshotted */
    struct store_epoch ep, other;
    CHECK_EQ(store_epoch_get(s, &ep), 0);
    other = ep;
    other.bytes[0] ^= 1;

    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    struct store_catchup cu;
    struct collect c = {0};
    /* Pure replay from a retained version. */
    CHECK_EQ(store_catchup(r, "d", &ep, 9, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 1);
    CHECK_EQ(cu.head, 12);
    CHECK_EQ(cu.more, 0);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.versions[0], 10);
    CHECK_EQ(c.versions[2], 12);
    /* Exactly at the retained base still replays. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &ep, 4, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 1);
    CHECK_EQ(c.n, 8);
    /* Up to date: replay of nothing. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &ep, 12, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 1);
    CHECK_EQ(c.n, 0);
    /* Limit: more = 1 and where to continue. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &ep, 4, 3, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 1);
    CHECK_EQ(cu.more, 1);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(cu.next_version, 8);
    /* Older than the retained ops: snapshot + ops after it, not a replay. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &ep, 3, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 0);
    CHECK_EQ(cu.snapshot.version, 10);
    CHECK_EQ(cu.snapshot.len, 3);
    CHECK_MEM_EQ(cu.snapshot.data, "S10", 3);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(c.versions[0], 11);
    /* Another epoch: snapshot even for a retained version. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &other, 9, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 0);
    CHECK_EQ(cu.snapshot.version, 10);
    /* Ahead of head (impossible in this epoch): snapshot. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "d", &ep, 99, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 0);
    /* No snapshot and nothing dropped: the empty document + every op. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "n", &other, 2, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 0);
    CHECK_EQ(cu.snapshot.version, 0);
    CHECK_EQ(cu.snapshot.len, 0);
    CHECK_EQ(c.n, 3);
    /* Unknown document. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_catchup(r, "zz", &ep, 0, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 1);
    CHECK_EQ(cu.head, 0);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(store_catchup(r, "zz", &ep, 5, 0, collect_op, &c, &cu), 0);
    CHECK_EQ(cu.replay, 0);
    CHECK_EQ(cu.snapshot.version, 0);
    CHECK_EQ(store_catchup(r, "", &ep, 5, 0, collect_op, &c, &cu), STORE_EINVAL);
    store_read_end(r);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_keep_all(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-oplog");
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = 0;
    o.snapshot_interval = 0;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    add_ops(s, "d", 1, 30);
    CHECK_EQ(snap(s, "d", 10), 0);
    CHECK_EQ(snap(s, "d", 30), 0);
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, 30);
    CHECK_EQ(st.snapshots, 2);
    CHECK_EQ(doc_field(s, "d", 2), 0);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "d", &d), 0);
    CHECK_EQ(store_snapshot_due(s, &d), 0);
    store_read_end(r);
    store_close(s);
    tmp_store_rm(dir);
}

struct seqs {
    char line[512];
};

static int seq_line(void *ctx, const char *client, size_t cl, uint64_t seq, uint64_t version,
                    const char *owner, size_t ol)
{
    struct seqs *q = ctx;
    size_t n = strlen(q->line);
    snprintf(q->line + n, sizeof q->line - n, "%.*s=%llu@%llu/%.*s;", (int)cl, client,
             (unsigned long long)seq, (unsigned long long)version, (int)ol, owner ? owner : "");
    return 0;
}

/* A copy of a document whose older ops were dropped (moving it to another
 * node): store_batch_doc_base starts it at the retained base, ops follow,
 * and store_batch_seq_put carries the sequence index of clients whose ops
 * are gone; store_seq_list reads the index back in client order. */
static void test_base_copy(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-oplog");
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = 0;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_base(b, "d", 10, 5000, "S10", 3), 0);
    CHECK_EQ(store_batch_op_append(b, "d", 11, "u", "c", 7, 5001, "op11", 4), 0);
    CHECK_EQ(store_batch_seq_put(b, "d", "old", 3, 4, "v"), 0);
    CHECK_EQ(store_batch_seq_put(b, "d", "c", 5, 9, "u"), 0); /* below c's 7: kept at 7 */
    CHECK_EQ(store_batch_seq_put(b, "d", "f1", 2, 6, ""), 0); /* owner unknown */
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(doc_field(s, "d", 0), 11);
    CHECK_EQ(doc_field(s, "d", 1), 10);
    CHECK_EQ(doc_field(s, "d", 2), 10);
    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    struct seqs q = {""};
    CHECK_EQ(store_seq_list(r, "d", NULL, 0, seq_line, &q), 0);
    CHECK_STR_EQ(q.line, "c=7@11/u;f1=2@6/;old=3@4/v;");
    q.line[0] = '\0';
    CHECK_EQ(store_seq_list(r, "d", "c", 1, seq_line, &q), 0);
    CHECK_STR_EQ(q.line, "f1=2@6/;");
    uint64_t seq, ver;
    char owner[STORE_USER_ID_MAX + 1];
    CHECK_EQ(store_seq_get(r, "d", "old", &seq, &ver, owner), 0);
    CHECK(seq == 3 && ver == 4);
    CHECK_STR_EQ(owner, "v");
    /* Catch-up from before the base: the snapshot at 10 and op 11. */
    struct store_epoch e;
    memset(&e, 0, sizeof e);
    struct collect c = {.n = 0};
    struct store_catchup cu;
    CHECK_EQ(store_catchup(r, "d", &e, 3, 0, collect_op, &c, &cu), 0);
    CHECK(!cu.replay && cu.snapshot.version == 10 && cu.snapshot.len == 3 && cu.head == 11);
    CHECK(c.n == 1 && c.versions[0] == 11);
    store_read_end(r);
    /* Only onto nothing: an existing document must be deleted first. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_base(b, "d", 20, 6000, "S20", 3), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), STORE_ECONFLICT);
    store_batch_free(b);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_delete(b, "d"), 0);
    CHECK_EQ(store_batch_doc_base(b, "d", 20, 6000, "S20", 3), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(doc_field(s, "d", 0), 20);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_base(b, "d", 0, 6000, "S", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_seq_put(b, "d", "", 1, 1, "u"), STORE_EINVAL);
    store_batch_free(b);
    store_close(s);
    tmp_store_rm(dir);
}

int main(void)
{
    test_base_copy();
    test_retention();
    test_catchup();
    test_keep_all();
    return TEST_RESULT();
}
