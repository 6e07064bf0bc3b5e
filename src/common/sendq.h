/* sendq: the bounded queue of frames waiting to be written to one
 * connection.
 *
 * A ring of frame references, grown by doubling on demand (an idle
 * connection holds no ring at all). Two bounds: the total payload bytes
 * queued (the per-connection `send_queue_max`, so a client that stops
 * reading is disconnected instead of growing memory) and the number of
 * slots (SENDQ_MAX_SLOTS, so floods of tiny frames are bounded too).
 * Not thread-safe (loop thread only).
 */
#ifndef DOCSYNC_SENDQ_H
#define DOCSYNC_SENDQ_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define SENDQ_EFULL (-1) /* a bound would be exceeded; nothing was queued */
#define SENDQ_ENOMEM (-2)

#define SENDQ_MAX_SLOTS 65536u

struct sendq {
    struct frame **ring; /* NULL while empty and never used */
    uint32_t cap;        /* power of two or 0 */
    uint32_t head;       /* index of the oldest frame */
    uint32_t count;
    size_t bytes; /* payload bytes queued */
};

/* Initialises an empty queue (no allocation). */
void sendq_init(struct sendq *q);

/* Drops every queued reference and frees the ring. */
void sendq_deinit(struct sendq *q);

/* Queues a new reference to `f` unless the queue would then hold more than
 * `max_bytes` payload bytes (0 = no byte bound) or SENDQ_MAX_SLOTS frames.
 * Returns 0, SENDQ_EFULL or SENDQ_ENOMEM (the caller keeps its reference
 * either way). An empty queue always accepts one frame, however large, so a
 * single big message cannot wedge a connection. */
int sendq_push(struct sendq *q, struct frame *f, size_t max_bytes);

/* The oldest frame (borrowed), or NULL when empty. */
struct frame *sendq_peek(const struct sendq *q);

/* Removes the oldest frame and drops the queue's reference to it. */
void sendq_pop(struct sendq *q);

/* The i-th oldest frame (borrowed); i < sendq_count(q). */
static inline struct frame *sendq_at(const struct sendq *q, uint32_t i)
{
    return q->ring[(q->head + i) & (q->cap - 1)];
}

/* Frames queued. */
static inline uint32_t sendq_count(const struct sendq *q)
{
    return q->count;
}

/* Payload bytes queued. */
static inline size_t sendq_bytes(const struct sendq *q)
{
    return q->bytes;
}

#endif
