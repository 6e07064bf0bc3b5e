/* Unit tests for crdt_update_inspect through the public header: the runs of
 * op ids and the op count it reports for local edits of one and of several
 * agents, for merged states of many agents (more than the 256 names it
 * indexes without allocating), for the hostile 13-byte update (one deleted
 * run of 2^26 - 6 ops of agent "z"), for truncated, corrupted and random
 * bytes (refused like crdt_doc_apply refuses them, never a crash), for a
 * callback that stops the walk, and for random editing sessions, where the
 * count must equal the crdt_doc_mark() growth of the replica that applies
 * the update.
 *
 *   test_crdt_inspect [seed]   (seed 0x1d5eed by default; printed on failure) */
#include "crdt.h"
#include "crdt_test_util.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

static uint8_t *state(const crdt_doc *d, size_t *n)
{
    uint8_t *u = NULL;
    CHECK_EQ(crdt_doc_encode_state(d, &u, n), CRDT_OK);
    return u;
}

static crdt_version *version_of(const crdt_doc *d)
{
    crdt_version *v = NULL;
    CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
    CHECK_EQ(crdt_doc_version(d, v), CRDT_OK);
    return v;
}

/* What the callback saw. */
typedef struct run {
    char agent[CRDT_AGENT_MAX];
    size_t len;
    uint64_t seq, count;
} run;

typedef struct seen {
    run *r;
    size_t n, cap;
    size_t stop_at; /* return `stop_rc` from this call (1-based); 0: never */
    int stop_rc;
} seen;

static int collect(void *ctx, const char *agent, size_t agent_len, uint64_t seq, uint64_t count)
{
    seen *s = ctx;
    CHECK(agent_len >= 1 && agent_len <= CRDT_AGENT_MAX);
    CHECK(count >= 1);
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->r = realloc(s->r, s->cap * sizeof *s->r);
    }
    run *r = &s->r[s->n++];
    memcpy(r->agent, agent, agent_len < CRDT_AGENT_MAX ? agent_len : CRDT_AGENT_MAX);
    r->len = agent_len;
    r->seq = seq;
    r->count = count;
    return s->stop_at && s->n == s->stop_at ? s->stop_rc : 0;
}

/* Inspect with a fresh `seen` (*s is reset first). */
static int inspect(const uint8_t *u, size_t n, seen *s, uint64_t *ops)
{
    s->n = 0;
    return crdt_update_inspect(u, n, collect, s, ops);
}

static void seen_free(seen *s)
{
    free(s->r);
    memset(s, 0, sizeof *s);
}

static int is_agent(const run *r, const char *name)
{
    return r->len == strlen(name) && memcmp(r->agent, name, r->len) == 0;
}

/* Sum of the counts reported for `name`. */
static uint64_t agent_total(const seen *s, const char *name)
{
    uint64_t t = 0;
    for (size_t i = 0; i < s->n; i++)
        if (is_agent(&s->r[i], name))
            t += s->r[i].count;
    return t;
}

static uint64_t all_total(const seen *s)
{
    uint64_t t = 0;
    for (size_t i = 0; i < s->n; i++)
        t += s->r[i].count;
    return t;
}

static void check_run(const seen *s, size_t i, const char *agent, uint64_t seq, uint64_t count)
{
    CHECK(i < s->n);
    if (i >= s->n)
        return;
    CHECK(is_agent(&s->r[i], agent));
    CHECK_EQ(s->r[i].seq, seq);
    CHECK_EQ(s->r[i].count, count);
}

/* Every reported id is in `v` (want 1) or none is (want 0). Runs are
 * checked id by id up to 4096 ids, then at both ends. */
static void check_runs_in(const seen *s, const crdt_version *v, int want)
{
    for (size_t i = 0; i < s->n; i++) {
        const run *r = &s->r[i];
        if (r->count <= 4096) {
            for (uint64_t k = 0; k < r->count; k++)
                CHECK_EQ(crdt_version_contains(v, r->agent, r->len, r->seq + k), want);
        } else {
            CHECK_EQ(crdt_version_contains(v, r->agent, r->len, r->seq), want);
            CHECK_EQ(crdt_version_contains(v, r->agent, r->len, r->seq + r->count - 1), want);
        }
    }
}

