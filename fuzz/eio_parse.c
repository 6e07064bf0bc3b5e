/* Fuzz target: what an Engine.IO client sends, as the server reads it - a
 * polling payload of either protocol (the first byte picks 3 or 4) split
 * into packets, each packet's type, and the Socket.IO packet inside every
 * message packet with its event arguments. Invariants: a checked payload
 * splits without error into packets that lie inside it and parse; the
 * protocol 3 prefix written for a packet frames it back to itself. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socketio/eio.h"
#include "socketio/sio.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    int proto = (data[0] & 1) ? 3 : 4;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    if (eio_payload_check(proto, buf, len) != EIO_OK)
        return 0;
    size_t pos = 0, n;
    const char *p;
    int rc;
    while ((rc = eio_payload_next(proto, buf, len, &pos, &p, &n)) == 1) {
        check(p >= buf && p + n <= buf + len && pos <= len);
        int type;
        const char *d;
        size_t dl;
        check(eio_packet_parse(p, n, &type, &d, &dl) == EIO_OK);
        check(type >= EIO_OPEN && type <= EIO_NOOP && d + dl == p + n);
        if (proto == 3) {
            /* The server's framing of this packet reads back as the packet. */
            char pre[EIO_PREFIX_MAX];
            size_t k = eio_frame_prefix(3, 1, p, n, pre);
            char *re = malloc(k + n);
            memcpy(re, pre, k);
            memcpy(re + k, p, n);
            size_t rp = 0, rn;
            const char *rq;
            check(eio_payload_next(3, re, k + n, &rp, &rq, &rn) == 1 && rn == n && rp == k + n);
            free(re);
        }
        if (type != EIO_MESSAGE)
            continue;
        struct sio_packet pk;
        if (sio_packet_parse(d, dl, 32, &pk) != SIO_OK)
            continue;
        check(pk.json + pk.json_len == d + dl);
        cJSON *args = sio_event_args(&pk);
        if (args)
            check(cJSON_IsString(cJSON_GetArrayItem(args, 0)));
        cJSON_Delete(args);
    }
    check(rc == 0);
    return 0;
}
