/* server: the libwebsockets context, the protocol callback that routes lws
 * events to connections and HTTP requests, the loop, module registration,
 * timers and fan-out. */
#include "server_int.h"

#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "accept_hook.h"
#include "iplimit.h"
#include "server_main.h"
#include "tls.h"
#include "wsmask.h"

_Static_assert(WSMASK_HTTP_MAX_BYTES < SERVER_HEADER_DATA,
               "a header block the recv() hook lets through must fit lws's header table");

const struct config *server_config(const struct server *srv)
{
    return srv->cfg;
}

const struct logger *server_logger(const struct server *srv)
{
    return srv->log;
}

const char *server_data_dir(const struct server *srv)
{
    return srv->cfg->data_dir;
}

/* ---- registration ---------------------------------------------------- */

int server_on_wake(struct server *srv, void (*fn)(struct server *srv, void *ud), void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nwake_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->wake_hooks[srv->nwake_hooks++] = (struct server_hook){fn, ud};
    return 0;
}

int server_on_drain(struct server *srv, int (*busy)(struct server *srv, void *ud), void *ud)
{
    if (!busy)
        return SERVER_EINVAL;
    if (srv->ndrains >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->drains[srv->ndrains++] = (struct server_drain){busy, ud};
    return 0;
}

/* 1 while a module reports work in flight (server_on_drain). */
static int server_draining(struct server *srv)
{
    for (size_t i = 0; i < srv->ndrains; i++) {
        if (srv->drains[i].busy(srv, srv->drains[i].ud))
            return 1;
    }
    return 0;
}

void server_wake(struct server *srv)
{
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
}

/* SIGHUP: the certificate and key are loaded again into the live SSL_CTX,
 * after a check on a scratch context, so a bad new pair leaves the old one
 * serving. Established connections keep their SSL objects (tls.h). */
static void server_tls_reload(struct server *srv)
{
    if (!atomic_exchange(&srv->tls_reload, 0))
        return;
    if (!srv->tls_ctx) {
        log_info(srv->log, "SIGHUP: TLS is off, nothing to reload");
        return;
    }
    char err[512], fp[TLS_FINGERPRINT_LEN + 1];
    if (tls_check(srv->cfg, fp, err, sizeof err) != 0) {
        log_error(srv->log, "TLS reload refused, the previous certificate stays: %s", err);
        srv->metrics.tls_reload_failures++;
        return;
    }
    if (tls_load(srv->tls_ctx, srv->cfg, err, sizeof err) != 0) {
        /* The files changed between the check and the load. */
        log_error(srv->log, "TLS reload failed: %s", err);
        srv->metrics.tls_reload_failures++;
        return;
    }
    srv->metrics.tls_reloads++;
    log_info(srv->log, "TLS certificate reloaded (SHA-256 %s)", fp);
}

void server_request_reload(struct server *srv)
{
    atomic_store(&srv->tls_reload, 1);
    server_wake(srv);
}

/* Connections whose frame header declared more than any message may be
 * (wsmask.h): closed with 1009 now, before the payload comes. */
static void server_close_oversize(struct server *srv)
{
    int fd;
    while ((fd = wsmask_take_oversize()) >= 0) {
        struct conn *c = (size_t)fd < srv->nconn_by_fd ? srv->conn_by_fd[fd] : NULL;
        if (!c || (c->flags & (CONN_F_DEAD | CONN_F_CLOSING)))
            continue;
        metrics_error(&srv->metrics, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
        free(c->rx);
        c->rx = NULL;
        c->rx_len = c->rx_cap = 0;
        conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
    }
}

static void server_run_wake_hooks(struct server *srv)
{
    srv->metrics.accept_shed = accept_hook_shed();
    server_close_oversize(srv);
    eio_flush(srv);
    if (atomic_load(&srv->tls_reload))
        server_tls_reload(srv);
    for (size_t i = 0; i < srv->nwake_hooks; i++)
        srv->wake_hooks[i].fn(srv, srv->wake_hooks[i].ud);
}

static void server_timer_cb(lws_sorted_usec_list_t *sul)
{
    struct server_timer *t = lws_container_of(sul, struct server_timer, sul);
    if (atomic_load(&t->srv->stop))
        return;
    if (!t->ms) {
        t->armed = 0;
        t->fn(t->srv, t->ud);
        return;
    }
    t->fn(t->srv, t->ud);
    lws_sul_schedule(t->srv->ctx, 0, &t->sul, server_timer_cb, (lws_usec_t)t->ms * 1000);
}

/* On the libev loop the timers are libev's own: exact, where an lws timer
 * may fire up to a nudge late (server_ev_nudge). */
static void server_timer_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server_timer *t = w->data;
    (void)loop;
    (void)revents;
    if (atomic_load(&t->srv->stop))
        return;
    if (!t->ms)
        t->armed = 0;
    t->fn(t->srv, t->ud);
}

static void server_timer_start(struct server *srv, struct server_timer *t)
{
    t->srv = srv;
    if (!t->ms)
        return; /* one-shot: server_timer_arm */
    if (srv->loop) {
        if (!ev_is_active(&t->ev)) {
            ev_timer_init(&t->ev, server_timer_ev, t->ms / 1000., t->ms / 1000.);
            t->ev.data = t;
            ev_timer_start(srv->loop, &t->ev);
        }
        return;
    }
    lws_sul_schedule(srv->ctx, 0, &t->sul, server_timer_cb, (lws_usec_t)t->ms * 1000);
}

static struct server_timer *server_timer_add(struct server *srv, unsigned ms,
                                             void (*fn)(struct server *srv, void *ud), void *ud)
{
    if (srv->ntimers >= SERVER_MAX_TIMERS)
        return NULL;
    struct server_timer *t = &srv->timers[srv->ntimers++];
    memset(t, 0, sizeof(*t));
    t->srv = srv;
    t->ms = ms;
    t->fn = fn;
    t->ud = ud;
    if (srv->ctx)
        server_timer_start(srv, t);
    return t;
}

int server_every(struct server *srv, unsigned ms, void (*fn)(struct server *srv, void *ud),
                 void *ud)
{
    if (!ms || !fn)
        return SERVER_EINVAL;
    return server_timer_add(srv, ms, fn, ud) ? 0 : SERVER_EFULL;
}

struct server_timer *server_timer_new(struct server *srv, void (*fn)(struct server *srv, void *ud),
                                      void *ud)
{
    return fn ? server_timer_add(srv, 0, fn, ud) : NULL;
}

void server_timer_arm(struct server_timer *t, unsigned ms)
{
    struct server *srv = t->srv;
    if (t->armed || !srv->ctx || atomic_load(&srv->stop))
        return;
    t->armed = 1;
    if (srv->loop) {
        ev_timer_init(&t->ev, server_timer_ev, ms / 1000., 0.);
        t->ev.data = t;
        ev_timer_start(srv->loop, &t->ev);
        return;
    }
    lws_sul_schedule(srv->ctx, 0, &t->sul, server_timer_cb, (lws_usec_t)ms * 1000);
}

/* ---- the lws protocol callback -------------------------------------- */

static int server_established(struct server *srv, struct lws *wsi, struct pss *pss)
{
    struct conn *c = conn_new(srv, wsi);
    if (!c)
        return -1;
    pss->c = c;
    srv->metrics.connections_total++;
    int fd = lws_get_socket_fd(wsi);
    if (fd >= 0 && (size_t)fd < srv->nconn_by_fd)
        srv->conn_by_fd[fd] = c;
    /* Until it holds an authorised subscription, no message of this
     * connection may exceed max_message_size: larger frames are refused at
     * their header (session_frame_limit, updated after every message). */
    wsmask_conn_limit(fd, srv->cfg->max_message_size);
    /* Reverb's order: app, quota, Origin; a failure sends pusher:error and,
     * as recommended, a close frame with the same code. */
    if (!pss->app_ok) {
        conn_error(c, PUSHER_APP_NOT_FOUND, "Application does not exist", PUSHER_APP_NOT_FOUND);
        return 0;
    }
    if (srv->cfg->max_connections && srv->nconns >= srv->cfg->max_connections) {
        conn_error(c, PUSHER_OVER_QUOTA, "Application is over connection quota", PUSHER_OVER_QUOTA);
        return 0;
    }
    if (!pss->origin_ok) {
        conn_error(c, PUSHER_UNAUTHORIZED, "Origin not allowed", PUSHER_UNAUTHORIZED);
        return 0;
    }
    c->flags |= CONN_F_APP;
    srv->nconns++;
    struct message_frame mf = {0};
    if (message_build_connection_established(MESSAGE_FRAME_HEADROOM, c->sid,
                                             srv->cfg->activity_timeout, &mf))
        return -1;
    struct frame *f = message_frame_adopt(&mf);
    if (!f)
        return -1;
    conn_queue(c, f);
    frame_unref(f);
    if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
        log_debug(srv->log, "connection %s open", c->sid);
    return 0;
}

/* One complete text message: a Pusher message, or an Engine.IO packet. */
static void server_message(struct conn *c, const char *buf, size_t len)
{
    if (c->tx)
        eio_ws_message(c, buf, len);
    else
        session_receive(c, buf, len);
}

static int server_receive(struct server *srv, struct conn *c, struct lws *wsi, const char *in,
                          size_t len)
{
    if (!c || (c->flags & (CONN_F_DEAD | CONN_F_CLOSING)))
        return 0;
    int first = lws_is_first_fragment(wsi);
    int final = lws_is_final_fragment(wsi);
    size_t remaining = lws_remaining_packet_payload(wsi);

    if (first && !c->rx_len) {
        c->flags &= ~CONN_F_BINARY;
        if (lws_frame_is_binary(wsi))
            c->flags |= CONN_F_BINARY;
    }
    /* The limit is decided on the message's first bytes (a module may take
     * larger messages of its own events) and kept for its other chunks. */
    if (!c->rx_len)
        c->rx_max = session_message_limit(c, in ? in : "", len);
    size_t max = c->rx_max;
    size_t total = c->rx_len + len + remaining;
    if (total > max) {
        /* Reverb: close 1009 "Maximum message size exceeded". Checked on the
         * declared frame length too, so nothing big is ever buffered. The
         * close goes out from WRITEABLE (lws drops it when we fail inside a
         * fragmented message); until then further input is ignored. */
        metrics_error(&srv->metrics, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
        free(c->rx);
        c->rx = NULL;
        c->rx_len = c->rx_cap = 0;
        conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
        return 0;
    }
    if (final && !remaining && !c->rx_len) {
        /* The whole message in one chunk: no copy. */
        if (c->flags & CONN_F_BINARY)
            goto binary;
        server_message(c, in ? in : "", len);
        wsmask_conn_limit(lws_get_socket_fd(wsi), session_frame_limit(c));
        return 0;
    }
    if (c->rx_len + len > c->rx_cap) {
        size_t ncap = c->rx_cap ? c->rx_cap : 1024;
        while (ncap < c->rx_len + len)
            ncap *= 2;
        if (ncap > max)
            ncap = max;
        char *n = realloc(c->rx, ncap);
        if (!n)
            return -1;
        c->rx = n;
        c->rx_cap = ncap;
    }
    if (len)
        memcpy(c->rx + c->rx_len, in, len);
    c->rx_len += len;
    if (final && !remaining) {
        size_t mlen = c->rx_len;
        c->rx_len = 0;
        if (c->flags & CONN_F_BINARY)
            goto binary;
        server_message(c, c->rx, mlen);
        wsmask_conn_limit(lws_get_socket_fd(wsi), session_frame_limit(c));
        if (c->rx_cap > 4096) {
            free(c->rx);
            c->rx = NULL;
            c->rx_cap = 0;
        }
    }
    return 0;
binary:
    /* Pusher speaks text frames only (a binary frame is refused as unsupported data, 1003). */
    metrics_error(&srv->metrics, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE);
    lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                     (unsigned char *)"Binary frames are not supported", 31);
    return -1;
}

/* 1 for 127.0.0.0/8, ::1 and ::ffff:127.x. */
static int server_addr_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss->ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* DOCSYNC_IP_MAX_CONNECTIONS and DOCSYNC_IP_CONNECTIONS_PER_SECOND for a
 * connection just accepted on `fd`. Loopback clients are exempt unless
 * DOCSYNC_IP_LIMIT_LOOPBACK: behind a reverse proxy on the same host every
 * client has the proxy's address. Returns 0 (admitted) or -1 (refused,
 * counted in /metrics). */
