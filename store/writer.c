/* writer.c - the writer thread: group commit of submitted batches, with
 * completions handed back to the submitting (event-loop) thread. */
#include "store_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
    struct job *next;
    store_batch *batch;
    store_done_fn cb;
    void *ctx;
    int status;
    struct store_batch_result res;
};

struct job_list {
    struct job *head, *tail;
    size_t count;
};

struct store_writer {
    store *s;
    struct store_writer_options opt;
    store_notify_fn notify;
    void *notify_arg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work;                  /* signalled on submit and on stop */
    pthread_cond_t idle;                  /* signalled when a group completes */
    pthread_cond_t drained;               /* signalled by store_writer_drain */
    uint64_t groups_done, groups_drained; /* under mu */
    /* store_writer_followup: set by the loop on every edit held back, so
     * an atomic rather than the mutex; taken by the writer after a group. */
    atomic_int followup;
    struct job_list pending, done;
    size_t in_flight;   /* taken by the thread, not yet in done */
    size_t outstanding; /* submitted and not yet drained */
    int stop;
    /* Chains whose batch failed in an earlier group (writer thread only): a
     * later batch of the chain may still be pending. A few suffice: each
     * chain has at most a batch or two in flight behind a failure. */
    uint64_t failed_chains[64];
    size_t failed_next;
    struct store_writer_stats stats; /* under mu */
    uint64_t sync_us;                /* the running group's final commit (writer thread) */
};

#define DRAIN_WAIT_US 1000

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void list_push(struct job_list *l, struct job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->count++;
}

static void list_append(struct job_list *l, struct job_list *more)
{
    if (!more->head)
        return;
    if (l->tail)
        l->tail->next = more->head;
    else
        l->head = more->head;
    l->tail = more->tail;
    l->count += more->count;
    memset(more, 0, sizeof *more);
}

/* 1 when job j may not be applied: an earlier batch of its chain failed, in
 * an earlier group or before j in this one (statuses of this attempt). */
static int chain_broken(const store_writer *w, const struct job *first, const struct job *j)
{
    uint64_t chain = store__batch_chain(j->batch);
    if (!chain)
        return 0;
    for (size_t i = 0; i < sizeof w->failed_chains / sizeof w->failed_chains[0]; i++)
        if (w->failed_chains[i] == chain)
            return 1;
    for (const struct job *k = first; k != j; k = k->next)
        if (k->status != 0 && store__batch_chain(k->batch) == chain)
            return 1;
    return 0;
}

static void chain_refuse(struct job *j)
{
    j->status = STORE_ECONFLICT;
    memset(&j->res, 0, sizeof j->res);
    j->res.failed_item = UINT32_MAX;
}

/* Commits a group: every batch in a nested transaction of one write
 * transaction, one commit. Batches whose items are refused fail alone (and
 * the later batches of their chain with them). When the environment fails
 * (map full after growth, disk full, I/O), each batch is retried in its own
 * transaction. */
static void group_commit(store_writer *w, struct job *first, size_t n)
{
    store *s = w->s;
    pthread_mutex_lock(&s->write_mu);
    int env_err = 0, reopened = 0;
    for (;;) {
        MDB_txn *parent;
        int mdb_rc = 0;
        env_err = 0;
        int rc = store__write_begin(s, &parent);
        if (rc) {
            env_err = store__err(rc, s->dir);
            if (env_err == STORE_EPANIC && !reopened) {
                reopened = 1;
                if (store__reopen_locked(s) == 0)
                    continue;
            }
            break;
        }
        struct job *j = first;
        for (size_t i = 0; i < n; i++, j = j->next) {
            if (chain_broken(w, first, j)) {
                chain_refuse(j);
                continue;
            }
            MDB_txn *child;
            rc = mdb_txn_begin(s->env, parent, 0, &child);
            if (rc) {
                mdb_rc = rc;
                env_err = store__err(rc, s->dir);
                break;
            }
            int err = store__batch_apply(s, child, j->batch, &j->res, &mdb_rc);
            if (err && !store__err_is_env(err)) {
                mdb_txn_abort(child);
                j->status = err;
                j->res.activity_first = 0;
                j->res.activity_count = 0;
                continue;
            }
            if (err) {
                mdb_txn_abort(child);
                env_err = err;
                break;
            }
            rc = mdb_txn_commit(child);
            if (rc) {
                mdb_rc = rc;
                env_err = store__err(rc, s->dir);
                break;
            }
            j->status = 0;
        }
        if (env_err) {
            mdb_txn_abort(parent);
        } else {
            uint64_t t0 = mono_us();
            rc = mdb_txn_commit(parent);
            w->sync_us += mono_us() - t0;
            if (rc) {
                mdb_rc = rc;
                env_err = store__err(rc, s->dir);
            }
        }
        if (env_err == STORE_EFULL && mdb_rc == MDB_MAP_FULL && store__grow_locked(s) == 0)
            continue;
        if (env_err == STORE_EPANIC && !reopened) {
            reopened = 1;
            if (store__reopen_locked(s) == 0)
                continue;
        }
        break;
    }
    if (env_err) {
        /* Nothing of the group was written: commit the batches one by one
         * so that one that cannot fit does not fail the rest. */
        struct job *j = first;
        for (size_t i = 0; i < n; i++, j = j->next)
            j->status = 0; /* this attempt's statuses only (chain_broken) */
        j = first;
        for (size_t i = 0; i < n; i++, j = j->next) {
            if (chain_broken(w, first, j)) {
                chain_refuse(j);
            } else if (n == 1) {
                j->status = env_err;
                memset(&j->res, 0, sizeof j->res);
                j->res.failed_item = UINT32_MAX;
            } else {
                j->status = store__batch_commit_locked(s, j->batch, &j->res);
            }
        }
    }
    pthread_mutex_unlock(&s->write_mu);
    struct job *j = first;
    for (size_t i = 0; i < n; i++, j = j->next) {
        uint64_t chain = store__batch_chain(j->batch);
        if (j->status != 0 && chain) {
            w->failed_chains[w->failed_next] = chain;
            w->failed_next =
                (w->failed_next + 1) % (sizeof w->failed_chains / sizeof w->failed_chains[0]);
        }
    }
}

