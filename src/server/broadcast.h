/* broadcast: a frame to every subscriber of a channel, as modules use it.
 * Loop thread only. The frame is built once and shared by reference, so a
 * delivery costs a queue slot, never a copy. */
#ifndef DOCSYNC_BROADCAST_H
#define DOCSYNC_BROADCAST_H

#include "common/frame.h"

struct server;
struct conn;

/* Queues `f` to every subscriber of `channel` except `except` (NULL =
 * nobody excluded); cache channels remember it as their last event. A
 * reference is taken per delivery; the caller keeps its own. Returns the
 * number of deliveries queued, 0 when the channel has no subscribers. */
int broadcast_frame(struct server *srv, const char *channel, struct frame *f,
                    const struct conn *except);

/* Tells `allowed` every subscriber of `channel` (its user as conn_user_id
 * reports it); each one for which it returns 0 gets `notice` (a prebuilt
 * frame; NULL = none) and is unsubscribed at once, the other presence
 * members hearing member_removed as usual. For an access that was revoked:
 * a subscription must not outlive the right that granted it. Returns how
 * many connections were unsubscribed, or SERVER_ENOMEM (nobody was). */
int broadcast_revoke(struct server *srv, const char *channel,
                     int (*allowed)(void *ctx, const struct conn *c, const char *channel),
                     void *ctx, struct frame *notice);

/* Calls fn with the name (nlen bytes, NUL-terminated) of every channel that
 * has subscribers and whose name starts with `prefix`, in no particular
 * order. fn must not subscribe or unsubscribe anyone (collect the names,
 * then act). */
void broadcast_each_channel(struct server *srv, const char *prefix,
                            void (*fn)(void *ctx, const char *name, size_t nlen), void *ctx);

#endif
