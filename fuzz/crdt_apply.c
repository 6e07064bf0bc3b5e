/* Fuzz target: decode + apply of updates and versions (crdt_doc_apply,
 * crdt_version_decode) on a replica that already holds some history, so
 * that inputs can reference existing ids. Whatever the bytes, nothing may
 * crash, overread or leak; a refused update must leave the replica
 * unchanged, and an accepted one must leave it consistent
 * (crdt_doc_check), be read by crdt_update_inspect too, and round-trip
 * through crdt_doc_encode_state. The same bytes applied to an empty
 * replica must give what the general apply path gives (check_fresh). */
#include "crdt.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The broken property named on stderr, for whoever replays the input. */
static _Noreturn void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", __FILE__, what);
    abort();
}

/* The fuzzed apply runs under a budget of BUDGET live bytes: an update
 * naming up to CRDT_DOC_OPS_MAX operations in a few bytes (legitimate: a
 * long deleted run) would otherwise make every run allocate and fill
 * hundreds of MB; past the budget it gets CRDT_ENOMEM, which must leave
 * the replica unchanged like any other refusal. The checks after it (state
 * round trip, second apply) run without a cap: the replica they copy is
 * bounded by the budget already. */
#define BUDGET ((size_t)64 << 20)

typedef struct budget {
    size_t live, cap; /* cap: BUDGET while the input is applied, else no cap */
} budget;

static budget g_budget = {0, SIZE_MAX}; /* the fuzzer runs one thread */

static void *b_malloc(void *ctx, size_t n)
{
    budget *b = ctx;
    if (n > b->cap - b->live)
        return NULL;
    size_t *p = malloc(sizeof(size_t) + n);
    if (!p)
        return NULL;
    *p = n;
    b->live += n;
    return p + 1;
}

static void b_free(void *ctx, void *q)
{
    budget *b = ctx;
    if (!q)
        return;
    size_t *p = (size_t *)q - 1;
    b->live -= *p;
    free(p);
}

static void *b_realloc(void *ctx, void *q, size_t n)
{
    budget *b = ctx;
    if (!q)
        return b_malloc(ctx, n);
    size_t *p = (size_t *)q - 1, old = *p;
    if (n > old && n - old > b->cap - b->live)
        return NULL;
    size_t *r = realloc(p, sizeof(size_t) + n);
    if (!r)
        return NULL;
    b->live = b->live - old + n;
    *r = n;
    return r + 1;
}

static const crdt_allocator g_alloc = {b_malloc, b_realloc, b_free, &g_budget};
#define ALLOC (&g_alloc)

/* The base replica: agents "a" and "b", a few edits, some deleted text. */
static crdt_doc *base(void)
{
    crdt_doc *d;
    if (crdt_doc_new(ALLOC, "a", 1, &d) != CRDT_OK)
        die("new");
    (void)crdt_doc_insert(d, 0, "hello world", 11);
    (void)crdt_doc_set_agent(d, "b", 1, 0);
    (void)crdt_doc_insert(d, 5, ",\xC3\xA9\xF0\x9F\x98\x80", 7);
    (void)crdt_doc_delete(d, 2, 3);
    (void)crdt_doc_set_agent(d, "a", 1, CRDT_SEQ_AUTO);
    (void)crdt_doc_insert(d, 0, ">", 1);
    return d;
}

/* The base text kept up to date only from the changes that
 * crdt_doc_apply_changes reports (see check_changes). */
typedef struct model {
    char *s;
    size_t len, cap;
} model;

/* Byte offset of code point k in s[0, len), UTF-16 units before it in *u16;
 * past the end is a wrong report. */
static size_t cp_offset(const char *s, size_t len, size_t k, size_t *u16)
{
    size_t b = 0, u = 0;
    for (; k > 0; k--) {
        if (b >= len)
            die("change beyond the text");
        uint8_t c = (uint8_t)s[b];
        size_t w = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        u += w == 4 ? 2 : 1;
        b += w;
    }
    *u16 = u;
    return b;
}

