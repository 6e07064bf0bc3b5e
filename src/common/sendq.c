/* sendq: bounded ring of frame references. */
#include "sendq.h"

#include <stdlib.h>

#define SENDQ_MIN_CAP 4u

void sendq_init(struct sendq *q)
{
    q->ring = NULL;
    q->cap = 0;
    q->head = 0;
    q->count = 0;
    q->bytes = 0;
}

void sendq_deinit(struct sendq *q)
{
    while (q->count)
        sendq_pop(q);
    free(q->ring);
    sendq_init(q);
}

static int sendq_grow(struct sendq *q)
{
    uint32_t ncap = q->cap ? q->cap * 2 : SENDQ_MIN_CAP;
    struct frame **nr = malloc(sizeof(*nr) * ncap);
    if (!nr)
        return SENDQ_ENOMEM;
    for (uint32_t i = 0; i < q->count; i++)
        nr[i] = q->ring[(q->head + i) & (q->cap - 1)];
    free(q->ring);
    q->ring = nr;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

int sendq_push(struct sendq *q, struct frame *f, size_t max_bytes)
{
    if (q->count) {
        if (q->count >= SENDQ_MAX_SLOTS)
            return SENDQ_EFULL;
        if (max_bytes && q->bytes + f->len > max_bytes)
            return SENDQ_EFULL;
    }
    if (q->count == q->cap && sendq_grow(q))
        return SENDQ_ENOMEM;
    q->ring[(q->head + q->count) & (q->cap - 1)] = frame_ref(f);
    q->count++;
    q->bytes += f->len;
    return 0;
}

struct frame *sendq_peek(const struct sendq *q)
{
    return q->count ? q->ring[q->head] : NULL;
}

void sendq_pop(struct sendq *q)
{
    if (!q->count)
        return;
    struct frame *f = q->ring[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
    q->bytes -= f->len;
    frame_unref(f);
    if (!q->count && q->cap > 64) {
        /* Give back a ring that grew during a burst. */
        free(q->ring);
        q->ring = NULL;
        q->cap = 0;
        q->head = 0;
    }
}
