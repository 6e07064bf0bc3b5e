/* store.h - durable storage for docsync, on LMDB.
 *
 * WHAT IT DOES
 *   One LMDB environment in one directory holds, for a whole server:
 *   - a store epoch: 16 random bytes made when the store is created (and
 *     renewed on request, e.g. after a restore), so that a client resuming
 *     with (epoch, version) can tell whether versions still mean the same;
 *   - per document: a record (head version, timestamps, opaque metadata
 *     bytes), snapshots (opaque state bytes at a version), and the op log
 *     keyed by (document, version) holding each update's bytes with who
 *     (user), from where (client id, sequence) and when (ms timestamp);
 *   - an index of the last sequence applied per (document, client), kept by
 *     the op appends themselves, for idempotent resubmission, with the user
 *     who owns each client id (the user of its first op; the ops of another
 *     user under that client id are refused);
 *   - document access lists: document -> user -> role;
 *   - an outbox: messages the caller has still to deliver elsewhere (the
 *     webhook requests), recorded before they are attempted and deleted once
 *     delivered (see OUTBOX below);
 *   - channel history: the events published on chosen channels, each under
 *     its channel's next offset, for clients that reconnect (HISTORY below);
 *   - the activity log: append-only, keyed by a global offset (1, 2, ...),
 *     each entry chained to the previous one by SHA-256, so that any change,
 *     removal or reordering of stored entries is detectable.
 *
 * WHAT IT DOES NOT DO
 *   It knows nothing of WebSockets, Pusher or CRDTs: updates, snapshots,
 *   metadata and activity payloads are bytes. It has no clock: every
 *   timestamp comes from the caller. It does not decide when to snapshot (the
 *   caller holds the state; see store_snapshot_due()).
 *
 * THREADS
 *   - Writes are grouped in a store_batch and committed either by a
 *     store_writer (a dedicated thread doing group commit, see below) or
 *     synchronously with store_batch_commit() (tools and tests).
 *   - Reads use a store_read handle (a short-lived LMDB read transaction) on
 *     any thread; one handle is used by one thread at a time. Reads never
 *     block writes. Keep read handles short: while any is open the map
 *     cannot be grown, and old pages cannot be reused.
 *   - store_open/store_close: one thread, with no other call in flight. Do
 *     not open the same directory twice in one process.
 *
 * DURABILITY
 *   The environment uses LMDB's default sync flags: a commit returns only
 *   after its data and meta page are on disk (fsync/fdatasync). A batch whose
 *   completion reports 0 survives a process crash and a power loss; a batch
 *   that reports an error left nothing behind. Callers must not acknowledge
 *   or broadcast anything before the completion of its batch.
 *
 * SPACE
 *   The map starts at options.map_size and doubles, up to
 *   options.map_size_max, when a commit finds it full. Growth happens on the
 *   writing thread between transactions and waits for open read handles to
 *   end (new ones wait for the few microseconds it takes); if a handle stays
 *   open more than 5 s the batch fails with STORE_EFULL instead. A map grown by
 *   another process on the same directory (a CLI beside the server) is
 *   adopted on the next transaction. When the map cannot grow, the batch
 *   fails with STORE_EFULL. When the disk itself is full the commit fails
 *   with STORE_ENOSPC (STORE_EIO if the system reports it as a short write on
 *   a file system that still shows free blocks). Other I/O errors (a failed
 *   write or fsync) give STORE_EIO. In every case nothing of the batch is
 *   written, reads keep working, and later batches succeed once space is
 *   available again (or the device recovers).
 *
 * MEMORY
 *   Pointers returned by read calls ("borrowed") point into the LMDB map and
 *   are valid until store_read_end() on the handle that produced them; never
 *   keep them longer, never write through them. Everything else is copied.
 *
 * ERRORS
 *   Calls that can fail return 0 or a negative STORE_E* code; results go
 *   through out-parameters placed last. LMDB and errno codes never escape.
 *
 * TOOLS AND EVIDENCE
 *   docsync-verify DIR checks a store offline (op-log gaps, snapshots at the
 *   retained base, the activity chain, optionally against an exported head
 *   hash); docsync-audit (src/admin/) exports, verifies and replays it
 *   beside a running server through a read-only open (options.read_only);
 *   docsync-store-tamper damages one on purpose (tests only). The
 *   claims above are exercised by tests/store/: kill -9 during group commits
 *   (test_store_crash), simulated power cuts replayed from logged writes
 *   (test_store_powerloss), an strace audit that every acknowledgement
 *   follows a completed fdatasync (test_store_fsync), map full
 *   (test_store_mapfull), disk full on a tmpfs (test_store_diskfull), and
 *   injected I/O errors (test_store_eio).
 *
 * LIMITS AND IDS (checked on every call; STORE_EINVAL otherwise)
 *   document id 1..STORE_DOC_ID_MAX bytes, user id 1..STORE_USER_ID_MAX,
 *   client id 0..STORE_CLIENT_ID_MAX (an empty client id means "not from a
 *   sequenced client" and skips the sequence index). Ids are NUL-terminated
 *   strings without control bytes (0x00-0x1f, 0x7f); other bytes, UTF-8
 *   included, are stored as they are.
 *
 * ON-DISK FORMAT (store format 2; every value starts with a format byte = 1,
 * but the owned seqs records (2); integers are fixed-width little-endian
 * inside values, big-endian u64 inside keys so that LMDB orders them; "str8"
 * = u8 length + bytes)
 *   meta      "format" -> [1][u32 store format = 2]
 *             "epoch"  -> [1][16 bytes]
 *             "acl_changes" -> [1][u64 count of access-list changes]
 *             "acl_log" u16 (count % 16384) -> [1][u64 count][str8 doc]:
 *             the documents of the last 16,384 changes (added beside
 *             format 2: an older build ignores them and leaves a gap, read
 *             as such; builds that kept 256 wrote "acl_log" u8, left unread)
 *   docs      str8 doc -> [1][u64 head][u64 created_ms][u64 updated_ms]
 *                         [u64 snapshot_version][u64 trunc_version]
 *                         [u32 meta_len][meta]
 *   ops       str8 doc, u64be version
 *                      -> [1][u64 ts_ms][u64 seq][str8 user][str8 client]
 *                         [u32 len][update bytes]
 *   snaps     str8 doc, u64be version -> [1][u64 ts_ms][u32 len][bytes]
 *   seqs      str8 doc, client bytes  -> [2][u64 seq][u64 version][str8 owner]
 *                                     (or, written by format 1, [1][u64 seq]
 *                                     [u64 version] without the owner)
 *   acl       str8 doc, user bytes    -> [1][u8 role]
 *   activity  u64be offset -> [1][u64 ts_ms][32 prev_hash][32 hash]
 *                             [u32 len][payload]
 *   outbox    u64be id -> [1][u64 created_ms][u32 len][bytes]
 *             (added beside format 2 without changing it: a build that does
 *             not know the table opens the store and ignores it)
 *   history   str8 channel, u64be offset -> [1][u64 ts_ms][str8 event]
 *                                           [str8 user][u32 len][data]
 *             (added beside format 2 the same way)
 *   hash = SHA-256(prev_hash || u64le offset || u64le ts_ms || payload);
 *   prev_hash of offset 1 is 32 zero bytes.
 *
 * FORMAT 1 STORES
 *   Format 1 had no owner in its seqs records. store_open upgrades such a
 *   store in place by writing the format record 2, nothing else: its old
 *   seqs records stay readable, and the owner of one is taken from the op
 *   it points at (the op with its last seq) while the op log still holds
 *   it, else it is unknown until the next op of that client id, whose user
 *   then becomes the owner (the record is rewritten in the new layout).
 *   Builds that only know format 1 refuse the upgraded store with
 *   STORE_EFORMAT instead of misreading its new records.
 */
