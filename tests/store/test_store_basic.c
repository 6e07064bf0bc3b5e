/* Unit tests of the store: open/epoch, documents, op log, sequence index,
 * ACLs, deletes, stat, argument validation. Synchronous commits only. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>

static int commit_op(store *s, const char *doc, uint64_t v, const char *user, const char *client,
                     uint64_t seq, uint64_t ts, const char *data)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_op_append(b, doc, v, user, client, seq, ts, data, strlen(data));
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

struct collect {
    uint64_t versions[64];
    char data[64][32];
    size_t n;
};

static int collect_op(void *ctx, const struct store_op *op)
{
    struct collect *c = ctx;
    if (c->n < 64) {
        c->versions[c->n] = op->version;
        snprintf(c->data[c->n], sizeof c->data[0], "%.*s", (int)op->len, (const char *)op->data);
        c->n++;
    }
    return 0;
}

static void test_open_epoch(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-basic");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    struct store_epoch e1, e2;
    CHECK_EQ(store_epoch_get(s, &e1), 0);
    char hex[STORE_EPOCH_HEX_LEN + 1];
    store_epoch_format(&e1, hex);
    CHECK_EQ(strlen(hex), STORE_EPOCH_HEX_LEN);
    struct store_epoch parsed;
    CHECK_EQ(store_epoch_parse(hex, strlen(hex), &parsed), 0);
    CHECK_MEM_EQ(parsed.bytes, e1.bytes, STORE_EPOCH_LEN);
    CHECK_EQ(store_epoch_parse(hex, 31, &parsed), STORE_EINVAL);
    CHECK_EQ(store_epoch_parse("zz345678901234567890123456789012", 32, &parsed), STORE_EINVAL);
    const struct store_options *o = store_get_options(s);
    CHECK_EQ(o->snapshot_interval, 500);
    store_close(s);

    /* The epoch survives a reopen. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(store_epoch_get(s, &e2), 0);
    CHECK_MEM_EQ(e1.bytes, e2.bytes, STORE_EPOCH_LEN);
    /* Renewing changes it. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_epoch_renew(b), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(store_epoch_get(s, &e2), 0);
    CHECK(memcmp(e1.bytes, e2.bytes, STORE_EPOCH_LEN) != 0);
    store_close(s);

    /* A too small map size is refused. */
    struct store_options opt;
    store_options_init(&opt);
    opt.map_size = 4096;
    CHECK_EQ(store_open(dir, &opt, &s), STORE_EINVAL);
    tmp_store_rm(dir);
    CHECK_EQ(store_open(NULL, NULL, &s), STORE_EINVAL);
    CHECK_EQ(store_open("/proc/definitely/not/here", NULL, &s) < 0, 1);
}

