/* config: every server setting, loaded from the environment, a `.env` file
 * and command-line flags.
 *
 * Precedence (README, "Configuration"): settings come from the environment,
 * then from a `.env` file in the working directory (or the file given by
 * `--env-file`), then from command-line flags, the later winning. So a value
 * in `.env` overrides the same variable in the process environment, and a
 * flag overrides both. A missing default `.env` is fine; a missing
 * `--env-file` is an error.
 *
 * `.env` syntax (Laravel / phpdotenv subset): one `KEY=value` per line;
 * blank lines and lines starting with `#` are ignored; an optional leading
 * `export `; whitespace around the key and the value is trimmed; an unquoted
 * value ends at ` #` (inline comment); a value in double quotes may contain
 * `#`, spaces and the escapes \n \t \" \\ ; a value in single quotes is
 * literal. `${VAR}` interpolation is not supported (kept literally). Unknown
 * keys are ignored (a Laravel `.env` holds many other settings).
 *
 * Development app: when none of REVERB_APP_ID / REVERB_APP_KEY /
 * REVERB_APP_SECRET is set, config_load uses a development app. Its id
 * (6 decimal digits), key (20 hex chars) and secret (40 hex chars) are drawn
 * once with OpenSSL RAND_bytes and stored in `<data dir>/dev-app.env` (mode
 * 0600, same KEY=value syntax, the data dir is created if missing), so a
 * restart keeps the same credentials. `cfg->dev_app` is then 1; main logs
 * the id, the key and the file's path (never the secret) and warns that the
 * app is for development only, and refuses to listen with it on an address
 * other machines can reach (config_check_dev_app_host). Setting some but
 * not all three REVERB_APP_* values is an error.
 *
 * Booleans accept true/false, 1/0, yes/no, on/off (case-insensitive);
 * `(true)`/`(false)` as Laravel writes them are accepted too. Numbers are
 * decimal, without sign (negative values are rejected with a message). An
 * empty value means "the default" (Laravel writes `REVERB_APP_MAX_CONNECTIONS=`
 * for "unlimited"); for the app credentials empty means unset.
 *
 * The struct is plain data: main loads it once and the server only reads
 * it. Strings are stored inline (bounded); no heap ownership.
 */
#ifndef DOCSYNC_CONFIG_H
#define DOCSYNC_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "common/log.h"

#define CONFIG_HOST_MAX 256
#define CONFIG_PATH_MAX 256     /* route prefix */
#define CONFIG_FILE_MAX 1024    /* file system paths */
#define CONFIG_CRED_MAX 256     /* app id / key / secret */
#define CONFIG_ORIGINS_MAX 2048 /* allowed origins, comma-separated */

/* config_load results. CONFIG_HELP is not an error: the caller prints
 * config_usage() to stdout and exits 0. Negative values are errors: the
 * caller prints the message written to `err` and exits with status 2. */
#define CONFIG_OK 0
#define CONFIG_HELP 1
#define CONFIG_EINVAL (-1) /* a bad value (port, size, level, ...) */
#define CONFIG_EFLAG (-2)  /* unknown flag or flag without its value */
#define CONFIG_EFILE (-3)  /* env file unreadable / dev-app file problem */
#define CONFIG_EAPP (-4)   /* incomplete app credentials */
#define CONFIG_ENOMEM (-5)

/* REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM */
enum config_client_events {
    CONFIG_CLIENT_EVENTS_MEMBERS = 0, /* "members" (default): sender must be subscribed */
    CONFIG_CLIENT_EVENTS_ALL = 1,     /* "all": relayed without the membership check */
    CONFIG_CLIENT_EVENTS_NONE = 2,    /* "none" (any other value in Reverb): 4301 */
};

/* A string setting whose absence differs from its empty value (Laravel's
 * env('REDIS_PREFIX', default) takes an empty value as the value). */
struct config_opt_str {
    int set;
    char value[128];
};

struct config {
    /* Server */
    char host[CONFIG_HOST_MAX]; /* REVERB_SERVER_HOST, --host; default 127.0.0.1 */
    unsigned port;              /* REVERB_SERVER_PORT, --port; 0..65535, default 8080 */
    /* REVERB_SERVER_PATH, --path; normalised to "" or "/seg[/seg...]" (leading
     * slash added, trailing slashes removed), so routes are path + "/app/..". */
    char path[CONFIG_PATH_MAX];
    size_t max_request_size; /* REVERB_MAX_REQUEST_SIZE, default 10000 */

