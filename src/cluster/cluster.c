/* cluster: the module that joins this node to the others over Redis
 * (README.md). It relays every publisher frame the server hands it
 * (broadcast_on_relay) to the bus channel, delivers what the other nodes
 * relayed, and keeps a table of the nodes it hears from (heartbeats). */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "redis/redis.h"
#include "roster.h"
#include "server/metrics.h"
#include "server/server.h"

/* Channels whose frames are not relayed by themselves: a document's
 * DocumentUpdated is published by its home node only (cluster_publish, from
 * sync/), so that every subscriber sees one version sequence. */
#define CL_LOCAL_PREFIX "private-document."

enum cl_reject { CL_R_FOREIGN, CL_R_VERSION, CL_R_MALFORMED, CL_R_TOO_BIG, CL_R_NREASONS };
static const char *const cl_reject_names[CL_R_NREASONS] = {"foreign", "version", "malformed",
                                                           "too_big"};

/* Another node, as its bus messages describe it. */
struct cl_peer {
    char node[BUS_NODE_MAX];
    char boot[BUS_BOOT_LEN + 1];
    uint64_t seq;    /* last sequence number delivered from this life */
    int64_t last_ms; /* monotonic time of its last message */
    uint64_t conns;  /* connections, from its last heartbeat */
};

struct cluster {
    struct server *srv;
    const struct config *cfg;
    const struct logger *log;
    struct redis *rd;
    char node[BUS_NODE_MAX];
    char boot[BUS_BOOT_LEN + 1];
    uint64_t seq;          /* of the last message this node published */
    char bus[160];         /* the Redis channel: <REVERB_SCALING_CHANNEL>:bus */
    struct hmap peers;     /* node id -> struct cl_peer */
    struct roster *roster; /* presence and channel counts (roster.c) */
    uint64_t published, unsent, received, gaps, duplicates, own_echo, impostor, lost, left;
    uint64_t rejected[CL_R_NREASONS];
};

static struct cluster *cl_module; /* one server per process */

/* ---- sending ------------------------------------------------------------ */

/* Publishes `m` with this node's id, boot and next sequence number. The
 * number is taken even when Redis is down, so the other nodes count what
 * they missed as a gap. */
static void cl_send(struct cluster *cl, struct bus_msg *m)
{
    memcpy(m->node, cl->node, sizeof m->node);
    memcpy(m->boot, cl->boot, sizeof m->boot);
    m->seq = ++cl->seq;
    if (!redis_connected(cl->rd)) {
        cl->unsent++;
        return;
    }
    char *buf;
    size_t len;
    if (bus_encode(m, &buf, &len) != 0) {
        cl->unsent++;
        return;
    }
    if (redis_publish(cl->rd, cl->bus, buf, len) == 0)
        cl->published++;
    else
        cl->unsent++;
    free(buf);
}

static int cl_publish_event(struct cluster *cl, const char *channel, struct frame *f,
                            const char *except_sid);

static void cl_relay(struct server *srv, const char *channel, struct frame *f,
                     const char *except_sid, void *ud)
{
    (void)srv;
    (void)ud;
    struct cluster *cl = cl_module;
    if (!cl || strncmp(channel, CL_LOCAL_PREFIX, sizeof CL_LOCAL_PREFIX - 1) == 0)
        return;
    cl_publish_event(cl, channel, f, except_sid);
}

static int cl_publish_event(struct cluster *cl, const char *channel, struct frame *f,
                            const char *except_sid)
{
    struct bus_msg m = {.type = BUS_EVENT,
                        .channel = channel,
                        .channel_len = strlen(channel),
                        .body = (const char *)frame_data(f),
                        .body_len = f->len};
    if (except_sid && strlen(except_sid) < sizeof m.except)
        strcpy(m.except, except_sid);
    uint64_t unsent = cl->unsent;
    cl_send(cl, &m);
    return cl->unsent == unsent ? 0 : -1;
}

int cluster_publish(const char *channel, struct frame *f, const char *except_sid)
{
    return cl_module ? cl_publish_event(cl_module, channel, f, except_sid) : -1;
}

