/* lg_ws: the WebSocket framing the load generator needs, nothing more.
 *
 * Client frames are always masked (RFC 6455 5.3); server frames are expected unmasked. The
 * decoder is incremental in nginx's three-way shape: a complete frame, "need more bytes", or a
 * protocol error. Payloads are borrowed from the caller's buffer and never copied. */
#ifndef LG_WS_H
#define LG_WS_H

#include <stddef.h>
#include <stdint.h>

enum {
    LG_WS_TEXT = 0x1,
    LG_WS_CLOSE = 0x8,
    LG_WS_PING = 0x9,
    LG_WS_PONG = 0xA,
};

/* Largest header lg_ws_encode writes (2 + 8 length bytes + 4 mask bytes). */
#define LG_WS_MAX_HEADER 14

/* One decoded server frame; payload points into the buffer given to lg_ws_decode. */
typedef struct lg_ws_frame {
    unsigned opcode;
    int fin;
    const uint8_t *payload;
    size_t len;
} lg_ws_frame;

/* Write a masked client frame (FIN set) carrying payload[0..len) with the given mask key into
 * out, which must hold len + LG_WS_MAX_HEADER bytes. Returns the frame length. */
size_t lg_ws_encode(uint8_t *out, unsigned opcode, const void *payload, size_t len, uint32_t mask);

/* Decode the frame at buf[0..len). Returns the number of bytes it spans (> 0) and fills *f; 0 when
 * more bytes are needed; -1 when the frame is masked (a server must not mask) or its length
 * exceeds max_payload. */
long lg_ws_decode(const uint8_t *buf, size_t len, size_t max_payload, lg_ws_frame *f);

/* First occurrence of needle[0..nlen) in hay[0..hlen), or NULL. */
const uint8_t *lg_ws_find(const uint8_t *hay, size_t hlen, const char *needle, size_t nlen);

#endif
