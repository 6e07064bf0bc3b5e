/* Fuzz target: decode + apply of updates and versions (crdt_doc_apply,
 * crdt_version_decode) on a replica that already holds some history, so
 * that inputs can reference existing ids. Whatever the bytes, nothing may
 * crash, overread or leak; a refused update must leave the replica
 * unchanged, and an accepted one must leave it consistent
 * (crdt_doc_check) and round-trip through crdt_doc_encode_state. */
#include "crdt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what)
{
    (void)what;
    abort();
}

/* The base replica: agents "a" and "b", a few edits, some deleted text. */
static crdt_doc *base(void)
{
    crdt_doc *d;
    if (crdt_doc_new(NULL, "a", 1, &d) != CRDT_OK)
        die("new");
    (void)crdt_doc_insert(d, 0, "hello world", 11);
    (void)crdt_doc_set_agent(d, "b", 1, 0);
    (void)crdt_doc_insert(d, 5, ",\xC3\xA9\xF0\x9F\x98\x80", 7);
    (void)crdt_doc_delete(d, 2, 3);
    (void)crdt_doc_set_agent(d, "a", 1, CRDT_SEQ_AUTO);
    (void)crdt_doc_insert(d, 0, ">", 1);
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crdt_doc *d = base();
    uint64_t mark = crdt_doc_mark(d);
    size_t len = crdt_doc_length(d);
    crdt_id missing;
    int rc = crdt_doc_apply(d, data, size, &missing);
    if (rc != CRDT_OK) {
        if (crdt_doc_mark(d) != mark || crdt_doc_length(d) != len)
            die("refused update changed the replica");
    }
    if (crdt_doc_check(d) != CRDT_OK)
        die("inconsistent replica");
    if (rc == CRDT_OK) {
        /* the state reloads to the same text; applying twice is a no-op */
        uint8_t *st;
        size_t n;
        if (crdt_doc_encode_state(d, &st, &n) != CRDT_OK)
            die("encode");
        crdt_doc *e;
        if (crdt_doc_new(NULL, "z", 1, &e) != CRDT_OK || crdt_doc_apply(e, st, n, NULL) != CRDT_OK)
            die("reload");
        char *t1, *t2;
        size_t l1, l2;
        if (crdt_doc_text(d, &t1, &l1) != CRDT_OK || crdt_doc_text(e, &t2, &l2) != CRDT_OK)
            die("text");
        if (l1 != l2 || memcmp(t1, t2, l1) != 0)
            die("state round trip changed the text");
        uint64_t m2 = crdt_doc_mark(d);
        if (crdt_doc_apply(d, data, size, NULL) != CRDT_OK || crdt_doc_mark(d) != m2)
            die("second apply was not a no-op");
        crdt_free_bytes(NULL, t1);
        crdt_free_bytes(NULL, t2);
        crdt_free_bytes(NULL, st);
        crdt_doc_free(e);
    }
    /* the same bytes as a version */
    crdt_version *v;
    if (crdt_version_new(NULL, &v) == CRDT_OK) {
        if (crdt_version_decode(v, data, size) == CRDT_OK) {
            uint8_t *u;
            size_t n;
            (void)crdt_doc_covers(d, v, &missing);
            if (crdt_doc_encode_since(d, v, &u, &n) == CRDT_OK)
                crdt_free_bytes(NULL, u);
        }
        crdt_version_free(v);
    }
    crdt_doc_free(d);
    return 0;
}
