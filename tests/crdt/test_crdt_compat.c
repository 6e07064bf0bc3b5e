/* Stored states stay readable: tests/crdt/fixtures/state-v1.bin is the full
 * state of fixture_doc() below as format version 1 wrote it (before the
 * compressed full state of format version 2). Loading it must give the same
 * text, the same version and the same canonical state as building the
 * document again. `test_crdt_compat write FILE` writes the current
 * encoding of fixture_doc() (how the fixture was made). */
#include "crdt.h"
#include "crdt_test_util.h"
#include "test.h"

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
    test_fixture(argv[1]);
    return TEST_RESULT();
}
