/* cluster: several docsyncd nodes behind a load balancer, joined by Redis
 * (REVERB_SCALING_ENABLED). See README.md for what is shared and what is
 * not yet. Loop thread only. */
#ifndef DOCSYNC_CLUSTER_H
#define DOCSYNC_CLUSTER_H

struct server;

/* Starts cluster mode when REVERB_SCALING_ENABLED is true (else does
 * nothing and returns 0): the Redis client, the bus relay, heartbeats,
 * /up and /metrics lines. Redis need not be up: the node serves its own
 * connections meanwhile and connects in the background. Returns 0, or -1
 * (logged) for a bad setting or out of memory. */
int cluster_start(struct server *srv);

/* Says goodbye on the bus (so the others do not wait for the heartbeat
 * timeout), stops the Redis client. Safe when not started. */
void cluster_stop(struct server *srv);

#endif
