/* loadgen: a Pusher-protocol load generator (one process, one thread, epoll, raw frames).
 *
 * Modes (see usage()):
 *   fanout  - N subscribers on one public channel; signed HTTP publishes at a fixed rate or as
 *             fast as a bounded window of undelivered events allows; deliveries/s and latency.
 *   connect - open C connections as fast as possible (connections/s), hold them idle, report
 *             the server's RSS growth per connection.
 *   whisper - P pairs of private-channel subscribers relaying client events (ping-pong at full
 *             rate, or one side sending at a fixed total rate).
 * With --sio 3|4 the subscribers (fanout, connect) speak Socket.IO over Engine.IO 3 or 4 on
 * /socket.io/ (WebSocket transport) with laravel-echo-server's conventions: `40` to connect the
 * default namespace (protocol 4; protocol 3 servers connect it unasked), `42["subscribe",
 * {"channel":...}]`, events as `42["event","channel",data]`, pings answered (protocol 4) or
 * sent every 20 s (protocol 3). With --redis-port, fanout publishes through Redis as Laravel's
 * redis broadcaster does (PUBLISH <prefix><channel> {"event","data","socket"}) instead of the
 * signed HTTP API, so that servers without the HTTP API (laravel-echo-server) get the same load.
 * Every published event and whisper carries "@<CLOCK_MONOTONIC ns>" in its data; receivers find
 * the '@' and compute the one-way latency. Given --pid, server CPU (utime+stime from
 * /proc/<pid>/stat) and RSS (VmRSS) are sampled at the edges of the measurement window.
 * Output: human-readable lines on stderr, one "RESULT key=value ..." line on stdout.
 * Everything is bounded: connection counts by flags, run time by --timeout. */
#include "lg_hist.h"
#include "lg_opts.h"
#include "lg_proc.h"
#include "lg_sign.h"
#include "lg_ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define LG_RBUF (256 * 1024)
#define LG_MAX_PAYLOAD (64 * 1024)
#define LG_MAX_EVENTS 1024
#define LG_PUB_TAG (1ull << 40)
#define LG_MAX_CONNS 200000
#define LG_LOG_LIMIT 5

enum lg_phase { PH_CONNECT, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_END };
enum lg_cstate { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_DONE };

struct lg_conn {
    int fd;
    uint8_t state;
    uint8_t subscribed;
    uint8_t want_out;
    uint8_t established;
    uint32_t carry_len, carry_cap;
    uint32_t out_len, out_cap;
    uint8_t *carry;
    uint8_t *out;
    uint64_t t_start;
    char sid[32];
};

struct lg_pub {
    int fd;
    int busy;
    int close_after;
    uint64_t expect; /* deliveries this publish was counted for */
    size_t in_len;
    char in[8192];
};

struct lg_sample {
    uint64_t t_ns;
    uint64_t srv_ticks;
    uint64_t pid_user[LG_MAX_PIDS], pid_sys[LG_MAX_PIDS]; /* ticks of each --pid */
    uint64_t rss_kb;
    uint64_t lg_cpu_us;
    uint64_t recv;
    uint64_t pubs;
};

/* --event-log: one event's deliveries in the measured window, found by the publish time its
 * data carries. */
struct lg_event {
    uint64_t ts; /* CLOCK_MONOTONIC ns of the publish */
    uint64_t n, first_us, last_us;
};
#define LG_EVENTS_MAX 65536u   /* events logged; the ones after are counted */
#define LG_EVENTS_LOOKBACK 64u /* the newest events, where a delivery's event is looked for */

struct lg {
    struct lg_opts o;
    int ep;
    int pub_ep; /* publishers have their own epoll set, polled every loop iteration first */
    struct sockaddr_in dst[LG_MAX_PORTS]; /* subscribers' servers (--port) */
    struct sockaddr_in pub_dst;           /* HTTP publishes (--pub-port) or Redis (--redis-port) */
    uint64_t t_last_sub;                  /* Socket.IO: when the last subscribe went out */
    uint64_t next_eio_ping;               /* Engine.IO 3: when the clients ping next */
    struct lg_conn *conns;
    unsigned nconns;
    unsigned next_open, pending, established, subscribed, alive, failed, lost_conns;
    struct lg_pub pubs[LG_MAX_PUB];
    enum lg_phase phase;
    uint64_t t_begin, t_phase, t_connect_start, t_connect_done, next_send;
    uint64_t pub_total, pub_errors, expected, recv_total, recv_window, sent_total, late;
    uint64_t errors, closes, bad;
    unsigned rr;
    int measuring, incomplete;
    uint32_t rng;
    lg_hist lat;
    lg_hist conn_lat;
    struct lg_sample s0, s1;
    uint64_t rss_start_kb;
    char handshake[512];
    size_t handshake_len;
    unsigned logged;
    struct lg_event *events; /* --event-log: what each measured event's deliveries took */
    unsigned nevents, events_dropped;
    uint8_t rbuf[LG_RBUF];
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    printf("RESULT error=1\n");
    exit(1);
}

