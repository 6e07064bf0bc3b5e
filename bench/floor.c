/* floor: the cheapest possible fan-out server, to measure what the kernel alone costs.
 *
 * Not a Pusher server: it speaks just enough of the protocol for bench/loadgen's fanout mode
 * (101 with a dummy accept key, connection_established, subscription_succeeded for any
 * subscribe, HTTP POST accepted without checking the signature) and delivers each published
 * event with one write() per subscriber of a frame built once. Nothing is queued: a write that
 * would block is counted as dropped. Its server-CPU-per-delivery figure is the floor below which
 * no server doing one write() per delivery on this machine can go; docsyncd's figure minus this
 * one is what docsyncd itself costs.
 *
 * With "coalesce", frames are instead appended to a per-subscriber buffer and every subscriber
 * with pending frames gets one write() at the end of each event-loop iteration, so events
 * published close together share a syscall: the gain a server can get from writing queued
 * frames together (writev or one buffer) instead of one write per frame.
 *
 * On SIGTERM it prints how many frames it delivered in how many writes, then exits.
 *
 * usage: floor PORT [coalesce]   (listens on 127.0.0.1:PORT; runs until killed) */
#define _GNU_SOURCE /* memmem, accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define FL_MAX_FD 65536
#define FL_BUF 4096

struct fl_conn {
    int kind; /* 0 = unknown yet, 1 = websocket, 2 = http */
    int subscribed;
    size_t len, olen;
    char buf[FL_BUF];
    char out[FL_BUF];
};

struct fl {
    int ep, lfd;
    struct fl_conn *conns[FL_MAX_FD];
    int subs[FL_MAX_FD];
    int nsubs;
    int coalesce;
    int dirty[FL_MAX_FD];
    int ndirty;
    unsigned long long dropped;
    unsigned long long frames, writes; /* delivered frames, and the writes that carried them */
};

/* SIGTERM (the bench stopping it): print the counters, then exit. */
static volatile sig_atomic_t fl_stop;
static void fl_on_term(int sig)
{
    (void)sig;
    fl_stop = 1;
}

static void fl_close(struct fl *f, int fd)
{
    struct fl_conn *c = f->conns[fd];
    if (c && c->subscribed)
        for (int i = 0; i < f->nsubs; i++)
            if (f->subs[i] == fd) {
                f->subs[i] = f->subs[--f->nsubs];
                break;
            }
    free(c);
    f->conns[fd] = NULL;
    close(fd);
}

static size_t fl_frame(char *out, const char *text, size_t len)
{
    size_t h = 0;
    out[h++] = (char)0x81;
    if (len < 126) {
        out[h++] = (char)len;
    } else {
        out[h++] = 126;
        out[h++] = (char)(len >> 8);
        out[h++] = (char)len;
    }
    memcpy(out + h, text, len);
    return h + len;
}

static void fl_send_text(int fd, const char *text)
{
    char frame[1024];
    size_t n = fl_frame(frame, text, strlen(text));
    if (write(fd, frame, n) < 0) {
        /* A failed control reply shows up as a stuck client in loadgen. */
    }
}

/* Handle the WebSocket frames in c->buf; returns bytes consumed. */
static size_t fl_ws(struct fl *f, int fd, struct fl_conn *c)
{
    size_t off = 0;
    while (c->len - off >= 6) {
        unsigned char *p = (unsigned char *)c->buf + off;
        size_t plen = p[1] & 0x7F, h = 2;
        if (plen == 126) {
            if (c->len - off < 8)
                break;
            plen = (size_t)p[2] << 8 | p[3];
            h = 4;
        } else if (plen == 127) {
            fl_close(f, fd);
            return 0;
        }
        if (c->len - off < h + 4 + plen)
            break;
        unsigned char *mask = p + h, *pl = p + h + 4;
        for (size_t i = 0; i < plen; i++)
            pl[i] ^= mask[i & 3];
        if ((p[0] & 0x0F) == 8) {
            fl_close(f, fd);
            return 0;
        }
        if (plen > 20 && memmem(pl, plen, "pusher:subscribe", 16) != NULL && !c->subscribed) {
            c->subscribed = 1;
            f->subs[f->nsubs++] = fd;
            fl_send_text(fd, "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{}"
                             "\",\"channel\":\"bench\"}");
        }
        off += h + 4 + plen;
    }
    return off;
}

