/* Trace replay tests for libcrdt.
 *
 *   test_crdt_trace seq FILE...            replay sequential traces locally
 *   test_crdt_trace conc FILE exact|converge
 *                                          one replica per agent, updates
 *                                          exchanged along the parents graph
 *   test_crdt_trace conformance FILE       the 1,000 dt-conformance runs
 *
 * Sequential and concurrent replays also round-trip the final state through
 * crdt_doc_encode_state / crdt_doc_apply and run crdt_doc_check. */
#include "crdt.h"
#include "crdt_test_util.h"
#include "trace.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static size_t cp_len(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int text_equals(crdt_doc *doc, const char *want, size_t want_len, const char *what)
{
    char *got;
    size_t len;
    if (crdt_doc_text(doc, &got, &len) != CRDT_OK) {
        fprintf(stderr, "%s: crdt_doc_text failed\n", what);
        return -1;
    }
    int ok = len == want_len && memcmp(got, want, len) == 0;
    if (!ok) {
        size_t i = 0;
        while (i < len && i < want_len && got[i] == want[i])
            i++;
        fprintf(stderr, "%s: text differs at byte %zu (got %zu bytes, want %zu)\n", what, i, len,
                want_len);
    }
    crdt_free_bytes(NULL, got);
    return ok ? 0 : -1;
}

static int roundtrip(crdt_doc *doc, const char *what, bool verbose)
{
    uint8_t *state;
    size_t n;
    double t0 = now_ms();
    if (crdt_doc_encode_state(doc, &state, &n) != CRDT_OK) {
        fprintf(stderr, "%s: encode_state failed\n", what);
        return -1;
    }
    double t1 = now_ms();
    crdt_doc *copy;
    crdt_id missing;
    int rc = crdt_doc_new(NULL, "roundtrip", 9, &copy);
    if (rc == CRDT_OK)
        rc = crdt_doc_apply(copy, state, n, &missing);
    double t2 = now_ms();
    if (rc != CRDT_OK) {
        fprintf(stderr, "%s: loading the state failed: %s\n", what, crdt_strerror(rc));
        crdt_free_bytes(NULL, state);
        crdt_doc_free(copy);
        return -1;
    }
    /* a second apply of the same state changes nothing */
    uint64_t mark = crdt_doc_mark(copy);
    rc = crdt_doc_apply(copy, state, n, NULL);
    if (rc != CRDT_OK || crdt_doc_mark(copy) != mark) {
        fprintf(stderr, "%s: re-applying the state was not a no-op\n", what);
        rc = -1;
    }
    char *a, *b;
    size_t al, bl;
    if (rc == CRDT_OK && crdt_doc_text(doc, &a, &al) == CRDT_OK) {
        if (crdt_doc_text(copy, &b, &bl) == CRDT_OK) {
            if (al != bl || memcmp(a, b, al) != 0) {
                fprintf(stderr, "%s: state round trip changed the text\n", what);
                rc = -1;
            }
            crdt_free_bytes(NULL, b);
        }
        crdt_free_bytes(NULL, a);
    }
    if (rc == CRDT_OK && crdt_doc_check(copy) != CRDT_OK) {
        fprintf(stderr, "%s: loaded copy fails crdt_doc_check\n", what);
        rc = -1;
    }
    if (verbose)
        printf("  state %zu bytes, encode %.1f ms, load %.1f ms\n", n, t1 - t0, t2 - t1);
    crdt_free_bytes(NULL, state);
    crdt_doc_free(copy);
    return rc;
}

