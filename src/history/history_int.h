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
 * event's sender, NULL: none), and calls done(ctx, ok, why) (ok 0: not
 * stored, not delivered; why: a sentence when the channel's home node in a
 * cluster could not take it, so that sending again may succeed; NULL for a
 * store failure). Returns 0, or -1 when the channel keeps no
 * history or the event cannot be queued (done is then not called). */
int history__publish(const char *channel, const char *event, const char *data, size_t data_len,
                     const char *except_sid, const char *user_id,
                     void (*done)(void *ctx, int ok, const char *why), void *ctx);

/* history__publish on this node, whatever the cluster says: what the home
 * node runs (hist_route.c). */
int history__publish_here(const char *channel, const char *event, const char *data, size_t data_len,
                          const char *except_sid, const char *user_id,
                          void (*done)(void *ctx, int ok, const char *why), void *ctx);

struct history_recover;

/* A subscription to a history channel answered from this node's store (a
 * lone server, or the channel's home): docsync:recovered, and the replay
 * after rq's offset when rq->present. invalid_why: the recover member was
 * malformed. */
void history__subscribed_here(struct conn *c, const char *channel, const struct history_recover *rq,
                              const char *invalid_why);

/* docsync:recovered on `channel` with the given epoch and offset. */
void history__send_recovered(struct conn *c, const char *channel, const char *epoch,
                             uint64_t offset, uint64_t count, const char *gap, const char *why);

/* GET .../history from this node's store: the status and a malloc'd JSON
 * body (*body NULL only when out of memory, status 500). */
int history__read(const char *channel, uint64_t after, uint64_t limit, char **body, size_t *len);
void history__read_respond(struct http_req *req, const char *channel, uint64_t after,
                           uint64_t limit);

/* A page of a recovery for another node (the home's side): a JSON header
 * line {"epoch","first","delivered","last","count","gap"[,"message"]} then
 * one frame per line, "\n"-separated, the events after `after` up to the
 * delivered offset within `budget` bytes (at least one). `probe`: the
 * header only (a subscriber without recover). `cont`: a later page, which
 * goes on from what is kept when the start was trimmed meanwhile. Returns
 * a malloc'd body, NULL when out of memory. */
char *history__page(const char *channel, const char *epoch, uint64_t after, size_t budget,
                    int probe, int cont, size_t *len);

/* {"code":C,"message":M} into a malloc'd string (NULL: out of memory). */
char *history__error_body(const char *code, const char *msg, size_t *len);

/* This node's delivered offset of `channel` (0: none), and store epoch. */
uint64_t history__delivered(const char *channel);
const char *history__epoch(void);

/* The inbox's requests as JSON, run here (the home of the user's inbox):
 * reply(ctx, status, body) once, body a malloc'd JSON string. */
void inbox__serve(const char *json, size_t len,
                  void (*reply)(void *ctx, int status, const char *body, size_t len), void *ctx);

/* Whether channel history keeps `channel`. */
int history__keeps(const char *channel);

/* The inbox (inbox.c): started and stopped with the module. */
int inbox__start(struct server *srv, store *st, store_writer *w);
void inbox__stop(void);

#endif
