/* server_int.h: the state shared by the files of the server folder, and
 * their functions that modules must not call (modules use server.h).
 * Calls go one way, from the top of this header to the bottom:
 *   server.c        the lws callback and the lifecycle
 *   eio_transport.c Engine.IO sessions: polling, WebSocket, upgrade, pings
 *   sio_echo.c      Socket.IO packets -> the Pusher handlers below
 *   session.c       one inbound WebSocket message -> the handler below
 *   subscribe.c, client_event.c, signin.c, http_api.c, sweep.c, upgrade.c
 *                   the Pusher handlers, the HTTP API, the liveness sweep,
 *                   the upgrade checks
 *   http.c          HTTP requests and routes
 *   broadcast.c     fan-out to a channel's subscribers, leaving channels
 *   conn.c          one connection: send queue, errors, closes */
#ifndef DOCSYNC_SERVER_INT_H
#define DOCSYNC_SERVER_INT_H

#include <ev.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "common/hmap.h"
#include "common/sendq.h"
#include "metrics.h"
#include "pusher/channel.h"
#include "server.h"

#if LWS_PRE > FRAME_PRE
#error "FRAME_PRE must be at least LWS_PRE"
#endif

struct txring;  /* txring.h */
struct conn_tx; /* conn.c */

#define SERVER_MAX_EVENT_HANDLERS 16
#define SERVER_MAX_ROUTES 64
#define SERVER_MAX_HOOKS 16
#define SERVER_MAX_TIMERS 16
#define SERVER_MAX_SUBSCRIPTIONS 100 /* channels per connection: bounds what one client costs */
#define SERVER_SID_MAX 24
#define SERVER_WBUF_SIZE (64u * 1024u) /* coalesced writes (conn_writeable) */
#define SERVER_TX_SLOTS 256u           /* sends per io_uring submission (conn_flush) */

/* Connection flags */
#define CONN_F_PINGED 0x01u    /* a ping was sent and nothing came back yet */
#define CONN_F_WSCONTROL 0x02u /* the client uses WS control frames: probe with WS pings */
#define CONN_F_CLOSING 0x04u   /* close_code will be sent once the queue drains */
#define CONN_F_DEAD 0x08u      /* dropped (slow consumer / kill): skip in fan-out */
#define CONN_F_WANT_PING 0x10u /* write a WS ping frame at the next WRITEABLE */
#define CONN_F_APP 0x20u       /* the connection reached connection_established */
#define CONN_F_BINARY 0x40u    /* current message is binary */
#define CONN_F_HELD 0x80u      /* writes held back for two loop iterations (conn_hold) */
#define CONN_F_DIRTY 0x100u    /* has frames for conn_flush to write at the iteration's end */
#define CONN_F_SIO 0x200u      /* Socket.IO: connected to the default namespace */

/* A fixed one-second window: how many messages of one kind a connection
 * sent in the current second (conn_rate_take). */
struct conn_rate {
    int64_t window; /* monotonic second the count is for */
    uint32_t count;
};

/* A connection that is not a Pusher WebSocket (Engine.IO, eio.c): how conn.c
 * reaches it when it has no WebSocket to write to (a polling session). */
struct conn_transport {
    /* Frames were queued, or the connection is closing or dead: write or
     * end it when the transport can (at the end of the loop iteration). */
    void (*kick)(struct conn *c);
};

struct conn {
    struct lws *wsi; /* the WebSocket written to; NULL for an Engine.IO polling session */
    const struct conn_transport *tx; /* NULL for Pusher; Engine.IO: frames go in Socket.IO form */
    void *tx_ud;                     /* the transport's session */
    struct server *srv;
    struct conn *prev, *next; /* every live connection */
    struct channel_set chans;
    struct sendq q;
    char *rx; /* reassembly buffer for multi-chunk messages */
    size_t rx_len, rx_cap;
    size_t rx_max;        /* the size the message being reassembled may reach */
    char *signin_id;      /* pusher:signin user id, NULL when not signed in */
    char *signin_info;    /* its user_info JSON, NULL when none */
    int64_t last_seen;    /* monotonic seconds */
    struct conn_rate ce;  /* client events (whispers) */
    struct conn_rate rq;  /* module requests (conn_request_allowed) */
    int64_t work_debt_us; /* server time its module work cost, not yet paid back */
    int64_t work_at_us;   /* monotonic microseconds of the last payback */
    int64_t rl_window;    /* Reverb rate-limit window start */
    uint32_t rl_count;
    uint32_t flags;
    uint16_t close_code;
    uint8_t sid_len;
    char sid[SERVER_SID_MAX];
};

