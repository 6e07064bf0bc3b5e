/* A data.mdb cut short (a partial copy or restore) is refused at open with
 * STORE_ETRUNCATED, by store_open, by store_inspect and by docsync-verify
 * (exit 1 with a message), instead of the process dying with SIGBUS when a
 * page beyond the end of the file is read through the map. Each attempt
 * runs in a child process, so that a crash is reported as a failure rather
 * than ending the test. Also: store_inspect tells a missing store from one
 * whose data file was deleted or emptied.
 *
 *   test_store_truncated DOCSYNC_VERIFY */
#include "store.h"
#include "test.h"
#include "util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *verify_bin;

static int read_op(void *ctx, const struct store_op *op)
{
    (*(uint64_t *)ctx) += op->len;
    return 0;
}

static int read_doc(void *ctx, const char *id, size_t id_len, const struct store_doc_info *d)
{
    store_read *r = ctx;
    char doc[STORE_DOC_ID_MAX + 1];
    memcpy(doc, id, id_len);
    doc[id_len] = '\0';
    uint64_t bytes = 0;
    store_ops_after(r, doc, 0, d->head, 0, read_op, &bytes, NULL);
    return 0;
}

/* In a child: opens the store and, if that works, reads every document and
 * the activity log (where an unchecked cut file faults). Exits with -code
 * of store_open (0 when it opened). */
static void child_open_and_read(const char *dir)
{
    store *s;
    int err = store_open(dir, NULL, &s);
    if (err)
        _exit(-err);
    store_read *r;
    if (store_read_begin(s, &r) == 0) {
        store_doc_list(r, NULL, 0, read_doc, r);
        uint64_t bad = 0;
        store_activity_verify(r, 1, UINT64_MAX, NULL, &bad);
        store_read_end(r);
    }
    store_close(s);
    _exit(0);
}

/* Runs child_open_and_read in a child; returns its exit status, or 1000 +
 * the signal that killed it. */
static int open_in_child(const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child_open_and_read(dir);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Runs docsync-verify DIR with its output in `out` (cap bytes); returns its
 * exit status, or 1000 + the signal that killed it. */
static int run_verify(const char *dir, char *out, size_t cap)
{
    char outfile[256];
    snprintf(outfile, sizeof outfile, "%s.verify-out", dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(verify_bin, verify_bin, dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    out[0] = '\0';
    FILE *f = fopen(outfile, "r");
    if (f) {
        size_t n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    unlink(outfile);
    return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in && out);
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        CHECK_EQ(fwrite(buf, 1, n, out), n);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

static void test_truncated(void)
{
    char dir[128], data[192], keep[192];
    tmp_store_dir(dir, sizeof dir, "store-truncated");
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    snprintf(keep, sizeof keep, "%s.keep", dir);

    /* A store of a few hundred pages: 300 ops of 2 KiB on three documents. */
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    char payload[2048];
    memset(payload, 'x', sizeof payload);
    const char *docs[] = {"alpha", "beta", "gamma"};
    for (uint64_t v = 1; v <= 100; v++)
        for (int d = 0; d < 3; d++)
            CHECK_EQ(commit_op_activity(s, docs[d], v, payload, sizeof payload, "act", 3), 0);
    store_close(s);

    struct store_files f;
    CHECK_EQ(store_inspect(dir, &f), 0);
    CHECK_EQ(f.store, 1);
    CHECK_EQ(f.traces, 0);
    CHECK(f.used_bytes > 100 * 4096);
    CHECK(f.data_bytes >= f.used_bytes);
    uint64_t full = f.data_bytes, used = f.used_bytes;
    CHECK_EQ(open_in_child(dir), 0);
    copy_file(data, keep);

    /* Cut at several places: the last page, the middle, just after the
     * meta pages, inside the second meta page, inside the first. */
    uint64_t cuts[] = {used - 4096, used - 1, used / 2, 3 * 4096, 4096 + 100, 100};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        copy_file(keep, data);
        CHECK_EQ(truncate(data, (off_t)cuts[i]), 0);
        int rc = open_in_child(dir);
        if (rc != -STORE_ETRUNCATED)
            fprintf(stderr, "cut at %llu of %llu bytes: child ended with %d (%s)\n",
                    (unsigned long long)cuts[i], (unsigned long long)full, rc,
                    rc > 1000 ? strsignal(rc - 1000) : "exit status");
        CHECK_EQ(rc, -STORE_ETRUNCATED);
        CHECK_EQ(store_inspect(dir, &f), STORE_ETRUNCATED);
        CHECK_EQ(f.store, 1);
        CHECK_EQ(f.data_bytes, cuts[i]);
        if (cuts[i] >= 2 * 4096) /* both meta pages are there: the sizes are known */
            CHECK_EQ(f.used_bytes, used);
        char out[4096];
        int vrc = run_verify(dir, out, sizeof out);
        CHECK_EQ(vrc, 1);
        CHECK(strstr(out, "truncated") != NULL);
        if (vrc != 1 || !strstr(out, "truncated"))
            fprintf(stderr, "docsync-verify on a cut store (%llu bytes): %d\n%s\n",
                    (unsigned long long)cuts[i], vrc, out);
    }
    /* Put back whole, it opens and verifies again. */
    copy_file(keep, data);
    CHECK_EQ(open_in_child(dir), 0);
    char out[4096];
    CHECK_EQ(run_verify(dir, out, sizeof out), 0);
    unlink(keep);
    tmp_store_rm(dir);
}

static void test_missing(void)
{
    char dir[128], path[192];
    tmp_store_dir(dir, sizeof dir, "store-missing");
    struct store_files f;
    /* Nothing there yet (not even the directory): no store, no traces. */
    CHECK_EQ(store_inspect(dir, &f), 0);
    CHECK_EQ(f.store, 0);
    CHECK_EQ(f.traces, 0);
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_close(s);
    CHECK_EQ(store_inspect(dir, &f), 0);
    CHECK_EQ(f.store, 1);
    CHECK_EQ(f.traces, 0);
    CHECK_EQ(f.data_bytes, f.used_bytes);

    /* data.mdb deleted, lock.mdb left: no store, but traces of one. */
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    CHECK_EQ(unlink(path), 0);
    CHECK_EQ(store_inspect(dir, &f), 0);
    CHECK_EQ(f.store, 0);
    CHECK_EQ(f.traces, 1);

    /* An empty data.mdb is no store either (LMDB would start a new one). */
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_EQ(store_inspect(dir, &f), 0);
    CHECK_EQ(f.store, 0);
    CHECK_EQ(f.traces, 1);

    /* A file that is no LMDB environment at all is corrupt, not cut. */
    FILE *w = fopen(path, "wb");
    CHECK(w != NULL);
    char junk[3 * 4096];
    memset(junk, 0x5a, sizeof junk);
    if (w) {
        fwrite(junk, 1, sizeof junk, w);
        fclose(w);
    }
    CHECK_EQ(store_inspect(dir, &f), STORE_ECORRUPT);
    tmp_store_rm(dir);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_store_truncated DOCSYNC_VERIFY\n");
        return 2;
    }
    verify_bin = argv[1];
    test_truncated();
    test_missing();
    CHECK(strcmp(store_strerror(STORE_ETRUNCATED), "unknown error") != 0);
    return TEST_RESULT();
}