static void test_docs_and_ops(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-basic");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);

    /* doc_put creates; a second put replaces metadata, keeps created_ms. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_put(b, "doc-1", "{\"title\":\"a\"}", 13, 1000), 0);
    CHECK_EQ(store_batch_doc_put(b, "doc-1", "{\"title\":\"b\"}", 13, 2000), 0);
    CHECK_EQ(store_batch_count(b), 2);
    CHECK(store_batch_bytes(b) > 26);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);

    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "doc-1", &d), 0);
    CHECK_EQ(d.head, 0);
    CHECK_EQ(d.created_ms, 1000);
    CHECK_EQ(d.updated_ms, 2000);
    CHECK_EQ(d.meta_len, 13);
    CHECK_MEM_EQ(d.meta, "{\"title\":\"b\"}", 13);
    CHECK_EQ(store_doc_get(r, "nope", &d), STORE_ENOTFOUND);
    store_read_end(r);

    /* Ops: must be head + 1. */
    CHECK_EQ(commit_op(s, "doc-1", 1, "u1", "c1", 1, 3000, "one"), 0);
    CHECK_EQ(commit_op(s, "doc-1", 1, "u1", "c1", 2, 3001, "dup"), STORE_ECONFLICT);
    CHECK_EQ(commit_op(s, "doc-1", 3, "u1", "c1", 2, 3001, "gap"), STORE_ECONFLICT);
    CHECK_EQ(commit_op(s, "doc-1", 2, "u2", "c2", 7, 3002, "two"), 0);
    CHECK_EQ(commit_op(s, "doc-1", 3, "u1", "c1", 2, 3003, "three"), 0);
    CHECK_EQ(commit_op(s, "doc-1", 4, "u1", "", 0, 3004, "four"), 0);
    /* An op creates its document when missing. */
    CHECK_EQ(commit_op(s, "doc-2", 1, "u9", NULL, 0, 5000, "x"), 0);

    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "doc-1", &d), 0);
    CHECK_EQ(d.head, 4);
    CHECK_EQ(d.updated_ms, 3004);
    CHECK_EQ(d.meta_len, 13); /* metadata kept across op appends */
    CHECK_EQ(store_doc_get(r, "doc-2", &d), 0);
    CHECK_EQ(d.head, 1);
    CHECK_EQ(d.created_ms, 5000);

    struct store_op op;
    CHECK_EQ(store_op_get(r, "doc-1", 2, &op), 0);
    CHECK_EQ(op.version, 2);
    CHECK_EQ(op.seq, 7);
    CHECK_EQ(op.ts_ms, 3002);
    CHECK_EQ(op.user_len, 2);
    CHECK_MEM_EQ(op.user, "u2", 2);
    CHECK_EQ(op.client_len, 2);
    CHECK_MEM_EQ(op.client, "c2", 2);
    CHECK_EQ(op.len, 3);
    CHECK_MEM_EQ(op.data, "two", 3);
    CHECK_EQ(store_op_get(r, "doc-1", 5, &op), STORE_ENOTFOUND);

    struct collect c = {0};
    uint64_t next = 0;
    CHECK_EQ(store_ops_after(r, "doc-1", 1, UINT64_MAX, 0, collect_op, &c, &next), 0);
    CHECK_EQ(c.n, 3);
    CHECK_EQ(c.versions[0], 2);
    CHECK_EQ(c.versions[2], 4);
    CHECK_STR_EQ(c.data[1], "three");
    CHECK_EQ(next, 5);
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_ops_after(r, "doc-1", 0, 3, 2, collect_op, &c, &next), 0);
    CHECK_EQ(c.n, 2);
    CHECK_EQ(next, 3);
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_ops_after(r, "doc-1", 4, UINT64_MAX, 0, collect_op, &c, &next), 0);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(next, 5);
    /* doc-2's ops do not leak into doc-1's range and vice versa. */
    memset(&c, 0, sizeof c);
    CHECK_EQ(store_ops_after(r, "doc-2", 0, UINT64_MAX, 0, collect_op, &c, NULL), 0);
    CHECK_EQ(c.n, 1);

    /* Sequence index: last seq per (doc, client) and its version. */
    uint64_t seq = 0, ver = 0;
    CHECK_EQ(store_seq_get(r, "doc-1", "c1", &seq, &ver, NULL), 0);
    CHECK_EQ(seq, 2);
    CHECK_EQ(ver, 3);
    CHECK_EQ(store_seq_get(r, "doc-1", "c2", &seq, &ver, NULL), 0);
    CHECK_EQ(seq, 7);
    CHECK_EQ(ver, 2);
    CHECK_EQ(store_seq_get(r, "doc-1", "c3", &seq, &ver, NULL), STORE_ENOTFOUND);
    CHECK_EQ(store_seq_get(r, "doc-1", "", &seq, &ver, NULL), STORE_EINVAL);
    CHECK_EQ(store_seq_find(r, "doc-1", "c1", 1, 0, &ver), 0);
    CHECK_EQ(ver, 1);
    CHECK_EQ(store_seq_find(r, "doc-1", "c1", 2, 0, &ver), 0);
    CHECK_EQ(ver, 3);
    CHECK_EQ(store_seq_find(r, "doc-1", "c1", 5, 0, &ver), STORE_ENOTFOUND);
    CHECK_EQ(store_seq_find(r, "doc-1", "c2", 7, 1, &ver), STORE_ENOTFOUND); /* scan bound */
    store_read_end(r);

    /* A stale (lower) sequence does not move the index back. */
    CHECK_EQ(commit_op(s, "doc-1", 5, "u1", "c1", 1, 3005, "five"), 0);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_seq_get(r, "doc-1", "c1", &seq, &ver, NULL), 0);
    CHECK_EQ(seq, 2);
    CHECK_EQ(ver, 3);
    store_read_end(r);

    /* A batch is atomic: a conflicting op undoes the items before it. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc-1", 6, "u1", "c1", 3, 1, "six", 3), 0);
    CHECK_EQ(store_batch_activity_append(b, 1, "x", 1), 0);
    CHECK_EQ(store_batch_op_append(b, "doc-1", 8, "u1", "c1", 4, 1, "eight", 5), 0);
    struct store_batch_result res;
    CHECK_EQ(store_batch_commit(s, b, &res), STORE_ECONFLICT);
    CHECK_EQ(res.failed_item, 2);
    CHECK_EQ(res.activity_count, 0);
    store_batch_free(b);
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.docs, 2);
    CHECK_EQ(st.ops, 6);
    CHECK_EQ(st.activity, 0);
    CHECK_EQ(st.seqs, 2);
    CHECK(st.map_used > 0 && st.map_used <= st.map_size);

    /* Document listing in key order (length, then bytes). */
    CHECK_EQ(commit_op(s, "a", 1, "u", NULL, 0, 1, "x"), 0);
    CHECK_EQ(store_read_begin(s, &r), 0);
    store_read_end(r);

    /* Delete removes the doc with its ops, snapshots, seqs and ACLs. */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_acl_put(b, "doc-1", "u1", STORE_ROLE_OWNER), 0);
    CHECK_EQ(store_batch_acl_put(b, "doc-2", "u1", STORE_ROLE_OWNER), 0);
    CHECK_EQ(store_batch_snapshot_put(b, "doc-1", 5, 9, "state", 5), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_delete(b, "doc-1"), 0);
    CHECK_EQ(store_batch_doc_delete(b, "never-existed"), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.docs, 2); /* doc-2 and a */
    CHECK_EQ(st.ops, 2);
    CHECK_EQ(st.snapshots, 0);
    CHECK_EQ(st.seqs, 0);
    CHECK_EQ(st.acls, 1);
    /* Version numbering restarts for a deleted document. */
    CHECK_EQ(commit_op(s, "doc-1", 1, "u1", "c1", 1, 1, "again"), 0);
    store_close(s);
    tmp_store_rm(dir);
}

