/* message_int: internals shared by message.c (parsing) and message_build.c
 * (builders). Not part of the public API. */
#ifndef DOCSYNC_MESSAGE_INT_H
#define DOCSYNC_MESSAGE_INT_H

#include <stddef.h>

/* Length (1..4) of the valid UTF-8 sequence starting at p (`left` bytes
 * available, p[0] >= 0x80), or 0 when it is invalid: overlong, surrogate,
 * above U+10FFFF, truncated or a bad continuation byte. */
size_t message_utf8_seq(const unsigned char *p, size_t left);

#endif
