/* config: see config.h. Settings are described once, in the table below;
 * config_set, the defaults and config_usage all walk it. */
#include "config.h"

#include "config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

enum setting_type {
    T_STR,    /* char[] */
    T_HOST,   /* char[], empty = default */
    T_PATH,   /* route prefix, normalised */
    T_PORT,   /* unsigned 0..65535 */
    T_UINT,   /* unsigned */
    T_SIZE,   /* size_t */
    T_BOOL,   /* int 0/1 */
    T_TRI,    /* int 0/1, -1 = unset (empty value) */
    T_LEVEL,  /* enum log_level */
    T_EVENTS, /* enum config_client_events */
    T_LOOP,   /* char[]: "libev" or "poll" */
    T_OSTR,   /* struct config_opt_str: set once given, even empty */
};

struct setting {
    const char *env;  /* environment / .env name */
    const char *flag; /* command-line flag or NULL */
    enum setting_type type;
    size_t offset;          /* in struct config */
    size_t size;            /* for strings: buffer size */
    const char *def;        /* default, as text ("" = empty) */
    unsigned long long min; /* for numbers: smallest accepted value */
    unsigned long long max; /* for numbers: largest accepted value, 0 = type max */
    const char *help;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

static const struct setting settings[] = {
    {"REVERB_SERVER_HOST", "--host", T_HOST, F(host), "127.0.0.1", 0, 0, "bind address"},
    {"REVERB_SERVER_PORT", "--port", T_PORT, F(port), "8080", 0, 65535,
     "port; 0 picks a free one (printed in the listening log line)"},
    {"REVERB_SERVER_PATH", "--path", T_PATH, F(path), "", 0, 0,
     "route prefix for every route (WS, HTTP API, /up)"},
    {"REVERB_APP_ID", NULL, T_STR, F(app_id), "", 0, 0, "app id (unset: development app)"},
    {"REVERB_APP_KEY", NULL, T_STR, F(app_key), "", 0, 0, "app key (unset: development app)"},
    {"REVERB_APP_SECRET", NULL, T_STR, F(app_secret), "", 0, 0,
     "app secret (unset: development app)"},
    {"DOCSYNC_DEV_APP_PUBLIC", NULL, T_BOOL, F(dev_app_public), "false", 0, 0,
     "let the development app listen on a non-loopback address (anyone reaching the port can "
     "act as any user)"},
    {"REVERB_MAX_REQUEST_SIZE", NULL, T_SIZE, F(max_request_size), "10000", 1, 0,
     "HTTP request size limit in bytes (413 beyond)"},
    {"REVERB_APP_ALLOWED_ORIGINS", NULL, T_STR, F(allowed_origins), "*", 0, 0,
     "comma-separated origin host patterns (* wildcard); 4009 when no match"},
    {"REVERB_APP_PING_INTERVAL", NULL, T_UINT, F(ping_interval), "60", 1, 0,
     "seconds of silence before the server pings"},
    {"DOCSYNC_SOCKETIO_PING_INTERVAL", NULL, T_UINT, F(sio_ping_interval), "25000", 100, 3600000,
     "Socket.IO (Engine.IO) ping interval in milliseconds"},
    {"DOCSYNC_SOCKETIO_PING_TIMEOUT", NULL, T_UINT, F(sio_ping_timeout), "20000", 100, 3600000,
     "Socket.IO (Engine.IO): milliseconds a client has to answer a ping before its session ends"},
    {"DOCSYNC_SOCKETIO_AUTH_URL", NULL, T_STR, F(sio_auth_url), "", 0, 0,
     "the Laravel app's auth endpoint (http://host:port/broadcasting/auth) that Socket.IO "
     "subscriptions to private and presence channels are checked against, as "
     "laravel-echo-server does; empty: the server's own rules and bearer tokens"},
    {"DOCSYNC_SOCKETIO_IP_MAX_POLLING", NULL, T_SIZE, F(sio_ip_max_polling), "1000", 0, 0,
     "Socket.IO long-polling sessions open at once per client IP, as many as "
     "DOCSYNC_IP_MAX_CONNECTIONS by default (a polling session stands for a connection but "
     "holds none, so that limit does not bound it); handshakes beyond get 503; 0 = off"},
    {"REVERB_APP_ACTIVITY_TIMEOUT", NULL, T_UINT, F(activity_timeout), "30", 1, 0,
     "seconds, sent in connection_established"},
    {"REVERB_APP_MAX_CONNECTIONS", NULL, T_SIZE, F(max_connections), "0", 0, 0,
     "connection limit, 0 or empty = unlimited (4004 beyond)"},
    {"REVERB_APP_MAX_MESSAGE_SIZE", NULL, T_SIZE, F(max_message_size), "10000", 1, 0,
     "bytes per client WebSocket message (close 1009 beyond)"},
    {"REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", NULL, T_EVENTS, F(accept_client_events_from),
     "members", 0, 0, "members, all, or none (4301)"},
    {"REVERB_APP_RATE_LIMITING_ENABLED", NULL, T_BOOL, F(rate_limiting_enabled), "false", 0, 0,
     "Reverb's generic per-connection message rate limit"},
    {"REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS", NULL, T_UINT, F(rate_limit_max_attempts), "60", 1, 0,
     "messages allowed per decay window"},
    {"REVERB_APP_RATE_LIMIT_DECAY_SECONDS", NULL, T_UINT, F(rate_limit_decay_seconds), "60", 1, 0,
     "rate limit window in seconds"},
    {"REVERB_APP_RATE_LIMIT_TERMINATE", NULL, T_BOOL, F(rate_limit_terminate), "false", 0, 0,
     "close the connection when over the rate limit"},
    {"DOCSYNC_CLIENT_EVENTS_PER_SECOND", NULL, T_UINT, F(client_events_per_second), "10", 0, 0,
     "client events per second per connection (4301 beyond); 0 = off"},
    {"DOCSYNC_SYNC_READS_PER_SECOND", NULL, T_UINT, F(sync_reads_per_second), "20", 0, 0,
     "docsync:catchup and docsync:history requests per second per connection (error "
     "rate_limited beyond); 0 = off"},
    {"DOCSYNC_SYNC_WRITE_US_PER_SECOND", NULL, T_UINT, F(sync_write_us_per_second), "500000", 0, 0,
     "server time, in microseconds per second, one connection's document writes may take "
     "(rate_limited beyond); 0 = off"},
    {"DOCSYNC_ACTIVITY_COALESCE_MS", NULL, T_UINT, F(activity_coalesce_ms), "2000", 0, 0,
     "milliseconds over which one user's edits of one document become one document.edited "
     "activity entry (UserActivity on private-activity); 0 = the server logs no document "
     "activity of its own"},
    {"DOCSYNC_TIMESTAMP_WINDOW", NULL, T_UINT, F(timestamp_window), "600", 0, 0,
     "HTTP API auth_timestamp window in seconds; 0 = off (Reverb)"},
    {"DOCSYNC_SWEEP_INTERVAL", NULL, T_UINT, F(sweep_interval), "60", 1, 0,
     "seconds between liveness sweeps (ping, then prune with 4201)"},
    {"DOCSYNC_PRESENCE_MAX_MEMBERS", NULL, T_UINT, F(presence_max_members), "100", 1, 0,
     "unique users per presence channel"},
    {"DOCSYNC_PRESENCE_MAX_USER_INFO", NULL, T_SIZE, F(presence_max_user_info), "1024", 1, 0,
     "bytes of user_info"},
    {"DOCSYNC_PRESENCE_MAX_USER_ID", NULL, T_SIZE, F(presence_max_user_id), "128", 1, 0,
     "characters of user_id"},
    {"DOCSYNC_CHANNEL_NAME_MAX", NULL, T_SIZE, F(channel_name_max), "200", 1, 0,
     "characters of a channel name"},
    {"DOCSYNC_SEND_QUEUE_MAX", NULL, T_SIZE, F(send_queue_max), "1048576", 1, 0,
     "bytes queued to one connection before it is closed as too slow"},
    {"DOCSYNC_IO_URING", NULL, T_BOOL, F(io_uring), "true", 0, 0,
     "write many sockets per system call through io_uring where the kernel allows it"},
    {"DOCSYNC_SUBSCRIPTION_ERROR", NULL, T_BOOL, F(subscription_error), "false", 0, 0,
     "also send channel-scoped pusher:subscription_error on auth failure"},
    {"DOCSYNC_DATA_DIR", "--data", T_STR, F(data_dir), "./data", 0, 0,
     "data directory (LMDB, dev-app.env)"},
    {"DOCSYNC_LOG_LEVEL", "--log-level", T_LEVEL, F(log_level), "info", 0, 0,
     "debug, info, warn, error"},
    {"DOCSYNC_EVENT_LOOP", NULL, T_LOOP, F(event_loop), "libev", 0, 0,
     "libev (epoll through lws's evlib plugin) or poll (lws's own loop)"},
    {"DOCSYNC_TLS_CERT", "--tls-cert", T_STR, F(tls_cert), "", 0, 0,
     "PEM certificate (and optionally its chain): serve wss:// and https:// on the port; "
     "empty = plain text; reloaded on SIGHUP"},
    {"DOCSYNC_TLS_KEY", "--tls-key", T_STR, F(tls_key), "", 0, 0,
     "PEM private key of DOCSYNC_TLS_CERT (required with it); reloaded on SIGHUP"},
    {"DOCSYNC_TLS_CHAIN", NULL, T_STR, F(tls_chain), "", 0, 0,
     "PEM intermediate certificates sent after DOCSYNC_TLS_CERT (empty = none)"},
    {"DOCSYNC_TLS_MIN_VERSION", NULL, T_STR, F(tls_min_version), "1.2", 0, 0,
     "lowest TLS version accepted: 1.2 or 1.3"},
    {"DOCSYNC_IP_MAX_CONNECTIONS", NULL, T_SIZE, F(ip_max_connections), "1000", 0, 0,
     "open connections (WebSocket and HTTP) per client IP; new ones beyond are closed at "
     "accept; 0 = off"},
    {"DOCSYNC_IP_CONNECTIONS_PER_SECOND", NULL, T_UINT, F(ip_connections_per_second), "100", 0, 0,
     "new connections per second per client IP; beyond, closed at accept; 0 = off"},
    {"DOCSYNC_IP_LIMIT_LOOPBACK", NULL, T_BOOL, F(ip_limit_loopback), "false", 0, 0,
     "apply the per-IP limits to loopback clients too (off: a reverse proxy on the same host "
     "is every client's address)"},
    {"DOCSYNC_API_REQUESTS_PER_SECOND", NULL, T_UINT, F(api_requests_per_second), "1000", 0, 0,
     "HTTP API requests (/apps/{id}/...) per second for the app, counted before the signature "
     "check (429 beyond); 0 = off"},
    {"DOCSYNC_DRAIN_TIMEOUT", NULL, T_UINT, F(drain_timeout), "10", 0, 0,
     "seconds a SIGTERM waits for document commits in flight, new connections refused, before "
     "closing every connection with 4200"},
    {"DOCSYNC_MAP_SIZE", NULL, T_SIZE, F(map_size), "1073741824", 1048576, 0,
     "LMDB map size in bytes (upper bound of the database size)"},
    {"DOCSYNC_SNAPSHOT_EVERY", NULL, T_UINT, F(snapshot_every), "100", 1, 0,
     "document operations between snapshots"},
    {"DOCSYNC_OPS_RETAIN", NULL, T_UINT, F(ops_retain), "1000", 0, 0,
     "operations kept behind the latest snapshot"},
    {"DOCSYNC_AUTH_RULES", NULL, T_STR, F(auth_rules), "", 0, 0,
     "file of document authorization rules (empty = none)"},
    {"DOCSYNC_DOC_MAX_BYTES", NULL, T_SIZE, F(doc_max_bytes), "1048576", 1, 0,
     "maximum document text size in bytes"},
    {"DOCSYNC_DOC_MAX_OPS", NULL, T_SIZE, F(doc_max_ops), "0", 0, 67108864,
     "maximum operations a document holds, every character ever inserted or deleted (deleted "
     "ones included); 0 = 4 x DOCSYNC_DOC_MAX_BYTES"},
    {"DOCSYNC_BROADCAST_CONTENT_MAX", NULL, T_SIZE, F(broadcast_content_max), "16384", 0, 0,
     "DocumentUpdated carries the full text when the document is at most this many bytes; 0 = "
     "never"},
    {"DOCSYNC_HISTORY_CHANNELS", NULL, T_STR, F(history_channels),
     "private-App.Models.User.* private-activity", 0, 0,
     "channels whose events are kept for clients that reconnect: globs ('*' = any characters) "
     "separated by spaces, each optionally with :max=N (events kept) and :age=SECONDS; \"\" = "
     "none"},
    {"DOCSYNC_HISTORY_MAX_EVENTS", NULL, T_SIZE, F(history_max_events), "1000", 1, 0,
     "events kept per history channel unless its pattern says :max="},
    {"DOCSYNC_HISTORY_MAX_AGE", NULL, T_UINT, F(history_max_age), "86400", 0, 0,
     "seconds an event is kept on a history channel unless its pattern says :age=; 0 = no "
     "limit"},
    {"DOCSYNC_NOTIFICATION_CHANNEL", NULL, T_STR, F(notification_channel),
     "private-App.Models.User.{id}", 0, 0,
     "the channel a user's notifications are broadcast on ({id}: the user id), as Laravel's"},
    {"DOCSYNC_INBOX_MAX", NULL, T_SIZE, F(inbox_max), "500", 1, 0,
     "notifications kept per user in the inbox (the oldest go first)"},
    {"DOCSYNC_INBOX_MAX_AGE", NULL, T_UINT, F(inbox_max_age), "7776000", 0, 0,
     "seconds a notification is kept in the inbox; 0 = no limit"},
    {"DOCSYNC_DEMO", NULL, T_TRI, F(demo), "", 0, 0,
     "serve the demo page (empty = only with the development app)"},
    {"DOCSYNC_DEMO_ROOT", NULL, T_STR, F(demo_root), "", 0, 0,
     "directory of the demo page files (empty = the one compiled in)"},
    {"DOCSYNC_WASM", NULL, T_STR, F(wasm), "", 0, 0,
     "path of crdt.wasm served to the demo (empty = the one compiled in)"},
    {"DOCSYNC_DEMO_BUNDLE", NULL, T_STR, F(demo_bundle), "", 0, 0,
     "directory of the demo's built browser bundle (empty = the one compiled in)"},
    {"DOCSYNC_WEBHOOKS", NULL, T_STR, F(webhooks), "", 0, 0,
     "webhooks in Pusher's format, a JSON array of {\"url\": \"http[s]://...\", \"event_types\": "
     "[...], \"filter\": {\"channel_name_starts_with\": \"...\"}, \"headers\": {...}, "
     "\"batch_size\": 100, \"batch_ms\": 50} (src/webhook/README.md); empty = none"},
    {"DOCSYNC_WEBHOOK_LEAVE_DELAY_MS", NULL, T_UINT, F(webhook_leave_delay_ms), "3000", 0, 0,
     "member_removed and channel_vacated wait this long, and are not sent (nor the "
     "member_added / channel_occupied that follows) when the user or a subscriber comes back"},
    {"DOCSYNC_WEBHOOK_RETRY_FOR", NULL, T_UINT, F(webhook_retry_for), "300", 1, 0,
     "seconds a webhook is retried (non-2xx or network error) before it is dropped"},
    {"DOCSYNC_WEBHOOK_BACKOFF_MS", NULL, T_UINT, F(webhook_backoff_ms), "1000", 1, 0,
     "first retry delay in ms; doubles after each failure, up to 60 s"},
    {"DOCSYNC_WEBHOOK_TIMEOUT_MS", NULL, T_UINT, F(webhook_timeout_ms), "5000", 1, 0,
     "ms one webhook request may take (connect, send, answer) before it counts as failed"},
    {"DOCSYNC_WEBHOOK_OUTBOX_MAX", NULL, T_SIZE, F(webhook_outbox_max), "10000", 1, 0,
     "webhook requests kept in the durable outbox; beyond, the oldest is dropped (counted in "
     "/metrics)"},
    {"DOCSYNC_WEBHOOK_OUTBOX_MAX_BYTES", NULL, T_SIZE, F(webhook_outbox_max_bytes), "67108864",
     65536, 0,
     "bytes of webhook requests kept in the outbox (it shares DOCSYNC_MAP_SIZE with the "
     "documents); beyond, the oldest is dropped"},
    {"REVERB_SCALING_ENABLED", NULL, T_BOOL, F(scaling_enabled), "false", 0, 0,
     "cluster mode: nodes share events and presence over Redis"},
    {"REVERB_SCALING_CHANNEL", NULL, T_STR, F(scaling_channel), "reverb", 0, 0,
     "cluster mode: the prefix of every Redis key and channel this cluster uses"},
    {"REDIS_URL", NULL, T_STR, F(redis_url), "", 0, 0,
     "cluster mode: redis://[[user]:password@]host[:port][/db]; wins over REDIS_HOST and the "
     "rest"},
    {"REDIS_HOST", NULL, T_STR, F(redis_host), "127.0.0.1", 0, 0, "cluster mode: Redis host"},
    {"REDIS_PORT", NULL, T_PORT, F(redis_port), "6379", 1, 65535, "cluster mode: Redis port"},
    {"REDIS_USERNAME", NULL, T_STR, F(redis_username), "", 0, 0,
     "cluster mode: Redis ACL user (empty: AUTH with the password only)"},
    {"REDIS_PASSWORD", NULL, T_STR, F(redis_password), "", 0, 0,
     "cluster mode: Redis password (empty: no AUTH); never logged"},
    {"REDIS_DB", NULL, T_UINT, F(redis_db), "0", 0, 0, "cluster mode: Redis database number"},
    {"DOCSYNC_NODE_ID", NULL, T_STR, F(node_id), "", 0, 0,
     "cluster mode: this node's id, unique in the cluster and stable across restarts (empty: "
     "<hostname>:<port>)"},
    {"DOCSYNC_CLUSTER_HEARTBEAT", NULL, T_UINT, F(cluster_heartbeat), "2", 1, 60,
     "cluster mode: seconds between a node's heartbeats on the bus"},
    {"DOCSYNC_CLUSTER_NODE_TIMEOUT", NULL, T_UINT, F(cluster_node_timeout), "10", 2, 3600,
     "cluster mode: seconds without a heartbeat after which the other nodes count a node as "
     "gone"},
    {"DOCSYNC_MOVE_MAX_BYTES", NULL, T_SIZE, F(move_max_bytes), "268435456", 1048576, 1073741824,
     "cluster mode: bytes a document arriving by a move (docsync-admin move-doc) may hold before "
     "its commit (its base snapshot, ops and sequence index); a larger one is refused; at most 4 "
     "arrive at once"},
    {"DOCSYNC_REDIS_BROADCAST", NULL, T_TRI, F(redis_broadcast), "", 0, 0,
     "deliver what the Laravel app publishes with its redis broadcast driver (as "
     "laravel-echo-server did); empty: on when BROADCAST_CONNECTION (or, unset, "
     "BROADCAST_DRIVER) is redis; uses REDIS_URL / REDIS_HOST and the rest"},
    {"BROADCAST_DRIVER", NULL, T_STR, F(broadcast_driver), "", 0, 0,
     "the Laravel app's broadcaster (Laravel up to 10); redis turns the Redis input on"},
    {"BROADCAST_CONNECTION", NULL, T_STR, F(broadcast_connection), "", 0, 0,
     "the Laravel app's broadcaster (Laravel 11 and later); wins over BROADCAST_DRIVER"},
    {"REDIS_PREFIX", NULL, T_OSTR, F(redis_prefix), "", 0, 0,
     "the Laravel app's Redis prefix, put before each broadcast channel's name (unset: "
     "<APP_NAME as a slug>_database_, as Laravel's config/database.php derives it)"},
    {"APP_NAME", NULL, T_STR, F(app_name), "laravel", 0, 0,
     "the Laravel app's name, from which its Redis prefix is derived"},
};

#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const struct setting *find_setting(const char *env)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (strcmp(settings[i].env, env) == 0)
            return &settings[i];
    }
    return NULL;
}