struct server_event_handler {
    char *prefix;
    size_t len;
    size_t max_bytes; /* messages up to this size (0 = max_message_size) */
    session_event_fn fn;
    void *ud;
};

#define ROUTE_MAX_SEGS 16

struct server_route {
    char method[8];
    char *pattern;
    unsigned flags;
    size_t max_request;        /* request bytes (headers included) accepted; 0 = max_request_size */
    http_route_size_fn max_fn; /* when set, decides max_request per request */
    http_route_fn fn;
    void *ud;
};

struct server_hook {
    void (*fn)(struct server *srv, void *ud);
    void *ud;
};

struct broadcast_observer {
    broadcast_observer_fn fn;
    void *ud;
};

struct broadcast_relay {
    broadcast_relay_fn fn;
    void *ud;
};

struct http_api_connections_hook {
    http_api_connections_fn fn;
    void *ud;
};

struct http_api_query_hook {
    http_api_query_fn fn;
    void *ud;
};

struct http_api_terminate_hook {
    http_api_terminate_fn fn;
    void *ud;
};

struct http_api_health_hook {
    http_api_health_fn fn;
    void *ud;
};

struct http_api_metrics_hook {
    http_api_metrics_fn fn;
    void *ud;
};

struct server_drain {
    int (*busy)(struct server *srv, void *ud);
    void *ud;
};

struct http_api_publish_hook {
    http_api_publish_fn fn;
    void *ud;
};

struct http_api_claim_hook {
    http_api_claim_fn fn;
    void *ud;
};

struct session_subscribed_hook {
    session_subscribed_fn fn;
    void *ud;
};

struct session_frame_hook {
    session_frame_fn fn;
    void *ud;
};

struct session_client_claim_hook {
    session_client_claim_fn fn;
    void *ud;
};

struct sio_authorizer {
    sio_authorize_fn fn;
    void *ud;
};

/* One Engine.IO session (eio_transport.c): its connection and transports. */
struct eio_sess {
    struct conn *c;
    struct server *srv;
    struct eio_sess *prev, *next; /* srv->eio_all */
    struct eio_sess *flush_next;  /* srv->eio_flush */
    uint8_t flush_queued;
    uint8_t proto;         /* 3 or 4 */
    uint8_t ws;            /* the WebSocket is the transport (c->wsi) */
    uint8_t upgrading;     /* a probe was answered: polls get a noop at once */
    uint8_t ended;         /* eio_end ran: waiting for the WebSocket to close */
    struct http_req *poll; /* the pending long-poll GET, or NULL */
    struct lws *probe;     /* a WebSocket probing to take over, or NULL */
    struct pss *probe_pss;
    uint8_t probe_reply;  /* "3probe" waits to be written on the probe */
    int64_t seen_ms;      /* the client's last packet (monotonic ms) */
    int64_t ping_ms;      /* protocol 4: the ping we wait a pong for (0: none) */
    int64_t next_ping_ms; /* protocol 4: when to ping next */
    char *cookie;         /* the handshake's Cookie (authorisers), or NULL */
    struct eio_ip *ip;    /* counted as a polling session of this address, or NULL */
    uint8_t polling;      /* counted in the polling gauge (not upgraded) */
    char id[24];          /* the session id: 120 random bits, base64url */
};

/* Per-wsi storage (lws allocates it zeroed, per_session_data_size). */
struct pss {
    struct conn *c;         /* WebSocket connection, from ESTABLISHED to CLOSED */
    struct http_req *r;     /* HTTP request in progress */
    uint8_t app_ok;         /* FILTER: the path named our app key */
    uint8_t origin_ok;      /* FILTER: Origin allowed */
    uint8_t sio;            /* FILTER: an Engine.IO WebSocket (/socket.io/) */
    uint8_t eio_proto;      /* ... its EIO= (3 or 4) */
    struct eio_sess *probe; /* ... probing to take over this polling session */
    char eio_sid[32];       /* ... its sid= ("" for a WebSocket-only session) */
};

struct server_timer {
    lws_sorted_usec_list_t sul; /* first: the callback casts back (poll() loop) */
    ev_timer ev;                /* on the libev loop (server_timer_start) */
    struct server *srv;
    unsigned ms; /* period; 0 for a one-shot timer (server_timer_new) */
    int armed;   /* a one-shot timer is scheduled */
    void (*fn)(struct server *srv, void *ud);
    void *ud;
};