#ifndef DOCSYNC_STORE_H
#define DOCSYNC_STORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

#define STORE_OK 0
#define STORE_EINVAL (-1)     /* bad argument: id too long, NULL, size limit */
#define STORE_ENOMEM (-2)     /* allocation failed */
#define STORE_ENOTFOUND (-3)  /* no such document / entry */
#define STORE_EFULL (-4)      /* LMDB map full and cannot grow (map_size_max) */
#define STORE_ENOSPC (-5)     /* the disk is full (commit refused) */
#define STORE_EIO (-6)        /* I/O error, or other system error */
#define STORE_ECORRUPT (-7)   /* a stored record failed validation */
#define STORE_ECONFLICT (-8)  /* op version is not head + 1; snapshot beyond head */
#define STORE_EBUSY (-9)      /* writer queue full, or too many readers */
#define STORE_ESHUTDOWN (-10) /* writer is stopping; batch not accepted */
#define STORE_EFORMAT (-11)   /* directory holds an unknown store format */
/* LMDB reported a fatal error (MDB_PANIC, after a failed meta-page write).
 * The store then reopens the environment by itself (on the next write, or
 * on a read while no write runs); this code is only seen if that fails. */
#define STORE_EPANIC (-12)
#define STORE_EOWNER (-13) /* op under a client id that belongs to another user */
/* The data file ends before pages that are in use: it was cut (a partial
 * copy or restore, a file system repair). Reading those pages through the
 * map would kill the process with SIGBUS, so store_open and store_inspect
 * refuse it before any is read. Restore from a backup. (A healthy file may
 * end before the last page number, when the pages there are free.) */
#define STORE_ETRUNCATED (-14)

/* A static English message for a STORE_* code (or "unknown error"). */
const char *store_strerror(int err);

/* ---------------------------------------------------------------- limits */

#define STORE_DOC_ID_MAX 200
#define STORE_USER_ID_MAX 128
#define STORE_CLIENT_ID_MAX 64
#define STORE_META_MAX (64u * 1024u)           /* document metadata bytes */
#define STORE_UPDATE_MAX (16u * 1024u * 1024u) /* one op's update bytes */
#define STORE_SNAPSHOT_MAX (256u * 1024u * 1024u)
#define STORE_ACTIVITY_MAX (1024u * 1024u) /* one activity payload */
#define STORE_HASH_LEN 32
#define STORE_EPOCH_LEN 16
#define STORE_EPOCH_HEX_LEN 32 /* characters, without the NUL */

/* ---------------------------------------------------------------- types */

typedef struct store store;               /* an open environment */
typedef struct store_read store_read;     /* a read transaction */
typedef struct store_batch store_batch;   /* a group of writes, atomic */
typedef struct store_writer store_writer; /* the writer thread */