static const struct setting *find_flag(const char *flag, size_t len)
{
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].flag && strlen(settings[i].flag) == len &&
            strncmp(settings[i].flag, flag, len) == 0)
            return &settings[i];
    }
    return NULL;
}

/* Parses an unsigned decimal with optional surrounding blanks. */
static int parse_unsigned(const char *v, unsigned long long max, unsigned long long *out,
                          int *negative)
{
    *negative = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '-') {
        *negative = 1;
        return -1;
    }
    if (*v == '+')
        v++;
    if (*v < '0' || *v > '9')
        return -1;
    unsigned long long x = 0;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (x > (ULLONG_MAX - 9) / 10)
            return -1;
        x = x * 10 + (unsigned)(*v - '0');
    }
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v || x > max)
        return -1;
    *out = x;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    static const char *yes[] = {"true", "(true)", "1", "yes", "on"};
    static const char *no[] = {"false", "(false)", "0", "no", "off"};
    for (size_t i = 0; i < 5; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Route prefix: "" or "/a/b" (leading slash added, trailing removed). */
static int normalise_path(const char *v, char *dst, size_t cap)
{
    while (*v == '/')
        v++;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n == 0) {
        dst[0] = '\0';
        return 0;
    }
    if (n + 2 > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%')
            return -1;
    }
    dst[0] = '/';
    memcpy(dst + 1, v, n);
    dst[n + 1] = '\0';
    return 0;
}

