/* snapload.c - snapshot load time of one document through the store, the
 * way docsyncd loads a document (build() in the server's document.c).
 *
 *   snapload <trace.json.gz> [runs] [dir]
 *
 * Setup (not timed): reads the sequential trace (the shared loader,
 * bench/trace.h), replays every transaction as local edits into a crdt replica,
 * checks the text against endContent, encodes the state
 * (crdt_doc_encode_state) and commits it to a fresh LMDB store in `dir`
 * (default: a mkdtemp directory under /tmp, removed at the end) as one batch:
 * op 1 of document "paper" carrying the whole state, then a snapshot of the
 * same state at version 1 (a snapshot needs an op at or above its version).
 * The store is closed.
 *
 * Timed, `runs` times (default 21), each from a closed store:
 *   open_ms   store_open
 *   read_ms   read transaction: store_doc_get + store_snapshot_get + the ops
 *             after the snapshot (none here), as document_load does
 *   apply_ms  crdt_doc_new + crdt_doc_apply(snapshot) in a fresh replica
 *   text_ms   crdt_doc_text (checked equal to endContent)
 *   total_ms  all of the above, plus store_read_end and the store_close
 *             that follows (close is counted separately in close_ms)
 * The page cache is warm (the file was just written): this is the cost of a
 * server (re)loading a document it has on disk, not a cold disk read.
 * Prints one JSON object with the median, min and max of each. Never a test.
 */
#include "crdt.h"
#include "store.h"
#include "trace.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SNAPLOAD_DOC "paper"
#define SNAPLOAD_RUNS_MAX 1000

static double snapload_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void snapload_die(const char *what, const char *why)
{
    fprintf(stderr, "snapload: %s: %s\n", what, why ? why : "failed");
    exit(1);
}

static void snapload_check_text(const char *text, size_t len, const trace *t, const char *when)
{
    if (len != t->end_len || memcmp(text, t->end, len) != 0) {
        fprintf(stderr, "snapload: text %s differs from endContent (%zu vs %zu bytes)\n", when, len,
                t->end_len);
        exit(1);
    }
}

/* Replays the trace and returns the encoded state (malloc'd copy). */
static uint8_t *snapload_build_state(const trace *t, size_t *len)
{
    crdt_doc *doc = NULL;
    int rc = crdt_doc_new(NULL, "a", 1, &doc);
    for (uint32_t i = 0; !rc && i < t->ntxns; i++) {
        for (uint32_t k = 0; !rc && k < t->txns[i].npatches; k++) {
            const trace_patch *p = &t->txns[i].patches[k];
            if (p->del) {
                rc = crdt_doc_delete(doc, p->pos, p->del);
            }
            if (!rc && p->ins_len) {
                rc = crdt_doc_insert(doc, p->pos, p->ins, p->ins_len);
            }
        }
    }
    char *text = NULL;
    size_t text_len = 0;
    if (!rc) {
        rc = crdt_doc_text(doc, &text, &text_len);
    }
    if (rc) {
        snapload_die("replay of the trace", crdt_strerror(rc));
    }
    snapload_check_text(text, text_len, t, "after replay");
    crdt_free_bytes(NULL, text);
    uint8_t *state = NULL;
    rc = crdt_doc_encode_state(doc, &state, len);
    if (rc) {
        snapload_die("crdt_doc_encode_state", crdt_strerror(rc));
    }
    uint8_t *copy = malloc(*len ? *len : 1);
    if (!copy) {
        snapload_die("state", "out of memory");
    }
    memcpy(copy, state, *len);
    crdt_free_bytes(NULL, state);
    crdt_doc_free(doc);
    return copy;
}

static void snapload_store_state(const char *dir, const uint8_t *state, size_t len)
{
    store *s = NULL;
    store_batch *b = NULL;
    int rc = store_open(dir, NULL, &s);
    if (!rc) {
        rc = store_batch_new(&b);
    }
    if (!rc) {
        rc = store_batch_op_append(b, SNAPLOAD_DOC, 1, "bench", "", 0, 1, state, len);
    }
    if (!rc) {
        rc = store_batch_snapshot_put(b, SNAPLOAD_DOC, 1, 1, state, len);
    }
    if (!rc) {
        rc = store_batch_commit(s, b, NULL);
    }
    if (rc) {
        snapload_die("storing the snapshot", store_strerror(rc));
    }
    store_batch_free(b);
    store_close(s);
}

struct snapload_apply {
    crdt_doc *doc;
    int rc;
};

static int snapload_apply_op(void *ctx, const struct store_op *op)
{
    struct snapload_apply *a = ctx;
    a->rc = crdt_doc_apply(a->doc, op->data, op->len, NULL);
    return a->rc ? -1 : 0;
}