/* No two reported runs share an id. */
static int cmp_run(const void *a, const void *b)
{
    const run *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->agent, y->agent, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void check_disjoint(seen *s)
{
    if (s->n < 2)
        return;
    qsort(s->r, s->n, sizeof *s->r, cmp_run);
    for (size_t i = 1; i < s->n; i++) {
        const run *a = &s->r[i - 1], *b = &s->r[i];
        if (a->len == b->len && memcmp(a->agent, b->agent, a->len) == 0)
            CHECK(a->seq + a->count <= b->seq);
    }
}

/* Inspect `u` and apply it to `dst`, which has none of its ids: inspect
 * accepts it, every reported id is new before and known after, and the
 * count is exactly the mark growth. */
static void inspect_then_apply(crdt_doc *dst, const uint8_t *u, size_t n)
{
    seen s = {0};
    uint64_t ops = 12345;
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(all_total(&s), ops);
    crdt_version *before = version_of(dst);
    check_runs_in(&s, before, 0);
    uint64_t m = crdt_doc_mark(dst);
    CHECK_EQ(crdt_doc_apply(dst, u, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_mark(dst) - m, ops);
    crdt_version *after = version_of(dst);
    check_runs_in(&s, after, 1);
    check_disjoint(&s);
    crdt_version_free(before);
    crdt_version_free(after);
    seen_free(&s);
}

/* inspect_then_apply on a new, empty replica. */
static void inspect_then_apply_fresh(const uint8_t *u, size_t n)
{
    crdt_doc *fresh = mkdoc("f");
    inspect_then_apply(fresh, u, n);
    crdt_doc_free(fresh);
}

/* --------------------------------------------------------------- tests */

static void test_one_agent(void)
{
    crdt_doc *d = mkdoc("alice"), *r = mkdoc("reader");
    seen s = {0};
    uint64_t ops;
    size_t n;
    ins(d, 0, "hello");
    uint8_t *u = since_mark(d, 0, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 5);
    CHECK_EQ(s.n, 1);
    check_run(&s, 0, "alice", 0, 5);
    inspect_then_apply(r, u, n);
    free(u);
    /* a second insert elsewhere: a new op, seqs continue */
    uint64_t m = crdt_doc_mark(d);
    ins(d, 0, "\xC3\xA9\xF0\x9F\x98\x80");
    u = since_mark(d, m, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 2);
    CHECK_EQ(s.n, 1);
    check_run(&s, 0, "alice", 5, 2);
    inspect_then_apply(r, u, n);
    free(u);
    /* a delete of three */
    m = crdt_doc_mark(d);
    CHECK_EQ(crdt_doc_delete(d, 1, 3), CRDT_OK);
    u = since_mark(d, m, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 3);
    check_run(&s, 0, "alice", 7, 3);
    inspect_then_apply(r, u, n);
    free(u);
    /* the whole history: three ops (two inserts, one delete) whose ids
     * follow each other make one run; NULL fn and NULL ops are fine */
    u = since_mark(d, 0, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 10);
    CHECK_EQ(s.n, 1);
    check_run(&s, 0, "alice", 0, 10);
    CHECK_EQ(crdt_update_inspect(u, n, NULL, NULL, NULL), CRDT_OK);
    ops = 0;
    CHECK_EQ(crdt_update_inspect(u, n, NULL, NULL, &ops), CRDT_OK);
    CHECK_EQ(ops, 10);
    free(u);
    /* a gap in the seqs makes two runs */
    CHECK_EQ(crdt_doc_set_agent(d, "alice", 5, 100), CRDT_OK);
    ins(d, 0, "x");
    u = state(d, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 11);
    CHECK_EQ(s.n, 2);
    check_run(&s, 0, "alice", 0, 10);
    check_run(&s, 1, "alice", 100, 1);
    inspect_then_apply_fresh(u, n);
    free(u);
    crdt_doc_free(d);
    crdt_doc_free(r);
    seen_free(&s);
}

static void test_two_agents(void)
{
    crdt_doc *a = mkdoc("a"), *b = mkdoc("bob");
    seen s = {0};
    uint64_t ops;
    size_t n;
    ins(a, 0, "hello");
    uint8_t *u = since_mark(a, 0, &n);
    inspect_then_apply(b, u, n);
    free(u);
    /* concurrent: b appends, a deletes the h */
    uint64_t mb = crdt_doc_mark(b), ma = crdt_doc_mark(a);
    ins(b, 5, " world");
    CHECK_EQ(crdt_doc_delete(a, 0, 1), CRDT_OK);
    uint8_t *ub = since_mark(b, mb, &n);
    size_t na;
    uint8_t *ua = since_mark(a, ma, &na);
    /* b's delta names agent a too (its origins), but only carries bob's ids */
    CHECK_EQ(inspect(ub, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 6);
    CHECK_EQ(s.n, 1);
    check_run(&s, 0, "bob", 0, 6);
    inspect_then_apply(a, ub, n);
    inspect_then_apply(b, ua, na);
    free(ua);
    free(ub);
    /* the merged state: both agents, counts per agent */
    u = state(a, &n);
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, crdt_doc_mark(a));
    CHECK_EQ(ops, 12);
    CHECK_EQ(agent_total(&s, "a"), 6);
    CHECK_EQ(agent_total(&s, "bob"), 6);
    inspect_then_apply_fresh(u, n);
    free(u);
    crdt_doc_free(a);
    crdt_doc_free(b);
    seen_free(&s);
}

/* Many agents edit concurrently and merge; the merged state (canonical) and
 * the full delta (arrival order) report each agent's own ops. `nagents`
 * above 256 takes the path that allocates the name index. */
static void merged_agents(size_t nagents, size_t edits)
{
    crdt_doc **r = calloc(nagents, sizeof *r);
    crdt_doc *all = mkdoc("merged");
    ins(all, 0, "base text");
    size_t n;
    uint8_t *base = state(all, &n);
    for (size_t i = 0; i < nagents; i++) {
        char name[32];
        snprintf(name, sizeof name, "agent-%03zu", i);
        r[i] = mkdoc(name);
        CHECK_EQ(crdt_doc_apply(r[i], base, n, NULL), CRDT_OK);
        for (size_t e = 0; e < edits; e++) {
            size_t len = crdt_doc_length(r[i]);
            if (len > 2 && below(3) == 0)
                CHECK_EQ(crdt_doc_delete(r[i], below(len - 1), 1 + below(2)), CRDT_OK);
            else
                ins(r[i], below(len + 1), below(2) ? "xy" : "\xE2\x82\xAC");
        }
    }
    free(base);
    for (size_t i = 0; i < nagents; i++) {
        crdt_version *v = version_of(all);
        uint8_t *u;
        CHECK_EQ(crdt_doc_encode_since(r[i], v, &u, &n), CRDT_OK);
        inspect_then_apply(all, u, n);
        free(u);
        crdt_version_free(v);
    }
    seen s = {0};
    uint64_t ops;
    uint8_t *u = state(all, &n);
    uint8_t *d;
    size_t dn;
    CHECK_EQ(crdt_doc_encode_since(all, NULL, &d, &dn), CRDT_OK);
    for (int pass = 0; pass < 2; pass++) {
        CHECK_EQ(pass ? inspect(d, dn, &s, &ops) : inspect(u, n, &s, &ops), CRDT_OK);
        CHECK_EQ(ops, crdt_doc_mark(all));
        CHECK_EQ(all_total(&s), ops);
        for (size_t i = 0; i < nagents; i++) {
            char name[32];
            snprintf(name, sizeof name, "agent-%03zu", i);
            CHECK_EQ(agent_total(&s, name), crdt_doc_next_seq(r[i]));
        }
        CHECK_EQ(agent_total(&s, "merged"), 9);
        crdt_version *v = version_of(all);
        check_runs_in(&s, v, 1);
        crdt_version_free(v);
        check_disjoint(&s);
    }
    crdt_doc *fresh = mkdoc("fresh");
    inspect_then_apply(fresh, u, n);
    crdt_doc_free(fresh);
    free(u);
    free(d);
    for (size_t i = 0; i < nagents; i++)
        crdt_doc_free(r[i]);
    free(r);
    crdt_doc_free(all);
    seen_free(&s);
}

static void test_merged_agents(void)
{
    merged_agents(40, 12);
    merged_agents(300, 2);
}

/* One agent after another on one replica: 1000 agents in one state. */
static void test_agent_table_index(void)
{
    crdt_doc *d = mkdoc("first");
    for (int i = 0; i < 1000; i++) {
        char name[16];
        int nl = snprintf(name, sizeof name, "w%d", i);
        CHECK_EQ(crdt_doc_set_agent(d, name, (size_t)nl, 0), CRDT_OK);
        ins(d, crdt_doc_length(d) / 2, i % 2 ? "ab" : "c");
    }
    size_t n;
    uint8_t *u = state(d, &n);
    seen s = {0};
    uint64_t ops;
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 1500);
    CHECK_EQ(s.n, 1000);
    CHECK_EQ(agent_total(&s, "w0"), 1);
    CHECK_EQ(agent_total(&s, "w999"), 2);
    CHECK_EQ(agent_total(&s, "w500"), 1);
    check_disjoint(&s);
    free(u);
    crdt_doc_free(d);
    seen_free(&s);
}

/* The hostile update: one insert of deleted text (no text carried) of
 * 2^26 - 6 ops by agent "z", 13 bytes. */
static const uint8_t hostile[13] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x01, 0x31,
                                    0x00, 0x00, 0xFA, 0xFF, 0xFF, 0x1F};

