/* sio: Socket.IO packets (inside Engine.IO message packets) as
 * laravel-echo's socket.io connector and laravel-echo-server use them, and
 * the translation of the server's Pusher frames into them. Pure functions;
 * the fuzz target `sio_parse` exercises the parser.
 *
 * A packet is a type digit, then optionally "<n>-" (binary attachments),
 * "/<namespace>," (the default namespace "/" is implied when absent), an
 * ack id in digits, then JSON: `2["subscribe",{"channel":"private-a"}]`.
 * Only the default namespace and text packets are served; other
 * namespaces and binary packets are refused with their own codes, so that
 * the server can answer with a clear error. */
#ifndef DOCSYNC_SIO_H
#define DOCSYNC_SIO_H

#include <stddef.h>

#include "common/frame.h"

struct cJSON;

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT = 1,
    SIO_EVENT = 2,
    SIO_ACK = 3,
    SIO_CONNECT_ERROR = 4,
    SIO_BINARY_EVENT = 5,
    SIO_BINARY_ACK = 6,
};

#define SIO_OK 0
#define SIO_EINVALID (-1) /* not a Socket.IO packet, or its JSON is bad */
#define SIO_EBINARY (-2)  /* binary packet (attachments) */
#define SIO_ENSP (-3)     /* a namespace other than "/" */
#define SIO_EDEPTH (-4)   /* JSON nested deeper than allowed */

struct sio_packet {
    int type;         /* enum sio_type */
    long ack;         /* ack id, -1 when none */
    const char *json; /* the JSON after the header (may be empty) */
    size_t json_len;
};

/* Parses one packet (an Engine.IO message's data). The JSON, when present,
 * is checked strictly (pusher/json_check.h) with nesting <= max_depth.
 * Returns SIO_OK or an error code. */
int sio_packet_parse(const char *p, size_t n, int max_depth, struct sio_packet *out);

/* The arguments of an EVENT packet whose JSON was checked: a new cJSON
 * array whose first element is the event name (a string), or NULL when the
 * JSON is not such an array. The caller deletes it. */
struct cJSON *sio_event_args(const struct sio_packet *pk);

/* The Socket.IO form of one of the server's Pusher frames, as
 * laravel-echo-server emits it: `42["<event>","<channel>",<data>]` (data
 * that is a JSON string holding an object or array goes as that value),
 * presence frames as presence:subscribed / presence:joining /
 * presence:leaving, pusher:subscription_error as
 * `subscription_error (channel, status)`, pusher:error as
 * `error {code, message}`. Frames that mean nothing to a Socket.IO client
 * (pings, connection_established, a plain channel's
 * subscription_succeeded, cache_miss) become an empty frame. The result is
 * cached on `f` (frame.h: `alt`), so a broadcast is translated once
 * whatever the number of Socket.IO subscribers; borrowed, NULL when out of
 * memory. */
struct frame *sio_frame_for(struct frame *f);

/* presence:leaving for a member who left `channel`, with the user_info it
 * joined with (`info`: JSON text, NULL for none): Echo's leaving()
 * callback gets the user_info, which Pusher's member_removed does not
 * carry. A new frame, or NULL. */
struct frame *sio_frame_leaving(const char *channel, const char *user_id, const char *info);

#endif
