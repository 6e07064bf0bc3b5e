/* laravel_redis: Laravel's redis broadcast driver as an input, as
 * laravel-echo-server consumed it (README.md). Loop thread only. */
#ifndef DOCSYNC_LARAVEL_REDIS_H
#define DOCSYNC_LARAVEL_REDIS_H

struct server;

/* Starts the input when DOCSYNC_REDIS_BROADCAST is true, or is empty and
 * the app's .env says BROADCAST_CONNECTION=redis (or, without it,
 * BROADCAST_DRIVER=redis); else does nothing and returns 0. Redis need not
 * be up: the client connects in the background and subscribes again after
 * every reconnection. Returns 0, or -1 (logged) for a bad setting (an
 * APP_NAME whose prefix cannot be derived without REDIS_PREFIX, a bad
 * REDIS_URL) or out of memory. */
int laravel_redis_start(struct server *srv);

/* Stops the Redis client. Safe when not started. */
void laravel_redis_stop(struct server *srv);

#endif
