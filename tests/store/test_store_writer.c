/* Unit tests of the writer thread: group commit under concurrent
 * submissions, completion order, durability before callbacks, per-batch
 * failures inside a group, queue bound, shutdown with pending batches. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#define THREADS 4
#define PER_THREAD 300

struct env {
    store *s;
    store_writer *w;
    int pipe_fd[2];
    pthread_mutex_t mu; /* serializes submitters with each other */
    uint64_t last_version[THREADS];
    uint64_t completed;
    uint64_t order_next; /* for the in-order check of single-thread runs */
    uint8_t seen_offset[THREADS * PER_THREAD + 1];
    unsigned notifies;
    int failures;
};

struct job {
    struct env *e;
    int thread;
    uint64_t version;
    uint64_t order;
};

static void notify(void *arg)
{
    struct env *e = arg;
    __atomic_add_fetch(&e->notifies, 1, __ATOMIC_RELAXED);
    char c = 1;
    ssize_t n = write(e->pipe_fd[1], &c, 1);
    (void)n; /* a full pipe already wakes the reader */
}

static void done(void *ctx, int status, const struct store_batch_result *res)
{
    struct job *j = ctx;
    struct env *e = j->e;
    CHECK_EQ(status, 0);
    /* Completions of one submitter come back in its order. */
    CHECK_EQ(j->version, e->last_version[j->thread] + 1);
    e->last_version[j->thread] = j->version;
    CHECK_EQ(res->activity_count, 1);
    if (res->activity_first >= 1 && res->activity_first <= THREADS * PER_THREAD) {
        CHECK_EQ(e->seen_offset[res->activity_first], 0);
        e->seen_offset[res->activity_first] = 1;
    } else {
        CHECK(0);
    }
    /* The batch is committed before its callback runs. */
    char doc[16];
    snprintf(doc, sizeof doc, "doc-%d", j->thread);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(e->s, &r), 0);
    CHECK_EQ(store_doc_get(r, doc, &d), 0);
    CHECK(d.head >= j->version);
    store_read_end(r);
    e->completed++;
    free(j);
}

struct submitter {
    struct env *e;
    int thread;
};

static void *submit_main(void *arg)
{
    struct submitter *sub = arg;
    struct env *e = sub->e;
    char doc[16];
    snprintf(doc, sizeof doc, "doc-%d", sub->thread);
    for (uint64_t v = 1; v <= PER_THREAD; v++) {
        store_batch *b;
        char data[64], payload[64];
        int n = snprintf(data, sizeof data, "update %d/%llu", sub->thread, (unsigned long long)v);
        int pn = snprintf(payload, sizeof payload, "{\"t\":%d,\"v\":%llu}", sub->thread,
                          (unsigned long long)v);
        CHECK_EQ(store_batch_new(&b), 0);
        CHECK_EQ(store_batch_op_append(b, doc, v, "user", "client", v, v, data, (size_t)n), 0);
        CHECK_EQ(store_batch_activity_append(b, v, payload, (size_t)pn), 0);
        struct job *j = calloc(1, sizeof *j);
        j->e = e;
        j->thread = sub->thread;
        j->version = v;
        pthread_mutex_lock(&e->mu);
        int err;
        while ((err = store_writer_submit(e->w, b, done, j)) == STORE_EBUSY) {
            pthread_mutex_unlock(&e->mu);
            usleep(1000);
            pthread_mutex_lock(&e->mu);
        }
        pthread_mutex_unlock(&e->mu);
        CHECK_EQ(err, 0);
    }
    return NULL;
}