enum store_role {
    STORE_ROLE_NONE = 0,
    STORE_ROLE_VIEWER = 1,
    STORE_ROLE_EDITOR = 2,
    STORE_ROLE_OWNER = 3,
};

struct store_epoch {
    uint8_t bytes[STORE_EPOCH_LEN];
};

struct store_options {
    uint64_t map_size;          /* initial map size, bytes; default (and
                                   when 0) 256 MiB; at least 256 KiB */
    uint64_t map_size_max;      /* growth limit; default (and when 0)
                                   16 GiB; set equal to map_size to forbid
                                   growth */
    uint32_t snapshot_interval; /* store_snapshot_due() after this many ops
                                   since the last snapshot; default 500;
                                   0 = never due */
    uint64_t retain_ops;        /* ops kept behind head at least; older ops
                                   (and snapshots older than the new base)
                                   are dropped when a snapshot is put;
                                   default 10000; 0 = keep every op */
    unsigned max_readers;       /* LMDB reader slots; default 126 */
    int read_only;              /* 1: open an existing store for reading
                                   only (LMDB's MDB_RDONLY, beside a
                                   process that writes it): nothing is
                                   created, upgraded or written, and every
                                   commit fails (STORE_EIO). store_open then
                                   also returns STORE_EFORMAT for a store
                                   that lacks a table of this build (a
                                   writer adds it when it opens the store) */
};

/* Document record. meta is borrowed (see MEMORY). */
struct store_doc_info {
    uint64_t head; /* version of the last applied op, 0 = none */
    uint64_t created_ms;
    uint64_t updated_ms;
    uint64_t snapshot_version; /* version of the newest snapshot, 0 = none */
    uint64_t trunc_version;    /* ops <= this were dropped; ops after it
                                  are all present up to head */
    const uint8_t *meta;
    size_t meta_len;
};

/* One op-log entry. Pointers are borrowed (see MEMORY). */
struct store_op {
    uint64_t version;
    uint64_t ts_ms;
    uint64_t seq;     /* client's sequence number; 0 if none */
    const char *user; /* NOT NUL-terminated: use user_len */
    size_t user_len;
    const char *client; /* NOT NUL-terminated: use client_len (may be 0) */
    size_t client_len;
    const uint8_t *data;
    size_t len;
};

/* A snapshot. data is borrowed (see MEMORY). version 0 with len 0 stands
 * for "the empty document" where a call says so. */
struct store_snapshot {
    uint64_t version;
    uint64_t ts_ms;
    const uint8_t *data;
    size_t len;
};

/* One activity-log entry. payload is borrowed (see MEMORY). */
struct store_activity {
    uint64_t offset;
    uint64_t ts_ms;
    uint8_t prev_hash[STORE_HASH_LEN];
    uint8_t hash[STORE_HASH_LEN];
    const uint8_t *payload;
    size_t len;
};

/* Callbacks used by iterating reads. Return 0 to continue, non-zero to stop
 * (the iterating call then returns that value unchanged if it is negative,
 * or 0 if it is positive). Borrowed pointers in the argument are valid until
 * the read handle ends. */
typedef int (*store_op_fn)(void *ctx, const struct store_op *op);
typedef int (*store_activity_fn)(void *ctx, const struct store_activity *e);
typedef int (*store_acl_fn)(void *ctx, const char *user, size_t user_len, enum store_role role);
typedef int (*store_doc_fn)(void *ctx, const char *doc, size_t doc_len,
                            const struct store_doc_info *info);

struct store_stat {
    uint64_t map_size; /* current map size, bytes */
    uint64_t map_used; /* bytes of the map in use (last page + 1) */
    uint64_t docs, ops, snapshots, seqs, acls, activity; /* entry counts */
    uint64_t activity_head; /* offset of the last activity entry, 0 = none */
    struct store_epoch epoch;
};

/* ---------------------------------------------------------------- env */

/* Fills o with the defaults documented in struct store_options. */
void store_options_init(struct store_options *o);

/* Opens (creating the directory with mode 0700 and the store if missing)
 * the store in dir. o may be NULL for defaults. Clears stale reader slots
 * (mdb_reader_check). A new store gets a random epoch (OpenSSL RAND_bytes).
 * A format-1 store is upgraded to format 2 (see FORMAT 1 STORES). Returns 0
 * and *out, or STORE_EINVAL, STORE_EFORMAT (unknown format record),
 * STORE_EIO, STORE_ENOMEM, STORE_ECORRUPT, STORE_ETRUNCATED (checked before
 * any page but the two meta pages is read, also when reopening after
 * MDB_PANIC). A missing or empty data.mdb gives a new, empty store with a
 * new epoch: call store_inspect first to tell that apart. */
int store_open(const char *dir, const struct store_options *o, store **out);

/* Closes the store. Every read handle must have ended and every writer must
 * have been freed. store_close(NULL) does nothing. */
void store_close(store *s);

/* What store_inspect found in a directory. */
struct store_files {
    int store;           /* 1: data.mdb exists and is not empty */
    int traces;          /* no store, but signs of an earlier one: LMDB's lock
                            file, or an empty data.mdb (store_open would start
                            a new store: the old data looks lost) */
    uint64_t data_bytes; /* size of data.mdb, 0 when missing */
    uint64_t used_bytes; /* bytes up to the last page the meta page names
                            (the file may end before it when the pages there
                            are free); 0 when there is no store */
};

