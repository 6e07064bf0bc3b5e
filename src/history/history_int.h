/* Shared by the files of history/: the module's publish path, which the
 * inbox uses for notifications like the HTTP API's claims do for events. */
#ifndef DOCSYNC_HISTORY_INT_H
#define DOCSYNC_HISTORY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "server/server.h"
#include "store.h"

/* Stores `event` on `channel` under its next offset (channel history must
 * keep that channel) and, once committed, delivers it to the channel's
 * subscribers but `except_sid` (NULL: none), with `user_id` (a client
 * event's sender, NULL: none), and calls done(ctx, ok) (ok 0:
 * not stored, not delivered). Returns 0, or -1 when the channel keeps no
 * history or the event cannot be queued (done is then not called). */
int history__publish(const char *channel, const char *event, const char *data, size_t data_len,
                     const char *except_sid, const char *user_id, void (*done)(void *ctx, int ok),
                     void *ctx);

/* Whether channel history keeps `channel`. */
int history__keeps(const char *channel);

/* The inbox (inbox.c): started and stopped with the module. */
int inbox__start(struct server *srv, store *st, store_writer *w);
void inbox__stop(void);

#endif
