/* Crash safety at the store level: a child process writes batches
 * through the writer thread and reports each acknowledged version on a pipe
 * from its completion callback; the parent kills it with SIGKILL after a
 * pseudo-random number of acknowledgements (fixed seed), reopens the store
 * and checks: every acknowledged op is present, the op log has no gap,
 * each op's activity entry is there (same transaction) and the chain
 * verifies, the sequence index matches. This tests atomicity and ack
 * ordering; kill -9 does not lose the page cache, so it does not test
 * power-loss durability (a power cut also loses what the kernel had not
 * yet written; test_store_powerloss simulates that). */
#include "store.h"
#include "test.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 10
#define DOC "crash-doc"

static uint32_t rng_state = 20261125u;

static uint32_t rng(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

struct ack {
    int fd;
    uint64_t version;
};

static void child_done(void *ctx, int status, const struct store_batch_result *res)
{
    struct ack *a = ctx;
    (void)res;
    if (status != 0)
        _exit(3);
    /* The ack: only after the commit returned. */
    if (write(a->fd, &a->version, sizeof a->version) != sizeof a->version)
        _exit(4);
    free(a);
}

static struct store_options opts(void)
{
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = 30;
    return o;
}

static void child_main(const char *dir, int fd)
{
    struct store_options o = opts();
    store *s;
    if (store_open(dir, &o, &s) != 0)
        _exit(5);
    store_read *r;
    struct store_doc_info d;
    uint64_t v = 0;
    if (store_read_begin(s, &r) != 0)
        _exit(6);
    if (store_doc_get(r, DOC, &d) == 0)
        v = d.head;
    store_read_end(r);
    store_writer *w;
    if (store_writer_new(s, NULL, NULL, NULL, &w) != 0)
        _exit(7);
    uint8_t update[300];
    memset(update, 'u', sizeof update);
    for (;;) {
        for (int i = 0; i < 16; i++) {
            v++;
            store_batch *b;
            char payload[64];
            int pn = snprintf(payload, sizeof payload, "{\"v\":%llu}", (unsigned long long)v);
            if (store_batch_new(&b) != 0 ||
                store_batch_op_append(b, DOC, v, "user", "c", v, v, update, sizeof update) ||
                store_batch_activity_append(b, v, payload, (size_t)pn) ||
                (v % 10 == 0 && store_batch_snapshot_put(b, DOC, v, v, "snap", 4)))
                _exit(8);
            struct ack *a = malloc(sizeof *a);
            if (!a)
                _exit(10);
            a->fd = fd;
            a->version = v;
            if (store_writer_submit(w, b, child_done, a) != 0)
                _exit(9);
        }
        store_writer_flush(w);
    }
}

static int count_op(void *ctx, const struct store_op *op)
{
    uint64_t *expect = ctx;
    if (op->version != *expect)
        return -1000;
    (*expect)++;
    return 0;
}

static uint64_t check_store(const char *dir, uint64_t acked)
{
    struct store_options o = opts();
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    memset(&d, 0, sizeof d);
    int err = store_doc_get(r, DOC, &d);
    CHECK(err == 0 || (err == STORE_ENOTFOUND && acked == 0));
    CHECK(d.head >= acked);
    uint64_t expect = d.trunc_version + 1;
    CHECK_EQ(store_ops_after(r, DOC, d.trunc_version, UINT64_MAX, 0, count_op, &expect, NULL), 0);
    CHECK_EQ(expect, d.head + 1);
    uint64_t off = 0, bad = 0;
    uint8_t hash[STORE_HASH_LEN];
    CHECK_EQ(store_activity_head(r, &off, hash), 0);
    CHECK_EQ(off, d.head); /* one activity entry per op, same transaction */
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    if (d.head) {
        uint64_t seq = 0, ver = 0;
        CHECK_EQ(store_seq_get(r, DOC, "c", &seq, &ver, NULL), 0);
        CHECK_EQ(seq, d.head);
        CHECK_EQ(ver, d.head);
    }
    if (d.head >= 10) {
        struct store_snapshot sn;
        CHECK_EQ(store_snapshot_get(r, DOC, UINT64_MAX, &sn), 0);
        CHECK_EQ(sn.version, d.head / 10 * 10);
    }
    store_read_end(r);
    store_close(s);
    return d.head;
}

int main(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-crash");
    uint64_t acked_total = 0, head = 0, acks = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int p[2];
        CHECK_EQ(pipe(p), 0);
        uint32_t target = 5 + rng() % 120;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(dir, p[1]);
            _exit(0);
        }
        close(p[1]);
        /* The child continues from the stored head: ops committed but not
         * acknowledged before a kill are kept (all or nothing). */
        uint64_t got = 0, last = head;
        uint32_t n = 0;
        while (n < target) {
            struct pollfd pfd = {.fd = p[0], .events = POLLIN};
            if (poll(&pfd, 1, 20000) <= 0)
                break;
            ssize_t k = read(p[0], &got, sizeof got);
            if (k != sizeof got)
                break;
            CHECK_EQ(got, last + 1); /* acks in order, none skipped */
            last = got;
            n++;
            acks++;
        }
        CHECK_EQ(n, target);
        /* Land the kill anywhere: before, during or after the next commit. */
        usleep(rng() % 4000);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st));
        /* Acks written before the kill are still in the pipe. */
        while (read(p[0], &got, sizeof got) == sizeof got) {
            CHECK_EQ(got, last + 1);
            last = got;
            acks++;
        }
        close(p[0]);
        acked_total = last;
        head = check_store(dir, acked_total);
    }
    printf("%d kills, %llu acknowledged ops, all present; head %llu\n", ROUNDS,
           (unsigned long long)acks, (unsigned long long)head);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
