/* Loading the shared editing traces (gzipped JSON, see
 * ../shared/traces/README.md) into plain structs for the CRDT tests. */
#ifndef DOCSYNC_TEST_TRACE_LOAD_H
#define DOCSYNC_TEST_TRACE_LOAD_H

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
    uint32_t agent;     /* index in trace.agents */
    int64_t seq_start;  /* -1 when the trace does not say */
    trace_patch *patches;
    uint32_t npatches;
} trace_txn;

typedef struct trace {
    char *end;        /* expected final text, NUL-terminated */
    size_t end_len;
    char **agents;    /* agent names, NUL-terminated */
    uint32_t nagents;
    trace_txn *txns;
    uint32_t ntxns;
    char *strings;    /* backing store of all patch text */
} trace;

/* Decompress a .json.gz file. Returns a malloc'd NUL-terminated buffer or
 * NULL. */
char *trace_read_gz(const char *path, size_t *len);

/* Load a sequential or concurrent trace file. 0 on success. */
int trace_load(const char *path, trace *t);

/* Load the conformance file: *runs gets an array of *nruns traces. */
int trace_load_conformance(const char *path, trace **runs, size_t *nruns);

void trace_free(trace *t);

#endif
