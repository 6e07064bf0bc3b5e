/* sendq: byte and slot bounds, FIFO order, refcounts, ring growth and
 * wrap-around. */
#include <stdlib.h>

#include "common/sendq.h"
#include "test.h"

int main(void)
{
    struct sendq q;
    sendq_init(&q);
    CHECK(sendq_peek(&q) == NULL);
    sendq_pop(&q); /* empty pop is harmless */

    struct frame *f = frame_from("0123456789", 10);
    CHECK(f != NULL);
    CHECK_EQ(f->refs, 1);
    CHECK_EQ(memcmp(frame_data(f), "0123456789", 10), 0);
    CHECK_EQ(frame_data(f)[10], 0);

    /* Byte bound: 35 bytes allows 3 frames of 10. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(sendq_push(&q, f, 35), 0);
    CHECK_EQ(sendq_push(&q, f, 35), SENDQ_EFULL);
    CHECK_EQ(sendq_count(&q), 3);
    CHECK_EQ(sendq_bytes(&q), 30);
    CHECK_EQ(f->refs, 4);
    sendq_pop(&q);
    CHECK_EQ(f->refs, 3);
    sendq_deinit(&q);
    CHECK_EQ(f->refs, 1);

    /* An empty queue accepts one frame larger than the bound. */
    struct frame *big = frame_new(100);
    CHECK_EQ(sendq_push(&q, big, 10), 0);
    CHECK_EQ(sendq_push(&q, f, 10), SENDQ_EFULL);
    sendq_deinit(&q);

    /* FIFO through growth and wrap-around. */
    struct frame *fs[50];
    for (int i = 0; i < 50; i++) {
        fs[i] = frame_new(1);
        frame_data(fs[i])[0] = (unsigned char)i;
    }
    int next_in = 0, next_out = 0;
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 3 && next_in < 50; k++)
            CHECK_EQ(sendq_push(&q, fs[next_in++], 0), 0);
        for (int k = 0; k < 2 && sendq_count(&q); k++) {
            CHECK_EQ(frame_data(sendq_peek(&q))[0], next_out);
            sendq_pop(&q);
            next_out++;
        }
    }
    CHECK_EQ(next_out, 50);
    CHECK_EQ(sendq_count(&q), 0);
    CHECK_EQ(sendq_bytes(&q), 0);

    /* Slot bound. */
    struct frame *tiny = frame_new(0);
    int rc = 0;
    unsigned n = 0;
    while ((rc = sendq_push(&q, tiny, 0)) == 0)
        n++;
    CHECK_EQ(rc, SENDQ_EFULL);
    CHECK_EQ(n, SENDQ_MAX_SLOTS);
    sendq_deinit(&q);
    CHECK_EQ(tiny->refs, 1);

    for (int i = 0; i < 50; i++)
        frame_unref(fs[i]);
    frame_unref(tiny);
    frame_unref(big);
    frame_unref(f);
    frame_unref(NULL);
    CHECK(frame_new(FRAME_MAX_LEN + 1u) == NULL);
    return TEST_RESULT();
}
