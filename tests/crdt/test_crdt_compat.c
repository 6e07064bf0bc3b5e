/* Full-state formats.
 *
 * Stored states stay readable: tests/crdt/fixtures/state-v1.bin is the full
 * state of fixture_doc() below as format version 1 wrote it (before the
 * packed full state of format version 2). Loading it must give the same
 * text, the same version and the same canonical state as building the
 * document again. `test_crdt_compat write FILE` writes the current
 * encoding of fixture_doc() (how the fixture was made).
 *
 * Packed states (format version 2, crdt/packed.c and crdt/lzh.c): a
 * document of prose packs, loads back to the same document and the same
 * bytes, is counted right by crdt_update_inspect, and every truncation and
 * many corruptions of it are refused or leave a consistent replica; the
 * unpacked size is bounded by the input's; a state that would unpack past
 * that bound stays version 1. */
#include "crdt.h"
#include "crdt_int.h" /* the column coder, crdt__lzh_* */
#include "crdt_test_util.h"
#include "test.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Three writers with concurrent inserts at one place, forward and reverse
 * deletes across agents, a deleted run inside a visible one and astral
 * characters: every op kind and header flag of the format. */
static crdt_doc *fixture_doc(void)
{
    crdt_doc *a = mkdoc("alice"), *b = mkdoc("bob"), *c = mkdoc("carol-\xC3\xA9");
    ins(a, 0, "The quick brown fox jumps over the lazy dog.\n");
    sync_into(b, a);
    sync_into(c, a);
    ins(a, 4, "very ");
    ins(b, 4, "old ");
    ins(c, 4, "\xF0\x9F\xA6\x8A small ");
    CHECK_EQ(crdt_doc_delete(b, 0, 4), CRDT_OK); /* "The " forward */
    for (int i = 0; i < 5; i++)                  /* backspaces over "lazy " */
        CHECK_EQ(crdt_doc_delete(c, crdt_doc_length(c) - 6 - i, 1), CRDT_OK);
    sync_into(a, b);
    sync_into(a, c);
    sync_into(b, a);
    ins(b, crdt_doc_length(b), "Pack my box with five dozen liquor jugs. \xE2\x9C\x93\n");
    CHECK_EQ(crdt_doc_delete(b, 10, 3), CRDT_OK);
    sync_into(a, b);
    for (int i = 0; i < 20; i++)
        ins(a, (size_t)(7 * i) % crdt_doc_length(a), i % 2 ? "ab" : "\xE2\x82\xAC");
    CHECK_EQ(crdt_doc_delete(a, 3, 9), CRDT_OK);
    crdt_doc_free(b);
    crdt_doc_free(c);
    return a;
}

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *p = malloc(1 << 16);
    *n = p ? fread(p, 1, 1 << 16, f) : 0;
    fclose(f);
    return p;
}

static void bytes_equal(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    CHECK_EQ(an, bn);
    CHECK(an == bn && a && b && memcmp(a, b, an) == 0);
}