static int apply(struct config *cfg, const struct setting *s, const char *value, char *err,
                 size_t errlen)
{
    char *base = (char *)cfg + s->offset;
    /* Laravel .env files often leave settings empty: that means "default". */
    if (value[0] == '\0' && s->type != T_STR && s->type != T_PATH && s->type != T_OSTR)
        value = s->def;

    switch (s->type) {
    case T_STR:
    case T_HOST:
        if (strlen(value) >= s->size) {
            config__err(err, errlen, "%s: value too long (max %zu bytes)", s->env, s->size - 1);
            return CONFIG_EINVAL;
        }
        memcpy(base, value, strlen(value) + 1);
        return CONFIG_OK;
    case T_PATH:
        if (normalise_path(value, base, s->size) < 0) {
            config__err(err, errlen, "%s: invalid route prefix \"%s\"", s->env, value);
            return CONFIG_EINVAL;
        }
        return CONFIG_OK;
    case T_PORT:
    case T_UINT:
    case T_SIZE: {
        unsigned long long max = s->max ? s->max : (s->type == T_SIZE ? SIZE_MAX : UINT32_MAX);
        unsigned long long x;
        int negative;
        if (parse_unsigned(value, max, &x, &negative) < 0) {
            if (negative)
                config__err(err, errlen, "%s: must not be negative (got \"%s\")", s->env, value);
            else
                config__err(err, errlen,
                            "%s: expected an integer between %llu and %llu, got \"%s\"", s->env,
                            s->min, max, value);
            return CONFIG_EINVAL;
        }
        if (x < s->min) {
            config__err(err, errlen, "%s: must be at least %llu (got %llu)", s->env, s->min, x);
            return CONFIG_EINVAL;
        }
        if (s->type == T_SIZE)
            *(size_t *)base = (size_t)x;
        else
            *(unsigned *)base = (unsigned)x;
        return CONFIG_OK;
    }
    case T_OSTR: {
        struct config_opt_str *o = (struct config_opt_str *)(void *)base;
        if (strlen(value) >= sizeof o->value) {
            config__err(err, errlen, "%s: value too long (max %zu bytes)", s->env,
                        sizeof o->value - 1);
            return CONFIG_EINVAL;
        }
        memcpy(o->value, value, strlen(value) + 1);
        o->set = 1;
        return CONFIG_OK;
    }
    case T_TRI:
        if (value[0] == '\0') {
            *(int *)base = -1;
            return CONFIG_OK;
        }
        /* fall through */
    case T_BOOL:
        if (parse_bool(value, (int *)base) < 0) {
            config__err(err, errlen, "%s: expected true or false, got \"%s\"", s->env, value);
            return CONFIG_EINVAL;
        }
        return CONFIG_OK;
    case T_LEVEL:
        if (log_level_parse(value, (enum log_level *)base) < 0) {
            config__err(err, errlen, "%s: unknown log level \"%s\" (debug, info, warn, error)",
                        s->env, value);
            return CONFIG_EINVAL;
        }
        return CONFIG_OK;
    case T_LOOP:
        if (strcmp(value, "libev") != 0 && strcmp(value, "poll") != 0) {
            config__err(err, errlen, "%s: expected libev or poll, got \"%s\"", s->env, value);
            return CONFIG_EINVAL;
        }
        memcpy(base, value, strlen(value) + 1);
        return CONFIG_OK;
    case T_EVENTS: {
        enum config_client_events *e = (enum config_client_events *)base;
        if (strcasecmp(value, "members") == 0)
            *e = CONFIG_CLIENT_EVENTS_MEMBERS;
        else if (strcasecmp(value, "all") == 0)
            *e = CONFIG_CLIENT_EVENTS_ALL;
        else if (strcasecmp(value, "none") == 0)
            *e = CONFIG_CLIENT_EVENTS_NONE;
        else {
            config__err(err, errlen, "%s: expected members, all or none, got \"%s\"", s->env,
                        value);
            return CONFIG_EINVAL;
        }
        return CONFIG_OK;
    }
    }
    return CONFIG_EINVAL;
}

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_SETTINGS; i++) {
        if (settings[i].type == T_OSTR)
            continue; /* unset: zeroed above */
        int rc = apply(cfg, &settings[i], settings[i].def, NULL, 0);
        (void)rc; /* the defaults are valid by construction (unit-tested) */
    }
    memcpy(cfg->env_file, ".env", sizeof ".env");
    cfg->dev_app = 0;
}

