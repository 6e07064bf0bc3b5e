/* laravel_redis: subscribes to the app's broadcast channels on Redis
 * (PSUBSCRIBE <prefix>*) and delivers each event to this node's
 * subscribers of both protocols, as the HTTP API's events are delivered,
 * with the publishing request's socket skipped. Never relayed to the
 * cluster bus: every node subscribes to Redis itself. */
#include "laravel_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lr_msg.h"
#include "redis/redis.h"
#include "server/metrics.h"
#include "server/server.h"

enum lr_reason { LR_R_TOO_BIG, LR_R_CHANNEL, LR_R_MALFORMED, LR_R_NREASONS };
static const char *const lr_reason_names[LR_R_NREASONS] = {"too_big", "channel", "malformed"};

struct laravel_redis {
    struct server *srv;
    const struct config *cfg;
    const struct logger *log;
    struct redis *rd;
    char prefix[LR_PREFIX_MAX + 1];
    char pattern[2 * LR_PREFIX_MAX + 2];
    uint64_t received, deliveries, dropped_nomem;
    uint64_t rejected[LR_R_NREASONS];
};

static struct laravel_redis *lr_module; /* one server per process */

/* Logs a rejected message by reason and size, never its bytes (another
 * program's messages on the same Redis may carry secrets): the first five
 * of each reason, then one in a thousand. */
static void lr_reject(struct laravel_redis *lr, enum lr_reason why, size_t len)
{
    uint64_t n = ++lr->rejected[why];
    if (n <= 5 || n % 1000 == 0)
        log_warn(lr->log, "redis broadcast: dropped a message (%s, %zu bytes; %llu so far)",
                 lr_reason_names[why], len, (unsigned long long)n);
}

static void lr_on_message(void *ud, const char *channel, size_t clen, const char *payload,
                          size_t len)
{
    struct laravel_redis *lr = ud;
    struct lr_msg m;
    int rc = lr_decode(channel, clen, payload, len, lr->prefix, lr->cfg->channel_name_max, &m);
    if (rc == LR_ENOMEM) {
        lr->dropped_nomem++;
        return;
    }
    if (rc != LR_OK) {
        lr_reject(lr,
                  rc == LR_ETOOBIG    ? LR_R_TOO_BIG
                  : rc == LR_ECHANNEL ? LR_R_CHANNEL
                                      : LR_R_MALFORMED,
                  len);
        return;
    }
    lr->received++;
    struct frame *f = message_frame_adopt(&m.frame);
    if (!f) {
        message_frame_free(&m.frame);
        lr->dropped_nomem++;
        return;
    }
    /* broadcast_remote: local subscribers only, never the cluster bus. */
    char sid[LR_SOCKET_MAX + 1];
    const char *except =
        m.socket[0] ? broadcast_except_sid(lr->srv, m.socket, sid, sizeof sid) : NULL;
    int n = broadcast_remote(lr->srv, m.channel, f, except);
    lr->deliveries += n > 0 ? (uint64_t)n : 0;
    frame_unref(f);
}

static void lr_on_status(void *ud, int up)
{
    struct laravel_redis *lr = ud;
    if (up)
        log_info(lr->log, "redis broadcast: subscribed to %s", lr->pattern);
    else
        log_warn(lr->log, "redis broadcast: lost Redis; reconnecting");
}

static void lr_wake_loop(void *ud)
{
    server_wake(ud);
}

static void lr_on_wake(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    if (lr_module)
        redis_dispatch(lr_module->rd);
}

static char *lr_health(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct laravel_redis *lr = lr_module;
    char *out = lr ? malloc(64) : NULL;
    if (out)
        snprintf(out, 64, "\"redis_broadcast\":\"%s\"",
                 redis_connected(lr->rd) ? "connected" : "down");
    return out;
}