/* terminate_connections closed the user's connections here: the other
 * nodes close theirs. */
static void cl_terminate(struct server *srv, const char *uid, void *ud)
{
    (void)srv;
    (void)ud;
    struct cluster *cl = cl_module;
    size_t n = strlen(uid);
    if (!cl || n == 0 || n > BUS_USER_MAX)
        return;
    struct bus_msg m = {.type = BUS_TERMINATE, .user = uid, .user_len = n};
    cl_send(cl, &m);
}

/* The first part of this node's socket ids, from its id: distinct ids
 * give distinct prefixes unless their hashes meet (1 in 10^9 per pair,
 * and then logged when the other node is first heard of). */
static unsigned cl_sid_prefix(const char *node)
{
    return (unsigned)(hmap_hash(node, strlen(node)) % 1000000000u) + 1u;
}

static void cl_beat(struct cluster *cl)
{
    struct bus_msg m = {.type = BUS_BEAT, .connections = conn_count(cl->srv)};
    cl_send(cl, &m);
}

/* ---- receiving ---------------------------------------------------------- */

/* Logs a rejected message: its reason and size, never its bytes (a
 * Reverb on the same Redis puts the app secret in every message). The
 * first five of each reason, then one in a thousand. */
static void cl_reject(struct cluster *cl, enum cl_reject why, size_t len)
{
    uint64_t n = ++cl->rejected[why];
    if (n <= 5 || n % 1000 == 0)
        log_warn(cl->log, "cluster: dropped a bus message (%s, %zu bytes; %llu so far)",
                 cl_reject_names[why], len, (unsigned long long)n);
}

static void cl_forget(struct cluster *cl, struct cl_peer *p)
{
    hmap_del(&cl->peers, p->node, strlen(p->node));
    free(p);
}

/* The peer a message comes from, created on its first message; NULL when
 * the message must be dropped (a repeat, or out of memory). */
static struct cl_peer *cl_peer_for(struct cluster *cl, const struct bus_msg *m)
{
    size_t nl = strlen(m->node);
    struct cl_peer *p = hmap_get(&cl->peers, m->node, nl);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p)
            return NULL;
        memcpy(p->node, m->node, nl + 1);
        memcpy(p->boot, m->boot, sizeof p->boot);
        if (hmap_put(&cl->peers, p->node, nl, p) != 0) {
            free(p);
            return NULL;
        }
        log_info(cl->log, "cluster: node %s joined", p->node);
        if (cl_sid_prefix(p->node) == cl_sid_prefix(cl->node))
            log_error(cl->log,
                      "cluster: node %s and this node draw socket ids with the same prefix %u; "
                      "give one of them another DOCSYNC_NODE_ID",
                      p->node, cl_sid_prefix(p->node));
    } else if (strcmp(p->boot, m->boot) != 0) {
        /* The node restarted: a new life, numbered from 1 again. */
        log_info(cl->log, "cluster: node %s restarted", p->node);
        memcpy(p->boot, m->boot, sizeof p->boot);
        p->seq = 0;
    }
    if (m->seq <= p->seq) {
        cl->duplicates++;
        return NULL;
    }
    if (p->seq && m->seq > p->seq + 1)
        cl->gaps += m->seq - p->seq - 1;
    p->seq = m->seq;
    p->last_ms = clock_mono_ms();
    return p;
}

static void cl_deliver(struct cluster *cl, const struct bus_msg *m)
{
    char channel[256];
    if (m->channel_len >= sizeof channel)
        return;
    memcpy(channel, m->channel, m->channel_len);
    channel[m->channel_len] = '\0';
    struct frame *f = frame_from(m->body, m->body_len);
    if (!f)
        return;
    broadcast_remote(cl->srv, channel, f, m->except[0] ? m->except : NULL);
    frame_unref(f);
}

