/* lr_msg: what a Laravel app publishes with its redis broadcast driver
 * (Illuminate\Broadcasting\Broadcasters\RedisBroadcaster), checked and
 * turned into the Pusher frame the server delivers. Pure: no Redis, no
 * sockets; the fuzz target fuzz/lr_decode.c runs it on anything.
 *
 * The app runs, for each broadcast channel,
 *     PUBLISH <prefix><channel> {"event":E,"data":D,"socket":S}
 * (through a Lua script, so phpredis puts the prefix on only once: the
 * broadcaster adds database.redis.options.prefix itself, and phpredis
 * prefixes KEYS, never ARGV). D is the event's payload (a JSON object, or
 * [] when empty) and keeps its own "socket" member; S is the X-Socket-ID of
 * the request that broadcast (toOthers) or null.
 *
 * Everything on the Redis channel is hostile: anyone who can publish on
 * that Redis can put any bytes there. */
#ifndef DOCSYNC_LR_MSG_H
#define DOCSYNC_LR_MSG_H

#include <stddef.h>

#include "pusher/message.h"

#define LR_MSG_MAX (1024 * 1024) /* bytes of one published message */
#define LR_EVENT_MAX 200         /* bytes of an event name (the HTTP API's limit) */
#define LR_PREFIX_MAX 127        /* bytes of the app's Redis prefix */
#define LR_CHANNEL_MAX 255       /* bytes of a channel name, whatever the setting */
#define LR_SOCKET_MAX 48         /* bytes of a socket id */

/* Why a message was dropped (counted by reason in /metrics). */
enum lr_err {
    LR_OK = 0,
    LR_ETOOBIG = -1,    /* more than LR_MSG_MAX bytes */
    LR_ECHANNEL = -2,   /* the Redis channel is not <prefix><a valid channel name> */
    LR_EMALFORMED = -3, /* not a JSON object with a string event and a data member */
    LR_ENOMEM = -4,
};

struct lr_msg {
    char channel[LR_CHANNEL_MAX + 1]; /* the broadcast channel, prefix removed */
    char socket[LR_SOCKET_MAX + 1];   /* the socket to skip, "" = nobody */
    struct message_frame frame;       /* {"event":E,"data":"...","channel":C}, built with
                                         MESSAGE_FRAME_HEADROOM; the caller owns it */
};

/* Checks a message published on Redis channel `channel` (clen bytes) with
 * `payload` (len bytes) under the app's `prefix`, channel names at most
 * `channel_name_max` bytes. On LR_OK fills *out, whose frame is the HTTP
 * API's event frame for the same event: data is D's JSON text as the app
 * encoded it (a JSON string D gives its value), so pusher-js and socket.io
 * clients (the server's Socket.IO form of that frame) get what they got
 * from laravel-echo-server. `socket` is copied when it is a string of at most
 * LR_SOCKET_MAX bytes, whatever it holds: broadcast_except_sid decides whom
 * it names (a socket id, a protocol 3 session id, or nobody). Returns
 * LR_OK or an lr_err; nothing to free on error. */
int lr_decode(const char *channel, size_t clen, const char *payload, size_t len, const char *prefix,
              size_t channel_name_max, struct lr_msg *out);

/* Laravel's default Redis prefix for APP_NAME `name`: Str::slug(name, '_')
 * followed by "_database_" (config/database.php), written to out (cap
 * bytes). Str::slug transliterates non-ASCII letters through a table this
 * server does not carry: a name with bytes outside ASCII returns -1 (the
 * caller asks for REDIS_PREFIX), as does a result longer than cap - 1.
 * Returns 0 or -1. */
int lr_default_prefix(const char *name, char *out, size_t cap);

/* The PSUBSCRIBE pattern matching every channel under `prefix`: the prefix
 * with Redis's glob characters (* ? [ ] \) escaped, then "*". Returns 0,
 * or -1 when it does not fit in cap bytes. */
int lr_pattern(const char *prefix, char *out, size_t cap);

#endif
