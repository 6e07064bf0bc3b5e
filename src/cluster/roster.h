/* roster: presence and channel counts for the whole cluster, kept in Redis
 * (README.md, "Presence across nodes"). Every join and leave of a presence
 * channel is one Lua script run atomically by Redis, which also publishes
 * the member_added / member_removed that follows on the bus, so every node
 * hears the member events of a channel in one order. Each node keeps a view
 * of the rosters its subscribers know and answers their subscriptions from
 * it; with Redis down it serves that view and its own connections as a lone
 * server would, and republishes its entries when Redis is back. Loop thread
 * only. */
#ifndef DOCSYNC_ROSTER_H
#define DOCSYNC_ROSTER_H

#include "bus.h"

struct server;
struct redis;
struct roster;

struct roster_env {
    struct server *srv;
    struct redis *rd;
    const char *node;   /* this node's id */
    const char *boot;   /* this life's boot id */
    const char *prefix; /* REVERB_SCALING_CHANNEL */
    const char *bus;    /* the bus channel, where the scripts publish */
};

/* Registers the server hooks (presence joins and leaves, subscription
 * counts, the HTTP API's channel queries) and a timer. Strings in `env`
 * are borrowed for the roster's life. NULL when out of memory or a hook
 * cannot be registered (logged). */
struct roster *roster_start(const struct roster_env *env);

/* A BUS_MEMBER message from the bus (this node's own included). */
void roster_on_member(struct roster *r, const struct bus_msg *m);

/* Redis came back (1: the node republishes its entries and resyncs its
 * views) or was lost (0). */
void roster_on_status(struct roster *r, int up);

/* Every heartbeat: this life's beat in Redis (republishing when Redis had
 * lost it), then the removal of lives silent for `timeout_s` seconds. */
void roster_tick(struct roster *r, unsigned timeout_s);

/* Appends the roster's /metrics lines to `b`. */
struct metrics_text;
void roster_metrics(struct roster *r, struct metrics_text *b);

/* Graceful stop, after the loop ended: removes this life's entries from
 * Redis (the others hear member_removed at once), waiting at most half a
 * second. */
void roster_stop(struct roster *r);

/* Frees what is left (after redis_stop). NULL is fine. */
void roster_free(struct roster *r);

#endif
