/* sync_move: moving a document to another node (cluster mode; README.md,
 * "Moving a document"). Asked by `docsync-admin move-doc` with a MOVE on the
 * home's request channel; the home stops serving the document, drains its
 * commits, ships its stored state to the target in parts (SHIP, each
 * acknowledged with SHIPPED once taken, the last once the target's commit
 * is durable), switches the home record in Redis only if it still names
 * itself, then drops its copy. Loop thread, started and stopped by
 * sync_route. */
#ifndef DOCSYNC_SYNC_MOVE_H
#define DOCSYNC_SYNC_MOVE_H

#include <stddef.h>
#include <stdint.h>

#include "redis/redis.h"
#include "route_msg.h"
#include "sync_server.h"

struct move_env {
    struct sync_module *m;
    struct redis *rd;
    const char *node, *boot, *prefix; /* sync_route's, valid until move_stop */
    int64_t timeout_ms;               /* DOCSYNC_CLUSTER_NODE_TIMEOUT */
    size_t import_max;                /* DOCSYNC_MOVE_MAX_BYTES: one document arriving */
};

void move_start(const struct move_env *env);
void move_stop(void);

/* 1 when requests for `doc` must be refused here (`unavailable`, retry):
 * it is moving away, or has moved away (its copy here is gone or going);
 * `why` gets the message. */
int move_blocked(const char *doc, char *why, size_t cap);

/* A MOVE, SHIP or SHIPPED that arrived on this node's request channel. */
void move_on_message(const struct route_msg *msg);

/* Deadlines and the drain of a document moving away. */
void move_tick(int64_t now_ms);

/* Appends the /metrics lines to `b`. */
struct metrics_text;
void move_metrics(struct metrics_text *b);

#endif
