/* Randomized convergence test: several replicas edit concurrently (random
 * inserts, including non-ASCII and astral text, and deletes); updates are
 * delivered shuffled, some twice, some before their dependencies (refused
 * with CRDT_EMISSING and retried later); replicas also pull deltas by
 * version and reload from full state. crdt_doc_check runs after every step;
 * at the end every replica holds the same text and version, and encodes
 * byte-identical full states (canonical encoding), which a fresh replica
 * loads and encodes to the same bytes again.
 *
 *   test_crdt_random [seed [rounds]]   (seed 0x5eed by default; printed on
 *                                       failure) */
#include "crdt.h"
#include "crdt_test_util.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

#define NREP 5
#define STEPS 300

typedef struct msg {
    uint8_t *data;
    size_t len;
} msg;

typedef struct inbox {
    msg *m;
    size_t n, cap;
} inbox;

static void push(inbox *b, const uint8_t *data, size_t len)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->m = realloc(b->m, b->cap * sizeof(msg));
    }
    b->m[b->n].data = malloc(len);
    memcpy(b->m[b->n].data, data, len);
    b->m[b->n].len = len;
    b->n++;
}

static void take(inbox *b, size_t i)
{
    free(b->m[i].data);
    b->m[i] = b->m[--b->n];
}

static const char *pieces[] = {"a",
                               "b",
                               "c",
                               " ",
                               "xyz",
                               "\xC3\xA9",
                               "\xE2\x82\xAC",
                               "\xF0\x9F\x98\x80",
                               "\n",
                               "hello",
                               "\xE6\x97\xA5\xE6\x9C\xAC"};

static size_t cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int failures_at_start;

static void local_edit(crdt_doc *d, inbox *boxes, int self)
{
    uint64_t mark = crdt_doc_mark(d);
    size_t len = crdt_doc_length(d);
    if (len == 0 || below(100) < 60) {
        char buf[64];
        size_t n = 0;
        for (size_t k = 1 + below(4); k > 0; k--) {
            const char *p = pieces[below(sizeof pieces / sizeof *pieces)];
            memcpy(buf + n, p, strlen(p));
            n += strlen(p);
        }
        size_t pos = below(len + 1);
        CHECK_EQ(crdt_doc_insert(d, pos, buf, n), CRDT_OK);
        CHECK_EQ(crdt_doc_length(d), len + cps(buf, n));
        char back[64];
        size_t got;
        CHECK_EQ(crdt_doc_read(d, pos, cps(buf, n), back, sizeof back, &got), CRDT_OK);
        CHECK_EQ(got, n);
        CHECK_MEM_EQ(back, buf, n);
    } else {
        size_t pos = below(len), cnt = 1 + below(len - pos < 6 ? len - pos : 6);
        CHECK_EQ(crdt_doc_delete(d, pos, cnt), CRDT_OK);
        CHECK_EQ(crdt_doc_length(d), len - cnt);
    }
    uint8_t *u;
    size_t n;
    CHECK_EQ(crdt_doc_encode_since_mark(d, mark, &u, &n), CRDT_OK);
    for (int r = 0; r < NREP; r++)
        if (r != self)
            push(&boxes[r], u, n);
    crdt_free_bytes(NULL, u);
}

/* Deliver one random message; returns 1 if it was applied. */
static int deliver(crdt_doc *d, inbox *b)
{
    if (!b->n)
        return 0;
    size_t i = below(b->n);
    crdt_id miss;
    /* As a server takes a peer's update: with the origin checks, which no
     * replica's own edits may trip. */
    /* Half the time as an editor takes it: reporting the visible changes,
     * which must turn the text before into the text after. */
    int rc = below(2) ? crdt_doc_apply_bounded(d, b->m[i].data, b->m[i].len, &miss, UINT64_MAX)
                      : apply_tracked(d, b->m[i].data, b->m[i].len, &miss);
    if (rc == CRDT_EMISSING)
        return 0; /* stays queued until its dependencies arrive */
    CHECK_EQ(rc, CRDT_OK);
    if (below(10) != 0) /* one time in ten, keep it for a duplicate delivery */
        take(b, i);
    return 1;
}

