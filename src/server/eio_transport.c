/* eio_transport: Engine.IO sessions on {prefix}/socket.io/ of the server's
 * port, protocols 3 and 4, with both transports:
 *
 *   polling    GET without sid: the handshake (a new session, its
 *              connection, the open packet); GET with sid: the long-poll,
 *              held (http_req_hold) until something is queued, then
 *              answered with every queued packet in one payload; POST with
 *              sid: the client's packets. One long-poll at a time: a second
 *              one while one is held ends the session (400), as Engine.IO
 *              servers do; a held long-poll the client cuts ends the
 *              session at once (http_req_on_gone, and http_req_peer_gone
 *              every 250 ms at most: lws does not see that FIN itself).
 *   websocket  either the whole session (no sid: the open packet is the
 *              first message) or an upgrade of a polling session: the
 *              WebSocket opens with the sid, "2probe" is answered "3probe"
 *              and the held long-poll gets a noop so the client can pause
 *              polling, then "5" switches the session's writes to the
 *              WebSocket. Nothing is lost or sent twice: every packet sits
 *              in the connection's one send queue until one transport
 *              takes it.
 *
 * A session is a `struct conn` like a Pusher WebSocket (c->tx set): it
 * joins the same channels, presence rosters and counts; conn_queue puts
 * the Socket.IO form of each frame in its queue. Session ids are 120 bits
 * from getrandom(), distinct from the socket id. Liveness: protocol 4
 * servers ping every DOCSYNC_SOCKETIO_PING_INTERVAL and end a session
 * whose pong does not come within DOCSYNC_SOCKETIO_PING_TIMEOUT; protocol
 * 3 clients ping, and a session silent for interval + timeout ends.
 *
 * A polling session holds no connection between its requests, so the
 * per-IP connection limit cannot bound it: DOCSYNC_SOCKETIO_IP_MAX_POLLING
 * does, counting a session from its handshake until it upgrades or ends.
 * Browsers poll cross-origin (an app on :8000, the server on :8080), so
 * polling answers carry CORS headers for the origins
 * REVERB_APP_ALLOWED_ORIGINS allows, credentials included (the handshake's
 * cookie is what DOCSYNC_SOCKETIO_AUTH_URL passes to the app). */
#include "server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/base64.h"
#include "common/clock.h"
#include "config/origin.h"
#include "socketio/eio.h"
#include "wsmask.h"

#define EIO_MAX_PAYLOAD 1000000u    /* bytes of a POST (Engine.IO's default maxPayload) */
#define EIO_POLL_MAX (256u * 1024u) /* bytes one long-poll answer carries at most */
#define EIO_COOKIE_MAX 4096

static void eio_kick(struct conn *c);
static const struct conn_transport eio_tx = {eio_kick};

/* Polling sessions of one client address. */
struct eio_ip {
    uint8_t key[16];
    size_t n;
};

/* ---- CORS ------------------------------------------------------------- */

/* The request's Origin when REVERB_APP_ALLOWED_ORIGINS allows it: the
 * answer names it (never "*", which browsers refuse with credentials) and
 * allows credentials. Returns 1 when allowed, 0 when the request names no
 * origin and the list allows that ("*"), -1 when refused (as the
 * WebSocket side refuses a missing Origin under a list of hosts). */
