/* route_msg: the messages that carry a document request from the node a
 * client is connected to to the document's home node, and the answer back
 * (cluster mode; format in README.md, "Documents in a cluster"). Pure: no
 * I/O. Everything read from Redis is untrusted: route_decode checks every
 * field and bounds every size. A message never carries the app secret nor
 * anything derived from it: the identity in a request is what the sending
 * node authenticated, and the home node trusts the bus for it. */
#ifndef DOCSYNC_ROUTE_MSG_H
#define DOCSYNC_ROUTE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/bus.h"

#define ROUTE_VERSION 1
#define ROUTE_MAX_MESSAGE (4u * 1024u * 1024u) /* bytes, header included */
#define ROUTE_NODE_MAX BUS_NODE_MAX            /* bytes of a node id, NUL included */
#define ROUTE_BOOT_LEN BUS_BOOT_LEN            /* hex digits of a boot id */
#define ROUTE_SID_MAX BUS_SID_MAX              /* bytes of a socket id, NUL included */
#define ROUTE_USER_MAX 128                     /* bytes of a user id */
#define ROUTE_EVENT_MAX 32                     /* bytes of an event name, NUL included */

enum route_type {
    ROUTE_REQ = 1, /* a docsync request, for the home node */
    ROUTE_REP = 2, /* the home node's answer, for the node that asked */
};

/* Whose role the home node applies: the user's on the document's access
 * list (WebSocket requests), or the owner's (the signed HTTP API). */
enum route_role { ROUTE_ROLE_ACL = 0, ROUTE_ROLE_OWNER = 1 };

/* route_decode results: 0 or one of these. */
#define ROUTE_EFOREIGN (-1)   /* not a document route message at all */
#define ROUTE_EVERSION (-2)   /* ours, of a version this node does not know */
#define ROUTE_EMALFORMED (-3) /* ours, but a field is missing or invalid */
#define ROUTE_ETOOBIG (-4)    /* over ROUTE_MAX_MESSAGE */

/* A decoded message. `user`, `body` point into the decoded buffer. */
struct route_msg {
    enum route_type type;
    char node[ROUTE_NODE_MAX];     /* the sender's node id */
    char boot[ROUTE_BOOT_LEN + 1]; /* the sender's boot id */
    uint64_t id;                   /* REQ: the asking node's request number; REP: echoed */
    /* REQ */
    char socket_id[ROUTE_SID_MAX]; /* the client's connection on the asking node ("" = HTTP) */
    enum route_role role;
    const char *user; /* 0..ROUTE_USER_MAX bytes of UTF-8, no NUL or newline */
    size_t user_len;
    /* REQ: the docsync request event ("docsync:submit" ...); REP: the answer's
     * ("docsync:ack", "docsync:error", "docsync:catchup", "docsync:history") */
    char event[ROUTE_EVENT_MAX];
    /* REP: the boot id of the asking node, so that a node that restarted
     * never takes an answer meant for its previous life */
    char to_boot[ROUTE_BOOT_LEN + 1];
    const char *body; /* REQ: the request's data; REP: the answer; a JSON object */
    size_t body_len;
};

/* Decodes one message of `len` bytes. Returns 0 or a ROUTE_E* code. */
int route_decode(const char *buf, size_t len, struct route_msg *out);

/* Encodes into a malloc'd buffer (*out, *out_len). Returns 0 or -1 (a
 * field out of bounds, out of memory, or too big). */
int route_encode(const struct route_msg *m, char **out, size_t *out_len);

#endif
