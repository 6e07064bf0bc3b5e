/* eio: Engine.IO packets and the polling payloads that carry them, for
 * protocol 3 (socket.io-client 2, laravel-echo-server's clients) and
 * protocol 4 (socket.io-client 3 and 4). Pure functions on bytes: what a
 * client sends is split and checked here (the fuzz target `eio_parse`
 * exercises it), the server's payloads are framed here.
 *
 * A packet is one type digit then its data: "4hello" is a message,
 * "2probe" a ping with data. A polling payload is several packets:
 *   protocol 4: packets joined by the record separator 0x1e;
 *   protocol 3: each packet as "<length>:<packet>", the length counted in
 *               UTF-16 code units (JavaScript's String.length), not bytes.
 * Binary packets (protocol 4 "b<base64>", protocol 3 "b4<base64>" or an
 * octet-stream payload) are not supported and refused. */
#ifndef DOCSYNC_EIO_H
#define DOCSYNC_EIO_H

#include <stddef.h>

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE = 1,
    EIO_PING = 2,
    EIO_PONG = 3,
    EIO_MESSAGE = 4,
    EIO_UPGRADE = 5,
    EIO_NOOP = 6,
};

#define EIO_OK 0
#define EIO_EINVALID (-1) /* not an Engine.IO packet or payload */
#define EIO_EBINARY (-2)  /* a binary packet: not supported */
#define EIO_EUTF8 (-3)    /* not valid UTF-8, or holds a NUL */

/* Splits one packet: *type (enum eio_type) and its data after the type
 * digit. Returns EIO_OK, EIO_EINVALID (empty, unknown type) or EIO_EBINARY. */
int eio_packet_parse(const char *p, size_t n, int *type, const char **data, size_t *dlen);

/* Checks a whole polling payload of protocol `proto` (3 or 4): valid UTF-8
 * without NUL, and well framed. Returns EIO_OK or an error; call it once
 * before eio_payload_next. */
int eio_payload_check(int proto, const char *buf, size_t len);

/* The packet of a checked payload at *pos: its span in *pkt / *plen, and
 * *pos moves past it. Returns 1 when a packet was stored, 0 at the end, or
 * EIO_EINVALID (a protocol 3 length that does not fit the payload). */
int eio_payload_next(int proto, const char *buf, size_t len, size_t *pos, const char **pkt,
                     size_t *plen);

/* Length of UTF-8 text `s` in UTF-16 code units (protocol 3's lengths). */
size_t eio_utf16_len(const char *s, size_t n);

/* Bytes written by eio_frame_prefix for a packet of `n` bytes at most. */
#define EIO_PREFIX_MAX 24

/* Writes what goes before a packet `p` of `n` bytes in a protocol `proto`
 * polling payload into `out` (EIO_PREFIX_MAX bytes): "<utf16 len>:" for
 * protocol 3, the 0x1e separator for protocol 4 unless `first`. Returns the
 * bytes written. */
size_t eio_frame_prefix(int proto, int first, const char *p, size_t n, char *out);

#endif
