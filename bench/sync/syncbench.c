/* syncbench: load generator for docsync's document sync (never a test).
 *
 *   syncbench write   --port P[,P2,..] --key K --secret S --writers W [--window N]
 *                     [--docs 1|W] [--seconds T] [--pid PID[,PID2,..]]
 *       W connections join presence-document.bench-w{i}-{pid} (i = 0, or the writer's
 *       number modulo the documents) and submit CRDT updates (one character each, made
 *       by a real crdt replica per writer, which never applies the others' edits)
 *       keeping N in flight;
 *       prints acknowledged (durable) edits per second and ack latency p50/p99, and a
 *       RESULT line. Writer i connects to the i-th port modulo their number (the nodes of
 *       a cluster); with --pid, the server CPU (every pid summed: nodes and their Redis)
 *       per acknowledged edit.
 *   syncbench fanout  --port P --key K --secret S --subs N --rate R [--seconds T]
 *       N connections subscribe to private-document.bench-fan-{pid}; one writer submits R
 *       updates/s; prints the submit -> DocumentUpdated latency over all deliveries.
 *   syncbench catchup --port P --key K --secret S --missed M [--merge 1]
 *       one writer submits M updates, then a new connection catches up from version 1
 *       with the epoch (pure replay, following `more` pages); prints the time from the
 *       request to the last page.
 *
 * Documents are named after this process: a writer's replica starts empty, so its first
 * character is inserted at the document's start, concurrently with everything there. In a
 * document an earlier run had filled (about 670k characters), merging that needs more
 * steps than the server allows an update, which it refuses as too costly; each run
 * therefore writes documents of its own, on a server of its own or not.
 *
 * One thread, epoll, non-blocking sockets after a blocking handshake. Reuses the Pusher
 * load generator's WebSocket framing, HMAC and histogram (bench/lg_*.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/base64.h"
#include "crdt.h"
#include "lg_hist.h"
#include "lg_opts.h"
#include "lg_proc.h"
#include "lg_sign.h"
#include "lg_ws.h"

struct conn {
    int fd;
    char sid[64];
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_cap;
    /* writer */
    crdt_doc *doc;
    char client[32];
    char docid[32];
    uint64_t seq, acked, inflight;
    uint64_t *sent_us; /* by seq */
    size_t sent_cap;
};

#define SB_MAX_PORTS 16

static struct {
    int port; /* the first of ports[] */
    int ports[SB_MAX_PORTS];
    int nports;
    int pids[SB_MAX_PORTS];
    int npids;
    uint64_t cpu_ticks; /* of every pid, over the measured window */
    const char *key, *secret;
    int writers, window, docs, subs, rate, missed, merge;
    double seconds;
    lg_hist hist;
    uint64_t acks, deliveries;
    int measuring;
} G = {.port = 8080,
       .ports = {8080},
       .nports = 1,
       .key = "",
       .secret = "",
       .writers = 1,
       .window = 16,
       .docs = 1,
       .subs = 100,
       .rate = 1000,
       .missed = 10000,
       .seconds = 5};

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void out_put(struct conn *c, const char *payload, size_t len)
{
    if (c->out_len + len + LG_WS_MAX_HEADER > c->out_cap) {
        c->out_cap = (c->out_len + len + LG_WS_MAX_HEADER) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("realloc");
    }
    c->out_len += lg_ws_encode(c->out + c->out_len, LG_WS_TEXT, payload, len, 0x12345678u);
}

static int flush_out(struct conn *c)
{
    size_t off = 0;
    while (off < c->out_len) {
        ssize_t n = write(c->fd, c->out + off, c->out_len - off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            return -1;
        }
        off += (size_t)n;
    }
    memmove(c->out, c->out + off, c->out_len - off);
    c->out_len -= off;
    return 0;
}

/* Reads until at least one complete frame is buffered (blocking socket) and
 * returns it; used during setup only. */
static int read_frame(struct conn *c, lg_ws_frame *f, long *span)
{
    for (;;) {
        long n = lg_ws_decode(c->in, c->in_len, 64u << 20, f);
        if (n > 0) {
            *span = n;
            return 0;
        }
        if (n < 0)
            return -1;
        if (c->in_len == c->in_cap) {
            c->in_cap *= 2;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r <= 0)
            return -1;
        c->in_len += (size_t)r;
    }
}

static void consume(struct conn *c, long span)
{
    memmove(c->in, c->in + span, c->in_len - (size_t)span);
    c->in_len -= (size_t)span;
}

