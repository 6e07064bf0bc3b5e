/* record.h - internal: encoders and decoders of the store's keys and values.
 *
 * Pure functions over byte buffers, no LMDB, no allocation. Layouts are
 * documented in store.h ("ON-DISK FORMAT"). Every decoder treats its input as
 * untrusted (disk bytes): it checks the format byte, every length against
 * the buffer and the limits of store.h, and returns 0 or STORE_ECORRUPT.
 * Decoded pointers borrow from the input buffer. Encoders write exactly
 * record_*_size() bytes into a caller buffer of at least that size. The
 * libFuzzer target fuzz/store_record.c drives every decoder. */
#ifndef DOCSYNC_STORE_RECORD_H
#define DOCSYNC_STORE_RECORD_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

#define RECORD_FORMAT 1       /* first byte of every value */
#define RECORD_STORE_FORMAT 1 /* value of the "format" meta record */

/* Little/big-endian helpers. */
void record_put_u64le(uint8_t *p, uint64_t v);
uint64_t record_get_u64le(const uint8_t *p);
void record_put_u32le(uint8_t *p, uint32_t v);
uint32_t record_get_u32le(const uint8_t *p);
void record_put_u64be(uint8_t *p, uint64_t v);
uint64_t record_get_u64be(const uint8_t *p);

/* Id validation: 1..max bytes (0..max when allow_empty), no control bytes.
 * Returns the length, or -1. */
int record_id_check(const char *s, size_t max, int allow_empty);
/* Same on a counted buffer. Returns 0 or -1. */
int record_idn_check(const char *s, size_t len, size_t max, int allow_empty);

/* ---- keys. Buffers of RECORD_KEY_MAX bytes always suffice. */
#define RECORD_KEY_MAX (1 + STORE_DOC_ID_MAX + STORE_USER_ID_MAX)

/* str8 doc. Returns the key length. */
size_t record_key_doc(uint8_t *out, const char *doc, size_t doc_len);
/* str8 doc, u64be version. */
size_t record_key_docver(uint8_t *out, const char *doc, size_t doc_len, uint64_t version);
/* str8 doc, raw bytes of s (client or user id). */
size_t record_key_docstr(uint8_t *out, const char *doc, size_t doc_len, const char *s,
                         size_t s_len);
/* u64be offset. */
size_t record_key_offset(uint8_t *out, uint64_t offset);

int record_key_doc_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len);
int record_key_docver_decode(const uint8_t *k, size_t len, const char **doc, size_t *doc_len,
                             uint64_t *version);
/* max_s bounds the trailing id (STORE_CLIENT_ID_MAX or STORE_USER_ID_MAX). */
int record_key_docstr_decode(const uint8_t *k, size_t len, size_t max_s, const char **doc,
                             size_t *doc_len, const char **s, size_t *s_len);
int record_key_offset_decode(const uint8_t *k, size_t len, uint64_t *offset);

/* ---- values */
size_t record_doc_size(size_t meta_len);
void record_doc_encode(uint8_t *out, const struct store_doc_info *d);
int record_doc_decode(const uint8_t *v, size_t len, struct store_doc_info *out);

size_t record_op_size(size_t user_len, size_t client_len, size_t len);
/* op->version is not stored in the value (it is in the key). */
void record_op_encode(uint8_t *out, const struct store_op *op);
/* Fills everything but out->version. */
int record_op_decode(const uint8_t *v, size_t len, struct store_op *out);

size_t record_snap_size(size_t len);
void record_snap_encode(uint8_t *out, uint64_t ts_ms, const void *data, size_t len);
/* Fills ts_ms, data, len (not version). */
int record_snap_decode(const uint8_t *v, size_t len, struct store_snapshot *out);

#define RECORD_SEQ_SIZE 17
void record_seq_encode(uint8_t *out, uint64_t seq, uint64_t version);
int record_seq_decode(const uint8_t *v, size_t len, uint64_t *seq, uint64_t *version);

#define RECORD_ACL_SIZE 2
void record_acl_encode(uint8_t *out, enum store_role role);
int record_acl_decode(const uint8_t *v, size_t len, enum store_role *role);

#define RECORD_ACTIVITY_HEADER (1 + 8 + 2 * STORE_HASH_LEN + 4)
size_t record_activity_size(size_t len);
/* Writes e (offset is not stored; hashes as given). */
void record_activity_encode(uint8_t *out, const struct store_activity *e);
/* Fills everything but out->offset. */
int record_activity_decode(const uint8_t *v, size_t len, struct store_activity *out);
/* hash = SHA-256(prev || u64le offset || u64le ts_ms || payload). Returns 0 or
 * STORE_ENOMEM/STORE_EIO (OpenSSL failure). */
int record_activity_hash(const uint8_t prev[STORE_HASH_LEN], uint64_t offset, uint64_t ts_ms,
                         const uint8_t *payload, size_t len, uint8_t out[STORE_HASH_LEN]);

#define RECORD_EPOCH_SIZE (1 + STORE_EPOCH_LEN)
void record_epoch_encode(uint8_t *out, const struct store_epoch *e);
int record_epoch_decode(const uint8_t *v, size_t len, struct store_epoch *out);

#define RECORD_FORMAT_SIZE 5
void record_format_encode(uint8_t *out, uint32_t format);
int record_format_decode(const uint8_t *v, size_t len, uint32_t *format);

#endif
