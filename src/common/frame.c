/* frame: refcounted outgoing messages. */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

struct frame *frame_new(size_t len)
{
    if (len > FRAME_MAX_LEN)
        return NULL;
    struct frame *f = malloc(sizeof(*f) + FRAME_PRE + len + 1);
    if (!f)
        return NULL;
    f->refs = 1;
    f->len = (uint32_t)len;
    f->alt = NULL;
    f->buf[FRAME_PRE + len] = '\0';
    return f;
}

struct frame *frame_from(const void *data, size_t len)
{
    struct frame *f = frame_new(len);
    if (f && len)
        memcpy(frame_data(f), data, len);
    return f;
}

void frame_unref(struct frame *f)
{
    if (f && --f->refs == 0) {
        frame_unref(f->alt);
        free(f);
    }
}
