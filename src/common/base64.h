/* Base64 and base64url (RFC 4648, sections 4 and 5) for the sync protocol and for
 * HS256 tokens. Pure functions, no allocation: the caller passes buffers.
 *
 * Encoding always succeeds when the output buffer is large enough
 * (base64_encoded_len()). Decoding is strict: characters outside the
 * chosen alphabet, misplaced padding or a length that cannot be base64 are
 * refused. The standard alphabet requires padding to a multiple of 4 (what
 * JavaScript's btoa/Buffer produce); base64url accepts input with or without
 * padding (JWTs omit it). */
#ifndef DOCSYNC_BASE64_H
#define DOCSYNC_BASE64_H

#include <stddef.h>
#include <stdint.h>

#define BASE64_EINVAL (-1) /* not valid base64 for the alphabet */
#define BASE64_ESPACE (-2) /* output buffer too small */

/* Length of the encoding of `len` bytes, excluding the terminating NUL;
 * with `url` set no padding is written. */
size_t base64_encoded_len(size_t len, int url);

/* Upper bound on the decoded size of `len` characters. */
size_t base64_decoded_max(size_t len);

/* Encodes `in[0..len)` into `out` (capacity `cap`, NUL-terminated) with
 * the standard alphabet and padding, or base64url without padding when
 * `url` is non-zero. Stores the length (without NUL) in *out_len. Returns 0
 * or BASE64_ESPACE. */
int base64_encode(const uint8_t *in, size_t len, int url, char *out, size_t cap, size_t *out_len);

/* Decodes `in[0..len)` into `out` (capacity `cap`). Stores the decoded
 * length in *out_len. Returns 0, BASE64_EINVAL or BASE64_ESPACE. */
int base64_decode(const char *in, size_t len, int url, uint8_t *out, size_t cap, size_t *out_len);

#endif