static int apply_patches(crdt_doc *doc, const trace_txn *tx, const char *what, uint32_t ti)
{
    for (uint32_t p = 0; p < tx->npatches; p++) {
        const trace_patch *pa = &tx->patches[p];
        int rc = CRDT_OK;
        if (pa->del)
            rc = crdt_doc_delete(doc, pa->pos, pa->del);
        if (rc == CRDT_OK && pa->ins_len)
            rc = crdt_doc_insert(doc, pa->pos, pa->ins, pa->ins_len);
        if (rc != CRDT_OK) {
            fprintf(stderr, "%s: txn %u patch %u (%u,%u,+%u): %s\n", what, ti, p, pa->pos, pa->del,
                    pa->ins_len, crdt_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int run_seq(const char *path)
{
    trace t;
    if (trace_load(path, &t) != 0) {
        fprintf(stderr, "%s: cannot load\n", path);
        return -1;
    }
    crdt_doc *doc;
    if (crdt_doc_new(NULL, "seph", 4, &doc) != CRDT_OK)
        return -1;
    size_t patches = 0;
    double t0 = now_ms();
    int rc = 0;
    for (uint32_t i = 0; i < t.ntxns && rc == 0; i++) {
        rc = apply_patches(doc, &t.txns[i], path, i);
        patches += t.txns[i].npatches;
    }
    double t1 = now_ms();
    if (rc == 0)
        rc = text_equals(doc, t.end, t.end_len, path);
    if (rc == 0 && crdt_doc_check(doc) != CRDT_OK) {
        fprintf(stderr, "%s: crdt_doc_check failed\n", path);
        rc = -1;
    }
    printf("%s: %zu patches, %.1f ms local replay, %s\n", path, patches, t1 - t0,
           rc ? "FAIL" : "ok");
    if (rc == 0)
        rc = roundtrip(doc, path, true);
    crdt_doc_free(doc);
    trace_free(&t);
    return rc;
}

/* ------------------------------------------------------ concurrent replay */

typedef struct replica {
    crdt_doc *doc;
    uint8_t *has;
    int64_t last;
} replica;

typedef struct replay {
    const trace *t;
    const char *what;
    uint8_t **upd;
    size_t *upd_len;
    replica *reps;
    size_t nreps;
    uint32_t *stamp, gen;
    uint32_t *stack;
    uint32_t *list;
    bool track; /* apply with crdt_doc_apply_changes, checking what it reports */
} replay;

/* Is txn p an ancestor of txn x? Depth-first over parents, never below p. */
static bool is_ancestor(replay *r, uint32_t p, uint32_t x)
{
    const trace *t = r->t;
    r->gen++;
    size_t sp = 0;
    for (uint32_t k = 0; k < t->txns[x].nparents; k++)
        r->stack[sp++] = t->txns[x].parents[k];
    while (sp) {
        uint32_t y = r->stack[--sp];
        if (y == p)
            return true;
        if (y < p || r->stamp[y] == r->gen)
            continue;
        r->stamp[y] = r->gen;
        for (uint32_t k = 0; k < t->txns[y].nparents; k++)
            r->stack[sp++] = t->txns[y].parents[k];
    }
    return false;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int apply_txn(replay *r, replica *rep, uint32_t y)
{
    crdt_id missing;
    /* Through the origin checks a server applies to a peer's update: the
     * real concurrent histories must never trip them. */
    int fails = test_failures;
    int rc = r->track
                 ? apply_tracked(rep->doc, r->upd[y], r->upd_len[y], &missing)
                 : crdt_doc_apply_bounded(rep->doc, r->upd[y], r->upd_len[y], &missing, UINT64_MAX);
    if (rc == CRDT_OK && test_failures != fails) {
        fprintf(stderr, "%s: txn %u: the changes reported do not give the text\n", r->what, y);
        return -1;
    }
    if (rc != CRDT_OK) {
        fprintf(stderr, "%s: applying txn %u: %s (missing %.*s:%llu)\n", r->what, y,
                crdt_strerror(rc), (int)missing.agent_len, missing.agent,
                (unsigned long long)missing.seq);
        return -1;
    }
    rep->has[y] = 1;
    return 0;
}

/* Bring rep to contain every ancestor of txn x (x itself when self). */
static int import_ancestors(replay *r, replica *rep, uint32_t x)
{
    const trace *t = r->t;
    r->gen++;
    size_t sp = 0, n = 0;
    for (uint32_t k = 0; k < t->txns[x].nparents; k++)
        r->stack[sp++] = t->txns[x].parents[k];
    while (sp) {
        uint32_t y = r->stack[--sp];
        if (rep->has[y] || r->stamp[y] == r->gen)
            continue;
        r->stamp[y] = r->gen;
        r->list[n++] = y;
        for (uint32_t k = 0; k < t->txns[y].nparents; k++)
            r->stack[sp++] = t->txns[y].parents[k];
    }
    qsort(r->list, n, sizeof(uint32_t), cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (apply_txn(r, rep, r->list[i]))
            return -1;
    return 0;
}

static int replay_run(const trace *t, const char *what, bool exact, bool verbose)
{
    /* The small conformance histories (not verbose) also check, on every merge, the visible
     * changes an editor would be told (crdt_doc_apply_changes); the big traces are timed. */
    replay r = {.t = t, .what = what, .track = !verbose};
    uint32_t n = t->ntxns;
    size_t edges = 0;
    for (uint32_t i = 0; i < n; i++)
        edges += t->txns[i].nparents;
    r.upd = calloc(n, sizeof(uint8_t *));
    r.upd_len = calloc(n, sizeof(size_t));
    r.reps = calloc((size_t)n + t->nagents, sizeof(replica));
    r.stamp = calloc(n, sizeof(uint32_t));
    r.stack = calloc(edges + 1, sizeof(uint32_t));
    r.list = calloc(n, sizeof(uint32_t));
    int64_t *agent_rep = calloc(t->nagents, sizeof(int64_t));
    uint64_t *agent_seq = calloc(t->nagents, sizeof(uint64_t));
    int rc = 0;
    for (uint32_t a = 0; a < t->nagents; a++)
        agent_rep[a] = -1;
    double t0 = now_ms();
    for (uint32_t x = 0; x < n && rc == 0; x++) {
        const trace_txn *tx = &t->txns[x];
        const char *name = t->agents[tx->agent];
        int64_t ri = agent_rep[tx->agent];
        if (ri >= 0 && !is_ancestor(&r, (uint32_t)r.reps[ri].last, x))
            ri = -1;
        if (ri < 0) {
            replica *nr = &r.reps[r.nreps];
            nr->has = calloc(n, 1);
            if (!nr->has || crdt_doc_new(NULL, name, strlen(name), &nr->doc) != CRDT_OK) {
                free(nr->has);
                rc = -1;
                break;
            }
            ri = (int64_t)r.nreps++;
            agent_rep[tx->agent] = ri;
        }
        replica *rep = &r.reps[ri];
        rc = import_ancestors(&r, rep, x);
        uint64_t seq = tx->seq_start >= 0 ? (uint64_t)tx->seq_start : agent_seq[tx->agent];
        if (rc == 0 && crdt_doc_set_agent(rep->doc, name, strlen(name), seq) != CRDT_OK)
            rc = -1;
        uint64_t mark = crdt_doc_mark(rep->doc);
        if (rc == 0)
            rc = apply_patches(rep->doc, tx, what, x);
        if (rc == 0 &&
            crdt_doc_encode_since_mark(rep->doc, mark, &r.upd[x], &r.upd_len[x]) != CRDT_OK)
            rc = -1;
        agent_seq[tx->agent] = crdt_doc_next_seq(rep->doc);
        rep->has[x] = 1;
        rep->last = x;
    }
    double t1 = now_ms();
    /* Deliver everything everywhere. */
    for (size_t i = 0; i < r.nreps && rc == 0; i++)
        for (uint32_t y = 0; y < n && rc == 0; y++)
            if (!r.reps[i].has[y])
                rc = apply_txn(&r, &r.reps[i], y);
    double t2 = now_ms();
    char *first = NULL;
    size_t first_len = 0;
    /* crdt_doc_check is O(document) per replica: run it on at most about
     * 16 replicas spread over the run (texts are compared on all). */
    size_t check_every = r.nreps > 16 ? r.nreps / 16 : 1;
    for (size_t i = 0; i < r.nreps && rc == 0; i++) {
        bool check = i % check_every == 0 || i + 1 == r.nreps;
        if (check && crdt_doc_check(r.reps[i].doc) != CRDT_OK) {
            fprintf(stderr, "%s: replica %zu fails crdt_doc_check\n", what, i);
            rc = -1;
            break;
        }
        if (exact) {
            rc = text_equals(r.reps[i].doc, t->end, t->end_len, what);
        } else if (!first) {
            if (crdt_doc_text(r.reps[i].doc, &first, &first_len) != CRDT_OK)
                rc = -1;
            else if (cp_len(first, first_len) != cp_len(t->end, t->end_len)) {
                fprintf(stderr, "%s: length %zu, want %zu\n", what, cp_len(first, first_len),
                        cp_len(t->end, t->end_len));
                rc = -1;
            }
        } else {
            rc = text_equals(r.reps[i].doc, first, first_len, what);
        }
    }
    if (rc == 0 && r.nreps)
        rc = roundtrip(r.reps[0].doc, what, verbose);
    if (verbose)
        printf("%s: %u txns, %zu replicas, %.1f ms replay, %.1f ms full delivery, %s\n", what, n,
               r.nreps, t1 - t0, t2 - t1,
               rc      ? "FAIL"
               : exact ? "exact"
                       : "converged");
    crdt_free_bytes(NULL, first);
    for (size_t i = 0; i < r.nreps; i++) {
        crdt_doc_free(r.reps[i].doc);
        free(r.reps[i].has);
    }
    for (uint32_t i = 0; i < n; i++)
        crdt_free_bytes(NULL, r.upd[i]);
    free(r.upd);
    free(r.upd_len);
    free(r.reps);
    free(r.stamp);
    free(r.stack);
    free(r.list);
    free(agent_rep);
    free(agent_seq);
    return rc;
}

static int run_conc(const char *path, bool exact)
{
    trace t;
    if (trace_load(path, &t) != 0) {
        fprintf(stderr, "%s: cannot load\n", path);
        return -1;
    }
    int rc = replay_run(&t, path, exact, true);
    trace_free(&t);
    return rc;
}

static int run_conformance(const char *path)
{
    trace *runs;
    size_t n;
    if (trace_load_conformance(path, &runs, &n) != 0) {
        fprintf(stderr, "%s: cannot load\n", path);
        return -1;
    }
    size_t pass = 0;
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "conformance run %zu", i);
        if (replay_run(&runs[i], what, true, false) == 0)
            pass++;
        trace_free(&runs[i]);
    }
    free(runs);
    printf("%s: %zu/%zu runs give exactly endContent\n", path, pass, n);
    return pass == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s seq FILE... | conc FILE exact|converge | conformance FILE\n",
                argv[0]);
        return 2;
    }
    int rc = 0;
    if (strcmp(argv[1], "seq") == 0) {
        for (int i = 2; i < argc; i++)
            rc |= run_seq(argv[i]) != 0;
    } else if (strcmp(argv[1], "conc") == 0) {
        rc = run_conc(argv[2], argc > 3 && strcmp(argv[3], "exact") == 0) != 0;
    } else if (strcmp(argv[1], "conformance") == 0) {
        rc = run_conformance(argv[2]) != 0;
    } else {
        return 2;
    }
    return rc;
}
