/* wsmask_recv: the recv() hook that runs the wsmask scanner on lws's
 * server sockets (see wsmask.h).
 *
 * Why this works: libwebsockets is a shared library and reads every
 * plaintext socket with `recv(fd, buf, len, 0)` (lws_ssl_capable_read_no_
 * ssl; Debian's libwebsockets.so.17 imports recv@GLIBC_2.2.5). The
 * executable comes first in the dynamic linker's lookup order and exports
 * this definition (libwebsockets.so references it at link time), so lws's
 * PLT call lands here, ahead of ASan's interceptor and of the C library.
 * The bytes are then fetched with recvfrom(fd, buf, len, flags, NULL, NULL),
 * which POSIX and Linux define as recv() itself: it reaches ASan's recvfrom
 * interceptor (so ASan still checks the buffer) or the C library, with no
 * dlsym() and no function pointer to keep.
 *
 * Why a global: an interposed libc function receives only libc's
 * arguments, so it cannot be handed a `struct server *`; the per-descriptor
 * state must be reachable from a process-wide pointer. It is the only
 * mutable global of the program, set once (before lws opens a socket) and
 * cleared once (after lws is gone); acquire/release keeps other threads
 * that happen to call recv() from seeing a half-built table.
 *
 * Threads: entries are written only by the lws loop thread (the callbacks
 * and lws's recv() calls both run there). Any other thread's recv() (none
 * today: the LMDB writer thread does not read sockets) finds its
 * descriptor unregistered and goes straight through. Not async-signal
 * relevant: no signal handler calls recv(). */

/* With _FORTIFY_SOURCE, glibc's <sys/socket.h> turns recv into an inline
 * wrapper that the definition below would collide with. */
#undef _FORTIFY_SOURCE

#include "wsmask.h"

#include <dlfcn.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>

struct wsmask_table {
    size_t n;
    struct wsmask_state st[];
};

static _Atomic(struct wsmask_table *) wsmask_tab;

/* Set once before lws opens a socket; read by the loop thread. */
static uint64_t wsmask_frame_limit;

/* Descriptors that declared an oversize frame, waiting for the server
 * (wsmask_take_oversize). Loop thread only (lws's recv() and the server's
 * check both run there). When full, a later one waits for its first
 * payload chunk, where the server's own check sees the declared length. */
#define WSMASK_OVER_MAX 64
static int wsmask_over[WSMASK_OVER_MAX];
static size_t wsmask_nover;

void wsmask_set_frame_limit(uint64_t max_payload)
{
    wsmask_frame_limit = max_payload;
}

static struct wsmask_state *wsmask_slot(int fd);

int wsmask_take_oversize(void)
{
    while (wsmask_nover) {
        int fd = wsmask_over[--wsmask_nover];
        struct wsmask_state *s = wsmask_slot(fd);
        if (s && s->over == 2) /* not closed (and reused) meanwhile */
            return fd;
    }
    return -1;
}

/* The answer to a header block past the limits (wsmask.h), written
 * straight to the socket: lws would drop the connection without one. */
