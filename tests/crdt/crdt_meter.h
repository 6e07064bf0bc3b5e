/* Shared by tests/crdt/test_crdt_cost.c and fuzz/crdt_inspect.c: the
 * server's admission rule for an update and the bound it puts on
 * crdt_doc_apply, and a counting allocator that measures the peak.
 *
 * Admission: an update of N bytes is accepted only if crdt_update_inspect()
 * returns CRDT_OK with ops <= 64 * N + 4096. An admitted update makes apply
 * allocate at most A * N + B bytes at its peak (250 bytes per admitted
 * operation; test_crdt_cost.c explains the constants), and applied with
 * crdt_doc_apply_bounded(..., scan_bound(N)) it scans at most that many
 * runs. */
#ifndef DOCSYNC_CRDT_METER_H
#define DOCSYNC_CRDT_METER_H

#include "crdt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define ADMIT_PER_BYTE 64u
#define ADMIT_ALLOWANCE 4096u
#define PER_OP_BOUND 250u /* bytes per admitted operation */
#define BOUND_A ((uint64_t)ADMIT_PER_BYTE * PER_OP_BOUND)
#define BOUND_B ((uint64_t)ADMIT_ALLOWANCE * PER_OP_BOUND)

/* The server's bound on the time of a merge (crdt_doc_apply_bounded): runs
 * scanned while placing remote inserts, per byte of the update plus an
 * allowance. With ops bounded by admission, apply's time is
 * O((ops + scanned) log n), hence O(N log n). */
#define SCAN_PER_BYTE 64u
#define SCAN_ALLOWANCE 65536u

static inline uint64_t scan_bound(size_t n)
{
    return (uint64_t)SCAN_PER_BYTE * n + SCAN_ALLOWANCE;
}

/* The admission rule, given inspect's op count for an update of n bytes
 * (inspect itself must have returned CRDT_OK). */
static inline bool admitted(size_t n, uint64_t ops)
{
    return ops <= (uint64_t)ADMIT_PER_BYTE * n + ADMIT_ALLOWANCE;
}

/* Counting allocator: live bytes and their peak. */
typedef struct meter {
    size_t live, peak;
} meter;

static inline void *m_malloc(void *ctx, size_t n)
{
    meter *m = ctx;
    size_t *p = malloc(sizeof(size_t) + n);
    if (!p)
        return NULL;
    *p = n;
    m->live += n;
    if (m->live > m->peak)
        m->peak = m->live;
    return p + 1;
}

static inline void m_free(void *ctx, void *q)
{
    meter *m = ctx;
    if (!q)
        return;
    size_t *p = (size_t *)q - 1;
    m->live -= *p;
    free(p);
}

static inline void *m_realloc(void *ctx, void *q, size_t n)
{
    meter *m = ctx;
    if (!q)
        return m_malloc(ctx, n);
    size_t *p = (size_t *)q - 1, old = *p;
    size_t *r = realloc(p, sizeof(size_t) + n);
    if (!r)
        return NULL;
    *r = n;
    m->live = m->live - old + n;
    if (m->live > m->peak)
        m->peak = m->live;
    return r + 1;
}

/* A crdt_allocator that counts into m. */
static inline crdt_allocator meter_allocator(meter *m)
{
    crdt_allocator al = {m_malloc, m_realloc, m_free, m};
    return al;
}

/* Start measuring a peak from now: returns the bytes live before; the
 * growth of the peak is then m->peak minus that. */
static inline size_t meter_begin(meter *m)
{
    m->peak = m->live;
    return m->live;
}

#endif
