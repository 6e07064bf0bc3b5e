/* engine_int.h: what the engine's files share, for src/sync/engine*.c only
 * (everyone else uses sync_engine.h).
 *
 *   engine.c         the public entry points: new, free, handle, access
 *                    lists, stats
 *   engine_doc.c     the open documents: registry by id, LRU, load, reload,
 *                    eviction
 *   engine_write.c   submit/replace: validation, dedup, apply, queue
 *   engine_commit.c  batches to the store writer and their completion:
 *                    acks, DocumentUpdated, refusals
 *   engine_read.c    catchup and history, from a store read
 *   engine_reply.c   the reply texts: ack, error, history
 *
 * Everything here runs on the loop thread, like the engine. */
#ifndef DOCSYNC_SYNC_ENGINE_INT_H
#define DOCSYNC_SYNC_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/hmap.h"
#include "common/jsonw.h"
#include "crdt.h"
#include "reader.h"
#include "store.h"
#include "sync_engine.h"
#include "sync_msg.h"

#define WAITERS_MAX 8   /* replies waiting on one op (original + resubmissions) */
#define QUEUED_MAX 8192 /* ops waiting for the next commit of one document */
#define SEEN_MAX 3072   /* clients in a document's client -> highest seq table */

enum waiter_kind {
    WAIT_ORIGINAL,  /* the request that made the op: ack "duplicate":false */
    WAIT_DUPLICATE, /* a resubmission of the same (client, seq): "duplicate":true */
    WAIT_NOOP,      /* a request that changed nothing: "applied":false */
};

/* A reply owed once an op is durable. */
struct waiter {
    struct sync_reply to;
    enum waiter_kind kind;
    char client[SYNC_CLIENT_ID_MAX + 1];
    uint64_t seq;
    char request_id[SYNC_REQUEST_ID_MAX + 1];
};

/* An op applied to the replica and given a version, not yet durable. Owns
 * delta and content (malloc'd). */
struct pending {
    struct pending *next;
    uint64_t version;
    uint64_t ts_ms;
    char user[SYNC_USER_MAX + 1];
    char client[SYNC_CLIENT_ID_MAX + 1];
    uint64_t seq;
    int replace;
    uint8_t *delta;
    size_t delta_len;
    char *content; /* text at this version when small enough, else NULL */
    size_t content_len;
    /* Replies owed: nearly every op has exactly one, kept in place; a
     * resubmission while the op is pending moves them to `more` (WAITERS_MAX
     * long). Keeping the struct small keeps its allocation on the
     * allocator's fast path, once per edit. */
    struct waiter first;
    struct waiter *more;
    size_t nwait;
};

/* The replies owed on p, nwait of them. */
static inline struct waiter *pending_waiters(struct pending *p)
{
    return p->more ? p->more : &p->first;
}

/* A FIFO of pending ops, in version order. */
struct plist {
    struct pending *head, *tail;
};

/* The version an ack gives for a duplicate whose op is no longer found in
 * the retained log: the ack says "version": null. */
#define VERSION_UNKNOWN UINT64_MAX

/* The highest seq accepted from one client in this process, and the user
 * who owns its client id (a value of doc.seen). */
struct seen {
    uint64_t seq;
    char owner[SYNC_USER_MAX + 1];       /* the user of its first op here */
    char client[SYNC_CLIENT_ID_MAX + 1]; /* the key */
};

#define PIPELINE_MAX 2 /* batches of one document in flight */

/* An open document. Owned by the registry (engine_doc.c). */
struct doc {
    struct doc *prev, *next; /* LRU, most recent first */
    sync_engine *e;
    char id[SYNC_DOC_ID_MAX + 1];
    crdt_doc *crdt;
    uint64_t head;     /* last durable version */
    uint64_t assigned; /* last version given to an op (>= head) */
    uint64_t snapshot_version;
    /* Of the last snapshot this process wrote (0: none yet, or reloaded),
     * and the ops' bytes since: see snapshot_due in engine_commit.c. */
    size_t snapshot_bytes;
    uint64_t op_bytes_since;
    /* Ops given to the store writer (inflight, in version order, in up to
     * PIPELINE_MAX batches of batch_ops[] ops each, oldest first) and ops
     * waiting for the next batch (queued). A second batch is prepared and
     * submitted while the first commits, so the writer never waits for the
     * loop thread between two commits of one document. The batches of a
     * document share a store chain: one that follows a failed batch fails
     * too, unapplied; `doomed` counts those still to complete (their ops
     * were refused with the failure) and `chain` changes after a failure. */
    struct plist inflight, queued;
    int committing; /* batches in flight (doomed included) */
    int doomed;
    size_t batch_ops[PIPELINE_MAX];
    uint64_t chain;
    int broken;     /* the replica could not be rebuilt: close when idle */
    size_t nqueued; /* ops in `queued` (bounded by QUEUED_MAX) */
    /* Highest seq accepted per client in this process and its owner
     * (client id -> struct seen), so a new seq skips the scan of the pending
     * lists and the owner of a client id whose ops are not durable yet is
     * known; a client that does not fit in the table (SEEN_MAX) always gets
     * the scan. */
    struct hmap seen;
    /* The replica's mark (crdt_doc_mark) once each version was applied:
     * marks[i] for version marks_base + i, contiguous up to `assigned`.
     * A merged catch-up from version V sends the operations after
     * marks[V - marks_base]. Starts at the version a (re)load reached;
     * at most MARKS_MAX entries (the oldest half is dropped beyond). */
    uint32_t *marks;
    size_t nmarks, marks_cap;
    uint64_t marks_base;
};

