/* record.h - internal: encoders and decoders of the store's keys and values.
 *
 * Functions over byte buffers: no LMDB, and no memory kept (only
 * record_activity_hash allocates, and frees before it returns). Layouts are
 * documented in store.h ("ON-DISK FORMAT"). Every decoder treats its input as
 * untrusted (disk bytes): it checks the format byte, every length against
 * the buffer and the limits of store.h, and returns 0 or STORE_ECORRUPT.
 * Decoded pointers borrow from the input buffer (valid as long as it is),
 * and encoders write exactly record_*_size() bytes into a caller buffer of
 * at least that size. The libFuzzer target fuzz/store_record.c drives
 * every decoder. */
#ifndef DOCSYNC_STORE_RECORD_H
#define DOCSYNC_STORE_RECORD_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define RECORD_FORMAT 1 /* first byte of every value (but owned seq records) */
/* Value of the "format" meta record. Format 2 added the owner to the
 * last-sequence records; a format-1 store is upgraded when it is opened
 * (only the format record changes: its seq records stay readable and are
 * rewritten with an owner by the next op of their client). */
#define RECORD_STORE_FORMAT 2
#define RECORD_STORE_FORMAT_OLDEST 1 /* oldest format store_open upgrades */

/* ---- fixed-width integers. p must have room for (put) or hold (get) the
 * 4 or 8 bytes; no check is made. */

/* Writes v as 8 bytes, least significant first. */
void record_put_u64le(uint8_t *p, uint64_t v);
/* Reads 8 bytes, least significant first. */
uint64_t record_get_u64le(const uint8_t *p);
/* Writes v as 4 bytes, least significant first. */
void record_put_u32le(uint8_t *p, uint32_t v);
/* Reads 4 bytes, least significant first. */
uint32_t record_get_u32le(const uint8_t *p);
/* Writes v as 8 bytes, most significant first (keys, so that LMDB's byte
 * order is numeric order). */
void record_put_u64be(uint8_t *p, uint64_t v);
/* Reads 8 bytes, most significant first. */
uint64_t record_get_u64be(const uint8_t *p);

/* ---- ids. An id is 1..max bytes (0..max when allow_empty) with no
 * control byte (0x00-0x1f, 0x7f). */

/* Checks the NUL-terminated id s (NULL counts as empty). Returns its
 * length, or -1 when it is invalid or longer than max. */
int record_id_check(const char *s, size_t max, int allow_empty);
/* Checks the id s[0..len). Returns 0, or -1 when it is invalid (or s is
 * NULL and len is not 0). */
int record_idn_check(const char *s, size_t len, size_t max, int allow_empty);

/* ---- keys. Encoders write into out, which needs RECORD_KEY_MAX bytes (or
 * 8 for an offset), and return the key length; the ids must already be
 * checked (doc_len <= STORE_DOC_ID_MAX, s_len <= STORE_USER_ID_MAX).
 * Decoders return 0 or STORE_ECORRUPT; the ids they return point into k. */
#define RECORD_KEY_MAX (1 + STORE_DOC_ID_MAX + STORE_USER_ID_MAX)

/* str8 doc: the docs table, and the prefix of every per-document key. */
size_t record_key_doc(uint8_t *out, const char *doc, size_t doc_len);
/* str8 doc, u64be version: the ops and snaps tables. */
size_t record_key_docver(uint8_t *out, const char *doc, size_t doc_len, uint64_t version);
/* str8 doc, raw bytes of s (client or user id): the seqs and acl tables. */
size_t record_key_docstr(uint8_t *out, const char *doc, size_t doc_len, const char *s,
                         size_t s_len);
/* u64be offset: the activity table. Returns 8. */
size_t record_key_offset(uint8_t *out, uint64_t offset);

/* A str8 doc key whose length byte covers the whole key and whose doc is a
 * valid document id. */
int record_key_doc_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len);
/* A str8 doc, u64be version key (exactly 1 + doc_len + 8 bytes). */
int record_key_docver_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len,
                             uint64_t *version);
/* A str8 doc followed by an id of 0..max_s bytes (STORE_CLIENT_ID_MAX or
 * STORE_USER_ID_MAX) filling the rest of the key. */
int record_key_docstr_decode(const uint8_t *k, size_t len, size_t max_s, const char **doc,
                             size_t *doc_len, const char **s, size_t *s_len);
/* An 8-byte offset key. */
int record_key_offset_decode(const uint8_t *k, size_t len, uint64_t *offset);

