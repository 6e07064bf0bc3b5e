/* sign: HMAC-SHA256 signatures of the Pusher protocol (OpenSSL).
 *
 * Three things are signed with the app secret (lowercase hex, 64 chars):
 *   - channel subscriptions: "<socket_id>:<channel>" (private, encrypted) or
 *     "<socket_id>:<channel>:<channel_data>" (presence, or any subscribe that
 *     carries a non-empty channel_data); `auth` = "<app_key>:<hex>";
 *   - user sign-in: "<socket_id>::user::<user_data>"; same `auth` form;
 *   - HTTP API requests: "METHOD\nPATH\nk1=v1&k2=v2..." with the query's
 *     parameters sorted by key (see sign_http_verify).
 * `channel_data` / `user_data` are hashed as the exact bytes received.
 *
 * Every comparison of a signature is constant-time (CRYPTO_memcmp over equal
 * lengths; a length mismatch fails without an early data-dependent exit).
 * Nothing here logs; callers must not log `auth` values or the secret.
 *
 * All functions are pure (no globals, no clock: `now` is passed in) and
 * thread-safe.
 */
#ifndef DOCSYNC_SIGN_H
#define DOCSYNC_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SIGN_HEX_LEN 64 /* HMAC-SHA256 as lowercase hex, without NUL */
#define SIGN_MD5_HEX_LEN 32

/* Result codes. Every verification failure maps to HTTP 401 (see
 * sign_http_status) or, for channel/user auth, to pusher:error 4009. */
#define SIGN_OK 0
#define SIGN_ESIGNATURE (-1) /* HMAC mismatch, malformed or missing auth/auth_signature */
#define SIGN_EKEY (-2)       /* auth_key / key part of `auth` missing or not the app key */
#define SIGN_ETIMESTAMP (-3) /* auth_timestamp missing, malformed or outside the window */
#define SIGN_EVERSION (-4)   /* auth_version missing or not "1.0" */
#define SIGN_EBODYMD5 (-5)   /* body_md5 missing for a non-empty body, or not its MD5 */
#define SIGN_EDUPLICATE (-6) /* a query parameter appears twice */
#define SIGN_EQUERY (-7)     /* malformed query (bad percent-escape, NUL, too long) */
#define SIGN_ENOMEM (-8)

/* Upper bounds, to keep work per request bounded. */
#define SIGN_QUERY_MAX_PARAMS 64
#define SIGN_QUERY_MAX_LEN 8192

/* Writes hex(HMAC-SHA256(key, msg)) as 64 lowercase hex chars plus a NUL
 * into `out`. */
void sign_hmac_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   char out[SIGN_HEX_LEN + 1]);

/* Writes hex(MD5(data)) as 32 lowercase hex chars plus a NUL into `out`. */
void sign_md5_hex(const void *data, size_t len, char out[SIGN_MD5_HEX_LEN + 1]);

/* Constant-time equality of two byte strings: returns 1 when equal. The
 * running time depends only on the lengths, never on where they differ. */
int sign_equal(const void *a, size_t a_len, const void *b, size_t b_len);

/* Builds the `auth` value "<key>:<hex>" for a channel subscription (the
 * string signed is described above; channel_data NULL or empty = private
 * form). Writes at most `cap` bytes including the NUL into `out`. Returns
 * the length, or SIGN_ENOMEM when `cap` is too small. Used by tests and
 * tools; the server only verifies. */
int sign_channel_auth_make(const char *key, const char *secret, const char *socket_id,
                           const char *channel, const char *channel_data, size_t channel_data_len,
                           char *out, size_t cap);

/* Verifies a subscription `auth` value (`auth_len` bytes, may be NULL =
 * absent) for `socket_id` and `channel`. `channel_data` (NULL or
 * `channel_data_len` 0 = none) is appended to the signed string when
 * present, as Reverb does for every guarded channel type. The part before
 * the first ':' must equal `key` (constant-time); an auth without ':' fails.
 * Returns SIGN_OK, SIGN_EKEY or SIGN_ESIGNATURE. */
int sign_channel_auth_verify(const char *key, const char *secret, const char *socket_id,
                             const char *channel, const char *channel_data, size_t channel_data_len,
                             const char *auth, size_t auth_len);

/* Verifies a `pusher:signin` auth over "<socket_id>::user::<user_data>".
 * Same rules and results as sign_channel_auth_verify. */
int sign_user_auth_verify(const char *key, const char *secret, const char *socket_id,
                          const char *user_data, size_t user_data_len, const char *auth,
                          size_t auth_len);

/* Builds the signin `auth` value (tests/tools). Returns the length or
 * SIGN_ENOMEM. */