/* Looks at dir without opening the store for use and creating nothing:
 * whether it holds a store, and whether data.mdb holds every page in use
 * (the meta pages and, when the file ends before the last page, the
 * free-page database are read with pread, never through the map). For
 * tools and for docsyncd before store_open; not while this process has dir
 * open (LMDB allows one open per process). Returns 0 (also when there is no
 * store: see out->store), STORE_ETRUNCATED (out holds both sizes),
 * STORE_ECORRUPT (not an LMDB data file), STORE_EIO or STORE_EINVAL. */
int store_inspect(const char *dir, struct store_files *out);

/* The options in effect (defaults filled in). Never NULL for an open store. */
const struct store_options *store_get_options(const store *s);

/* The store epoch, read from the store (any thread). Returns 0, STORE_EINVAL,
 * a code of store_read_begin, or STORE_ECORRUPT (missing or damaged epoch
 * record). */
int store_epoch_get(store *s, struct store_epoch *out);

/* Formats an epoch as STORE_EPOCH_HEX_LEN lowercase hex chars plus a NUL
 * into out (at least STORE_EPOCH_HEX_LEN + 1 bytes). */
void store_epoch_format(const struct store_epoch *e, char *out);

/* Parses exactly STORE_EPOCH_HEX_LEN hex chars (either case) of hex[0..len).
 * Returns 0 or STORE_EINVAL. */
int store_epoch_parse(const char *hex, size_t len, struct store_epoch *out);

/* Counts and sizes. Opens its own short read transaction. Returns 0,
 * STORE_EINVAL, a code of store_read_begin, or STORE_ECORRUPT (damaged
 * activity or epoch record). */
int store_stat(store *s, struct store_stat *out);

/* Whether the caller should put a snapshot for this document now:
 * options.snapshot_interval > 0 and head - snapshot_version >= interval.
 * Returns 1 or 0 (also when s or d is NULL). */
int store_snapshot_due(const store *s, const struct store_doc_info *d);

/* ---------------------------------------------------------------- reads */

/* Begins a read transaction (any thread; the handle then belongs to that
 * thread until store_read_end). Returns 0, STORE_EBUSY (no reader slot),
 * STORE_EPANIC, STORE_ENOMEM or STORE_EIO. */
int store_read_begin(store *s, store_read **out);

/* Ends a read transaction; every borrowed pointer from it becomes invalid.
 * store_read_end(NULL) does nothing. The store keeps the last handle ended,
 * its transaction reset, and the next store_read_begin renews it: a fresh
 * snapshot as of that begin, without the allocation and the search for a
 * reader slot of a new transaction (the store holds that one slot while
 * open). */
void store_read_end(store_read *r);

/* Document record. Returns 0, STORE_ENOTFOUND, STORE_EINVAL, STORE_ECORRUPT. */
int store_doc_get(store_read *r, const char *doc, struct store_doc_info *out);

/* Calls fn for each document whose id sorts after `after` (NULL or "" =
 * from the first) in store key order (by id length, then bytes), at most
 * limit documents (0 = no limit). Ids passed to fn are borrowed and not
 * NUL-terminated. Returns 0, STORE_EINVAL (also for an invalid `after`),
 * STORE_ECORRUPT, or fn's negative value. */
int store_doc_list(store_read *r, const char *after, size_t limit, store_doc_fn fn, void *ctx);

/* The newest snapshot of doc whose version is <= at_most (UINT64_MAX for the
 * newest). Returns 0, STORE_ENOTFOUND (none; the caller starts from the
 * empty state at version trunc_version == 0), STORE_EINVAL, STORE_ECORRUPT. */
int store_snapshot_get(store_read *r, const char *doc, uint64_t at_most,
                       struct store_snapshot *out);

/* One op. Returns 0, STORE_ENOTFOUND (never written or truncated),
 * STORE_EINVAL, STORE_ECORRUPT. */
int store_op_get(store_read *r, const char *doc, uint64_t version, struct store_op *out);

/* Calls fn for the ops of doc with after < version <= upto (UINT64_MAX =
 * to head), in version order, at most limit ops (0 = no limit). If
 * next_version is not NULL it receives the version after the last op given
 * to fn (or after+1 when none). Returns 0 (also when there are none),
 * STORE_EINVAL, STORE_ECORRUPT, or fn's negative value. It does not detect
 * truncation: compare `after` with store_doc_info.trunc_version first, or
 * use store_catchup(). */
int store_ops_after(store_read *r, const char *doc, uint64_t after, uint64_t upto, size_t limit,
                    store_op_fn fn, void *ctx, uint64_t *next_version);

/* Last sequence applied for (doc, client), the version it got and the
 * client id's owner, as of the last commit (batches still queued in the
 * writer are not seen: the caller keeps its own in-memory view of those).
 * owner (may be NULL; STORE_USER_ID_MAX + 1 bytes) receives the owner's
 * NUL-terminated user id, or "" when it is unknown (a record of a format-1
 * store whose op left the log, see FORMAT 1 STORES; also on error).
 * Returns 0, STORE_ENOTFOUND, STORE_EINVAL, STORE_ECORRUPT. */
int store_seq_get(store_read *r, const char *doc, const char *client, uint64_t *seq,
                  uint64_t *version, char *owner);