struct server {
    const struct config *cfg;
    const struct logger *log;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct channel_registry *channels;
    struct hmap conns_by_sid; /* sid -> struct conn */
    struct conn *conns;       /* list head */
    size_t nconns;
    struct metrics metrics;
    uint64_t rng[2];
    atomic_int stop;
    int stopping; /* graceful stop: 1 draining work in flight, 2 closing (loop thread) */
    int64_t stop_deadline;
    struct ev_loop *loop;    /* libev loop, NULL when lws runs its own poll() loop */
    ev_check check;          /* runs the wake hooks after every loop iteration */
    ev_prepare flush;        /* writes what the iteration queued (conn_flush) */
    ev_idle flush_more;      /* active while conn_flush left connections for the next turn */
    ev_tstamp flush_emptied; /* when the last flush wrote its last connection */
    ev_timer nudge;          /* lets lws service its timers (see server_ev_nudge) */
    struct server_event_handler events[SERVER_MAX_EVENT_HANDLERS];
    size_t nevents;
    struct session_frame_hook frame_hooks[SERVER_MAX_HOOKS]; /* session_on_frame */
    size_t nframe_hooks;
    struct server_route routes[SERVER_MAX_ROUTES];
    size_t nroutes;
    struct server_hook wake_hooks[SERVER_MAX_HOOKS];
    size_t nwake_hooks;
    struct http_api_publish_hook publish_hooks[SERVER_MAX_HOOKS];
    size_t npublish_hooks;
    struct http_api_claim_hook claim_hooks[SERVER_MAX_HOOKS]; /* http_api_on_claim */
    size_t nclaim_hooks;
    struct session_subscribed_hook subscribed_hooks[SERVER_MAX_HOOKS]; /* session_on_subscribed */
    size_t nsubscribed_hooks;
    struct session_client_claim_hook client_claims[SERVER_MAX_HOOKS]; /* session_on_client_claim */
    size_t nclient_claims;
    struct broadcast_observer observers[SERVER_MAX_HOOKS]; /* broadcast_observe */
    size_t nobservers;
    struct http_api_metrics_hook metrics_hooks[SERVER_MAX_HOOKS]; /* http_api_on_metrics */
    size_t nmetrics_hooks;
    struct http_api_health_hook health_hooks[SERVER_MAX_HOOKS]; /* http_api_on_health */
    size_t nhealth_hooks;
    struct broadcast_relay relay;     /* broadcast_on_relay; fn NULL = one node */
    struct broadcast_cluster cluster; /* broadcast_on_cluster; join NULL = one node */
    struct http_api_query_hook query; /* http_api_on_query; fn NULL = this node answers */
    struct {
        http_api_counts_fn fn; /* http_api_on_counts; NULL = this node's counts */
        void *ud;
    } counts;
    struct http_api_terminate_hook terminate_hooks[SERVER_MAX_HOOKS]; /* http_api_on_terminate */
    size_t nterminate_hooks;
    struct http_api_connections_hook connections_hooks[SERVER_MAX_HOOKS];
    size_t nconnections_hooks;
    unsigned sid_prefix; /* conn_set_socket_prefix: first part of socket ids, 0 = random */
    struct server_timer timers[SERVER_MAX_TIMERS];
    size_t ntimers;
    struct server_timer sweep_timer;
    struct message_limits limits;
    /* Joiners whose subscription_succeeded waits (conn_hold): held[0] were
     * held during this loop iteration, held[1] during the previous one and
     * are released at the end of this one. */
    struct conn **held[2];
    size_t nheld[2], held_cap[2];
    /* Connections whose queue went from empty to not empty: conn_flush
     * writes them (in order, at most a turn's worth per loop iteration)
     * before the loop sleeps. */
    struct conn **dirty;
    size_t ndirty, dirty_cap;
    size_t dirty_from; /* dirty[0 .. dirty_from) are written: the next turn starts here */
    struct server_drain drains[SERVER_MAX_HOOKS]; /* server_on_drain */
    size_t ndrains;
    int64_t api_window; /* DOCSYNC_API_REQUESTS_PER_SECOND: the second counted */
    uint32_t api_count; /* ... and the app's HTTP API requests in it */
    struct iplimit *iplimit;
    struct conn **conn_by_fd; /* established connections by descriptor (oversize frames) */
    size_t nconn_by_fd;       /* per-IP accounting, NULL when both limits are off */
    SSL_CTX *tls_ctx;         /* the vhost's, when TLS is on (given by lws, owned by it) */
    atomic_int tls_reload;    /* SIGHUP seen: load the certificate again (loop thread) */
    struct frame *ping;       /* {"event":"pusher:ping"}, shared */
    struct frame *pong;       /* {"event":"pusher:pong"}, shared */
    unsigned char *wbuf;      /* LWS_PRE + SERVER_WBUF_SIZE scratch for coalesced writes */
    struct txring *txring;    /* conn_flush's sends in one system call; NULL: one by one */
    struct conn_tx *tx_stage; /* the connections in the ring, SERVER_TX_SLOTS of them */
    struct sio_authorizer sio_auth[SERVER_MAX_HOOKS]; /* sio_on_authorize */
    size_t nsio_auth;
    struct hmap eio_by_sid;     /* Engine.IO sid -> struct eio_sess */
    struct hmap eio_by_ip;      /* client IP (16 bytes) -> struct eio_ip: polling sessions */
    struct eio_sess *eio_all;   /* every Engine.IO session */
    struct eio_sess *eio_flush; /* sessions with something to write to a long-poll */
};