static int server_admit_ip(struct server *srv, int fd)
{
    if (!srv->iplimit)
        return 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    if (!srv->cfg->ip_limit_loopback && server_addr_loopback(&ss))
        return 0;
    int rc = iplimit_admit(srv->iplimit, fd, (struct sockaddr *)&ss, srv->cfg->ip_max_connections,
                           srv->cfg->ip_connections_per_second, server_monotonic());
    if (rc == IPLIMIT_OPEN) {
        srv->metrics.ip_conn_refused++;
        return -1;
    }
    if (rc == IPLIMIT_RATE) {
        srv->metrics.ip_rate_refused++;
        return -1;
    }
    return 0;
}

static void server_iplimit_sweep(struct server *srv, void *ud)
{
    (void)ud;
    iplimit_sweep(srv->iplimit, server_monotonic());
}

static int server_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    struct server *srv = ctx ? lws_context_user(ctx) : NULL;
    struct pss *pss = user;

    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
        /* A new accepted socket (`in` = its descriptor, `user` = NULL),
         * before lws reads from it: refused while stopping and beyond the
         * per-IP limits (-1: lws closes it), else scanned for unmasked
         * frames (wsmask.h). */
        if (srv && (srv->stopping || atomic_load(&srv->stop)))
            return -1;
        if (srv && server_admit_ip(srv, (int)(intptr_t)in) != 0)
            return -1;
        wsmask_conn_open((int)(intptr_t)in);
        return 0;

    case LWS_CALLBACK_WSI_DESTROY:
        /* Every accepted connection ends here, its descriptor still open:
         * forget it, so that a descriptor reused by another part of the
         * process (the webhook sender's sockets) is never scanned. */
        if (srv)
            iplimit_release(srv->iplimit, lws_get_socket_fd(wsi));
        wsmask_conn_close(lws_get_socket_fd(wsi));
        return 0;

    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* Never read `in` here (CVE-2025-11677): it may point into a freed
         * header table. upgrade_confirm uses lws_hdr_copy only. */
        return upgrade_confirm(srv, wsi);

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
        int app_ok = 0, origin_ok = 0, sio = 0;
        if (upgrade_filter(srv, wsi, &app_ok, &origin_ok, &sio))
            return -1;
        pss->app_ok = (uint8_t)app_ok;
        pss->origin_ok = (uint8_t)origin_ok;
        return sio ? eio_ws_filter(srv, wsi, pss) : 0;
    }

    case LWS_CALLBACK_ESTABLISHED:
        if (pss->sio)
            return eio_ws_established(srv, wsi, pss);
        return server_established(srv, wsi, pss);

    case LWS_CALLBACK_RECEIVE:
        if (pss->sio && !pss->c)
            return eio_ws_probe_receive(srv, wsi, pss, in, len);
        if (pss->c) {
            srv->metrics.bytes_in += len;
            if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi))
                srv->metrics.messages_in++;
        }
        return server_receive(srv, pss->c, wsi, in, len);

    case LWS_CALLBACK_RECEIVE_PONG:
        if (pss->c) {
            pss->c->last_seen = server_monotonic();
            pss->c->flags = (pss->c->flags | CONN_F_WSCONTROL) & ~CONN_F_PINGED;
        }
        return 0;

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* lws echoes the close payload (`in`), after mapping most invalid
         * codes to 1002; finish the RFC 6455 7.4 checks it leaves out. */
        if (len == 1) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
            return -1;
        }
        if (len >= 2) {
            unsigned char *pl = in;
            unsigned code = (unsigned)pl[0] << 8 | pl[1];
            if (code >= 5000) {
                pl[0] = (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8);
                pl[1] = (unsigned char)(LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xff);
            } else if (wsmask_conn_bad_close(lws_get_socket_fd(wsi))) {
                /* Its reason was not UTF-8 (made so by the recv() hook, so
                 * that lws lets it through, wsmask.h): 1007. */
                pl[0] = (unsigned char)(LWS_CLOSE_STATUS_INVALID_PAYLOAD >> 8);
                pl[1] = (unsigned char)(LWS_CLOSE_STATUS_INVALID_PAYLOAD & 0xff);
                if (srv)
                    metrics_error(&srv->metrics, LWS_CLOSE_STATUS_INVALID_PAYLOAD);
            }
        }
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->c)
            return pss->probe ? eio_ws_probe_writeable(srv, wsi, pss) : 0;
        return conn_writeable(pss->c);

    case LWS_CALLBACK_CLOSED:
        wsmask_conn_close(lws_get_socket_fd(wsi));
        if (pss->sio) {
            eio_ws_closed(srv, pss);
            return 0;
        }
        if (pss->c) {
            int fd = lws_get_socket_fd(wsi);
            if (fd >= 0 && (size_t)fd < srv->nconn_by_fd && srv->conn_by_fd[fd] == pss->c)
                srv->conn_by_fd[fd] = NULL;
            broadcast_leave_all(pss->c);
            conn_free(pss->c);
            pss->c = NULL;
        }
        return 0;

    case LWS_CALLBACK_HTTP:
        /* Plain HTTP: the scanner follows the body by its length and holds
         * the next request of a keep-alive connection to the same header
         * limits (wsmask.h). */
        if (pss->r) /* a previous request on this wsi still pending */
            http_req_detach(pss->r);
        pss->r = http_req_new(srv, wsi);
        if (!pss->r)
            return -1;
        return http_begin(&pss->r);

    case LWS_CALLBACK_HTTP_BODY:
        return pss->r ? http_body(&pss->r, in, len) : -1;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return pss->r ? http_body_done(&pss->r) : -1;

    case LWS_CALLBACK_HTTP_WRITEABLE:
        if (!pss->r)
            return 0;
        return http_writeable(&pss->r) < 0 ? -1 : 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        /* DROP_PROTOCOL also comes on the way to a WebSocket: keep scanning. */
        if (reason == LWS_CALLBACK_CLOSED_HTTP)
            wsmask_conn_close(lws_get_socket_fd(wsi));
        if (pss && pss->r) {
            http_req_detach(pss->r);
            pss->r = NULL;
        }
        return 0;

    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
        /* lws made the vhost's SSL_CTX (`user`): kept for the chain, the
         * minimum version and reloads (server_start, server_tls_reload). */
        if (srv)
            srv->tls_ctx = user;
        return 0;

    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (srv) {
            if (srv->loop && atomic_load(&srv->stop) && !srv->stopping)
                ev_break(srv->loop, EVBREAK_ALL);
            server_run_wake_hooks(srv);
        }
        return 0;

    default:
        break;
    }
    (void)in;
    return 0;
}

