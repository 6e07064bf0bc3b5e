/* accept_hook: sheds connections instead of spinning when descriptors run
 * out (see accept_hook.h). */
#define _GNU_SOURCE /* accept4 */
#include "accept_hook.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

/* Process-wide, like the recv() hook's table: an interposed libc function
 * gets only libc's arguments. Written by the loop thread only. */
static atomic_int accept_reserve = -1;
static _Atomic uint64_t accept_shed_count;

int accept_hook_init(void)
{
    if (atomic_load(&accept_reserve) >= 0)
        return 0;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    atomic_store(&accept_reserve, fd);
    return fd >= 0 ? 0 : -1;
}

void accept_hook_free(void)
{
    int fd = atomic_exchange(&accept_reserve, -1);
    if (fd >= 0)
        close(fd);
}

uint64_t accept_hook_shed(void)
{
    return atomic_load(&accept_shed_count);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    /* accept4 with no flags is accept() (Linux); lws never calls it, so it
     * reaches the C library (or ASan's interceptor), not this function. */
    int r = accept4(fd, addr, len, 0);
    if (r >= 0 || (errno != EMFILE && errno != ENFILE))
        return r;
    atomic_fetch_add(&accept_shed_count, 1);
    int reserve = atomic_exchange(&accept_reserve, -1);
    if (reserve >= 0) {
        close(reserve);
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
            close(c);
        atomic_store(&accept_reserve, open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    errno = EAGAIN; /* lws: nothing to accept now, back to the loop */
    return -1;
}