#define MARKS_MAX 65536

struct sync_engine {
    store *s;
    store_writer *w;
    struct sync_engine_options o;
    struct sync_engine_io io;
    struct hmap docs; /* open documents: id -> struct doc (key: doc.id) */
    struct doc *lru_head, *lru_tail;
    struct sync_engine_stats st;
    sync_reader *reader; /* history reads off the loop thread; NULL without options.wake */
    uint64_t chains;     /* the last store chain given to a document */
};

/* ---- JSON text
 * The hot replies (ack, DocumentUpdated, activity, catch-up) are written
 * with jsonw straight into a stack buffer: a cJSON tree cost several
 * allocations per field and printed each number with printf/sscanf round
 * trips. Keys are literals whose length is known at compile time. */

/* Copies the string `src` (NULL = "") into `dst`, truncated to `cap` - 1 bytes. */
static inline void engine__copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- engine_doc.c */

/* Returns the open document `id`, loading it from the store (and closing
 * idle documents beyond max_open_docs) when it is not open; NULL with a
 * DOCUMENT_E* code in *err when it cannot be loaded. */
struct doc *engine__doc_get(sync_engine *e, const char *id, int *err);

/* Closes the document `d`: out of the registry and the LRU list, freed with
 * its replica and whatever ops it still holds (unanswered). */
void engine__doc_remove(sync_engine *e, struct doc *d);

/* 1 while `d` has a batch in flight or ops queued, else 0. */
int engine__doc_busy(const struct doc *d);

/* Closes idle documents beyond max_open_docs, least recently used first
 * (at most 64 looked at), never `keep` (NULL = none). */
void engine__doc_evict(sync_engine *e, const struct doc *keep);

/* Rebuilds the replica of `d` from the store, then re-applies the ops still
 * in memory (in flight and queued) when `keep_pending`, else also resets
 * `assigned` to the durable head. Returns 0, or -1 with `d` unchanged (the
 * caller refuses the pending ops). */
int engine__doc_reload(struct doc *d, int keep_pending);

/* Records that the replica's mark is `mark` once `version` is applied; a
 * version that does not follow the last one recorded starts the list anew. */
void engine__doc_mark(struct doc *d, uint64_t version, uint64_t mark);

/* Frees the ops of `l` (their waiters get nothing) and empties it. */
void engine__doc_list_free(struct plist *l);

/* Frees every open document (sync_engine_free). */
void engine__doc_close_all(sync_engine *e);

/* ---- engine_write.c */

/* Handles a submit or replace from `user` (already authorised as an
 * editor): refused at once, acknowledged at once (a duplicate or a no-op),
 * or applied to the replica and queued for the store, to be acknowledged by
 * the completion. */
void engine__write(sync_engine *e, const struct sync_request *req, const char *user,
                   const struct sync_reply *reply);

/* ---- engine_commit.c */

/* Sends the queued ops of `d` to the store writer as one batch, unless a
 * batch is in flight or nothing is queued. Returns 1 when the document was
 * closed (`d` is freed), else 0. */
int engine__commit_flush(sync_engine *e, struct doc *d);

/* Refuses the ops of `d` that are not durable with `code` / `message` and
 * rebuilds the replica from the store; while a batch is in flight its ops
 * are kept (they may still commit) and only the queued ones are refused.
 * Returns 1 when the document was closed (`d` is freed), else 0. */
int engine__commit_fail(sync_engine *e, struct doc *d, const char *code, const char *message);

/* ---- engine_read.c */

/* Answers a catchup from a store read: replay of the ops after
 * req->version when the epoch matches, else the newest snapshot and the
 * ops after it, one page at a time. */
void engine__read_catchup(sync_engine *e, const struct sync_request *req,
                          const struct sync_reply *reply);

/* Answers a history request with the text at req->version, rebuilt from
 * the store. */
void engine__read_history(sync_engine *e, const struct sync_request *req,
                          const struct sync_reply *reply);

/* ---- engine_reply.c */

/* Sends `event` with the JSON object text `json` to `to` (its done callback,
 * or io.send to its socket); a NULL `json` sends an internal out-of-memory
 * error instead. */
void engine__reply_text(sync_engine *e, const struct sync_reply *to, const char *event,
                        const char *json);

/* Sends docsync:ack for the op at `version` of `doc` to the waiter `w`
 * (VERSION_UNKNOWN: "version": null). */
void engine__reply_ack(sync_engine *e, const struct waiter *w, const char *doc, uint64_t version);

/* Sends docsync:error {documentId, clientId?, seq?, requestId?, code,
 * message, num_key?: num} to `to` (client, request_id and num_key may be
 * NULL) and counts a refusal. */
void engine__reply_error(sync_engine *e, const struct sync_reply *to, const char *doc,
                         const char *client, uint64_t seq, const char *request_id, const char *code,
                         const char *message, const char *num_key, uint64_t num);

/* Sends docsync:history {documentId, requestId?, version, content} with the
 * NUL-terminated `text`. */
void engine__reply_history(sync_engine *e, const struct sync_reply *to,
                           const struct sync_request *req, const char *text);

#endif
