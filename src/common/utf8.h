/* utf8: the server's one strict UTF-8 decoder (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF). Client frames, HTTP API bodies and
 * written JSON all go through it: strings are relayed into WebSocket text
 * frames, and a browser fails the whole connection (1007) on invalid UTF-8,
 * so it is refused at the door. Pure, thread-safe. */
#ifndef DOCSYNC_UTF8_H
#define DOCSYNC_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the valid UTF-8 sequence that starts at `p`, with
 * `left` bytes available (at least 1), or 0 when those bytes do not start
 * one: a stray continuation byte, a truncated, overlong or surrogate
 * sequence, or a code point above U+10FFFF. */
size_t utf8_seq(const void *p, size_t left);

/* 1 when the `len` bytes at `s` are valid UTF-8, else 0. */
int utf8_valid(const void *s, size_t len);

#endif