static void cl_on_bus(void *ud, const char *channel, size_t clen, const char *payload, size_t len)
{
    (void)channel;
    (void)clen;
    struct cluster *cl = ud;
    struct bus_msg m;
    int rc = bus_decode(payload, len, cl->cfg->channel_name_max, &m);
    if (rc != 0) {
        cl_reject(cl,
                  rc == BUS_EFOREIGN   ? CL_R_FOREIGN
                  : rc == BUS_EVERSION ? CL_R_VERSION
                  : rc == BUS_ETOOBIG  ? CL_R_TOO_BIG
                                       : CL_R_MALFORMED,
                  len);
        return;
    }
    if (m.type == BUS_MEMBER) {
        /* Published by a Redis script, numbered by Redis: every node,
         * this one included, applies it (roster.c). */
        roster_on_member(cl->roster, &m);
        return;
    }
    if (strcmp(m.node, cl->node) == 0) {
        /* Our own message back from Redis (every subscriber gets it), or
         * another process using our node id: a configuration error that
         * would make each drop the other's messages. */
        if (strcmp(m.boot, cl->boot) == 0) {
            cl->own_echo++;
        } else if (cl->impostor++ % 100 == 0) {
            log_error(cl->log,
                      "cluster: another node uses this node's id %s (DOCSYNC_NODE_ID must be "
                      "unique); its messages are ignored",
                      cl->node);
        }
        return;
    }
    cl->received++;
    if (m.type == BUS_BYE) {
        struct cl_peer *p = hmap_get(&cl->peers, m.node, strlen(m.node));
        if (p && strcmp(p->boot, m.boot) == 0) {
            log_info(cl->log, "cluster: node %s left", m.node);
            cl->left++;
            cl_forget(cl, p);
        }
        return;
    }
    struct cl_peer *p = cl_peer_for(cl, &m);
    if (!p)
        return;
    if (m.type == BUS_BEAT) {
        p->conns = m.connections;
    } else if (m.type == BUS_EVENT) {
        cl_deliver(cl, &m);
    } else if (m.type == BUS_TERMINATE) {
        char uid[BUS_USER_MAX + 1];
        memcpy(uid, m.user, m.user_len);
        uid[m.user_len] = '\0';
        http_api_terminate_user(cl->srv, uid);
    }
}

/* ---- the loop ------------------------------------------------------------ */

static void cl_wake_loop(void *ud)
{
    server_wake(ud);
}

static void cl_on_wake(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    if (cl_module)
        redis_dispatch(cl_module->rd);
}

/* Every heartbeat: say we are alive, and forget the nodes that were
 * silent for longer than the timeout. */
static void cl_tick(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct cluster *cl = cl_module;
    if (!cl)
        return;
    cl_beat(cl);
    roster_tick(cl->roster, cl->cfg->cluster_node_timeout);
    int64_t now = clock_mono_ms(), limit = (int64_t)cl->cfg->cluster_node_timeout * 1000;
    for (;;) {
        size_t it = 0;
        struct cl_peer *p, *gone = NULL;
        while ((p = hmap_next(&cl->peers, &it, NULL, NULL)))
            if (now - p->last_ms > limit) {
                gone = p;
                break;
            }
        if (!gone)
            break;
        log_warn(cl->log, "cluster: node %s is gone (no heartbeat for %u s)", gone->node,
                 cl->cfg->cluster_node_timeout);
        cl->lost++;
        cl_forget(cl, gone);
    }
}

static void cl_on_status(void *ud, int up)
{
    struct cluster *cl = ud;
    if (up) {
        log_info(cl->log, "cluster: node %s on the bus %s", cl->node, cl->bus);
        cl_beat(cl);
        roster_on_status(cl->roster, 1);
    } else {
        log_warn(cl->log, "cluster: node %s lost Redis; serving its own connections only",
                 cl->node);
    }
}

/* The other live nodes' connections, from their last heartbeat. */
static uint64_t cl_peer_connections(const struct cluster *cl)
{
    uint64_t n = 0;
    size_t it = 0;
    struct cl_peer *p;
    while ((p = hmap_next(&cl->peers, &it, NULL, NULL)))
        n += p->conns;
    return n;
}

