/* eio: Engine.IO packets and polling payloads (see eio.h). */
#include "eio.h"

#include <stdio.h>
#include <string.h>

#include "pusher/json_check.h"
#include "pusher/message.h"

int eio_packet_parse(const char *p, size_t n, int *type, const char **data, size_t *dlen)
{
    if (!n)
        return EIO_EINVALID;
    if (p[0] == 'b')
        return EIO_EBINARY;
    if (p[0] < '0' || p[0] > '6')
        return EIO_EINVALID;
    *type = p[0] - '0';
    *data = p + 1;
    *dlen = n - 1;
    return EIO_OK;
}

/* Bytes of a UTF-8 sequence from its lead byte (the text is checked). */
static size_t eio_seq_len(unsigned char b)
{
    return b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
}

size_t eio_utf16_len(const char *s, size_t n)
{
    size_t units = 0;
    for (size_t i = 0; i < n;) {
        size_t k = eio_seq_len((unsigned char)s[i]);
        units += k == 4 ? 2 : 1; /* outside the BMP: a surrogate pair */
        i += k;
    }
    return units;
}

/* Bytes of the first `units` UTF-16 units of checked text at `s` (at most
 * `n` bytes), or (size_t)-1 when the text is shorter or the count splits a
 * surrogate pair. */
static size_t eio_units_to_bytes(const char *s, size_t n, size_t units)
{
    size_t i = 0, u = 0;
    while (u < units) {
        if (i >= n)
            return (size_t)-1;
        size_t k = eio_seq_len((unsigned char)s[i]);
        u += k == 4 ? 2 : 1;
        i += k;
    }
    return u == units && i <= n ? i : (size_t)-1;
}

/* Protocol 3: "<digits>:" at *pos; the packet length in units, or -1. */
static long eio_v3_length(const char *buf, size_t len, size_t *pos)
{
    size_t i = *pos;
    long v = 0;
    int digits = 0;
    while (i < len && buf[i] >= '0' && buf[i] <= '9') {
        if (++digits > 9)
            return -1;
        v = v * 10 + (buf[i] - '0');
        i++;
    }
    if (!digits || i >= len || buf[i] != ':')
        return -1;
    *pos = i + 1;
    return v;
}

int eio_payload_next(int proto, const char *buf, size_t len, size_t *pos, const char **pkt,
                     size_t *plen)
{
    if (*pos >= len)
        return 0;
    if (proto == 3) {
        size_t i = *pos;
        long units = eio_v3_length(buf, len, &i);
        if (units <= 0)
            return EIO_EINVALID;
        size_t bytes = eio_units_to_bytes(buf + i, len - i, (size_t)units);
        if (bytes == (size_t)-1)
            return EIO_EINVALID;
        *pkt = buf + i;
        *plen = bytes;
        *pos = i + bytes;
        return 1;
    }
    const char *start = buf + *pos;
    const char *sep = memchr(start, 0x1e, len - *pos);
    size_t n = sep ? (size_t)(sep - start) : len - *pos;
    *pkt = start;
    *plen = n;
    *pos += n + (sep ? 1 : 0);
    if (sep && *pos >= len)
        return EIO_EINVALID; /* a trailing separator: an empty last packet */
    return 1;
}

int eio_payload_check(int proto, const char *buf, size_t len)
{
    if (!len)
        return EIO_EINVALID;
    if (json_check_utf8(buf, len) != MESSAGE_OK)
        return EIO_EUTF8;
    size_t pos = 0;
    const char *p;
    size_t n;
    int rc, type;
    const char *d;
    size_t dl;
    while ((rc = eio_payload_next(proto, buf, len, &pos, &p, &n)) == 1) {
        int prc = eio_packet_parse(p, n, &type, &d, &dl);
        if (prc != EIO_OK)
            return prc;
    }
    return rc;
}

size_t eio_frame_prefix(int proto, int first, const char *p, size_t n, char *out)
{
    if (proto == 3) {
        int k = snprintf(out, EIO_PREFIX_MAX, "%zu:", eio_utf16_len(p, n));
        return k > 0 ? (size_t)k : 0;
    }
    if (first)
        return 0;
    out[0] = 0x1e;
    return 1;
}