static const char wsmask_431[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 "content-type: text/plain; charset=utf-8\r\n"
                                 "content-length: 32\r\n"
                                 "connection: close\r\n"
                                 "\r\n"
                                 "Request header fields too large.";

int wsmask_table_init(unsigned fd_limit)
{
    if (atomic_load_explicit(&wsmask_tab, memory_order_acquire))
        return 0;
    /* calloc: the pages of descriptors never used are never touched. */
    struct wsmask_table *t = calloc(1, sizeof(*t) + (size_t)fd_limit * sizeof(struct wsmask_state));
    if (!t)
        return -1;
    t->n = fd_limit;
    atomic_store_explicit(&wsmask_tab, t, memory_order_release);
    return 0;
}

void wsmask_table_free(void)
{
    free(atomic_exchange_explicit(&wsmask_tab, NULL, memory_order_acq_rel));
}

static struct wsmask_state *wsmask_slot(int fd)
{
    struct wsmask_table *t = atomic_load_explicit(&wsmask_tab, memory_order_acquire);
    if (!t || fd < 0 || (size_t)fd >= t->n)
        return NULL;
    return &t->st[fd];
}

void wsmask_conn_open(int fd)
{
    struct wsmask_state *s = wsmask_slot(fd);
    if (s) {
        wsmask_state_start(s);
        wsmask_state_limit(s, wsmask_frame_limit);
    }
}

void wsmask_conn_limit(int fd, uint64_t max_payload)
{
    struct wsmask_state *s = wsmask_slot(fd);
    if (s)
        wsmask_state_limit(s, max_payload);
}

int wsmask_conn_bad_close(int fd)
{
    struct wsmask_state *s = wsmask_slot(fd);
    return s ? wsmask_state_bad_close(s) : 0;
}

int wsmask_conn_may_write(int fd)
{
    struct wsmask_state *s = wsmask_slot(fd);
    return s && wsmask_state_is_ws(s) && !wsmask_state_control(s);
}

void wsmask_conn_control_done(int fd)
{
    struct wsmask_state *s = wsmask_slot(fd);
    if (s)
        wsmask_state_control_done(s);
}

void wsmask_conn_close(int fd)
{
    struct wsmask_state *s = wsmask_slot(fd);
    if (s)
        *s = (struct wsmask_state){0};
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct wsmask_state *s = wsmask_slot(fd);
    /* Unregistered descriptors, peeks and other flags, and buffers too
     * small to carry a held byte plus a new one pass through untouched. */
    if (!s || flags != 0 || len < 2 || (!wsmask_state_active(s) && !s->held))
        return recvfrom(fd, buf, len, flags, NULL, NULL);
    unsigned char *p = buf;
    size_t pre = wsmask_unhold(s, p);
    ssize_t r = recvfrom(fd, p + pre, len - pre, 0, NULL, NULL);
    if (r == 0)
        return 0; /* end of stream: a lone held frame byte means nothing */
    if (r < 0 && !pre)
        return r;
    int saved = errno;
    size_t got = pre + (r > 0 ? (size_t)r : 0);
    size_t out = wsmask_scan(s, p, got, NULL);
    if (wsmask_state_too_big(s)) {
        /* lws sees the end of the stream and closes; the client has its
         * answer (a blocking-free send of 150 bytes into an empty buffer). */
        (void)send(fd, wsmask_431, sizeof wsmask_431 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        wsmask_state_off(s);
        return 0;
    }
    if (s->over == 1) {
        s->over = 2;
        if (wsmask_nover < WSMASK_OVER_MAX)
            wsmask_over[wsmask_nover++] = fd;
    }
    if (out == 0) {
        /* Only a frame's first byte so far (kept in `s`): nothing to hand
         * on yet; lws treats EAGAIN as "wait for more". */
        errno = r < 0 ? saved : EAGAIN;
        return -1;
    }
    /* With r < 0, out is the held byte alone (scanning had stopped): hand
     * it on; the error comes back on the next call. */
    return (ssize_t)out;
}

/* TLS connections: lws reads their plaintext with SSL_read (libwebsockets.so
 * imports it from libssl), so the same scanner runs there, behind this
 * SSL_read, defined in the executable like recv() above. The library's own
 * SSL_read is found once with dlsym(RTLD_NEXT). No byte is ever held back
 * (wsmask_state_nohold): a short read cannot be turned into "try again"
 * without touching the SSL object's state. The 431 answer goes out through
 * SSL_write (nothing else has been written on the connection yet), and 0
 * makes lws close it. Other SSL objects in the process (the webhook
 * sender's client connections) have unregistered descriptors and pass
 * through. */
typedef int (*wsmask_ssl_read_fn)(SSL *, void *, int);
static wsmask_ssl_read_fn wsmask_ssl_read_real;

int SSL_read(SSL *ssl, void *buf, int num)
{
    if (!wsmask_ssl_read_real) {
        void *f = dlsym(RTLD_NEXT, "SSL_read");
        if (!f)
            return -1;
        /* POSIX: a dlsym() result may be converted to a function pointer. */
        wsmask_ssl_read_real = (wsmask_ssl_read_fn)(uintptr_t)f;
    }
    struct wsmask_state *s = wsmask_slot(SSL_get_fd(ssl));
    if (!s || num < 2 || !wsmask_state_active(s))
        return wsmask_ssl_read_real(ssl, buf, num);
    wsmask_state_nohold(s);
    int r = wsmask_ssl_read_real(ssl, buf, num);
    if (r <= 0)
        return r;
    (void)wsmask_scan(s, buf, (size_t)r, NULL); /* never holds: returns r */
    if (wsmask_state_too_big(s)) {
        (void)SSL_write(ssl, wsmask_431, (int)(sizeof wsmask_431 - 1));
        wsmask_state_off(s);
        return 0;
    }
    if (s->over == 1) {
        s->over = 2;
        if (wsmask_nover < WSMASK_OVER_MAX)
            wsmask_over[wsmask_nover++] = SSL_get_fd(ssl);
    }
    return r;
}