int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const struct setting *s = find_setting(name);
    if (!s)
        return CONFIG_OK;
    return apply(cfg, s, value ? value : "", err, errlen);
}

static int apply_pair(void *ctx, const char *key, const char *value, char *err, size_t errlen)
{
    return config_set(ctx, key, value, err, errlen);
}

int config_apply_env_text(struct config *cfg, const char *text, size_t len, const char *origin,
                          char *err, size_t errlen)
{
    return env_parse(text, len, origin, apply_pair, cfg, err, errlen);
}

/* ---- load ---- */

/* Whether `host` (an address to listen on) only accepts connections from
 * this machine: 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104 or "localhost".
 * Anything else, names and the wildcard addresses included, counts as
 * reachable from outside. */
static int host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

/* Finds the value of flag argv[*i] ("--x v" or "--x=v"); advances *i. */
static int flag_value(int argc, char *const *argv, int *i, const char **name, size_t *name_len,
                      const char **value)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    *name = arg;
    if (eq) {
        *name_len = (size_t)(eq - arg);
        *value = eq + 1;
        return 0;
    }
    *name_len = strlen(arg);
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 0;
}

static int is_flag(const char *arg, size_t len, const char *flag)
{
    return strlen(flag) == len && strncmp(arg, flag, len) == 0;
}

