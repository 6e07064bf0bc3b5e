/* bus: the messages docsyncd nodes exchange on Redis (format in README.md,
 * "The bus"), without I/O. Everything on the Redis channel is untrusted:
 * another program may publish there (a Reverb on the same Redis, an
 * operator's redis-cli, an attacker with access to Redis), so bus_decode
 * checks every field and bounds every size before anything is delivered.
 * A message never carries the app secret nor anything derived from it. */
#ifndef DOCSYNC_BUS_H
#define DOCSYNC_BUS_H

#include <stddef.h>
#include <stdint.h>

#define BUS_VERSION 1
#define BUS_MAX_MESSAGE (1024u * 1024u) /* bytes, header included */
#define BUS_NODE_MAX 64                 /* bytes of a node id, NUL included */
#define BUS_BOOT_LEN 16                 /* hex digits of a boot id */
#define BUS_SID_MAX 24                  /* bytes of a socket id, NUL included */

enum bus_type {
    BUS_EVENT = 1,     /* a frame for a channel's subscribers on every other node */
    BUS_BEAT = 2,      /* a node is alive, with its connection count */
    BUS_BYE = 3,       /* a node stops gracefully */
    BUS_TERMINATE = 4, /* close every connection of a user (terminate_connections) */
    BUS_MEMBER = 5,    /* a presence member added or removed, published by Redis scripts
                          (roster.c): seq is the cluster's presence sequence, not the node's */
};
#define BUS_TYPE_LAST BUS_MEMBER

#define BUS_USER_MAX 1024 /* bytes of a user id in TERMINATE */

/* bus_decode results: 0 or one of these (each counted by reason). */
#define BUS_EFOREIGN (-1)   /* not a docsyncd bus message at all */
#define BUS_EVERSION (-2)   /* a docsyncd bus message of a version this node does not know */
#define BUS_EMALFORMED (-3) /* ours, but a field is missing or invalid */
#define BUS_ETOOBIG (-4)    /* over BUS_MAX_MESSAGE */

/* A decoded message. Strings point into the decoded buffer (not
 * NUL-terminated unless said so); valid as long as it is. */
struct bus_msg {
    enum bus_type type;
    char node[BUS_NODE_MAX];     /* NUL-terminated */
    char boot[BUS_BOOT_LEN + 1]; /* NUL-terminated */
    uint64_t seq;                /* per (node, boot), from 1, +1 per message */
    /* EVENT */
    const char *channel;
    size_t channel_len;
    char except[BUS_SID_MAX]; /* "" = nobody excluded */
    const char *body;         /* the Pusher frame exactly as delivered */
    size_t body_len;
    /* BEAT */
    uint64_t connections;
    /* TERMINATE, MEMBER: the user id (1 to BUS_USER_MAX bytes of UTF-8, no NUL) */
    const char *user;
    size_t user_len;
    /* MEMBER: channel (a presence channel), except (the joiner), user, and */
    int added;        /* 1: member_added, 0: member_removed */
    const char *info; /* the member's user_info, one JSON value */
    size_t info_len;
};

/* 1 when `s` (len bytes) is a valid node id: 1 to 63 of [A-Za-z0-9._:-]. */
int bus_node_id_valid(const char *s, size_t len);

/* The field readers of bus_decode, shared with the other messages between
 * nodes (sync/route_msg.c). A cursor over a message: fields end at `sep`. */
struct bus_cur {
    const char *p, *end;
};

/* The next field up to `sep` (consumed); NULL when there is no `sep`. */
const char *bus_field(struct bus_cur *c, char sep, size_t *len);

/* Decimal without sign or leading zeros, at most 2^63-1: 0 or -1. */
int bus_u64(const char *s, size_t len, uint64_t *out);

/* 1 when `s` is a Pusher socket id as the server makes them (digits '.'
 * digits, shorter than BUS_SID_MAX). */
int bus_sid_valid(const char *s, size_t len);

/* 1 when `s` is a boot id: BUS_BOOT_LEN lower-case hex digits. */
int bus_hex_valid(const char *s, size_t len);

/* Decodes one message of `len` bytes. `channel_max` bounds channel names
 * (DOCSYNC_CHANNEL_NAME_MAX). Returns 0 or a BUS_E* code. */
int bus_decode(const char *buf, size_t len, size_t channel_max, struct bus_msg *out);

/* Encodes into a malloc'd buffer (*out, *out_len). EVENT uses channel,
 * except (NULL or "") and body; BEAT uses connections; TERMINATE user;
 * MEMBER channel, except, added, user and info (Redis scripts build the
 * same bytes, roster.c). Returns 0 or -1 (out of memory, or too big). */
int bus_encode(const struct bus_msg *m, char **out, size_t *out_len);

#endif