static void lg_log(struct lg *g, const char *fmt, ...)
{
    if (g->logged >= 40)
        return;
    g->logged++;
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint32_t lg_rand(struct lg *g)
{
    uint32_t x = g->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    g->rng = x;
    return x;
}

/* The servers' CPU and RSS: every --pid summed (cluster nodes and their Redis count together).
 * Each process's user and system time is kept too, for the per-process line. */
static uint64_t srv_cpu_ticks(const struct lg *g, struct lg_sample *s)
{
    uint64_t t = 0;
    for (unsigned i = 0; i < g->o.npids; i++) {
        lg_proc_cpu_split(g->o.pids[i], &s->pid_user[i], &s->pid_sys[i]);
        t += s->pid_user[i] + s->pid_sys[i];
    }
    return t;
}

static uint64_t srv_rss_kb(const struct lg *g)
{
    uint64_t kb = 0;
    for (unsigned i = 0; i < g->o.npids; i++)
        kb += lg_proc_rss_kb(g->o.pids[i]);
    return kb;
}

static void take_sample(struct lg *g, struct lg_sample *s)
{
    s->t_ns = now_ns();
    s->srv_ticks = srv_cpu_ticks(g, s);
    s->rss_kb = srv_rss_kb(g);
    s->lg_cpu_us = lg_proc_self_cpu_us();
    s->recv = g->recv_total;
    s->pubs = g->pub_total;
}

/* ---- connections ---- */

static void conn_lost(struct lg *g, struct lg_conn *c, const char *why)
{
    if (c->state == CS_DONE || c->state == CS_IDLE)
        return;
    if (!c->established) {
        g->pending--;
        g->failed++;
    } else {
        g->lost_conns++;
    }
    if (c->subscribed)
        g->alive--;
    if (g->phase != PH_END)
        lg_log(g, "connection %ld lost: %s", (long)(c - g->conns), why);
    epoll_ctl(g->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = CS_DONE;
    free(c->carry);
    free(c->out);
    c->carry = c->out = NULL;
    c->carry_len = c->carry_cap = c->out_len = c->out_cap = 0;
}

static void conn_set_out(struct lg *g, struct lg_conn *c, int on)
{
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.u64 = (uint64_t)(c - g->conns)};
    epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = (uint8_t)on;
}

static int buf_append(uint8_t **buf, uint32_t *len, uint32_t *cap, const void *data, size_t n)
{
    if ((size_t)*len + n > (size_t)*cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < (size_t)*len + n)
            nc *= 2;
        if (nc > 16u * 1024 * 1024)
            return -1;
        uint8_t *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = (uint32_t)nc;
    }
    memcpy(*buf + *len, data, n);
    *len += (uint32_t)n;
    return 0;
}

static void conn_send(struct lg *g, struct lg_conn *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (c->out_len == 0) {
        ssize_t n = write(c->fd, p, len);
        if (n == (ssize_t)len)
            return;
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_lost(g, c, strerror(errno));
                return;
            }
            n = 0;
        }
        p += n;
        len -= (size_t)n;
    }
    if (buf_append(&c->out, &c->out_len, &c->out_cap, p, len) < 0) {
        conn_lost(g, c, "send buffer over 16 MB");
        return;
    }
    conn_set_out(g, c, 1);
}

static void conn_send_text(struct lg *g, struct lg_conn *c, const char *text, size_t len)
{
    uint8_t frame[1024 + LG_WS_MAX_HEADER];
    if (len > 1024)
        die("frame too large");
    size_t n = lg_ws_encode(frame, LG_WS_TEXT, text, len, lg_rand(g));
    conn_send(g, c, frame, n);
}

static void conn_flush(struct lg *g, struct lg_conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = write(c->fd, c->out, c->out_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_lost(g, c, strerror(errno));
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (uint32_t)n;
    }
    conn_set_out(g, c, 0);
}

static void conn_open(struct lg *g, unsigned i)
{
    struct lg_conn *c = &g->conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise ulimit -n)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7F000001u + (i % g->o.src));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
        die("bind 127.0.0.%u: %s", 1 + i % g->o.src, strerror(errno));
    c->fd = fd;
    c->t_start = now_ns();
    c->state = CS_CONNECTING;
    g->pending++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = i};
    c->want_out = 1;
    if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    const struct sockaddr_in *dst = &g->dst[i % g->o.nports];
    if (connect(fd, (const struct sockaddr *)dst, sizeof *dst) < 0 && errno != EINPROGRESS)
        conn_lost(g, c, strerror(errno));
}

static void pump_connects(struct lg *g)
{
    while (g->next_open < g->nconns && g->pending < g->o.pending)
        conn_open(g, g->next_open++);
}

static void conn_connected(struct lg *g, struct lg_conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) {
        conn_lost(g, c, strerror(err));
        return;
    }
    c->state = CS_HANDSHAKE;
    conn_set_out(g, c, 0);
    conn_send(g, c, g->handshake, g->handshake_len);
}

/* ---- protocol ---- */

static void send_subscribe(struct lg *g, struct lg_conn *c, const char *channel, int private_auth)
{
    char msg[512];
    int n;
    if (g->o.sio) {
        /* laravel-echo-server acknowledges nothing for a public channel: the subscription
         * counts from now, and the load starts a second after the last one (tick). */
        n = snprintf(msg, sizeof msg, "42[\"subscribe\",{\"channel\":\"%s\"}]", channel);
        conn_send_text(g, c, msg, (size_t)n);
        if (!c->subscribed) {
            c->subscribed = 1;
            g->subscribed++;
            g->alive++;
        }
        g->t_last_sub = now_ns();
        return;
    }
    if (private_auth) {
        char tosign[256], sig[65];
        int m = snprintf(tosign, sizeof tosign, "%s:%s", c->sid, channel);
        lg_sign_hmac_hex(g->o.secret, tosign, (size_t)m, sig);
        n = snprintf(
            msg, sizeof msg,
            "{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"%s:%s\",\"channel\":\"%s\"}}",
            g->o.key, sig, channel);
    } else {
        n = snprintf(msg, sizeof msg,
                     "{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"\",\"channel\":\"%s\"}}",
                     channel);
    }
    conn_send_text(g, c, msg, (size_t)n);
}

static void send_whisper(struct lg *g, struct lg_conn *c)
{
    unsigned pair = (unsigned)(c - g->conns) / 2;
    char msg[256];
    int n = snprintf(
        msg, sizeof msg,
        "{\"event\":\"client-w\",\"channel\":\"private-w%u\",\"data\":{\"t\":\"@%" PRIu64 "\"}}",
        pair, now_ns());
    g->sent_total++;
    conn_send_text(g, c, msg, (size_t)n);
}

