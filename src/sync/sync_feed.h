/* sync_feed: the server's own activity feed. Document activity (edits,
 * coalesced per user and document over DOCSYNC_ACTIVITY_COALESCE_MS, and the
 * joins and leaves of presence-document.{id}) becomes entries of the
 * hash-chained activity log (sync_activity.h gives their shape) and, once
 * each is committed, an `App\Events\UserActivity` event on
 * `private-activity` carrying its offset, so that the Echo listener apps
 * already have for their own UserActivity shows it too.
 *
 * It hears of edits and presence through the server's channel observers
 * (broadcast_observe, server/broadcast.h): the engine's document_updated,
 * once per committed version, and member_added / member_removed. Loop
 * thread only. */
#ifndef DOCSYNC_SYNC_FEED_H
#define DOCSYNC_SYNC_FEED_H

#include <stdint.h>

struct sync_module;

/* What the feed did since the start (for logs and tests). */
struct sync_feed_stats {
    uint64_t queued;  /* entries handed to the store writer */
    uint64_t dropped; /* entries that could not be built or queued */
};

/* Starts the feed for module m (observer and flush timer); does nothing and
 * returns 0 when DOCSYNC_ACTIVITY_COALESCE_MS is 0. Returns 0 or -1 (a
 * registration or allocation failed). Main thread, before the loop. */
int sync_feed_start(struct sync_module *m);

/* Reports every edit still waiting, to the writer, which the caller then
 * flushes (its completions still use the feed). Safe when the feed never
 * started. */
void sync_feed_stop(struct sync_module *m);

/* Frees the coalescer, once the writer has run every completion; what the
 * server reports afterwards (the leaves of connections it closes while it is
 * freed) is ignored. Safe when the feed never started. */
void sync_feed_end(struct sync_module *m);

#endif
