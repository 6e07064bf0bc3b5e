/* txring: many socket sends in one system call, through io_uring.
 *
 * The loop writes each connection that has frames once per iteration. One
 * send() per connection made each delivery pay for a system call of its
 * own, which on a virtual machine costs about as much as the kernel's TCP
 * work for a small frame. A ring takes the sends of a whole turn of
 * connections, submits them with one io_uring_enter and waits for their
 * results. Sockets are non-blocking and every send carries MSG_DONTWAIT, so
 * the kernel completes each at once: a full socket buffer is -EAGAIN and a
 * short write is a count below the length, never a wait.
 *
 * Loop thread only. Where io_uring cannot be set up (an older kernel, a
 * sandbox that forbids it), txring_new returns NULL and the caller sends one
 * connection at a time, as it also does with DOCSYNC_IO_URING=false.
 */
#ifndef DOCSYNC_TXRING_H
#define DOCSYNC_TXRING_H

#include <stddef.h>
#include <sys/uio.h>

/* Buffers one send may gather (a connection's queued frames, each with its
 * WebSocket header in front). */
#define TXRING_IOV_MAX 64

struct txring;

/* A ring for up to `slots` sends per run, or NULL when io_uring is not
 * available here. */
struct txring *txring_new(unsigned slots);
void txring_free(struct txring *r);

/* Sends that can still be added before txring_run. */
unsigned txring_room(const struct txring *r);

/* Adds a send of iov[0..n) (1 <= n <= TXRING_IOV_MAX) on fd. The iovecs are
 * copied; the bytes they point to must stay as they are until txring_run
 * returns. Returns the send's index in this run, or -1 when the ring is full
 * or n is out of range. */
int txring_add(struct txring *r, int fd, const struct iovec *iov, unsigned n);

/* Submits every send added, waits until all have completed, and returns
 * their number; res[i] is the result of send i: bytes written, or -errno.
 * The ring is empty again afterwards. */
unsigned txring_run(struct txring *r, const int **res);

/* 1 once a run went wrong in a way that leaves the ring unusable (sends it
 * could not submit, or results that never came): the caller frees it and
 * sends one by one from then on. */
int txring_broken(const struct txring *r);

#endif