static void on_established(struct lg *g, struct lg_conn *c)
{
    if (c->established)
        return;
    c->established = 1;
    g->pending--;
    g->established++;
    lg_hist_add(&g->conn_lat, (now_ns() - c->t_start) / 1000u);
    if (g->o.mode == MODE_FANOUT) {
        send_subscribe(g, c, g->o.channel, 0);
    } else if (g->o.mode == MODE_CONNECT && g->o.subscribe_idle) {
        /* One channel per connection, like Echo's per-user channels. */
        char ch[160];
        snprintf(ch, sizeof ch, "%s-%u", g->o.channel, (unsigned)(c - g->conns));
        send_subscribe(g, c, ch, 0);
    } else if (g->o.mode == MODE_WHISPER) {
        char ch[64];
        snprintf(ch, sizeof ch, "private-w%u", (unsigned)(c - g->conns) / 2);
        send_subscribe(g, c, ch, 1);
    }
}

/* Counts a delivery of the event published at ts, lat_us after it, for --event-log. An
 * event's deliveries arrive while the next few are published: only the newest events are
 * searched. */
static void event_note(struct lg *g, uint64_t ts, uint64_t lat_us)
{
    unsigned from = g->nevents > LG_EVENTS_LOOKBACK ? g->nevents - LG_EVENTS_LOOKBACK : 0;
    for (unsigned i = g->nevents; i-- > from;) {
        struct lg_event *e = &g->events[i];
        if (e->ts == ts) {
            e->n++;
            e->first_us = lat_us < e->first_us ? lat_us : e->first_us;
            e->last_us = lat_us > e->last_us ? lat_us : e->last_us;
            return;
        }
    }
    if (g->nevents == LG_EVENTS_MAX) {
        g->events_dropped++;
        return;
    }
    g->events[g->nevents++] = (struct lg_event){ts, 1, lat_us, lat_us};
}

static void event_log_write(struct lg *g)
{
    FILE *f = fopen(g->o.event_log, "w");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", g->o.event_log, strerror(errno));
        return;
    }
    fprintf(f, "# publish_ms deliveries first_us last_us\n");
    for (unsigned i = 0; i < g->nevents; i++) {
        const struct lg_event *e = &g->events[i];
        fprintf(f, "%.3f %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                (double)(e->ts - g->events[0].ts) / 1e6, e->n, e->first_us, e->last_us);
    }
    if (g->events_dropped)
        fprintf(f, "# %u more events not logged\n", g->events_dropped);
    fclose(f);
}

static void on_message(struct lg *g, struct lg_conn *c, uint64_t ts)
{
    uint64_t now = now_ns();
    g->recv_total++;
    if (g->measuring) {
        uint64_t lat_us = now > ts ? (now - ts) / 1000u : 0;
        g->recv_window++;
        lg_hist_add(&g->lat, lat_us);
        if (g->events)
            event_note(g, ts, lat_us);
    }
    if (g->o.mode == MODE_WHISPER && g->o.rate <= 0 &&
        (g->phase == PH_WARMUP || g->phase == PH_MEASURE))
        send_whisper(g, c);
}

static int name_is(const uint8_t *p, const uint8_t *end, const char *name)
{
    size_t n = strlen(name);
    return (size_t)(end - p) > n && memcmp(p, name, n) == 0 && p[n] == '"';
}

static void on_event_at(struct lg *g, struct lg_conn *c, const uint8_t *from, const uint8_t *end,
                        const uint8_t *p, size_t len);

/* Engine.IO packets over the WebSocket: a type digit, then for messages the Socket.IO packet. */
static void on_sio_text(struct lg *g, struct lg_conn *c, const uint8_t *p, size_t len)
{
    if (len == 0) {
        g->bad++;
        return;
    }
    switch (p[0]) {
    case '0': /* open: protocol 4 connects the default namespace itself */
        if (g->o.sio == 4)
            conn_send_text(g, c, "40", 2);
        return;
    case '2': /* ping (protocol 4) */
        conn_send_text(g, c, "3", 1);
        return;
    case '3': /* pong (protocol 3) */
        return;
    case '4':
        break;
    default:
        g->bad++;
        lg_log(g, "unexpected Engine.IO packet: %.*s", (int)(len > 200 ? 200 : len),
               (const char *)p);
        return;
    }
    if (len >= 2 && p[1] == '0') {
        on_established(g, c);
    } else if (len >= 3 && p[1] == '2' && p[2] == '[') {
        on_event_at(g, c, p + 3, p + len, p, len);
    } else {
        g->errors++;
        lg_log(g, "Socket.IO packet: %.*s", (int)(len > 300 ? 300 : len), (const char *)p);
    }
}

static void on_text(struct lg *g, struct lg_conn *c, const uint8_t *p, size_t len)
{
    if (g->o.sio) {
        on_sio_text(g, c, p, len);
        return;
    }
    const uint8_t *end = p + len;
    const uint8_t *e = lg_ws_find(p, len, "\"event\":\"", 9);
    if (!e) {
        g->bad++;
        lg_log(g, "frame without event: %.*s", (int)(len > 200 ? 200 : len), (const char *)p);
        return;
    }
    e += 9;
    if (end - e > 7 && memcmp(e, "pusher", 6) == 0) {
        if (name_is(e, end, "pusher:connection_established")) {
            const uint8_t *s = lg_ws_find(e, (size_t)(end - e), "socket_id", 9);
            if (s) {
                s += 9;
                while (s < end && !(*s >= '0' && *s <= '9'))
                    s++;
                size_t k = 0;
                while (s < end && k < sizeof c->sid - 1 && ((*s >= '0' && *s <= '9') || *s == '.'))
                    c->sid[k++] = (char)*s++;
                c->sid[k] = '\0';
            }
            on_established(g, c);
        } else if (name_is(e, end, "pusher_internal:subscription_succeeded")) {
            if (!c->subscribed) {
                c->subscribed = 1;
                g->subscribed++;
                g->alive++;
            }
        } else if (name_is(e, end, "pusher:ping")) {
            static const char pong[] = "{\"event\":\"pusher:pong\",\"data\":{}}";
            conn_send_text(g, c, pong, sizeof pong - 1);
        } else if (name_is(e, end, "pusher:error") ||
                   name_is(e, end, "pusher:subscription_error")) {
            g->errors++;
            lg_log(g, "server error: %.*s", (int)(len > 300 ? 300 : len), (const char *)p);
        }
        return;
    }
    on_event_at(g, c, e, end, p, len);
}

