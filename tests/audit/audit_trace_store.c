/* audit_trace_store DIR TRACE [EDITS_PER_OP [BAD_SNAPSHOT]]: writes a store the way the
 * server does for one editor, from a sequential editing trace, so that
 * docsync-audit replay can be checked on a document of real size.
 *
 * Document "paper", user "alice", client "c1": every EDITS_PER_OP (default
 * 100) of the trace's transactions become one op (the CRDT update of those
 * local edits) at the next version, with the activity entry the engine
 * writes beside it ({"kind":"document.updated",...}), a snapshot every 100
 * versions, ts_ms = 1,700,000,000,000 + 1,000 * version, committed 50
 * versions per transaction. Every op is kept (retain_ops 0), so a replay
 * can start from the empty document while the store's own answer starts
 * from its newest snapshot.
 *
 * With BAD_SNAPSHOT (a multiple of 100), the snapshot at that version is
 * damaged on purpose, as a bug in the snapshot path would: it holds three
 * more characters ("XYZ" inserted at code point 10 by another agent), still
 * a valid state, so the store's answer from it differs from a replay of the
 * ops.
 *
 * Prints one JSON line: {"doc","head","bytes","sha256","midVersion",
 * "midBytes","midSha256"} (mid: the text at half the head), after checking
 * that the final text is the trace's endContent. Exit 0, or 1 with a
 * message. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "crdt.h"
#include "store.h"
#include "trace.h"

#define DOC "paper"
#define TS0 1700000000000ull
#define SNAPSHOT_EVERY 100
#define COMMIT_EVERY 50

static int die(const char *what, const char *why)
{
    fprintf(stderr, "audit_trace_store: %s: %s\n", what, why);
    return 1;
}

static void sha_hex(const char *p, size_t n, char out[65])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)p, n, d);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: audit_trace_store DIR TRACE [EDITS_PER_OP [BAD_SNAPSHOT]]\n");
        return 2;
    }
    unsigned per = argc >= 4 ? (unsigned)atoi(argv[3]) : 100;
    uint64_t bad = argc == 5 ? strtoull(argv[4], NULL, 10) : 0;
    if (per == 0)
        return die("EDITS_PER_OP", "must be positive");
    trace t;
    if (trace_load(argv[2], &t) != 0)
        return die(argv[2], "cannot load the trace");
    struct store_options so;
    store_options_init(&so);
    so.retain_ops = 0;
    store *s = NULL;
    int rc = store_open(argv[1], &so, &s);
    if (rc)
        return die("store_open", store_strerror(rc));
    crdt_doc *d = NULL;
    if (crdt_doc_new(NULL, "alice", 5, &d) != CRDT_OK)
        return die("crdt_doc_new", "out of memory");
    store_batch *b = NULL;
    uint64_t version = 0, mid = 0;
    char mid_sha[65] = "";
    size_t mid_bytes = 0;
    uint32_t i = 0;
    while (i < t.ntxns) {
        uint64_t mark = crdt_doc_mark(d);
        for (uint32_t k = 0; k < per && i < t.ntxns; k++, i++)
            for (uint32_t j = 0; j < t.txns[i].npatches; j++) {
                const trace_patch *p = &t.txns[i].patches[j];
                if ((p->del && crdt_doc_delete(d, p->pos, p->del) != CRDT_OK) ||
                    (p->ins_len && crdt_doc_insert(d, p->pos, p->ins, p->ins_len) != CRDT_OK))
                    return die("trace", "an edit does not apply");
            }
        uint8_t *u = NULL;
        size_t ulen = 0;
        if (crdt_doc_encode_since_mark(d, mark, &u, &ulen) != CRDT_OK)
            return die("encode", "out of memory");
        version++;
        uint64_t ts = TS0 + 1000u * version;
        if (!b && (rc = store_batch_new(&b)) != 0)
            return die("store_batch_new", store_strerror(rc));
        char act[256];
        int n = snprintf(
            act, sizeof act,
            "{\"kind\":\"document.updated\",\"documentId\":\"" DOC "\",\"version\":%" PRIu64
            ",\"user\":\"alice\",\"clientId\":\"c1\",\"seq\":%" PRIu64 ",\"bytes\":%zu}",
            version, version, ulen);
        rc = store_batch_op_append(b, DOC, version, "alice", "c1", version, ts, u, ulen);
        if (rc == 0)
            rc = store_batch_activity_append(b, ts, act, (size_t)n);
        crdt_free_bytes(NULL, u);
        if (rc == 0 && version % SNAPSHOT_EVERY == 0) {
            uint8_t *st = NULL;
            size_t slen = 0;
            if (crdt_doc_encode_state(d, &st, &slen) != CRDT_OK)
                return die("encode_state", "out of memory");
            if (version == bad) {
                crdt_doc *m = NULL;
                uint8_t *st2 = NULL;
                size_t slen2 = 0;
                if (crdt_doc_new(NULL, "mallory", 7, &m) != CRDT_OK ||
                    crdt_doc_apply(m, st, slen, NULL) != CRDT_OK ||
                    crdt_doc_insert(m, 10, "XYZ", 3) != CRDT_OK ||
                    crdt_doc_encode_state(m, &st2, &slen2) != CRDT_OK)
                    return die("bad snapshot", "cannot make it");
                crdt_free_bytes(NULL, st);
                crdt_doc_free(m);
                st = st2;
                slen = slen2;
            }
            rc = store_batch_snapshot_put(b, DOC, version, ts, st, slen);
            crdt_free_bytes(NULL, st);
        }
        if (rc)
            return die("batch", store_strerror(rc));
        if (version % COMMIT_EVERY == 0 || i == t.ntxns) {
            rc = store_batch_commit(s, b, NULL);
            store_batch_free(b);
            b = NULL;
            if (rc)
                return die("commit", store_strerror(rc));
        }
        if (!mid && i >= t.ntxns / 2) {
            char *text = NULL;
            if (crdt_doc_text(d, &text, &mid_bytes) != CRDT_OK)
                return die("text", "out of memory");
            sha_hex(text, mid_bytes, mid_sha);
            crdt_free_bytes(NULL, text);
            mid = version;
        }
    }
    char *text = NULL;
    size_t len = 0;
    if (crdt_doc_text(d, &text, &len) != CRDT_OK)
        return die("text", "out of memory");
    if (len != t.end_len || memcmp(text, t.end, len) != 0)
        return die("trace", "the final text is not the trace's endContent");
    char sha[65];
    sha_hex(text, len, sha);
    printf("{\"doc\":\"" DOC "\",\"head\":%" PRIu64 ",\"bytes\":%zu,\"sha256\":\"%s\","
           "\"midVersion\":%" PRIu64 ",\"midBytes\":%zu,\"midSha256\":\"%s\"}\n",
           version, len, sha, mid, mid_bytes, mid_sha);
    crdt_free_bytes(NULL, text);
    crdt_doc_free(d);
    store_close(s);
    trace_free(&t);
    return 0;
}
