/* Randomized model test: random batches (ops, snapshots, deletes, ACLs,
 * activity, deliberate conflicts), committed synchronously or in writer
 * groups, against an in-memory model of what the store promises; after
 * every step the documents, op log, snapshots, catch-up, ACLs and the
 * activity chain are compared with the model. Seeded (STORE_TEST_SEED,
 * default 1); the seed is printed on failure. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>

#define NDOCS 4
#define MAXV 400
#define STEPS 400
#define RETAIN 12

static uint64_t rng_s;

static uint32_t rnd(uint32_t n)
{
    rng_s = rng_s * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((rng_s >> 33) % n) : 0;
}

static char big_id[STORE_DOC_ID_MAX + 1];
static const char *docs[NDOCS] = {"d", "dd", "d1", big_id};
static const char *users[3] = {"alice", "bob", "carol"};
static const char *clients[3] = {"client-a", "client-b", "client-c"};

struct mdoc {
    int exists;
    uint64_t head, trunc, snapv;
    uint8_t has_op[MAXV + 1];
    uint8_t has_snap[MAXV + 1];
    int role[3];
};

static struct mdoc model[NDOCS];
static uint64_t activity_count;
static unsigned truncations, conflicts, deletes;

static void op_data(char *buf, size_t size, int d, uint64_t v)
{
    snprintf(buf, size, "doc%d-v%llu", d, (unsigned long long)v);
}

/* The store's retention rule (store.h, store_batch_snapshot_put). */
static void model_snapshot(struct mdoc *m, uint64_t v)
{
    m->has_snap[v] = 1;
    if (v > m->snapv)
        m->snapv = v;
    if (m->head <= RETAIN)
        return;
    uint64_t t = 0;
    for (uint64_t x = m->head - RETAIN; x >= 1; x--)
        if (m->has_snap[x]) {
            t = x;
            break;
        }
    if (t > m->trunc) {
        for (uint64_t x = 0; x <= t; x++)
            m->has_op[x] = 0;
        for (uint64_t x = 0; x < t; x++)
            m->has_snap[x] = 0;
        m->trunc = t;
        truncations++;
    }
}

/* Builds a random batch and applies it to a copy of the model; returns
 * the status the store must report. */
static int make_batch(store_batch *b, struct mdoc *next, uint64_t *next_activity)
{
    int status = 0;
    int items = 1 + (int)rnd(4);
    for (int i = 0; i < items; i++) {
        int d = (int)rnd(NDOCS);
        struct mdoc *m = &next[d];
        uint32_t kind = rnd(100);
        if (kind < 45) {
            uint64_t v = m->head + 1;
            if (rnd(20) == 0)
                v = m->head + 2; /* gap: conflict */
            if (v > MAXV)
                continue;
            char data[48];
            op_data(data, sizeof data, d, v);
            /* Each user writes under a client id of their own (a client
             * id belongs to the user of its first op). */
            uint32_t u = rnd(3);
            CHECK_EQ(store_batch_op_append(b, docs[d], v, users[u], clients[u], v, v, data,
                                           strlen(data)),
                     0);
            if (v != m->head + 1) {
                status = STORE_ECONFLICT;
                conflicts++;
            } else if (!status) {
                m->exists = 1;
                m->head = v;
                m->has_op[v] = 1;
            }
        } else if (kind < 60) {
            if (!m->exists || m->head == 0)
                continue;
            uint64_t v = m->trunc + rnd((uint32_t)(m->head - m->trunc)) + 1;
            if (v < 1)
                v = 1;
            CHECK_EQ(store_batch_snapshot_put(b, docs[d], v, v, "S", 1), 0);
            if (!status)
                model_snapshot(m, v);
        } else if (kind < 75) {
            int u = (int)rnd(3);
            int role = (int)rnd(4);
            CHECK_EQ(store_batch_acl_put(b, docs[d], users[u], (enum store_role)role), 0);
            if (!status)
                m->role[u] = role;
        } else if (kind < 90) {
            CHECK_EQ(store_batch_activity_append(b, 7, "{\"a\":1}", 7), 0);
            if (!status)
                (*next_activity)++;
        } else if (kind < 93) {
            CHECK_EQ(store_batch_doc_delete(b, docs[d]), 0);
            if (!status) {
                memset(m, 0, sizeof *m);
                deletes++;
            }
        } else {
            CHECK_EQ(store_batch_doc_put(b, docs[d], "meta", 4, 5), 0);
            if (!status)
                m->exists = 1;
        }
    }
    return status;
}

struct opcheck {
    int d;
    uint64_t expect;
    int bad;
};

static int check_op(void *ctx, const struct store_op *op)
{
    struct opcheck *c = ctx;
    char data[48];
    op_data(data, sizeof data, c->d, op->version);
    if (op->version != c->expect || op->len != strlen(data) || memcmp(op->data, data, op->len))
        c->bad = 1;
    c->expect++;
    return 0;
}