int sign_user_auth_make(const char *key, const char *secret, const char *socket_id,
                        const char *user_data, size_t user_data_len, char *out, size_t cap);

/* ---- Query strings ---------------------------------------------------- */

/* One decoded parameter. Both strings are NUL-terminated and owned by the
 * sign_query that holds them. */
struct sign_query_param {
    char *key;
    char *value; /* "" for `k` or `k=` */
};

struct sign_query {
    struct sign_query_param *params; /* in URL order */
    size_t count;
};

/* Parses a raw query string (without the leading '?'; NULL/empty = no
 * parameters) into decoded key/value pairs: split on '&', empty segments
 * skipped, split each at the first '=', percent-decode both sides and turn
 * '+' into a space (PHP and form decoding, what Reverb signs). A bad escape
 * (`%zz`, truncated `%4`), a decoded NUL, more than SIGN_QUERY_MAX_PARAMS
 * parameters or more than SIGN_QUERY_MAX_LEN bytes give SIGN_EQUERY;
 * a key that appears twice gives SIGN_EDUPLICATE. On success fills `out`
 * (free with sign_query_free); on failure `out` is empty. */
int sign_query_parse(const char *query, size_t len, struct sign_query *out);

/* Frees the parameters; the struct itself is the caller's. NULL is fine. */
void sign_query_free(struct sign_query *q);

/* The decoded value of `key`, or NULL when absent. Borrowed from `q`. */
const char *sign_query_get(const struct sign_query *q, const char *key);

/* ---- HTTP API requests ------------------------------------------------ */

/* Verifies a signed HTTP API request.
 *   method     "GET"/"POST" as received (upper-cased for signing)
 *   path       the request path WITHOUT the server prefix, e.g. "/apps/3/events"
 *   query      the raw query string (no '?'), `query_len` bytes
 *   body       the raw body, `body_len` bytes (NULL/0 = none)
 *   key/secret the app credentials
 *   now        current Unix time in seconds (no hidden clock)
 *   window     allowed |now - auth_timestamp| in seconds; 0 disables the
 *              timestamp check (Reverb), but auth_timestamp must still be
 *              present because it is part of the signed string
 * Checks, in order: query parses (SIGN_EQUERY/SIGN_EDUPLICATE), auth_key
 * equals `key` (SIGN_EKEY), auth_version is "1.0" (SIGN_EVERSION),
 * auth_timestamp is an integer within the window (SIGN_ETIMESTAMP), a
 * non-empty body has body_md5 = hex MD5 of the body, and a supplied body_md5
 * matches the body even when it is empty (SIGN_EBODYMD5), and auth_signature
 * equals HMAC(secret, METHOD\nPATH\nk1=v1&k2=v2...) with all parameters but
 * auth_signature, sorted by decoded key bytewise (SIGN_ESIGNATURE).
 *
 * Keys and values are written decoded except for the bytes that would make
 * the list split in more than one way: '%' and '&' in keys and values and
 * '=' in keys are written %25, %26 and %3D (uppercase hex). So one string to
 * sign stands for one set of parameters: `a=x&b=y` (two parameters) and
 * `a=x%26b%3Dy` (one, a="x&b=y") sign differently. For every value without
 * '%' or '&' this is the decoded value, which is what the Pusher SDKs sign
 * (a raw '=' in a value stays: channel names may contain it, and a key never
 * holds one, so the first '=' of a part always ends its key). Returns SIGN_OK
 * or the first failing code. */
int sign_http_verify(const char *method, const char *path, const char *query, size_t query_len,
                     const void *body, size_t body_len, const char *key, const char *secret,
                     int64_t now, unsigned window);

/* Builds the string to sign (described at sign_http_verify) for `method`,
 * `path` and the already parsed query `q` (auth_signature excluded) into a malloc'd NUL-terminated
 * string stored in *out (caller frees). Returns its length or SIGN_ENOMEM. Exposed for tests and
 * for signing tools. */
int sign_http_string(const char *method, const char *path, const struct sign_query *q, char **out);

/* The HTTP status for a sign_http_verify result: 200 for SIGN_OK, 500 for
 * SIGN_ENOMEM, else 401. */
int sign_http_status(int code);

/* The response body for a failed sign_http_verify (Reverb/Pusher wording,
 * static string), e.g. "Authentication signature invalid." for
 * SIGN_ESIGNATURE and SIGN_EBODYMD5, "Invalid auth_key." ... */
const char *sign_http_message(int code);

/* A static description of a SIGN_* code, for logs. */
const char *sign_strerror(int code);

#endif