static char *lr_metrics(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct laravel_redis *lr = lr_module;
    if (!lr)
        return NULL;
    struct redis_stats st;
    redis_get_stats(lr->rd, &st);
    struct metrics_text b = {0};
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        &b,
        "# HELP docsync_redis_broadcast_up 1 when subscribed to the app's broadcast "
        "channels on Redis.\n"
        "# TYPE docsync_redis_broadcast_up gauge\n"
        "docsync_redis_broadcast_up %d\n"
        "# HELP docsync_redis_broadcast_received_total Events the app published on Redis "
        "and the server accepted.\n"
        "# TYPE docsync_redis_broadcast_received_total counter\n"
        "docsync_redis_broadcast_received_total %llu\n"
        "# HELP docsync_redis_broadcast_deliveries_total Deliveries of those events to "
        "this node's subscribers.\n"
        "# TYPE docsync_redis_broadcast_deliveries_total counter\n"
        "docsync_redis_broadcast_deliveries_total %llu\n"
        "# HELP docsync_redis_broadcast_rejected_total Messages on the app's prefix "
        "dropped unread.\n"
        "# TYPE docsync_redis_broadcast_rejected_total counter\n"
        "docsync_redis_broadcast_rejected_total{reason=\"too_big\"} %llu\n"
        "docsync_redis_broadcast_rejected_total{reason=\"channel\"} %llu\n"
        "docsync_redis_broadcast_rejected_total{reason=\"malformed\"} %llu\n"
        "docsync_redis_broadcast_rejected_total{reason=\"overload\"} %llu\n",
        st.connected, U(lr->received), U(lr->deliveries), U(lr->rejected[LR_R_TOO_BIG]),
        U(lr->rejected[LR_R_CHANNEL]), U(lr->rejected[LR_R_MALFORMED]),
        U(lr->dropped_nomem + st.dropped));
#undef U
    return metrics_text_take(&b);
}

/* Whether the app broadcasts through Redis: DOCSYNC_REDIS_BROADCAST when
 * set, else the app's own setting (Laravel 11's name first). */
static int lr_enabled(const struct config *cfg)
{
    if (cfg->redis_broadcast >= 0)
        return cfg->redis_broadcast;
    const char *d =
        cfg->broadcast_connection[0] ? cfg->broadcast_connection : cfg->broadcast_driver;
    return strcasecmp(d, "redis") == 0;
}

/* REDIS_PREFIX, or Laravel's default from APP_NAME. */
static int lr_prefix(const struct config *cfg, char *out, size_t cap, const struct logger *lg)
{
    if (cfg->redis_prefix.set) {
        if (strlen(cfg->redis_prefix.value) >= cap) {
            log_error(lg, "REDIS_PREFIX: at most %zu bytes", cap - 1);
            return -1;
        }
        strcpy(out, cfg->redis_prefix.value);
        return 0;
    }
    if (lr_default_prefix(cfg->app_name, out, cap) != 0) {
        log_error(lg, "redis broadcast: cannot derive the app's Redis prefix from APP_NAME "
                      "(letters outside ASCII, which Laravel transliterates, or too long): "
                      "set REDIS_PREFIX to the app's database.redis.options.prefix");
        return -1;
    }
    return 0;
}

static void lr_free(struct laravel_redis *lr)
{
    redis_free(lr->rd);
    free(lr);
}

int laravel_redis_start(struct server *srv)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    if (!lr_enabled(cfg))
        return 0;
    struct laravel_redis *lr = calloc(1, sizeof *lr);
    if (!lr)
        return -1;
    lr->srv = srv;
    lr->cfg = cfg;
    lr->log = lg;
    struct redis_opts o;
    char err[160];
    if (lr_prefix(cfg, lr->prefix, sizeof lr->prefix, lg) != 0 ||
        lr_pattern(lr->prefix, lr->pattern, sizeof lr->pattern) != 0) {
        lr_free(lr);
        return -1;
    }
    if (redis_opts_from_settings(cfg->redis_url, cfg->redis_host, cfg->redis_port,
                                 cfg->redis_username, cfg->redis_password, cfg->redis_db, &o, err,
                                 sizeof err) != 0) {
        log_error(lg, "%s", err);
        lr_free(lr);
        return -1;
    }
    lr_module = lr;
    lr->rd = redis_new(&o, lg, lr_wake_loop, srv);
    if (!lr->rd || redis_subscribe(lr->rd, lr->pattern, 1, lr_on_message, lr) != 0 ||
        redis_on_status(lr->rd, lr_on_status, lr) != 0 ||
        server_on_wake(srv, lr_on_wake, lr) != 0 || http_api_on_metrics(srv, lr_metrics, lr) != 0 ||
        http_api_on_health(srv, lr_health, lr) != 0 || redis_start(lr->rd) != 0) {
        log_error(lg, "redis broadcast: cannot start");
        lr_module = NULL;
        lr_free(lr);
        return -1;
    }
    log_info(lg, "redis broadcast: delivering what the app publishes on %s", lr->pattern);
    return 0;
}

void laravel_redis_stop(struct server *srv)
{
    (void)srv;
    struct laravel_redis *lr = lr_module;
    if (!lr)
        return;
    lr_module = NULL;
    redis_stop(lr->rd);
    lr_free(lr);
}
