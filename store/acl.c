/* acl.c - document access lists: document -> user -> role. */
#include "record.h"
#include "store_int.h"

#include <string.h>

/* The meta record "acl_changes" -> [1][u64 count] counts the changes to
 * access lists ever committed (puts, deletes, deleted documents), so a
 * process that did not make them (a server while docsync-admin edits the
 * store) can tell that it must look again. */
static const MDB_val acl_changes_key = {11, "acl_changes"};

/* The documents of the last STORE_ACL_LOG changes, so that such a process
 * can also tell which lists changed (a cluster's home node tells the other
 * nodes of each): "acl_log" + u16 big-endian (count % STORE_ACL_LOG)
 * -> [1][u64 count][str8 doc], overwritten as the count goes round. (Builds
 * that kept 256 used "acl_log" + u8; those 256 records are left as they
 * are, never read: the key lengths differ.) */
static void acl_log_key(uint8_t kb[9], uint64_t n)
{
    memcpy(kb, "acl_log", 7);
    kb[7] = (uint8_t)((n % STORE_ACL_LOG) >> 8);
    kb[8] = (uint8_t)(n % STORE_ACL_LOG);
}

static int acl_log_put(store *s, MDB_txn *txn, uint64_t n, const char *doc, size_t doc_len,
                       int *mdb_rc)
{
    uint8_t kb[9];
    acl_log_key(kb, n);
    uint8_t vb[1 + 8 + 1 + STORE_DOC_ID_MAX] = {1};
    record_put_u64le(vb + 1, n);
    vb[9] = (uint8_t)doc_len;
    memcpy(vb + 10, doc, doc_len);
    MDB_val k = {sizeof kb, kb}, v = {10 + doc_len, vb};
    int rc = mdb_put(txn, s->meta, &k, &v, 0);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return 0;
}

int store_acl_changed_since(store_read *r, uint64_t since, store_acl_change_fn fn, void *ctx)
{
    uint64_t now = 0;
    int err = r && fn ? store_acl_changes(r, &now) : STORE_EINVAL;
    if (err)
        return err;
    if (since > now || now - since > STORE_ACL_LOG)
        return STORE_ENOTFOUND;
    for (uint64_t n = since + 1; n <= now; n++) {
        uint8_t kb[9];
        acl_log_key(kb, n);
        MDB_val k = {sizeof kb, kb}, v;
        int rc = mdb_get(r->txn, r->s->meta, &k, &v);
        if (rc == MDB_NOTFOUND)
            return STORE_ENOTFOUND; /* counted by a build that kept no log */
        if (rc)
            return store__err(rc, NULL);
        const uint8_t *p = v.mv_data;
        if (v.mv_size < 10 || p[0] != 1 || v.mv_size != 10u + p[9] || p[9] == 0 ||
            p[9] > STORE_DOC_ID_MAX)
            return STORE_ECORRUPT;
        if (record_get_u64le(p + 1) != n)
            return STORE_ENOTFOUND; /* overwritten, or counted by a build that kept no log */
        char doc[STORE_DOC_ID_MAX + 1];
        memcpy(doc, p + 10, p[9]);
        doc[p[9]] = '\0';
        int stop = fn(ctx, doc, n);
        if (stop)
            return stop < 0 ? stop : 0;
    }
    return 0;
}

int store__acl_bump(store *s, MDB_txn *txn, const char *doc, size_t doc_len, int *mdb_rc)
{
    uint64_t n = 0;
    MDB_val k = acl_changes_key, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0 && v.mv_size == 9 && ((const uint8_t *)v.mv_data)[0] == 1)
        n = record_get_u64le((const uint8_t *)v.mv_data + 1);
    else if (rc && rc != MDB_NOTFOUND) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    n++;
    uint8_t vb[9] = {1};
    record_put_u64le(vb + 1, n);
    MDB_val nv = {sizeof vb, vb};
    rc = mdb_put(txn, s->meta, &k, &nv, 0);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return acl_log_put(s, txn, n, doc, doc_len, mdb_rc);
}

int store_acl_changes(store_read *r, uint64_t *out)
{
    if (!r || !out)
        return STORE_EINVAL;
    *out = 0;
    MDB_val k = acl_changes_key, v;
    int rc = mdb_get(r->txn, r->s->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store__err(rc, NULL);
    if (v.mv_size != 9 || ((const uint8_t *)v.mv_data)[0] != 1)
        return STORE_ECORRUPT;
    *out = record_get_u64le((const uint8_t *)v.mv_data + 1);
    return 0;
}

int store__acl_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docstr(kb, it->doc, it->doc_len, it->s2, it->s2_len), kb};
    int rc;
    if (it->type == STORE_ITEM_ACL_DELETE || it->role == STORE_ROLE_NONE) {
        rc = mdb_del(txn, s->acl, &k, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    } else {
        uint8_t vb[RECORD_ACL_SIZE];
        record_acl_encode(vb, (enum store_role)it->role);
        MDB_val v = {sizeof vb, vb};
        rc = mdb_put(txn, s->acl, &k, &v, 0);
    }
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return store__acl_bump(s, txn, it->doc, it->doc_len, mdb_rc);
}

int store_acl_get(store_read *r, const char *doc, const char *user, enum store_role *out)
{
    uint8_t kb[RECORD_KEY_MAX];
    int kn = r && out ? store__docstr_key(kb, doc, user, STORE_USER_ID_MAX) : STORE_EINVAL;
    if (kn < 0)
        return kn;
    *out = STORE_ROLE_NONE;
    MDB_val k = {(size_t)kn, kb}, v;
    int rc = mdb_get(r->txn, r->s->acl, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store__err(rc, NULL);
    return record_acl_decode(v.mv_data, v.mv_size, out);
}

struct list_ctx {
    store_acl_fn fn;
    void *ctx;
};

static int list_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct list_ctx *lc = ctx;
    const char *d, *user;
    size_t dl, ul;
    enum store_role role;
    int err =
        record_key_docstr_decode(k->mv_data, k->mv_size, STORE_USER_ID_MAX, &d, &dl, &user, &ul);
    if (!err)
        err = record_acl_decode(v->mv_data, v->mv_size, &role);
    if (err)
        return err;
    return lc->fn(lc->ctx, user, ul, role);
}

int store_acl_list(store_read *r, const char *doc, store_acl_fn fn, void *ctx)
{
    int n = r && fn ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    uint8_t kb[RECORD_KEY_MAX];
    size_t plen = record_key_doc(kb, doc, (size_t)n);
    struct store__walk w = {.from = kb, .from_len = plen, .prefix_len = plen};
    struct list_ctx lc = {fn, ctx};
    return store__walk(r->txn, r->s->acl, &w, list_each, &lc);
}