/* Waits (blocking) for a frame containing `needle`, skipping others. */
static void wait_for(struct conn *c, const char *needle, char *copy, size_t cap)
{
    for (;;) {
        lg_ws_frame f;
        long span;
        if (read_frame(c, &f, &span) != 0) {
            fprintf(stderr, "connection lost waiting for %s\n", needle);
            exit(1);
        }
        int hit = lg_ws_find(f.payload, f.len, needle, strlen(needle)) != NULL;
        if (hit && copy) {
            size_t n = f.len < cap - 1 ? f.len : cap - 1;
            memcpy(copy, f.payload, n);
            copy[n] = '\0';
        }
        consume(c, span);
        if (hit)
            return;
    }
}

static uint64_t servers_cpu_ticks(void)
{
    uint64_t t = 0;
    for (int i = 0; i < G.npids; i++)
        t += lg_proc_cpu_ticks(G.pids[i]);
    return t;
}

/* Opens connection number i (the i-th port modulo their number). */
static void conn_open(struct conn *c, int i)
{
    int port = G.ports[i % G.nports];
    memset(c, 0, sizeof *c);
    c->in_cap = 1 << 16;
    c->in = malloc(c->in_cap);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /app/%s?protocol=7&client=js&version=8.4.0&flash=false HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     G.key, port);
    if (write(c->fd, req, (size_t)n) != n)
        die("write");
    /* Read the 101 response headers. */
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r <= 0)
            die("handshake");
        c->in_len += (size_t)r;
        const uint8_t *end = lg_ws_find(c->in, c->in_len, "\r\n\r\n", 4);
        if (end) {
            consume(c, (long)(end + 4 - c->in));
            break;
        }
    }
    char frame[512];
    wait_for(c, "connection_established", frame, sizeof frame);
    const char *p = strstr(frame, "socket_id");
    if (!p || sscanf(p, "socket_id\\\":\\\"%63[0-9.]", c->sid) != 1) {
        fprintf(stderr, "no socket id in %s\n", frame);
        exit(1);
    }
}

static void subscribe(struct conn *c, const char *channel, const char *user)
{
    char cd[128] = "", tosign[512], sig[65], msg[1024];
    if (user) {
        snprintf(cd, sizeof cd, "{\"user_id\":\"%s\"}", user);
        snprintf(tosign, sizeof tosign, "%s:%s:%s", c->sid, channel, cd);
    } else {
        snprintf(tosign, sizeof tosign, "%s:%s", c->sid, channel);
    }
    lg_sign_hmac_hex(G.secret, tosign, strlen(tosign), sig);
    int n;
    if (user)
        n = snprintf(
            msg, sizeof msg,
            "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\",\"auth\":\"%s:%s\","
            "\"channel_data\":\"{\\\"user_id\\\":\\\"%s\\\"}\"}}",
            channel, G.key, sig, user);
    else
        n = snprintf(
            msg, sizeof msg,
            "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\",\"auth\":\"%s:%s\"}}",
            channel, G.key, sig);
    out_put(c, msg, (size_t)n);
    flush_out(c);
    wait_for(c, "subscription_succeeded", NULL, 0);
}

static void writer_init(struct conn *c, int i, const char *docid)
{
    snprintf(c->client, sizeof c->client, "w%d-%d", i, (int)getpid());
    snprintf(c->docid, sizeof c->docid, "%s", docid);
    if (crdt_doc_new(NULL, c->client, strlen(c->client), &c->doc) != CRDT_OK)
        die("crdt");
    char ch[64];
    snprintf(ch, sizeof ch, "presence-document.%s", docid);
    subscribe(c, ch, c->client);
    c->sent_cap = 1 << 16;
    c->sent_us = calloc(c->sent_cap, sizeof *c->sent_us);
}