static int eio_cors(struct server *srv, struct http_req *req)
{
    char origin[512];
    if (http_req_header(req, "origin", origin, sizeof origin) <= 0)
        return origin_allowed(srv->cfg->allowed_origins, NULL) ? 0 : -1;
    if (!origin_allowed(srv->cfg->allowed_origins, origin))
        return -1;
    /* Header values go out as they came: refuse what could split them. */
    for (const char *p = origin; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return -1;
    http_req_add_header(req, "access-control-allow-origin", origin);
    http_req_add_header(req, "access-control-allow-credentials", "true");
    http_req_add_header(req, "vary", "Origin");
    return 1;
}

/* OPTIONS: the preflight of a cross-origin poll (a POST with a content type
 * other than text/plain, or the app's extraHeaders). */
static void eio_options(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    if (eio_cors(srv, req) < 0) {
        http_req_respond(req, 403, NULL, "{\"code\":4,\"message\":\"Forbidden\"}", 32, NULL, NULL);
        return;
    }
    char want[256];
    int n = http_req_header(req, "access-control-request-headers", want, sizeof want);
    int ok = n > 0;
    for (int i = 0; i < n && ok; i++) {
        char ch = want[i];
        ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
             ch == '-' || ch == '_' || ch == ',' || ch == ' ';
    }
    if (ok)
        http_req_add_header(req, "access-control-allow-headers", want);
    http_req_add_header(req, "access-control-allow-methods", "GET, POST");
    http_req_add_header(req, "access-control-max-age", "600");
    http_req_respond(req, 204, "text/plain", "", 0, NULL, NULL);
}

/* ---- polling sessions per address ----------------------------------- */

/* 1 when the client's address may open another polling session. */
static int eio_ip_admit(struct server *srv, const uint8_t key[16])
{
    size_t max = srv->cfg->sio_ip_max_polling;
    const struct eio_ip *ip = hmap_get(&srv->eio_by_ip, key, 16);
    return !max || !ip || ip->n < max;
}

static void eio_ip_take(struct eio_sess *e, const uint8_t key[16])
{
    struct server *srv = e->srv;
    struct eio_ip *ip = hmap_get(&srv->eio_by_ip, key, 16);
    if (!ip) {
        ip = calloc(1, sizeof *ip);
        if (!ip)
            return; /* not counted */
        memcpy(ip->key, key, 16);
        if (hmap_put(&srv->eio_by_ip, ip->key, 16, ip) != 0) {
            free(ip);
            return;
        }
    }
    ip->n++;
    e->ip = ip;
}

/* The session stops counting as a polling session (upgraded, or ending). */
static void eio_ip_release(struct eio_sess *e)
{
    if (e->polling) {
        e->polling = 0;
        e->srv->metrics.sio_polling--;
    }
    struct eio_ip *ip = e->ip;
    if (!ip)
        return;
    e->ip = NULL;
    if (--ip->n == 0) {
        hmap_del(&e->srv->eio_by_ip, ip->key, 16);
        free(ip);
    }
}

/* ---- responses -------------------------------------------------------- */

/* Engine.IO's error answers: 400 {"code","message"}. */
static void eio_http_error(struct http_req *req, int code, const char *text)
{
    char buf[160];
    int n = snprintf(buf, sizeof buf, "{\"code\":%d,\"message\":\"%s\"}", code, text);
    http_req_respond(req, 400, NULL, buf, (size_t)n, NULL, NULL);
}

static void eio_respond_text(struct http_req *req, const char *body, size_t n)
{
    http_req_respond(req, 200, "text/plain; charset=UTF-8", body, n, NULL, NULL);
}

/* A payload of one packet. */
static void eio_respond_packet(struct eio_sess *e, struct http_req *req, const char *p, size_t n)
{
    char pre[EIO_PREFIX_MAX];
    size_t k = eio_frame_prefix(e->proto, 1, p, n, pre);
    char *buf = malloc(k + n);
    if (!buf) {
        http_req_respond(req, 500, NULL, "", 0, NULL, NULL);
        return;
    }
    memcpy(buf, pre, k);
    memcpy(buf + k, p, n);
    eio_respond_text(req, buf, k + n);
    free(buf);
}

/* ---- sessions ---------------------------------------------------------- */

static void eio_flush_queue(struct eio_sess *e)
{
    if (e->flush_queued)
        return;
    e->flush_queued = 1;
    e->flush_next = e->srv->eio_flush;
    e->srv->eio_flush = e;
}

static void eio_kick(struct conn *c)
{
    eio_flush_queue(c->tx_ud);
}

static void eio_poll_gone(void *ud);

static struct eio_sess *eio_new(struct server *srv, int proto, struct lws *wsi)
{
    struct eio_sess *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    uint8_t raw[15];
    size_t n = 0;
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw ||
        base64_encode(raw, sizeof raw, 1, e->id, sizeof e->id, &n) != 0 ||
        hmap_put(&srv->eio_by_sid, e->id, n, e) != 0) {
        free(e);
        return NULL;
    }
    e->c = conn_new(srv, wsi);
    if (!e->c) {
        hmap_del(&srv->eio_by_sid, e->id, n);
        free(e);
        return NULL;
    }
    e->srv = srv;
    e->proto = (uint8_t)proto;
    e->c->tx = &eio_tx;
    e->c->tx_ud = e;
    e->c->flags |= CONN_F_APP;
    srv->nconns++;
    srv->metrics.connections_total++;
    e->seen_ms = clock_mono_ms();
    e->next_ping_ms = e->seen_ms + srv->cfg->sio_ping_interval;
    e->next = srv->eio_all;
    if (e->next)
        e->next->prev = e;
    srv->eio_all = e;
    return e;
}