static void test_fixture(const char *path)
{
    size_t n = 0;
    uint8_t *old = read_file(path, &n);
    CHECK(old != NULL && n > 2);
    if (!old)
        return;
    CHECK_EQ(old[1], 1); /* written by format version 1 */
    crdt_doc *want = fixture_doc(), *got = mkdoc("reader");
    CHECK_EQ(crdt_doc_apply(got, old, n, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_check(got), CRDT_OK);
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    CHECK_EQ(crdt_doc_text(want, &t1, &l1), CRDT_OK);
    CHECK_EQ(crdt_doc_text(got, &t2, &l2), CRDT_OK);
    bytes_equal((uint8_t *)t1, l1, (uint8_t *)t2, l2);
    uint8_t *v1 = NULL, *v2 = NULL, *s1 = NULL, *s2 = NULL;
    size_t vn1 = 0, vn2 = 0, sn1 = 0, sn2 = 0;
    CHECK_EQ(crdt_doc_encode_version(want, &v1, &vn1), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_version(got, &v2, &vn2), CRDT_OK);
    bytes_equal(v1, vn1, v2, vn2); /* the same op ids */
    CHECK_EQ(crdt_doc_mark(got), crdt_doc_mark(want));
    CHECK_EQ(crdt_doc_encode_state(want, &s1, &sn1), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_state(got, &s2, &sn2), CRDT_OK);
    bytes_equal(s1, sn1, s2, sn2); /* and the same canonical state */
    crdt_free_bytes(NULL, t1);
    crdt_free_bytes(NULL, t2);
    crdt_free_bytes(NULL, v1);
    crdt_free_bytes(NULL, v2);
    crdt_free_bytes(NULL, s1);
    crdt_free_bytes(NULL, s2);
    crdt_doc_free(want);
    crdt_doc_free(got);
    free(old);
}

/* Prose typed in bursts at moving places, with backspaces and selections
 * deleted: the shape of a real editing session, from a seeded generator. */
/* prose_doc's words: all of them, or (ascii) only the ASCII ones, whose
 * packed state has an all-ASCII text column (the reader's fast case). */
static bool prose_ascii;

static crdt_doc *prose_doc(size_t edits)
{
    static const char *words[] = {"the ",
                                  "CRDT ",
                                  "merges ",
                                  "edits ",
                                  "from ",
                                  "every ",
                                  "replica, ",
                                  "and ",
                                  "text ",
                                  "stays ",
                                  "\xC3\xA9t\xC3\xA9 ",
                                  "in ",
                                  "order. ",
                                  "\xF0\x9F\x93\x9D ",
                                  "while ",
                                  "typing\n"};
    crdt_doc *d = mkdoc("writer");
    size_t cur = 0;
    for (size_t i = 0; i < edits; i++) {
        size_t len = crdt_doc_length(d), r = below(10);
        if (r < 7 || len < 20) {
            const char *w = words[below(sizeof words / sizeof *words)];
            while (prose_ascii && (unsigned char)w[0] >= 0x80)
                w = words[below(sizeof words / sizeof *words)];
            ins(d, cur, w);
            for (; *w; w++)
                cur += ((unsigned char)*w & 0xC0) != 0x80; /* code points */
        } else if (r < 9 && cur > 0) {
            CHECK_EQ(crdt_doc_delete(d, cur - 1, 1), CRDT_OK);
            cur--;
        } else {
            cur = below(len);
            size_t k = 1 + below(len - cur < 12 ? len - cur : 12);
            CHECK_EQ(crdt_doc_delete(d, cur, k), CRDT_OK);
        }
        if (cur > crdt_doc_length(d))
            cur = crdt_doc_length(d);
    }
    return d;
}

static void same_doc(crdt_doc *a, crdt_doc *b)
{
    char *t1 = NULL, *t2 = NULL;
    size_t l1 = 0, l2 = 0;
    uint8_t *v1 = NULL, *v2 = NULL;
    size_t vn1 = 0, vn2 = 0;
    CHECK_EQ(crdt_doc_text(a, &t1, &l1), CRDT_OK);
    CHECK_EQ(crdt_doc_text(b, &t2, &l2), CRDT_OK);
    bytes_equal((uint8_t *)t1, l1, (uint8_t *)t2, l2);
    CHECK_EQ(crdt_doc_encode_version(a, &v1, &vn1), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_version(b, &v2, &vn2), CRDT_OK);
    bytes_equal(v1, vn1, v2, vn2);
    CHECK_EQ(crdt_doc_check(b), CRDT_OK);
    crdt_free_bytes(NULL, t1);
    crdt_free_bytes(NULL, t2);
    crdt_free_bytes(NULL, v1);
    crdt_free_bytes(NULL, v2);
}

static void ignore_change(void *ctx, const crdt_change *c)
{
    (void)ctx;
    (void)c;
}

static void test_packed(bool ascii)
{
    prose_ascii = ascii;
    crdt_doc *d = prose_doc(6000), *e = mkdoc("reader");
    uint8_t *s = NULL, *s2 = NULL, *all = NULL;
    size_t n = 0, n2 = 0, alln = 0;
    crdt_version *none;
    CHECK_EQ(crdt_version_new(NULL, &none), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_state(d, &s, &n), CRDT_OK);
    /* the same ops unpacked: a delta since the empty version */
    CHECK_EQ(crdt_doc_encode_since(d, none, &all, &alln), CRDT_OK);
    CHECK(n > 2 && s[0] == 0xD5 && s[1] == 2);
    CHECK(alln > 2 && all[1] == 1);
    CHECK(n * 2 < alln); /* prose packs to less than half */
    CHECK_EQ(crdt_doc_apply(e, s, n, NULL), CRDT_OK);
    same_doc(d, e);
    CHECK_EQ(crdt_doc_encode_state(e, &s2, &n2), CRDT_OK);
    bytes_equal(s, n, s2, n2); /* canonical */
    /* e loaded by the fresh path; crdt_doc_apply_changes takes the general
     * one: the same replica */
    crdt_doc *g = mkdoc("reader");
    CHECK_EQ(crdt_doc_apply_changes(g, s, n, NULL, ignore_change, NULL), CRDT_OK);
    same_doc(e, g);
    crdt_free_bytes(NULL, s2);
    CHECK_EQ(crdt_doc_encode_state(g, &s2, &n2), CRDT_OK);
    bytes_equal(s, n, s2, n2);
    crdt_doc_free(g);
    uint64_t ops = 0;
    CHECK_EQ(crdt_update_inspect(s, n, NULL, NULL, &ops), CRDT_OK);
    CHECK_EQ(ops, crdt_doc_mark(d));
    CHECK_EQ(crdt_doc_apply(e, s, n, NULL), CRDT_OK); /* idempotent */
    CHECK_EQ(crdt_doc_mark(e), crdt_doc_mark(d));
    /* every truncation is refused; flipped bytes are refused or applied
     * consistently (the version 1 reader checks what unpacking gives) */
    for (size_t k = 0; k < n; k++) {
        crdt_doc *t = mkdoc("t");
        int rc = crdt_doc_apply(t, s, k, NULL);
        CHECK(rc == CRDT_EBADUPDATE || rc == CRDT_EVERSION);
        CHECK_EQ(crdt_doc_mark(t), 0);
        CHECK(crdt_update_inspect(s, k, NULL, NULL, &ops) != CRDT_OK);
        crdt_doc_free(t);
    }
    uint8_t *bad = malloc(n);
    CHECK(bad != NULL);
    for (size_t k = 0; bad && k < n; k += 1 + k / 64) {
        memcpy(bad, s, n);
        bad[k] ^= (uint8_t)(1u << (k % 8));
        crdt_doc *t = mkdoc("t");
        /* apply reads the columns in place, inspect the version 1 bytes
         * they unpack to: what apply takes, inspect reads the same */
        int irc = crdt_update_inspect(bad, n, NULL, NULL, &ops);
        crdt_doc *tg = mkdoc("t");
        int grc = crdt_doc_apply_changes(tg, bad, n, NULL, ignore_change, NULL);
        int frc = crdt_doc_apply(t, bad, n, NULL);
        CHECK_EQ(frc, grc); /* the fresh path and the general one agree */
        if (frc == CRDT_OK)
            same_doc(tg, t);
        crdt_doc_free(tg);
        if (frc != CRDT_OK) {
            CHECK_EQ(crdt_doc_mark(t), 0);
        } else {
            CHECK_EQ(irc, CRDT_OK);
            CHECK_EQ(crdt_doc_mark(t), ops);
        }
        CHECK_EQ(crdt_doc_check(t), CRDT_OK);
        crdt_doc_free(t);
    }
    free(bad);
    crdt_free_bytes(NULL, s);
    crdt_free_bytes(NULL, s2);
    crdt_free_bytes(NULL, all);
    crdt_version_free(none);
    crdt_doc_free(d);
    crdt_doc_free(e);
}

static void test_packed_bounds(void)
{
    /* a column claiming 1,000,000 bytes from 16 bytes of input */
    const uint8_t bomb[] = {0xD5, 2, 0, 0, 0xC0, 0x84, 0x3D, 1, 1, 0, 0, 0, 0, 0, 0, 0};
    crdt_doc *t = mkdoc("t");
    CHECK_EQ(crdt_doc_apply(t, bomb, sizeof bomb, NULL), CRDT_ELIMIT);
    CHECK_EQ(crdt_update_inspect(bomb, sizeof bomb, NULL, NULL, NULL), CRDT_ELIMIT);
    /* unknown column mode, trailing byte */
    const uint8_t mode[] = {0xD5, 2, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(crdt_doc_apply(t, mode, sizeof mode, NULL), CRDT_EBADUPDATE);
    const uint8_t empty[] = {0xD5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(crdt_doc_apply(t, empty, sizeof empty, NULL), CRDT_OK);
    const uint8_t trailing[] = {0xD5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ(crdt_doc_apply(t, trailing, sizeof trailing, NULL), CRDT_EBADUPDATE);
    CHECK_EQ(crdt_doc_mark(t), 0);
    crdt_doc_free(t);
    /* 256 KB of one repeated sentence would unpack beyond the bound: the
     * state stays version 1 and loads */
    crdt_doc *d = mkdoc("r");
    enum { N = 1 << 18 };
    char *big = malloc(N + 1);
    CHECK(big != NULL);
    for (size_t i = 0; big && i < N; i++)
        big[i] = "All work and no play. "[i % 22];
    if (big)
        CHECK_EQ(crdt_doc_insert(d, 0, big, N), CRDT_OK);
    uint8_t *s = NULL;
    size_t n = 0;
    CHECK_EQ(crdt_doc_encode_state(d, &s, &n), CRDT_OK);
    CHECK(n > N);
    CHECK(s && s[1] == 1);
    crdt_doc *e = mkdoc("e");
    CHECK_EQ(crdt_doc_apply(e, s, n, NULL), CRDT_OK);
    same_doc(d, e);
    crdt_free_bytes(NULL, s);
    crdt_doc_free(d);
    crdt_doc_free(e);
    free(big);
}

/* The column decoder's match copies (crdt/lzh.c): 8 bytes at a time for a
 * distance of 8 or more, a repeated pattern for a shorter one, and a
 * memcpy or one byte at a time within 16 bytes of the output's end.
 * Columns made of runs with periods 1 to 7, repeats of earlier bytes at
 * distances of 8 and more, and random bytes (so the encoder emits every
 * kind, with lengths below and past 16), cut at many lengths so that
 * matches end at or near the end, decode into a buffer of exactly their
 * size (ASan sees any overshoot) to exactly their bytes, and their code
 * cut short is refused. */
static void test_lzh_copies(void)
{
    enum { N = 6000 };
    uint8_t *col = malloc(N);
    CHECK(col != NULL);
    if (!col)
        return;
    for (int round = 0; round < 6; round++) {
        size_t n = 0;
        while (n < N) {
            uint64_t what = below(3), len = 3 + below(round < 3 ? 20 : 70);
            size_t start = n;
            if (what == 0) { /* a run of period 1..7 */
                uint32_t period = 1 + (uint32_t)below(7);
                for (uint64_t k = 0; k < len && n < N; k++)
                    col[n++] = (uint8_t)('a' + (start + k) % period);
            } else if (what == 1 && n >= 8) { /* a repeat of earlier bytes */
                size_t d = 8 + (size_t)below(n - 7 < 400 ? n - 7 : 400);
                for (uint64_t k = 0; k < len && n < N; k++, n++)
                    col[n] = col[n - d];
            } else {
                for (uint64_t k = 0; k < len / 3 + 1 && n < N; k++)
                    col[n++] = (uint8_t)below(256);
            }
        }
        for (size_t m = 0; m <= N; m += m < 64 ? 1 : 1 + (size_t)below(97)) {
            crdt_wbuf w = {.alloc = NULL};
            CHECK_EQ(crdt__lzh_encode(NULL, col, m, &w), CRDT_OK);
            uint8_t *out = malloc(m ? m : 1);
            CHECK(out != NULL);
            if (!out) {
                free(w.p);
                break;
            }
            CHECK_EQ(crdt__lzh_decode(w.p, w.len, out, m), CRDT_OK);
            CHECK_MEM_EQ(out, col, m);
            if (w.len > 1)
                CHECK_EQ(crdt__lzh_decode(w.p, w.len - 1, out, m), CRDT_EBADUPDATE);
            free(out);
            free(w.p);
        }
    }
    free(col);
}

static int write_fixture(const char *path)
{
    crdt_doc *d = fixture_doc();
    uint8_t *s = NULL;
    size_t n = 0;
    CHECK_EQ(crdt_doc_encode_state(d, &s, &n), CRDT_OK);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK_EQ(fwrite(s, 1, n, f), n);
        fclose(f);
    }
    crdt_free_bytes(NULL, s);
    crdt_doc_free(d);
    return TEST_RESULT();
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "write") == 0)
        return write_fixture(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE | write FILE\n", argv[0]);
        return 2;
    }
    rng_state = 0xC0FFEE;
    test_fixture(argv[1]);
    test_packed(false);
    test_packed(true);
    test_packed_bounds();
    test_lzh_copies();
    return TEST_RESULT();
}