struct acl_collect {
    char users[8][16];
    int roles[8];
    size_t n;
};

static int collect_acl(void *ctx, const char *user, size_t len, enum store_role role)
{
    struct acl_collect *c = ctx;
    if (c->n < 8) {
        snprintf(c->users[c->n], 16, "%.*s", (int)len, user);
        c->roles[c->n++] = (int)role;
    }
    return 0;
}

struct doc_collect {
    char ids[8][16];
    size_t n;
};

static int collect_doc(void *ctx, const char *doc, size_t len, const struct store_doc_info *d)
{
    struct doc_collect *c = ctx;
    (void)d;
    if (c->n < 8)
        snprintf(c->ids[c->n++], 16, "%.*s", (int)len, doc);
    return c->n >= 2 ? 1 : 0; /* stop after two */
}

/* The documents store_acl_changed_since reports, "doc@count" each. */
struct change_collect {
    char got[16][32];
    size_t n;
};

static int collect_change(void *ctx, const char *doc, uint64_t count)
{
    struct change_collect *c = ctx;
    if (c->n < 16)
        snprintf(c->got[c->n++], 32, "%s@%llu", doc, (unsigned long long)count);
    return 0;
}

static void test_acl_and_list(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-basic");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_read *r;
    uint64_t changes = 99;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_acl_changes(r, &changes), 0);
    CHECK_EQ(changes, 0);
    store_read_end(r);
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_acl_put(b, "d", "bob", STORE_ROLE_EDITOR), 0);
    CHECK_EQ(store_batch_acl_put(b, "d", "alice", STORE_ROLE_OWNER), 0);
    CHECK_EQ(store_batch_acl_put(b, "d", "carol", STORE_ROLE_VIEWER), 0);
    CHECK_EQ(store_batch_acl_put(b, "dd", "zed", STORE_ROLE_VIEWER), 0);
    CHECK_EQ(store_batch_acl_put(b, "d", "carol", STORE_ROLE_EDITOR), 0); /* replace */
    CHECK_EQ(store_batch_acl_delete(b, "d", "bob"), 0);
    CHECK_EQ(store_batch_acl_delete(b, "d", "nobody"), 0);
    CHECK_EQ(store_batch_acl_put(b, "d", "x", (enum store_role)9), STORE_EINVAL);
    CHECK_EQ(store_batch_doc_put(b, "d", NULL, 0, 1), 0);
    CHECK_EQ(store_batch_doc_put(b, "dd", NULL, 0, 1), 0);
    CHECK_EQ(store_batch_doc_put(b, "b", NULL, 0, 1), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);

    CHECK_EQ(store_read_begin(s, &r), 0);
    /* every put and delete counts, also of an absent entry */
    CHECK_EQ(store_acl_changes(r, &changes), 0);
    CHECK_EQ(changes, 7);
    enum store_role role;
    CHECK_EQ(store_acl_get(r, "d", "alice", &role), 0);
    CHECK_EQ(role, STORE_ROLE_OWNER);
    CHECK_EQ(store_acl_get(r, "d", "bob", &role), 0);
    CHECK_EQ(role, STORE_ROLE_NONE);
    CHECK_EQ(store_acl_get(r, "d", "zed", &role), 0);
    CHECK_EQ(role, STORE_ROLE_NONE);
    struct acl_collect ac = {0};
    CHECK_EQ(store_acl_list(r, "d", collect_acl, &ac), 0);
    CHECK_EQ(ac.n, 2);
    CHECK_STR_EQ(ac.users[0], "alice");
    CHECK_STR_EQ(ac.users[1], "carol");
    CHECK_EQ(ac.roles[1], STORE_ROLE_EDITOR);

    struct doc_collect dc = {0};
    CHECK_EQ(store_doc_list(r, NULL, 0, collect_doc, &dc), 0);
    CHECK_EQ(dc.n, 2);
    CHECK_STR_EQ(dc.ids[0], "b");
    CHECK_STR_EQ(dc.ids[1], "d");
    memset(&dc, 0, sizeof dc);
    CHECK_EQ(store_doc_list(r, "d", 5, collect_doc, &dc), 0);
    CHECK_EQ(dc.n, 1);
    CHECK_STR_EQ(dc.ids[0], "dd");
    store_read_end(r);
    /* deleting a document deletes its list: counted too, and seen after a
     * reopen (another process sees the same record) */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_doc_delete(b, "dd"), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    store_close(s);
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_acl_changes(r, &changes), 0);
    CHECK_EQ(changes, 8);
    /* which documents: one per change, oldest first, from any count on */
    struct change_collect cc = {0};
    CHECK_EQ(store_acl_changed_since(r, 5, collect_change, &cc), 0);
    CHECK_EQ(cc.n, 3);
    CHECK_STR_EQ(cc.got[0], "d@6");
    CHECK_STR_EQ(cc.got[1], "d@7");
    CHECK_STR_EQ(cc.got[2], "dd@8");
    memset(&cc, 0, sizeof cc);
    CHECK_EQ(store_acl_changed_since(r, 8, collect_change, &cc), 0);
    CHECK_EQ(cc.n, 0);
    CHECK_EQ(store_acl_changed_since(r, 9, collect_change, &cc), STORE_ENOTFOUND);
    store_read_end(r);
    /* the log keeps the last STORE_ACL_LOG changes: further back is
     * STORE_ENOTFOUND (the caller looks at every list) */
    CHECK_EQ(store_batch_new(&b), 0);
    for (int i = 0; i < STORE_ACL_LOG; i++)
        CHECK_EQ(store_batch_acl_put(b, "e", "u", STORE_ROLE_VIEWER), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(store_read_begin(s, &r), 0);
    memset(&cc, 0, sizeof cc);
    CHECK_EQ(store_acl_changed_since(r, 7, collect_change, &cc), STORE_ENOTFOUND);
    CHECK_EQ(store_acl_changed_since(r, 8, collect_change, &cc), 0);
    CHECK_EQ(cc.n, 16);
    CHECK_STR_EQ(cc.got[0], "e@9");
    store_read_end(r);
    store_close(s);
    tmp_store_rm(dir);
}