/* The version that op (client, seq) got, searching the op log backwards from
 * head over at most max_scan ops (0 = 1000). Returns 0, STORE_ENOTFOUND (not
 * within the scanned range), STORE_EINVAL, STORE_ECORRUPT. */
int store_seq_find(store_read *r, const char *doc, const char *client, uint64_t seq,
                   size_t max_scan, uint64_t *version);

/* Calls fn for the sequence-index records of doc whose client id sorts
 * after `after` (NULL or "" = from the first), in key order, at most limit
 * (0 = no limit): the client id, its last seq, the version that seq got
 * and the owner (owner_len 0 when a format-1 record does not say). Strings
 * are borrowed and not NUL-terminated. For copying a document elsewhere
 * whole (moving it to another node). Returns 0, STORE_EINVAL,
 * STORE_ECORRUPT, or fn's negative value. */
typedef int (*store_seq_fn)(void *ctx, const char *client, size_t client_len, uint64_t seq,
                            uint64_t version, const char *owner, size_t owner_len);
int store_seq_list(store_read *r, const char *doc, const char *after, size_t limit, store_seq_fn fn,
                   void *ctx);

/* Role of user on doc; STORE_ROLE_NONE (and 0) when there is no entry.
 * Returns 0, STORE_EINVAL, STORE_ECORRUPT. */
int store_acl_get(store_read *r, const char *doc, const char *user, enum store_role *out);

/* Calls fn for every (user, role) of doc, users in byte order. Returns 0,
 * STORE_EINVAL, STORE_ECORRUPT, or fn's negative value. */
int store_acl_list(store_read *r, const char *doc, store_acl_fn fn, void *ctx);

/* How many access-list changes (puts, deletes, deleted documents) were ever
 * committed to this store, by any process: a reader that saw another value
 * before must look at the lists it relies on again. 0 for a store that never
 * had one. Returns 0, STORE_EINVAL, STORE_ECORRUPT. */
int store_acl_changes(store_read *r, uint64_t *out);

/* The documents of the access-list changes after count `since` up to now,
 * oldest first: fn(ctx, doc, count) for each (a document once per change;
 * nonzero stops, a negative value is returned). The store keeps the last
 * STORE_ACL_LOG: STORE_ENOTFOUND when more changed since (or a build that
 * kept no log made some), and the caller must look at every list it relies
 * on. Returns 0, STORE_EINVAL, STORE_ENOTFOUND, STORE_ECORRUPT. */
#define STORE_ACL_LOG 16384
typedef int (*store_acl_change_fn)(void *ctx, const char *doc, uint64_t count);
int store_acl_changed_since(store_read *r, uint64_t since, store_acl_change_fn fn, void *ctx);

/* Offset and hash of the last activity entry (0 and zeros when empty).
 * Returns 0, STORE_EINVAL, STORE_ECORRUPT. */
int store_activity_head(store_read *r, uint64_t *offset, uint8_t hash[STORE_HASH_LEN]);

/* Calls fn for entries with offset > after, in order, at most limit
 * (0 = no limit). Does not verify hashes (see store_activity_verify).
 * Returns 0, STORE_EINVAL, STORE_ECORRUPT, or fn's negative value. */
int store_activity_read(store_read *r, uint64_t after, size_t limit, store_activity_fn fn,
                        void *ctx);

/* Verifies the activity chain for offsets from..to inclusive (to = UINT64_MAX
 * for the head): offsets consecutive from `from` without gaps, each
 * prev_hash equal to the hash of the entry before it (zeros before offset
 * 1), each hash recomputed from its content. The entry before `from` is
 * trusted. Returns 0, or STORE_ECORRUPT with *bad_offset the first offset
 * that fails (for a gap: the first missing offset). If expect_head_hash is
 * not NULL, the hash of the last entry checked must also equal it (detects a
 * truncated tail against an exported head hash), else STORE_ECORRUPT with
 * *bad_offset = last offset + 1. Also STORE_EINVAL for a NULL r or
 * bad_offset, and STORE_ENOMEM / STORE_EIO when hashing fails. */
int store_activity_verify(store_read *r, uint64_t from, uint64_t to,
                          const uint8_t *expect_head_hash, uint64_t *bad_offset);

/* The hash of one activity entry as the log computes it:
 * SHA-256(prev_hash || u64le offset || u64le ts_ms || payload), into out.
 * For checking entries outside the store (an exported file, offline).
 * Returns 0, STORE_EINVAL (NULL argument), STORE_ENOMEM or STORE_EIO. */
int store_activity_hash(const uint8_t prev_hash[STORE_HASH_LEN], uint64_t offset, uint64_t ts_ms,
                        const void *payload, size_t len, uint8_t out[STORE_HASH_LEN]);

/* Catch-up for a client that last saw (epoch, version) of doc.
 *   Pure replay (out->replay = 1): the epoch matches and every op after
 *   `version` is retained: fn receives the ops version+1.. in order.
 *   Otherwise (out->replay = 0): out->snapshot is the newest snapshot (or,
 *   when there is none and no op was ever dropped, the empty document at
 *   version 0), and fn receives the ops after the snapshot's version.
 * At most limit ops are given to fn (0 = no limit); out->more is 1 when ops
 * remain (continue with store_ops_after from out->next_version - 1).
 * out->head is the document head (0 for an unknown document, which is a
 * replay of nothing for version 0). out->snapshot.data is borrowed.
 * Returns 0, STORE_EINVAL, STORE_ECORRUPT (also when ops were dropped and
 * no snapshot is left), or fn's negative value. */