/* An event: the publish time follows the first '@' after `from`. */
static void on_event_at(struct lg *g, struct lg_conn *c, const uint8_t *from, const uint8_t *end,
                        const uint8_t *p, size_t len)
{
    const uint8_t *at = memchr(from, '@', (size_t)(end - from));
    if (!at) {
        g->bad++;
        lg_log(g, "unexpected frame: %.*s", (int)(len > 200 ? 200 : len), (const char *)p);
        return;
    }
    uint64_t ts = 0;
    for (at++; at < end && *at >= '0' && *at <= '9'; at++)
        ts = ts * 10 + (uint64_t)(*at - '0');
    on_message(g, c, ts);
}

static void on_frame(struct lg *g, struct lg_conn *c, const lg_ws_frame *f)
{
    switch (f->opcode) {
    case LG_WS_TEXT:
    case 0x0:
        on_text(g, c, f->payload, f->len);
        break;
    case LG_WS_PING: {
        uint8_t frame[128 + LG_WS_MAX_HEADER];
        size_t n =
            lg_ws_encode(frame, LG_WS_PONG, f->payload, f->len > 125 ? 125 : f->len, lg_rand(g));
        conn_send(g, c, frame, n);
        break;
    }
    case LG_WS_CLOSE: {
        unsigned code = f->len >= 2 ? ((unsigned)f->payload[0] << 8 | f->payload[1]) : 0;
        g->closes++;
        char why[160];
        snprintf(why, sizeof why, "close frame %u %.*s", code,
                 (int)(f->len > 2 ? (f->len > 100 ? 98 : f->len - 2) : 0),
                 f->len > 2 ? (const char *)f->payload + 2 : "");
        conn_lost(g, c, why);
        break;
    }
    default:
        break;
    }
}

/* Consume frames from buf[0..have); returns the bytes used (the rest is a partial frame). */
static size_t conn_consume(struct lg *g, struct lg_conn *c, const uint8_t *buf, size_t have)
{
    size_t off = 0;
    if (c->state == CS_HANDSHAKE) {
        const uint8_t *e = lg_ws_find(buf, have, "\r\n\r\n", 4);
        if (!e) {
            if (have > 8192)
                conn_lost(g, c, "handshake response too long");
            return 0;
        }
        if (have < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
            const uint8_t *nl = memchr(buf, '\r', have);
            char why[160];
            snprintf(why, sizeof why, "handshake refused: %.*s",
                     (int)(nl ? (nl - buf > 100 ? 100 : nl - buf) : 0), (const char *)buf);
            conn_lost(g, c, why);
            return have;
        }
        off = (size_t)(e + 4 - buf);
        c->state = CS_OPEN;
    }
    while (off < have) {
        lg_ws_frame f;
        long r = lg_ws_decode(buf + off, have - off, LG_MAX_PAYLOAD, &f);
        if (r == 0)
            break;
        if (r < 0) {
            conn_lost(g, c, "bad frame from server");
            return have;
        }
        off += (size_t)r;
        on_frame(g, c, &f);
        if (c->state == CS_DONE)
            return have;
    }
    return off;
}

static void conn_readable(struct lg *g, struct lg_conn *c)
{
    size_t have = c->carry_len;
    if (have)
        memcpy(g->rbuf, c->carry, have);
    ssize_t n = read(c->fd, g->rbuf + have, LG_RBUF - have);
    if (n == 0) {
        conn_lost(g, c, "EOF");
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_lost(g, c, strerror(errno));
        return;
    }
    have += (size_t)n;
    size_t used = conn_consume(g, c, g->rbuf, have);
    if (c->state == CS_DONE)
        return;
    c->carry_len = 0;
    if (used < have &&
        buf_append(&c->carry, &c->carry_len, &c->carry_cap, g->rbuf + used, have - used) < 0)
        conn_lost(g, c, "carry overflow");
}

/* ---- HTTP publisher ---- */

static void pub_close(struct lg *g, struct lg_pub *p)
{
    if (p->fd >= 0) {
        epoll_ctl(g->pub_ep, EPOLL_CTL_DEL, p->fd, NULL);
        close(p->fd);
    }
    p->fd = -1;
    p->in_len = 0;
    p->close_after = 0;
}

