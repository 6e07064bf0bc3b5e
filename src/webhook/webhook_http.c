/* webhook_http: see webhook_http.h. A non-blocking socket and poll(), so
 * that every step (connect, TLS handshake, write, read) shares one
 * deadline. */
#include "webhook_http.h"
#include "common/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* What to call while waiting (webhook_http_post's idle). */
struct http_idle {
    void (*fn)(void *);
    void *arg;
};

/* One connection: the socket, its TLS session for https, the idle call. */
struct http_io {
    int fd;
    SSL *ssl;
    const struct http_idle *idle;
};

/* Waits for `events` on fd until the deadline, calling idle between
 * slices of WEBHOOK_HTTP_IDLE_MS. 1 ready, 0 timeout, -1 error. */
static int http_wait(int fd, short events, int64_t deadline, const struct http_idle *idle)
{
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        if (left <= 0)
            return 0;
        if (idle && idle->fn && left > WEBHOOK_HTTP_IDLE_MS)
            left = WEBHOOK_HTTP_IDLE_MS;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
        if (idle && idle->fn)
            idle->fn(idle->arg);
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

static int http_connect(const char *host, const char *port, int64_t deadline,
                        const struct http_idle *idle, char *err, size_t errlen)
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
            int w = http_wait(fd, POLLOUT, deadline, idle), soerr = 0;
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

static SSL_CTX *http_tls_ctx(void)
{
    static SSL_CTX *ctx; /* the sending thread's, for the life of the process */
    if (ctx)
        return ctx;
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    if (!c)
        return NULL;
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(c) != 1) {
        SSL_CTX_free(c);
        return NULL;
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx = c;
}

/* After an SSL call that returned r: waits for what OpenSSL asked for.
 * 1 to call again, 0 timeout, -1 error (the reason in err). */
static int http_tls_wait(struct http_io *io, int r, int64_t deadline, char *err, size_t errlen)
{
    int e = SSL_get_error(io->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return http_wait(io->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, io->idle);
    unsigned long q = ERR_get_error();
    if (q) {
        char text[160];
        ERR_error_string_n(q, text, sizeof text);
        snprintf(err, errlen, "TLS: %s", text);
    } else {
        snprintf(err, errlen, "TLS: %s", e == SSL_ERROR_ZERO_RETURN ? "closed" : "connection lost");
    }
    return -1;
}

/* The TLS handshake, the peer's certificate checked against the CA store
 * and the host. Returns 0 or -1 (err). */
static int http_tls_start(struct http_io *io, const char *host, int64_t deadline, char *err,
                          size_t errlen)
{
    SSL_CTX *ctx = http_tls_ctx();
    if (!ctx || !(io->ssl = SSL_new(ctx)) || SSL_set_fd(io->ssl, io->fd) != 1) {
        snprintf(err, errlen, "TLS: cannot set up (out of memory, or no CA store)");
        return -1;
    }
    unsigned char addr[sizeof(struct in6_addr)];
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    int ok =
        is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), host) == 1
              : SSL_set_tlsext_host_name(io->ssl, host) == 1 && SSL_set1_host(io->ssl, host) == 1;
    if (!ok) {
        snprintf(err, errlen, "TLS: cannot check the name %s", host);
        return -1;
    }
    ERR_clear_error();
    for (;;) {
        int r = SSL_connect(io->ssl);
        if (r == 1)
            return 0;
        int w = http_tls_wait(io, r, deadline, err, errlen);
        if (w == 1)
            continue;
        long v = SSL_get_verify_result(io->ssl);
        if (v != X509_V_OK)
            snprintf(err, errlen, "TLS: certificate of %s refused: %s", host,
                     X509_verify_cert_error_string(v));
        else if (w == 0)
            snprintf(err, errlen, "TLS: handshake with %s timed out", host);
        return -1;
    }
}