int config_load(struct config *cfg, int argc, char *const *argv, char *const *envp, char *err,
                size_t errlen)
{
    config__err(err, errlen, "%s", "");
    config_defaults(cfg);

    /* Pass 1 over flags: --help, --env-file, and syntax. */
    const char *env_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return CONFIG_HELP;
    }
    for (int i = 1; i < argc; i++) {
        const char *name = NULL, *value = NULL;
        size_t name_len;
        if (strncmp(argv[i], "--", 2) != 0) {
            config__err(err, errlen, "unexpected argument \"%s\" (see --help)", argv[i]);
            return CONFIG_EFLAG;
        }
        if (flag_value(argc, argv, &i, &name, &name_len, &value) < 0) {
            config__err(err, errlen, "%.*s needs a value (see --help)", (int)name_len, name);
            return CONFIG_EFLAG;
        }
        if (is_flag(name, name_len, "--env-file")) {
            env_file = value;
        } else if (!find_flag(name, name_len)) {
            config__err(err, errlen, "unknown option %.*s (see --help)", (int)name_len, name);
            return CONFIG_EFLAG;
        }
    }

    /* 1. environment */
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        char key[128];
        if (!eq || (size_t)(eq - envp[i]) >= sizeof key)
            continue;
        memcpy(key, envp[i], (size_t)(eq - envp[i]));
        key[eq - envp[i]] = '\0';
        int rc = config_set(cfg, key, eq + 1, err, errlen);
        if (rc < 0)
            return rc;
    }

    /* 2. env file */
    if (env_file) {
        if (strlen(env_file) >= sizeof cfg->env_file) {
            config__err(err, errlen, "--env-file: path too long");
            return CONFIG_EFLAG;
        }
        memcpy(cfg->env_file, env_file, strlen(env_file) + 1);
    }
    char *text;
    size_t len;
    int r = env_read_file(cfg->env_file, &text, &len);
    if (r == 0) {
        int rc = config_apply_env_text(cfg, text, len, cfg->env_file, err, errlen);
        free(text);
        if (rc < 0)
            return rc;
    } else if (env_file || r != -ENOENT) {
        config__err(err, errlen, "cannot read env file %s: %s", cfg->env_file, strerror(-r));
        return CONFIG_EFILE;
    }

    /* 3. flags */
    for (int i = 1; i < argc; i++) {
        const char *name = NULL, *value = NULL;
        size_t name_len = 0;
        if (flag_value(argc, argv, &i, &name, &name_len, &value) < 0)
            return CONFIG_EFLAG; /* checked in pass 1 */
        const struct setting *s = find_flag(name, name_len);
        if (!s)
            continue; /* --env-file */
        int rc = apply(cfg, s, value, err, errlen);
        if (rc < 0) {
            char tmp[640];
            snprintf(tmp, sizeof tmp, "%.500s (from %s)", err ? err : "", s->flag);
            config__err(err, errlen, "%s", tmp);
            return rc;
        }
    }

    /* Cross-field checks and the app. */
    if (!cfg->data_dir[0]) {
        config__err(err, errlen, "DOCSYNC_DATA_DIR must not be empty");
        return CONFIG_EINVAL;
    }
    if (!!cfg->tls_cert[0] != !!cfg->tls_key[0]) {
        config__err(err, errlen,
                    "DOCSYNC_TLS_CERT and DOCSYNC_TLS_KEY go together: set both "
                    "for TLS, or neither");
        return CONFIG_EINVAL;
    }
    if (strcmp(cfg->tls_min_version, "1.2") != 0 && strcmp(cfg->tls_min_version, "1.3") != 0) {
        config__err(err, errlen, "DOCSYNC_TLS_MIN_VERSION: expected 1.2 or 1.3, got \"%s\"",
                    cfg->tls_min_version);
        return CONFIG_EINVAL;
    }
    int have = !!cfg->app_id[0] + !!cfg->app_key[0] + !!cfg->app_secret[0];
    if (have == 3)
        return CONFIG_OK;
    if (have > 0) {
        config__err(err, errlen,
                    "incomplete app credentials: set all of REVERB_APP_ID, REVERB_APP_KEY and "
                    "REVERB_APP_SECRET, or none of them for the development app");
        return CONFIG_EAPP;
    }
    return devapp_load(cfg, err, errlen);
}