static void fl_publish(struct fl *f, const char *body, size_t blen)
{
    const char *at = memchr(body, '@', blen);
    char msg[256], frame[300];
    size_t k = 0;
    if (at)
        for (at++; at < body + blen && *at >= '0' && *at <= '9' && k < 30; at++)
            k++;
    int m =
        snprintf(msg, sizeof msg, "{\"event\":\"bench\",\"channel\":\"bench\",\"data\":\"@%.*s\"}",
                 (int)k, at ? at - k : "");
    size_t n = fl_frame(frame, msg, (size_t)m);
    for (int i = 0; i < f->nsubs; i++) {
        f->frames++;
        if (!f->coalesce) {
            f->writes++;
            if (write(f->subs[i], frame, n) != (ssize_t)n)
                f->dropped++;
            continue;
        }
        struct fl_conn *c = f->conns[f->subs[i]];
        if (c->olen + n > FL_BUF) {
            f->dropped++;
            continue;
        }
        if (c->olen == 0)
            f->dirty[f->ndirty++] = f->subs[i];
        memcpy(c->out + c->olen, frame, n);
        c->olen += n;
    }
}

static void fl_flush(struct fl *f)
{
    for (int i = 0; i < f->ndirty; i++) {
        struct fl_conn *c = f->conns[f->dirty[i]];
        if (c && c->olen) {
            f->writes++;
            if (write(f->dirty[i], c->out, c->olen) != (ssize_t)c->olen)
                f->dropped++;
        }
        if (c)
            c->olen = 0;
    }
    f->ndirty = 0;
}

/* Handle HTTP requests in c->buf (upgrade or publish); returns bytes consumed. */
static size_t fl_http(struct fl *f, int fd, struct fl_conn *c)
{
    char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!e)
        return 0;
    size_t hlen = (size_t)(e + 4 - c->buf);
    if (strncmp(c->buf, "GET ", 4) == 0) {
        static const char ok[] =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        if (write(fd, ok, sizeof ok - 1) < 0)
            return hlen;
        c->kind = 1;
        fl_send_text(fd, "{\"event\":\"pusher:connection_established\",\"data\":\"{\\\"socket_"
                         "id\\\":\\\"1.1\\\","
                         "\\\"activity_timeout\\\":30}\"}");
        return hlen;
    }
    char *cl = memmem(c->buf, hlen, "Content-Length: ", 16);
    size_t blen = cl ? strtoul(cl + 16, NULL, 10) : 0;
    if (c->len < hlen + blen)
        return 0;
    c->kind = 2;
    fl_publish(f, c->buf + hlen, blen);
    static const char resp[] =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    if (write(fd, resp, sizeof resp - 1) < 0)
        return hlen + blen;
    return hlen + blen;
}

static void fl_readable(struct fl *f, int fd)
{
    struct fl_conn *c = f->conns[fd];
    ssize_t n = read(fd, c->buf + c->len, FL_BUF - c->len);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        fl_close(f, fd);
        return;
    }
    c->len += (size_t)n;
    for (;;) {
        size_t used = c->kind == 1 ? fl_ws(f, fd, c) : fl_http(f, fd, c);
        if (f->conns[fd] != c || used == 0)
            return;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
        if (c->len == 0)
            return;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "coalesce") != 0)) {
        fprintf(stderr, "usage: floor PORT [coalesce]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = fl_on_term};
    sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: epoll_wait returns EINTR */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    struct fl *f = calloc(1, sizeof *f);
    if (!f)
        return 1;
    f->coalesce = argc == 3;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(f->lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(f->lfd, 4096) < 0) {
        perror("floor: listen");
        return 1;
    }
    f->ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = f->lfd};
    epoll_ctl(f->ep, EPOLL_CTL_ADD, f->lfd, &ev);
    fprintf(stderr, "listening on 127.0.0.1:%s\n", argv[1]);
    struct epoll_event evs[512];
    while (!fl_stop) {
        int n = epoll_wait(f->ep, evs, 512, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == f->lfd) {
                int cfd;
                while ((cfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= FL_MAX_FD) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    f->conns[cfd] = calloc(1, sizeof(struct fl_conn));
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(f->ep, EPOLL_CTL_ADD, cfd, &cev);
                }
            } else if (f->conns[fd]) {
                fl_readable(f, fd);
            }
        }
        fl_flush(f);
    }
    fprintf(stderr, "floor: %llu frames in %llu writes (%.2f per write), %llu dropped\n", f->frames,
            f->writes, f->writes ? (double)f->frames / (double)f->writes : 0.0, f->dropped);
    return 0;
}