static uint64_t cl_cluster_connections(const struct cluster *cl)
{
    return conn_count(cl->srv) + cl_peer_connections(cl);
}

static uint64_t cl_connections(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    return cl_module ? cl_peer_connections(cl_module) : 0;
}

static char *cl_health(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct cluster *cl = cl_module;
    char *out = cl ? malloc(256) : NULL;
    if (out)
        snprintf(out, 256, "\"node\":\"%s\",\"redis\":\"%s\",\"nodes\":%zu", cl->node,
                 redis_connected(cl->rd) ? "connected" : "down", hmap_count(&cl->peers) + 1);
    return out;
}

static char *cl_metrics(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct cluster *cl = cl_module;
    if (!cl)
        return NULL;
    struct redis_stats st;
    redis_get_stats(cl->rd, &st);
    struct metrics_text b = {0};
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        &b,
        "# HELP docsync_cluster_redis_up 1 when this node is connected to Redis.\n"
        "# TYPE docsync_cluster_redis_up gauge\n"
        "docsync_cluster_redis_up %d\n"
        "# HELP docsync_cluster_redis_connects_total Connections to Redis made (the first "
        "included).\n"
        "# TYPE docsync_cluster_redis_connects_total counter\n"
        "docsync_cluster_redis_connects_total %llu\n"
        "# HELP docsync_cluster_redis_failures_total Connection attempts that failed and "
        "connections lost.\n"
        "# TYPE docsync_cluster_redis_failures_total counter\n"
        "docsync_cluster_redis_failures_total %llu\n"
        "# HELP docsync_cluster_nodes Nodes alive as this node sees them (itself "
        "included).\n"
        "# TYPE docsync_cluster_nodes gauge\n"
        "docsync_cluster_nodes %zu\n"
        "# HELP docsync_cluster_connections Connections on every live node (the others' "
        "from their last heartbeat).\n"
        "# TYPE docsync_cluster_connections gauge\n"
        "docsync_cluster_connections %llu\n"
        "# HELP docsync_cluster_nodes_lost_total Nodes forgotten after the heartbeat "
        "timeout.\n"
        "# TYPE docsync_cluster_nodes_lost_total counter\n"
        "docsync_cluster_nodes_lost_total %llu\n"
        "# HELP docsync_cluster_bus_published_total Bus messages this node published.\n"
        "# TYPE docsync_cluster_bus_published_total counter\n"
        "docsync_cluster_bus_published_total %llu\n"
        "# HELP docsync_cluster_bus_unsent_total Bus messages not sent (Redis down).\n"
        "# TYPE docsync_cluster_bus_unsent_total counter\n"
        "docsync_cluster_bus_unsent_total %llu\n"
        "# HELP docsync_cluster_bus_received_total Bus messages from other nodes.\n"
        "# TYPE docsync_cluster_bus_received_total counter\n"
        "docsync_cluster_bus_received_total %llu\n"
        "# HELP docsync_cluster_bus_gaps_total Messages of other nodes never received "
        "(sequence gaps).\n"
        "# TYPE docsync_cluster_bus_gaps_total counter\n"
        "docsync_cluster_bus_gaps_total %llu\n"
        "# HELP docsync_cluster_bus_duplicates_total Repeated or late messages dropped.\n"
        "# TYPE docsync_cluster_bus_duplicates_total counter\n"
        "docsync_cluster_bus_duplicates_total %llu\n"
        "# HELP docsync_cluster_bus_rejected_total Messages on the bus channel dropped "
        "unread.\n"
        "# TYPE docsync_cluster_bus_rejected_total counter\n"
        "docsync_cluster_bus_rejected_total{reason=\"foreign\"} %llu\n"
        "docsync_cluster_bus_rejected_total{reason=\"version\"} %llu\n"
        "docsync_cluster_bus_rejected_total{reason=\"malformed\"} %llu\n"
        "docsync_cluster_bus_rejected_total{reason=\"too_big\"} %llu\n"
        "docsync_cluster_bus_rejected_total{reason=\"node_id_in_use\"} %llu\n",
        st.connected, U(st.connects), U(st.failures), hmap_count(&cl->peers) + 1,
        U(cl_cluster_connections(cl)), U(cl->lost), U(cl->published), U(cl->unsent),
        U(cl->received), U(cl->gaps), U(cl->duplicates), U(cl->rejected[CL_R_FOREIGN]),
        U(cl->rejected[CL_R_VERSION]), U(cl->rejected[CL_R_MALFORMED]),
        U(cl->rejected[CL_R_TOO_BIG]), U(cl->impostor));