/* Frees the session and its connection (which left its channels). */
static void eio_free(struct eio_sess *e)
{
    struct server *srv = e->srv;
    if (e->flush_queued) {
        for (struct eio_sess **p = &srv->eio_flush; *p; p = &(*p)->flush_next) {
            if (*p == e) {
                *p = e->flush_next;
                break;
            }
        }
    }
    if (e->poll) {
        struct http_req *r = e->poll;
        e->poll = NULL;
        eio_respond_packet(e, r, "1", 1);
    }
    if (e->probe_pss) {
        e->probe_pss->probe = NULL;
        lws_set_timeout(e->probe, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    }
    hmap_del(&srv->eio_by_sid, e->id, strlen(e->id));
    eio_ip_release(e);
    if (e->prev)
        e->prev->next = e->next;
    else
        srv->eio_all = e->next;
    if (e->next)
        e->next->prev = e->prev;
    if (e->c) {
        broadcast_leave_all(e->c);
        conn_free(e->c);
    }
    free(e->cookie);
    free(e);
}

/* Ends the session now: a polling session is freed; one on a WebSocket
 * closes it and is freed when lws reports it closed. */
static void eio_end(struct eio_sess *e)
{
    if (e->ended)
        return;
    e->ended = 1;
    if (e->ws && e->c && e->c->wsi) {
        broadcast_leave_all(e->c);
        conn_close(e->c, LWS_CLOSE_STATUS_NORMAL);
        return;
    }
    eio_free(e);
}

/* The open packet: "0{...}". */
static int eio_open_packet(const struct eio_sess *e, int upgrades, char *buf, size_t cap)
{
    const struct config *cfg = e->srv->cfg;
    return snprintf(buf, cap,
                    "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,\"pingTimeout\":%u,"
                    "\"maxPayload\":%u}",
                    e->id, upgrades ? "\"websocket\"" : "", cfg->sio_ping_interval,
                    cfg->sio_ping_timeout, EIO_MAX_PAYLOAD);
}

/* Answers the held long-poll with what is queued (or a noop / close). */
static void eio_answer_poll(struct eio_sess *e)
{
    struct conn *c = e->c;
    struct http_req *req = e->poll;
    if (!req)
        return;
    size_t cap = 0, used = 0;
    char *buf = NULL;
    int first = 1;
    struct frame *f;
    while ((f = sendq_peek(&c->q)) && (first || used + f->len + EIO_PREFIX_MAX <= EIO_POLL_MAX)) {
        size_t need = used + f->len + EIO_PREFIX_MAX;
        if (need > cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            while (ncap < need)
                ncap *= 2;
            char *nb = realloc(buf, ncap);
            if (!nb)
                break;
            buf = nb;
            cap = ncap;
        }
        used += eio_frame_prefix(e->proto, first, (const char *)frame_data(f), f->len, buf + used);
        memcpy(buf + used, frame_data(f), f->len);
        used += f->len;
        first = 0;
        c->srv->metrics.messages_out++;
        c->srv->metrics.bytes_out += f->len;
        sendq_pop(&c->q);
    }
    e->poll = NULL;
    if (!used) {
        const char *p = (c->flags & (CONN_F_CLOSING | CONN_F_DEAD)) ? "1" : "6";
        eio_respond_packet(e, req, p, 1);
    } else {
        eio_respond_text(req, buf, used);
    }
    free(buf);
}

void eio_flush(struct server *srv)
{
    struct eio_sess *e;
    while ((e = srv->eio_flush)) {
        srv->eio_flush = e->flush_next;
        e->flush_queued = 0;
        struct conn *c = e->c;
        if (e->ws)
            continue; /* lws writes it (conn_writeable) */
        if (c->flags & CONN_F_DEAD) {
            eio_end(e);
            continue;
        }
        if (c->flags & CONN_F_HELD)
            continue; /* conn_release_held kicks it again */
        if (e->poll && (sendq_count(&c->q) || (c->flags & CONN_F_CLOSING)))
            eio_answer_poll(e);
        if ((c->flags & CONN_F_CLOSING) && !sendq_count(&c->q))
            eio_end(e);
    }
}

/* ---- packets from the client ------------------------------------------ */

static void eio_send(struct eio_sess *e, const char *p, size_t n)
{
    struct frame *f = frame_from(p, n);
    if (f) {
        conn_queue_raw(e->c, f);
        frame_unref(f);
    }
}

/* One packet of either transport. Returns -1 when it ended the session. */
static int eio_packet(struct eio_sess *e, const char *p, size_t n)
{
    int type;
    const char *d;
    size_t dl;
    e->seen_ms = clock_mono_ms();
    e->c->last_seen = server_monotonic();
    if (eio_packet_parse(p, n, &type, &d, &dl) != EIO_OK) {
        conn_error(e->c, PUSHER_GENERIC, "Binary packets are not supported", 0);
        return 0;
    }
    switch (type) {
    case EIO_PING:
        /* Protocol 3: the client pings, the server answers with its data. */
        if (e->proto == 3 && dl <= 64) {
            char buf[72];
            buf[0] = '3';
            memcpy(buf + 1, d, dl);
            eio_send(e, buf, dl + 1);
        }
        break;
    case EIO_PONG:
        e->ping_ms = 0;
        break;
    case EIO_MESSAGE:
        sio_packet(e->c, e->proto, d, dl);
        break;
    case EIO_CLOSE:
        eio_end(e);
        return -1;
    default:
        break; /* noop; open and upgrade mean nothing here */
    }
    return 0;
}

/* ---- polling ------------------------------------------------------------ */

static void eio_poll_gone(void *ud)
{
    /* The client cut its long-poll: Engine.IO servers end the session. */
    struct eio_sess *e = ud;
    struct http_req *r = e->poll;
    e->poll = NULL;
    if (r)
        http_req_respond(r, 200, NULL, "", 0, NULL, NULL); /* frees it */
    if (!e->ws && !e->upgrading)
        eio_end(e);
}

/* EIO= and transport=; answers and returns -1 when they are wrong. */
static int eio_check_query(struct http_req *req, int *proto)
{
    const char *v = http_req_arg(req, "EIO");
    if (!v || (strcmp(v, "3") != 0 && strcmp(v, "4") != 0)) {
        eio_http_error(req, 5, "Unsupported protocol version");
        return -1;
    }
    *proto = v[0] - '0';
    const char *t = http_req_arg(req, "transport");
    if (!t || strcmp(t, "polling") != 0) {
        eio_http_error(req, 0, "Transport unknown");
        return -1;
    }
    if (http_req_arg(req, "j")) {
        eio_http_error(req, 3, "Bad request"); /* JSONP: not served */
        return -1;
    }
    return 0;
}

/* The session named by sid=, for a request of protocol `proto`. */
static struct eio_sess *eio_find(struct server *srv, struct http_req *req, int proto)
{
    const char *sid = http_req_arg(req, "sid");
    struct eio_sess *e = sid ? hmap_get(&srv->eio_by_sid, sid, strlen(sid)) : NULL;
    if (!e || e->ended || e->proto != proto) {
        eio_http_error(req, 1, "Session ID unknown");
        return NULL;
    }
    if (e->ws) {
        eio_http_error(req, 3, "Bad request"); /* upgraded: polling is over */
        return NULL;
    }
    return e;
}

static void eio_handshake(struct server *srv, struct http_req *req, int proto, int cors)
{
    if (cors < 0) {
        eio_http_error(req, 4, "Forbidden");
        return;
    }
    if (srv->stopping || (srv->cfg->max_connections && srv->nconns >= srv->cfg->max_connections)) {
        http_req_respond(req, 503, NULL, "{\"code\":4004,\"message\":\"Over connection quota\"}",
                         48, NULL, NULL);
        return;
    }
    uint8_t key[16];
    int keyed = http_req_peer_key(req, key) == 0;
    if (keyed && !eio_ip_admit(srv, key)) {
        static const char busy[] =
            "{\"code\":4004,\"message\":\"Too many polling sessions from this address\"}";
        srv->metrics.sio_polling_refused++;
        http_req_respond(req, 503, NULL, busy, sizeof busy - 1, NULL, NULL);
        return;
    }
    struct eio_sess *e = eio_new(srv, proto, NULL);
    if (!e) {
        http_req_respond(req, 500, NULL, "", 0, NULL, NULL);
        return;
    }
    e->polling = 1;
    srv->metrics.sio_polling++;
    if (keyed)
        eio_ip_take(e, key);
    char cookie[EIO_COOKIE_MAX];
    if (http_req_header(req, "cookie", cookie, sizeof cookie) > 0)
        e->cookie = strdup(cookie);
    char open[256];
    int n = eio_open_packet(e, 1, open, sizeof open);
    eio_send(e, open, (size_t)n);
    sio_open(e->c, proto);
    e->poll = req; /* answered at once: the open packet is queued */
    eio_answer_poll(e);
}

static void eio_get(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    int proto;
    int cors = eio_cors(srv, req);
    if (eio_check_query(req, &proto))
        return;
    if (!http_req_arg(req, "sid")) {
        eio_handshake(srv, req, proto, cors);
        return;
    }
    struct eio_sess *e = eio_find(srv, req, proto);
    if (!e)
        return;
    if (e->poll) {
        /* Two long-polls at once: a broken or hostile client. */
        eio_http_error(req, 3, "Bad request");
        eio_end(e);
        return;
    }
    e->seen_ms = clock_mono_ms();
    e->poll = req;
    http_req_on_gone(req, eio_poll_gone, e);
    struct conn *c = e->c;
    if (c->flags & (CONN_F_CLOSING | CONN_F_DEAD)) {
        eio_answer_poll(e);
        eio_end(e);
        return;
    }
    if (e->upgrading || (sendq_count(&c->q) && !(c->flags & CONN_F_HELD))) {
        eio_answer_poll(e);
        return;
    }
    http_req_hold(req); /* a held connection is kicked again when released */
}

static void eio_post(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    int proto;
    eio_cors(srv, req);
    if (eio_check_query(req, &proto))
        return;
    struct eio_sess *e = eio_find(srv, req, proto);
    if (!e)
        return;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    if (!body || eio_payload_check(proto, body, len) != EIO_OK) {
        eio_http_error(req, 3, "Bad request");
        eio_end(e);
        return;
    }
    /* Answer first: the packets may end the session. */
    http_req_respond(req, 200, "text/html", "ok", 2, NULL, NULL);
    size_t pos = 0, n;
    const char *p;
    while (eio_payload_next(proto, body, len, &pos, &p, &n) == 1) {
        if (eio_packet(e, p, n) < 0)
            break;
        if (e->c->flags & (CONN_F_DEAD | CONN_F_CLOSING))
            break;
    }
}

/* ---- WebSocket ----------------------------------------------------------- */

/* The polling session an upgrading WebSocket may take over, or NULL. */
static struct eio_sess *eio_probe_target(struct server *srv, const struct pss *pss)
{
    struct eio_sess *e = hmap_get(&srv->eio_by_sid, pss->eio_sid, strlen(pss->eio_sid));
    if (!e || e->ended || e->ws || e->probe || e->proto != pss->eio_proto)
        return NULL;
    return e;
}

/* The value of query argument `name` ("EIO=") in buf, or NULL. */
static const char *eio_ws_arg(struct lws *wsi, const char *name, char *buf, int cap)
{
    return lws_get_urlarg_by_name(wsi, name, buf, cap);
}

int eio_ws_filter(struct server *srv, struct lws *wsi, struct pss *pss)
{
    char v[64];
    pss->sio = 1;
    const char *a = eio_ws_arg(wsi, "EIO=", v, sizeof v);
    if (!a || (strcmp(a, "3") && strcmp(a, "4")))
        return -1;
    pss->eio_proto = (uint8_t)(a[0] - '0');
    a = eio_ws_arg(wsi, "transport=", v, sizeof v);
    if (!a || strcmp(a, "websocket"))
        return -1;
    a = eio_ws_arg(wsi, "sid=", v, sizeof v);
    pss->eio_sid[0] = '\0';
    if (!a)
        return 0; /* a WebSocket-only session */
    if (strlen(a) >= sizeof pss->eio_sid)
        return -1;
    memcpy(pss->eio_sid, a, strlen(a) + 1);
    /* An upgrade: refused before the handshake completes unless it names a
     * live polling session of its protocol that no other WebSocket probes
     * (checked again once established). */
    return eio_probe_target(srv, pss) ? 0 : -1;
}

int eio_ws_established(struct server *srv, struct lws *wsi, struct pss *pss)
{
    if (!pss->origin_ok)
        return -1;
    if (pss->eio_sid[0]) {
        /* An upgrade: probe the polling session. */
        struct eio_sess *e = eio_probe_target(srv, pss);
        if (!e)
            return -1;
        e->probe = wsi;
        e->probe_pss = pss;
        pss->probe = e;
        wsmask_conn_limit(lws_get_socket_fd(wsi), 64);
        return 0;
    }
    if (srv->cfg->max_connections && srv->nconns >= srv->cfg->max_connections)
        return -1;
    struct eio_sess *e = eio_new(srv, pss->eio_proto, wsi);
    if (!e)
        return -1;
    e->ws = 1;
    pss->c = e->c;
    wsmask_conn_limit(lws_get_socket_fd(wsi), srv->cfg->max_message_size);
    char open[256];
    int n = eio_open_packet(e, 0, open, sizeof open);
    eio_send(e, open, (size_t)n);
    sio_open(e->c, e->proto);
    return 0;
}

/* The upgrade's packets on the probe: "2probe", then "5". */
int eio_ws_probe_receive(struct server *srv, struct lws *wsi, struct pss *pss, const char *in,
                         size_t len)
{
    struct eio_sess *e = pss->probe;
    if (!e || !lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) || !in)
        return -1;
    if (len == 6 && !memcmp(in, "2probe", 6)) {
        e->probe_reply = 1;
        e->upgrading = 1;
        lws_callback_on_writable(wsi);
        /* The client pauses polling: let its long-poll return. */
        if (e->poll)
            eio_answer_poll(e);
        return 0;
    }
    if (len == 1 && in[0] == '5' && e->upgrading) {
        struct conn *c = e->c;
        e->ws = 1;
        e->upgrading = 0;
        eio_ip_release(e); /* a WebSocket now: the connection limits count it */
        e->probe = NULL;
        e->probe_pss = NULL;
        pss->probe = NULL;
        pss->c = c;
        c->wsi = wsi;
        wsmask_conn_limit(lws_get_socket_fd(wsi), session_frame_limit(c));
        if (e->poll) {
            struct http_req *r = e->poll;
            e->poll = NULL;
            eio_respond_packet(e, r, "6", 1);
        }
        e->seen_ms = clock_mono_ms();
        if (sendq_count(&c->q))
            conn_want_write(c);
        (void)srv;
        return 0;
    }
    return -1;
}

