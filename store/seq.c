/* seq.c - the last-sequence index: per (document, client), the highest
 * sequence number applied, the version its op got, and the user who owns
 * the client id (the user of its first op). Kept up to date as ops are
 * appended; read directly (store_seq_get) or, for an older sequence, by
 * searching the op log backwards (store_seq_find). */
#include "record.h"
#include "store_int.h"

#include <string.h>

/* The owner of a record written without one (format 1): the user of the
 * op at `version` when the op log still holds it under this client id;
 * else none (*owner NULL). *owner borrows from the map. Returns 0,
 * STORE_ECORRUPT, or an LMDB code (positive or MDB_*) in *mdb_rc with
 * STORE_EIO. */
static int owner_from_op(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                         const char *client, size_t client_len, uint64_t version,
                         const char **owner, size_t *owner_len, int *mdb_rc)
{
    *owner = NULL;
    *owner_len = 0;
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val k = {record_key_docver(kb, doc, doc_len, version), kb}, v;
    int rc = mdb_get(txn, s->ops, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store__env_fail(rc, mdb_rc);
    struct store_op op;
    if (record_op_decode(v.mv_data, v.mv_size, &op) != 0)
        return STORE_ECORRUPT;
    if (op.client_len == client_len && memcmp(op.client, client, client_len) == 0) {
        *owner = op.user;
        *owner_len = op.user_len;
    }
    return 0;
}

/* Reads the record of key sk: *found 0 when there is none; otherwise its
 * seq, version and owner (from the record, or for a format-1 record from
 * the op log; *owner NULL when unknown). */
static int seq_read(store *s, MDB_txn *txn, const char *doc, size_t doc_len, const char *client,
                    size_t client_len, int *found, uint64_t *seq, uint64_t *version,
                    int *old_format, const char **owner, size_t *owner_len, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val sk = {record_key_docstr(kb, doc, doc_len, client, client_len), kb}, sv;
    *found = 0;
    *old_format = 0;
    int rc = mdb_get(txn, s->seqs, &sk, &sv);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store__env_fail(rc, mdb_rc);
    if (record_seq_owned_decode(sv.mv_data, sv.mv_size, seq, version, owner, owner_len) != 0)
        return STORE_ECORRUPT;
    *found = 1;
    if (*owner_len)
        return 0;
    *old_format = 1;
    return owner_from_op(s, txn, doc, doc_len, client, client_len, *version, owner, owner_len,
                         mdb_rc);
}

static int same_client(const struct store_item *a, const struct store_item *b)
{
    return a->s3_len == b->s3_len && memcmp(a->s3, b->s3, a->s3_len) == 0;
}

int store__seq_run_note(store *s, MDB_txn *txn, struct store__apply *ap,
                        const struct store_item *it, int *mdb_rc)
{
    int err;
    if (ap->seq && !same_client(ap->seq, it) &&
        (err = store__seq_run_flush(s, txn, ap, mdb_rc)) != 0)
        return err;
    if (!ap->seq) {
        const char *owner = NULL;
        size_t owner_len = 0;
        ap->seq_value = ap->seq_version = 0;
        err = seq_read(s, txn, it->doc, it->doc_len, it->s3, it->s3_len, &ap->seq_found,
                       &ap->seq_value, &ap->seq_version, &ap->seq_old_format, &owner, &owner_len,
                       mdb_rc);
        if (err)
            return err;
        if (owner_len > sizeof ap->owner)
            return STORE_ECORRUPT;
        if (owner_len) /* borrowed from the map: copied before the next put */
            memcpy(ap->owner, owner, owner_len);
        ap->owner_len = owner_len;
        ap->seq_dirty = 0;
        ap->seq = it;
    }
    /* The owner's op only; a higher seq raises the record; a format-1
     * record gains its owner. */
    if (ap->owner_len &&
        (ap->owner_len != it->s2_len || memcmp(ap->owner, it->s2, it->s2_len) != 0))
        return STORE_EOWNER;
    if (ap->seq_found && it->seq <= ap->seq_value && !ap->seq_old_format)
        return 0;
    if (!(ap->seq_found && it->seq <= ap->seq_value)) {
        ap->seq_value = it->seq;
        ap->seq_version = it->version;
    } /* else a format-1 record gains its owner */
    if (it->s2_len > sizeof ap->owner)
        return STORE_EINVAL;
    memcpy(ap->owner, it->s2, it->s2_len);
    ap->owner_len = it->s2_len;
    ap->seq_found = 1;
    ap->seq_old_format = 0;
    ap->seq_dirty = 1;
    return 0;
}

int store__seq_run_flush(store *s, MDB_txn *txn, struct store__apply *ap, int *mdb_rc)
{
    const struct store_item *it = ap->seq;
    ap->seq = NULL;
    if (!it || !ap->seq_dirty)
        return 0;
    uint8_t vb[1 + 8 + 8 + 1 + STORE_USER_ID_MAX];
    record_seq_owned_encode(vb, ap->seq_value, ap->seq_version, ap->owner, ap->owner_len);
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val sk = {record_key_docstr(kb, it->doc, it->doc_len, it->s3, it->s3_len), kb};
    MDB_val sv = {record_seq_owned_size(ap->owner_len), vb};
    int rc = mdb_put(txn, s->seqs, &sk, &sv, 0);
    return rc ? store__env_fail(rc, mdb_rc) : 0;
}

int store__seq_note(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    struct store__apply ap = {0}; /* a run of one op */
    int err = store__seq_run_note(s, txn, &ap, it, mdb_rc);
    return err ? err : store__seq_run_flush(s, txn, &ap, mdb_rc);
}

int store__seq_apply_put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    if (it->s2_len)
        return store__seq_note(s, txn, it, mdb_rc);
    /* Owner unknown (a format-1 record at the source): the same layout. */
    uint64_t old_seq = 0, old_ver = 0;
    const char *owner = NULL;
    size_t owner_len = 0;
    int found, old_format;
    int err = seq_read(s, txn, it->doc, it->doc_len, it->s3, it->s3_len, &found, &old_seq, &old_ver,
                       &old_format, &owner, &owner_len, mdb_rc);
    if (err)
        return err;
    if (found && it->seq <= old_seq)
        return 0;
    uint8_t vb[RECORD_SEQ_SIZE];
    record_seq_encode(vb, it->seq, it->version);
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val sk = {record_key_docstr(kb, it->doc, it->doc_len, it->s3, it->s3_len), kb};
    MDB_val sv = {RECORD_SEQ_SIZE, vb};
    int rc = mdb_put(txn, s->seqs, &sk, &sv, 0);
    return rc ? store__env_fail(rc, mdb_rc) : 0;
}