static void submit(struct conn *c)
{
    uint64_t mark = crdt_doc_mark(c->doc);
    if (crdt_doc_insert(c->doc, crdt_doc_length(c->doc), "x", 1) != CRDT_OK)
        die("insert");
    uint8_t *u = NULL;
    size_t ul = 0;
    crdt_doc_encode_since_mark(c->doc, mark, &u, &ul);
    char b64[512];
    size_t bl;
    base64_encode(u, ul, 0, b64, sizeof b64, &bl);
    crdt_free_bytes(NULL, u);
    c->seq++;
    if (c->seq >= c->sent_cap) {
        c->sent_us = realloc(c->sent_us, 2 * c->sent_cap * sizeof *c->sent_us);
        c->sent_cap *= 2;
    }
    c->sent_us[c->seq] = now_us();
    char msg[1024];
    int n = snprintf(msg, sizeof msg,
                     "{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"%s\",\"clientId\":"
                     "\"%s\",\"seq\":%llu,\"update\":\"%s\"}}",
                     c->docid, c->client, (unsigned long long)c->seq, b64);
    out_put(c, msg, (size_t)n);
    c->inflight++;
}

/* Extracts an integer after `key` (e.g. "\\\"seq\\\":") in a frame. */
static int find_u64(const lg_ws_frame *f, const char *key, uint64_t *v)
{
    const uint8_t *p = lg_ws_find(f->payload, f->len, key, strlen(key));
    if (!p)
        return -1;
    p += strlen(key);
    uint64_t x = 0;
    int any = 0;
    while (p < f->payload + f->len && *p >= '0' && *p <= '9') {
        x = x * 10 + (uint64_t)(*p++ - '0');
        any = 1;
    }
    *v = x;
    return any ? 0 : -1;
}

/* Handles the frames buffered on a connection; `writer` = c is a writer. */
static void on_frames(struct conn *c, struct conn *writer)
{
    for (;;) {
        lg_ws_frame f;
        long span = lg_ws_decode(c->in, c->in_len, 64u << 20, &f);
        if (span <= 0)
            break;
        uint64_t seq;
        if (lg_ws_find(f.payload, f.len, "docsync:ack", 11)) {
            if (find_u64(&f, "\\\"seq\\\":", &seq) == 0 && seq < c->sent_cap) {
                if (G.measuring) {
                    lg_hist_add(&G.hist, now_us() - c->sent_us[seq]);
                    G.acks++;
                }
                c->acked++;
                c->inflight--;
            }
        } else if (lg_ws_find(f.payload, f.len, "docsync:error", 13)) {
            fprintf(stderr, "error: %.*s\n", (int)f.len, (const char *)f.payload);
            c->inflight--;
        } else if (writer && lg_ws_find(f.payload, f.len, "DocumentUpdated", 15)) {
            if (find_u64(&f, "\\\"seq\\\":", &seq) == 0 && seq < writer->sent_cap && G.measuring) {
                lg_hist_add(&G.hist, now_us() - writer->sent_us[seq]);
                G.deliveries++;
            }
        } else if (lg_ws_find(f.payload, f.len, "pusher:ping", 11)) {
            const char pong[] = "{\"event\":\"pusher:pong\",\"data\":{}}";
            out_put(c, pong, sizeof pong - 1);
        }
        consume(c, span);
    }
}

static int read_some(struct conn *c)
{
    for (;;) {
        if (c->in_len == c->in_cap) {
            c->in_cap *= 2;
            c->in = realloc(c->in, c->in_cap);
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return 0;
        return -1;
    }
}

static int epoll_add_all(struct conn *cs, int n)
{
    int ep = epoll_create1(0);
    if (ep < 0)
        die("epoll");
    for (int i = 0; i < n; i++) {
        int fl = fcntl(cs[i].fd, F_GETFL);
        if (fl < 0 || fcntl(cs[i].fd, F_SETFL, fl | O_NONBLOCK) != 0)
            die("fcntl");
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0)
            die("epoll_ctl");
    }
    return ep;
}

/* Runs the event loop over cs[0..n) for `seconds` (after a warm-up of 1 s),
 * keeping every writer's window full or pacing writer 0 at G.rate. */