/* ---- lifecycle ------------------------------------------------------- */

static void server_ev_check(struct ev_loop *loop, ev_check *w, int revents);

/* Connections written per loop iteration while events come back to back.
 * An event for thousands of subscribers takes milliseconds to write;
 * written in turns, with a look at the sockets (a poll that does not wait)
 * between turns, publishes that arrive meanwhile are read and queued behind
 * it, and every connection not yet written then sends both events in one
 * write. At full rate that is what keeps the sends per delivery low. An
 * event that finds the server idle (the last flush ended more than
 * FLUSH_BUSY_GAP ago) is written at once: nothing is coming to join it, and
 * a turn costs a loop iteration. */
#define FLUSH_TURN 256
#define FLUSH_BUSY_GAP 0.01 /* seconds */

/* The last thing of every loop iteration, before it sleeps. */
static void server_ev_flush(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct server *srv = w->data;
    (void)revents;
    if (srv->ndirty == srv->dirty_from)
        return;
    bool busy = ev_now(loop) - srv->flush_emptied < FLUSH_BUSY_GAP;
    if (conn_flush(srv, busy ? FLUSH_TURN : SIZE_MAX)) {
        ev_idle_start(loop, &srv->flush_more); /* an active idle watcher: the poll does not wait */
    } else {
        ev_idle_stop(loop, &srv->flush_more);
        srv->flush_emptied = ev_time(); /* the loop time is from before the writes */
    }
}

