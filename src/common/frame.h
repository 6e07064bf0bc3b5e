/* frame: a reference-counted, immutable outgoing WebSocket text message.
 *
 * A broadcast builds its frame once and queues a reference on every
 * subscriber's send queue, so fan-out costs one pointer and one refcount
 * increment per delivery, never a copy. The payload is preceded by
 * FRAME_PRE bytes of headroom that libwebsockets' lws_write() uses to put
 * the WebSocket header in place (LWS_PRE; server frames are not masked, so
 * every writer stores the same header bytes and sharing is safe on the one
 * loop thread). A NUL follows the payload so it can be logged or parsed as
 * a C string.
 *
 * Not thread-safe: refcounts are plain integers owned by the loop thread.
 */
#ifndef DOCSYNC_FRAME_H
#define DOCSYNC_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* Headroom before the payload; at least LWS_PRE (checked where lws is used). */
#define FRAME_PRE 16

/* Frames larger than this are refused by frame_new (far above any limit). */
#define FRAME_MAX_LEN (64u * 1024u * 1024u)

struct frame {
    uint32_t refs;
    uint32_t len;        /* payload bytes */
    struct frame *alt;   /* the same message in another protocol's form, built once by the
                            first connection that needs it (socket.io, sio.h); owned */
    unsigned char buf[]; /* FRAME_PRE headroom, payload, NUL */
};

/* Allocates a frame for a `len`-byte payload with one reference; the payload
 * (frame_data) is uninitialised apart from the trailing NUL. NULL when out
 * of memory or len > FRAME_MAX_LEN. */
struct frame *frame_new(size_t len);

/* Allocates a frame holding a copy of `data` (one reference). */
struct frame *frame_from(const void *data, size_t len);

/* The payload (writable only until the frame is shared). */
static inline unsigned char *frame_data(struct frame *f)
{
    return f->buf + FRAME_PRE;
}

/* Takes another reference and returns `f`. */
static inline struct frame *frame_ref(struct frame *f)
{
    f->refs++;
    return f;
}

/* Drops a reference; frees the frame with the last one. NULL is fine. */
void frame_unref(struct frame *f);

#endif