static int pub_connect(struct lg *g, struct lg_pub *p)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&g->pub_dst, sizeof g->pub_dst) < 0) {
        lg_log(g, "publisher connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = LG_PUB_TAG | (uint64_t)(p - g->pubs)};
    epoll_ctl(g->pub_ep, EPOLL_CTL_ADD, fd, &ev);
    p->fd = fd;
    p->in_len = 0;
    return 0;
}

static void pub_failed(struct lg *g, struct lg_pub *p)
{
    g->pub_errors++;
    g->pub_total--;
    g->expected -= p->expect;
    p->busy = 0;
}

/* PUBLISH <prefix><channel> with what Laravel's RedisBroadcaster publishes, as RESP. */
static int publish_redis_request(struct lg *g, char *req, size_t cap)
{
    char ch[256], body[256];
    int clen = snprintf(ch, sizeof ch, "%s%s", g->o.redis_prefix, g->o.channel);
    int blen = snprintf(body, sizeof body,
                        "{\"event\":\"bench\",\"data\":{\"t\":\"@%" PRIu64
                        "\",\"socket\":null},\"socket\":null}",
                        now_ns());
    return snprintf(req, cap, "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", clen, ch, blen,
                    body);
}

/* The signed HTTP API publish of one event. */
static int publish_http_request(struct lg *g, char *req, size_t cap)
{
    char body[256], params[256], tosign[512], md5[33], sig[65];
    uint64_t ts = now_ns();
    int blen = snprintf(body, sizeof body,
                        "{\"name\":\"bench\",\"channels\":[\"%s\"],\"data\":\"@%" PRIu64 "\"}",
                        g->o.channel, ts);
    lg_sign_md5_hex(body, (size_t)blen, md5);
    snprintf(params, sizeof params, "auth_key=%s&auth_timestamp=%ld&auth_version=1.0&body_md5=%s",
             g->o.key, (long)time(NULL), md5);
    int slen = snprintf(tosign, sizeof tosign, "POST\n/apps/%s/events\n%s", g->o.app_id, params);
    lg_sign_hmac_hex(g->o.secret, tosign, (size_t)slen, sig);
    return snprintf(req, cap,
                    "POST /apps/%s/events?%s&auth_signature=%s HTTP/1.1\r\nHost: %s:%d\r\n"
                    "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                    g->o.app_id, params, sig, g->o.host, g->o.pub_port, blen, body);
}

static int publish(struct lg *g, struct lg_pub *p)
{
    if (p->fd < 0 && pub_connect(g, p) < 0)
        return -1;
    char req[1024];
    int rlen = g->o.redis_port ? publish_redis_request(g, req, sizeof req)
                               : publish_http_request(g, req, sizeof req);
    ssize_t n = write(p->fd, req, (size_t)rlen);
    if (n != rlen) {
        lg_log(g, "publisher write: %s", n < 0 ? strerror(errno) : "short");
        pub_close(g, p);
        return -1;
    }
    p->busy = 1;
    p->expect = g->o.mode == MODE_FANOUT ? g->alive : 0;
    g->pub_total++;
    g->expected += p->expect;
    return 0;
}

static const char *find_ci(const char *hay, size_t hlen, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hlen; i++)
        if (strncasecmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* Redis answers PUBLISH with :<receivers>\r\n; an error line fails the publish. */
static void pub_redis_replies(struct lg *g, struct lg_pub *p)
{
    char *nl;
    while ((nl = strstr(p->in, "\r\n")) != NULL) {
        if (p->in[0] == ':') {
            if (atol(p->in + 1) < 1)
                lg_log(g, "PUBLISH reached no subscriber: is the server subscribed to Redis?");
            p->busy = 0;
        } else {
            lg_log(g, "Redis answered %.*s", (int)(nl - p->in > 200 ? 200 : nl - p->in), p->in);
            pub_failed(g, p);
        }
        size_t used = (size_t)(nl + 2 - p->in);
        memmove(p->in, p->in + used, p->in_len - used + 1);
        p->in_len -= used;
    }
}

static void pub_readable(struct lg *g, struct lg_pub *p)
{
    ssize_t n = read(p->fd, p->in + p->in_len, sizeof p->in - 1 - p->in_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (p->busy) {
            lg_log(g, "publisher: connection closed before the response");
            pub_failed(g, p);
        }
        pub_close(g, p);
        return;
    }
    p->in_len += (size_t)n;
    p->in[p->in_len] = '\0';
    if (g->o.redis_port) {
        pub_redis_replies(g, p);
        return;
    }
    for (;;) {
        const char *e = strstr(p->in, "\r\n\r\n");
        if (!e)
            return;
        size_t hlen = (size_t)(e + 4 - p->in);
        const char *cl = find_ci(p->in, hlen, "\r\ncontent-length:");
        size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
        if (p->in_len < hlen + blen)
            return;
        int status = p->in_len > 12 ? atoi(p->in + 9) : 0;
        if (find_ci(p->in, hlen, "\r\nconnection: close"))
            p->close_after = 1;
        if (status != 200) {
            lg_log(g, "publish answered %d: %.*s", status, (int)(blen > 200 ? 200 : blen),
                   p->in + hlen);
            pub_failed(g, p);
        } else {
            p->busy = 0;
        }
        memmove(p->in, p->in + hlen + blen, p->in_len - hlen - blen);
        p->in_len -= hlen + blen;
        p->in[p->in_len] = '\0';
        if (p->close_after) {
            pub_close(g, p);
            return;
        }
    }
}

static struct lg_pub *pub_idle(struct lg *g)
{
    for (unsigned i = 0; i < g->o.publishers; i++)
        if (!g->pubs[i].busy)
            return &g->pubs[i];
    return NULL;
}

/* ---- scheduling ---- */

static void send_due(struct lg *g, uint64_t now)
{
    if (g->phase != PH_WARMUP && g->phase != PH_MEASURE)
        return;
    if (g->o.mode == MODE_FANOUT) {
        if (g->o.rate > 0) {
            uint64_t interval = (uint64_t)(1e9 / g->o.rate);
            unsigned guard = 0;
            while (now >= g->next_send && guard++ < 1000) {
                struct lg_pub *p = pub_idle(g);
                if (!p) {
                    g->late++;
                    break;
                }
                if (publish(g, p) < 0)
                    g->pub_errors++;
                g->next_send += interval;
            }
        } else {
            struct lg_pub *p;
            /* recv_total can pass expected if a subscriber counted as gone still got frames. */
            while ((g->expected > g->recv_total ? g->expected - g->recv_total : 0) <
                       (uint64_t)g->o.window * g->alive &&
                   (p = pub_idle(g)) != NULL)
                if (publish(g, p) < 0) {
                    g->pub_errors++;
                    break;
                }
        }
    } else if (g->o.mode == MODE_WHISPER && g->o.rate > 0) {
        uint64_t interval = (uint64_t)(1e9 / g->o.rate);
        unsigned guard = 0;
        while (now >= g->next_send && guard++ < 10000) {
            unsigned pairs = g->nconns / 2;
            struct lg_conn *c = &g->conns[2 * (g->rr++ % pairs)];
            if (c->state == CS_OPEN)
                send_whisper(g, c);
            g->next_send += interval;
        }
    }
}

static int pubs_idle(struct lg *g)
{
    for (unsigned i = 0; i < g->o.publishers; i++)
        if (g->pubs[i].busy)
            return 0;
    return 1;
}

static void start_load(struct lg *g, uint64_t now)
{
    g->phase = PH_WARMUP;
    g->t_phase = now;
    g->next_send = now;
    fprintf(stderr, "loadgen: %u/%u connected, %u subscribed in %.2f s; warming up %.1f s\n",
            g->established, g->nconns, g->subscribed, (double)(now - g->t_connect_start) / 1e9,
            g->o.warmup);
    if (g->o.mode == MODE_WHISPER && g->o.rate <= 0) {
        for (unsigned i = 0; i + 1 < g->nconns; i += 2)
            if (g->conns[i].subscribed && g->conns[i + 1].subscribed)
                for (unsigned k = 0; k < g->o.window; k++)
                    send_whisper(g, &g->conns[i]);
    }
}

static void tick(struct lg *g, uint64_t now)
{
    double since = (double)(now - g->t_phase) / 1e9;
    if ((double)(now - g->t_begin) / 1e9 > g->o.timeout && g->phase != PH_END) {
        lg_log(g, "overall timeout %.0f s reached in phase %d", g->o.timeout, (int)g->phase);
        g->incomplete = 1;
        if (g->measuring)
            take_sample(g, &g->s1);
        g->measuring = 0;
        g->phase = PH_END;
        return;
    }
    if (g->o.sio == 3 && now >= g->next_eio_ping) {
        /* Engine.IO 3 clients ping (every 25 s by default; 20 s here keeps them alive). */
        if (g->next_eio_ping)
            for (unsigned i = 0; i < g->nconns; i++)
                if (g->conns[i].state == CS_OPEN)
                    conn_send_text(g, &g->conns[i], "2", 1);
        g->next_eio_ping = now + 20000000000ull;
    }
    switch (g->phase) {
    case PH_CONNECT: {
        unsigned want =
            g->o.mode == MODE_CONNECT && !g->o.subscribe_idle ? g->established : g->subscribed;
        int all = want == g->nconns;
        /* Socket.IO subscriptions are not acknowledged: give the server a second. */
        if (all && g->o.sio && now - g->t_last_sub < 1000000000ull)
            break;
        int stuck = g->next_open == g->nconns && g->pending == 0 &&
                    want + g->failed + g->lost_conns >= g->nconns;
        if (all || stuck || since > g->o.timeout / 2) {
            if (!all) {
                g->incomplete = 1;
                lg_log(g, "only %u of %u connections ready (%u failed)", want, g->nconns,
                       g->failed);
            }
            g->t_connect_done = now;
            if (want == 0) {
                lg_log(g, "nothing connected; giving up");
                g->phase = PH_END;
            } else if (g->o.mode == MODE_CONNECT) {
                take_sample(g, &g->s1); /* CPU spent connecting */
                g->phase = PH_HOLD;
                g->t_phase = now;
            } else {
                start_load(g, now);
            }
        }
        break;
    }
    case PH_WARMUP:
        if (since >= g->o.warmup) {
            g->phase = PH_MEASURE;
            g->t_phase = now;
            lg_hist_reset(&g->lat);
            g->recv_window = 0;
            take_sample(g, &g->s0);
            g->measuring = 1;
        }
        break;
    case PH_MEASURE:
        if (since >= g->o.duration) {
            take_sample(g, &g->s1);
            g->measuring = 0;
            g->phase = PH_DRAIN;
            g->t_phase = now;
        }
        break;
    case PH_DRAIN: {
        uint64_t expect = g->o.mode == MODE_FANOUT ? g->expected : g->sent_total;
        if ((pubs_idle(g) && g->recv_total >= expect) || since > 5.0)
            g->phase = PH_END;
        break;
    }
    case PH_HOLD:
        if (since >= g->o.hold) {
            g->s0.rss_kb = srv_rss_kb(g);
            g->phase = PH_END;
        }
        break;
    case PH_END:
        break;
    }
    send_due(g, now);
}

static void dispatch(struct lg *g, struct epoll_event *ev)
{
    if (ev->data.u64 & LG_PUB_TAG) {
        struct lg_pub *p = &g->pubs[ev->data.u64 & 0xFF];
        if (p->fd >= 0)
            pub_readable(g, p);
        return;
    }
    struct lg_conn *c = &g->conns[ev->data.u64];
    if (c->state == CS_DONE)
        return;
    if (c->state == CS_CONNECTING) {
        conn_connected(g, c);
        return;
    }
    if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_readable(g, c);
    if (c->state != CS_DONE && (ev->events & EPOLLOUT))
        conn_flush(g, c);
}

static void run(struct lg *g)
{
    struct epoll_event evs[LG_MAX_EVENTS];
    uint64_t last_wait = 0;
    g->t_begin = g->t_connect_start = g->t_phase = now_ns();
    if (g->o.mode == MODE_CONNECT)
        take_sample(g, &g->s0);
    g->rss_start_kb = srv_rss_kb(g);
    while (g->phase != PH_END) {
        uint64_t now = now_ns();
        if (g->phase == PH_CONNECT)
            pump_connects(g);
        tick(g, now);
        if (g->phase == PH_END)
            break;
        int timeout = 20;
        if ((g->phase == PH_WARMUP || g->phase == PH_MEASURE) && g->o.rate > 0) {
            uint64_t t = now_ns();
            timeout = g->next_send > t ? (int)((g->next_send - t + 999999u) / 1000000u) : 0;
            if (timeout > 20)
                timeout = 20;
        }
        if (g->o.spin && (g->phase == PH_WARMUP || g->phase == PH_MEASURE))
            timeout = 0; /* never sleep: the server never has to wake us */
        if (g->o.batch_us && (g->phase == PH_WARMUP || g->phase == PH_MEASURE)) {
            uint64_t t = now_ns(), due = last_wait + (uint64_t)g->o.batch_us * 1000u;
            if (due > t) {
                struct timespec ts = {0, (long)(due - t)};
                nanosleep(&ts, NULL);
            }
        }
        last_wait = now_ns();
        /* Responses to publishes first, so that a long batch of deliveries never delays the next
         * publish (that would leave the server idle and understate its rate). */
        int np = epoll_wait(g->pub_ep, evs, LG_MAX_EVENTS, 0);
        for (int i = 0; i < np; i++)
            dispatch(g, &evs[i]);
        if (np > 0)
            send_due(g, now_ns());
        int n = epoll_wait(g->ep, evs, LG_MAX_EVENTS, np > 0 ? 0 : timeout);
        for (int i = 0; i < n; i++)
            dispatch(g, &evs[i]);
    }
}

/* ---- report ---- */

/* The window's CPU of each --pid, user + system in ms, on the RESULT line (srv_cpu_ms_by_pid=
 * pid:user+system,...) and, with several processes, on stderr: where a cluster's CPU goes. */
static void print_cpu_by_pid(const struct lg *g, double tck)
{
    double user[LG_MAX_PIDS], sys[LG_MAX_PIDS];
    for (unsigned i = 0; i < g->o.npids; i++) {
        user[i] = (double)(g->s1.pid_user[i] - g->s0.pid_user[i]) * 1e3 / tck;
        sys[i] = (double)(g->s1.pid_sys[i] - g->s0.pid_sys[i]) * 1e3 / tck;
    }
    printf(" srv_cpu_ms_by_pid=");
    for (unsigned i = 0; i < g->o.npids; i++)
        printf("%s%d:%.0f+%.0f", i ? "," : "", g->o.pids[i], user[i], sys[i]);
    if (g->o.npids < 2)
        return;
    fprintf(stderr, "loadgen: server CPU per process over the window (user + system ms):");
    for (unsigned i = 0; i < g->o.npids; i++)
        fprintf(stderr, " %d: %.0f + %.0f", g->o.pids[i], user[i], sys[i]);
    fprintf(stderr, "\n");
}

static void report(struct lg *g)
{
    const char *mode = g->o.mode == MODE_FANOUT    ? "fanout"
                       : g->o.mode == MODE_CONNECT ? "connect"
                                                   : "whisper";
    double tck = (double)sysconf(_SC_CLK_TCK);
    printf(
        "RESULT mode=%s label=%s n=%u rate=%g incomplete=%d failed=%u lost_conns=%u errors=%" PRIu64
        " closes=%" PRIu64 " bad=%" PRIu64,
        mode, g->o.label, g->o.n, g->o.rate, g->incomplete, g->failed, g->lost_conns, g->errors,
        g->closes, g->bad);
    if (g->o.mode == MODE_CONNECT) {
        double secs = (double)(g->t_connect_done - g->t_connect_start) / 1e9;
        double cpu_us = (double)(g->s1.srv_ticks - g->s0.srv_ticks) * 1e6 / tck;
        uint64_t ready = g->established;
        double rss_per =
            ready ? ((double)g->s0.rss_kb - (double)g->rss_start_kb) * 1024.0 / (double)ready : 0;
        printf(" established=%" PRIu64 " connect_s=%.3f conn_per_s=%.0f conn_p50_us=%" PRIu64
               " conn_p99_us=%" PRIu64 " srv_us_per_conn=%.1f rss_before_kb=%" PRIu64
               " rss_after_kb=%" PRIu64 " rss_per_conn_b=%.0f",
               ready, secs, secs > 0 ? (double)ready / secs : 0,
               lg_hist_percentile(&g->conn_lat, 0.5), lg_hist_percentile(&g->conn_lat, 0.99),
               ready ? cpu_us / (double)ready : 0, g->rss_start_kb, g->s0.rss_kb, rss_per);
        fprintf(stderr,
                "loadgen: %" PRIu64 " connections in %.2f s = %.0f/s; server RSS %" PRIu64
                " -> %" PRIu64 " kB = %.0f B per connection\n",
                ready, secs, secs > 0 ? (double)ready / secs : 0, g->rss_start_kb, g->s0.rss_kb,
                rss_per);
    } else {
        double secs = (double)(g->s1.t_ns - g->s0.t_ns) / 1e9;
        double cpu_us = (double)(g->s1.srv_ticks - g->s0.srv_ticks) * 1e6 / tck;
        double lg_us = (double)(g->s1.lg_cpu_us - g->s0.lg_cpu_us);
        uint64_t d = g->recv_window;
        uint64_t expect = g->o.mode == MODE_FANOUT ? g->expected : g->sent_total;
        uint64_t lost = expect > g->recv_total ? expect - g->recv_total : 0;
        printf(" subscribed=%u window=%u secs=%.2f deliveries=%" PRIu64
               " deliv_per_s=%.0f publishes=%" PRIu64 " pub_per_s=%.1f pub_errors=%" PRIu64
               " late=%" PRIu64 " lost=%" PRIu64
               " srv_cpu_pct=%.1f srv_us_per_deliv=%.3f lg_cpu_pct=%.1f"
               " p50_us=%" PRIu64 " p99_us=%" PRIu64 " max_us=%" PRIu64 " rss_kb=%" PRIu64,
               g->subscribed, g->o.window, secs, d, secs > 0 ? (double)d / secs : 0,
               g->s1.pubs - g->s0.pubs, secs > 0 ? (double)(g->s1.pubs - g->s0.pubs) / secs : 0,
               g->pub_errors, g->late, lost, secs > 0 ? cpu_us / secs / 1e4 : 0,
               d ? cpu_us / (double)d : 0, secs > 0 ? lg_us / secs / 1e4 : 0,
               lg_hist_percentile(&g->lat, 0.5), lg_hist_percentile(&g->lat, 0.99),
               lg_hist_percentile(&g->lat, 1.0), g->s1.rss_kb);
        print_cpu_by_pid(g, tck);
        fprintf(
            stderr,
            "loadgen: %s %u: %.0f deliveries/s over %.1f s, server %.1f%% CPU = %.3f us/delivery, "
            "latency p50 %" PRIu64 " us p99 %" PRIu64 " us max %" PRIu64 " us, lost %" PRIu64
            ", loadgen CPU %.0f%%\n",
            mode, g->o.n, secs > 0 ? (double)d / secs : 0, secs, secs > 0 ? cpu_us / secs / 1e4 : 0,
            d ? cpu_us / (double)d : 0, lg_hist_percentile(&g->lat, 0.5),
            lg_hist_percentile(&g->lat, 0.99), lg_hist_percentile(&g->lat, 1.0), lost,
            secs > 0 ? lg_us / secs / 1e4 : 0);
    }
    printf("\n");
    fflush(stdout);
}

/* Check the signing helpers against known answers: Pusher's published examples of a private
 * channel subscription signature and of a signed HTTP API publish (body MD5 and signature),
 * and the histogram's percentiles. */
static int selftest(void)
{
    char hex[65], md5[33];
    int bad = 0;
    lg_sign_hmac_hex("7ad3773142a6692b25b8", "1234.1234:private-foobar", 24, hex);
    bad |= strcmp(hex, "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4") != 0;
    static const char body[] =
        "{\"name\":\"foo\",\"channels\":[\"project-3\"],\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}";
    lg_sign_md5_hex(body, sizeof body - 1, md5);
    bad |= strcmp(md5, "ec365a775a4cd0599faeb73354201b6f") != 0;
    static const char tosign[] =
        "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179"
        "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f";
    lg_sign_hmac_hex("7ad3773142a6692b25b8", tosign, sizeof tosign - 1, hex);
    bad |= strcmp(hex, "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c") != 0;
    lg_hist h;
    lg_hist_reset(&h);
    for (uint64_t v = 1; v <= 100000; v++)
        lg_hist_add(&h, v);
    uint64_t p50 = lg_hist_percentile(&h, 0.5), p99 = lg_hist_percentile(&h, 0.99);
    bad |= p50 < 49800 || p50 > 50100 || p99 < 98700 || p99 > 99100 ||
           lg_hist_percentile(&h, 1.0) != 100000;
    fprintf(stderr, "loadgen selftest: %s (md5 %s, p50 %" PRIu64 ", p99 %" PRIu64 ")\n",
            bad ? "FAILED" : "ok", md5, p50, p99);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "selftest") == 0)
        return selftest();
    struct lg *g = calloc(1, sizeof *g);
    if (!g)
        die("out of memory");
    lg_opts_parse(&g->o, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    g->nconns = g->o.mode == MODE_WHISPER ? 2 * g->o.n : g->o.n;
    if (g->nconns > LG_MAX_CONNS)
        die("at most %d connections", LG_MAX_CONNS);
    if (g->o.src == 0)
        g->o.src = 1 + g->nconns / 20000;
    if (g->o.src > 250)
        g->o.src = 250;
    if (g->o.window == 0)
        /* Fan-out: as many undelivered events as there are publishers, so that a server answering
         * the HTTP publish before its fan-out is done (docsyncd) and one answering after it
         * (soketi) have the same number of events in flight. */
        g->o.window = g->o.mode == MODE_WHISPER ? 1 : g->o.publishers;
    lg_opts_raise_nofile(g->nconns + 64);
    g->rng = 0x9E3779B9u;
    g->conns = calloc(g->nconns, sizeof *g->conns);
    if (!g->conns)
        die("out of memory");
    for (unsigned i = 0; i < g->nconns; i++)
        g->conns[i].fd = -1;
    for (unsigned i = 0; i < LG_MAX_PUB; i++)
        g->pubs[i].fd = -1;
    g->pub_dst.sin_family = AF_INET;
    g->pub_dst.sin_port = htons((uint16_t)g->o.pub_port);
    if (inet_pton(AF_INET, g->o.host, &g->pub_dst.sin_addr) != 1)
        die("bad --host %s (IPv4 address expected)", g->o.host);
    for (unsigned i = 0; i < g->o.nports; i++) {
        g->dst[i] = g->pub_dst;
        g->dst[i].sin_port = htons((uint16_t)g->o.ports[i]);
    }
    if (g->o.redis_port)
        g->pub_dst.sin_port = htons((uint16_t)g->o.redis_port);
    char target[256];
    if (g->o.sio)
        snprintf(target, sizeof target, "/socket.io/?EIO=%d&transport=websocket", g->o.sio);
    else
        snprintf(target, sizeof target, "/app/%s?protocol=7&client=js&version=8.6.0&flash=false",
                 g->o.key);
    g->handshake_len =
        (size_t)snprintf(g->handshake, sizeof g->handshake,
                         "GET %s HTTP/1.1\r\n"
                         "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n",
                         target, g->o.host, g->o.port);
    g->ep = epoll_create1(EPOLL_CLOEXEC);
    g->pub_ep = epoll_create1(EPOLL_CLOEXEC);
    if (g->ep < 0 || g->pub_ep < 0)
        die("epoll_create1: %s", strerror(errno));
    lg_hist_reset(&g->lat);
    lg_hist_reset(&g->conn_lat);
    if (g->o.event_log && g->o.mode == MODE_FANOUT &&
        !(g->events = calloc(LG_EVENTS_MAX, sizeof *g->events)))
        die("out of memory");
    run(g);
    report(g);
    if (g->events)
        event_log_write(g);
    int rc = g->incomplete ? 3 : 0;
    for (unsigned i = 0; i < g->nconns; i++) {
        if (g->conns[i].fd >= 0)
            close(g->conns[i].fd);
        free(g->conns[i].carry);
        free(g->conns[i].out);
    }
    for (unsigned i = 0; i < LG_MAX_PUB; i++)
        if (g->pubs[i].fd >= 0)
            close(g->pubs[i].fd);
    close(g->ep);
    close(g->pub_ep);
    free(g->events);
    free(g->conns);
    free(g);
    return rc;
}
