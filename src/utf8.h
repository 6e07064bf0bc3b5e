/* utf8: strict UTF-8 validation (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Used on HTTP API bodies, whose
 * strings are relayed verbatim into WebSocket text frames: a browser fails
 * the whole connection (1007) on invalid UTF-8, so it is refused at the
 * door. Pure, thread-safe. */
#ifndef DOCSYNC_UTF8_H
#define DOCSYNC_UTF8_H

#include <stddef.h>

/* 1 when the `len` bytes at `s` are valid UTF-8, else 0. */
int utf8_valid(const void *s, size_t len);

#endif
