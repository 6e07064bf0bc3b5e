/* redis: a Redis client that never blocks the loop thread.
 *
 * One thread of its own runs hiredis's asynchronous API on a libev loop of
 * its own (never the one libwebsockets runs on) with two connections to the
 * same server: one for commands (PUBLISH, EVAL, HGETALL, ...), one for
 * SUBSCRIBE / PSUBSCRIBE. The loop thread queues commands and reads results
 * the way the store writer hands back commits: the Redis thread appends what
 * it got (replies, pub/sub messages, connection changes) to a queue and
 * calls the `wake` function given to redis_new (server_wake for docsyncd);
 * the loop thread then calls redis_dispatch, which runs the callbacks, in
 * the order the Redis thread received what they report.
 *
 * Commands go out in the order they were queued on one connection, so what
 * one node publishes reaches every subscriber in that order.
 *
 * Connection loss: every command in flight and every command queued while
 * the connection is down is answered with reply NULL (never retried: the
 * caller knows whether a retry is safe). The Redis thread reconnects with
 * a backoff from 100 ms doubling to 5 s, sends AUTH and SELECT first when
 * configured, subscribes again to every channel and pattern, and reports
 * the change to the status callbacks (connected 1 / 0), which is where a
 * caller republishes what Redis may have lost.
 *
 * Threads: redis_new, redis_subscribe, redis_on_status and redis_start
 * before or on the loop thread; every other function on the loop thread
 * (the thread that calls redis_dispatch), except that `wake` runs on the
 * Redis thread. Callbacks run on the loop thread inside redis_dispatch or
 * redis_stop.
 *
 * Secrets: the password is sent in AUTH and never logged; URLs are logged
 * without their user info. */
#ifndef DOCSYNC_REDIS_H
#define DOCSYNC_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define REDIS_ENOMEM (-1)
#define REDIS_EINVAL (-2)
#define REDIS_EDOWN (-3) /* not connected: nothing was sent */
#define REDIS_EFULL (-4) /* too much queued already */

#define REDIS_HOST_MAX 256
#define REDIS_CRED_MAX 256

/* Where to connect. */
struct redis_opts {
    char host[REDIS_HOST_MAX];
    unsigned port;
    char username[REDIS_CRED_MAX]; /* "" = none (AUTH password only) */
    char password[REDIS_CRED_MAX]; /* "" = no AUTH */
    unsigned db;                   /* SELECT when not 0 */
};

/* Fills `o` from a URL: redis://[[user]:password@]host[:port][/db]
 * (port 6379 and db 0 when absent; user and password percent-decoded).
 * Returns 0, or REDIS_EINVAL with a reason (never the password) in err. */
int redis_opts_from_url(const char *url, struct redis_opts *o, char *err, size_t errlen);

/* Fills `o` as Laravel's .env names describe a connection: `url`
 * (REDIS_URL) when not empty, else host, port, user, password and db
 * (REDIS_HOST, REDIS_PORT, REDIS_USERNAME, REDIS_PASSWORD, REDIS_DB).
 * Returns 0, or REDIS_EINVAL with a reason (never the password) in err. */
int redis_opts_from_settings(const char *url, const char *host, unsigned port, const char *user,
                             const char *password, unsigned db, struct redis_opts *o, char *err,
                             size_t errlen);

/* A reply, as hiredis parsed it (types are hiredis's REDIS_REPLY_* values). */
enum redis_reply_type {
    REDIS_R_STRING = 1,
    REDIS_R_ARRAY = 2,
    REDIS_R_INTEGER = 3,
    REDIS_R_NIL = 4,
    REDIS_R_STATUS = 5,
    REDIS_R_ERROR = 6,
};

struct redis_reply {
    int type;
    long long integer;         /* INTEGER */
    char *str;                 /* STRING, STATUS, ERROR (NUL-terminated) */
    size_t len;                /* bytes of str */
    size_t n;                  /* ARRAY elements */
    struct redis_reply **elem; /* ARRAY */
};

/* Loop thread. `r` is NULL when the command could not be sent or its
 * connection was lost before the answer; it is borrowed for the call. */
typedef void (*redis_reply_fn)(void *ud, const struct redis_reply *r);

/* Loop thread: a message published on `channel` (clen bytes) with its
 * payload (len bytes, NUL-terminated copies, borrowed for the call). */
typedef void (*redis_message_fn)(void *ud, const char *channel, size_t clen, const char *payload,
                                 size_t len);

/* Loop thread: both connections are up and subscribed (1), or one was
 * lost (0). Called on every change, never twice in a row with the same
 * value. */
typedef void (*redis_status_fn)(void *ud, int connected);

struct redis;

/* A client for `o` (copied), not connected yet. `wake` is called from the
 * Redis thread when the loop thread has something to dispatch. NULL when
 * out of memory. */
struct redis *redis_new(const struct redis_opts *o, const struct logger *log,
                        void (*wake)(void *ud), void *wake_ud);

/* Subscribes to a channel (pattern 0) or a glob pattern (pattern 1), now
 * and after every reconnection; messages go to fn. Before or after
 * redis_start. Returns 0, REDIS_EINVAL or REDIS_ENOMEM. */
int redis_subscribe(struct redis *rd, const char *name, int pattern, redis_message_fn fn, void *ud);

/* Adds a status callback (at most 8). Returns 0 or REDIS_EFULL. */
int redis_on_status(struct redis *rd, redis_status_fn fn, void *ud);

/* Starts the Redis thread, which connects in the background. Returns 0 or
 * REDIS_ENOMEM. */
int redis_start(struct redis *rd);

/* Queues a command (argc arguments; lens NULL = NUL-terminated strings).
 * fn (may be NULL) gets the reply later from redis_dispatch. Returns 0, or
 * REDIS_EDOWN / REDIS_EFULL / REDIS_ENOMEM / REDIS_EINVAL, in which case fn
 * is NOT called. */
int redis_command(struct redis *rd, redis_reply_fn fn, void *ud, int argc, const char **argv,
                  const size_t *lens);

/* PUBLISH channel payload, nobody waiting for the count. */
int redis_publish(struct redis *rd, const char *channel, const char *payload, size_t len);

/* Runs the callbacks for everything the Redis thread handed over. Loop
 * thread; cheap when there is nothing. */
void redis_dispatch(struct redis *rd);

/* After the loop ended (a graceful stop): dispatches until *done becomes
 * non-zero (a reply callback sets it) or `ms` milliseconds passed. Loop
 * thread; blocks it, so only when nothing else is served any more. */
void redis_dispatch_until(struct redis *rd, const volatile int *done, unsigned ms);

/* 1 when both connections are up (as last dispatched), else 0. */
int redis_connected(const struct redis *rd);

struct redis_stats {
    int connected;
    uint64_t connects;  /* successful connections (the first one included) */
    uint64_t failures;  /* connection attempts that failed or connections lost */
    uint64_t commands;  /* commands queued */
    uint64_t refused;   /* commands refused (down, full) */
    uint64_t messages;  /* pub/sub messages dispatched */
    uint64_t dropped;   /* pub/sub messages dropped: the loop thread was too far behind */
    uint64_t in_flight; /* commands sent and not answered yet */
};
void redis_get_stats(const struct redis *rd, struct redis_stats *st);

/* Stops the thread (closing both connections), then runs the callbacks of
 * every command not answered with reply NULL. Loop thread. Safe on a
 * client never started. */
void redis_stop(struct redis *rd);

/* Frees a stopped client. NULL is fine. */
void redis_free(struct redis *rd);

#endif
