/* webhook_http: see webhook_http.h. A non-blocking socket and poll(), so
 * that every step (connect, write, read) shares one deadline. */
#include "webhook_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline. 1 ready, 0 timeout, -1 error. */
static int http_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - http_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Whether buf holds the blank line that ends a header block. */
static int http_headers_end(const char *buf, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return 1;
    return 0;
}

static int http_connect(const char *host, const char *port, int64_t deadline, char *err,
                        size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "cannot connect to %s:%s", host, port);
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = http_wait(fd, POLLOUT, deadline), soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                break;
            if (w == 0)
                snprintf(err, errlen, "timeout connecting to %s:%s", host, port);
            else if (soerr)
                snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(soerr));
        } else {
            snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int http_write_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (http_wait(fd, POLLOUT, deadline) != 1)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

int webhook_http_post(const char *host, const char *port, const char *path, const char *headers,
                      const char *body, size_t len, unsigned timeout_ms, char *err, size_t errlen)
{
    int64_t deadline = http_now_ms() + timeout_ms;
    int fd = http_connect(host, port, deadline, err, errlen);
    if (fd < 0)
        return -1;
    int ipv6 = strchr(host, ':') != NULL;
    char head[4096];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n%sContent-Length: %zu\r\n"
                      "Connection: close\r\nUser-Agent: docsyncd-webhook\r\n\r\n",
                      path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", strcmp(port, "80") ? ":" : "",
                      strcmp(port, "80") ? port : "", headers, len);
    char *big = NULL;
    const char *hp = head;
    if (hn < 0 || (size_t)hn >= sizeof head) {
        /* Long paths or many extra headers. */
        size_t need = strlen(path) + strlen(host) + strlen(headers) + 256;
        big = malloc(need);
        if (!big) {
            close(fd);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        hn = snprintf(big, need,
                      "POST %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n%sContent-Length: %zu\r\n"
                      "Connection: close\r\nUser-Agent: docsyncd-webhook\r\n\r\n",
                      path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", strcmp(port, "80") ? ":" : "",
                      strcmp(port, "80") ? port : "", headers, len);
        hp = big;
    }
    int status = -1;
    if (http_write_all(fd, hp, (size_t)hn, deadline) != 0 ||
        http_write_all(fd, body, len, deadline) != 0) {
        snprintf(err, errlen, "%s while sending to %s:%s",
                 http_now_ms() >= deadline ? "timeout" : "connection lost", host, port);
        goto out;
    }
    /* The status line and the header block; the body is not needed. */
    char in[4096];
    size_t got = 0;
    for (;;) {
        if (got >= 12 && http_headers_end(in, got))
            break;
        if (got == sizeof in)
            break; /* headers this long: the status line is in */
        ssize_t r = recv(fd, in + got, sizeof in - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = http_wait(fd, POLLIN, deadline);
            if (w == 1)
                continue;
            snprintf(err, errlen, "%s waiting for the answer of %s:%s",
                     w == 0 ? "timeout" : "error", host, port);
            goto out;
        }
        snprintf(err, errlen, "connection lost waiting for the answer of %s:%s", host, port);
        goto out;
    }
    if (got >= 12 && memcmp(in, "HTTP/1.", 7) == 0 && in[8] == ' ' && in[9] >= '1' &&
        in[9] <= '5' && in[10] >= '0' && in[10] <= '9' && in[11] >= '0' && in[11] <= '9')
        status = (in[9] - '0') * 100 + (in[10] - '0') * 10 + (in[11] - '0');
    else
        snprintf(err, errlen, "no HTTP answer from %s:%s", host, port);
out:
    free(big);
    close(fd);
    return status;
}
