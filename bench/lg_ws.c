/* lg_ws: masked client frames and an incremental server-frame decoder (see lg_ws.h). */
#include "lg_ws.h"

#include <string.h>

size_t lg_ws_encode(uint8_t *out, unsigned opcode, const void *payload, size_t len, uint32_t mask)
{
    size_t h = 0;
    out[h++] = (uint8_t)(0x80u | (opcode & 0x0Fu));
    if (len < 126) {
        out[h++] = (uint8_t)(0x80u | len);
    } else if (len <= 0xFFFF) {
        out[h++] = 0x80u | 126u;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80u | 127u;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint8_t key[4] = {(uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
                      (uint8_t)mask};
    memcpy(out + h, key, 4);
    h += 4;
    const uint8_t *p = payload;
    for (size_t i = 0; i < len; i++)
        out[h + i] = p[i] ^ key[i & 3];
    return h + len;
}

long lg_ws_decode(const uint8_t *buf, size_t len, size_t max_payload, lg_ws_frame *f)
{
    if (len < 2)
        return 0;
    if (buf[1] & 0x80u)
        return -1;
    size_t h = 2;
    uint64_t plen = buf[1] & 0x7Fu;
    if (plen == 126) {
        if (len < 4)
            return 0;
        plen = ((uint64_t)buf[2] << 8) | buf[3];
        h = 4;
    } else if (plen == 127) {
        if (len < 10)
            return 0;
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | buf[2 + i];
        h = 10;
    }
    if (plen > max_payload)
        return -1;
    if (len - h < plen)
        return 0;
    f->opcode = buf[0] & 0x0Fu;
    f->fin = (buf[0] & 0x80u) != 0;
    f->payload = buf + h;
    f->len = (size_t)plen;
    return (long)(h + plen);
}

const uint8_t *lg_ws_find(const uint8_t *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0 || hlen < nlen)
        return NULL;
    const uint8_t *end = hay + hlen - nlen + 1;
    for (const uint8_t *p = hay; p < end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p));
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
    }
    return NULL;
}
