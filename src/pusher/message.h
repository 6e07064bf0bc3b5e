/* message: the Pusher protocol 7 frames - parsing what clients send and
 * building what the server sends.
 *
 * Parsing (client -> server). message_parse takes one complete WebSocket
 * text message and, under explicit limits, checks it before cJSON sees it:
 * size <= max_bytes, valid UTF-8, no NUL byte and no "\u0000" escape, JSON
 * nesting <= max_depth, a single JSON object, no duplicate keys in the
 * top-level object or in the `data` object (JSON.parse keeps the last, cJSON
 * the first: refusing removes the ambiguity), numbers of at most 63
 * characters (JSON.stringify never writes longer ones). Then it extracts:
 *   event    required string, else MESSAGE_EINVALID
 *   channel  optional top-level string (non-string = MESSAGE_EINVALID)
 *   data     optional; if it is a string that itself parses as JSON, the
 *            decoded value is used (Reverb), the string is kept too; the raw
 *            bytes of the `data` value as sent (e.g. `{"a":1}` or
 *            `"{\"a\":1}"`) are kept for relaying client events verbatim.
 * Every failure maps to pusher:error 4200 "Invalid message format" (the
 * socket stays open); a message over max_bytes should instead be closed with
 * 1009 by the server before it gets here.
 *
 * Building (server -> client). Each builder allocates one buffer holding
 * `headroom` spare bytes (for LWS_PRE) followed by the JSON payload, exactly
 * in Reverb's key order, with JSON string escaping. Build a broadcast once
 * and share the buffer. String arguments are escaped as JSON strings:
 * control characters, '"' and '\\' are escaped, '/' and valid non-ASCII
 * UTF-8 are copied as is, and invalid UTF-8 is replaced by U+FFFD, so a
 * built frame is always a valid text message. Raw JSON arguments
 * (user_info, client event data) are inserted verbatim: pass only values
 * that came out of message_parse / message_member_decode.
 *
 * Thread-safety: a struct message is owned by one thread; functions keep no
 * global state.
 */
#ifndef DOCSYNC_MESSAGE_H
#define DOCSYNC_MESSAGE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "common/frame.h"

/* Return codes */
#define MESSAGE_OK 0
#define MESSAGE_EINVALID (-1) /* not a Pusher message: bad JSON, no event, wrong types */
#define MESSAGE_ETOOBIG (-2)  /* over max_bytes (server closes 1009) */
#define MESSAGE_EDEPTH (-3)   /* nested deeper than max_depth */
#define MESSAGE_ENUL (-4)     /* raw NUL byte or \u0000 escape */
#define MESSAGE_EUTF8 (-5)    /* invalid UTF-8 */
#define MESSAGE_EDUPKEY (-6)  /* duplicate key at the top level or in `data` */
#define MESSAGE_ELIMIT (-7)   /* presence user_id / user_info over its limit */
#define MESSAGE_ENOMEM (-8)

/* Pusher error / close codes used by the server. The band decides what
 * pusher-js does when it sees the code as a close code (or as the first
 * frame): see MESSAGE_BAND_*. The default message texts are Reverb's. */
#define PUSHER_APP_NOT_FOUND 4001      /* "Application does not exist" */
#define PUSHER_OVER_QUOTA 4004         /* "Application is over connection quota" */
#define PUSHER_UNAUTHORIZED 4009       /* "Connection is unauthorized" etc. */
#define PUSHER_OVER_CAPACITY 4100      /* "Over capacity" (presence member limit) */
#define PUSHER_GENERIC 4200            /* "Invalid message format" */
#define PUSHER_PONG_TIMEOUT 4201       /* "Pong reply not received in time" */
#define PUSHER_INACTIVE 4202           /* "Closed after inactivity" */
#define PUSHER_CLIENT_EVENT_LIMIT 4301 /* "Rate limit exceeded" / client messaging disabled */

enum message_band {
    MESSAGE_BAND_RECONNECT_1S = 0, /* < 4000: WS close codes, reconnect after ~1 s */
    MESSAGE_BAND_TLS = 1,          /* 4000: switch to TLS */
    MESSAGE_BAND_REFUSED = 2,      /* 4001-4099 and 4300-4399: do not reconnect */
    MESSAGE_BAND_BACKOFF = 3,      /* 4100-4199: reconnect with backoff */
    MESSAGE_BAND_RECONNECT_NOW = 4 /* 4200-4299: reconnect immediately */
};

/* The reconnect band of a code. */
enum message_band message_code_band(int code);

/* Reverb's default text for the PUSHER_* codes above ("" if unknown). */
const char *message_code_text(int code);

struct message_limits {
    size_t max_bytes;     /* whole message; 0 = 10000 */
    int max_depth;        /* JSON nesting; 0 = 32 */
    size_t max_user_id;   /* presence/signin user id characters; 0 = 128 */
    size_t max_user_info; /* presence user_info raw JSON bytes; 0 = 1024 */
};