int eio_ws_probe_writeable(struct server *srv, struct lws *wsi, struct pss *pss)
{
    (void)srv;
    struct eio_sess *e = pss->probe;
    if (!e || !e->probe_reply)
        return 0;
    e->probe_reply = 0;
    unsigned char buf[LWS_PRE + 8];
    memcpy(buf + LWS_PRE, "3probe", 6);
    return lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

void eio_ws_message(struct conn *c, const char *buf, size_t len)
{
    eio_packet(c->tx_ud, buf, len);
}

void eio_ws_closed(struct server *srv, struct pss *pss)
{
    (void)srv;
    if (pss->probe) {
        /* A probe that never finished: polling goes on. */
        struct eio_sess *e = pss->probe;
        e->probe = NULL;
        e->probe_pss = NULL;
        e->upgrading = 0;
        pss->probe = NULL;
        return;
    }
    if (pss->c && pss->c->tx) {
        struct eio_sess *e = pss->c->tx_ud;
        pss->c = NULL;
        e->c->wsi = NULL;
        eio_free(e);
    }
}

/* ---- liveness -------------------------------------------------------------- */

void eio_tick(struct server *srv, void *ud)
{
    (void)ud;
    const struct config *cfg = srv->cfg;
    int64_t now = clock_mono_ms();
    struct eio_sess *e = srv->eio_all, *next;
    for (; e; e = next) {
        next = e->next;
        if (e->ended)
            continue;
        if (e->poll && http_req_peer_gone(e->poll)) {
            eio_poll_gone(e);
            continue;
        }
        if (e->proto == 3) {
            if (now - e->seen_ms > (int64_t)cfg->sio_ping_interval + cfg->sio_ping_timeout)
                eio_end(e);
            continue;
        }
        if (e->ping_ms) {
            if (now - e->ping_ms > (int64_t)cfg->sio_ping_timeout)
                eio_end(e);
        } else if (now >= e->next_ping_ms) {
            e->ping_ms = now;
            e->next_ping_ms = now + cfg->sio_ping_interval;
            eio_send(e, "2", 1);
        }
    }
}

unsigned eio_tick_ms(const struct server *srv)
{
    unsigned ms = srv->cfg->sio_ping_interval < srv->cfg->sio_ping_timeout
                      ? srv->cfg->sio_ping_interval
                      : srv->cfg->sio_ping_timeout;
    ms /= 4;
    if (ms < 25)
        ms = 25;
    if (ms > 250)
        ms = 250; /* also how soon a cut long-poll is seen (http_req_peer_gone) */
    return ms;
}

/* A POST's size limit: maxPayload, or, for a session that holds an
 * authorised subscription, the largest message a module takes from it
 * (a document's whole-content write), as its WebSocket frames would be
 * held to (session_frame_limit). Decided on the session the query names,
 * before the body is read; 8 KiB for the headers and the packet framing. */
static size_t eio_post_limit(const struct http_req *req, void *ud)
{
    struct server *srv = ud;
    size_t max = EIO_MAX_PAYLOAD;
    const char *sid = http_req_arg(req, "sid");
    const struct eio_sess *e = sid ? hmap_get(&srv->eio_by_sid, sid, strlen(sid)) : NULL;
    if (e && !e->ended && e->c) {
        size_t big = session_frame_limit(e->c);
        if (big > max)
            max = big;
    }
    return max + 8192;
}

int eio_register(struct server *srv)
{
    int rc = http_route(srv, "GET", "/socket.io/*", 0, eio_get, NULL);
    if (!rc)
        rc = http_route_sizer(srv, "POST", "/socket.io/*", 0, eio_post_limit, eio_post, srv);
    if (!rc)
        rc = http_route(srv, "OPTIONS", "/socket.io/*", 0, eio_options, NULL);
    return rc;
}

void eio_free_all(struct server *srv)
{
    while (srv->eio_all) {
        struct eio_sess *e = srv->eio_all;
        if (e->c && e->c->wsi) {
            /* lws is gone: its connections were closed without telling. */
            e->c->wsi = NULL;
        }
        eio_free(e);
    }
    hmap_deinit(&srv->eio_by_sid);
    hmap_deinit(&srv->eio_by_ip); /* emptied by eio_free */
}
