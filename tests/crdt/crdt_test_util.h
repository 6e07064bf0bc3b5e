/* Helpers shared by the libcrdt tests (tests/crdt/test_crdt_*.c): a seeded
 * xorshift64* generator and small wrappers that CHECK every libcrdt call.
 * Everything is static, one copy per test program. */
#ifndef DOCSYNC_CRDT_TEST_UTIL_H
#define DOCSYNC_CRDT_TEST_UTIL_H

#include "crdt.h"
#include "test.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

/* ------------------------------------------- reported visible changes */

/* A copy of a replica's text kept up to date only from the changes that
 * crdt_doc_apply_changes reports: after the call it must equal the
 * replica's text, and every position reported must agree with it (code
 * points and UTF-16 units alike). */
typedef struct text_model {
    char *s;
    size_t len, cap;
    size_t calls;
} text_model;

/* Byte offset of code point `cps` in s[0, len) and the UTF-16 units before
 * it; CHECK-fails (and stops at len) when s is shorter. */
static inline size_t model_offset(const char *s, size_t len, size_t cps, size_t *u16)
{
    size_t b = 0, u = 0;
    for (size_t k = 0; k < cps; k++) {
        if (b >= len) {
            CHECK(b < len);
            break;
        }
        uint8_t c = (uint8_t)s[b];
        size_t w = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        u += w == 4 ? 2 : 1;
        b += w;
    }
    *u16 = u;
    return b;
}

static inline void model_change(void *ctx, const crdt_change *c)
{
    text_model *m = ctx;
    m->calls++;
    size_t u16, e16;
    size_t b = model_offset(m->s, m->len, c->pos, &u16);
    CHECK_EQ(u16, c->pos16);
    CHECK((c->del == 0) != (c->ins == 0)); /* one or the other, never empty */
    if (c->del) {
        CHECK(c->text == NULL && c->text_len == 0);
        size_t n = model_offset(m->s + b, m->len - b, c->del, &e16);
        CHECK_EQ(e16, c->del16);
        memmove(m->s + b, m->s + b + n, m->len - b - n);
        m->len -= n;
        return;
    }
    size_t n = c->text_len;
    CHECK_EQ(model_offset(c->text, n, c->ins, &e16), n); /* ins code points, exactly */
    CHECK_EQ(e16, c->ins16);
    if (m->len + n > m->cap) {
        m->cap = (m->len + n) * 2;
        m->s = realloc(m->s, m->cap);
        CHECK(m->s != NULL);
    }
    memmove(m->s + b + n, m->s + b, m->len - b);
    memcpy(m->s + b, c->text, n);
    m->len += n;
}

/* crdt_doc_apply_changes, checking that the changes it reports turn the
 * text before into the text after (nothing reported when it refuses). */
static inline int apply_tracked(crdt_doc *d, const uint8_t *u, size_t n, crdt_id *missing)
{
    text_model m = {0};
    CHECK_EQ(crdt_doc_text(d, &m.s, &m.len), CRDT_OK);
    m.cap = m.len;
    int rc = crdt_doc_apply_changes(d, u, n, missing, model_change, &m);
    char *t = NULL;
    size_t tn = 0;
    CHECK_EQ(crdt_doc_text(d, &t, &tn), CRDT_OK);
    CHECK_EQ(m.len, tn);
    CHECK(m.len == tn && memcmp(m.s, t, tn) == 0);
    if (rc != CRDT_OK)
        CHECK_EQ(m.calls, 0);
    crdt_free_bytes(NULL, t);
    free(m.s);
    return rc;
}

#endif
