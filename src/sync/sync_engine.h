/* sync_engine: the document sync protocol's server side, independent of
 * libwebsockets (see clients/PROTOCOL-sync.md for the wire protocol).
 *
 * It owns the registry of open documents (per document: the server's CRDT
 * replica, the committed head, the version last assigned, the ops applied in
 * memory but not yet durable) and drives the store:
 *
 *   submit/replace: validate -> apply to the replica -> assign head + 1 ->
 *   queue the op; per document one batch is in flight at a time (op entries,
 *   activity entries, a snapshot every `snapshot_every` ops) and what
 *   arrives meanwhile is queued for the next batch, so a document's versions
 *   commit strictly in order and a failed batch cannot leave a gap. When the
 *   writer reports the batch durable (completion drained on the loop
 *   thread), each op is acknowledged to its sender and DocumentUpdated is
 *   broadcast on private-document.{id} to everyone else, in version order.
 *   When a batch fails (disk full, map full, I/O), its ops and the ops
 *   queued behind it are refused (storage_full / storage_error, nothing was
 *   acknowledged) and the replica is reloaded from the store, so memory
 *   never keeps an unacknowledged change.
 *
 *   catchup/history: answered at once from a store read transaction.
 *
 * Everything runs on the loop thread; the store writer calls back through
 * store_writer_drain() on that thread. The engine never frees or holds
 * connections: replies go out through the io callbacks by socket id, so a
 * connection that closed meanwhile simply gets nothing. */
#ifndef DOCSYNC_SYNC_ENGINE_H
#define DOCSYNC_SYNC_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "sync_msg.h"

#define SYNC_SOCKET_ID_MAX 40 /* bytes of a socket id, NUL included */
#define SYNC_CHANNEL_MAX 210  /* bytes of a channel name, NUL included */
#define SYNC_USER_MAX 128     /* characters of a user id */

/* The event name DocumentUpdated is broadcast as (Echo's default
 * namespace: listen('DocumentUpdated') binds it). */
#define SYNC_EVENT_DOCUMENT_UPDATED "App\\Events\\DocumentUpdated"

/* How the engine talks to connections (all calls on the loop thread; every
 * string is borrowed for the duration of the call). A NULL callback drops
 * what would have gone through it. */
struct sync_engine_io {
    void *ctx;
    /* Sends `event` whose data is the JSON object text `json` (to be sent
     * as a JSON string, Pusher style) on `channel` (NULL = none) to the
     * connection `socket_id`, if it still exists. */
    void (*send)(void *ctx, const char *socket_id, const char *event, const char *channel,
                 const char *json);
    /* Sends `event` / `json` to every subscriber of `channel` except the
     * connection `except_socket` (NULL = none). */
    void (*broadcast)(void *ctx, const char *channel, const char *event, const char *json,
                      const char *except_socket);
    /* Whether a broadcast on `channel` except `except_socket` would reach
     * anyone (NULL: assume it would). A document with a single editor is
     * common, and its DocumentUpdated then need not be built at all. */
    int (*audience)(void *ctx, const char *channel, const char *except_socket);
    /* A version of `doc` committed (made by `user`), once per version, in
     * version order, as it is broadcast (webhooks' document_updated). */
    void (*updated)(void *ctx, const char *doc, uint64_t version, const char *user);
};

/* Where the answer to one request goes: a WebSocket connection, or a
 * callback (HTTP API). The engine copies it; each request gets exactly one
 * reply, unless the engine is freed while the request waits for storage. */
struct sync_reply {
    char socket_id[SYNC_SOCKET_ID_MAX]; /* "" for none */
    char channel[SYNC_CHANNEL_MAX];     /* channel of the reply frame, "" none */
    /* If set, called instead of io.send with the reply event name
     * ("docsync:ack", "docsync:error", ...) and its JSON object text (both
     * borrowed for the call), on the loop thread. */
    void (*done)(void *arg, const char *event, const char *json);
    void *arg;
};

