/* Helpers shared by the libcrdt tests (tests/crdt/test_crdt_*.c): a seeded
 * xorshift64* generator and small wrappers that CHECK every libcrdt call.
 * Everything is static, one copy per test program. */
#ifndef DOCSYNC_CRDT_TEST_UTIL_H
#define DOCSYNC_CRDT_TEST_UTIL_H

#include "crdt.h"
#include "test.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- rng */

/* Seeded by each test's main (never 0: xorshift stays at 0). */
static uint64_t rng_state;

static inline uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

/* Uniform-ish in [0, n); 0 when n is 0. */
static inline size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* ------------------------------------------------------ doc wrappers */

static inline crdt_doc *mkdoc(const char *agent)
{
    crdt_doc *d = NULL;
    CHECK_EQ(crdt_doc_new(NULL, agent, strlen(agent), &d), CRDT_OK);
    return d;
}

static inline void ins(crdt_doc *d, size_t pos, const char *s)
{
    CHECK_EQ(crdt_doc_insert(d, pos, s, strlen(s)), CRDT_OK);
}

/* Encode everything d has since `mark`. */
static inline uint8_t *since_mark(const crdt_doc *d, uint64_t mark, size_t *n)
{
    uint8_t *u = NULL;
    CHECK_EQ(crdt_doc_encode_since_mark(d, mark, &u, n), CRDT_OK);
    return u;
}

/* Pull into dst what src has and dst lacks (a delta since dst's version). */
static inline void sync_into(crdt_doc *dst, const crdt_doc *src)
{
    crdt_version *v;
    uint8_t *u;
    size_t n;
    CHECK_EQ(crdt_version_new(NULL, &v), CRDT_OK);
    CHECK_EQ(crdt_doc_version(dst, v), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_since(src, v, &u, &n), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(dst, u, n, NULL), CRDT_OK);
    crdt_free_bytes(NULL, u);
    crdt_version_free(v);
}

#endif