static void server_ev_flush_more(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents; /* the next turn is server_ev_flush's */
}

/* lws 4.1.6's libev glue re-arms its own timer with ev_timer_set() on a
 * watcher that may be active, which libev ignores: a short lws timer
 * (handshake timeout, close timeout, kill) scheduled while a longer one is
 * pending would only fire with the longer one. Waking lws every 250 ms
 * (lws_cancel_service -> its pipe watcher -> its idle callback, which runs
 * every ripe timer) bounds that lateness to 250 ms, which none of those
 * timers minds, for 4 wake-ups a second. Our own timers do not depend on
 * it (server_timer_start). */
static void server_ev_nudge(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct server *srv = w->data;
    (void)loop;
    (void)revents;
    if (srv->ctx)
        lws_cancel_service(srv->ctx);
}

static void server_lws_log(int level, const char *line)
{
    /* lws's own messages, one line each, through our format. */
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    log_msg(NULL, level == LLL_ERR ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "lws: %.*s", (int)n, line);
}

static const struct lws_protocols server_protocols[] = {
    {"pusher", server_callback, sizeof(struct pss), SERVER_RX_BUFFER, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* No lws validity pings: liveness is the sweep's job (pusher:ping /
 * pusher:pong at the application level, as Pusher clients expect). */
static const lws_retry_bo_t server_retry = {0};

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
    struct server_timer *t = lws_container_of(sul, struct server_timer, sul);
    struct server *srv = t->srv;
    if (atomic_load(&srv->stop))
        return;
    sweep_run(srv);
    lws_sul_schedule(srv->ctx, 0, &t->sul, sweep_cb, (lws_usec_t)t->ms * 1000);
}

