/* crdt_bench.c - native figures for libcrdt on one sequential editing trace.
 *
 *   crdt_bench <trace.json.gz> [budget-ms]
 *
 * Reads the trace with the shared loader (bench/trace.h) before anything is
 * timed and prints one JSON object:
 *   apply_ms        every trace transaction applied as local edits, in order
 *   encode_ms, encoded_bytes   crdt_doc_encode_state of the result
 *   load_ms         new replica + apply(state) + read the text (second run;
 *                   load_cold_ms is the first)
 *   mem_bytes       bytes the loaded replica holds (counted by a crdt_allocator,
 *                   requested sizes, no malloc overhead)
 *   remote_us       per transaction: the update a replica makes for it
 *                   (crdt_doc_encode_since_mark) applied by another replica
 * The text is checked against endContent after apply, load and remote replay.
 * Never a test: bench/crdt/run.mjs runs it 3 times and prints the table. */
#include "crdt.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A crdt_allocator that counts the bytes it has handed out. */
struct bench_counter {
    size_t live;
};

#define HDR 16

static void *count_malloc(void *ctx, size_t size)
{
    struct bench_counter *c = ctx;
    unsigned char *p = malloc(size + HDR);
    if (!p) {
        return NULL;
    }
    memcpy(p, &size, sizeof size);
    c->live += size;
    return p + HDR;
}

static void count_free(void *ctx, void *ptr)
{
    struct bench_counter *c = ctx;
    size_t size;
    if (!ptr) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - HDR;
    memcpy(&size, p, sizeof size);
    c->live -= size;
    free(p);
}

static void *count_realloc(void *ctx, void *ptr, size_t size)
{
    struct bench_counter *c = ctx;
    size_t old = 0;
    unsigned char *p = NULL;
    if (ptr) {
        p = (unsigned char *)ptr - HDR;
        memcpy(&old, p, sizeof old);
    }
    unsigned char *q = realloc(p, size + HDR);
    if (!q) {
        return NULL;
    }
    memcpy(q, &size, sizeof size);
    c->live = c->live - old + size;
    return q + HDR;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "crdt_bench: %s: %s\n", what, rc ? crdt_strerror(rc) : "failed");
    exit(1);
}

static void apply_txn(crdt_doc *doc, const trace *t, size_t i)
{
    const trace_txn *tx = &t->txns[i];
    for (uint32_t k = 0; k < tx->npatches; k++) {
        const trace_patch *p = &tx->patches[k];
        int rc = 0;
        if (p->del) {
            rc = crdt_doc_delete(doc, p->pos, p->del);
        }
        if (!rc && p->ins_len) {
            rc = crdt_doc_insert(doc, p->pos, p->ins, p->ins_len);
        }
        if (rc) {
            die("local edit", rc);
        }
    }
}

static void expect_text(const crdt_doc *doc, const crdt_allocator *a, const trace *t,
                        const char *when)
{
    char *text = NULL;
    size_t len = 0;
    int rc = crdt_doc_text(doc, &text, &len);
    if (rc) {
        die("crdt_doc_text", rc);
    }
    if (len != t->end_len || memcmp(text, t->end, len) != 0) {
        fprintf(stderr, "crdt_bench: text %s differs from endContent (%zu vs %zu bytes)\n", when,
                len, t->end_len);
        exit(1);
    }
    crdt_free_bytes(a, text);
}

