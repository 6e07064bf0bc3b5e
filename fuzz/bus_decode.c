/* Fuzz target for the decoder of the messages between cluster nodes
 * (src/cluster/bus.c): anything may be published on the Redis channel.
 * Invariants checked: an accepted message has a valid node id, a sequence
 * number from 1, a channel and a body inside the input, a body that is a
 * JSON-looking object; and encoding it again gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct bus_msg m;
    if (bus_decode(buf, size, 200, &m) != 0)
        return 0;
    if (!bus_node_id_valid(m.node, strlen(m.node)) || m.seq == 0 || strlen(m.boot) != 16)
        abort();
    if (m.type == BUS_EVENT) {
        if (m.channel < buf || m.channel + m.channel_len > buf + size || m.body < buf ||
            m.body + m.body_len != buf + size || m.body_len < 2 || m.body[0] != '{')
            abort();
    }
    char *out;
    size_t len;
    if (bus_encode(&m, &out, &len) != 0)
        abort();
    if (len != size || memcmp(out, buf, size) != 0)
        abort();
    free(out);
    return 0;
}