static void test_hostile(void)
{
    seen s = {0};
    uint64_t ops = 0;
    CHECK_EQ(inspect(hostile, sizeof hostile, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, (1u << 26) - 6);
    CHECK_EQ(s.n, 1);
    check_run(&s, 0, "z", 0, (1u << 26) - 6);
    /* the server's admission rule refuses it */
    CHECK(ops > 64 * sizeof hostile + 4096);
    /* quick: the cost does not depend on the count it claims */
    clock_t t0 = clock();
    for (int i = 0; i < 100000; i++)
        CHECK_EQ(crdt_update_inspect(hostile, sizeof hostile, NULL, NULL, &ops), CRDT_OK);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 5.0);
    /* 2^26 + 1 ops: over the document cap; the count is still told, fn is
     * not called */
    uint8_t over[13];
    memcpy(over, hostile, sizeof over);
    over[9] = 0x81, over[10] = 0x80, over[11] = 0x80, over[12] = 0x20;
    CHECK_EQ(inspect(over, sizeof over, &s, &ops), CRDT_ELIMIT);
    CHECK_EQ(ops, (1u << 26) + 1);
    CHECK_EQ(s.n, 0);
    /* exactly 2^26 is fine */
    over[9] = 0x80;
    CHECK_EQ(inspect(over, sizeof over, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 1u << 26);
    /* two runs of 2^25 + 1 (the second continues the first: SAME flag) */
    const uint8_t two[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x02, 0x31, 0x00, 0x00,
                           0x81, 0x80, 0x80, 0x10, 0x35, 0x81, 0x80, 0x80, 0x10};
    CHECK_EQ(inspect(two, sizeof two, &s, &ops), CRDT_ELIMIT);
    CHECK_EQ(ops, (1u << 26) + 2);
    /* the longest run one agent can have: seqs up to 2^32 - 2 */
    const uint8_t longest[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x01, 0x31,
                               0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
    CHECK_EQ(inspect(longest, sizeof longest, &s, &ops), CRDT_ELIMIT);
    CHECK_EQ(ops, UINT32_MAX);
    seen_free(&s);
}

/* Inspect refuses what apply refuses for its framing, with the same code;
 * what apply accepts on a fresh replica, inspect accepts with the count
 * apply added. Never a crash (the sanitizers watch). */
static size_t consistency_accepted;

static void consistent(const uint8_t *u, size_t n)
{
    seen s = {0};
    uint64_t ops = 99;
    int ri = inspect(u, n, &s, &ops);
    CHECK(ri == CRDT_OK || ri == CRDT_EBADUPDATE || ri == CRDT_EVERSION || ri == CRDT_ELIMIT);
    if (ri != CRDT_OK && ri != CRDT_ELIMIT) {
        CHECK_EQ(ops, 0);
        CHECK_EQ(s.n, 0);
    }
    if (ri == CRDT_OK)
        CHECK_EQ(all_total(&s), ops);
    else
        CHECK_EQ(s.n, 0);
    /* skip applying what would be too big to be quick (ASan) */
    if (ri == CRDT_OK && ops > 100000) {
        seen_free(&s);
        return;
    }
    crdt_doc *d = mkdoc("fresh");
    int ra = crdt_doc_apply(d, u, n, NULL);
    if (ri == CRDT_EBADUPDATE || ri == CRDT_EVERSION)
        CHECK_EQ(ra, ri);
    if (ra == CRDT_OK) {
        consistency_accepted++;
        CHECK_EQ(ri, CRDT_OK);
        CHECK_EQ(crdt_doc_mark(d), ops);
    }
    crdt_doc_free(d);
    seen_free(&s);
}

static void test_malformed(void)
{
    seen s = {0};
    uint64_t ops;
    CHECK_EQ(crdt_update_inspect(NULL, 0, collect, &s, &ops), CRDT_EBADUPDATE);
    CHECK_EQ(crdt_update_inspect(NULL, 5, collect, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t v3[] = {0xD5, 0x03, 0x00, 0x00};
    CHECK_EQ(inspect(v3, sizeof v3, &s, &ops), CRDT_EVERSION);
    /* version 2 (packed state) without its columns */
    const uint8_t v2[] = {0xD5, 0x02, 0x00, 0x00};
    CHECK_EQ(inspect(v2, sizeof v2, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t ver[] = {0xD6, 0x01, 0x00};
    CHECK_EQ(inspect(ver, sizeof ver, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t empty[] = {0xD5, 0x01, 0x00, 0x00};
    CHECK_EQ(inspect(empty, sizeof empty, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 0);
    CHECK_EQ(s.n, 0);
    /* counts larger than the bytes left */
    const uint8_t many_agents[] = {0xD5, 0x01, 0x05, 0x01, 'a', 0x00};
    CHECK_EQ(inspect(many_agents, sizeof many_agents, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t many_ops[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x7F, 0x31, 0x00, 0x00, 0x01};
    CHECK_EQ(inspect(many_ops, sizeof many_ops, &s, &ops), CRDT_EBADUPDATE);
    /* an agent name of 65 bytes, and of 0 */
    uint8_t longname[3 + 1 + 65 + 1];
    longname[0] = 0xD5, longname[1] = 0x01, longname[2] = 0x01, longname[3] = 65;
    memset(longname + 4, 'n', 65);
    longname[69] = 0x00;
    CHECK_EQ(inspect(longname, sizeof longname, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t noname[] = {0xD5, 0x01, 0x01, 0x00, 0x00};
    CHECK_EQ(inspect(noname, sizeof noname, &s, &ops), CRDT_EBADUPDATE);
    /* agent index out of the table, SAME on the first op, zero length */
    const uint8_t badidx[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x01, 0x31, 0x01, 0x00, 0x01};
    CHECK_EQ(inspect(badidx, sizeof badidx, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t same1[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x01, 0x35, 0x01};
    CHECK_EQ(inspect(same1, sizeof same1, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t zero[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x01, 0x31, 0x00, 0x00, 0x00};
    CHECK_EQ(inspect(zero, sizeof zero, &s, &ops), CRDT_EBADUPDATE);
    /* seq + len beyond 2^32 - 1, a non-minimal varint, bit 7 of the header */
    const uint8_t past[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x01, 0x31,
                            0x00, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F};
    CHECK_EQ(inspect(past, sizeof past, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t nonmin[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x01, 0x31, 0x00, 0x80, 0x00, 0x01};
    CHECK_EQ(inspect(nonmin, sizeof nonmin, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t bit7[] = {0xD5, 0x01, 0x01, 0x01, 'z', 0x01, 0xB1, 0x00, 0x00, 0x01};
    CHECK_EQ(inspect(bit7, sizeof bit7, &s, &ops), CRDT_EBADUPDATE);
    /* text that is not UTF-8, or not len code points */
    const uint8_t badtext[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x01,
                               0x30, 0x00, 0x00, 0x01, 0x01, 0xC0};
    CHECK_EQ(inspect(badtext, sizeof badtext, &s, &ops), CRDT_EBADUPDATE);
    const uint8_t shorttext[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x01,
                                 0x30, 0x00, 0x00, 0x02, 0x01, 'x'};
    CHECK_EQ(inspect(shorttext, sizeof shorttext, &s, &ops), CRDT_EBADUPDATE);
    CHECK_EQ(s.n, 0);
    consistent(badtext, sizeof badtext);
    consistent(shorttext, sizeof shorttext);
    consistent(empty, sizeof empty);
    consistent(v2, sizeof v2);

    /* every proper prefix of real updates, and one byte too many */
    crdt_doc *a = mkdoc("alice");
    ins(a, 0, "hello \xF0\x9F\x98\x80 world");
    CHECK_EQ(crdt_doc_set_agent(a, "bob", 3, 0), CRDT_OK);
    CHECK_EQ(crdt_doc_delete(a, 2, 5), CRDT_OK);
    ins(a, 3, "xyz");
    CHECK_EQ(crdt_doc_delete(a, 4, 1), CRDT_OK);
    size_t n, dn;
    uint8_t *u = state(a, &n), *d = since_mark(a, 0, &dn);
    const uint8_t *ups[] = {u, d, hostile};
    size_t lens[] = {n, dn, sizeof hostile};
    for (int k = 0; k < 3; k++) {
        for (size_t len = 0; len < lens[k]; len++) {
            uint8_t *p = malloc(len ? len : 1); /* exact size: ASan sees overreads */
            memcpy(p, ups[k], len);
            CHECK_EQ(inspect(p, len, &s, &ops), CRDT_EBADUPDATE);
            CHECK_EQ(s.n, 0);
            consistent(p, len);
            free(p);
        }
        uint8_t *p = malloc(lens[k] + 1);
        memcpy(p, ups[k], lens[k]);
        p[lens[k]] = 0;
        CHECK_EQ(inspect(p, lens[k] + 1, &s, &ops), CRDT_EBADUPDATE);
        free(p);
    }
    /* every single-bit flip and byte change of the state and the delta */
    for (int k = 0; k < 2; k++) {
        uint8_t *p = malloc(lens[k]);
        for (size_t i = 0; i < lens[k]; i++) {
            for (int bit = 0; bit < 8; bit++) {
                memcpy(p, ups[k], lens[k]);
                p[i] ^= (uint8_t)(1u << bit);
                consistent(p, lens[k]);
            }
            memcpy(p, ups[k], lens[k]);
            p[i] = (uint8_t)rnd();
            consistent(p, lens[k]);
        }
        free(p);
    }
    free(u);
    free(d);
    crdt_doc_free(a);

    /* an agent named twice: inspect reports both entries, apply refuses */
    const uint8_t dup[] = {0xD5, 0x01, 0x02, 0x01, 'z',  0x01, 'z',  0x02,
                           0x31, 0x00, 0x00, 0x01, 0x31, 0x01, 0x00, 0x01};
    CHECK_EQ(inspect(dup, sizeof dup, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 2);
    CHECK_EQ(s.n, 2);
    check_run(&s, 0, "z", 0, 1);
    check_run(&s, 1, "z", 0, 1);
    consistent(dup, sizeof dup);
    crdt_doc *f = mkdoc("f");
    CHECK_EQ(crdt_doc_apply(f, dup, sizeof dup, NULL), CRDT_EBADUPDATE);
    /* an id carried twice: counted twice, refused by apply */
    const uint8_t twice[] = {0xD5, 0x01, 0x01, 0x01, 'z',  0x02, 0x31,
                             0x00, 0x00, 0x02, 0x31, 0x00, 0x01, 0x01};
    CHECK_EQ(inspect(twice, sizeof twice, &s, &ops), CRDT_OK);
    CHECK_EQ(ops, 3);
    CHECK_EQ(s.n, 2);
    CHECK_EQ(crdt_doc_apply(f, twice, sizeof twice, NULL), CRDT_EBADUPDATE);
    crdt_doc_free(f);

    /* random bytes, behind a valid header or not */
    uint8_t buf[96];
    for (int i = 0; i < 20000; i++) {
        size_t len = below(sizeof buf + 1);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rnd();
        if (len >= 2 && below(4)) {
            buf[0] = 0xD5;
            buf[1] = 0x01;
            if (len >= 4 && below(2))
                buf[2] = (uint8_t)below(4); /* a small agent table */
        }
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, buf, len);
        consistent(p, len);
        free(p);
    }
    seen_free(&s);
}

static void test_stop(void)
{
    crdt_doc *d = mkdoc("a");
    ins(d, 0, "one");
    CHECK_EQ(crdt_doc_set_agent(d, "b", 1, 0), CRDT_OK);
    ins(d, 3, "two");
    CHECK_EQ(crdt_doc_set_agent(d, "c", 1, 0), CRDT_OK);
    ins(d, 6, "three");
    size_t n;
    uint8_t *u = state(d, &n);
    seen s = {0};
    uint64_t ops = 0;
    CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
    CHECK_EQ(s.n, 3);
    for (size_t stop = 1; stop <= 3; stop++) {
        s.stop_at = stop;
        s.stop_rc = stop == 2 ? -1000 : 7;
        ops = 0;
        CHECK_EQ(inspect(u, n, &s, &ops), s.stop_rc);
        CHECK_EQ(s.n, stop);
        CHECK_EQ(ops, 11); /* the whole update's count, read before fn runs */
    }
    free(u);
    crdt_doc_free(d);
    seen_free(&s);
}

/* Random editing sessions: every local batch's delta reports exactly the
 * batch's ids (the local agent, from the seq before the batch), and every
 * pull (encode_since the puller's version) reports exactly what the puller
 * then adds. */
static void test_random(void)
{
    enum { NREP = 4, STEPS = 400 };
    crdt_doc *r[NREP];
    for (int i = 0; i < NREP; i++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", i);
        r[i] = mkdoc(name);
    }
    static const char *texts[] = {"a", "bc", "\xC3\xA9", "\xF0\x9F\x98\x80x", "hello world"};
    seen s = {0};
    for (int step = 0; step < STEPS; step++) {
        int i = (int)below(NREP);
        if (below(3)) {
            uint64_t m = crdt_doc_mark(r[i]), seq0 = crdt_doc_next_seq(r[i]);
            size_t edits = 1 + below(4);
            for (size_t e = 0; e < edits; e++) {
                size_t len = crdt_doc_length(r[i]);
                if (len && below(3) == 0) {
                    size_t pos = below(len), cnt = 1 + below(len - pos < 8 ? len - pos : 8);
                    CHECK_EQ(crdt_doc_delete(r[i], pos, cnt), CRDT_OK);
                } else {
                    ins(r[i], below(len + 1), texts[below(5)]);
                }
            }
            size_t n;
            uint8_t *u = since_mark(r[i], m, &n);
            uint64_t ops;
            CHECK_EQ(inspect(u, n, &s, &ops), CRDT_OK);
            CHECK_EQ(ops, crdt_doc_mark(r[i]) - m);
            CHECK_EQ(s.n, 1);
            char name[8];
            snprintf(name, sizeof name, "r%d", i);
            check_run(&s, 0, name, seq0, crdt_doc_next_seq(r[i]) - seq0);
            free(u);
        } else {
            int j = (int)below(NREP);
            if (j == i)
                continue;
            crdt_version *v = version_of(r[j]);
            uint8_t *u;
            size_t n;
            CHECK_EQ(crdt_doc_encode_since(r[i], v, &u, &n), CRDT_OK);
            inspect_then_apply(r[j], u, n);
            free(u);
            crdt_version_free(v);
        }
    }
    /* everything to a fresh replica, by state and by full delta */
    for (int i = 0; i < NREP; i++) {
        size_t n;
        uint8_t *u = state(r[i], &n);
        crdt_doc *f = mkdoc("fresh");
        inspect_then_apply(f, u, n);
        crdt_doc_free(f);
        free(u);
        crdt_doc_free(r[i]);
    }
    seen_free(&s);
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x1d5eed;
    rng_state = seed ? seed : 1;
    test_one_agent();
    test_two_agents();
    test_merged_agents();
    test_agent_table_index();
    test_hostile();
    test_stop();
    test_malformed();
    CHECK(consistency_accepted > 0);
    test_random();
    if (test_failures)
        fprintf(stderr, "seed 0x%llx (rerun: test_crdt_inspect 0x%llx)\n", (unsigned long long)seed,
                (unsigned long long)seed);
    return TEST_RESULT();
}