#undef U
    roster_metrics(cl->roster, &b);
    return metrics_text_take(&b);
}

struct redis *cluster_redis(void)
{
    return cl_module ? cl_module->rd : NULL;
}

const char *cluster_node_id(void)
{
    return cl_module ? cl_module->node : NULL;
}

const char *cluster_boot_id(void)
{
    return cl_module ? cl_module->boot : NULL;
}

const char *cluster_prefix(void)
{
    return cl_module ? cl_module->cfg->scaling_channel : NULL;
}

int cluster_node_alive(const char *node)
{
    struct cluster *cl = cl_module;
    if (!cl || !node)
        return 0;
    return strcmp(node, cl->node) == 0 || hmap_get(&cl->peers, node, strlen(node)) != NULL;
}

int cluster_home_lookup(const char *kind, const char *id, int claim,
                        void (*fn)(void *ud, const struct redis_reply *r), void *ud)
{
    struct cluster *cl = cl_module;
    if (!cl || !kind || !id)
        return -1;
    char key[1024];
    int kl = snprintf(key, sizeof key, "%s:%s-home:%s", cl->cfg->scaling_channel, kind, id);
    if (kl < 0 || (size_t)kl >= sizeof key)
        return -1;
    /* One round trip says where the thing lives and, when it is new, makes
     * it this node's (Redis 7: SET ... NX GET); a plain GET claims nothing. */
    const char *set[5] = {"SET", key, cl->node, "NX", "GET"};
    const char *get[2] = {"GET", key};
    return claim ? redis_command(cl->rd, fn, ud, 5, set, NULL)
                 : redis_command(cl->rd, fn, ud, 2, get, NULL);
}

/* The server keeps its hooks until it is destroyed, after the modules
 * stop: every hook above reads cl_module, which cluster_stop clears. */

/* ---- start and stop ------------------------------------------------------ */

/* DOCSYNC_NODE_ID, or "<hostname>:<port>" with characters outside the
 * allowed set replaced. */
static int cl_node_id(const struct config *cfg, char *out, size_t cap, const struct logger *lg)
{
    if (cfg->node_id[0]) {
        if (!bus_node_id_valid(cfg->node_id, strlen(cfg->node_id))) {
            log_error(lg, "DOCSYNC_NODE_ID: 1 to 63 letters, digits or . _ : -");
            return -1;
        }
        snprintf(out, cap, "%s", cfg->node_id);
        return 0;
    }
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        strcpy(host, "node");
    host[40] = '\0';
    for (char *p = host; *p; p++)
        if (!bus_node_id_valid(p, 1))
            *p = '-';
    snprintf(out, cap, "%s:%u", host, cfg->port);
    return 0;
}

static int cl_redis_opts(const struct config *cfg, struct redis_opts *o, const struct logger *lg)
{
    char err[160];
    if (redis_opts_from_settings(cfg->redis_url, cfg->redis_host, cfg->redis_port,
                                 cfg->redis_username, cfg->redis_password, cfg->redis_db, o, err,
                                 sizeof err) != 0) {
        log_error(lg, "%s", err);
        return -1;
    }
    return 0;
}

static int cl_prefix_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 100)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '*' || s[i] == '?' || s[i] == '[')
            return 0;
    return 1;
}

static void cl_free(struct cluster *cl)
{
    size_t it = 0;
    struct cl_peer *p;
    while ((p = hmap_next(&cl->peers, &it, NULL, NULL)))
        free(p);
    hmap_deinit(&cl->peers);
    redis_free(cl->rd);
    roster_free(cl->roster);
    free(cl);
}

