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

/* Versions this node reads (README.md, "Documents in a cluster"): 2 adds
 * events to 1 and changes nothing else; 3 adds a SHIP whose base snapshot
 * travels in parts (README.md, "Moving a document"). A message is sent in
 * the lowest version that carries it. */
#define ROUTE_VERSION_MIN 1
#define ROUTE_VERSION 3
#define ROUTE_MAX_MESSAGE (4u * 1024u * 1024u) /* bytes, header included */
#define ROUTE_NODE_MAX BUS_NODE_MAX            /* bytes of a node id, NUL included */
#define ROUTE_BOOT_LEN BUS_BOOT_LEN            /* hex digits of a boot id */
#define ROUTE_SID_MAX BUS_SID_MAX              /* bytes of a socket id, NUL included */
#define ROUTE_USER_MAX 128                     /* bytes of a user id */
#define ROUTE_EVENT_MAX 32                     /* bytes of an event name, NUL included */

enum route_type {
    ROUTE_REQ = 1, /* a docsync request, for the home node */
    ROUTE_REP = 2, /* the home node's answer, for the node that asked */
    /* Moving a document to another node (README.md, "Moving a document"):
     * each carries a token line (16 hex digits) and a JSON object. */
    ROUTE_MOVE = 3,    /* docsync-admin -> the home: move {documentId, to}; token: the reply's */
    ROUTE_SHIP = 4,    /* the home -> the target: one part of the document; token: the move's */
    ROUTE_SHIPPED = 5, /* the target -> the home: a part taken (or the import failed) */
    ROUTE_MOVED = 6,   /* the home -> docsync-admin: the move's outcome */
    /* Version 2: the home -> every node, on <prefix>:acl: a document's
     * access list changed; the JSON object carries the whole new list. */
    ROUTE_ACL = 7,
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
    int version; /* decoded: the message's; to encode: 0 = the lowest that carries it */
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
     * never takes an answer meant for its previous life; MOVE, MOVED: the
     * token naming docsync-admin's reply channel; SHIP, SHIPPED: the move's
     * token (drawn by the home for each move) */
    char to_boot[ROUTE_BOOT_LEN + 1];
    const char *body; /* REQ: the request's data; REP: the answer; a JSON object */
    size_t body_len;
};

/* Decodes one message of `len` bytes. Returns 0 or a ROUTE_E* code. */
int route_decode(const char *buf, size_t len, struct route_msg *out);

/* Encodes into a malloc'd buffer (*out, *out_len). Returns 0 or -1 (a
 * field out of bounds, out of memory, or too big). */
int route_encode(const struct route_msg *m, char **out, size_t *out_len);

/* ---- one part of a document shipped to its new home (a SHIP's body) ----
 * {"documentId":"d","part":1,"last":false,"head":H,"meta":"<base64>",
 *  "acl":[["user","editor"],...],
 *  "base":{"version":T,"ts":tsMs,"state":"<base64 snapshot>"},
 *  "seqs":[["client",seq,version,"owner or empty"],...],
 *  "ops":[[version,tsMs,seq,"user","client","<base64 update>"],...]}
 * `meta`, `acl` and `base` in part 1 only; `base` when the source's older
 * ops were dropped: the document starts at T from that snapshot. `seqs`:
 * the sequence index, in any part. Ops in version order, each part's first
 * op the one after the previous part's last (the first op is version 1,
 * or T + 1 after a base), the last part's last op version `head`.
 *
 * Version 3 (a base too large for one part): part 1's base also says the
 * snapshot's size and SHA-256 and carries its first bytes,
 *  "base":{"version":T,"ts":tsMs,"size":N,"sha256":"<64 hex>","offset":0,"state":"<base64>"},
 * and each following part carries the next bytes, "base":{"offset":O,"state":"<base64>"},
 * until O + its bytes = N; ops come only once the base is whole. Version 1
 * and 2 parts never carry `size` or `offset` (a base there is whole).
 * Checked as hostile input: route_ship_parse refuses anything else; the
 * receiver checks the offsets against what it holds and the hash once whole. */
#define ROUTE_SHIP_ACL_MAX 10000  /* access-list entries of a shipped document */
#define ROUTE_SHIP_OPS_MAX 100000 /* ops in one part */
#define ROUTE_SHIP_SEQS_MAX 10000 /* sequence-index records in one part */
/* Bytes of a base snapshot (version 3's declared size): the store's bound
 * of a snapshot; the receiver bounds it again by what it takes at once. */
#define ROUTE_SHIP_BASE_MAX (256u * 1024u * 1024u)

struct route_ship_seq {
    const char *client, *owner; /* owner "" = unknown */
    uint64_t seq, version;
};

struct route_ship_op {
    uint64_t version, ts_ms, seq;
    const char *user, *client; /* NUL-terminated, into the parsed tree */
    uint8_t *data;             /* decoded update (malloc'd, freed by route_ship_free) */
    size_t len;
};

struct route_ship_acl {
    const char *user;
    int role; /* 1 viewer, 2 editor, 3 owner (enum store_role) */
};

struct route_ship {
    void *json; /* the parsed tree the strings point into */
    const char *doc;
    uint64_t part, head;
    int last;
    uint8_t *meta; /* decoded (malloc'd), NULL when none */
    size_t meta_len;
    struct route_ship_acl *acl;
    size_t nacl;
    struct route_ship_op *ops;
    size_t nops;
    struct route_ship_seq *seqs;
    size_t nseqs;
    int has_base; /* part 1: starts at base_version from a snapshot of base_size bytes */
    uint64_t base_version, base_ts;
    size_t base_size;
    int base_hashed; /* version 3: base_sha256 is the whole snapshot's */
    uint8_t base_sha256[32];
    int has_chunk; /* bytes of the base: base_state, at base_offset */
    size_t base_offset;
    uint8_t *base_state; /* malloc'd */
    size_t base_len;
};

/* ---- an access list that changed on its document's home (an ACL body) ----
 * {"documentId":"d","acl":[["user","editor"],...]}: the whole list after
 * the change (empty: the document has none). At most ROUTE_SHIP_ACL_MAX
 * entries, users as the store takes them, roles known. */
struct route_acl {
    void *json; /* the parsed tree the strings point into */
    const char *doc;
    struct route_ship_acl *acl;
    size_t nacl;
};
int route_acl_parse(const char *body, size_t len, struct route_acl *out, const char **why);
void route_acl_free(struct route_acl *a);

/* Parses and checks a SHIP body of a message of `version`: ids within the
 * store's limits and without control bytes, roles known, versions
 * consecutive from `next_version` (the version the part must start at; for
 * a part 1 with a base, base + 1) and never past head, a base at most head,
 * base64 valid; version 3's base fields (a size of 1..ROUTE_SHIP_BASE_MAX,
 * bytes within it, no op in a part 1 whose base is not whole). Returns 0
 * (free with route_ship_free) or -1 with *why set (a static text). */
int route_ship_parse(const char *body, size_t len, int version, uint64_t next_version,
                     struct route_ship *out, const char **why);
void route_ship_free(struct route_ship *s);

#endif