struct server *server_new(const struct config *cfg, const struct logger *log, unsigned fd_limit)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return NULL;
    srv->cfg = cfg;
    srv->log = log;
    atomic_init(&srv->stop, 0);
    hmap_init(&srv->conns_by_sid);
    hmap_init(&srv->eio_by_sid);
    metrics_init(&srv->metrics);
    if (getrandom(srv->rng, sizeof(srv->rng), 0) != (ssize_t)sizeof(srv->rng))
        srv->rng[0] = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
    srv->rng[1] |= 1;
    srv->limits.max_bytes = cfg->max_message_size;
    srv->limits.max_depth = 32;
    srv->limits.max_user_id = cfg->presence_max_user_id;
    srv->limits.max_user_info = cfg->presence_max_user_info;
    srv->channels = channel_registry_new();
    srv->wbuf = malloc(LWS_PRE + SERVER_WBUF_SIZE);
    if (conn_tx_init(srv) != 0) {
        server_free(srv);
        return NULL;
    }
    struct message_frame mf = {0};
    if (message_build_ping(MESSAGE_FRAME_HEADROOM, &mf) == MESSAGE_OK)
        srv->ping = message_frame_adopt(&mf);
    if (message_build_pong(MESSAGE_FRAME_HEADROOM, &mf) == MESSAGE_OK)
        srv->pong = message_frame_adopt(&mf);
    if (!srv->channels || !srv->wbuf || !srv->ping || !srv->pong || http_api_register(srv) ||
        eio_register(srv) || server_every(srv, eio_tick_ms(srv), eio_tick, NULL)) {
        server_free(srv);
        return NULL;
    }
    (void)fd_limit;
    return srv;
}