struct seq_list_ctx {
    store_seq_fn fn;
    void *ctx;
};

static int seq_list_each(void *ctx, const MDB_val *k, const MDB_val *v)
{
    struct seq_list_ctx *lc = ctx;
    const char *doc, *client, *owner = NULL;
    size_t doc_len, client_len, owner_len = 0;
    uint64_t seq, version;
    if (record_key_docstr_decode(k->mv_data, k->mv_size, STORE_CLIENT_ID_MAX, &doc, &doc_len,
                                 &client, &client_len) != 0 ||
        record_seq_owned_decode(v->mv_data, v->mv_size, &seq, &version, &owner, &owner_len) != 0)
        return STORE_ECORRUPT;
    return lc->fn(lc->ctx, client, client_len, seq, version, owner, owner ? owner_len : 0);
}

int store_seq_list(store_read *r, const char *doc, const char *after, size_t limit, store_seq_fn fn,
                   void *ctx)
{
    int n = r && fn ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    int an = after && *after ? record_id_check(after, STORE_CLIENT_ID_MAX, 0) : 0;
    if (an < 0)
        return STORE_EINVAL;
    uint8_t kb[RECORD_KEY_MAX];
    struct store__walk w = {
        .from = kb,
        .from_len = record_key_docstr(kb, doc, (size_t)n, after ? after : "", (size_t)an),
        .skip_from = an > 0,
        .prefix_len = 1 + (size_t)n,
        .limit = limit};
    struct seq_list_ctx lc = {fn, ctx};
    return store__walk(r->txn, r->s->seqs, &w, seq_list_each, &lc);
}

int store_seq_get(store_read *r, const char *doc, const char *client, uint64_t *seq,
                  uint64_t *version, char *owner)
{
    if (owner)
        owner[0] = '\0';
    int dn = r && seq && version ? store__doc_check(doc) : STORE_EINVAL;
    if (dn < 0)
        return dn;
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 0);
    if (cn < 0)
        return STORE_EINVAL;
    const char *o = NULL;
    size_t olen = 0;
    int found, old_format, mdb_rc = 0;
    int err = seq_read(r->s, r->txn, doc, (size_t)dn, client, (size_t)cn, &found, seq, version,
                       &old_format, &o, &olen, &mdb_rc);
    if (err)
        return mdb_rc ? store__err(mdb_rc, NULL) : err;
    if (!found)
        return STORE_ENOTFOUND;
    if (owner && olen) {
        memcpy(owner, o, olen);
        owner[olen] = '\0';
    }
    return 0;
}

int store_seq_find(store_read *r, const char *doc, const char *client, uint64_t seq,
                   size_t max_scan, uint64_t *version)
{
    int n = r && version ? store__doc_check(doc) : STORE_EINVAL;
    if (n < 0)
        return n;
    int cn = record_id_check(client, STORE_CLIENT_ID_MAX, 0);
    if (cn < 0)
        return STORE_EINVAL;
    if (max_scan == 0)
        max_scan = 1000;
    MDB_cursor *c;
    int rc = mdb_cursor_open(r->txn, r->s->ops, &c);
    if (rc)
        return store__err(rc, NULL);
    MDB_val k, v;
    uint64_t ver;
    int err = STORE_ENOTFOUND;
    rc = store__seek_docver_le(c, doc, (size_t)n, UINT64_MAX, &ver, &v);
    uint8_t prefix[RECORD_KEY_MAX];
    size_t plen = record_key_doc(prefix, doc, (size_t)n);
    for (size_t i = 0; rc == 0 && i < max_scan; i++) {
        struct store_op op;
        if (record_op_decode(v.mv_data, v.mv_size, &op) != 0) {
            err = STORE_ECORRUPT;
            break;
        }
        if (op.client_len == (size_t)cn && memcmp(op.client, client, (size_t)cn) == 0) {
            if (op.seq == seq) {
                *version = ver;
                err = 0;
                break;
            }
            if (op.seq < seq) /* a client's sequences grow with versions */
                break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_PREV);
        if (rc == 0 && !store__key_is_docver(&k, prefix, plen, &ver))
            break;
    }
    mdb_cursor_close(c);
    if (err == STORE_ENOTFOUND && rc && rc != MDB_NOTFOUND)
        err = store__err(rc, NULL);
    return err;
}
