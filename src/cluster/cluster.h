/* cluster: several docsyncd nodes behind a load balancer, joined by Redis
 * (REVERB_SCALING_ENABLED). See README.md for what is shared and what is
 * not yet. Loop thread only. */
#ifndef DOCSYNC_CLUSTER_H
#define DOCSYNC_CLUSTER_H

#include <stddef.h>

struct server;
struct frame;
struct redis;
struct redis_reply;

/* Starts cluster mode when REVERB_SCALING_ENABLED is true (else does
 * nothing and returns 0): the Redis client, the bus relay, heartbeats,
 * /up and /metrics lines. Redis need not be up: the node serves its own
 * connections meanwhile and connects in the background. Returns 0, or -1
 * (logged) for a bad setting or out of memory. */
int cluster_start(struct server *srv);

/* Says goodbye on the bus (so the others do not wait for the heartbeat
 * timeout), stops the Redis client. Safe when not started. */
void cluster_stop(struct server *srv);

/* ---- For modules that place work on nodes (sync/: documents' home nodes) ----
 * Loop thread. Each is NULL / 0 when cluster mode is off or stopped. */

/* The cluster's Redis client (sync/ sends its document requests on it, so
 * that they and the bus keep one order). */
struct redis *cluster_redis(void);

/* This node's id and boot id (16 hex digits). */
const char *cluster_node_id(void);
const char *cluster_boot_id(void);

/* REVERB_SCALING_CHANNEL, the prefix of every key and channel. */
const char *cluster_prefix(void);

/* 1 when `node` is this node or a node heard from within the timeout. */
int cluster_node_alive(const char *node);

/* Home records: `<prefix>:<kind>-home:<id>` names the node that alone holds
 * a thing (sync/: kind "doc", a document; history/: kind "hist", a history
 * channel or an inbox). Asks Redis where `id` lives; with `claim`, makes it
 * this node's when no node has it, in the same round trip (SET key node NX
 * GET: the answer is nil when it was free, now this node's). fn gets the
 * reply (NULL: the connection was lost): nil, or a string naming the node.
 * Returns 0, or -1 when it was not sent (fn is then not called). */
int cluster_home_lookup(const char *kind, const char *id, int claim,
                        void (*fn)(void *ud, const struct redis_reply *r), void *ud);

/* Publishes a frame for `channel` on the bus as the relay of a publisher
 * frame does, for the channels that are not relayed by themselves
 * (private-document.*: only a document's home node publishes them).
 * Returns 0, or -1 when it was not sent (counted unsent). */
int cluster_publish(const char *channel, struct frame *f, const char *except_sid);

#endif
