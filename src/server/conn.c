/* conn: one WebSocket connection - creation with a unique socket id, what
 * modules may ask of it, the bounded send queue and its coalescing drain,
 * errors and closes, and cleanup. The lowest file of the server but the
 * leaves: in the folder it calls only the metrics, the frame scanner
 * (wsmask) and txring (the io_uring sends). */
#include "server_int.h"
#include "txring.h"
#include "wsmask.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "socketio/sio.h"

/* xorshift128+: socket ids only need to be unpredictable enough not to
 * collide; uniqueness is enforced by the socket-id map. Seeded from
 * getrandom(). */
static uint64_t conn_random(struct server *srv)
{
    uint64_t s1 = srv->rng[0];
    const uint64_t s0 = srv->rng[1];
    srv->rng[0] = s0;
    s1 ^= s1 << 23;
    srv->rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return srv->rng[1] + s0;
}

struct conn *conn_new(struct server *srv, struct lws *wsi)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->wsi = wsi;
    c->srv = srv;
    channel_set_init(&c->chans, c);
    sendq_init(&c->q);
    c->last_seen = server_monotonic();
    /* "<a>.<b>", each part uniform in 1..1e9 like Reverb; unique among live
     * connections (the map refuses duplicates, so draw again). */
    for (int tries = 0; tries < 64; tries++) {
        uint64_t r = conn_random(srv);
        unsigned a =
            srv->sid_prefix ? srv->sid_prefix : (unsigned)((r & 0xffffffffu) % 1000000000u) + 1u;
        unsigned b = (unsigned)((r >> 32) % 1000000000u) + 1u;
        int n = snprintf(c->sid, sizeof(c->sid), "%u.%u", a, b);
        c->sid_len = (uint8_t)n;
        if (hmap_put(&srv->conns_by_sid, c->sid, c->sid_len, c) == 0) {
            c->next = srv->conns;
            if (srv->conns)
                srv->conns->prev = c;
            srv->conns = c;
            return c;
        }
    }
    free(c);
    return NULL;
}

void conn_free(struct conn *c)
{
    if (!c)
        return;
    struct server *srv = c->srv;
    if (c->flags & CONN_F_HELD) {
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < srv->nheld[k]; i++) {
                if (srv->held[k][i] == c) {
                    srv->held[k][i] = srv->held[k][--srv->nheld[k]];
                    break;
                }
            }
        }
    }
    if (c->flags & CONN_F_DIRTY) {
        for (size_t i = 0; i < srv->ndirty; i++) {
            if (srv->dirty[i] == c)
                srv->dirty[i] = NULL; /* conn_flush skips the hole */
        }
    }
    channel_set_deinit(&c->chans);
    sendq_deinit(&c->q);
    hmap_del(&srv->conns_by_sid, c->sid, c->sid_len);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->flags & CONN_F_APP)
        srv->nconns--;
    if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
        log_debug(srv->log, "connection %s closed", c->sid);
    free(c->rx);
    free(c->signin_id);
    free(c->signin_info);
    free(c);
}

/* ---- what modules may ask of a connection ---------------------------- */

const char *conn_socket_id(const struct conn *c)
{
    return c->sid;
}

const char *conn_user_id(const struct conn *c, const char *channel)
{
    if (channel) {
        struct channel *ch = channel_find(c->srv->channels, channel, strlen(channel));
        const struct channel_sub *s = ch ? channel_set_find(&c->chans, ch) : NULL;
        if (s && s->member)
            return presence_member_id(s->member, NULL);
    }
    return c->signin_id;
}

int conn_is_subscribed(const struct conn *c, const char *channel)
{
    struct channel *ch = channel_find(c->srv->channels, channel, strlen(channel));
    return ch && channel_set_find(&c->chans, ch) != NULL;
}

void conn_set_socket_prefix(struct server *srv, unsigned prefix)
{
    srv->sid_prefix = prefix <= 1000000000u ? prefix : 0;
}

size_t conn_count(const struct server *srv)
{
    return srv->nconns;
}

struct conn *conn_find(struct server *srv, const char *socket_id)
{
    return hmap_get(&srv->conns_by_sid, socket_id, strlen(socket_id));
}

size_t conn_send_room(const struct conn *c)
{
    size_t max = c->srv->cfg->send_queue_max, used = sendq_bytes(&c->q);
    return (c->flags & CONN_F_DEAD) || used >= max ? 0 : max - used;
}

