/* json_check: strict JSON validation without allocating (RFC 8259 plus the
 * server's own rules: valid UTF-8, no NUL, bounded nesting, no lone
 * surrogate escapes), so that cJSON only ever parses text known to be
 * sane and a hostile frame costs one linear pass. Codes are message.h's
 * MESSAGE_* codes. Pure, thread-safe. */
#ifndef DOCSYNC_JSON_CHECK_H
#define DOCSYNC_JSON_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* Nesting bound of the validator whatever a caller's limits say: its
 * recursion depth. */
#define JSON_CHECK_MAX_DEPTH 512

/* Checks that `len` bytes at `buf` are one well-formed JSON value (RFC
 * 8259, any type) with valid UTF-8, no NUL byte or \u0000 escape, no lone
 * surrogate escape and nesting <= max_depth (0 = 32). Nothing is allocated.
 * Returns MESSAGE_OK, MESSAGE_EINVALID, MESSAGE_EUTF8, MESSAGE_ENUL or
 * MESSAGE_EDEPTH. Meant for untrusted JSON outside client frames, e.g. an
 * HTTP API body before cJSON parses it, or an event `data` string that
 * is relayed as JSON. */
int json_check(const char *buf, size_t len, int max_depth);

/* Checks that `len` bytes are valid UTF-8 without NUL bytes (the rules of
 * a WebSocket text frame plus no NUL). Returns MESSAGE_OK, MESSAGE_EUTF8 or
 * MESSAGE_ENUL. E.g. for an HTTP API event name or data string. */
int json_check_utf8(const char *buf, size_t len);

/* What json_check_document() leaves behind: the scanner's state and the
 * raw span of the top-level object's "data" member, when it has one. */
struct json_scan {
    const unsigned char *p;
    size_t len, pos;
    int max_depth;
    int err;
    size_t data_start, data_end; /* [start, end) of the value of "data" */
    int have_data;
};

/* Validates the whole `len` bytes at `buf` as one JSON value nested at most
 * max_depth deep (1..JSON_CHECK_MAX_DEPTH) and records the "data" span in
 * *s. Returns 0 or a MESSAGE_E* code. */
int json_check_document(const char *buf, size_t len, int max_depth, struct json_scan *s);

struct cJSON;

#define JSON_INT_MAX 9007199254740991.0 /* 2^53 - 1: integers a JSON number carries exactly */

/* Parses a non-negative integer (a JSON number without fraction, <= 2^53-1)
 * or a decimal string of one (1 to 16 digits) into *out; returns 0, or -1
 * with *out unchanged. For counters and offsets clients send (documents'
 * versions and seqs, channel history's offsets). */
int json_u64(const struct cJSON *v, uint64_t *out);

#endif
