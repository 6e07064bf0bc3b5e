/* webhook: Pusher-format webhooks with a durable outbox, the module of
 * docsyncd that main.c starts after sync/ (it shares sync's store).
 *
 * The loop thread only observes (broadcast_observe): each event the server
 * reports (channel occupied/vacated, member added/removed, client event,
 * cache miss, and sync's document_updated) that some webhook may want is
 * turned into its JSON object and queued for the sender thread, under a
 * mutex the sender never holds across I/O. The sender thread does the rest:
 * the delay of member_removed and channel_vacated (cancelled, with the
 * member_added or channel_occupied that cancels it, when the user or a
 * subscriber comes back in time), the filters, the batches of each webhook,
 * recording each request in the store's outbox before its first attempt,
 * the requests themselves, retries with exponential backoff, deletion once
 * delivered, and the outbox cap. See README.md. */
#ifndef DOCSYNC_WEBHOOK_H
#define DOCSYNC_WEBHOOK_H

#include "server/server.h"
#include "store.h"

/* Parses DOCSYNC_WEBHOOKS (an error is logged and fails the start), and
 * when there is at least one webhook: loads the requests the outbox still
 * holds from an earlier run, starts the sender thread, and registers the
 * observer and the /metrics lines. `s` is the open store (sync's); NULL is
 * refused when webhooks are configured. Returns 0 or -1 (logged). Main
 * thread, before the loop runs. */
int webhook_start(struct server *srv, store *s);

/* Stops the sender thread: what is still delayed or batched is recorded in
 * the outbox first (sent after the next start), nothing more is sent.
 * Events observed afterwards are ignored. Safe when webhook_start failed or
 * found no webhook. Main thread, after the loop, before the store closes. */
void webhook_stop(struct server *srv);

#endif
