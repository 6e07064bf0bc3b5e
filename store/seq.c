/* seq.c - the last-sequence index: per (document, client), the highest
 * sequence number applied and the version its op got. Kept up to date as
 * ops are appended; read directly (store_seq_get) or, for an older
 * sequence, by searching the op log backwards (store_seq_find). */
#include "record.h"
#include "store_int.h"

#include <string.h>

int store__seq_note(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc)
{
    uint8_t kb[RECORD_KEY_MAX];
    MDB_val sk = {record_key_docstr(kb, it->doc, it->doc_len, it->s3, it->s3_len), kb}, sv;
    uint64_t old_seq = 0, old_ver = 0;
    int rc = mdb_get(txn, s->seqs, &sk, &sv);
    if (rc == 0 && record_seq_decode(sv.mv_data, sv.mv_size, &old_seq, &old_ver) != 0)
        return STORE_ECORRUPT;
    if (rc && rc != MDB_NOTFOUND)
        return store__env_fail(rc, mdb_rc);
    if (rc == MDB_NOTFOUND || it->seq > old_seq) {
        uint8_t vb[RECORD_SEQ_SIZE];
        record_seq_encode(vb, it->seq, it->version);
        sv.mv_size = sizeof vb;
        sv.mv_data = vb;
        rc = mdb_put(txn, s->seqs, &sk, &sv, 0);
        if (rc)
            return store__env_fail(rc, mdb_rc);
    }
    return 0;
}

int store_seq_get(store_read *r, const char *doc, const char *client, uint64_t *seq,
                  uint64_t *version)
{
    uint8_t kb[RECORD_KEY_MAX];
    int kn = r && seq && version ? store__docstr_key(kb, doc, client, STORE_CLIENT_ID_MAX)
                                 : STORE_EINVAL;
    if (kn < 0)
        return kn;
    MDB_val k = {(size_t)kn, kb}, v;
    int rc = mdb_get(r->txn, r->s->seqs, &k, &v);
    if (rc)
        return store__err(rc, NULL);
    return record_seq_decode(v.mv_data, v.mv_size, seq, version);
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