/* Monotonic seconds: idle times, rate windows and deadlines. */
static inline int64_t server_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* ---- session.c: one inbound WebSocket message ---- */
/* The size a message may reach given its first `n` bytes: a module's larger
 * limit when they start an event of its prefix and the connection holds an
 * authorised (private or presence) subscription, else max_message_size. */
size_t session_message_limit(const struct conn *c, const char *head, size_t n);
/* The largest message the connection may send at all, whatever its first
 * bytes: max_message_size, or a module's larger limit once it holds an
 * authorised subscription. Frames declaring more are refused at their
 * header (wsmask.h). */
size_t session_frame_limit(const struct conn *c);
void session_receive(struct conn *c, const char *buf, size_t len);
/* What every inbound message does first: refreshes liveness, then returns
 * 1 when the connection may be served (open, within Reverb's rate limit;
 * over it, it was told so), else 0. */
int session_admit(struct conn *c);

/* ---- eio_transport.c: Engine.IO sessions (polling, WebSocket, upgrade) ---- */
/* Registers the /socket.io/ routes (server_new). */
int eio_register(struct server *srv);
/* The liveness timer (server_new runs it every eio_tick_ms): pings,
 * timeouts, cut long-polls. */
void eio_tick(struct server *srv, void *ud);
unsigned eio_tick_ms(const struct server *srv);
/* WebSocket callbacks of a /socket.io/ connection (pss->sio). */
int eio_ws_filter(struct server *srv, struct lws *wsi, struct pss *pss);
int eio_ws_established(struct server *srv, struct lws *wsi, struct pss *pss);
int eio_ws_probe_receive(struct server *srv, struct lws *wsi, struct pss *pss, const char *in,
                         size_t len);
int eio_ws_probe_writeable(struct server *srv, struct lws *wsi, struct pss *pss);
void eio_ws_message(struct conn *c, const char *buf, size_t len);
void eio_ws_closed(struct server *srv, struct pss *pss);
/* At the end of every loop iteration: answers long-polls with what was
 * queued, ends sessions that were closed. */
void eio_flush(struct server *srv);
/* Frees every session (server_free, after lws is gone). */
void eio_free_all(struct server *srv);

/* ---- sio_echo.c: Socket.IO packets, laravel-echo-server's events ---- */
/* One Socket.IO packet from an Engine.IO message of protocol `proto`. */
void sio_packet(struct conn *c, int proto, const char *pkt, size_t n);
/* The Engine.IO session of `c` opened (protocol 3 connects the default
 * namespace at once) or its handshake's Cookie, for authorisers. */
void sio_open(struct conn *c, int proto);

/* ---- subscribe.c ---- */
void subscribe_handle(struct conn *c, const message *m);
/* The same for a subscription authorised by other means (Socket.IO): no
 * signature is checked. */
void subscribe_admit(struct conn *c, const message *m);
void unsubscribe_handle(struct conn *c, const message *m);

/* ---- client_event.c ---- */
void client_event_handle(struct conn *c, const message *m);

/* ---- signin.c ---- */
void signin_handle(struct conn *c, const message *m);