/* Opaque parsed message. */
typedef struct message message;

enum message_kind {
    MESSAGE_KIND_PUSHER = 0, /* event starts with "pusher:" */
    MESSAGE_KIND_CLIENT = 1, /* event starts with "client-" */
    MESSAGE_KIND_OTHER = 2,  /* anything else, incl. pusher_internal:*: drop silently */
};

/* Parses `len` bytes at `buf` (need not be NUL-terminated). On MESSAGE_OK
 * stores a new message in *out (free with message_free). On failure *out is
 * NULL and the code says why. `limits` may be NULL (defaults). */
int message_parse(const char *buf, size_t len, const struct message_limits *limits, message **out);

/* Frees `m`; NULL is fine. */
void message_free(message *m);

/* The event name (never NULL). Borrowed; valid until message_free. */
const char *message_event(const message *m);

/* The kind of the event (by prefix). */
enum message_kind message_kind_of(const message *m);

/* The top-level "channel" string, or NULL when absent. Borrowed. */
const char *message_channel(const message *m);

/* The decoded data (object, or whatever JSON the data string held, or the
 * plain string when it did not parse as JSON), or NULL when absent or null.
 * Borrowed; valid until message_free. */
const cJSON *message_data(const message *m);

/* The raw JSON text of the `data` value exactly as sent (including quotes
 * when it was a string); NULL with *len = 0 when absent. Borrowed, not
 * NUL-terminated at `len`. */
const char *message_data_raw(const message *m, size_t *len);

/* pusher:subscribe / pusher:unsubscribe payload. Pointers are borrowed
 * from the message. */
struct message_subscribe {
    const char *channel; /* required, non-empty string */
    const char *auth;    /* NULL when absent or null ("" stays "") */
    size_t auth_len;
    const char *channel_data; /* NULL when absent, null or empty */
    size_t channel_data_len;
};

/* Extracts the subscribe fields from the message data (which must be an
 * object, directly or as a decoded string). `channel` must be a non-empty
 * string, `auth` a string or null/absent, `channel_data` a string or
 * null/absent. Works for unsubscribe (only `channel` is used). Returns
 * MESSAGE_OK or MESSAGE_EINVALID. Does not validate the channel name. */
int message_subscribe_get(const message *m, struct message_subscribe *out);

/* pusher:signin payload; borrowed pointers. */
struct message_signin {
    const char *auth;
    size_t auth_len;
    const char *user_data; /* the exact string received */
    size_t user_data_len;
};

/* Extracts `auth` and `user_data` (both required non-empty strings).
 * Returns MESSAGE_OK or MESSAGE_EINVALID. */
int message_signin_get(const message *m, struct message_signin *out);

/* A decoded presence member (or signed-in user). Owns its strings. */
struct message_member {
    char *user_id;   /* string form: "1" for 1 or "1"; NUL-terminated */
    char *user_info; /* raw compact JSON of user_info, NULL when absent/null */
};

/* Decodes presence channel_data (`len` bytes, the exact signed string):
 * a JSON object with `user_id` (non-empty string, or an integral number in
 * [-2^53, 2^53] printed without exponent or fraction) and optional
 * `user_info` (any JSON). Applies the same structural checks as
 * message_parse plus max_user_id (bytes of the id string) and max_user_info
 * (bytes of the compact user_info JSON): MESSAGE_ELIMIT beyond. Returns
 * MESSAGE_OK and fills *out (free with message_member_free) or a code and
 * leaves *out zeroed. */
int message_member_decode(const char *channel_data, size_t len, const struct message_limits *limits,
                          struct message_member *out);

/* Decodes sign-in user_data: a JSON object whose `id` is a non-empty
 * string (pusher-js rule; a number is also accepted and stringified).
 * user_info receives the `user_info` member if any. Same limits/codes. */
int message_user_data_decode(const char *user_data, size_t len, const struct message_limits *limits,
                             struct message_member *out);

/* Frees the strings of `mb` and zeroes it; NULL is fine. */
void message_member_free(struct message_member *mb);

/* A message-specific description of a MESSAGE_* code (for logs). */
const char *message_strerror(int code);

/* ---- Builders --------------------------------------------------------- */

/* One built frame: `alloc` is a malloc'd block of headroom + len (+1 for a
 * NUL after the payload, not counted in len). The payload starts at
 * alloc + headroom. Free with message_frame_free (or free(alloc)). */
struct message_frame {
    unsigned char *alloc;
    size_t headroom;
    size_t len;
};

/* The payload start. */
static inline unsigned char *message_frame_payload(const struct message_frame *f)
{
    return f->alloc + f->headroom;
}

