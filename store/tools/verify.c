/* docsync-verify - checks a store directory offline (or beside a running
 * server: it only reads, apart from LMDB's own open).
 *
 *   docsync-verify [--head-hash HEX] [--verbose] DIR
 *
 * Checks, for every document: the op log holds exactly the versions
 * trunc_version+1 .. head with no gap and nothing beyond head, every op
 * record decodes, the snapshot at the retained base (and the newest one)
 * exists. Then the activity log: offsets consecutive from 1, each entry's
 * hash recomputed and chained to the previous one, and, with --head-hash,
 * the last entry's hash equal to the exported one (detects a truncated
 * tail). Prints one summary line with the activity head (offset and hash,
 * to export for a later check) and exits 0 when everything holds, 1 when a
 * problem was found (each one printed; a data file that ends before pages
 * in use is one, found before any page is read through the map), 2 on
 * usage or open errors (no store in DIR). */
#include "store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct verify {
    store *s;
    int verbose;
    int problems;
    uint64_t docs, ops;
    /* per document, while walking its ops */
    uint64_t expect;
};

__attribute__((format(printf, 4, 5))) static void problem(struct verify *v, const char *doc,
                                                          size_t doc_len, const char *fmt, ...)
{
    va_list ap;
    printf("PROBLEM doc \"%.*s\": ", (int)doc_len, doc);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    v->problems++;
}

static int op_seen(void *ctx, const struct store_op *op)
{
    struct verify *v = ctx;
    if (op->version != v->expect)
        return -1000; /* gap: reported by the caller */
    v->expect++;
    v->ops++;
    return 0;
}

static int count_any(void *ctx, const struct store_op *op)
{
    (void)op;
    (*(int *)ctx)++;
    return 1;
}

static int doc_seen(void *ctx, const char *id, size_t id_len, const struct store_doc_info *d)
{
    struct verify *v = ctx;
    char doc[STORE_DOC_ID_MAX + 1];
    memcpy(doc, id, id_len);
    doc[id_len] = '\0';
    store_read *r;
    int err = store_read_begin(v->s, &r);
    if (err) {
        problem(v, id, id_len, "cannot read: %s", store_strerror(err));
        return err;
    }
    v->docs++;
    v->expect = d->trunc_version + 1;
    err = store_ops_after(r, doc, d->trunc_version, d->head, 0, op_seen, v, NULL);
    if (err == -1000)
        problem(v, id, id_len, "op log gap: version %llu missing (head %llu)",
                (unsigned long long)v->expect, (unsigned long long)d->head);
    else if (err)
        problem(v, id, id_len, "op log unreadable near version %llu: %s",
                (unsigned long long)v->expect, store_strerror(err));
    else if (v->expect != d->head + 1)
        problem(v, id, id_len, "op log ends at %llu, head is %llu",
                (unsigned long long)(v->expect - 1), (unsigned long long)d->head);
    int beyond = 0;
    if (store_ops_after(r, doc, d->head, UINT64_MAX, 1, count_any, &beyond, NULL) == 0 && beyond)
        problem(v, id, id_len, "ops stored beyond head %llu", (unsigned long long)d->head);
    struct store_snapshot sn;
    if (d->trunc_version > 0 &&
        (store_snapshot_get(r, doc, d->trunc_version, &sn) != 0 || sn.version != d->trunc_version))
        problem(v, id, id_len, "no snapshot at the retained base %llu",
                (unsigned long long)d->trunc_version);
    if (d->snapshot_version > 0 &&
        (store_snapshot_get(r, doc, UINT64_MAX, &sn) != 0 || sn.version != d->snapshot_version))
        problem(v, id, id_len, "newest snapshot is not at %llu",
                (unsigned long long)d->snapshot_version);
    if (v->verbose)
        printf("doc \"%s\" head=%llu trunc=%llu snapshot=%llu\n", doc, (unsigned long long)d->head,
               (unsigned long long)d->trunc_version, (unsigned long long)d->snapshot_version);
    store_read_end(r);
    return 0;
}

static int parse_hash(const char *hex, uint8_t out[STORE_HASH_LEN])
{
    if (strlen(hex) != 2 * STORE_HASH_LEN)
        return -1;
    for (int i = 0; i < STORE_HASH_LEN; i++) {
        unsigned x;
        if (sscanf(hex + 2 * i, "%2x", &x) != 1)
            return -1;
        out[i] = (uint8_t)x;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct verify v = {0};
    const char *dir = NULL, *head_hex = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--head-hash") == 0 && i + 1 < argc)
            head_hex = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            v.verbose = 1;
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            dir = NULL, i = argc;
    }
    uint8_t want[STORE_HASH_LEN];
    if (!dir || (head_hex && parse_hash(head_hex, want) != 0)) {
        fprintf(stderr, "usage: docsync-verify [--head-hash HEX] [--verbose] DIR\n");
        return 2;
    }
    /* Look before opening: a cut data file must be reported, not read. */
    struct store_files files;
    int err = store_inspect(dir, &files);
    if (err == 0 && !files.store) {
        fprintf(stderr, "docsync-verify: %s: no store here%s\n", dir,
                files.traces ? " (but LMDB's files are: data.mdb was deleted or emptied?)" : "");
        return 2;
    }
    if (err == STORE_ETRUNCATED) {
        printf("PROBLEM data file: %s/data.mdb is truncated: %llu bytes, its pages reach %llu\n",
               dir, (unsigned long long)files.data_bytes, (unsigned long long)files.used_bytes);
        printf("FAIL %s\n", store_strerror(err));
        return 1;
    }
    if (err == 0)
        err = store_open(dir, NULL, &v.s);
    if (err == STORE_ETRUNCATED) {
        printf("PROBLEM data file: %s/data.mdb: %s\nFAIL\n", dir, store_strerror(err));
        return 1;
    }
    if (err) {
        fprintf(stderr, "docsync-verify: %s: %s\n", dir, store_strerror(err));
        return 2;
    }
    store_read *r;
    err = store_read_begin(v.s, &r);
    if (!err) {
        err = store_doc_list(r, NULL, 0, doc_seen, &v);
        if (err) {
            printf("PROBLEM document list: %s\n", store_strerror(err));
            v.problems++;
        }
        uint64_t bad = 0, head = 0;
        uint8_t hash[STORE_HASH_LEN];
        int verr = store_activity_verify(r, 1, UINT64_MAX, head_hex ? want : NULL, &bad);
        if (verr == STORE_ECORRUPT) {
            printf("PROBLEM activity log: first bad offset %llu\n", (unsigned long long)bad);
            v.problems++;
        } else if (verr) {
            printf("PROBLEM activity log: %s\n", store_strerror(verr));
            v.problems++;
        }
        struct store_epoch ep;
        char ephex[STORE_EPOCH_HEX_LEN + 1] = "";
        if (store_activity_head(r, &head, hash) == 0 && store_epoch_get(v.s, &ep) == 0)
            store_epoch_format(&ep, ephex);
        store_read_end(r);
        printf("%s docs=%llu ops=%llu epoch=%s activity_head=%llu head_hash=",
               v.problems ? "FAIL" : "OK", (unsigned long long)v.docs, (unsigned long long)v.ops,
               ephex, (unsigned long long)head);
        for (int i = 0; i < STORE_HASH_LEN; i++)
            printf("%02x", hash[i]);
        printf("\n");
    } else {
        fprintf(stderr, "docsync-verify: %s\n", store_strerror(err));
        store_close(v.s);
        return 2;
    }
    store_close(v.s);
    return v.problems ? 1 : 0;
}