int server_start(struct server *srv, unsigned fd_limit)
{
    const struct config *cfg = srv->cfg;
    lws_set_log_level(LLL_ERR, server_lws_log);

    /* TLS: the files are checked before anything listens, so a missing,
     * unreadable or mismatched key stops the start with its reason (lws
     * would only log an OpenSSL code). */
    char fp[TLS_FINGERPRINT_LEN + 1] = "";
    if (cfg->tls_cert[0]) {
        char err[512];
        if (tls_check(cfg, fp, err, sizeof err) != 0) {
            log_error(srv->log, "TLS: %s; not starting", err);
            return -1;
        }
    }

    if (cfg->ip_max_connections || cfg->ip_connections_per_second) {
        srv->iplimit = iplimit_new(fd_limit);
        if (!srv->iplimit || server_every(srv, 5000, server_iplimit_sweep, NULL) != 0) {
            log_error(srv->log, "out of memory");
            return -1;
        }
    }
    srv->conn_by_fd = calloc(fd_limit, sizeof(*srv->conn_by_fd));
    if (!srv->conn_by_fd) {
        log_error(srv->log, "out of memory");
        return -1;
    }
    srv->nconn_by_fd = fd_limit;
    /* The largest message any handler takes: frames declaring more are
     * refused at their header (wsmask.h). */
    size_t frame_max = cfg->max_message_size;
    for (size_t i = 0; i < srv->nevents; i++)
        if (srv->events[i].max_bytes > frame_max)
            frame_max = srv->events[i].max_bytes;
    wsmask_set_frame_limit(frame_max);
    if (accept_hook_init() != 0)
        log_warn(srv->log, "cannot open /dev/null: running out of descriptors may spin the loop");

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_IPV6;
    if (cfg->tls_cert[0])
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    if (strchr(cfg->host, ':'))
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_DISABLE_IPV6;
    info.user = srv;
    info.count_threads = 1;
    info.fd_limit_per_thread = fd_limit;
    /* Slow-header defence (a client that sends its headers a byte at a time
     * must not hold the server): many header tables, short timeouts; each table is only allocated
     * while a request is parsed. */
    info.max_http_header_pool = SERVER_HEADER_POOL;
    info.max_http_header_data = SERVER_HEADER_DATA;
    info.timeout_secs = SERVER_TIMEOUT_SECS;
    info.timeout_secs_ah_idle = SERVER_TIMEOUT_SECS;
    info.server_string = "docsync";
    /* Before lws opens a socket: the table the recv() hook uses. */
    if (wsmask_table_init(fd_limit) != 0)
        log_warn(srv->log, "out of memory: unmasked client frames will not be refused");
    /* Event loop. Default: lws on libev (epoll) through its evlib plugin:
     * a wake-up costs O(ready sockets). lws's own poll() loop costs O(all
     * sockets) per wake-up, which dominates with many mostly idle
     * connections and sparse traffic, the normal case (pusher-js pings
     * every 30 s): measured 60 vs 366 us of server CPU per whisper delivery
     * at 1,000 connections, and twice the accept rate at 20,000; full-rate
     * fan-out to 5,000 subscribers costs about the same with both (3.4-3.6
     * us per delivery here). DOCSYNC_EVENT_LOOP=poll (cfg->event_loop) selects
     * lws's own loop; it is also the fallback when the plugin cannot be loaded. See
     * server_ev_nudge for the one quirk of lws's libev glue. */
    if (strcmp(srv->cfg->event_loop, "poll") != 0)
        srv->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    void *loops[1] = {srv->loop};
    if (srv->loop) {
        info.options |= LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = loops;
        srv->ctx = lws_create_context(&info);
        if (!srv->ctx) {
            log_warn(srv->log, "libev event loop unavailable, using poll()");
            ev_loop_destroy(srv->loop);
            srv->loop = NULL;
        }
    }
    if (!srv->ctx) {
        info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
        info.foreign_loops = NULL;
        srv->ctx = lws_create_context(&info);
    }
    if (!srv->ctx) {
        log_error(srv->log, "cannot create the event loop");
        return -1;
    }
    if (srv->loop) {
        ev_check_init(&srv->check, server_ev_check);
        srv->check.data = srv;
        ev_check_start(srv->loop, &srv->check);
        ev_prepare_init(&srv->flush, server_ev_flush);
        srv->flush.data = srv;
        ev_prepare_start(srv->loop, &srv->flush);
        ev_idle_init(&srv->flush_more, server_ev_flush_more);
        srv->flush_more.data = srv;
        ev_timer_init(&srv->nudge, server_ev_nudge, 0.25, 0.25);
        srv->nudge.data = srv;
        ev_timer_start(srv->loop, &srv->nudge);
    }

    info.port = (int)cfg->port;
    info.iface = cfg->host;
    info.protocols = server_protocols;
    info.vhost_name = "docsync";
    info.retry_and_idle_policy = &server_retry;
    /* No `extensions`: no permessage-deflate; Pusher clients do not need it and
     * lws 4.1.6's implementation is where its frame-handling bugs are. */
    if (cfg->tls_cert[0]) {
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
        /* HTTP/1.1 only: lws would otherwise offer h2 through ALPN, and
         * every handler here (and RFC 6455 upgrades) speaks HTTP/1.1. */
        info.alpn = "http/1.1";
    }
    srv->vh = lws_create_vhost(srv->ctx, &info);
    if (!srv->vh) {
        log_error(srv->log, "cannot listen on %s:%u", cfg->host, cfg->port);
        return -1;
    }
    if (cfg->tls_cert[0]) {
        /* lws loaded the certificate and key; the chain and the minimum
         * version go into the same SSL_CTX through the code reloads use. */
        char err[512];
        if (!srv->tls_ctx) {
            log_error(srv->log, "TLS: libwebsockets made no TLS context; not starting");
            return -1;
        }
        if (tls_load(srv->tls_ctx, cfg, err, sizeof err) != 0) {
            log_error(srv->log, "TLS: %s; not starting", err);
            return -1;
        }
        log_info(srv->log, "listening on %s:%d with TLS %s+ (certificate SHA-256 %s)", cfg->host,
                 lws_get_vhost_listen_port(srv->vh), cfg->tls_min_version, fp);
    } else {
        log_info(srv->log, "listening on %s:%d", cfg->host, lws_get_vhost_listen_port(srv->vh));
    }

    for (size_t i = 0; i < srv->ntimers; i++)
        server_timer_start(srv, &srv->timers[i]);
    memset(&srv->sweep_timer, 0, sizeof(srv->sweep_timer));
    srv->sweep_timer.srv = srv;
    srv->sweep_timer.ms = cfg->sweep_interval * 1000u;
    lws_sul_schedule(srv->ctx, 0, &srv->sweep_timer.sul, sweep_cb,
                     (lws_usec_t)srv->sweep_timer.ms * 1000);
    return 0;
}