/* Frees f->alloc and zeroes *f; NULL or an empty frame is fine. */
void message_frame_free(struct message_frame *f);

/* The headroom that lets a built message become a shareable frame (frame.h)
 * in place: message_frame_adopt() needs exactly this. */
#define MESSAGE_FRAME_HEADROOM (sizeof(struct frame) + FRAME_PRE)

/* Turns a builder result made with MESSAGE_FRAME_HEADROOM into a frame with
 * one reference, without copying: takes ownership of mf->alloc and empties
 * *mf. NULL (and *mf untouched) when mf is empty, has another headroom or
 * is larger than FRAME_MAX_LEN. */
struct frame *message_frame_adopt(struct message_frame *mf);

/* Copies `len` raw payload bytes into a new frame (e.g. to replay a cached
 * event with another headroom). Returns MESSAGE_OK or MESSAGE_ENOMEM. */
int message_frame_from(size_t headroom, const void *payload, size_t len, struct message_frame *out);

/* All builders return MESSAGE_OK or MESSAGE_ENOMEM and fill *out. String
 * arguments are NUL-terminated unless a length is given. */

/* {"event":"pusher:connection_established","data":"{\"socket_id\":\"S\",\"activity_timeout\":N}"}
 */
int message_build_connection_established(size_t headroom, const char *socket_id,
                                         unsigned activity_timeout, struct message_frame *out);

/* {"event":"pusher:error","data":"{\"code\":C,\"message\":\"M\"}"}
 * code < 0 writes `"code":null` (Pusher's invalid-signature shape). */
int message_build_error(size_t headroom, int code, const char *msg, struct message_frame *out);

/* {"event":"pusher:ping"} and {"event":"pusher:pong"} (no data key). */
int message_build_ping(size_t headroom, struct message_frame *out);
int message_build_pong(size_t headroom, struct message_frame *out);

/* {"event":"pusher_internal:subscription_succeeded","data":"<data_json escaped>","channel":"C"}
 * data_json NULL means "{}" (public/private/cache channels). */
int message_build_subscription_succeeded(size_t headroom, const char *channel,
                                         const char *data_json, struct message_frame *out);

/* One presence member as given to the presence builder. */
struct message_presence_member {
    const char *user_id;   /* string form */
    const char *user_info; /* raw JSON, NULL = null */
};

/* The presence subscription_succeeded for unique users `members[0..n)`:
 * data = "{\"presence\":{\"count\":n,\"ids\":[...],\"hash\":{\"id\":info,...}}}". */
int message_build_presence_succeeded(size_t headroom, const char *channel,
                                     const struct message_presence_member *members, size_t n,
                                     struct message_frame *out);

/* {"event":"pusher_internal:member_added","data":"{\"user_id\":\"U\",\"user_info\":I}","channel":"C"}
 * user_info NULL omits the user_info key. */
int message_build_member_added(size_t headroom, const char *channel, const char *user_id,
                               const char *user_info, struct message_frame *out);

/* {"event":"pusher_internal:member_removed","data":"{\"user_id\":\"U\"}","channel":"C"} */
int message_build_member_removed(size_t headroom, const char *channel, const char *user_id,
                                 struct message_frame *out);

/* {"event":"pusher:cache_miss","channel":"C"} */
int message_build_cache_miss(size_t headroom, const char *channel, struct message_frame *out);

/* An HTTP API event: {"event":"E","data":"<data escaped as a string>","channel":"C"}.
 * `data` is the string from the request body (data_len bytes). */
int message_build_app_event(size_t headroom, const char *event, const char *data, size_t data_len,
                            const char *channel, struct message_frame *out);

/* A relayed client event: {"event":"E","channel":"C","data":<raw>,"user_id":"U"}
 * `data_raw` is inserted verbatim (message_data_raw; NULL/0 writes null);
 * user_id NULL omits the key. */
int message_build_client_event(size_t headroom, const char *event, const char *channel,
                               const char *data_raw, size_t data_raw_len, const char *user_id,
                               struct message_frame *out);

/* {"event":"pusher:signin_success","data":{"user_data":"<escaped>"}} */
int message_build_signin_success(size_t headroom, const char *user_data, size_t user_data_len,
                                 struct message_frame *out);

/* {"event":"pusher:subscription_error","channel":"C","data":{"type":"T","error":"E","status":S}} */
int message_build_subscription_error(size_t headroom, const char *channel, const char *type,
                                     const char *error, int status, struct message_frame *out);

/* Writes the JSON string literal of `s` (`len` bytes; quotes included,
 * escaped as the builders do) to a new malloc'd NUL-terminated string in
 * *out (caller frees) and returns its length, or MESSAGE_ENOMEM. Useful for
 * HTTP API responses. */
int message_json_quote(const char *s, size_t len, char **out);

#endif