int conn_send_frame(struct conn *c, struct frame *f)
{
    if (c->flags & CONN_F_DEAD)
        return SERVER_ECLOSED;
    return conn_queue(c, f);
}

int conn_rate_take(struct conn_rate *r, unsigned per_second)
{
    if (!per_second)
        return 1;
    int64_t now = server_monotonic();
    if (now != r->window) {
        r->window = now;
        r->count = 0;
    }
    return ++r->count <= per_second;
}

int conn_request_allowed(struct conn *c, unsigned per_second)
{
    return conn_rate_take(&c->rq, per_second);
}

/* Pays the connection's work debt back at `us_per_second`. */
static void conn_work_payback(struct conn *c, unsigned us_per_second, int64_t now)
{
    int64_t paid = (now - c->work_at_us) * (int64_t)us_per_second / 1000000;
    c->work_at_us = now;
    c->work_debt_us = paid >= c->work_debt_us ? 0 : c->work_debt_us - paid;
}

int conn_work_allowed(struct conn *c, unsigned us_per_second)
{
    if (!us_per_second)
        return 1;
    conn_work_payback(c, us_per_second, clock_mono_us());
    return c->work_debt_us <= (int64_t)us_per_second;
}

int64_t conn_work_start(void)
{
    return clock_mono_us();
}

void conn_work_done(struct conn *c, int64_t start, unsigned us_per_second)
{
    int64_t now = clock_mono_us();
    if (us_per_second)
        conn_work_payback(c, us_per_second, now);
    c->work_debt_us += now - start;
}

/* ---- the send queue --------------------------------------------------- */

void conn_want_write(struct conn *c)
{
    if (c->flags & CONN_F_DEAD)
        return;
    if (c->wsi)
        lws_callback_on_writable(c->wsi);
    else if (c->tx)
        c->tx->kick(c);
}

void conn_kill(struct conn *c)
{
    if (c->flags & CONN_F_DEAD)
        return;
    c->flags |= CONN_F_DEAD;
    sendq_deinit(&c->q);
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    else if (c->tx)
        c->tx->kick(c);
}

/* Frames are not written where they are queued but once per loop iteration,
 * in conn_flush, straight from the loop rather than from a WRITEABLE
 * callback. Asking lws for WRITEABLE costs two epoll_ctl calls and a wake-up
 * per delivery, which at low rates (one event to many subscribers, each
 * queue holding one frame) is as much as the send itself; waiting until the
 * iteration's end also lets every event it brought to a subscriber go out in
 * one send. WRITEABLE remains for what could not be written at once (a full
 * socket buffer, more than one write's worth, pings and closes). */
static void conn_mark_dirty(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->flags & CONN_F_DIRTY)
        return;
    if (srv->ndirty == srv->dirty_cap) {
        size_t ncap = srv->dirty_cap ? srv->dirty_cap * 2 : 64;
        struct conn **n = realloc(srv->dirty, ncap * sizeof(*n));
        if (!n) {
            lws_callback_on_writable(c->wsi); /* the slower way still works */
            return;
        }
        srv->dirty = n;
        srv->dirty_cap = ncap;
    }
    srv->dirty[srv->ndirty++] = c;
    c->flags |= CONN_F_DIRTY;
}

int conn_queue(struct conn *c, struct frame *f)
{
    if (c->flags & CONN_F_DEAD)
        return SERVER_ECLOSED;
    if (c->tx) {
        /* Translated once per frame, whatever the number of receivers. */
        f = sio_frame_for(f);
        if (!f) {
            conn_kill(c);
            return SERVER_ECLOSED;
        }
        if (!f->len)
            return 0;
    }
    return conn_queue_raw(c, f);
}

int conn_queue_raw(struct conn *c, struct frame *f)
{
    if (c->flags & CONN_F_DEAD)
        return SERVER_ECLOSED;
    int was_empty = sendq_count(&c->q) == 0;
    int rc = sendq_push(&c->q, f, c->srv->cfg->send_queue_max);
    if (rc) {
        /* A client that stopped reading: drop it rather than grow memory. */
        c->srv->metrics.slow_disconnects++;
        log_warn(c->srv->log, "connection %s dropped: send queue full (%zu bytes)", c->sid,
                 sendq_bytes(&c->q));
        conn_kill(c);
        return SERVER_ECLOSED;
    }
    if (was_empty && !(c->flags & CONN_F_HELD)) {
        if (c->wsi)
            conn_mark_dirty(c);
        else
            conn_want_write(c); /* an Engine.IO polling session: its transport writes */
    }
    return 0;
}

