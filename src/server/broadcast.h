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

#endif