/* ---- values. For each kind: *_size() is the encoded length (for values
 * of a fixed size, the RECORD_*_SIZE constant); *_encode() writes exactly
 * that many bytes into out and cannot fail (its input must respect the
 * limits of store.h); *_decode() returns 0 or STORE_ECORRUPT (wrong format
 * byte, a length past the end, bytes left over, a limit exceeded, an
 * invalid id or field). Decoded pointers (meta, user, client, data,
 * payload) point into v. On failure the outputs may be partly written and
 * must not be used. */

/* Document record: head, timestamps, snapshot and truncation versions and
 * meta_len bytes of metadata. */
size_t record_doc_size(size_t meta_len);
void record_doc_encode(uint8_t *out, const struct store_doc_info *d);
/* Also refuses snapshot_version or trunc_version above head and
 * trunc_version above snapshot_version. */
int record_doc_decode(const uint8_t *v, size_t len, struct store_doc_info *out);

/* Op record: ts_ms, seq, user, client and the update bytes. op->version is
 * not stored in the value (it is in the key). */
size_t record_op_size(size_t user_len, size_t client_len, size_t len);
void record_op_encode(uint8_t *out, const struct store_op *op);
/* Fills everything but out->version. */
int record_op_decode(const uint8_t *v, size_t len, struct store_op *out);

/* Snapshot record: ts_ms and len bytes of state (version is in the key). */
size_t record_snap_size(size_t len);
void record_snap_encode(uint8_t *out, uint64_t ts_ms, const void *data, size_t len);
/* Fills ts_ms, data, len (not version). */
int record_snap_decode(const uint8_t *v, size_t len, struct store_snapshot *out);

/* Last-sequence record of format 1 (stores of format 1): a client's last
 * seq and the version it got, without an owner. Written only by older
 * builds and tests; read through record_seq_owned_decode. */
#define RECORD_SEQ_SIZE 17
void record_seq_encode(uint8_t *out, uint64_t seq, uint64_t version);
int record_seq_decode(const uint8_t *v, size_t len, uint64_t *seq, uint64_t *version);

/* Last-sequence record with its owner, the user who first appended an op
 * under the client id: [2][u64 seq][u64 version][str8 owner]. owner_len is
 * 1..STORE_USER_ID_MAX. */
#define RECORD_SEQ_OWNED_FORMAT 2
size_t record_seq_owned_size(size_t owner_len);
void record_seq_owned_encode(uint8_t *out, uint64_t seq, uint64_t version, const char *owner,
                             size_t owner_len);
/* Decodes either layout: a format-1 record gives *owner = NULL and
 * *owner_len = 0 (owner not recorded); a format-2 record requires a valid
 * user id as owner. */
int record_seq_owned_decode(const uint8_t *v, size_t len, uint64_t *seq, uint64_t *version,
                            const char **owner, size_t *owner_len);

/* Access-list record: one role (STORE_ROLE_VIEWER..STORE_ROLE_OWNER; the
 * decoder refuses anything else, STORE_ROLE_NONE included). */
#define RECORD_ACL_SIZE 2
void record_acl_encode(uint8_t *out, enum store_role role);
int record_acl_decode(const uint8_t *v, size_t len, enum store_role *role);

/* Activity record: ts_ms, prev_hash, hash and the payload. */
#define RECORD_ACTIVITY_HEADER (1 + 8 + 2 * STORE_HASH_LEN + 4)
size_t record_activity_size(size_t len);
/* Writes e (offset is not stored, it is the key; hashes as given). */
void record_activity_encode(uint8_t *out, const struct store_activity *e);
/* Fills everything but out->offset. Does not check the hashes (see
 * record_activity_hash). */
int record_activity_decode(const uint8_t *v, size_t len, struct store_activity *out);
/* hash = SHA-256(prev || u64le offset || u64le ts_ms || payload) into out.
 * Returns 0, STORE_ENOMEM (no OpenSSL digest context) or STORE_EIO (an
 * OpenSSL failure). */
int record_activity_hash(const uint8_t prev[STORE_HASH_LEN], uint64_t offset, uint64_t ts_ms,
                         const uint8_t *payload, size_t len, uint8_t out[STORE_HASH_LEN]);

/* Epoch record (meta "epoch"): the STORE_EPOCH_LEN random bytes. */
#define RECORD_EPOCH_SIZE (1 + STORE_EPOCH_LEN)
void record_epoch_encode(uint8_t *out, const struct store_epoch *e);
int record_epoch_decode(const uint8_t *v, size_t len, struct store_epoch *out);

/* Format record (meta "format"): the store format number (the caller
 * compares it with RECORD_STORE_FORMAT). */
#define RECORD_FORMAT_SIZE 5
void record_format_encode(uint8_t *out, uint32_t format);
int record_format_decode(const uint8_t *v, size_t len, uint32_t *format);

#endif
