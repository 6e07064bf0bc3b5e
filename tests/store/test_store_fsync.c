/* Durable acknowledgements at the store level, audited with strace: every
 * acknowledgement (a write of "ack N" from a completion callback) comes
 * after an fsync or fdatasync of data.mdb that completed after the batch
 * was submitted; and group commit means far fewer syncs than batches when
 * many are pending.
 *
 *   test_store_fsync            runs itself under strace, then checks the log
 *   test_store_fsync probe DIR  the traced part
 *
 * Exits 77 (skipped) when strace is not available or cannot trace. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define SINGLES 20
#define GROUPS 10
#define PER_GROUP 50

static void say(const char *fmt, unsigned long long n)
{
    char buf[64];
    int len = snprintf(buf, sizeof buf, fmt, n);
    if (write(1, buf, (size_t)len) != len)
        _exit(3);
}

static void acked(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    if (status != 0)
        _exit(4);
    say("ack %llu\n", (unsigned long long)(uintptr_t)ctx);
}

static void submit(store_writer *w, uint64_t v)
{
    store_batch *b;
    if (store_batch_new(&b) || store_batch_op_append(b, "doc", v, "u", "c", v, v, "x", 1) ||
        store_batch_activity_append(b, v, "{}", 2) ||
        store_writer_submit(w, b, acked, (void *)(uintptr_t)v))
        _exit(5);
}

static int probe(const char *dir)
{
    store *s;
    store_writer *w;
    if (store_open(dir, NULL, &s) || store_writer_new(s, NULL, NULL, NULL, &w))
        return 6;
    uint64_t v = 0;
    for (int i = 0; i < SINGLES; i++) {
        v++;
        say("submit %llu\n", (unsigned long long)v);
        submit(w, v);
        store_writer_flush(w);
    }
    say("groups %llu\n", 0);
    for (int g = 0; g < GROUPS; g++) {
        say("submit group %llu\n", (unsigned long long)g);
        for (int i = 0; i < PER_GROUP; i++)
            submit(w, ++v);
        store_writer_flush(w);
    }
    store_writer_free(w);
    store_close(s);
    return 0;
}

/* Parses the strace log. A sync counts once it has completed: a full line
 * "fdatasync(N</.../data.mdb>) = 0" or the "<... fdatasync resumed>" line
 * of one that began on data.mdb. */
static unsigned long check_log(const char *log, int expect_ok)
{
    FILE *f = fopen(log, "r");
    CHECK(f != NULL);
    if (!f)
        return 1;
    char line[1024];
    int synced_since_submit = 1, in_groups = 0;
    unsigned long acks = 0, syncs_groups = 0, syncs = 0, bad = 0;
    int pending_data_sync = 0;
    while (fgets(line, sizeof line, f)) {
        int is_sync_start =
            (strstr(line, "fdatasync(") || strstr(line, "fsync(")) && strstr(line, "data.mdb");
        int completed = 0;
        if (is_sync_start && !strstr(line, "<unfinished"))
            completed = strstr(line, ") = 0") != NULL;
        else if (is_sync_start)
            pending_data_sync = 1;
        if ((strstr(line, "<... fdatasync resumed>") || strstr(line, "<... fsync resumed>")) &&
            pending_data_sync) {
            completed = strstr(line, "= 0") != NULL;
            pending_data_sync = 0;
        }
        if (completed) {
            syncs++;
            if (in_groups)
                syncs_groups++;
            synced_since_submit = 1;
        }
        if (strstr(line, "write(1") && strstr(line, "\"submit ")) {
            synced_since_submit = 0;
        } else if (strstr(line, "write(1") && strstr(line, "\"groups ")) {
            in_groups = 1;
        } else if (strstr(line, "write(1") && strstr(line, "\"ack ")) {
            acks++;
            if (!synced_since_submit) {
                bad++;
                if (expect_ok)
                    fprintf(stderr, "ack before a completed sync: %s", line);
            }
        }
    }
    fclose(f);
    if (!expect_ok)
        return bad;
    printf("acks=%lu syncs=%lu (in the grouped phase: %lu syncs for %d batches)\n", acks, syncs,
           syncs_groups, GROUPS * PER_GROUP);
    CHECK_EQ(acks, SINGLES + GROUPS * PER_GROUP);
    CHECK_EQ(bad, 0);
    CHECK(syncs >= SINGLES);
    /* Group commit: one sync per group taken by the writer, not per batch. */
    CHECK(syncs_groups <= GROUPS * PER_GROUP / 5);
    return bad;
}

/* The checker must be able to fail: a log whose ack precedes the sync
 * completion, and one where a sync of another file precedes the ack. */
static void check_checker(const char *log)
{
    static const char *bad_logs[] = {
        "1 write(1</dev/null>, \"submit 1\\n\", 9) = 9\n"
        "2 fdatasync(3</tmp/x/data.mdb> <unfinished ...>\n"
        "1 write(1</dev/null>, \"ack 1\\n\", 6) = 6\n"
        "2 <... fdatasync resumed>) = 0\n",
        "1 write(1</dev/null>, \"submit 1\\n\", 9) = 9\n"
        "2 fdatasync(4</tmp/x/other.log>) = 0\n"
        "1 write(1</dev/null>, \"ack 1\\n\", 6) = 6\n",
    };
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(log, "w");
        CHECK(f != NULL);
        if (!f)
            return;
        fputs(bad_logs[i], f);
        fclose(f);
        CHECK_EQ(check_log(log, 0), 1);
    }
    FILE *f = fopen(log, "w");
    if (!f)
        return;
    fputs("1 write(1</dev/null>, \"submit 1\\n\", 9) = 9\n"
          "2 fdatasync(3</tmp/x/data.mdb> <unfinished ...>\n"
          "2 <... fdatasync resumed>) = 0\n"
          "1 write(1</dev/null>, \"ack 1\\n\", 6) = 6\n",
          f);
    fclose(f);
    CHECK_EQ(check_log(log, 0), 0);
    unlink(log);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "probe") == 0)
        return probe(argv[2]);
    if (access("/usr/bin/strace", X_OK) != 0) {
        printf("SKIP: strace not installed\n");
        return 77;
    }
    char dir[128], log[160], self[512];
    tmp_store_dir(dir, sizeof dir, "store-fsync");
    snprintf(log, sizeof log, "%s.strace", dir);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 2;
    self[n] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(2);
        /* LeakSanitizer cannot run under ptrace; leaks are checked by the
         * other tests. */
        setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        execl("/usr/bin/strace", "strace", "-f", "-qq", "-y", "-s", "32", "-e",
              "trace=fsync,fdatasync,write", "-o", log, self, "probe", dir, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("SKIP: could not run the probe under strace (status %d)\n", st);
        unlink(log);
        tmp_store_rm(dir);
        return 77;
    }
    check_log(log, 1);
    check_checker(log);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
