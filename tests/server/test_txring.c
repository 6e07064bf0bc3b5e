/* txring: sends through io_uring report what send() would, in the order
 * they were added: whole writes, writes gathered from several buffers, a
 * short write when the socket buffer fills, -EAGAIN when it is full, an
 * error for a bad descriptor; and the ring refuses what it cannot hold. */
#include "server/txring.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int sv[2])
{
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_EQ(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
}

static size_t drain(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n <= 0)
            return got;
        got += (size_t)n;
    }
}

int main(void)
{
    struct txring *r = txring_new(4);
    if (!r) {
        printf("io_uring is not available here: skipped\n");
        return 77;
    }
    int a[2], b[2];
    pair(a);
    pair(b);
    char in[64];
    const int *res;

    /* One buffer, and three gathered, on two sockets: one submission. */
    struct iovec one = {.iov_base = "hello", .iov_len = 5};
    struct iovec three[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    CHECK_EQ(txring_room(r), 4);
    CHECK_EQ(txring_add(r, a[0], &one, 1), 0);
    CHECK_EQ(txring_add(r, b[0], three, 3), 1);
    CHECK_EQ(txring_room(r), 2);
    CHECK_EQ(txring_run(r, &res), 2);
    CHECK_EQ(res[0], 5);
    CHECK_EQ(res[1], 5);
    CHECK_EQ(txring_room(r), 4);
    CHECK_EQ(drain(a[1], in, sizeof in), 5);
    CHECK_MEM_EQ(in, "hello", 5);
    CHECK_EQ(drain(b[1], in, sizeof in), 5);
    CHECK_MEM_EQ(in, "abcde", 5);

    /* What the ring refuses: no buffers, too many, a full ring. */
    struct iovec many[TXRING_IOV_MAX + 1];
    for (size_t i = 0; i <= TXRING_IOV_MAX; i++)
        many[i] = (struct iovec){.iov_base = "x", .iov_len = 1};
    CHECK_EQ(txring_add(r, a[0], many, 0), -1);
    CHECK_EQ(txring_add(r, a[0], many, TXRING_IOV_MAX + 1), -1);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(txring_add(r, a[0], many, TXRING_IOV_MAX), i);
    CHECK_EQ(txring_add(r, a[0], &one, 1), -1);
    CHECK_EQ(txring_run(r, &res), 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(res[i], TXRING_IOV_MAX);
    char *big = malloc(1 << 22);
    CHECK(big != NULL);
    CHECK_EQ(drain(a[1], big, 1 << 22), 4 * TXRING_IOV_MAX);

    /* A socket nobody reads: part of a large write, then nothing (-EAGAIN,
     * never a wait); a closed descriptor's error. */
    memset(big, 'z', 1 << 22);
    struct iovec huge = {.iov_base = big, .iov_len = 1 << 22};
    CHECK_EQ(txring_add(r, a[0], &huge, 1), 0);
    CHECK_EQ(txring_add(r, a[0], &huge, 1), 1);
    int closed = dup(b[0]);
    CHECK(closed >= 0);
    close(closed);
    CHECK_EQ(txring_add(r, closed, &one, 1), 2);
    CHECK_EQ(txring_run(r, &res), 3);
    CHECK(res[0] > 0 && res[0] < (1 << 22));
    CHECK_EQ(res[1], -EAGAIN);
    CHECK_EQ(res[2], -EBADF);
    CHECK_EQ(txring_broken(r), 0);
    size_t got = drain(a[1], big, 1 << 22);
    CHECK_EQ(got, (size_t)res[0]);
    CHECK(big[0] == 'z' && big[got - 1] == 'z');

    free(big);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
    txring_free(r);
    return TEST_RESULT();
}
