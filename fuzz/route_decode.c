/* Fuzz target for the decoder of the document route messages between
 * cluster nodes (src/sync/route_msg.c): anyone with access to Redis may
 * publish on a node's request channel. Invariants checked: an accepted
 * message has a valid node id, an id from 1, a known event, a user and a
 * body inside the input, a body that is a JSON-looking object; and
 * encoding it again gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/route_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct route_msg m;
    if (route_decode(buf, size, &m) != 0)
        return 0;
    if (!bus_node_id_valid(m.node, strlen(m.node)) || m.id == 0 || strlen(m.boot) != 16 ||
        strncmp(m.event, "docsync:", 8) != 0)
        abort();
    if (m.body < buf || m.body + m.body_len != buf + size || m.body_len < 2 || m.body[0] != '{')
        abort();
    if (m.type == ROUTE_REQ &&
        (m.user < buf || m.user + m.user_len > m.body || m.user_len > ROUTE_USER_MAX))
        abort();
    char *out;
    size_t len;
    if (route_encode(&m, &out, &len) != 0)
        abort();
    if (len != size || memcmp(out, buf, size) != 0)
        abort();
    free(out);
    return 0;
}
