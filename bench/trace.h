/* trace.h - a sequential editing trace (a .json.gz file of ../shared/traces/sequential/)
 * as flat arrays, for the benchmarks that replay one (crdt_bench, snapload).
 * Benchmarks only: errors print a line and exit. */
#ifndef DOCSYNC_BENCH_TRACE_H
#define DOCSYNC_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

/* One patch of a trace: at code point pos delete del, then insert
 * text[ins_off, ins_off + ins_len). */
struct bench_patch {
    uint32_t pos, del, ins_off, ins_len;
};

struct bench_trace {
    struct bench_patch *patches;
    size_t npatches;
    size_t *txn_end; /* txn i = patches[txn_end[i-1] .. txn_end[i]) */
    size_t ntxns;
    char *text; /* all inserted text, concatenated */
    char *end_content;
    size_t end_len;
};

/* Reads `path` (gzip -dc through popen, parsed with cJSON) into `t`. Exits
 * with a message on any error. The caller frees with bench_trace_free(). */
void bench_trace_load(const char *path, struct bench_trace *t);
void bench_trace_free(struct bench_trace *t);

#endif