struct store_catchup {
    int replay;
    int more;
    uint64_t head;
    uint64_t next_version;
    struct store_snapshot snapshot; /* valid when replay == 0 */
};
int store_catchup(store_read *r, const char *doc, const struct store_epoch *epoch, uint64_t version,
                  size_t limit, store_op_fn fn, void *ctx, struct store_catchup *out);

/* ---------------------------------------------------------------- batches */

/* A batch is an ordered list of writes that commit together or not at all.
 * Items are applied in the order they were added, so a later item sees the
 * earlier ones (e.g. ops 5 then 6 of one document). The batch copies every
 * byte it is given. Adding validates ids and sizes (STORE_EINVAL) and can
 * fail with STORE_ENOMEM; checks that need stored state (versions) happen at
 * commit. A batch is not thread-safe; after store_writer_submit() succeeds it
 * belongs to the writer. Every call below that adds an item returns 0,
 * STORE_EINVAL (bad id, size or argument, or the batch already holds 2^20
 * items) or STORE_ENOMEM; the batch is unchanged on error. */

/* A new empty batch in *out. Returns 0, STORE_EINVAL (out NULL) or
 * STORE_ENOMEM. */
int store_batch_new(store_batch **out);
/* Frees b and every item in it. store_batch_free(NULL) does nothing. */
void store_batch_free(store_batch *b);

/* Puts the batch in a chain (0 = none, the default). Batches of one chain
 * submitted to a writer commit in submission order, each only if every
 * earlier batch of the chain did: a batch after a failed one of its chain
 * fails with STORE_ECONFLICT without being applied. This lets a submitter
 * have a second batch in flight whose items depend on the first (ops
 * v+1.. after ops ..v of one document) and be sure that it never commits
 * without the first, whatever else wrote to the store meanwhile. Use a new
 * chain value after a failure. store_batch_commit ignores chains. */
void store_batch_set_chain(store_batch *b, uint64_t chain);

/* Number of items and bytes held (for callers that bound batch size). */
size_t store_batch_count(const store_batch *b);
size_t store_batch_bytes(const store_batch *b);

/* Appends op `version` of doc. At commit: version must equal head + 1
 * (STORE_ECONFLICT otherwise); the document is created if missing (with
 * empty metadata, created_ms = ts_ms); head becomes version and updated_ms
 * ts_ms; when client is not empty, the client id must be new on doc or
 * owned by `user` (STORE_EOWNER otherwise, also for two users' first ops
 * in one batch), and the sequence index (doc, client) is set to (seq,
 * version) if seq is above the stored one, with `user` as owner when the
 * client id is new. client may be NULL or "" (seq is then stored as given,
 * usually 0). len may be 0. */
int store_batch_op_append(store_batch *b, const char *doc, uint64_t version, const char *user,
                          const char *client, uint64_t seq, uint64_t ts_ms, const void *data,
                          size_t len);

/* Creates doc or replaces its metadata bytes (head untouched). created_ms is
 * set on creation; updated_ms = ts_ms. The metadata lives in the document
 * record, which every op append rewrites: keep it small (a title, an
 * owner), not content. */
int store_batch_doc_put(store_batch *b, const char *doc, const void *meta, size_t len,
                        uint64_t ts_ms);

/* Deletes doc with its ops, snapshots, sequence index and ACL entries.
 * Deleting a missing document succeeds. A document created again later
 * starts over at version 1 in the same epoch, so a client still holding a
 * version of the old one could be given a wrong replay: renew the epoch in
 * the same batch (store_batch_epoch_renew) unless ids are never reused. */
int store_batch_doc_delete(store_batch *b, const char *doc);

/* Stores state bytes of doc at `version` (1 <= version <= head at that point
 * of the batch, else STORE_ECONFLICT; the document must exist). Then, when
 * options.retain_ops > 0, drops the ops with version <= T and the snapshots
 * older than T, where T is the newest snapshot version <= head - retain_ops
 * (so that every version from T to head stays reconstructible), and sets the
 * document's trunc_version to T. */
int store_batch_snapshot_put(store_batch *b, const char *doc, uint64_t version, uint64_t ts_ms,
                             const void *data, size_t len);

/* Starts doc anew from a snapshot, as a copy of a document whose older ops
 * were dropped: at commit the document must not exist (STORE_ECONFLICT;
 * delete it earlier in the batch); it is created with head,
 * snapshot_version and trunc_version all `version` (>= 1), created_ms and
 * updated_ms ts_ms, and the snapshot stored at `version`. Ops version+1..
 * then follow with store_batch_op_append. */
int store_batch_doc_base(store_batch *b, const char *doc, uint64_t version, uint64_t ts_ms,
                         const void *data, size_t len);

/* Sets the sequence-index record (doc, client) to (seq, version) if seq is
 * above the stored one, as an op append would (owner: as for an op's user;
 * "" = unknown, written as a format-1 record). For a copy of a document
 * whose ops that set the record were dropped. client 1..STORE_CLIENT_ID_MAX. */
int store_batch_seq_put(store_batch *b, const char *doc, const char *client, uint64_t seq,
                        uint64_t version, const char *owner);