static void compare(store *s, const struct store_epoch *ep)
{
    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    for (int d = 0; d < NDOCS; d++) {
        struct mdoc *m = &model[d];
        struct store_doc_info info;
        int err = store_doc_get(r, docs[d], &info);
        if (!m->exists) {
            CHECK_EQ(err, STORE_ENOTFOUND);
            continue;
        }
        CHECK_EQ(err, 0);
        CHECK_EQ(info.head, m->head);
        CHECK_EQ(info.trunc_version, m->trunc);
        CHECK_EQ(info.snapshot_version, m->snapv);
        /* The whole retained log, in order. */
        struct opcheck oc = {d, m->trunc + 1, 0};
        CHECK_EQ(store_ops_after(r, docs[d], m->trunc, UINT64_MAX, 0, check_op, &oc, NULL), 0);
        CHECK_EQ(oc.bad, 0);
        CHECK_EQ(oc.expect, m->head + 1);
        /* Snapshot at or below a random version. */
        uint64_t at = rnd((uint32_t)m->head + 2);
        struct store_snapshot sn;
        uint64_t want = 0;
        for (uint64_t x = at > MAXV ? MAXV : at; x >= 1; x--)
            if (m->has_snap[x]) {
                want = x;
                break;
            }
        err = store_snapshot_get(r, docs[d], at, &sn);
        if (want) {
            CHECK_EQ(err, 0);
            CHECK_EQ(sn.version, want);
        } else {
            CHECK_EQ(err, STORE_ENOTFOUND);
        }
        /* Catch-up from a random version. */
        uint64_t from = rnd((uint32_t)m->head + 3);
        struct store_catchup cu;
        struct opcheck cc = {d, 0, 0};
        int replay = from >= m->trunc && from <= m->head;
        cc.expect = replay ? from + 1 : m->snapv + 1;
        CHECK_EQ(store_catchup(r, docs[d], ep, from, 0, check_op, &cc, &cu), 0);
        CHECK_EQ(cu.replay, replay);
        CHECK_EQ(cu.head, m->head);
        if (!replay)
            CHECK_EQ(cu.snapshot.version, m->snapv);
        CHECK_EQ(cc.bad, 0);
        CHECK_EQ(cc.expect, m->head + 1);
        for (int u = 0; u < 3; u++) {
            enum store_role role;
            CHECK_EQ(store_acl_get(r, docs[d], users[u], &role), 0);
            CHECK_EQ((int)role, m->role[u]);
        }
    }
    uint64_t head, bad;
    uint8_t hash[STORE_HASH_LEN];
    CHECK_EQ(store_activity_head(r, &head, hash), 0);
    CHECK_EQ(head, activity_count);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, hash, &bad), 0);
    store_read_end(r);
}

struct gjob {
    int expect;
    int got;
    int called;
};

static void gdone(void *ctx, int status, const struct store_batch_result *res)
{
    struct gjob *j = ctx;
    (void)res;
    j->got = status;
    j->called = 1;
}

int main(void)
{
    const char *env = getenv("STORE_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 1;
    rng_s = seed;
    memset(big_id, 'z', STORE_DOC_ID_MAX);
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-model");
    struct store_options o;
    store_options_init(&o);
    o.retain_ops = RETAIN;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct store_epoch ep;
    CHECK_EQ(store_epoch_get(s, &ep), 0);
    for (int step = 0; step < STEPS && !test_failures; step++) {
        if (rnd(4) == 0) {
            /* A writer group: each batch is applied to the model in
             * submission order, as the writer commits them. */
            struct gjob jobs[8];
            int n = 2 + (int)rnd(6);
            for (int i = 0; i < n; i++) {
                struct mdoc next[NDOCS];
                uint64_t na = activity_count;
                memcpy(next, model, sizeof next);
                store_batch *b;
                CHECK_EQ(store_batch_new(&b), 0);
                jobs[i].expect = make_batch(b, next, &na);
                jobs[i].called = 0;
                if (!jobs[i].expect) {
                    memcpy(model, next, sizeof next);
                    activity_count = na;
                }
                CHECK_EQ(store_writer_submit(w, b, gdone, &jobs[i]), 0);
            }
            store_writer_flush(w);
            for (int i = 0; i < n; i++) {
                CHECK_EQ(jobs[i].called, 1);
                CHECK_EQ(jobs[i].got, jobs[i].expect);
            }
        } else {
            struct mdoc next[NDOCS];
            uint64_t na = activity_count;
            memcpy(next, model, sizeof next);
            store_batch *b;
            CHECK_EQ(store_batch_new(&b), 0);
            int expect = make_batch(b, next, &na);
            CHECK_EQ(store_batch_commit(s, b, NULL), expect);
            store_batch_free(b);
            if (!expect) {
                memcpy(model, next, sizeof next);
                activity_count = na;
            }
        }
        compare(s, &ep);
        if (test_failures)
            fprintf(stderr, "failed at step %d, STORE_TEST_SEED=%llu\n", step,
                    (unsigned long long)seed);
    }
    printf("seed %llu: %d steps, %u truncations, %u conflicting batches, %u deletes, "
           "%llu activity entries\n",
           (unsigned long long)seed, STEPS, truncations, conflicts, deletes,
           (unsigned long long)activity_count);
    store_writer_free(w);
    store_close(s);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