static void run(struct conn *cs, int n, int nwriters, int paced, double seconds)
{
    int ep = epoll_add_all(cs, n);
    uint64_t start = now_us(), warm = start + 1000000u, end = warm + (uint64_t)(seconds * 1e6);
    uint64_t next_send = start, interval = paced ? 1000000u / (uint64_t)G.rate : 0;
    struct epoll_event evs[256];
    for (;;) {
        uint64_t t = now_us();
        if (!G.measuring && t >= warm) {
            G.measuring = 1;
            lg_hist_reset(&G.hist);
            G.acks = G.deliveries = 0;
            G.cpu_ticks = servers_cpu_ticks();
        }
        if (t >= end) {
            G.cpu_ticks = servers_cpu_ticks() - G.cpu_ticks;
            break;
        }
        if (paced) {
            while (next_send <= t) {
                submit(&cs[0]);
                next_send += interval;
            }
        } else {
            for (int w = 0; w < nwriters; w++)
                while (cs[w].inflight < (uint64_t)G.window)
                    submit(&cs[w]);
        }
        for (int i = 0; i < n; i++)
            if (cs[i].out_len && flush_out(&cs[i]) != 0)
                die("write");
        int k = epoll_wait(ep, evs, 256, paced ? 1 : 10);
        for (int j = 0; j < k; j++) {
            struct conn *c = &cs[evs[j].data.u32];
            if (read_some(c) != 0) {
                fprintf(stderr, "connection closed by the server\n");
                exit(1);
            }
            on_frames(c, paced ? &cs[0] : NULL);
        }
    }
    close(ep);
}

static void report(const char *what, uint64_t count, double seconds)
{
    printf("%s: %llu in %.1f s = %.0f/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", what,
           (unsigned long long)count, seconds, (double)count / seconds,
           (double)lg_hist_percentile(&G.hist, 0.50) / 1000.0,
           (double)lg_hist_percentile(&G.hist, 0.99) / 1000.0,
           (double)lg_hist_percentile(&G.hist, 1.0) / 1000.0);
}

static void mode_write(void)
{
    struct conn *cs = calloc((size_t)G.writers, sizeof *cs);
    char docid[32];
    for (int i = 0; i < G.writers; i++) {
        conn_open(&cs[i], i);
        snprintf(docid, sizeof docid, "bench-w%d-%d", G.docs > 1 ? i % G.docs : 0, (int)getpid());
        writer_init(&cs[i], i, docid);
    }
    run(cs, G.writers, G.writers, 0, G.seconds);
    char what[96];
    snprintf(what, sizeof what, "acked edits, %d writers, window %d, %d doc(s)", G.writers,
             G.window, G.docs);
    report(what, G.acks, G.seconds);
    double cpu_us = (double)G.cpu_ticks * 1e6 / (double)sysconf(_SC_CLK_TCK);
    printf("RESULT acks_per_s=%.0f p50_ms=%.2f p99_ms=%.2f srv_us_per_ack=%.2f srv_cpu_pct=%.0f "
           "writers=%d docs=%d nodes=%d\n",
           (double)G.acks / G.seconds, (double)lg_hist_percentile(&G.hist, 0.50) / 1000.0,
           (double)lg_hist_percentile(&G.hist, 0.99) / 1000.0,
           G.npids && G.acks ? cpu_us / (double)G.acks : 0.0, cpu_us / G.seconds / 1e4, G.writers,
           G.docs, G.nports);
}

static void mode_fanout(void)
{
    int n = G.subs + 1;
    struct conn *cs = calloc((size_t)n, sizeof *cs);
    conn_open(&cs[0], 0);
    char docid[32], ch[64];
    snprintf(docid, sizeof docid, "bench-fan-%d", (int)getpid());
    snprintf(ch, sizeof ch, "private-document.%s", docid);
    writer_init(&cs[0], 0, docid);
    for (int i = 1; i < n; i++) {
        conn_open(&cs[i], i);
        subscribe(&cs[i], ch, NULL);
    }
    run(cs, n, 1, 1, G.seconds);
    char what[96];
    snprintf(what, sizeof what, "DocumentUpdated deliveries, %d subscribers, %d edits/s", G.subs,
             G.rate);
    report(what, G.deliveries, G.seconds);
}

