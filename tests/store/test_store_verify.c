/* docsync-verify (argv[1]) on a healthy store, then after damage done with
 * raw LMDB and with docsync-store-tamper (argv[2]): a truncated activity
 * tail (caught against the exported head hash), an op-log gap, a flipped
 * byte in an activity entry. */
#include "raw_lmdb.h"
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>
#include <sys/wait.h>

static const char *tool, *tamper;

/* Runs a tool, captures the first 4 KiB of its output, returns its exit
 * status. */
static int run_tool(const char *which, const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s", which, args);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char *out, size_t size)
{
    return run_tool(tool, args, out, size);
}

static void build(const char *dir)
{
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = 4;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    for (uint64_t v = 1; v <= 12; v++) {
        store_batch *b;
        CHECK_EQ(store_batch_new(&b), 0);
        CHECK_EQ(store_batch_op_append(b, "doc-a", v, "u", "c", v, v, "x", 1), 0);
        CHECK_EQ(store_batch_op_append(b, "doc-b", v, "u", "", 0, v, "y", 1), 0);
        CHECK_EQ(store_batch_activity_append(b, v, "{\"e\":1}", 7), 0);
        if (v % 4 == 0)
            CHECK_EQ(store_batch_snapshot_put(b, "doc-a", v, v, "S", 1), 0);
        CHECK_EQ(store_batch_commit(s, b, NULL), 0);
        store_batch_free(b);
    }
    store_close(s);
}

static void raw_del(const char *dir, const char *db, const void *key, size_t klen)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    raw_open(dir, db, &env, &txn, &dbi);
    MDB_val k = {klen, (void *)key};
    CHECK_EQ(mdb_del(txn, dbi, &k, NULL), 0);
    raw_close(env, txn);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_store_verify docsync-verify docsync-store-tamper\n");
        return 2;
    }
    tool = argv[1];
    tamper = argv[2];
    char dir[128], out[4096], args[512];

    tmp_store_dir(dir, sizeof dir, "store-verify");
    build(dir);
    snprintf(args, sizeof args, "'%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 0);
    CHECK(strncmp(out, "OK docs=2 ops=16 ", 17) == 0); /* doc-a keeps 9..12 (base 8) */
    const char *hh = strstr(out, "head_hash=");
    CHECK(hh != NULL);
    char hash[65] = "";
    if (hh)
        snprintf(hash, sizeof hash, "%s", hh + 10);
    CHECK_EQ(strlen(hash), 64);
    snprintf(args, sizeof args, "--head-hash %s '%s'", hash, dir);
    CHECK_EQ(run(args, out, sizeof out), 0);

    /* Truncated activity tail: caught only with the exported head hash. */
    uint8_t k12[8] = {0, 0, 0, 0, 0, 0, 0, 12};
    raw_del(dir, "activity", k12, 8);
    snprintf(args, sizeof args, "'%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 0);
    snprintf(args, sizeof args, "--head-hash %s '%s'", hash, dir);
    CHECK_EQ(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "activity log: first bad offset 12") != NULL);

    /* A gap in doc-b's op log. */
    uint8_t kop[14] = {5, 'd', 'o', 'c', '-', 'b', 0, 0, 0, 0, 0, 0, 0, 5};
    raw_del(dir, "ops", kop, sizeof kop);
    snprintf(args, sizeof args, "--verbose '%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "PROBLEM doc \"doc-b\": op log gap: version 5 missing") != NULL);
    if (test_failures)
        fprintf(stderr, "tool output:\n%s", out);
    tmp_store_rm(dir);

    /* Usage and missing store. */
    CHECK_EQ(run("", out, sizeof out), 2);
    CHECK_EQ(run("/nonexistent-store-dir", out, sizeof out), 2);

    /* The same damage through docsync-store-tamper, plus a flipped byte. */
    tmp_store_dir(dir, sizeof dir, "store-verify");
    build(dir);
    snprintf(args, sizeof args, "'%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 0);
    hh = strstr(out, "head_hash=");
    if (hh)
        snprintf(hash, sizeof hash, "%s", hh + 10);
    snprintf(args, sizeof args, "'%s' drop-activity-tail 2", dir);
    CHECK_EQ(run_tool(tamper, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "--head-hash %s '%s'", hash, dir);
    CHECK_EQ(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "activity log: first bad offset 11") != NULL);
    snprintf(args, sizeof args, "'%s' flip-activity 3", dir);
    CHECK_EQ(run_tool(tamper, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "'%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "activity log: first bad offset 3") != NULL);
    snprintf(args, sizeof args, "'%s' drop-op doc-a 10", dir);
    CHECK_EQ(run_tool(tamper, args, out, sizeof out), 0);
    snprintf(args, sizeof args, "'%s'", dir);
    CHECK_EQ(run(args, out, sizeof out), 1);
    CHECK(strstr(out, "PROBLEM doc \"doc-a\": op log gap: version 10 missing") != NULL);
    snprintf(args, sizeof args, "'%s' drop-op doc-a 10", dir);
    CHECK_EQ(run_tool(tamper, args, out, sizeof out), 1); /* already gone */
    snprintf(args, sizeof args, "'%s' flip-activity", dir);
    CHECK_EQ(run_tool(tamper, args, out, sizeof out), 2);
    if (test_failures)
        fprintf(stderr, "last output:\n%s", out);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