    /* The app (one per server) */
    char app_id[CONFIG_CRED_MAX];     /* REVERB_APP_ID */
    char app_key[CONFIG_CRED_MAX];    /* REVERB_APP_KEY */
    char app_secret[CONFIG_CRED_MAX]; /* REVERB_APP_SECRET: never log it */
    int dev_app;                      /* 1 when the generated development app is used */
    /* DOCSYNC_DEV_APP_PUBLIC, default false: the development app may listen on
     * an address other than a loopback one (see config_check_dev_app_host). */
    int dev_app_public;
    /* REVERB_APP_ALLOWED_ORIGINS, default "*": comma-separated host patterns,
     * whitespace around entries trimmed. Checked with origin_allowed() (origin.h). */
    char allowed_origins[CONFIG_ORIGINS_MAX];
    unsigned ping_interval;             /* REVERB_APP_PING_INTERVAL, s, default 60, >= 1 */
    unsigned sio_ping_interval;         /* DOCSYNC_SOCKETIO_PING_INTERVAL, ms, default 25000 */
    unsigned sio_ping_timeout;          /* DOCSYNC_SOCKETIO_PING_TIMEOUT, ms, default 20000 */
    char sio_auth_url[CONFIG_FILE_MAX]; /* DOCSYNC_SOCKETIO_AUTH_URL: the app's auth endpoint */
    size_t sio_ip_max_polling;          /* DOCSYNC_SOCKETIO_IP_MAX_POLLING, 1000, 0 = off */
    unsigned activity_timeout;          /* REVERB_APP_ACTIVITY_TIMEOUT, s, default 30, >= 1 */
    size_t max_connections;             /* REVERB_APP_MAX_CONNECTIONS, 0 = unlimited (default) */
    size_t max_message_size;            /* REVERB_APP_MAX_MESSAGE_SIZE, default 10000, >= 1 */
    enum config_client_events accept_client_events_from; /* default members */
    int rate_limiting_enabled;         /* REVERB_APP_RATE_LIMITING_ENABLED, default 0 */
    unsigned rate_limit_max_attempts;  /* REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS, default 60 */
    unsigned rate_limit_decay_seconds; /* REVERB_APP_RATE_LIMIT_DECAY_SECONDS, default 60 */
    int rate_limit_terminate;          /* REVERB_APP_RATE_LIMIT_TERMINATE, default 0 */

    /* docsync extensions */
    unsigned client_events_per_second; /* DOCSYNC_CLIENT_EVENTS_PER_SECOND, 10, 0 = off */
    unsigned sync_reads_per_second;    /* DOCSYNC_SYNC_READS_PER_SECOND, 20, 0 = off */
    unsigned sync_write_us_per_second; /* DOCSYNC_SYNC_WRITE_US_PER_SECOND, 500000, 0 = off */
    unsigned activity_coalesce_ms;     /* DOCSYNC_ACTIVITY_COALESCE_MS, 2000, 0 = no feed */
    unsigned timestamp_window;         /* DOCSYNC_TIMESTAMP_WINDOW, s, 600, 0 = off */
    unsigned sweep_interval;           /* DOCSYNC_SWEEP_INTERVAL, s, 60, >= 1 */
    unsigned presence_max_members;     /* DOCSYNC_PRESENCE_MAX_MEMBERS, 100 */
    size_t presence_max_user_info;     /* DOCSYNC_PRESENCE_MAX_USER_INFO, bytes, 1024 */
    size_t presence_max_user_id;       /* DOCSYNC_PRESENCE_MAX_USER_ID, chars, 128 */
    size_t channel_name_max;           /* DOCSYNC_CHANNEL_NAME_MAX, 200, >= 1 */
    size_t send_queue_max;             /* DOCSYNC_SEND_QUEUE_MAX, bytes, 1048576 */
    int io_uring;                      /* DOCSYNC_IO_URING, default true (server/txring.h) */
    int subscription_error;            /* DOCSYNC_SUBSCRIPTION_ERROR, default 0 */
    char data_dir[CONFIG_FILE_MAX];    /* DOCSYNC_DATA_DIR, --data, default ./data */
    enum log_level log_level;          /* DOCSYNC_LOG_LEVEL, --log-level, info */
    char env_file[CONFIG_FILE_MAX];    /* --env-file, default ".env" (may be absent) */
    /* DOCSYNC_EVENT_LOOP: "libev" (default; lws on libev/epoll) or "poll" (lws's own loop) */
    char event_loop[8];