struct sync_engine_options {
    size_t doc_max_bytes;      /* text size limit per document; 0 = 1 MiB */
    size_t doc_max_ops;        /* operations a document may hold, deleted characters
                                  included; 0 = 4 * doc_max_bytes; at most
                                  CRDT_DOC_OPS_MAX */
    unsigned snapshot_every;   /* ops between snapshots; 0 = 100 */
    size_t max_open_docs;      /* idle documents beyond this are closed; 0 = 10000 */
    size_t content_max;        /* include `content` in DocumentUpdated when the text is
                                  at most this many bytes; 0 = 16384; SIZE_MAX = always */
    int content_off;           /* 1 = never include `content` */
    size_t catchup_max_bytes;  /* update bytes per catch-up reply; 0 = 256 KiB */
    size_t catchup_max_frame;  /* bytes of one catch-up reply once escaped into the
                                  WebSocket event envelope (keep below the send queue
                                  limit); 0 = 2 * catchup_max_bytes + 64 KiB */
    size_t seq_scan;           /* ops scanned to find an old duplicate seq; 0 = 10000 */
    size_t history_queue;      /* history reads waiting or running at once (beyond: "busy");
                                  0 = 16 */
    const char *activity_node; /* cluster mode: the node id each activity entry names
                                  (sync_activity_stamp); NULL = none (a lone server).
                                  Must outlive the engine. */
    /* Wakes the loop thread from another thread: history reads, which
     * rebuild a document, then run on a thread of their own and the loop
     * answers them in sync_engine_drain(). NULL = they run on the calling
     * thread. */
    void (*wake)(void *arg);
    void *wake_arg;
};

typedef struct sync_engine sync_engine;

/* Creates the engine over an open store and a running writer (both owned
 * by the caller, and both must outlive the engine). `o` (NULL = all
 * defaults; a zero field takes its default) and `io` (NULL = replies go
 * nowhere) are copied. Returns 0 with the engine in *out, or -1 (out of
 * memory, or the history reader thread could not start) with *out NULL.
 * Loop thread. */
int sync_engine_new(store *s, store_writer *w, const struct sync_engine_options *o,
                    const struct sync_engine_io *io, sync_engine **out);

/* Answers the history reads that finished on the reader thread (see
 * sync_engine_options.wake). Loop thread, after a wake-up; cheap when there is
 * nothing to answer. */
void sync_engine_drain(sync_engine *e);

/* Frees the engine and its open documents; NULL does nothing. Call after
 * store_writer_flush() so no completion for it is pending; requests still
 * queued (history reads included) are dropped unanswered. Loop thread. */
void sync_engine_free(sync_engine *e);

/* Handles one parsed request from user `user` (1..128 chars; the
 * authenticated user the connection or HTTP caller acts as) with role
 * `role` (enum auth_role; viewers may catch up and read history, not
 * write). The reply (ack, error, catch-up, history) goes to `reply`: for a
 * write that is applied, or that repeats or changes nothing while an op of
 * the document waits for storage, from the completion once that op is
 * durable; otherwise before this returns. `req` and `reply` are only
 * borrowed (the caller clears the request afterwards). Loop thread. */
void sync_engine_handle(sync_engine *e, const struct sync_request *req, const char *user, int role,
                        const struct sync_reply *reply);

/* Sends docsync:error {documentId, clientId?, seq?, requestId?, code,
 * message} to `reply` at once, echoing what `req` identifies (NULL = no
 * request: an empty documentId), and counts a refusal. Used by callers for
 * refusals before the engine (parse errors, subscription, attribution).
 * Loop thread. */
void sync_engine_reply_error(sync_engine *e, const struct sync_reply *reply,
                             const struct sync_request *req, const char *code, const char *message);

/* The role of `user` on document `doc` from its access list, read in its
 * own store read transaction: the user's entry, else the entry of `*`, else
 * AUTH_ROLE_NONE (an enum auth_role); AUTH_ACL_ABSENT when the document has
 * no access list; -100 when the store cannot be read. An auth_acl_fn with
 * ctx = the store (`store_ptr`); any thread that may read the store. */
int sync_engine_acl_fn(void *store_ptr, const char *doc, const char *user);

/* Counters for logs and tests, since the engine was created. */
struct sync_engine_stats {
    uint64_t applied;           /* ops applied and given a version */
    uint64_t acked;             /* docsync:ack replies sent */
    uint64_t duplicates;        /* resubmitted (client, seq) answered without applying */
    uint64_t refused;           /* docsync:error replies sent */
    uint64_t batches;           /* batches handed to the store writer */
    uint64_t batch_failures;    /* batches the writer reported failed */
    uint64_t open_docs;         /* documents open now */
    uint64_t snapshots_skipped; /* snapshots not stored (the state could not be encoded) */
};

/* Copies the counters into *out. Loop thread. */
void sync_engine_stats_get(const sync_engine *e, struct sync_engine_stats *out);

/* Number of open documents with a batch in flight or ops queued (for
 * shutdown and tests). Loop thread. */
size_t sync_engine_pending(const sync_engine *e);

/* Closes the open document `id` (its replica and in-memory client table
 * go; the next request loads it from the store again), unless it has a
 * batch in flight or ops queued: then returns 1 and closes nothing.
 * Returns 0 when it was closed or was not open. A document moving to
 * another node is drained with it (cluster mode), and one that arrived is
 * read afresh. Loop thread. */
int sync_engine_doc_close(sync_engine *e, const char *id);

#endif