/* Loads `state` into a new replica and reads the text; returns the ms taken. */
static double load_once(const crdt_allocator *a, const uint8_t *state, size_t len, crdt_doc **out)
{
    double t0 = now_ms();
    int rc = crdt_doc_new(a, "b", 1, out);
    if (!rc) {
        rc = crdt_doc_apply(*out, state, len, NULL);
    }
    char *text = NULL;
    if (!rc) {
        rc = crdt_doc_text(*out, &text, NULL);
    }
    double ms = now_ms() - t0;
    if (rc) {
        die("load", rc);
    }
    crdt_free_bytes(a, text);
    return ms;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: crdt_bench <trace.json.gz> [budget-ms]\n");
        return 2;
    }
    double budget = argc > 2 ? atof(argv[2]) : 4000;
    trace t;
    if (trace_load(argv[1], &t) != 0) {
        fprintf(stderr, "crdt_bench: cannot load the trace %s\n", argv[1]);
        return 1;
    }

    struct bench_counter counter = {0};
    crdt_allocator a = {count_malloc, count_realloc, count_free, &counter};
    crdt_doc *doc = NULL;
    int rc = crdt_doc_new(&a, "a", 1, &doc);
    if (rc) {
        die("crdt_doc_new", rc);
    }
    double t0 = now_ms();
    for (size_t i = 0; i < t.ntxns; i++) {
        apply_txn(doc, &t, i);
    }
    double apply_ms = now_ms() - t0;
    size_t mem_after_apply = counter.live;
    expect_text(doc, &a, &t, "after apply");

    uint8_t *state = NULL;
    size_t state_len = 0;
    t0 = now_ms();
    rc = crdt_doc_encode_state(doc, &state, &state_len);
    double encode_ms = now_ms() - t0;
    if (rc) {
        die("crdt_doc_encode_state", rc);
    }
    crdt_doc_free(doc);

    /* Load: the first run gives the memory held, the second the time. */
    size_t base = counter.live;
    double load_cold_ms = load_once(&a, state, state_len, &doc);
    size_t mem_bytes = counter.live - base;
    expect_text(doc, &a, &t, "after load");
    crdt_doc_free(doc);
    double load_ms = load_once(&a, state, state_len, &doc);
    crdt_doc_free(doc);

    /* Remote: record the update of every transaction, then replay them. */
    uint8_t **updates = calloc(t.ntxns ? t.ntxns : 1, sizeof *updates);
    size_t *lens = calloc(t.ntxns ? t.ntxns : 1, sizeof *lens);
    if (!updates || !lens) {
        die("out of memory", 0);
    }
    crdt_doc *src = NULL, *dst = NULL;
    if ((rc = crdt_doc_new(&a, "a", 1, &src)) || (rc = crdt_doc_new(&a, "b", 1, &dst))) {
        die("crdt_doc_new", rc);
    }
    size_t made = 0, remote_bytes = 0;
    t0 = now_ms();
    for (; made < t.ntxns; made++) {
        uint64_t mark = crdt_doc_mark(src);
        apply_txn(src, &t, made);
        rc = crdt_doc_encode_since_mark(src, mark, &updates[made], &lens[made]);
        if (rc) {
            die("crdt_doc_encode_since_mark", rc);
        }
        if ((made & 255) == 255 && now_ms() - t0 > budget) {
            made++;
            break;
        }
    }
    size_t applied = 0;
    t0 = now_ms();
    for (; applied < made; applied++) {
        rc = crdt_doc_apply(dst, updates[applied], lens[applied], NULL);
        if (rc) {
            die("crdt_doc_apply (remote)", rc);
        }
        remote_bytes += lens[applied];
        if ((applied & 255) == 255 && now_ms() - t0 > budget) {
            applied++;
            break;
        }
    }
    double remote_ms = now_ms() - t0;
    if (applied == t.ntxns) {
        expect_text(dst, &a, &t, "after remote replay");
    }
    for (size_t i = 0; i < made; i++) {
        crdt_free_bytes(&a, updates[i]);
    }
    crdt_doc_free(src);
    crdt_doc_free(dst);
    crdt_free_bytes(&a, state);

    printf("{\"peer\":\"docsync (native)\",\"txns\":%zu,\"patches\":%zu,\"apply_ms\":%.3f,"
           "\"mem_after_apply\":%zu,\"encode_ms\":%.3f,\"encoded_bytes\":%zu,\"load_ms\":%.3f,"
           "\"load_cold_ms\":%.3f,\"mem_bytes\":%zu,\"remote_us\":%.4f,\"remote_updates\":%zu,"
           "\"remote_bytes\":%zu}\n",
           (size_t)t.ntxns, trace_npatches(&t), apply_ms, mem_after_apply, encode_ms, state_len,
           load_ms, load_cold_ms, mem_bytes, applied ? remote_ms * 1000.0 / (double)applied : 0.0,
           applied, remote_bytes);
    free(updates);
    free(lens);
    trace_free(&t);
    return counter.live == 0 ? 0 : 1;
}
