/* One document's server replica. See document.h. */
#include "document.h"

#include <stdlib.h>
#include <string.h>

const char *document_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case DOCUMENT_ESTORE:
        return "storage read failed";
    case DOCUMENT_ECORRUPT:
        return "stored document does not apply";
    case DOCUMENT_ENOTRETAINED:
        return "version is older than the retained history";
    case DOCUMENT_ENOTFOUND:
        return "version is beyond the document head";
    case DOCUMENT_ENOMEM:
        return "out of memory";
    case DOCUMENT_EINVAL:
        return "invalid content";
    default:
        return "unknown document error";
    }
}

struct apply_ctx {
    crdt_doc *doc;
    int rc;
};

static int apply_op(void *ctx, const struct store_op *op)
{
    struct apply_ctx *a = ctx;
    int rc = crdt_doc_apply(a->doc, op->data, op->len, NULL);
    if (rc != CRDT_OK) {
        a->rc = rc == CRDT_ENOMEM ? DOCUMENT_ENOMEM : DOCUMENT_ECORRUPT;
        return -1;
    }
    return 0;
}

/* Builds a replica at `upto` (UINT64_MAX = head) from the newest snapshot
 * at or below it plus the ops after it. */
static int build(store_read *r, const char *id, uint64_t upto, crdt_doc **out,
                 const struct store_doc_info *info, uint64_t *oldest, int *store_rc)
{
    crdt_doc *doc = NULL;
    if (crdt_doc_new(NULL, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), &doc) != CRDT_OK)
        return DOCUMENT_ENOMEM;
    struct store_snapshot snap;
    uint64_t base = 0;
    int rc = store_snapshot_get(r, id, upto, &snap);
    if (rc == 0) {
        if (crdt_doc_apply(doc, snap.data, snap.len, NULL) != CRDT_OK) {
            crdt_doc_free(doc);
            return DOCUMENT_ECORRUPT;
        }
        base = snap.version;
    } else if (rc != STORE_ENOTFOUND) {
        crdt_doc_free(doc);
        if (store_rc)
            *store_rc = rc;
        return DOCUMENT_ESTORE;
    }
    if (info && base < info->trunc_version) {
        /* The ops after `base` were dropped: this version cannot be rebuilt. */
        crdt_doc_free(doc);
        if (oldest)
            *oldest = info->trunc_version;
        return DOCUMENT_ENOTRETAINED;
    }
    struct apply_ctx a = {doc, 0};
    rc = store_ops_after(r, id, base, upto, 0, apply_op, &a, NULL);
    if (rc != 0) {
        crdt_doc_free(doc);
        if (a.rc)
            return a.rc;
        if (store_rc)
            *store_rc = rc;
        return DOCUMENT_ESTORE;
    }
    /* Local whole-content writes continue after the server's last seq. */
    crdt_doc_set_agent(doc, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), CRDT_SEQ_AUTO);
    *out = doc;
    return 0;
}

int document_load(store *s, const char *id, crdt_doc **out, uint64_t *head,
                  uint64_t *snapshot_version, uint64_t *trunc_version, int *store_rc)
{
    *out = NULL;
    store_read *r = NULL;
    int rc = store_read_begin(s, &r);
    if (rc) {
        if (store_rc)
            *store_rc = rc;
        return DOCUMENT_ESTORE;
    }
    struct store_doc_info info;
    memset(&info, 0, sizeof info);
    rc = store_doc_get(r, id, &info);
    if (rc == STORE_ENOTFOUND) {
        store_read_end(r);
        *head = 0;
        if (snapshot_version)
            *snapshot_version = 0;
        if (trunc_version)
            *trunc_version = 0;
        if (crdt_doc_new(NULL, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), out) != CRDT_OK)
            return DOCUMENT_ENOMEM;
        return 0;
    }
    if (rc) {
        store_read_end(r);
        if (store_rc)
            *store_rc = rc;
        return DOCUMENT_ESTORE;
    }
    rc = build(r, id, UINT64_MAX, out, &info, NULL, store_rc);
    store_read_end(r);
    if (rc)
        return rc == DOCUMENT_ENOTRETAINED ? DOCUMENT_ECORRUPT : rc;
    *head = info.head;
    if (snapshot_version)
        *snapshot_version = info.snapshot_version;
    if (trunc_version)
        *trunc_version = info.trunc_version;
    return 0;
}

int document_text_at(store *s, const char *id, uint64_t version, char **text, size_t *len,
                     uint64_t *oldest)
{
    *text = NULL;
    *len = 0;
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return DOCUMENT_ESTORE;
    struct store_doc_info info;
    memset(&info, 0, sizeof info);
    int rc = store_doc_get(r, id, &info);
    if (rc == STORE_ENOTFOUND)
        info.head = 0;
    else if (rc) {
        store_read_end(r);
        return DOCUMENT_ESTORE;
    }
    if (version > info.head) {
        store_read_end(r);
        return DOCUMENT_ENOTFOUND;
    }
    if (version == 0) {
        store_read_end(r);
        *text = calloc(1, 1);
        return *text ? 0 : DOCUMENT_ENOMEM;
    }
    crdt_doc *doc = NULL;
    rc = build(r, id, version, &doc, &info, oldest, NULL);
    store_read_end(r);
    if (rc)
        return rc;
    char *t = NULL;
    size_t n = 0;
    rc = crdt_doc_text(doc, &t, &n);
    crdt_doc_free(doc);
    if (rc != CRDT_OK)
        return DOCUMENT_ENOMEM;
    /* crdt buffers come from libc malloc when the allocator is NULL. */
    *text = t;
    *len = n;
    return 0;
}

static size_t count_code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            c++;
    return c;
}

int document_replace(crdt_doc *doc, const char *content, size_t len)
{
    char *old = NULL;
    size_t olen = 0;
    if (crdt_doc_text(doc, &old, &olen) != CRDT_OK)
        return DOCUMENT_ENOMEM;
    size_t pre = 0, max = olen < len ? olen : len;
    while (pre < max && old[pre] == content[pre])
        pre++;
    /* Back off to a code point boundary in both texts. */
    while (pre > 0 && ((pre < len && ((unsigned char)content[pre] & 0xC0) == 0x80) ||
                       (pre < olen && ((unsigned char)old[pre] & 0xC0) == 0x80)))
        pre--;
    size_t suf = 0;
    while (suf < olen - pre && suf < len - pre && old[olen - 1 - suf] == content[len - 1 - suf])
        suf++;
    while (suf > 0 && ((unsigned char)content[len - suf] & 0xC0) == 0x80)
        suf--;
    size_t pos = count_code_points(old, pre);
    size_t del = count_code_points(old + pre, olen - pre - suf);
    crdt_free_bytes(NULL, old);
    /* Insert first: an invalid UTF-8 content fails before anything changed.
     * Then delete the old middle, which now starts after the insertion. */
    size_t ins_len = len - pre - suf;
    if (ins_len) {
        int rc = crdt_doc_insert(doc, pos, content + pre, ins_len);
        if (rc != CRDT_OK)
            return rc == CRDT_ENOMEM ? DOCUMENT_ENOMEM : DOCUMENT_EINVAL;
    }
    if (del) {
        size_t ins_cp = count_code_points(content + pre, ins_len);
        int rc = crdt_doc_delete(doc, pos + ins_cp, del);
        if (rc != CRDT_OK)
            return DOCUMENT_ENOMEM; /* the insert stays: the caller drops the replica */
    }
    return 0;
}