static void *writer_main(void *arg)
{
    store_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->pending.head && !w->stop)
            pthread_cond_wait(&w->work, &w->mu);
        if (!w->pending.head)
            break; /* stopping and nothing left */
        /* Take up to group_max pending jobs. */
        struct job_list group = {0};
        while (w->pending.head && group.count < w->opt.group_max) {
            struct job *j = w->pending.head;
            w->pending.head = j->next;
            if (!w->pending.head)
                w->pending.tail = NULL;
            w->pending.count--;
            list_push(&group, j);
        }
        w->in_flight += group.count;
        pthread_mutex_unlock(&w->mu);

        uint64_t t0 = mono_us();
        w->sync_us = 0;
        group_commit(w, group.head, group.count);
        uint64_t took = mono_us() - t0;

        pthread_mutex_lock(&w->mu);
        w->in_flight -= group.count;
        w->stats.groups++;
        w->stats.batches += group.count;
        w->stats.commit_us += took;
        w->stats.sync_us += w->sync_us;
        for (size_t i = 0; i < STORE_WRITER_BUCKETS; i++)
            if (took * 4 <= (uint64_t)1000 << i) {
                w->stats.le[i]++;
                break;
            }
        list_append(&w->done, &group);
        pthread_cond_broadcast(&w->idle);
        uint64_t mine = ++w->groups_done;
        pthread_mutex_unlock(&w->mu);
        if (w->notify)
            w->notify(w->notify_arg);
        pthread_mutex_lock(&w->mu);
        /* When the loop holds work back for a completion
         * (store_writer_followup), give it a moment to drain these first:
         * what it submits in reply then joins the next group instead of
         * waiting a whole commit for the one after. Each group costs an
         * fsync whatever its size, so fuller groups are more edits per
         * second. Bounded: a busy loop thread costs the writer at most
         * DRAIN_WAIT_US. Otherwise the next group starts at once. */
        int wait = atomic_exchange(&w->followup, 0);
        if (wait && w->notify && !w->stop) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += DRAIN_WAIT_US * 1000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            while (w->groups_drained < mine && !w->stop &&
                   pthread_cond_timedwait(&w->drained, &w->mu, &until) == 0)
                ;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int store_writer_new(store *s, const struct store_writer_options *o, store_notify_fn notify,
                     void *notify_arg, store_writer **out)
{
    if (!s || !out)
        return STORE_EINVAL;
    *out = NULL;
    if (s->has_writer)
        return STORE_EINVAL;
    store_writer *w = calloc(1, sizeof *w);
    if (!w)
        return STORE_ENOMEM;
    w->s = s;
    w->opt.queue_max = 4096;
    w->opt.group_max = 1024;
    if (o) {
        if (o->queue_max)
            w->opt.queue_max = o->queue_max;
        if (o->group_max)
            w->opt.group_max = o->group_max;
    }
    w->notify = notify;
    w->notify_arg = notify_arg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->idle, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->drained, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->work);
        pthread_cond_destroy(&w->idle);
        pthread_cond_destroy(&w->drained);
        free(w);
        return STORE_EIO;
    }
    s->has_writer = 1;
    *out = w;
    return 0;
}

int store_writer_submit(store_writer *w, store_batch *b, store_done_fn cb, void *ctx)
{
    if (!w || !b)
        return STORE_EINVAL;
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return STORE_ENOMEM;
    j->batch = b;
    j->cb = cb;
    j->ctx = ctx;
    pthread_mutex_lock(&w->mu);
    int err = 0;
    if (w->stop)
        err = STORE_ESHUTDOWN;
    else if (w->outstanding >= w->opt.queue_max)
        err = STORE_EBUSY;
    if (err) {
        pthread_mutex_unlock(&w->mu);
        free(j);
        return err;
    }
    list_push(&w->pending, j);
    w->outstanding++;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

size_t store_writer_drain(store_writer *w)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    struct job_list done = w->done;
    memset(&w->done, 0, sizeof w->done);
    uint64_t groups = w->groups_done;
    /* Release their queue slots first: callbacks may submit again. */
    w->outstanding -= done.count;
    pthread_mutex_unlock(&w->mu);
    size_t n = 0;
    for (struct job *j = done.head, *next; j; j = next) {
        next = j->next;
        store_batch_free(j->batch);
        if (j->cb)
            j->cb(j->ctx, j->status, &j->res);
        free(j);
        n++;
    }
    pthread_mutex_lock(&w->mu);
    if (groups > w->groups_drained) {
        w->groups_drained = groups;
        pthread_cond_signal(&w->drained);
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

void store_writer_stats(store_writer *w, struct store_writer_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

void store_writer_followup(store_writer *w)
{
    if (w)
        atomic_store_explicit(&w->followup, 1, memory_order_relaxed);
}

size_t store_writer_pending(store_writer *w)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    size_t n = w->outstanding;
    pthread_mutex_unlock(&w->mu);
    return n;
}

size_t store_writer_flush(store_writer *w)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    while (w->pending.head || w->in_flight)
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return store_writer_drain(w);
}

void store_writer_free(store_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->work);
    pthread_cond_signal(&w->drained);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    store_writer_drain(w);
    w->s->has_writer = 0;
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->drained);
    free(w);
}
