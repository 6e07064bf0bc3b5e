/* trace.h - the one loader of the shared editing traces (the .json.gz files
 * of ../shared/traces/), for the CRDT trace tests (tests/crdt) and the
 * benchmarks that replay a trace (crdt_bench, snapload). Built as the static
 * library trace_load (bench/trace.cmake).
 *
 * Three layouts are read, all gzipped JSON:
 *   sequential   {"endContent", "txns": [{"patches": [[pos, del, ins]...]}]}
 *                (one agent; txn i has txn i - 1 as its only parent)
 *   concurrent   the same with "kind": "concurrent", "numAgents", optional
 *                "agentNames", and per txn "parents" (txn indexes), "agent"
 *                (an index) and an optional "seqStart"
 *   conformance  an array of runs, each {"endContent", "txns": [{"span",
 *                "parents" (LVs), "agent" (a name), "seqStart", "ops"}]}
 * A patch deletes `del` code points at code point `pos`, then inserts the
 * text `ins` there. The files are read through `gzip -dc` (popen) and parsed
 * with cJSON; the JSON tree is freed before a load returns. */
#ifndef DOCSYNC_BENCH_TRACE_H
#define DOCSYNC_BENCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

typedef struct trace_patch {
    uint32_t pos, del;
    const char *ins; /* UTF-8, not NUL-terminated */
    uint32_t ins_len;
} trace_patch;

typedef struct trace_txn {
    uint32_t *parents; /* txn indexes */
    uint32_t nparents;
    uint32_t agent;    /* index in trace.agents */
    int64_t seq_start; /* -1 when the trace does not say */
    trace_patch *patches;
    uint32_t npatches;
} trace_txn;

typedef struct trace {
    char *end; /* expected final text, NUL-terminated */
    size_t end_len;
    char **agents; /* agent names, NUL-terminated */
    uint32_t nagents;
    trace_txn *txns;
    uint32_t ntxns;
    char *strings; /* backing store of all patch text */
} trace;

/* Loads a sequential or concurrent trace file into *t. Returns 0, or -1 on
 * any failure (unreadable file, not one of the layouts above, out of
 * memory), with *t then empty. Free a loaded trace with trace_free(). */
int trace_load(const char *path, trace *t);

/* Loads the conformance file: *runs gets a malloc'd array of *nruns traces.
 * Returns 0 or -1 (nothing is returned then). Free each run with
 * trace_free(), then the array with free(). */
int trace_load_conformance(const char *path, trace **runs, size_t *nruns);

/* Frees what a trace holds and empties it (t itself is the caller's). */
void trace_free(trace *t);

/* Number of patches over all transactions of t. */
size_t trace_npatches(const trace *t);

#endif