int cluster_start(struct server *srv)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    if (!cfg->scaling_enabled)
        return 0;
    if (!cl_prefix_valid(cfg->scaling_channel)) {
        log_error(lg, "REVERB_SCALING_CHANNEL: 1 to 100 printable characters, no spaces or "
                      "glob characters");
        return -1;
    }
    struct cluster *cl = calloc(1, sizeof *cl);
    if (!cl)
        return -1;
    cl->srv = srv;
    cl->cfg = cfg;
    cl->log = lg;
    hmap_init(&cl->peers);
    snprintf(cl->bus, sizeof cl->bus, "%s:bus", cfg->scaling_channel);
    unsigned char rnd[BUS_BOOT_LEN / 2];
    struct redis_opts o;
    if (cl_node_id(cfg, cl->node, sizeof cl->node, lg) != 0 || cl_redis_opts(cfg, &o, lg) != 0 ||
        getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        cl_free(cl);
        return -1;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(cl->boot + 2 * i, 3, "%02x", rnd[i]);
    cl_module = cl;
    cl->rd = redis_new(&o, lg, cl_wake_loop, srv);
    const struct roster_env env = {.srv = srv,
                                   .rd = cl->rd,
                                   .node = cl->node,
                                   .boot = cl->boot,
                                   .prefix = cfg->scaling_channel,
                                   .bus = cl->bus};
    if (cl->rd)
        cl->roster = roster_start(&env);
    if (!cl->rd || !cl->roster || redis_subscribe(cl->rd, cl->bus, 0, cl_on_bus, cl) != 0 ||
        redis_on_status(cl->rd, cl_on_status, cl) != 0 ||
        server_on_wake(srv, cl_on_wake, cl) != 0 ||
        server_every(srv, cfg->cluster_heartbeat * 1000u, cl_tick, cl) != 0 ||
        broadcast_on_relay(srv, cl_relay, cl) != 0 ||
        http_api_on_metrics(srv, cl_metrics, cl) != 0 ||
        http_api_on_health(srv, cl_health, cl) != 0 ||
        http_api_on_terminate(srv, cl_terminate, cl) != 0 ||
        http_api_on_connections(srv, cl_connections, cl) != 0 || redis_start(cl->rd) != 0) {
        log_error(lg, "cluster: cannot start");
        cl_module = NULL;
        cl_free(cl);
        return -1;
    }
    conn_set_socket_prefix(srv, cl_sid_prefix(cl->node));
    log_info(lg, "cluster: node %s (boot %s), bus %s, socket ids %u.*", cl->node, cl->boot, cl->bus,
             cl_sid_prefix(cl->node));
    return 0;
}

static int cl_bye_sent;
static void cl_on_bye(void *ud, const struct redis_reply *r)
{
    (void)ud;
    (void)r;
    cl_bye_sent = 1;
}

void cluster_stop(struct server *srv)
{
    (void)srv;
    struct cluster *cl = cl_module;
    if (!cl)
        return;
    cl_module = NULL;
    roster_stop(cl->roster);
    if (redis_connected(cl->rd)) {
        /* The loop has ended: wait here (at most half a second) for Redis to
         * take the goodbye, so the others drop this node at once. */
        struct bus_msg m = {.type = BUS_BYE};
        memcpy(m.node, cl->node, sizeof m.node);
        memcpy(m.boot, cl->boot, sizeof m.boot);
        m.seq = ++cl->seq;
        char *buf;
        size_t len;
        if (bus_encode(&m, &buf, &len) == 0) {
            const char *argv[3] = {"PUBLISH", cl->bus, buf};
            size_t lens[3] = {7, strlen(cl->bus), len};
            cl_bye_sent = 0;
            if (redis_command(cl->rd, cl_on_bye, NULL, 3, argv, lens) == 0)
                redis_dispatch_until(cl->rd, &cl_bye_sent, 500);
            free(buf);
        }
    }
    redis_stop(cl->rd);
    cl_free(cl);
}