static void test_group_commit(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-writer");
    struct env *e = calloc(1, sizeof *e);
    CHECK_EQ(store_open(dir, NULL, &e->s), 0);
    CHECK_EQ(pipe(e->pipe_fd), 0);
    pthread_mutex_init(&e->mu, NULL);
    struct store_writer_options wo = {.queue_max = 256, .group_max = 64};
    CHECK_EQ(store_writer_new(e->s, &wo, notify, e, &e->w), 0);
    store_writer *w2;
    CHECK_EQ(store_writer_new(e->s, NULL, NULL, NULL, &w2), STORE_EINVAL); /* one per store */

    pthread_t th[THREADS];
    struct submitter subs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        subs[i].e = e;
        subs[i].thread = i;
        CHECK_EQ(pthread_create(&th[i], NULL, submit_main, &subs[i]), 0);
    }
    /* The "event loop": wait for a notification, drain. */
    const uint64_t total = THREADS * PER_THREAD;
    while (e->completed < total) {
        struct pollfd pfd = {.fd = e->pipe_fd[0], .events = POLLIN};
        int pr = poll(&pfd, 1, 5000);
        CHECK(pr > 0);
        if (pr <= 0)
            break;
        char buf[256];
        ssize_t n = read(e->pipe_fd[0], buf, sizeof buf);
        (void)n;
        store_writer_drain(e->w);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(e->completed, total);
    CHECK_EQ(store_writer_pending(e->w), 0);
    unsigned notifies = __atomic_load_n(&e->notifies, __ATOMIC_RELAXED);
    printf("%llu batches committed in %u groups\n", (unsigned long long)total, notifies);
    CHECK(notifies <= total);
    /* The counters: every batch in exactly one group, one notify per group,
     * every group in one bucket or beyond the last. */
    struct store_writer_stats ws;
    store_writer_stats(e->w, &ws);
    CHECK_EQ(ws.batches, total);
    CHECK_EQ(ws.groups, notifies);
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < STORE_WRITER_BUCKETS; i++)
        in_buckets += ws.le[i];
    CHECK(in_buckets <= ws.groups);
    CHECK(ws.sync_us <= ws.commit_us);
    store_writer_free(e->w);

    struct store_stat st;
    CHECK_EQ(store_stat(e->s, &st), 0);
    CHECK_EQ(st.ops, total);
    CHECK_EQ(st.activity, total);
    store_read *r;
    uint64_t bad;
    CHECK_EQ(store_read_begin(e->s, &r), 0);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    store_read_end(r);
    store_close(e->s);
    close(e->pipe_fd[0]);
    close(e->pipe_fd[1]);
    pthread_mutex_destroy(&e->mu);
    free(e);
    tmp_store_rm(dir);
}

struct order {
    int next;
    int statuses[8];
};

struct order_job {
    struct order *o;
    int index;
};

static void order_done(void *ctx, int status, const struct store_batch_result *res)
{
    struct order_job *j = ctx;
    (void)res;
    CHECK_EQ(j->index, j->o->next);
    j->o->statuses[j->index] = status;
    j->o->next++;
    free(j);
}

/* Submits one op of `doc` at version v as its own batch, in `chain` (0 = none). */
static void submit_chained(store_writer *w, struct order *o, int index, const char *doc, uint64_t v,
                           uint64_t chain)
{
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    store_batch_set_chain(b, chain);
    CHECK_EQ(store_batch_op_append(b, doc, v, "u", "c", v, 1, "x", 1), 0);
    struct order_job *j = malloc(sizeof *j);
    j->o = o;
    j->index = index;
    CHECK_EQ(store_writer_submit(w, b, order_done, j), 0);
}

static void submit_op(store_writer *w, struct order *o, int index, const char *doc, uint64_t v)
{
    submit_chained(w, o, index, doc, v, 0);
}

/* A batch after a failed one of its chain fails unapplied, even when its
 * own items would fit (here: the failed batch's version was taken by a
 * write outside the chain, so the next version fits the head), in the same
 * group and in a later one; other chains and unchained batches are not
 * affected. */
