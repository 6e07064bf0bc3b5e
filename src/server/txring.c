/* txring: batched socket sends through io_uring (see txring.h). */
#include "txring.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct txring {
    struct io_uring ring;
    unsigned slots, used;
    struct msghdr *msg; /* one per slot: sendmsg of several buffers */
    struct iovec *iov;  /* TXRING_IOV_MAX per slot */
    int *res;           /* one per slot */
    int broken;         /* txring_broken */
};

struct txring *txring_new(unsigned slots)
{
    if (slots == 0)
        return NULL;
    struct txring *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->slots = slots;
    r->msg = calloc(slots, sizeof *r->msg);
    r->iov = calloc((size_t)slots * TXRING_IOV_MAX, sizeof *r->iov);
    r->res = calloc(slots, sizeof *r->res);
    /* One thread submits and reaps: the kernel may skip its locking for
     * that. Kernels without the flag refuse it; a plain ring then. */
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_SUBMIT_ALL};
    int rc = r->msg && r->iov && r->res ? io_uring_queue_init_params(slots, &r->ring, &p) : -ENOMEM;
    if (rc == -EINVAL)
        rc = io_uring_queue_init(slots, &r->ring, 0);
    if (rc < 0) {
        free(r->msg);
        free(r->iov);
        free(r->res);
        free(r);
        return NULL;
    }
    return r;
}

void txring_free(struct txring *r)
{
    if (!r)
        return;
    io_uring_queue_exit(&r->ring);
    free(r->msg);
    free(r->iov);
    free(r->res);
    free(r);
}

unsigned txring_room(const struct txring *r)
{
    return r->slots - r->used;
}

int txring_add(struct txring *r, int fd, const struct iovec *iov, unsigned n)
{
    if (r->used == r->slots || n == 0 || n > TXRING_IOV_MAX)
        return -1;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe)
        return -1;
    unsigned i = r->used++;
    const int flags = MSG_DONTWAIT | MSG_NOSIGNAL;
    if (n == 1) {
        io_uring_prep_send(sqe, fd, iov[0].iov_base, iov[0].iov_len, flags);
    } else {
        struct iovec *v = r->iov + (size_t)i * TXRING_IOV_MAX;
        memcpy(v, iov, n * sizeof *v);
        r->msg[i] = (struct msghdr){.msg_iov = v, .msg_iovlen = n};
        io_uring_prep_sendmsg(sqe, fd, &r->msg[i], flags);
    }
    io_uring_sqe_set_data64(sqe, i);
    return (int)i;
}

unsigned txring_run(struct txring *r, const int **res)
{
    unsigned n = r->used, seen = 0;
    *res = r->res;
    if (n == 0)
        return 0;
    for (unsigned i = 0; i < n; i++)
        r->res[i] = -ECANCELED;
    int rc = io_uring_submit_and_wait(&r->ring, n);
    if (io_uring_sq_ready(&r->ring))
        r->broken = 1; /* sends left unsubmitted: never run them later */
    /* Each send completed while it was submitted (see txring.h): reap the
     * results. A wait cut short by a signal goes on; one that should never
     * take long but does (100 ms) gives up, the remaining sends count as
     * failed and the ring is not used again. */
    while (seen < n && !r->broken) {
        struct io_uring_cqe *cqe;
        unsigned head, k = 0;
        io_uring_for_each_cqe(&r->ring, head, cqe)
        {
            uint64_t i = io_uring_cqe_get_data64(cqe);
            if (i < n)
                r->res[i] = cqe->res;
            k++;
        }
        io_uring_cq_advance(&r->ring, k);
        seen += k;
        if (seen >= n)
            break;
        if (rc < 0 && rc != -EINTR && rc != -ETIME) {
            r->broken = 1;
            break;
        }
        struct __kernel_timespec ts = {.tv_nsec = 100 * 1000 * 1000};
        rc = io_uring_wait_cqe_timeout(&r->ring, &cqe, &ts);
        if (rc == -ETIME)
            r->broken = 1;
    }
    r->used = 0;
    return n;
}

int txring_broken(const struct txring *r)
{
    return r->broken;
}