int config_check_dev_app_host(const struct config *cfg, char *err, size_t errlen)
{
    /* The development app's token endpoint gives any caller any identity:
     * reachable from other machines only when asked for in so many words. */
    if (!cfg->dev_app || cfg->dev_app_public || host_is_loopback(cfg->host))
        return CONFIG_OK;
    config__err(err, errlen,
                "refusing to run the development app (no REVERB_APP_ID, REVERB_APP_KEY, "
                "REVERB_APP_SECRET set) on %s, which is not a loopback address: anyone who "
                "reaches the port could act as any user. Set the app credentials, listen on "
                "127.0.0.1, or set DOCSYNC_DEV_APP_PUBLIC=true to allow it",
                cfg->host);
    return CONFIG_EINVAL;
}

void config_usage(FILE *out, const char *argv0)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "docsyncd: a Laravel Reverb compatible Pusher protocol server with durable\n"
            "collaborative documents.\n"
            "\n"
            "Settings come from the environment, then from a .env file in the working\n"
            "directory (or --env-file), then from the options below, the later winning.\n"
            "With no REVERB_APP_* set, a development app is generated once and kept in\n"
            "<data dir>/" DEV_APP_FILE " (its id and key are printed at start, never its\n"
            "secret); it is for development only and listens on loopback addresses only\n"
            "unless DOCSYNC_DEV_APP_PUBLIC=true.\n"
            "\n"
            "Options:\n",
            argv0 ? argv0 : "docsyncd");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *s = &settings[i];
        if (!s->flag)
            continue;
        char head[64];
        snprintf(head, sizeof head, "%s <value>", s->flag);
        fprintf(out, "  %-22s %s\n  %-22s (env %s, default \"%s\")\n", head, s->help, "", s->env,
                s->def);
    }
    fprintf(out, "  %-22s %s\n  %-22s %s\n", "--env-file <file>",
            "read settings from <file> instead of ./.env (must exist)", "-h, --help",
            "print this help and exit");
    fprintf(out, "\nEnvironment variables (and .env keys):\n");
    for (size_t i = 0; i < N_SETTINGS; i++) {
        const struct setting *s = &settings[i];
        fprintf(out, "  %-38s default \"%s\"%s%s\n      %s\n", s->env, s->def,
                s->flag ? ", flag " : "", s->flag ? s->flag : "", s->help);
    }
}

const char *config_strerror(int code)
{
    switch (code) {
    case CONFIG_OK:
        return "ok";
    case CONFIG_HELP:
        return "help requested";
    case CONFIG_EINVAL:
        return "invalid setting";
    case CONFIG_EFLAG:
        return "invalid command-line option";
    case CONFIG_EFILE:
        return "cannot read or write a configuration file";
    case CONFIG_EAPP:
        return "incomplete app credentials";
    case CONFIG_ENOMEM:
        return "out of memory";
    }
    return "unknown configuration error";
}