enum { SL_OPEN, SL_READ, SL_APPLY, SL_TEXT, SL_CLOSE, SL_TOTAL, SL_N };
static const char *const snapload_names[SL_N] = {"open_ms", "read_ms",  "apply_ms",
                                                 "text_ms", "close_ms", "total_ms"};

/* One load from a closed store; fills ms[SL_N]. */
static void snapload_once(const char *dir, const trace *t, double *ms)
{
    double t0 = snapload_now_ms();
    store *s = NULL;
    int rc = store_open(dir, NULL, &s);
    double t1 = snapload_now_ms();
    if (rc) {
        snapload_die("store_open", store_strerror(rc));
    }
    store_read *r = NULL;
    struct store_doc_info info;
    struct store_snapshot snap;
    if ((rc = store_read_begin(s, &r)) || (rc = store_doc_get(r, SNAPLOAD_DOC, &info)) ||
        (rc = store_snapshot_get(r, SNAPLOAD_DOC, UINT64_MAX, &snap))) {
        snapload_die("reading the snapshot", store_strerror(rc));
    }
    double t2 = snapload_now_ms();
    crdt_doc *doc = NULL;
    rc = crdt_doc_new(NULL, "docsync-server", strlen("docsync-server"), &doc);
    if (!rc) {
        rc = crdt_doc_apply(doc, snap.data, snap.len, NULL);
    }
    if (rc) {
        snapload_die("crdt_doc_apply of the snapshot", crdt_strerror(rc));
    }
    struct snapload_apply a = {doc, 0};
    rc = store_ops_after(r, SNAPLOAD_DOC, snap.version, UINT64_MAX, 0, snapload_apply_op, &a, NULL);
    if (rc) {
        snapload_die("ops after the snapshot", a.rc ? crdt_strerror(a.rc) : store_strerror(rc));
    }
    store_read_end(r);
    double t3 = snapload_now_ms();
    char *text = NULL;
    size_t len = 0;
    rc = crdt_doc_text(doc, &text, &len);
    double t4 = snapload_now_ms();
    if (rc) {
        snapload_die("crdt_doc_text", crdt_strerror(rc));
    }
    store_close(s);
    double t5 = snapload_now_ms();
    snapload_check_text(text, len, t, "after load");
    crdt_free_bytes(NULL, text);
    crdt_doc_free(doc);
    ms[SL_OPEN] = t1 - t0;
    ms[SL_READ] = t2 - t1;
    ms[SL_APPLY] = t3 - t2;
    ms[SL_TEXT] = t4 - t3;
    ms[SL_CLOSE] = t5 - t4;
    ms[SL_TOTAL] = t5 - t0;
}

static int snapload_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: snapload <trace.json.gz> [runs] [dir]\n");
        return 2;
    }
    long runs = argc > 2 ? strtol(argv[2], NULL, 10) : 21;
    if (runs < 1 || runs > SNAPLOAD_RUNS_MAX) {
        snapload_die("runs", "must be 1..1000");
    }
    char tmpl[] = "/tmp/snapload-XXXXXX";
    const char *dir = argc > 3 ? argv[3] : mkdtemp(tmpl);
    if (!dir) {
        snapload_die("mkdtemp", NULL);
    }
    trace t;
    if (trace_load(argv[1], &t) != 0) {
        snapload_die("cannot load the trace", argv[1]);
    }
    size_t state_len = 0;
    uint8_t *state = snapload_build_state(&t, &state_len);
    snapload_store_state(dir, state, state_len);

    static double ms[SL_N][SNAPLOAD_RUNS_MAX];
    double one[SL_N];
    for (long i = 0; i < runs; i++) {
        snapload_once(dir, &t, one);
        for (int k = 0; k < SL_N; k++) {
            ms[k][i] = one[k];
        }
    }
    printf("{\"text_bytes\":%zu,\"snapshot_bytes\":%zu,\"runs\":%ld", t.end_len, state_len, runs);
    for (int k = 0; k < SL_N; k++) {
        qsort(ms[k], (size_t)runs, sizeof ms[k][0], snapload_cmp);
        printf(",\"%s\":{\"median\":%.3f,\"min\":%.3f,\"max\":%.3f}", snapload_names[k],
               ms[k][runs / 2], ms[k][0], ms[k][runs - 1]);
    }
    printf("}\n");

    if (argc <= 3) {
        char path[64];
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/lock.mdb", dir);
        unlink(path);
        rmdir(dir);
    }
    free(state);
    trace_free(&t);
    return 0;
}