static void on_change(void *ctx, const crdt_change *c)
{
    model *m = ctx;
    size_t u16, e16;
    size_t b = cp_offset(m->s, m->len, c->pos, &u16);
    if (u16 != c->pos16 || (c->del == 0) == (c->ins == 0))
        die("bad change position");
    if (c->del) {
        size_t n = cp_offset(m->s + b, m->len - b, c->del, &e16);
        if (e16 != c->del16)
            die("bad deletion length");
        memmove(m->s + b, m->s + b + n, m->len - b - n);
        m->len -= n;
        return;
    }
    if (cp_offset(c->text, c->text_len, c->ins, &e16) != c->text_len || e16 != c->ins16)
        die("bad insertion length");
    if (m->len + c->text_len > m->cap) {
        m->cap = 2 * (m->len + c->text_len);
        m->s = realloc(m->s, m->cap);
        if (!m->s)
            die("oom");
    }
    memmove(m->s + b + c->text_len, m->s + b, m->len - b);
    memcpy(m->s + b, c->text, c->text_len);
    m->len += c->text_len;
}

/* An accepted update applied to a fresh base replica with
 * crdt_doc_apply_changes: the changes it reports, replayed on the base text,
 * give exactly the text after (an editor applies them instead of the text). */
static void check_changes(const uint8_t *data, size_t size, const char *after, size_t after_len)
{
    crdt_doc *d = base();
    model m = {0};
    if (crdt_doc_text(d, &m.s, &m.len) != CRDT_OK)
        die("text");
    m.cap = m.len;
    char *s = malloc(m.len + 1); /* the model grows with libc, not the budget */
    if (!s)
        die("oom");
    memcpy(s, m.s, m.len);
    crdt_free_bytes(ALLOC, m.s);
    m.s = s;
    if (crdt_doc_apply_changes(d, data, size, NULL, on_change, &m) != CRDT_OK)
        die("apply_changes refused what apply took");
    if (m.len != after_len || memcmp(m.s, after, after_len) != 0)
        die("reported changes do not give the text");
    free(m.s);
    crdt_doc_free(d);
}

/* The same bytes into an empty replica, where crdt_doc_apply takes its
 * fresh path (origins checked as commit resolves them; on any failure the
 * replica is emptied and the general path runs), while
 * crdt_doc_apply_changes always takes the general path: both must give the
 * same result, missing id and state, and a refusal must leave the replica
 * empty. A refusal for memory (each runs under its own budget) is not
 * compared. */
static void ignore_change(void *ctx, const crdt_change *c)
{
    (void)ctx;
    (void)c;
}

