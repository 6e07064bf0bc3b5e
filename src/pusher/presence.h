/* presence: the roster of one presence channel, over unique users.
 *
 * Several connections (browser tabs) of one user count as one member: the
 * roster keeps a connection count per user id, so the caller sends
 * `member_added` only when presence_join reports a new user and
 * `member_removed` only when presence_leave reports the user's last
 * connection gone: a second tab must not announce the user twice, nor its
 * closing announce a departure while another tab stays. Ids are
 * compared as strings: callers pass the string form of numeric ids.
 *
 * The roster stores each member's user_info as JSON text (as given at the
 * user's first join; `null` when absent). Pure: no I/O, no lws. Not
 * thread-safe.
 */
#ifndef DOCSYNC_PRESENCE_H
#define DOCSYNC_PRESENCE_H

#include <stddef.h>

#define PRESENCE_ENOMEM (-1)
#define PRESENCE_EFULL (-2)  /* a new user would exceed max_members */
#define PRESENCE_ENOENT (-3) /* presence_leave for an id not in the roster */

struct presence;
struct presence_member;

/* A new empty roster, or NULL when out of memory. */
struct presence *presence_new(void);

/* Frees the roster and every member. NULL is fine. */
void presence_free(struct presence *p);

/* Adds one connection of user `id` (`id_len` bytes). `info` (`info_len`
 * bytes of JSON text, NULL = null) is stored when the user is new. When the
 * user is new and the roster already holds `max_members` users (0 = no
 * limit), fails with PRESENCE_EFULL. On success *first is 1 when this is
 * the user's first connection, and *member (optional) points to the member,
 * valid until its last connection leaves. */
int presence_join(struct presence *p, const char *id, size_t id_len, const char *info,
                  size_t info_len, size_t max_members, int *first, struct presence_member **member);

/* Removes one connection of user `id`. On success *last is 1 when that was
 * the user's last connection (the member is then freed). */
int presence_leave(struct presence *p, const char *id, size_t id_len, int *last);

/* Unique users in the roster. */
size_t presence_count(const struct presence *p);

/* Connections counted for user `id` (0 when absent). */
size_t presence_connections(const struct presence *p, const char *id, size_t id_len);

/* Iteration over members: start with *iter = 0; NULL at the end. The roster
 * must not change during an iteration. */
struct presence_member *presence_next(const struct presence *p, size_t *iter);

/* The member's id (NUL-terminated) and its length. */
const char *presence_member_id(const struct presence_member *m, size_t *len);

/* The member's user_info JSON text (NUL-terminated, "null" when none). */
const char *presence_member_info(const struct presence_member *m, size_t *len);

#endif
