/* Fuzz target for the decoder of the document route messages between
 * cluster nodes (src/sync/route_msg.c): anyone with access to Redis may
 * publish on a node's request channel. Invariants checked: an accepted
 * message has a valid node id, an id from 1, a known event, a user and a
 * body inside the input, a body that is a JSON-looking object; and
 * encoding it again gives the same bytes. The body of a SHIP (a part of a
 * document moving to this node) also goes through route_ship_parse: an
 * accepted part has consecutive versions from 1 (or after its base), none
 * past its head, and a document id within the store's bound; a base in
 * parts (version 3) has a size within ROUTE_SHIP_BASE_MAX, bytes within
 * it, and no op or last part before it is whole; a version 1 or 2 part
 * never has version 3's fields. The body of an ACL notice (a
 * document's access list changed on its home) goes through
 * route_acl_parse: users non-empty, roles known, at most 10,000.
 *
 * The same bytes also go to the decoder of channel history's messages
 * (src/history/hist_msg.c, "dshist/1" on a node's history request
 * channel): an accepted one has a valid node id and boot, an id from 1, a
 * known kind (a request) or a status from 100 to 599 and the asking node's
 * boot (an answer), a body inside the input (a JSON-looking object for a
 * request); encoding it again gives the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "history/hist_msg.h"
#include "sync/route_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void hist(const char *buf, size_t size)
{
    struct hist_msg m;
    if (hist_decode(buf, size, &m) != 0)
        return;
    if (!bus_node_id_valid(m.node, strlen(m.node)) || m.id == 0 || strlen(m.boot) != 16)
        abort();
    if (m.type == HIST_REQ
            ? m.kind < HIST_PUBLISH || m.kind > HIST_INBOX || m.body_len < 2 || m.body[0] != '{'
            : m.type != HIST_REP || m.status < 100 || m.status > 599 || strlen(m.to_boot) != 16)
        abort();
    if (m.body < buf || m.body + m.body_len != buf + size || memchr(m.body, 0, m.body_len))
        abort();
    char *out;
    size_t len;
    if (hist_encode(&m, &out, &len) != 0)
        abort();
    if (len != size || memcmp(out, buf, size) != 0)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    hist(buf, size);
    struct route_msg m;
    if (route_decode(buf, size, &m) != 0)
        return 0;
    if (!bus_node_id_valid(m.node, strlen(m.node)) || m.id == 0 || strlen(m.boot) != 16)
        abort();
    if (m.type == ROUTE_ACL                            ? m.version < 2 || m.event[0] || m.to_boot[0]
        : (m.type == ROUTE_REQ || m.type == ROUTE_REP) ? strncmp(m.event, "docsync:", 8) != 0
                                                       : strlen(m.to_boot) != 16)
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
    if (m.type == ROUTE_ACL) {
        struct route_acl a;
        const char *why;
        if (route_acl_parse(m.body, m.body_len, &a, &why) == 0) {
            if (!a.doc || !a.doc[0] || strlen(a.doc) > 200 || a.nacl > ROUTE_SHIP_ACL_MAX)
                abort();
            for (size_t i = 0; i < a.nacl; i++)
                if (!a.acl[i].user || !a.acl[i].user[0] || a.acl[i].role < 1 || a.acl[i].role > 3)
                    abort();
            route_acl_free(&a);
        }
    }
    if (m.type == ROUTE_SHIP) {
        struct route_ship sh;
        const char *why;
        if (route_ship_parse(m.body, m.body_len, m.version, 1, &sh, &why) == 0) {
            if (!sh.doc || !sh.doc[0] || strlen(sh.doc) > 200 || sh.nops > ROUTE_SHIP_OPS_MAX)
                abort();
            uint64_t first = sh.has_base ? sh.base_version + 1 : 1;
            for (size_t i = 0; i < sh.nops; i++)
                if (sh.ops[i].version != first + i || sh.ops[i].version > sh.head ||
                    (sh.ops[i].len && !sh.ops[i].data))
                    abort();
            if (sh.has_base && (sh.base_version == 0 || sh.base_version > sh.head || !sh.has_chunk))
                abort();
            if (sh.has_chunk &&
                (!sh.base_state || sh.base_offset + sh.base_len > ROUTE_SHIP_BASE_MAX))
                abort();
            if (m.version < 3 && (sh.base_hashed || sh.base_offset || sh.base_len != sh.base_size))
                abort();
            if (m.version >= 3 && sh.has_base &&
                (!sh.base_hashed || sh.base_size == 0 || sh.base_size > ROUTE_SHIP_BASE_MAX ||
                 sh.base_len > sh.base_size ||
                 (sh.base_len < sh.base_size && (sh.nops || sh.last))))
                abort();
            route_ship_free(&sh);
        }
    }
    return 0;
}