/* Sets the role of user on doc (role VIEWER..OWNER; NONE deletes). */
int store_batch_acl_put(store_batch *b, const char *doc, const char *user, enum store_role role);
int store_batch_acl_delete(store_batch *b, const char *doc, const char *user);

/* Appends an activity entry. The offset and hash are assigned at commit
 * (the next offset after the stored head) and reported in the result. */
int store_batch_activity_append(store_batch *b, uint64_t ts_ms, const void *payload, size_t len);

/* Gives the store a new random epoch (after a restore or a loss of data). */
int store_batch_epoch_renew(store_batch *b);

/* ---------------------------------------------------------------- outbox
 *
 * OUTBOX: opaque messages (at most STORE_OUTBOX_MAX bytes each) under ids
 * the caller picks (>= 1; listed in numeric order), with the time they were
 * made. The store gives them no meaning: the webhook module keeps its
 * requests there between being made and being delivered, so that a crash
 * loses none; it bounds their number itself. */

#define STORE_OUTBOX_MAX (4u * 1024u * 1024u)

/* One outbox message. data is borrowed (see MEMORY). */
struct store_outbox_entry {
    uint64_t id;
    uint64_t created_ms;
    const uint8_t *data;
    size_t len;
};
typedef int (*store_outbox_fn)(void *ctx, const struct store_outbox_entry *e);

/* Records message `id` (replacing one with that id). STORE_EINVAL for id 0
 * or len > STORE_OUTBOX_MAX. */
int store_batch_outbox_put(store_batch *b, uint64_t id, uint64_t created_ms, const void *data,
                           size_t len);
/* Deletes message `id`; a missing one is fine (delivered twice, dropped). */
int store_batch_outbox_delete(store_batch *b, uint64_t id);

/* Message `id`. Returns 0, STORE_ENOTFOUND, STORE_EINVAL, STORE_ECORRUPT. */
int store_outbox_get(store_read *r, uint64_t id, struct store_outbox_entry *out);
/* Calls fn for the messages with an id > after, in id order, at most limit
 * (0 = no limit). Returns 0, STORE_EINVAL, STORE_ECORRUPT, or fn's
 * negative value. */
int store_outbox_list(store_read *r, uint64_t after, size_t limit, store_outbox_fn fn, void *ctx);
/* Number of messages held. Returns 0, STORE_EINVAL or STORE_EIO. */
int store_outbox_count(store_read *r, uint64_t *out);

/* --------------------------------------------------------------- history
 *
 * HISTORY: per channel, events under offsets the caller assigns (1, 2, ...,
 * consecutive by the caller's choice; the store only keeps them in order).
 * The caller also trims: it decides retention by count and age. */

#define STORE_HISTORY_CHANNEL_MAX 200          /* channel name bytes */
#define STORE_HISTORY_EVENT_MAX 200            /* event name bytes */
#define STORE_HISTORY_DATA_MAX (1024u * 1024u) /* event data bytes */

/* One event. Strings and data are borrowed (see MEMORY); event and user_id
 * are not NUL-terminated (user_len 0: none). */
struct store_history_entry {
    uint64_t offset, ts_ms;
    const char *event;
    size_t event_len;
    const char *user_id;
    size_t user_len;
    const uint8_t *data;
    size_t len;
};
typedef int (*store_history_fn)(void *ctx, const struct store_history_entry *e);

/* Records `event` on `channel` at `offset` (1 .. 2^64 - 2; replacing one
 * there), with the user it came from (NULL: none) and its data string.
 * STORE_EINVAL beyond the limits above or for ids with control bytes. */
int store_batch_history_append(store_batch *b, const char *channel, uint64_t offset, uint64_t ts_ms,
                               const char *event, const char *user_id, const void *data,
                               size_t len);
/* Deletes the channel's events with offsets <= upto. */
int store_batch_history_trim(store_batch *b, const char *channel, uint64_t upto);
/* Deletes the one event at `offset` (none there is fine). The inbox keeps a
 * user's notifications as a history of its own and deletes single ones. */
int store_batch_history_delete(store_batch *b, const char *channel, uint64_t offset);

/* Calls fn for the channel's events with offsets > after, in order, at most
 * limit (0 = no limit). Returns 0, STORE_EINVAL, STORE_ECORRUPT, or fn's
 * negative value (a positive one stops the walk, returning 0). */
int store_history_read(store_read *r, const char *channel, uint64_t after, size_t limit,
                       store_history_fn fn, void *ctx);
/* Calls fn for each channel holding history whose key comes after
 * `after`'s ("" = from the first), in key order, at most limit (0 = no
 * limit): cluster mode claims again the channels a store holds. The name
 * is NUL-terminated, valid during the call. Returns 0, STORE_EINVAL,
 * STORE_ECORRUPT, or fn's negative value (a positive one stops, 0). */
int store_history_channels(store_read *r, const char *after, size_t limit,
                           int (*fn)(void *ctx, const char *channel, size_t len), void *ctx);
/* The oldest and newest offsets the channel holds (both 0 when none).
 * Returns 0, STORE_EINVAL or STORE_EIO. */
int store_history_bounds(store_read *r, const char *channel, uint64_t *first, uint64_t *last);

/* What a committed batch produced. */
struct store_batch_result {
    uint64_t activity_first; /* offset of its first activity entry (0: none) */
    uint32_t activity_count; /* its activity entries, consecutive offsets */
    uint32_t failed_item;    /* on error: index of the item that failed, or
                                UINT32_MAX when the failure was the commit */
};