    /* TLS (server.c, tls.c): off while tls_cert is empty. */
    char tls_cert[CONFIG_FILE_MAX];  /* DOCSYNC_TLS_CERT: PEM certificate (may hold its chain) */
    char tls_key[CONFIG_FILE_MAX];   /* DOCSYNC_TLS_KEY: PEM private key; required with a cert */
    char tls_chain[CONFIG_FILE_MAX]; /* DOCSYNC_TLS_CHAIN: PEM intermediates, "" = none */
    char tls_min_version[8];         /* DOCSYNC_TLS_MIN_VERSION: "1.2" (default) or "1.3" */

    /* Hardening (server.c, upgrade.c, http.c) */
    size_t ip_max_connections;          /* DOCSYNC_IP_MAX_CONNECTIONS, 1000, 0 = off */
    unsigned ip_connections_per_second; /* DOCSYNC_IP_CONNECTIONS_PER_SECOND, 100, 0 = off */
    int ip_limit_loopback;              /* DOCSYNC_IP_LIMIT_LOOPBACK, default 0 (exempt) */
    unsigned api_requests_per_second;   /* DOCSYNC_API_REQUESTS_PER_SECOND, 1000, 0 = off */
    unsigned drain_timeout;             /* DOCSYNC_DRAIN_TIMEOUT, s, 10 */

    /* Document sync (used by the sync part) */
    size_t map_size;         /* DOCSYNC_MAP_SIZE, LMDB map size bytes, 1 GiB, >= 1 MiB */
    unsigned snapshot_every; /* DOCSYNC_SNAPSHOT_EVERY, ops between snapshots, 100 */
    unsigned ops_retain;     /* DOCSYNC_OPS_RETAIN, ops kept behind the latest snapshot, 1000 */
    char auth_rules[CONFIG_FILE_MAX]; /* DOCSYNC_AUTH_RULES, file path, default "" (none) */
    size_t doc_max_bytes;             /* DOCSYNC_DOC_MAX_BYTES, max document text size, 1 MiB */
    /* DOCSYNC_DOC_MAX_OPS, operations per document, deleted characters included,
     * 0 (default) = 4 x doc_max_bytes, at most 2^26 */
    size_t doc_max_ops;
    /* DOCSYNC_BROADCAST_CONTENT_MAX, bytes, 16384, 0 = never: DocumentUpdated carries the
     * full text as `content` when the document is at most this size. */
    size_t broadcast_content_max;

    /* Channel history (history/): the patterns are parsed by the module at start. */
    char history_channels[CONFIG_ORIGINS_MAX]; /* DOCSYNC_HISTORY_CHANNELS */
    size_t history_max_events;                 /* DOCSYNC_HISTORY_MAX_EVENTS, 1000, >= 1 */
    unsigned history_max_age;                  /* DOCSYNC_HISTORY_MAX_AGE, s, 86400, 0 = none */
    char notification_channel[256];            /* DOCSYNC_NOTIFICATION_CHANNEL, with {id} */
    size_t inbox_max;       /* DOCSYNC_INBOX_MAX, notifications kept per user, 500 */
    unsigned inbox_max_age; /* DOCSYNC_INBOX_MAX_AGE, s, 7776000 (90 days), 0 = none */

    /* Demo page (used by the client part) */
    int demo;                        /* DOCSYNC_DEMO: 1/0, -1 = unset (then: on for the dev app) */
    char demo_root[CONFIG_FILE_MAX]; /* DOCSYNC_DEMO_ROOT, "" = unset (compiled-in default) */
    char wasm[CONFIG_FILE_MAX];      /* DOCSYNC_WASM, "" = unset (compiled-in default) */
    char demo_bundle[CONFIG_FILE_MAX]; /* DOCSYNC_DEMO_BUNDLE, "" = unset (compiled-in default) */

    /* Webhooks (webhook/): the JSON array is parsed and checked by the module at start. */
    char webhooks[16384];            /* DOCSYNC_WEBHOOKS, "" = none */
    unsigned webhook_leave_delay_ms; /* DOCSYNC_WEBHOOK_LEAVE_DELAY_MS, 3000 */
    unsigned webhook_retry_for;      /* DOCSYNC_WEBHOOK_RETRY_FOR, s, 300 */
    unsigned webhook_backoff_ms;     /* DOCSYNC_WEBHOOK_BACKOFF_MS, 1000 */
    unsigned webhook_timeout_ms;     /* DOCSYNC_WEBHOOK_TIMEOUT_MS, 5000 */
    size_t webhook_outbox_max;       /* DOCSYNC_WEBHOOK_OUTBOX_MAX, 10000 */
    size_t webhook_outbox_max_bytes; /* DOCSYNC_WEBHOOK_OUTBOX_MAX_BYTES, 64 MiB */

