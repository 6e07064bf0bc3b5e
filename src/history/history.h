/* history: durable channel history, so that a client that was away gets
 * every event it missed, in order, exactly once.
 *
 * Channels whose names match DOCSYNC_HISTORY_CHANNELS keep what the HTTP API
 * publishes on them in the store: each event gets the channel's next offset,
 * is committed (fsync) and only then delivered and acknowledged to the
 * publisher. Delivered frames carry the offset as a top-level member
 * ("offset"), which Pusher clients ignore. After subscribing to such a
 * channel a connection gets docsync:recovered on it: the store's epoch and
 * the newest offset delivered, so a client knows where it stands. A
 * subscribe that carries "recover" {epoch, offset} (recover.h) is first
 * given every event after that offset, then live events; when the epoch
 * differs or the history no longer reaches back, docsync:recovered says so
 * ("gap") and live events follow. GET /apps/{app_id}/channels/{channel}/
 * history?after=N&limit=L reads the same history over the signed HTTP API.
 *
 * Loop thread only, like the server. */
#ifndef DOCSYNC_HISTORY_H
#define DOCSYNC_HISTORY_H

#include "server/server.h"
#include "store.h"

/* Starts the module on the store and writer sync/ opened (one process opens
 * a store once): reads the patterns, registers the claim, subscribe, wake,
 * timer, route and metrics hooks. Returns 0, or -1 (logged) on a bad
 * setting or a failed registration. Main thread, before the loop. */
int history_start(struct server *srv, store *st, store_writer *w);

/* Frees the module (after the loop ended and the writer drained). */
void history_stop(struct server *srv);

/* A pattern list (DOCSYNC_HISTORY_CHANNELS syntax) checked without starting
 * anything: 0, or -1 with a message in err. For --help-style checks and
 * tests. */
int history_patterns_check(const char *spec, char *err, size_t errlen);

#endif