void conn_release_held(struct server *srv)
{
    for (size_t i = 0; i < srv->nheld[1]; i++) {
        struct conn *c = srv->held[1][i];
        c->flags &= ~CONN_F_HELD;
        if (sendq_count(&c->q))
            conn_want_write(c);
    }
    /* This iteration's holds become the previous iteration's. */
    struct conn **t = srv->held[1];
    size_t tcap = srv->held_cap[1];
    srv->held[1] = srv->held[0];
    srv->held_cap[1] = srv->held_cap[0];
    srv->nheld[1] = srv->nheld[0];
    srv->held[0] = t;
    srv->held_cap[0] = tcap;
    srv->nheld[0] = 0;
}

void conn_hold(struct conn *c)
{
    struct server *srv = c->srv;
    if (c->flags & CONN_F_HELD)
        return;
    if (srv->nheld[0] == srv->held_cap[0]) {
        size_t ncap = srv->held_cap[0] ? srv->held_cap[0] * 2 : 16;
        struct conn **n = realloc(srv->held[0], ncap * sizeof(*n));
        if (!n)
            return; /* not holding only costs the ordering nicety */
        srv->held[0] = n;
        srv->held_cap[0] = ncap;
    }
    srv->held[0][srv->nheld[0]++] = c;
    c->flags |= CONN_F_HELD;
}

void conn_close(struct conn *c, int code)
{
    if (c->flags & (CONN_F_DEAD | CONN_F_CLOSING))
        return;
    c->flags |= CONN_F_CLOSING;
    c->close_code = (uint16_t)code;
    /* If the peer never reads, do not wait forever for the queue to drain. */
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, c->srv->stopping ? 1 : 5);
    conn_want_write(c);
}

void conn_error(struct conn *c, int code, const char *text, int close_code)
{
    struct server *srv = c->srv;
    metrics_error(&srv->metrics, code);
    struct message_frame mf = {0};
    if (message_build_error(MESSAGE_FRAME_HEADROOM, code, text, &mf) == MESSAGE_OK) {
        struct frame *f = message_frame_adopt(&mf);
        if (f) {
            conn_queue(c, f);
            frame_unref(f);
        }
    }
    if (close_code)
        conn_close(c, close_code);
}