/* Commits b in its own write transaction on the calling thread, growing the
 * map if needed (which waits for open read handles on other threads to end;
 * never call it while this thread holds a read handle). Does not free b.
 * Returns 0 (durable), or STORE_ECONFLICT / STORE_EOWNER / STORE_EINVAL /
 * STORE_ECORRUPT (an item was refused), STORE_EFULL, STORE_ENOSPC,
 * STORE_EIO, STORE_EPANIC. On error nothing of b was written. res may be
 * NULL. Safe to call while a writer runs (LMDB serializes write
 * transactions), though a writer is the normal path. */
int store_batch_commit(store *s, store_batch *b, struct store_batch_result *res);

/* ---------------------------------------------------------------- writer */

/* The writer thread. The event-loop thread submits batches without
 * blocking; the writer thread takes everything pending (up to
 * group_max batches), applies each batch in a nested transaction of one
 * write transaction and commits once (one fsync for the group). A batch
 * whose items are refused (ECONFLICT...) fails alone. If the group commit
 * itself fails (map full after growth, disk full, I/O error), each batch is
 * retried in its own transaction, so that one oversized batch does not fail
 * the others. Completions go to a done-queue in submission order; then
 * notify(notify_arg) is called on the writer thread (the server passes a
 * function calling lws_cancel_service). The loop thread then calls
 * store_writer_drain() to run the callbacks on its own thread. A completion
 * is only queued after its transaction has committed (or failed). */

/* Called on the loop thread by store_writer_drain(), once per submitted
 * batch, in submission order. status is 0 or a STORE_E* code; res is
 * borrowed for the duration of the call. The batch has been freed. */
typedef void (*store_done_fn)(void *ctx, int status, const struct store_batch_result *res);

/* Called on the writer thread after completions were queued. Must be quick
 * and thread-safe (e.g. lws_cancel_service, a write to an eventfd). */
typedef void (*store_notify_fn)(void *arg);

struct store_writer_options {
    size_t queue_max; /* pending batches before submit says STORE_EBUSY;
                         default 4096 */
    size_t group_max; /* batches per transaction at most; default 1024 */
};

/* Starts the writer thread. o may be NULL for defaults; notify may be NULL
 * (then the caller polls store_writer_drain). At most one writer per store.
 * Returns 0, STORE_EINVAL, STORE_ENOMEM, STORE_EIO (thread creation). */
int store_writer_new(store *s, const struct store_writer_options *o, store_notify_fn notify,
                     void *notify_arg, store_writer **out);

/* Queues b (the writer takes ownership and frees it) with the completion
 * cb(ctx, ...) (cb may be NULL). Never blocks on I/O. Returns 0, or
 * STORE_EBUSY (queue full) / STORE_ESHUTDOWN / STORE_EINVAL, in which case
 * the caller still owns b and cb will not be called. Thread-safe (the
 * server calls it from the loop thread only). The bound counts batches
 * submitted and not yet drained, so an undrained done-queue also fills it. */
int store_writer_submit(store_writer *w, store_batch *b, store_done_fn cb, void *ctx);

/* Runs the callbacks of completed batches on the calling thread, in
 * submission order. Returns how many ran. Call from the loop thread.
 * Callbacks may submit new batches (their queue slots are already free);
 * those complete in a later drain. */
size_t store_writer_drain(store_writer *w);

/* The caller holds work back until a completion comes (a document with as
 * many batches in flight as it allows, and more edits waiting). Then, after
 * the group it is committing, the writer waits up to 1 ms for the drain of
 * that group (with a notify function only), so that the batches the
 * callbacks submit join the next group instead of the one after: every
 * group costs an fsync whatever its size, and fuller groups commit more per
 * second. Without this call the next group starts at once, which is what
 * keeps latency low at low rates. Thread-safe. */
void store_writer_followup(store_writer *w);

/* Number of batches submitted and not yet drained. */
size_t store_writer_pending(store_writer *w);

/* Blocks until every batch submitted so far is committed (or failed), then
 * drains. Returns how many callbacks ran. For tests and shutdown. */
size_t store_writer_flush(store_writer *w);

/* What the writer thread has done since it started, for GET /metrics and
 * for finding what bounds write throughput: how many group transactions,
 * how many batches they held, and how long they took (wall time, apply and
 * commit; `sync_us` is the final commit alone: the page writes and the
 * fsync). le[i] counts the groups that took at most 2^i / 4 ms (0.25 ms up
 * to 512 ms); the rest took longer. */
#define STORE_WRITER_BUCKETS 12
struct store_writer_stats {
    uint64_t groups, batches;
    uint64_t commit_us, sync_us;
    uint64_t le[STORE_WRITER_BUCKETS]; /* not cumulative */
};

/* A copy of the counters. Thread-safe. */
void store_writer_stats(store_writer *w, struct store_writer_stats *out);

/* Stops the writer: waits for every submitted batch to be committed (or
 * failed), joins the thread, runs the remaining callbacks on the calling
 * thread (a submit from those callbacks gets STORE_ESHUTDOWN), and frees w.
 * store_writer_free(NULL) does nothing. */
void store_writer_free(store_writer *w);

#ifdef __cplusplus
}
#endif

#endif
