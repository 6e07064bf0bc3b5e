/* hist_msg: the messages that carry channel history's work from the node a
 * client or publisher reached to the channel's home node, and the answer
 * back (cluster mode; format in README.md, "History in a cluster"). Pure:
 * no I/O. Everything read from Redis is untrusted: hist_decode checks every
 * field and bounds every size. A message never carries the app secret nor
 * anything derived from it. */
#ifndef DOCSYNC_HIST_MSG_H
#define DOCSYNC_HIST_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/bus.h"

#define HIST_VERSION 1
#define HIST_MAX_MESSAGE (4u * 1024u * 1024u) /* bytes, header included */
#define HIST_NODE_MAX BUS_NODE_MAX
#define HIST_BOOT_LEN BUS_BOOT_LEN

enum hist_type {
    HIST_REQ = 1, /* work for the home node */
    HIST_REP = 2, /* the home's answer, for the node that asked */
};

/* What a request asks (REQ only). */
enum hist_kind {
    HIST_PUBLISH =
        1, /* store and deliver one event: {"channel","event","data","socket_id","user_id"} */
    HIST_PAGE = 2,  /* a page of a recovery: {"channel","epoch","after","budget","probe","cont"} */
    HIST_READ = 3,  /* GET .../history: {"channel","after","limit"} */
    HIST_INBOX = 4, /* an inbox request: {"user","op",...} (inbox.c) */
};

/* hist_decode results: 0 or one of these. */
#define HIST_EFOREIGN (-1)   /* not a history message at all */
#define HIST_EVERSION (-2)   /* ours, of a version this node does not know */
#define HIST_EMALFORMED (-3) /* ours, but a field is missing or invalid */
#define HIST_ETOOBIG (-4)    /* over HIST_MAX_MESSAGE */

/* A decoded message; `body` points into the decoded buffer. */
struct hist_msg {
    enum hist_type type;
    char node[HIST_NODE_MAX];        /* the sender's node id */
    char boot[HIST_BOOT_LEN + 1];    /* the sender's boot id */
    uint64_t id;                     /* the asking node's request number (echoed in REP) */
    enum hist_kind kind;             /* REQ */
    char to_boot[HIST_BOOT_LEN + 1]; /* REP: the asking node's boot id */
    int status;                      /* REP: 100..599, as an HTTP status */
    /* REQ: a JSON object (UTF-8, no NUL); REP: UTF-8 without NUL (a JSON
     * object, or for a PAGE a JSON object line then one frame per line) */
    const char *body;
    size_t body_len;
};

/* Decodes one message of `len` bytes. Returns 0 or a HIST_E* code. */
int hist_decode(const char *buf, size_t len, struct hist_msg *out);

/* Encodes into a malloc'd buffer (*out, *out_len). Returns 0 or -1 (a field
 * out of bounds, out of memory, or too big). */
int hist_encode(const struct hist_msg *m, char **out, size_t *out_len);

#endif