/* The RFC 6455 header of an unmasked, final text frame of `len` bytes. */
#define CONN_WS_HDR_MAX 10
static size_t conn_ws_header(unsigned char *h, size_t len)
{
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

/* The oldest frame of c's queue has been handed to the socket (or to lws):
 * count it and drop it. */
static void conn_frame_written(struct conn *c, const struct frame *f)
{
    c->srv->metrics.messages_out++;
    c->srv->metrics.bytes_out += f->len;
    sendq_pop(&c->q);
}

/* Writes the queue's head with one lws_write: one frame as it is, or as many
 * waiting frames as fit, framed into the loop's scratch buffer. lws keeps
 * any unsent tail and flushes it before the next WRITEABLE. -1: the
 * connection failed. */
static int conn_write_queued(struct conn *c)
{
    struct server *srv = c->srv;
    struct frame *f = sendq_peek(&c->q);
    int n;
    if (sendq_count(&c->q) == 1 || f->len + CONN_WS_HDR_MAX > SERVER_WBUF_SIZE) {
        /* One frame: straight from the shared buffer, no copy. */
        n = lws_write(c->wsi, frame_data(f), f->len, LWS_WRITE_TEXT);
        conn_frame_written(c, f);
    } else {
        /* Several frames waiting (a subscriber behind a fast publisher):
         * frame them into the loop's scratch buffer and send them with
         * one write. The kernel cost of a send dominates a delivery, so
         * coalescing is what keeps the per-delivery CPU low under load;
         * the copy is a few hundred bytes at most per frame. */
        unsigned char *w = srv->wbuf + LWS_PRE;
        size_t used = 0;
        while ((f = sendq_peek(&c->q)) && used + f->len + CONN_WS_HDR_MAX <= SERVER_WBUF_SIZE) {
            used += conn_ws_header(w + used, f->len);
            memcpy(w + used, frame_data(f), f->len);
            used += f->len;
            conn_frame_written(c, f);
        }
        n = lws_write(c->wsi, w, used, LWS_WRITE_RAW);
    }
    srv->metrics.writes_out++;
    return n < 0 ? -1 : 0;
}

int conn_writeable(struct conn *c)
{
    if (c->flags & CONN_F_DEAD)
        return -1;
    /* lws calls this only once its own control replies are out. */
    wsmask_conn_control_done(lws_get_socket_fd(c->wsi));
    if (c->flags & CONN_F_HELD)
        return 0; /* POLLOUT may still be armed from before; release re-arms it */
    if (c->flags & CONN_F_WANT_PING) {
        /* A non-empty payload: lws does not report empty pongs
         * (LWS_CALLBACK_RECEIVE_PONG needs a payload). */
        unsigned char buf[LWS_PRE + 4];
        memcpy(buf + LWS_PRE, "ping", 4);
        c->flags &= ~CONN_F_WANT_PING;
        if (lws_write(c->wsi, buf + LWS_PRE, 4, LWS_WRITE_PING) < 0)
            return -1;
        if (sendq_count(&c->q) || (c->flags & CONN_F_CLOSING))
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (sendq_count(&c->q)) {
        if (conn_write_queued(c) < 0)
            return -1;
        if (sendq_count(&c->q) || (c->flags & CONN_F_CLOSING))
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (c->flags & CONN_F_CLOSING) {
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, NULL, 0);
        return -1;
    }
    /* Nothing of ours to write: lws has just answered a client WS ping
     * (it leaves POLLOUT on after the pong). Count it as activity. */
    c->last_seen = server_monotonic();
    c->flags = (c->flags | CONN_F_WSCONTROL) & ~CONN_F_PINGED;
    return 0;
}

/* A connection in the ring: its send takes the first `frames` frames of its
 * queue, `bytes` bytes with their WebSocket headers. */
struct conn_tx {
    struct conn *c;
    unsigned frames;
    size_t bytes;
};

int conn_tx_init(struct server *srv)
{
    srv->txring = srv->cfg->io_uring ? txring_new(SERVER_TX_SLOTS) : NULL;
    if (!srv->txring) {
        if (srv->cfg->io_uring)
            log_info(srv->log, "io_uring is not available here: one send() per connection");
        return 0; /* sends one by one */
    }
    srv->tx_stage = calloc(SERVER_TX_SLOTS, sizeof *srv->tx_stage);
    srv->metrics.tx_uring = srv->tx_stage != NULL;
    return srv->tx_stage ? 0 : -1;
}

void conn_tx_free(struct server *srv)
{
    txring_free(srv->txring);
    srv->txring = NULL;
    srv->metrics.tx_uring = 0;
    free(srv->tx_stage);
    srv->tx_stage = NULL;
}

/* The frames at the head of c's queue for one send, each with its WebSocket
 * header written into the frame's headroom just before its payload (the
 * same bytes for every connection the frame goes to, as lws_write would
 * write them), so that each frame is one buffer: at most TXRING_IOV_MAX
 * frames and SERVER_WBUF_SIZE bytes (the tail of a short write must fit the
 * scratch buffer). 0 when the head frame alone is larger. */
static unsigned conn_gather(struct conn *c, struct iovec *iov, size_t *bytes)
{
    uint32_t n = sendq_count(&c->q);
    unsigned k = 0;
    size_t total = 0;
    for (uint32_t i = 0; i < n && k < TXRING_IOV_MAX; i++) {
        struct frame *f = sendq_at(&c->q, i);
        unsigned char h[CONN_WS_HDR_MAX];
        size_t hl = conn_ws_header(h, f->len);
        if (total + hl + f->len > SERVER_WBUF_SIZE)
            break;
        unsigned char *d = frame_data(f) - hl;
        memcpy(d, h, hl);
        iov[k++] = (struct iovec){.iov_base = d, .iov_len = hl + f->len};
        total += hl + f->len;
    }
    *bytes = total;
    return k;
}

/* Pops the first `frames` frames, written (`sent` bytes of them reached the
 * socket; lws is given the rest to finish, see conn_write_queued). */
static int conn_tx_done(struct conn *c, unsigned frames, size_t bytes, size_t sent)
{
    struct server *srv = c->srv;
    unsigned char *w = srv->wbuf + LWS_PRE;
    size_t tail = 0, skip = sent;
    for (unsigned i = 0; i < frames; i++) {
        struct frame *f = sendq_peek(&c->q);
        if (sent < bytes) {
            unsigned char h[CONN_WS_HDR_MAX];
            size_t hl = conn_ws_header(h, f->len), len = hl + f->len;
            const unsigned char *d = frame_data(f) - hl;
            if (skip >= len) {
                skip -= len;
            } else {
                memcpy(w + tail, d + skip, len - skip);
                tail += len - skip;
                skip = 0;
            }
        }
        conn_frame_written(c, f);
    }
    srv->metrics.writes_out++;
    return tail && lws_write(c->wsi, w, tail, LWS_WRITE_RAW) < 0 ? -1 : 0;
}

/* Submits the ring and settles every connection in it. */
static void conn_tx_run(struct server *srv)
{
    const int *res;
    unsigned n = txring_run(srv->txring, &res);
    srv->metrics.tx_submits += n > 0;
    for (unsigned i = 0; i < n; i++) {
        struct conn_tx *t = &srv->tx_stage[i];
        struct conn *c = t->c;
        int r = res[i];
        if (r == -EAGAIN || r == -EWOULDBLOCK || r == 0) {
            lws_callback_on_writable(c->wsi); /* the socket buffer is full */
            continue;
        }
        if (r < 0 || conn_tx_done(c, t->frames, t->bytes, (size_t)r) < 0) {
            conn_kill(c);
            continue;
        }
        if (sendq_count(&c->q))
            lws_callback_on_writable(c->wsi);
    }
    if (txring_broken(srv->txring)) {
        log_error(srv->log, "io_uring sends failed; sending one connection at a time from now on");
        conn_tx_free(srv);
    }
}

bool conn_flush(struct server *srv, size_t max)
{
    size_t from = srv->dirty_from, n = srv->ndirty - from < max ? srv->ndirty - from : max;
    for (size_t i = from; i < from + n; i++) {
        struct conn *c = srv->dirty[i];
        if (!c)
            continue; /* freed since it was queued to */
        c->flags &= ~CONN_F_DIRTY;
        if (c->flags & (CONN_F_DEAD | CONN_F_HELD) || !sendq_count(&c->q))
            continue; /* a release re-arms a held connection */
        /* From WRITEABLE only: our closes and pings; what lws still holds
         * of an earlier write; and anything after a client's ping or close
         * until lws has sent its pong or close reply (RFC 6455 5.5.2 wants
         * the pong soon, and nothing may follow a close). */
        if (c->flags & (CONN_F_CLOSING | CONN_F_WANT_PING) || lws_partial_buffered(c->wsi) ||
            !wsmask_conn_may_write(lws_get_socket_fd(c->wsi))) {
            lws_callback_on_writable(c->wsi);
            continue;
        }
        /* Plain-text sockets go in the ring, sent together at the end of
         * the turn; TLS and frames too large for one send go through lws. */
        if (srv->txring && !lws_is_ssl(c->wsi)) {
            struct iovec iov[TXRING_IOV_MAX];
            size_t bytes;
            unsigned k = conn_gather(c, iov, &bytes);
            if (k && !txring_room(srv->txring))
                conn_tx_run(srv); /* which may give up the ring (txring_broken) */
            if (k && srv->txring) {
                int at = txring_add(srv->txring, lws_get_socket_fd(c->wsi), iov, k);
                if (at >= 0) {
                    srv->tx_stage[at] = (struct conn_tx){c, k, bytes};
                    continue;
                }
            }
        }
        if (conn_write_queued(c) < 0) {
            conn_kill(c);
            continue;
        }
        if (sendq_count(&c->q))
            lws_callback_on_writable(c->wsi);
    }
    if (srv->txring)
        conn_tx_run(srv);
    /* The rest wait for the next turn in their place (their flags still say
     * dirty, so frames queued to them meanwhile join what they hold); the
     * written part is dropped once it is the larger half, which keeps the
     * moves linear in the connections written. */
    srv->dirty_from = from + n;
    if (srv->dirty_from == srv->ndirty) {
        srv->ndirty = srv->dirty_from = 0;
        return false;
    }
    if (srv->dirty_from >= srv->ndirty - srv->dirty_from) {
        memmove(srv->dirty, srv->dirty + srv->dirty_from,
                (srv->ndirty - srv->dirty_from) * sizeof(*srv->dirty));
        srv->ndirty -= srv->dirty_from;
        srv->dirty_from = 0;
    }
    return true;
}
