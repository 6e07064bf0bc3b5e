/* reader: history reads on a thread of their own. A document's text at an
 * old version is rebuilt from its snapshot and op log: work proportional to
 * the document, which must never stall the event loop that every other
 * client shares. The loop thread submits a read; the reader thread does it
 * with its own store read transaction and queues the result; the loop
 * thread takes the results after the reader woke it.
 *
 * Bounded: at most `max_queue` reads wait or run at a time; beyond that a
 * submit is refused (READER_EFULL) and the caller answers "busy". */
#ifndef DOCSYNC_READER_H
#define DOCSYNC_READER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "sync_engine.h"
#include "sync_msg.h"

#define READER_EFULL (-1)  /* too many reads queued */
#define READER_ENOMEM (-2) /* out of memory, or the thread could not start */

typedef struct sync_reader sync_reader;

/* One history read and, once done, its outcome. */
struct reader_job {
    struct sync_request req; /* only doc, version and request_id are used */
    struct sync_reply reply;
    int rc;          /* document_text_at's code */
    char *text;      /* the text on success (owned by the job) */
    size_t len;      /* its length */
    uint64_t oldest; /* oldest retained version, for DOCUMENT_ENOTRETAINED */
    struct reader_job *next;
};

/* Starts the reader thread over `s` (which must outlive the reader).
 * notify(arg) is called on the reader thread after results were queued: it
 * must only wake the loop (server_wake). Returns 0 or READER_ENOMEM. */
int reader_new(store *s, size_t max_queue, void (*notify)(void *arg), void *arg, sync_reader **out);

/* Queues the history read of `req` answered to `reply` (both copied; the
 * update and content pointers of req are not kept). Loop thread. Returns 0,
 * READER_EFULL or READER_ENOMEM. */
int reader_submit(sync_reader *r, const struct sync_request *req, const struct sync_reply *reply);

/* Calls done(ctx, job) on the calling (loop) thread for every finished
 * read, in submission order, then frees the jobs. */
void reader_drain(sync_reader *r, void (*done)(void *ctx, const struct reader_job *job), void *ctx);

/* Stops the thread (after the read in progress) and frees everything;
 * reads not yet answered are dropped. NULL is fine. */
void reader_free(sync_reader *r);

#endif