struct reuse_check {
    uint64_t next;
    int bad;
};

/* Each op of test_read_reuse's batch: its version, user, client, seq and
 * bytes as appended. */
static int reuse_op(void *ctx, const struct store_op *op)
{
    struct reuse_check *c = ctx;
    char user[32], client[32];
    snprintf(user, sizeof user, "user-%llu", (unsigned long long)c->next);
    snprintf(client, sizeof client, "client-%llu", (unsigned long long)c->next);
    size_t n = c->next == 200 ? 9000 : (size_t)(c->next % 97);
    const uint8_t *p = op->data;
    int ok = op->version == c->next && op->seq == c->next && op->len == n &&
             op->user_len == strlen(user) && memcmp(op->user, user, op->user_len) == 0 &&
             op->client_len == strlen(client) && memcmp(op->client, client, op->client_len) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = p[i] == (uint8_t)('a' + c->next % 26);
    c->bad += !ok;
    c->next++;
    return 0;
}
/* A read handle that ends is kept and renewed by the next begin: each begin
 * still sees every commit made before it, never the snapshot of the handle
 * it reuses; two handles open at once see their own snapshots; a batch's
 * items (carved from shared blocks) keep their strings and bytes apart. */
static void test_read_reuse(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-reuse");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_read *r, *r2;
    struct store_doc_info d;
    for (uint64_t v = 1; v <= 50; v++) {
        char data[16];
        snprintf(data, sizeof data, "op-%llu", (unsigned long long)v);
        CHECK_EQ(commit_op(s, "reuse", v, "u", "c", v, v, data), 0);
        CHECK_EQ(store_read_begin(s, &r), 0);
        CHECK_EQ(store_doc_get(r, "reuse", &d), 0);
        CHECK_EQ(d.head, v);
        store_read_end(r);
    }
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(commit_op(s, "reuse", 51, "u", "c", 51, 51, "op-51"), 0);
    CHECK_EQ(store_read_begin(s, &r2), 0);
    CHECK_EQ(store_doc_get(r, "reuse", &d), 0);
    CHECK_EQ(d.head, 50); /* its snapshot, from before the commit */
    CHECK_EQ(store_doc_get(r2, "reuse", &d), 0);
    CHECK_EQ(d.head, 51);
    store_read_end(r2);
    store_read_end(r); /* the spare taken by r2 is replaced: one kept, none leaked */

    /* 300 ops of growing sizes in one batch: more than one block. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    static char big[9000];
    memset(big, 'z', sizeof big);
    for (uint64_t v = 52; v < 352; v++) {
        char user[32], client[32];
        snprintf(user, sizeof user, "user-%llu", (unsigned long long)v);
        snprintf(client, sizeof client, "client-%llu", (unsigned long long)v);
        size_t n = v == 200 ? sizeof big : (size_t)(v % 97);
        memset(big, (int)('a' + v % 26), n);
        CHECK_EQ(store_batch_op_append(b, "reuse", v, user, client, v, v, big, n), 0);
    }
    CHECK_EQ(store_batch_count(b), 300);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "reuse", &d), 0);
    CHECK_EQ(d.head, 351);
    struct reuse_check c = {52, 0};
    CHECK_EQ(store_ops_after(r, "reuse", 51, UINT64_MAX, 0, reuse_op, &c, NULL), 0);
    CHECK_EQ(c.next, 352);
    CHECK_EQ(c.bad, 0);
    store_read_end(r);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_validation(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-basic");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    char long_doc[STORE_DOC_ID_MAX + 2];
    memset(long_doc, 'd', sizeof long_doc);
    long_doc[STORE_DOC_ID_MAX + 1] = '\0';
    CHECK_EQ(store_batch_op_append(b, long_doc, 1, "u", "c", 1, 1, "x", 1), STORE_EINVAL);
    long_doc[STORE_DOC_ID_MAX] = '\0'; /* exactly at the limit: fine */
    CHECK_EQ(store_batch_op_append(b, long_doc, 1, "u", "c", 1, 1, "x", 1), 0);
    char long_client[STORE_CLIENT_ID_MAX + 2];
    memset(long_client, 'c', sizeof long_client);
    long_client[STORE_CLIENT_ID_MAX + 1] = '\0';
    CHECK_EQ(store_batch_op_append(b, "d", 1, "u", long_client, 1, 1, "x", 1), STORE_EINVAL);
    char long_user[STORE_USER_ID_MAX + 2];
    memset(long_user, 'u', sizeof long_user);
    long_user[STORE_USER_ID_MAX + 1] = '\0';
    CHECK_EQ(store_batch_acl_put(b, "d", long_user, STORE_ROLE_OWNER), STORE_EINVAL);
    long_user[STORE_USER_ID_MAX] = '\0';
    CHECK_EQ(store_batch_acl_put(b, "d", long_user, STORE_ROLE_OWNER), 0);
    CHECK_EQ(store_batch_op_append(b, "", 1, "u", "c", 1, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_op_append(b, "a\nb", 1, "u", "c", 1, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_op_append(b, "d", 0, "u", "c", 1, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_op_append(b, "d", 1, "", "c", 1, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_op_append(b, "d", 1, "u", "c", 1, 1, NULL, 1), STORE_EINVAL);
    CHECK_EQ(store_batch_op_append(b, "d", 1, "u", "c", 1, 1, NULL, 0), 0);
    CHECK_EQ(store_batch_snapshot_put(b, "d", 0, 1, "s", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_doc_put(b, "d", "m", STORE_META_MAX + 1, 1), STORE_EINVAL);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    /* UTF-8 ids are stored as they are. */
    CHECK_EQ(commit_op(s, "caf\xc3\xa9", 1, "\xc3\xbc", "c", 1, 1, "x"), 0);
    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    struct store_doc_info d;
    CHECK_EQ(store_doc_get(r, long_doc, &d), 0);
    CHECK_EQ(d.head, 1);
    CHECK_EQ(store_doc_get(r, "caf\xc3\xa9", &d), 0);
    CHECK_EQ(store_doc_get(r, NULL, &d), STORE_EINVAL);
    store_read_end(r);
    CHECK_STR_EQ(store_strerror(STORE_ECONFLICT), "version conflict");
    CHECK_STR_EQ(store_strerror(12345), "unknown error");
    store_close(s);
    store_close(NULL);
    store_read_end(NULL);
    store_batch_free(NULL);
    tmp_store_rm(dir);
}

int main(void)
{
    test_open_epoch();
    test_docs_and_ops();
    test_acl_and_list();
    test_validation();
    test_read_reuse();
    return TEST_RESULT();
}