static void mode_catchup(void)
{
    struct conn w;
    conn_open(&w, 0);
    char docid[32];
    snprintf(docid, sizeof docid, "bench-cu-%d-%d", G.missed, (int)getpid());
    writer_init(&w, 0, docid);
    /* Write the missed updates with a window of 256. */
    G.window = 256;
    int ep = epoll_add_all(&w, 1);
    struct epoll_event ev;
    while (w.acked < (uint64_t)G.missed) {
        while (w.inflight < (uint64_t)G.window && w.seq < (uint64_t)G.missed)
            submit(&w);
        if (w.out_len && flush_out(&w) != 0)
            die("write");
        if (epoll_wait(ep, &ev, 1, 10) > 0) {
            if (read_some(&w) != 0)
                die("read");
            on_frames(&w, NULL);
        }
    }
    close(ep);
    int fl = fcntl(w.fd, F_GETFL);
    fcntl(w.fd, F_SETFL, fl & ~O_NONBLOCK);
    /* Epoch from a first catch-up of nothing (version = head). */
    char msg[512], *frame = malloc(64u << 20);
    int n = snprintf(msg, sizeof msg,
                     "{\"event\":\"docsync:catchup\",\"data\":{\"documentId\":\"%s\",\"version\":0,"
                     "\"requestId\":\"e\"}}",
                     docid);
    out_put(&w, msg, (size_t)n);
    flush_out(&w);
    wait_for(&w, "docsync:catchup", frame, 4096);
    char epoch[40] = "";
    const char *p = strstr(frame, "epoch\\\":\\\"");
    if (p)
        sscanf(p + 10, "%32[0-9a-f]", epoch);
    /* The timed catch-up: from version 1, following pages. */
    uint64_t version = 1, updates = 0, pages = 0;
    uint64_t t0 = now_us();
    for (;;) {
        n = snprintf(
            msg, sizeof msg,
            "{\"event\":\"docsync:catchup\",\"data\":{\"documentId\":\"%s\",\"version\":%llu,"
            "\"epoch\":\"%s\"%s}}",
            docid, (unsigned long long)version, epoch, G.merge ? ",\"merge\":true" : "");
        out_put(&w, msg, (size_t)n);
        flush_out(&w);
        lg_ws_frame f;
        long span;
        for (;;) {
            if (read_frame(&w, &f, &span) != 0)
                die("catch-up read");
            if (lg_ws_find(f.payload, f.len, "docsync:catchup", 15))
                break;
            consume(&w, span);
        }
        pages++;
        uint64_t next = 0;
        find_u64(&f, "\\\"nextVersion\\\":", &next);
        const uint8_t *q = f.payload;
        size_t left = f.len;
        const uint8_t *hit;
        while ((hit = lg_ws_find(q, left, "\\\"update\\\"", 10)) != NULL) {
            updates++;
            left -= (size_t)(hit + 10 - q);
            q = hit + 10;
        }
        int more = lg_ws_find(f.payload, f.len, "\\\"more\\\":true", 13) != NULL;
        consume(&w, span);
        if (!more)
            break;
        version = next - 1;
    }
    double ms = (double)(now_us() - t0) / 1000.0;
    printf("catch-up%s: %d missed versions received in %.2f ms (%llu pages, %llu updates)\n",
           G.merge ? " (merge)" : "", G.missed, ms, (unsigned long long)pages,
           (unsigned long long)updates);
    free(frame);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: syncbench write|fanout|catchup --port P --key K --secret S ...\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--port")) {
            G.nports = lg_parse_list(v, G.ports, SB_MAX_PORTS);
            int bad = G.nports < 1;
            for (int j = 0; j < G.nports; j++)
                bad |= G.ports[j] > 65535;
            if (bad) {
                fprintf(stderr, "--port: a port or a comma-separated list of at most %d\n",
                        SB_MAX_PORTS);
                return 2;
            }
            G.port = G.ports[0];
        } else if (!strcmp(k, "--pid")) {
            if ((G.npids = lg_parse_list(v, G.pids, SB_MAX_PORTS)) < 1) {
                fprintf(stderr, "--pid: a pid or a comma-separated list of at most %d\n",
                        SB_MAX_PORTS);
                return 2;
            }
        } else if (!strcmp(k, "--key"))
            G.key = v;
        else if (!strcmp(k, "--secret"))
            G.secret = v;
        else if (!strcmp(k, "--writers"))
            G.writers = atoi(v);
        else if (!strcmp(k, "--window"))
            G.window = atoi(v);
        else if (!strcmp(k, "--docs"))
            G.docs = atoi(v);
        else if (!strcmp(k, "--subs"))
            G.subs = atoi(v);
        else if (!strcmp(k, "--rate"))
            G.rate = atoi(v);
        else if (!strcmp(k, "--missed"))
            G.missed = atoi(v);
        else if (!strcmp(k, "--merge"))
            G.merge = atoi(v);
        else if (!strcmp(k, "--seconds"))
            G.seconds = atof(v);
        else {
            fprintf(stderr, "unknown option %s\n", k);
            return 2;
        }
    }
    if (!strcmp(argv[1], "write"))
        mode_write();
    else if (!strcmp(argv[1], "fanout"))
        mode_fanout();
    else if (!strcmp(argv[1], "catchup"))
        mode_catchup();
    else
        return 2;
    return 0;
}