static void check_fresh(const uint8_t *data, size_t size)
{
    crdt_doc *f, *g;
    if (crdt_doc_new(ALLOC, "a", 1, &f) != CRDT_OK || crdt_doc_new(ALLOC, "a", 1, &g) != CRDT_OK)
        die("new");
    crdt_id mf, mg;
    memset(&mf, 0, sizeof mf);
    memset(&mg, 0, sizeof mg);
    g_budget.cap = g_budget.live + BUDGET;
    int rf = crdt_doc_apply(f, data, size, &mf);
    g_budget.cap = g_budget.live + BUDGET;
    int rg = crdt_doc_apply_changes(g, data, size, &mg, ignore_change, NULL);
    g_budget.cap = SIZE_MAX;
    if (rf != CRDT_ENOMEM && rg != CRDT_ENOMEM) {
        if (rf != rg)
            die("fresh path result differs from the general path");
        if (rf == CRDT_EMISSING && memcmp(&mf, &mg, sizeof mf) != 0)
            die("fresh path missing id differs from the general path");
    }
    if (crdt_doc_check(f) != CRDT_OK)
        die("inconsistent fresh replica");
    if (rf != CRDT_OK && (crdt_doc_mark(f) != 0 || crdt_doc_length(f) != 0))
        die("refused update changed a fresh replica");
    if (rf == CRDT_OK && rg == CRDT_OK) {
        uint8_t *sf, *sg;
        size_t nf, ng;
        if (crdt_doc_encode_state(f, &sf, &nf) != CRDT_OK ||
            crdt_doc_encode_state(g, &sg, &ng) != CRDT_OK)
            die("encode");
        if (nf != ng || memcmp(sf, sg, nf) != 0)
            die("fresh path state differs from the general path");
        crdt_free_bytes(ALLOC, sf);
        crdt_free_bytes(ALLOC, sg);
    }
    crdt_doc_free(f);
    crdt_doc_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_budget.cap = SIZE_MAX;
    crdt_doc *d = base();
    uint64_t mark = crdt_doc_mark(d);
    size_t len = crdt_doc_length(d);
    crdt_id missing;
    g_budget.cap = BUDGET;
    /* As a server applies what a peer sends: with the origin checks. */
    int rc = crdt_doc_apply_bounded(d, data, size, &missing, UINT64_MAX);
    g_budget.cap = SIZE_MAX;
    if (rc == CRDT_EORIGIN) {
        /* A forged insert: the replica holds part of the update and must
         * be discarded (crdt.h); it is still memory-safe to check and free. */
        if (crdt_doc_check(d) != CRDT_OK)
            die("inconsistent replica after a refused forged insert");
        crdt_doc_free(d);
        return 0;
    }
    if (rc != CRDT_OK) {
        if (crdt_doc_mark(d) != mark || crdt_doc_length(d) != len)
            die("refused update changed the replica");
    }
    if (crdt_doc_check(d) != CRDT_OK)
        die("inconsistent replica");
    if (rc == CRDT_OK) {
        /* apply reads a packed state from its columns, inspect from the
         * version 1 bytes they rebuild: both readings accept the same
         * states, and inspect checks less (no replica), so what apply took
         * inspect must read */
        if (crdt_update_inspect(data, size, NULL, NULL, NULL) != CRDT_OK)
            die("apply took an update that inspect refuses");
        /* the state reloads to the same text; applying twice is a no-op */
        uint8_t *st;
        size_t n;
        if (crdt_doc_encode_state(d, &st, &n) != CRDT_OK)
            die("encode");
        crdt_doc *e;
        if (crdt_doc_new(ALLOC, "z", 1, &e) != CRDT_OK || crdt_doc_apply(e, st, n, NULL) != CRDT_OK)
            die("reload");
        char *t1, *t2;
        size_t l1, l2;
        if (crdt_doc_text(d, &t1, &l1) != CRDT_OK || crdt_doc_text(e, &t2, &l2) != CRDT_OK)
            die("text");
        if (l1 != l2 || memcmp(t1, t2, l1) != 0)
            die("state round trip changed the text");
        check_changes(data, size, t1, l1);
        uint64_t m2 = crdt_doc_mark(d);
        if (crdt_doc_apply(d, data, size, NULL) != CRDT_OK || crdt_doc_mark(d) != m2)
            die("second apply was not a no-op");
        crdt_free_bytes(ALLOC, t1);
        crdt_free_bytes(ALLOC, t2);
        crdt_free_bytes(ALLOC, st);
        crdt_doc_free(e);
    }
    /* the same bytes as a version */
    crdt_version *v;
    if (crdt_version_new(ALLOC, &v) == CRDT_OK) {
        if (crdt_version_decode(v, data, size) == CRDT_OK) {
            uint8_t *u;
            size_t n;
            (void)crdt_doc_covers(d, v, &missing);
            if (crdt_doc_encode_since(d, v, &u, &n) == CRDT_OK)
                crdt_free_bytes(ALLOC, u);
        }
        crdt_version_free(v);
    }
    crdt_doc_free(d);
    check_fresh(data, size);
    return 0;
}