static int http_write_all(struct http_io *io, const char *p, size_t n, int64_t deadline)
{
    char err[192];
    while (n) {
        if (io->ssl) {
            ERR_clear_error();
            int w = SSL_write(io->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
            if (w > 0) {
                p += w;
                n -= (size_t)w;
            } else if (http_tls_wait(io, w, deadline, err, sizeof err) != 1) {
                return -1;
            }
            continue;
        }
        ssize_t w = send(io->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (http_wait(io->fd, POLLOUT, deadline, io->idle) != 1)
                return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* Reads into buf up to the end of the answer's header block (or until buf
 * is full, or the peer closes). Returns the bytes read, or -1 (err). */
static long http_read_head(struct http_io *io, char *buf, size_t cap, int64_t deadline,
                           const char *where, char *err, size_t errlen)
{
    size_t got = 0;
    while (got < cap && !(got >= 12 && http_headers_end(buf, got))) {
        int w;
        if (io->ssl) {
            ERR_clear_error();
            int r = SSL_read(io->ssl, buf + got, (int)(cap - got));
            if (r > 0) {
                got += (size_t)r;
                continue;
            }
            if (SSL_get_error(io->ssl, r) == SSL_ERROR_ZERO_RETURN)
                break;
            w = http_tls_wait(io, r, deadline, err, errlen);
            if (w == -1 && got)
                break; /* closed without close_notify, after (part of) the answer */
        } else {
            ssize_t r = recv(io->fd, buf + got, cap - got, 0);
            if (r > 0) {
                got += (size_t)r;
                continue;
            }
            if (r == 0)
                break;
            if (errno == EINTR)
                continue;
            w = errno == EAGAIN || errno == EWOULDBLOCK
                    ? http_wait(io->fd, POLLIN, deadline, io->idle)
                    : -1;
        }
        if (w == 1)
            continue;
        snprintf(err, errlen, "%s waiting for the answer of %s",
                 w == 0 ? "timeout" : "connection lost", where);
        return -1;
    }
    return (long)got;
}

int webhook_http_post(const char *host, const char *port, int tls, const char *path,
                      const char *headers, const char *body, size_t len, unsigned timeout_ms,
                      void (*idle)(void *), void *idle_arg, char *err, size_t errlen)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    const struct http_idle id = {idle, idle_arg};
    struct http_io io = {http_connect(host, port, deadline, &id, err, errlen), NULL, &id};
    if (io.fd < 0)
        return -1;
    char where[300];
    snprintf(where, sizeof where, "%s:%s", host, port);
    int status = -1;
    char *head = NULL;
    if (tls && http_tls_start(&io, host, deadline, err, errlen) != 0)
        goto out;
    /* Host names the port unless it is the scheme's own. */
    int ipv6 = strchr(host, ':') != NULL, own_port = strcmp(port, tls ? "443" : "80") == 0;
    size_t cap = strlen(path) + strlen(host) + strlen(headers) + 256;
    if (!(head = malloc(cap))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    int hn = snprintf(head, cap,
                      "POST %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n%sContent-Length: %zu\r\n"
                      "Connection: close\r\nUser-Agent: docsyncd-webhook\r\n\r\n",
                      path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", own_port ? "" : ":",
                      own_port ? "" : port, headers, len);
    if (hn < 0 || (size_t)hn >= cap) {
        snprintf(err, errlen, "request head too long");
        goto out;
    }
    if (http_write_all(&io, head, (size_t)hn, deadline) != 0 ||
        http_write_all(&io, body, len, deadline) != 0) {
        snprintf(err, errlen, "%s while sending to %s",
                 clock_mono_ms() >= deadline ? "timeout" : "connection lost", where);
        goto out;
    }
    /* The status line and the header block; the body is not needed. */
    char in[4096];
    long got = http_read_head(&io, in, sizeof in, deadline, where, err, errlen);
    if (got < 0)
        goto out;
    if (got >= 12 && memcmp(in, "HTTP/1.", 7) == 0 && in[8] == ' ' && in[9] >= '1' &&
        in[9] <= '5' && in[10] >= '0' && in[10] <= '9' && in[11] >= '0' && in[11] <= '9')
        status = (in[9] - '0') * 100 + (in[10] - '0') * 10 + (in[11] - '0');
    else
        snprintf(err, errlen, "no HTTP answer from %s", where);
out:
    free(head);
    SSL_free(io.ssl);
    close(io.fd);
    return status;
}