static void pull(crdt_doc *dst, const crdt_doc *src)
{
    uint8_t *vb, *u;
    size_t vn, n;
    crdt_version *v;
    CHECK_EQ(crdt_doc_encode_version(dst, &vb, &vn), CRDT_OK);
    CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
    CHECK_EQ(crdt_version_decode(v, vb, vn), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_since(src, v, &u, &n), CRDT_OK);
    CHECK_EQ(apply_tracked(dst, u, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_covers(dst, v, NULL), CRDT_OK);
    crdt_free_bytes(NULL, vb);
    crdt_free_bytes(NULL, u);
    crdt_version_free(v);
}

static void reload(crdt_doc **d, int r)
{
    uint8_t *u;
    size_t n;
    char name[8];
    snprintf(name, sizeof name, "r%d", r);
    CHECK_EQ(crdt_doc_encode_state(*d, &u, &n), CRDT_OK);
    crdt_doc *e;
    CHECK_EQ(crdt_doc_new(NULL, name, strlen(name), &e), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(e, u, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_set_agent(e, name, strlen(name), CRDT_SEQ_AUTO), CRDT_OK);
    char *a, *b;
    CHECK_EQ(crdt_doc_text(*d, &a, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_text(e, &b, NULL), CRDT_OK);
    CHECK_STR_EQ(a, b);
    crdt_free_bytes(NULL, a);
    crdt_free_bytes(NULL, b);
    crdt_free_bytes(NULL, u);
    crdt_doc_free(*d);
    *d = e;
}

static void round_run(uint64_t seed)
{
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    crdt_doc *docs[NREP];
    inbox boxes[NREP];
    memset(boxes, 0, sizeof boxes);
    for (int r = 0; r < NREP; r++) {
        char name[8];
        snprintf(name, sizeof name, "r%d", r);
        CHECK_EQ(crdt_doc_new(NULL, name, strlen(name), &docs[r]), CRDT_OK);
    }
    for (int step = 0; step < STEPS; step++) {
        int r = (int)below(NREP);
        size_t a = below(100);
        if (a < 45)
            local_edit(docs[r], boxes, r);
        else if (a < 88)
            deliver(docs[r], &boxes[r]);
        else if (a < 97)
            pull(docs[r], docs[below(NREP)]);
        else
            reload(&docs[r], r);
        CHECK_EQ(crdt_doc_check(docs[r]), CRDT_OK);
        if (test_failures != failures_at_start) {
            fprintf(stderr, "seed %llu: failure at step %d\n", (unsigned long long)seed, step);
            break;
        }
    }
    /* drain: deliver until nothing is left (duplicates are dropped) */
    for (int r = 0; r < NREP; r++) {
        int guard = 0;
        while (boxes[r].n && guard++ < 100000) {
            size_t before = boxes[r].n;
            for (size_t i = 0; i < boxes[r].n;) {
                int rc = crdt_doc_apply_bounded(docs[r], boxes[r].m[i].data, boxes[r].m[i].len,
                                                NULL, UINT64_MAX);
                if (rc == CRDT_OK) {
                    take(&boxes[r], i);
                } else {
                    CHECK_EQ(rc, CRDT_EMISSING);
                    i++;
                }
            }
            if (boxes[r].n == before) {
                fprintf(stderr, "seed %llu: replica %d cannot make progress\n",
                        (unsigned long long)seed, r);
                test_failures++;
                break;
            }
        }
    }
    char *t0;
    uint8_t *v0, *s0;
    size_t n0, vn0, sn0;
    CHECK_EQ(crdt_doc_text(docs[0], &t0, &n0), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_version(docs[0], &v0, &vn0), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_state(docs[0], &s0, &sn0), CRDT_OK);
    for (int r = 1; r <= NREP; r++) {
        char *t;
        uint8_t *v, *st;
        size_t n, vn, sn;
        crdt_doc *fresh = NULL;
        if (r == NREP) { /* a fresh replica loading the state */
            CHECK_EQ(crdt_doc_new(NULL, "fresh", 5, &fresh), CRDT_OK);
            CHECK_EQ(crdt_doc_apply(fresh, s0, sn0, NULL), CRDT_OK);
        }
        const crdt_doc *d = fresh ? fresh : docs[r];
        CHECK_EQ(crdt_doc_text(d, &t, &n), CRDT_OK);
        CHECK_EQ(crdt_doc_encode_version(d, &v, &vn), CRDT_OK);
        CHECK_EQ(crdt_doc_encode_state(d, &st, &sn), CRDT_OK);
        CHECK_EQ(n, n0);
        CHECK(n == n0 && memcmp(t, t0, n) == 0);
        CHECK(vn == vn0 && memcmp(v, v0, vn) == 0);
        CHECK_EQ(sn, sn0);
        CHECK(sn == sn0 && memcmp(st, s0, sn) == 0);
        crdt_free_bytes(NULL, t);
        crdt_free_bytes(NULL, v);
        crdt_free_bytes(NULL, st);
        crdt_doc_free(fresh);
    }
    crdt_free_bytes(NULL, t0);
    crdt_free_bytes(NULL, v0);
    crdt_free_bytes(NULL, s0);
    if (test_failures != failures_at_start)
        fprintf(stderr,
                "seed %llu: replicas diverged or a check failed (rerun: "
                "test_crdt_random %llu 1)\n",
                (unsigned long long)seed, (unsigned long long)seed);
    for (int r = 0; r < NREP; r++) {
        while (boxes[r].n)
            take(&boxes[r], 0);
        free(boxes[r].m);
        crdt_doc_free(docs[r]);
    }
}

int main(int argc, char **argv)
{
    uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x5eed;
    int rounds = argc > 2 ? atoi(argv[2]) : 40;
    for (int i = 0; i < rounds; i++) {
        failures_at_start = test_failures;
        round_run(seed + (uint64_t)i);
        if (test_failures)
            break;
    }
    if (!test_failures)
        printf("%d rounds from seed %llu converged\n", rounds, (unsigned long long)seed);
    return TEST_RESULT();
}
