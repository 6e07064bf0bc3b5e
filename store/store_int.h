/* store_int.h - internal: the store struct and helpers shared by the files
 * of store/ (never included outside store/, tools and fuzz aside). */
#ifndef DOCSYNC_STORE_INT_H
#define DOCSYNC_STORE_INT_H

#include "store.h"

#include <lmdb.h>
#include <pthread.h>

struct store {
    MDB_env *env;
    MDB_dbi meta, docs, ops, snaps, seqs, acl, activity;
    struct store_options opt;
    char *dir;
    /* Held for reading by every open read handle and for writing while the
     * map is resized: mdb_env_set_mapsize needs no transaction active in the
     * process, and resizing moves the map under borrowed pointers. */
    pthread_rwlock_t maplock;
    /* Serializes write transactions with resizes (LMDB serializes write
     * transactions itself, but the resize must happen between them). */
    pthread_mutex_t write_mu;
    int has_writer;
};

struct store_read {
    store *s;
    MDB_txn *txn;
};

/* Translates an LMDB or errno code into a STORE_E* code. dir (may be NULL)
 * lets EIO be refined into ENOSPC when the file system is full. */
int store_err(int rc, const char *dir);

/* Validated id lengths; return the length or STORE_EINVAL. */
int store_doc_check(const char *doc);

/* Batch items and their application inside a write transaction. */
enum store_item_type {
    STORE_ITEM_OP,
    STORE_ITEM_DOC_PUT,
    STORE_ITEM_DOC_DELETE,
    STORE_ITEM_SNAPSHOT,
    STORE_ITEM_ACL_PUT,
    STORE_ITEM_ACL_DELETE,
    STORE_ITEM_ACTIVITY,
    STORE_ITEM_EPOCH,
};

struct store_item {
    enum store_item_type type;
    uint64_t version, seq, ts_ms;
    int role;
    char *doc; /* all strings and data live in one allocation */
    size_t doc_len;
    char *s2; /* user (op, acl) */
    size_t s2_len;
    char *s3; /* client (op) */
    size_t s3_len;
    uint8_t *data;
    size_t len;
};

/* Applying one item inside txn: 0 or a STORE_E* code, or an LMDB code
 * (positive errno or MDB_*) passed through as-is in *mdb_rc when the
 * failure belongs to the environment (map full, I/O) rather than the item.
 * Files: doc.c, oplog.c, acl.c, activity.c, store.c. */
int doc_load(store *s, MDB_txn *txn, const char *doc, size_t doc_len, struct store_doc_info *out);
/* doc_load, with the metadata copied to *owned (free it; NULL when empty)
 * so that it survives later updates in the same transaction. */
int doc_load_owned(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                   struct store_doc_info *out, uint8_t **owned);
int doc_save(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
             const struct store_doc_info *d, int *mdb_rc);
int doc_apply_put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
int doc_apply_delete(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
int oplog_apply_append(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
int oplog_apply_snapshot(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
int acl_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
int activity_apply_append(store *s, MDB_txn *txn, const struct store_item *it, uint64_t *offset,
                          int *mdb_rc);
int store_apply_epoch_renew(store *s, MDB_txn *txn, int *mdb_rc);

/* The epoch through an open read handle. */
int store_read_epoch(store_read *r, struct store_epoch *out);

/* Deletes every key of dbi that starts with prefix[0..len). */
int store_delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t len, int *mdb_rc);

/* Batch internals used by writer.c. */
size_t batch_items(const store_batch *b, const struct store_item ***items);

/* Applies every item of b inside txn (a child of the group transaction, or
 * the batch's own). Returns 0; an item refusal (STORE_E*, *failed = index);
 * or STORE_EIO with *mdb_rc set for environment failures. */
int batch_apply(store *s, MDB_txn *txn, const store_batch *b, struct store_batch_result *res,
                int *mdb_rc);

/* Commits b in its own transaction, growing the map when full. The caller
 * holds s->write_mu. */
int batch_commit_locked(store *s, const store_batch *b, struct store_batch_result *res);

/* Whether a STORE_E* code from applying a batch belongs to the environment
 * (space, I/O) rather than to one of the batch's items. */
int store_err_is_env(int err);

/* Adopts a map size grown by another process (MDB_MAP_RESIZED), waiting
 * for this process's read handles to end. */
int store_adopt_mapsize(store *s);

/* mdb_txn_begin of a write transaction, adopting a map grown by another
 * process. Returns an LMDB code. */
int store_write_begin(store *s, MDB_txn **txn);

/* After MDB_PANIC: closes and reopens the environment, waiting for this
 * process's read handles to end. The caller holds write_mu. On failure
 * s->env is NULL and every call reports STORE_EPANIC. */
int store_reopen_locked(store *s);

/* Grows the map (doubling, capped at map_size_max) while holding write_mu.
 * Returns 0 if it grew, STORE_EFULL if at the limit. */
int store_grow_locked(store *s);

#endif
