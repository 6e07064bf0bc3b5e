/* store_int.h - internal: the store struct and helpers shared by the files
 * of store/ (never included outside store/, tools and fuzz aside). */
#ifndef DOCSYNC_STORE_INT_H
#define DOCSYNC_STORE_INT_H

#include "store.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

struct store {
    MDB_env *env;
    MDB_dbi meta, docs, ops, snaps, seqs, acl, activity, outbox, history;
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
    /* The read handle ended last, its transaction reset, for the next
     * store_read_begin to renew: a renewal keeps the handle's reader slot
     * and memory, where a fresh begin allocates and takes LMDB's reader
     * mutex to find a slot (once per edit on the hot path). Taken and put
     * back only under the map lock held for reading; dropped under it held
     * for writing, before the environment is resized or closed. */
    _Atomic(struct store_read *) spare;
};

struct store_read {
    store *s;
    MDB_txn *txn;
};

/* A batch item (store_batch_* queue them; batch.c applies them in one
 * write transaction). */
enum store_item_type {
    STORE_ITEM_OP,
    STORE_ITEM_DOC_PUT,
    STORE_ITEM_DOC_DELETE,
    STORE_ITEM_SNAPSHOT,
    STORE_ITEM_ACL_PUT,
    STORE_ITEM_ACL_DELETE,
    STORE_ITEM_ACTIVITY,
    STORE_ITEM_EPOCH,
    STORE_ITEM_OUTBOX_PUT,     /* version = id, ts_ms = created_ms, data */
    STORE_ITEM_OUTBOX_DELETE,  /* version = id */
    STORE_ITEM_HISTORY_PUT,    /* doc = channel, version = offset, s2 = event, s3 = user, data */
    STORE_ITEM_HISTORY_TRIM,   /* doc = channel, version = last offset to delete */
    STORE_ITEM_HISTORY_DELETE, /* doc = channel, version = the offset to delete */
    STORE_ITEM_DOC_BASE,       /* version, ts_ms, data = the snapshot */
    STORE_ITEM_SEQ_PUT,        /* s3 = client, s2 = owner ("" = unknown), seq, version */
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

/* Naming: store_* is the public API of store.h; functions shared between
 * the files of store/ but not part of that API are store__* and declared
 * here, grouped by the file that defines them; everything else is static.
 * The key and value codecs have their own header, record.h (record_*). */

/* ---------------------------------------------------------------- store.c */

/* Translates an LMDB or errno code into a STORE_E* code (0 stays 0). dir
 * (may be NULL) lets EIO be refined into ENOSPC when the file system is
 * full. */
int store__err(int rc, const char *dir);

/* Whether a STORE_E* code from applying a batch belongs to the environment
 * (space, I/O) rather than to one of the batch's items. */
int store__err_is_env(int err);

/* Validates a NUL-terminated document id. Returns its length, or
 * STORE_EINVAL. */
int store__doc_check(const char *doc);

/* Builds the key (str8 doc, id bytes) of the seqs and acl tables into kb
 * (RECORD_KEY_MAX bytes) from a NUL-terminated document id and a client or
 * user id of at most id_max bytes. Returns the key length, or STORE_EINVAL
 * when either id is invalid. */
int store__docstr_key(uint8_t *kb, const char *doc, const char *id, size_t id_max);

/* mdb_txn_begin of a write transaction, adopting a map grown by another
 * process. Returns an LMDB code. */
int store__write_begin(store *s, MDB_txn **txn);

/* After MDB_PANIC: closes and reopens the environment, waiting for this
 * process's read handles to end. The caller holds write_mu. On failure
 * s->env is NULL and every call reports STORE_EPANIC. */
int store__reopen_locked(store *s);

/* Grows the map (doubling, capped at map_size_max) while holding write_mu.
 * Returns 0 if it grew, STORE_EFULL if at the limit. */
int store__grow_locked(store *s);

/* Reads the epoch through an open read handle. Returns 0, or a STORE_E*
 * code (STORE_ECORRUPT for a damaged record). */
int store__read_epoch(store_read *r, struct store_epoch *out);

/* Reports an environment failure of an item: keeps the LMDB code in
 * *mdb_rc and returns STORE_EIO (see below). */
static inline int store__env_fail(int rc, int *mdb_rc)
{
    *mdb_rc = rc;
    return STORE_EIO;
}

/* ----------------------------------------------------- applying batch items
 *
 * Each applies one item inside txn and returns 0; a STORE_E* code that
 * refuses the item (STORE_ECONFLICT, STORE_ECORRUPT, STORE_ENOMEM); or
 * STORE_EIO with the LMDB code (positive errno or MDB_*) in *mdb_rc when
 * the failure belongs to the environment (map full, I/O) rather than to the
 * item. */

/* store.c: replaces the epoch with a new random one. */
int store__epoch_apply_renew(store *s, MDB_txn *txn, int *mdb_rc);
/* doc.c: creates or replaces a document's metadata (STORE_ITEM_DOC_PUT). */
int store__doc_apply_put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* doc.c: deletes a document and its ops, snapshots, sequence index and
 * access list (STORE_ITEM_DOC_DELETE). */
int store__doc_apply_delete(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* What store__batch_apply carries from one item to the next, so that
 * work repeated item after item is done once:
 * - A run: ops of one document that follow each other in the batch (its
 *   activity entries between them), as a document's edits come. The
 *   document's record is read at the run's first op and written after its
 *   last (store__oplog_run_end), and one client's seq record is read once
 *   and written once for the ops of that client in a row.
 * - The activity log's last entry, read at the batch's first entry. */
struct store__apply {
    const struct store_item *run; /* the run's first op (names its document); NULL: none */
    struct store_doc_info doc;    /* the document's record as the run leaves it */
    uint8_t *meta;                /* doc.meta's copy (store__doc_load_owned) */
    const struct store_item *seq; /* op naming the client whose seq record is held; NULL: none */
    int seq_found, seq_old_format, seq_dirty;
    uint64_t seq_value, seq_version;
    size_t owner_len;
    char owner[STORE_USER_ID_MAX];
    int act_known; /* act_last and act_hash hold the log's last entry */
    uint64_t act_last;
    uint8_t act_hash[STORE_HASH_LEN];
};
/* oplog.c: appends op head + 1 and updates the client's last sequence
 * (STORE_ITEM_OP) as part of a run; STORE_ECONFLICT for any other version.
 * The document's record is written when the run ends. */
int store__oplog_apply(store *s, MDB_txn *txn, struct store__apply *ap, const struct store_item *it,
                       int *mdb_rc);
/* oplog.c: ends the run, if any: writes the seq record held and the
 * document's record. Returns 0 or what the writes return. */
int store__oplog_run_end(store *s, MDB_txn *txn, struct store__apply *ap, int *mdb_rc);
/* oplog.c: forgets the run without writing it (the batch failed). */
void store__oplog_run_drop(struct store__apply *ap);
/* snapshot.c: stores a snapshot and drops the ops and snapshots retention
 * no longer needs (STORE_ITEM_SNAPSHOT). */
int store__snapshot_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* acl.c: sets or removes one user's role (STORE_ITEM_ACL_PUT/DELETE). */
int store__acl_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* acl.c: counts one more access-list change (meta "acl_changes") and logs
 * its document ("acl_log"). */
int store__acl_bump(store *s, MDB_txn *txn, const char *doc, size_t doc_len, int *mdb_rc);
/* activity.c: appends an entry to the hash-chained activity log
 * (STORE_ITEM_ACTIVITY); *offset gets its offset. */
int store__activity_apply(store *s, MDB_txn *txn, struct store__apply *ap,
                          const struct store_item *it, uint64_t *offset, int *mdb_rc);
/* outbox.c: records or deletes one outbox message (STORE_ITEM_OUTBOX_*). */
int store__outbox_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* history.c: appends or trims a channel's history (STORE_ITEM_HISTORY_*). */
int store__history_apply(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* batch.c: appends an item of `type` holding a copy of data[0..len) (no ids)
 * to b; *out is the item, for the caller to fill its numbers. Returns 0,
 * STORE_EINVAL (b full) or STORE_ENOMEM. */
/* batch.c: queues an item with up to three strings and data (copied). */
int store__batch_add(store_batch *b, enum store_item_type type, const char *doc, size_t doc_len,
                     const char *s2, size_t s2_len, const char *s3, size_t s3_len, const void *data,
                     size_t len, struct store_item **out);
int store__batch_add_data(store_batch *b, enum store_item_type type, const void *data, size_t len,
                          struct store_item **out);

/* ------------------------------------------------------------------ doc.c */

/* Reads a document's record. Returns 0, STORE_ENOTFOUND, STORE_ECORRUPT or
 * another STORE_E* code; out->meta borrows from the map and is valid only
 * until the next update in txn. */
int store__doc_load(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                    struct store_doc_info *out);
/* store__doc_load, with the metadata copied to *owned (the caller frees it;
 * NULL when empty) so that it survives later updates in the same
 * transaction. Returns the same codes, or STORE_ENOMEM. */
int store__doc_load_owned(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                          struct store_doc_info *out, uint8_t **owned);
/* Writes a document's record (d->meta may point into the map). Returns 0,
 * STORE_ENOMEM, or STORE_EIO with the LMDB code in *mdb_rc. */
int store__doc_save(store *s, MDB_txn *txn, const char *doc, size_t doc_len,
                    const struct store_doc_info *d, int *mdb_rc);

/* ------------------------------------------------------------------ seq.c */

/* For an op with a client id, raises the client's entry of the
 * last-sequence index to (it->seq, it->version) when it->seq is higher
 * than the stored one or there is none. Returns 0, STORE_ECORRUPT, or
 * STORE_EIO with the LMDB code in *mdb_rc. */
int store__seq_note(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);
/* store__seq_note within a run: the record of it's client is read when
 * the held one is another client's (store__seq_run_flush writes that one
 * first) and raised in ap only. */
int store__seq_run_note(store *s, MDB_txn *txn, struct store__apply *ap,
                        const struct store_item *it, int *mdb_rc);
/* Writes the seq record ap holds when it changed, and lets it go. */
int store__seq_run_flush(store *s, MDB_txn *txn, struct store__apply *ap, int *mdb_rc);

/* seq.c: STORE_ITEM_SEQ_PUT. */
int store__seq_apply_put(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);

/* snapshot.c: STORE_ITEM_DOC_BASE. */
int store__snapshot_apply_base(store *s, MDB_txn *txn, const struct store_item *it, int *mdb_rc);

/* --------------------------------------------------------------- cursor.c */

/* A walk's callback, called with each key and value in turn. Returns 0 to
 * go on, > 0 to stop (the walk then returns 0), or a negative STORE_E*
 * code to stop with. */
typedef int (*store__walk_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

/* Which keys a walk visits. */
struct store__walk {
    const uint8_t *from; /* start at the first key >= from[0..from_len); */
    size_t from_len;     /* NULL: at the first key of the table */
    int skip_from;       /* if that key equals from, start after it */
    size_t prefix_len;   /* > 0: stop at the first key that is not longer
                            than from[0..prefix_len) or does not begin
                            with it */
    size_t limit;        /* > 0: stop after this many calls of fn */
};

/* Walks dbi inside txn in key order as w says, calling fn(ctx, k, v) on
 * each key. Returns 0 (the end of the table or of the prefix, the limit,
 * or fn stopped it), fn's negative code, or the STORE_E* translation of a
 * cursor failure. k and v borrow from the map (valid during the call). */
int store__walk(MDB_txn *txn, MDB_dbi dbi, const struct store__walk *w, store__walk_fn fn,
                void *ctx);

/* Whether key k is (str8 doc, u64be version) for the doc whose key prefix
 * (str8 doc) is prefix[0..plen); if so sets *version. */
int store__key_is_docver(const MDB_val *k, const uint8_t *prefix, size_t plen, uint64_t *version);

/* Positions c (on ops or snaps) on the newest (doc, version) key with
 * version <= at_most. Returns 0 with *version and *v set, MDB_NOTFOUND,
 * or another LMDB code. */
int store__seek_docver_le(MDB_cursor *c, const char *doc, size_t doc_len, uint64_t at_most,
                          uint64_t *version, MDB_val *v);

/* Deletes every key of dbi that starts with prefix[0..len). Returns 0, or
 * STORE_EIO with the LMDB code in *mdb_rc. */
int store__delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t len, int *mdb_rc);

/* ---------------------------------------------------------------- batch.c */

/* Applies every item of b inside txn (a child of the group transaction, or
 * the batch's own). Returns 0; an item refusal (STORE_E*, res->failed_item
 * = its index); or, for environment failures, the STORE_E* translation of
 * the LMDB code left in *mdb_rc. */
int store__batch_apply(store *s, MDB_txn *txn, const store_batch *b, struct store_batch_result *res,
                       int *mdb_rc);

/* Commits b in its own transaction, growing the map when full. The caller
 * holds s->write_mu. Returns 0 or a STORE_E* code. */
int store__batch_commit_locked(store *s, const store_batch *b, struct store_batch_result *res);
/* The batch's chain (store_batch_set_chain), 0 = none. */
uint64_t store__batch_chain(const store_batch *b);

#endif
