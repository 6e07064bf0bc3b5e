/* hex: bytes as lowercase hexadecimal (signatures, hashes, generated
 * credentials). Pure, thread-safe. */
#ifndef DOCSYNC_HEX_H
#define DOCSYNC_HEX_H

#include <stddef.h>

/* Writes the `n` bytes at `in` as 2n lowercase hex digits and a NUL into
 * `out`, which must hold 2n + 1 bytes. */
void hex_encode(const void *in, size_t n, char *out);

/* The value 0-15 of one hex digit (either case), or -1 for any other char
 * (percent-decoding of query strings and URLs). */
int hex_digit(char c);

#endif