int server_port(const struct server *srv)
{
    return srv->vh ? lws_get_vhost_listen_port(srv->vh) : -1;
}

void server_request_stop(struct server *srv)
{
    atomic_store(&srv->stop, 1);
    server_wake(srv);
}

static void server_ev_check(struct ev_loop *loop, ev_check *w, int revents)
{
    struct server *srv = w->data;
    (void)revents;
    if (srv->stopping == 2) {
        eio_flush(srv); /* polling sessions end here */
        if (!srv->conns || server_monotonic() >= srv->stop_deadline)
            ev_break(loop, EVBREAK_ALL);
        return;
    }
    conn_release_held(srv);
    server_run_wake_hooks(srv);
    if (srv->stopping == 1 && (!server_draining(srv) || server_monotonic() >= srv->stop_deadline))
        ev_break(loop, EVBREAK_ALL);
}

static void server_ev_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents; /* only wakes the loop so server_ev_check runs */
}

int server_run(struct server *srv)
{
    if (srv->loop) {
        if (!atomic_load(&srv->stop))
            ev_run(srv->loop, 0);
    } else {
        while (!atomic_load(&srv->stop)) {
            if (lws_service(srv->ctx, 0) < 0)
                break;
            conn_release_held(srv);
            server_run_wake_hooks(srv);
            conn_flush(srv, SIZE_MAX);
        }
    }
    /* Graceful stop. New connections are refused at accept from here on.
     * 1. Drain: the loop runs as usual while a module has work in flight
     *    (server_on_drain: the sync module's commits), so the
     *    acknowledgements of commits already submitted reach their clients.
     * 2. Close: every client is told 4200 (reconnect now, as soketi does on
     *    shutdown; pusher-js reconnects on 4200-4299), and the close frames
     *    get until the end of DOCSYNC_DRAIN_TIMEOUT (at least 1 s) to go.
     * A tick wakes the loop so that the deadline is seen. */
    int64_t end = server_monotonic() + srv->cfg->drain_timeout;
    ev_timer tick;
    if (srv->loop) {
        ev_timer_init(&tick, server_ev_tick, 0.1, 0.1);
        ev_timer_start(srv->loop, &tick);
    }
    srv->stopping = 1;
    srv->stop_deadline = end;
    if (server_draining(srv)) {
        log_info(srv->log, "stopping: new connections refused, waiting for work in flight");
        if (srv->loop) {
            ev_run(srv->loop, 0);
        } else {
            while (server_draining(srv) && server_monotonic() < end) {
                if (lws_service(srv->ctx, 0) < 0)
                    break;
                conn_release_held(srv);
                server_run_wake_hooks(srv);
                conn_flush(srv, SIZE_MAX);
            }
        }
        if (server_draining(srv))
            log_warn(srv->log, "stopping: DOCSYNC_DRAIN_TIMEOUT (%u s) reached with work in flight",
                     srv->cfg->drain_timeout);
    }
    srv->stopping = 2;
    log_info(srv->log, "stopping: closing %zu connection(s) with 4200 (reconnect)", srv->nconns);
    for (struct conn *c = srv->conns; c; c = c->next) {
        if (!(c->flags & (CONN_F_DEAD | CONN_F_CLOSING)))
            conn_close(c, PUSHER_GENERIC);
    }
    int64_t now = server_monotonic();
    srv->stop_deadline = end > now + 1 ? end : now + 1;
    if (srv->loop) {
        if (srv->conns)
            ev_run(srv->loop, 0);
        ev_timer_stop(srv->loop, &tick);
    } else {
        while (srv->conns && server_monotonic() < srv->stop_deadline) {
            if (lws_service(srv->ctx, 0) < 0)
                break;
            eio_flush(srv);
            conn_flush(srv, SIZE_MAX);
        }
    }
    return 0;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    if (srv->ctx) {
        lws_sul_cancel(&srv->sweep_timer.sul);
        for (size_t i = 0; i < srv->ntimers; i++) {
            lws_sul_cancel(&srv->timers[i].sul);
            if (srv->loop)
                ev_timer_stop(srv->loop, &srv->timers[i].ev);
        }
        lws_context_destroy(srv->ctx); /* closes what is left: CLOSED frees conns */
        srv->ctx = NULL;
        wsmask_table_free(); /* lws is gone: no recv() of ours in flight */
        accept_hook_free();
    }
    eio_free_all(srv); /* the polling sessions, lws gone */
    iplimit_free(srv->iplimit);
    free(srv->conn_by_fd);
    if (srv->loop) {
        ev_timer_stop(srv->loop, &srv->nudge);
        ev_check_stop(srv->loop, &srv->check);
        ev_prepare_stop(srv->loop, &srv->flush);
        ev_idle_stop(srv->loop, &srv->flush_more);
        ev_loop_destroy(srv->loop);
        srv->loop = NULL;
    }
    channel_registry_free(srv->channels);
    free(srv->wbuf);
    conn_tx_free(srv);
    free(srv->held[0]);
    free(srv->held[1]);
    free(srv->dirty);
    frame_unref(srv->ping);
    frame_unref(srv->pong);
    hmap_deinit(&srv->conns_by_sid);
    for (size_t i = 0; i < srv->nevents; i++)
        free(srv->events[i].prefix);
    for (size_t i = 0; i < srv->nroutes; i++)
        free(srv->routes[i].pattern);
    free(srv);
}