static void test_chains(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-writer");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct order o = {0};
    submit_op(w, &o, 0, "x", 1);         /* the outside write: x is at version 1 */
    submit_chained(w, &o, 1, "x", 1, 7); /* conflict */
    submit_chained(w, &o, 2, "x", 2, 7); /* fits, but follows a failure of chain 7 */
    submit_chained(w, &o, 3, "y", 1, 8); /* another chain */
    submit_chained(w, &o, 4, "x", 2, 9); /* a new chain for x */
    CHECK_EQ(store_writer_flush(w), 5);
    CHECK_EQ(o.statuses[0], 0);
    CHECK_EQ(o.statuses[1], STORE_ECONFLICT);
    CHECK_EQ(o.statuses[2], STORE_ECONFLICT);
    CHECK_EQ(o.statuses[3], 0);
    CHECK_EQ(o.statuses[4], 0);
    /* In a later group: chain 7 stays failed; 9 goes on. */
    struct order o2 = {0};
    submit_chained(w, &o2, 0, "x", 3, 7);
    submit_chained(w, &o2, 1, "x", 3, 9);
    CHECK_EQ(store_writer_flush(w), 2);
    CHECK_EQ(o2.statuses[0], STORE_ECONFLICT);
    CHECK_EQ(o2.statuses[1], 0);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "x", &d), 0);
    CHECK_EQ(d.head, 3);
    store_read_end(r);
    store_writer_free(w);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_failures_in_group(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-writer");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct order o = {0};
    /* A refused batch fails alone, whatever the grouping. */
    submit_op(w, &o, 0, "x", 1);
    submit_op(w, &o, 1, "x", 1); /* conflict */
    submit_op(w, &o, 2, "x", 2);
    submit_op(w, &o, 3, "x", 4); /* gap */
    submit_op(w, &o, 4, "x", 3);
    CHECK_EQ(store_writer_flush(w), 5);
    CHECK_EQ(o.next, 5);
    CHECK_EQ(o.statuses[0], 0);
    CHECK_EQ(o.statuses[1], STORE_ECONFLICT);
    CHECK_EQ(o.statuses[2], 0);
    CHECK_EQ(o.statuses[3], STORE_ECONFLICT);
    CHECK_EQ(o.statuses[4], 0);
    store_read *r;
    struct store_doc_info d;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "x", &d), 0);
    CHECK_EQ(d.head, 3);
    store_read_end(r);
    CHECK_EQ(store_writer_submit(w, NULL, NULL, NULL), STORE_EINVAL);

    /* Pending batches are committed and their callbacks run on free. */
    struct order o2 = {0};
    submit_op(w, &o2, 0, "y", 1);
    submit_op(w, &o2, 1, "y", 2);
    submit_op(w, &o2, 2, "y", 3);
    store_writer_free(w);
    CHECK_EQ(o2.next, 3);
    CHECK_EQ(o2.statuses[2], 0);
    store_writer_free(NULL);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_queue_bound(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-writer");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_writer *w;
    struct store_writer_options wo = {.queue_max = 3, .group_max = 0};
    CHECK_EQ(store_writer_new(s, &wo, NULL, NULL, &w), 0);
    struct order o = {0};
    submit_op(w, &o, 0, "q", 1);
    submit_op(w, &o, 1, "q", 2);
    submit_op(w, &o, 2, "q", 3);
    /* Undrained completions count against the bound. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "q", 4, "u", "c", 4, 1, "x", 1), 0);
    CHECK_EQ(store_writer_submit(w, b, NULL, NULL), STORE_EBUSY);
    CHECK_EQ(store_writer_flush(w), 3);
    CHECK_EQ(store_writer_submit(w, b, NULL, NULL), 0); /* b now belongs to w */
    CHECK_EQ(store_writer_flush(w), 1);
    store_writer_free(w);
    store_close(s);
    tmp_store_rm(dir);
}

struct chain {
    store_writer *w;
    uint64_t next, done;
};

static void chain_done(void *ctx, int status, const struct store_batch_result *res)
{
    struct chain *c = ctx;
    (void)res;
    CHECK_EQ(status, 0);
    c->done++;
    if (c->next > 5)
        return;
    /* Resubmit from inside the callback, with a queue of one. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "chain", c->next, "u", "c", c->next, 1, "x", 1), 0);
    CHECK_EQ(store_writer_submit(c->w, b, chain_done, c), 0);
    c->next++;
}

static void test_submit_from_callback(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-writer");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    struct store_writer_options wo = {.queue_max = 1, .group_max = 0};
    struct chain c = {.next = 1};
    CHECK_EQ(store_writer_new(s, &wo, NULL, NULL, &c.w), 0);
    chain_done(&c, 0, NULL);
    c.done = 0;
    for (int i = 0; i < 100 && c.done < 5; i++)
        store_writer_flush(c.w);
    CHECK_EQ(c.done, 5);
    store_writer_free(c.w);
    store_close(s);
    tmp_store_rm(dir);
}

int main(void)
{
    test_group_commit();
    test_failures_in_group();
    test_chains();
    test_queue_bound();
    test_submit_from_callback();
    return TEST_RESULT();
}