/* ---- http.c ---- */
struct http_req *http_req_new(struct server *srv, struct lws *wsi);
/* The lws HTTP callbacks; each clears *preq when the request was answered
 * and freed, and returns what the callback returns (-1 closes). */
int http_begin(struct http_req **preq);                            /* LWS_CALLBACK_HTTP */
int http_body(struct http_req **preq, const void *in, size_t len); /* LWS_CALLBACK_HTTP_BODY */
int http_body_done(struct http_req **preq);                        /* ..._BODY_COMPLETION */
int http_writeable(struct http_req **preq); /* HTTP_WRITEABLE; clears *preq when done */
void http_req_detach(struct http_req *req); /* the wsi is going away */

/* ---- http_api.c ---- */
int http_api_register(struct server *srv);

/* ---- sweep.c ---- */
void sweep_run(struct server *srv);

/* ---- upgrade.c: the checks before a WebSocket upgrade ---- */
int upgrade_confirm(struct server *srv, struct lws *wsi);
int upgrade_filter(struct server *srv, struct lws *wsi, int *app_ok, int *origin_ok, int *sio);

/* ---- broadcast.c ---- */
/* Queues `f` to every subscriber of `ch` but `except`; returns deliveries. */
int broadcast_fanout(struct server *srv, struct channel *ch, struct frame *f,
                     const struct conn *except);
/* An event (HTTP API, client event, module broadcast): remembered by cache
 * channels, then fanned out. Internal frames (member_*) use broadcast_fanout. */
int broadcast_publish(struct server *srv, struct channel *ch, struct frame *f,
                      const struct conn *except);
/* Leaves one channel, sending member_removed to the rest when it was the
 * user's last connection there. */
void broadcast_leave(struct conn *c, struct channel *ch);
/* Leaves as broadcast_leave does, without the cluster's presence leave
 * hook (a join the cluster refused was never announced). */
void broadcast_leave_quiet(struct conn *c, struct channel *ch);
/* Hands a publisher's frame to the relay (broadcast_on_relay), if any. */
void broadcast_relay(struct server *srv, const char *channel, struct frame *f,
                     const char *except_sid);
/* Leaves every channel of the connection, as broadcast_leave does. */
void broadcast_leave_all(struct conn *c);

/* ---- conn.c ---- */
/* Counts one message in `r` and returns 1 when it is within `per_second`
 * (0 = no limit) for the current second, else 0. */
int conn_rate_take(struct conn_rate *r, unsigned per_second);
/* Creates the connection for an established WebSocket (socket id drawn,
 * registered). NULL when out of memory. */
struct conn *conn_new(struct server *srv, struct lws *wsi);
/* Frees the connection. Call broadcast_leave_all()
 * first: a connection is freed only once it left its channels. */
void conn_free(struct conn *c);
/* Asks lws for a WRITEABLE callback. */
void conn_want_write(struct conn *c);
/* Queues a frame; on overflow drops the connection (slow consumer). On
 * an Engine.IO connection the frame's Socket.IO form is queued instead
 * (sio_frame_for), or nothing when it means nothing there. */
int conn_queue(struct conn *c, struct frame *f);
/* Queues a frame as it is, whatever the transport (Engine.IO's own
 * packets). */
int conn_queue_raw(struct conn *c, struct frame *f);
/* Marks for close with `code` after the queue drains (no error frame). */
void conn_close(struct conn *c, int code);
/* Holds the connection's writes until the end of the next loop iteration,
 * so frames queued to other connections just before go out first
 * (presence: peers' member_added before the joiner's
 * subscription_succeeded). */
void conn_hold(struct conn *c);
/* At the end of every loop iteration: releases the connections held in the
 * previous one. */
void conn_release_held(struct server *srv);
/* Before the loop sleeps: writes the connections that were queued to, the
 * oldest first and each with all its waiting frames at once (see conn.c), at
 * most `max` of them; returns true when some are left for the next
 * iteration. */
bool conn_flush(struct server *srv, size_t max);
/* conn_flush's ring of sends (txring.h), when io_uring is available;
 * returns -1 only when out of memory. */
int conn_tx_init(struct server *srv);
void conn_tx_free(struct server *srv);
/* Kills the connection at once (no close handshake). */
void conn_kill(struct conn *c);
/* The WRITEABLE callback: writes one frame; returns -1 to close. */
int conn_writeable(struct conn *c);
#endif
