/* channel_name: what a Pusher channel name means, and whether it is valid.
 *
 * Classification uses the dashed prefixes (pusher-js, Laravel, soketi), in
 * this order (first match wins):
 *   "#server-to-user-"          CHANNEL_KIND_SERVER_TO_USER (signed-in user only)
 *   "private-encrypted-cache-"  CHANNEL_KIND_PRIVATE_ENCRYPTED (no cache, as Reverb)
 *   "private-encrypted-"        CHANNEL_KIND_PRIVATE_ENCRYPTED
 *   "private-cache-"            CHANNEL_KIND_PRIVATE_CACHE
 *   "presence-cache-"           CHANNEL_KIND_PRESENCE_CACHE
 *   "cache-"                    CHANNEL_KIND_CACHE
 *   "private-"                  CHANNEL_KIND_PRIVATE
 *   "presence-"                 CHANNEL_KIND_PRESENCE
 *   anything else               CHANNEL_KIND_PUBLIC
 *
 * Validation: 1..max_len bytes; every byte in [-a-zA-Z0-9_=@,.;] except
 * that a "#server-to-user-" channel starts with '#'; and for a prefixed kind
 * the part after the prefix is non-empty ("private-" alone is refused).
 * Pure functions, no allocation, thread-safe. Names are (ptr, len): they
 * need not be NUL-terminated.
 */
#ifndef DOCSYNC_CHANNEL_NAME_H
#define DOCSYNC_CHANNEL_NAME_H

#include <stddef.h>

enum channel_kind {
    CHANNEL_KIND_PUBLIC = 0,
    CHANNEL_KIND_PRIVATE,
    CHANNEL_KIND_PRIVATE_ENCRYPTED,
    CHANNEL_KIND_PRESENCE,
    CHANNEL_KIND_CACHE,
    CHANNEL_KIND_PRIVATE_CACHE,
    CHANNEL_KIND_PRESENCE_CACHE,
    CHANNEL_KIND_SERVER_TO_USER,
};

#define CHANNEL_NAME_OK 0
#define CHANNEL_NAME_EEMPTY (-1)   /* zero length */
#define CHANNEL_NAME_ETOOLONG (-2) /* more than max_len bytes */
#define CHANNEL_NAME_ECHAR (-3)    /* a byte outside the allowed set */
#define CHANNEL_NAME_ESUFFIX (-4)  /* nothing after the type prefix */

#define CHANNEL_NAME_DEFAULT_MAX 200
#define CHANNEL_NAME_SERVER_TO_USER_PREFIX "#server-to-user-"

/* The kind of `name` (see the table above). Does not validate. */
enum channel_kind channel_name_kind(const char *name, size_t len);

/* Length of the type prefix of `kind` as matched in `name` (0 for public):
 * e.g. 8 for "private-x", 24 for "private-encrypted-cache-x". */
size_t channel_name_prefix_len(const char *name, size_t len);

/* Returns CHANNEL_NAME_OK or the first CHANNEL_NAME_E* problem. */
int channel_name_validate(const char *name, size_t len, size_t max_len);

/* Predicates on a kind (1 = yes). */
int channel_kind_needs_auth(
    enum channel_kind kind); /* private, encrypted, presence(+cache), private-cache */
int channel_kind_is_presence(enum channel_kind kind); /* presence, presence-cache */
int channel_kind_is_cache(enum channel_kind kind);    /* cache, private-cache, presence-cache */
int channel_kind_is_encrypted(enum channel_kind kind);
int channel_kind_is_private(
    enum channel_kind kind); /* private, private-cache, encrypted (not presence) */

/* A static lower-case name for a kind: "public", "private", ... */
const char *channel_kind_name(enum channel_kind kind);

/* For a "#server-to-user-<id>" name: the id part (borrowed pointer into
 * `name`) with its length in *id_len; NULL for any other kind or an empty
 * id. */
const char *channel_name_user_id(const char *name, size_t len, size_t *id_len);

/* A static description of a CHANNEL_NAME_* code. */
const char *channel_name_strerror(int code);

/* Whether s[0..len) has the shape of a Pusher socket id: one or more
 * digits, a dot, one or more digits ("123.456"). Callers bound the length
 * themselves (what they store it in). */
int socket_id_shape(const char *s, size_t len);

#endif