    /* Cluster mode over Redis (cluster/, redis/); Laravel's and Reverb's names. */
    int scaling_enabled;       /* REVERB_SCALING_ENABLED, default false: one node, no Redis */
    char scaling_channel[128]; /* REVERB_SCALING_CHANNEL, "reverb": prefix of keys and channels */
    char redis_url[CONFIG_FILE_MAX];      /* REDIS_URL, "" = REDIS_HOST and the others below */
    char redis_host[CONFIG_HOST_MAX];     /* REDIS_HOST, 127.0.0.1 */
    unsigned redis_port;                  /* REDIS_PORT, 6379 */
    char redis_username[CONFIG_CRED_MAX]; /* REDIS_USERNAME, "" = none */
    char redis_password[CONFIG_CRED_MAX]; /* REDIS_PASSWORD: never log it */
    unsigned redis_db;                    /* REDIS_DB, 0 */
    char node_id[64];                     /* DOCSYNC_NODE_ID, "" = "<hostname>:<port>" */
    unsigned cluster_heartbeat;           /* DOCSYNC_CLUSTER_HEARTBEAT, s between heartbeats, 2 */
    unsigned cluster_node_timeout; /* DOCSYNC_CLUSTER_NODE_TIMEOUT, s of silence = dead, 10 */
    size_t move_max_bytes;         /* DOCSYNC_MOVE_MAX_BYTES, a document taken by a move, 256 MiB */

    /* Laravel's redis broadcast driver as an input (laravel_redis/): the
     * app's own .env names decide it, as they decide the app's side. */
    int redis_broadcast;                /* DOCSYNC_REDIS_BROADCAST: 1, 0, -1 = from the two below */
    char broadcast_driver[32];          /* BROADCAST_DRIVER (Laravel <= 10), "" */
    char broadcast_connection[32];      /* BROADCAST_CONNECTION (Laravel >= 11), "" wins when set */
    struct config_opt_str redis_prefix; /* REDIS_PREFIX; unset = from APP_NAME as Laravel does */
    char app_name[128];                 /* APP_NAME, "laravel" (Laravel's own default) */
};

/* Fills `cfg` with every default (dev-app fields empty, dev_app 0). Never
 * fails. */
void config_defaults(struct config *cfg);

/* Loads the configuration: defaults, then the variables in `envp` (a
 * NULL-terminated "KEY=value" array such as `environ`; NULL = none), then
 * the env file (`--env-file` if given among the flags, else ".env" in the
 * current directory, missing is fine), then the flags in argv[1..argc-1]
 * (`--flag value` or `--flag=value`). Then validates, and finally, when no
 * app credentials were set, loads or creates the development app under
 * `data_dir` (this touches the file system; tests pass a temporary
 * DOCSYNC_DATA_DIR).
 *
 * Returns CONFIG_OK, CONFIG_HELP (--help or -h seen; nothing else is
 * validated and no file is touched), or a negative CONFIG_E* code with a
 * one-line human message in `err` (size `errlen`, may be 0). On error `cfg`
 * holds partial values and must not be used. */
int config_load(struct config *cfg, int argc, char *const *argv, char *const *envp, char *err,
                size_t errlen);

/* For docsyncd, after config_load: the development app's token endpoint
 * gives any caller any identity, so it may only listen on a loopback
 * address (127.0.0.0/8, ::1, ::ffff:127.x, "localhost") unless
 * DOCSYNC_DEV_APP_PUBLIC is true. Returns CONFIG_OK (also when no
 * development app is used) or CONFIG_EINVAL with a one-line message naming
 * DOCSYNC_DEV_APP_PUBLIC in `err`. Tools that do not listen (docsync-admin)
 * do not call it. */
int config_check_dev_app_host(const struct config *cfg, char *err, size_t errlen);

/* Applies a single setting by its env name, as config_load does for the
 * environment and the env file (exposed for tests). Unknown names are
 * ignored and return CONFIG_OK. Returns CONFIG_EINVAL with a message for a
 * bad value. Does not run cross-field validation. */
int config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);

/* Parses `.env` text (`len` bytes) and applies each KEY=value with
 * config_set. `origin` names the file in messages. Returns CONFIG_OK or the
 * first error. */
int config_apply_env_text(struct config *cfg, const char *text, size_t len, const char *origin,
                          char *err, size_t errlen);

/* Prints the usage: every flag and every environment variable with its
 * default and meaning, to `out`. */
void config_usage(FILE *out, const char *argv0);

/* A static description of a CONFIG_* code. */
const char *config_strerror(int code);

#endif
