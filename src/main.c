/* docsyncd: entry point. Loads the configuration, checks the store's files,
 * raises the descriptor limit, starts the server and its modules (document sync, the demo page),
 * runs the loop until SIGINT/SIGTERM, then stops gracefully and exits 0 (SIGHUP reloads the TLS
 * certificate). Signals are taken by a dedicated thread with sigwait(), so no handler touches
 * global state. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "auth/auth_url.h"
#include "cluster/cluster.h"
#include "common/log.h"
#include "config/config.h"
#include "demo/demo.h"
#include "history/history.h"
#include "laravel_redis/laravel_redis.h"
#include "server/server_main.h"
#include "store.h"
#include "sync/sync_server.h"
#include "webhook/webhook.h"

extern char **environ;

#define MAIN_FD_LIMIT_CAP 262144u

/* Webhooks keep their outbox in the store sync/ opened. */
static int main_webhook_start(struct server *srv)
{
    return webhook_start(srv, sync_server_store(srv));
}

/* Channel history keeps its events in the store sync/ opened and commits
 * them through its writer. */
static int main_history_start(struct server *srv)
{
    return history_start(srv, sync_server_store(srv), sync_server_writer(srv));
}

/* The modules docsyncd runs on top of the server, in start order: each
 * registers its handlers and routes on the loop thread before the loop runs,
 * and is stopped in reverse order after it ends. */
static const struct main_module {
    const char *name;
    int (*start)(struct server *srv);
    void (*stop)(struct server *srv);
} main_modules[] = {
    /* First, so that it stops last: the others' broadcasts are relayed
     * until they stop. */
    {"cluster", cluster_start, cluster_stop},
    /* The app's events from Redis go to this node's subscribers only. */
    {"redis-broadcast", laravel_redis_start, laravel_redis_stop},
    {"sync", sync_server_start, sync_server_stop},
    /* After sync/, whose built-in authoriser takes the server's own tokens first. */
    {"socketio-auth", auth_url_start, auth_url_stop},
    {"demo", demo_start, demo_stop},
    {"webhook", main_webhook_start, webhook_stop},
    {"history", main_history_start, history_stop},
};
#define MAIN_NMODULES (sizeof main_modules / sizeof main_modules[0])

/* Starts every module; on failure stops the ones already started.
 * Returns 0 or -1 (logged). */
static int main_modules_init(struct server *srv, const struct logger *log)
{
    for (size_t i = 0; i < MAIN_NMODULES; i++) {
        if (main_modules[i].start(srv) != 0) {
            log_error(log, "module %s: initialisation failed", main_modules[i].name);
            while (i-- > 0)
                main_modules[i].stop(srv);
            return -1;
        }
    }
    return 0;
}

static void main_modules_deinit(struct server *srv)
{
    for (size_t i = MAIN_NMODULES; i-- > 0;)
        main_modules[i].stop(srv);
}

struct main_signals {
    struct server *srv;
    sigset_t set;
    int sig;
};

static void *main_signal_thread(void *arg)
{
    struct main_signals *ms = arg;
    int sig = 0;
    while (sigwait(&ms->set, &sig) == 0) {
        if (sig == SIGHUP) {
            /* TLS certificate and key; srv lives until this thread is joined. */
            server_request_reload(ms->srv);
            continue;
        }
        ms->sig = sig;
        server_request_stop(ms->srv);
        return NULL;
    }
    return NULL;
}

/* Raises RLIMIT_NOFILE's soft limit towards the hard limit (capped), so
 * tens of thousands of connections fit. Returns the limit in effect. */
static unsigned main_raise_fd_limit(const struct logger *log)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 1024;
    rlim_t want = rl.rlim_max;
    if (want == RLIM_INFINITY || want > MAIN_FD_LIMIT_CAP)
        want = MAIN_FD_LIMIT_CAP;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn(log, "cannot raise the descriptor limit: %s", strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur > MAIN_FD_LIMIT_CAP)
        return MAIN_FD_LIMIT_CAP;
    return (unsigned)rl.rlim_cur;
}

/* The development app: where its credentials are (the secret itself is
 * never logged: logs are copied to places a secret must not go), and one
 * warning line, since its token endpoint (served with the demo page, which
 * is on by default with it) hands out any identity. */
static void main_log_dev_app(const struct config *cfg, const struct logger *log)
{
    if (cfg->demo != 0)
        log_warn(log,
                 "development app: for development only: anyone who can reach its port on %s can "
                 "act as any user (POST /demo-token issues a token for any name, with editor "
                 "rights); set REVERB_APP_ID, REVERB_APP_KEY and REVERB_APP_SECRET for any other "
                 "use",
                 cfg->host);
    else
        log_warn(log,
                 "development app: for development only; set REVERB_APP_ID, REVERB_APP_KEY and "
                 "REVERB_APP_SECRET for any other use");
    log_info(log, "development app: REVERB_APP_ID=%s REVERB_APP_KEY=%s, secret in %s/dev-app.env",
             cfg->app_id, cfg->app_key, cfg->data_dir);
}

/* The store, before the modules open it. A data file cut short is refused
 * here with both sizes (reading it would fault; the sync module could only
 * say that the store does not open). A missing store is made here, so that
 * a warning can name its new epoch: clients holding the old one will start
 * over, and when LMDB's files show that a store was there before, its data
 * looks lost. Returns 0 or -1 (logged). */
static int main_check_store(const struct config *cfg, const struct logger *log)
{
    struct store_files f;
    int rc = store_inspect(cfg->data_dir, &f);
    if (rc == STORE_ETRUNCATED) {
        log_error(log,
                  "store in %s: data.mdb is cut short: %llu bytes, but its pages reach %llu "
                  "(restore the directory from a backup); not starting",
                  cfg->data_dir, (unsigned long long)f.data_bytes,
                  (unsigned long long)f.used_bytes);
        return -1;
    }
    if (rc != 0) {
        log_error(log, "store in %s: %s; not starting", cfg->data_dir, store_strerror(rc));
        return -1;
    }
    if (f.store)
        return 0;
    struct store_options o;
    store_options_init(&o);
    o.map_size = cfg->map_size;
    o.map_size_max = cfg->map_size;
    store *s = NULL;
    rc = store_open(cfg->data_dir, &o, &s);
    struct store_epoch e;
    char hex[STORE_EPOCH_HEX_LEN + 1] = "?";
    if (rc == 0 && store_epoch_get(s, &e) == 0)
        store_epoch_format(&e, hex);
    store_close(s);
    if (rc != 0) {
        log_error(log, "no store in %s, and cannot create one: %s", cfg->data_dir,
                  store_strerror(rc));
        return -1;
    }
    if (f.traces)
        log_warn(log,
                 "no store in %s: created a new one with epoch %s, but LMDB's files show that a "
                 "store was there (data.mdb deleted or emptied): it looks like data was lost",
                 cfg->data_dir, hex);
    else
        log_warn(log, "no store in %s: created a new one with epoch %s", cfg->data_dir, hex);
    return 0;
}

int main(int argc, char **argv)
{
    struct config *cfg = malloc(sizeof(*cfg));
    if (!cfg)
        return 1;
    char err[512] = "";
    int rc = config_load(cfg, argc, argv, environ, err, sizeof(err));
    if (rc == CONFIG_HELP) {
        config_usage(stdout, argv[0]);
        free(cfg);
        return 0;
    }
    if (rc == CONFIG_OK)
        rc = config_check_dev_app_host(cfg, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "docsyncd: %s\n", err[0] ? err : config_strerror(rc));
        free(cfg);
        return 2;
    }
    setvbuf(stderr, NULL, _IOLBF, 0);
    struct logger log;
    log_init(&log, cfg->log_level, NULL);
    if (cfg->dev_app)
        main_log_dev_app(cfg, &log);

    /* Signals go to the signal thread only; SIGPIPE is ignored. */
    struct main_signals ms = {0};
    sigemptyset(&ms.set);
    sigaddset(&ms.set, SIGINT);
    sigaddset(&ms.set, SIGTERM);
    sigaddset(&ms.set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &ms.set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (main_check_store(cfg, &log) != 0) {
        free(cfg);
        return 1;
    }
    unsigned fd_limit = main_raise_fd_limit(&log);
    struct server *srv = server_new(cfg, &log, fd_limit);
    if (!srv) {
        log_error(&log, "out of memory");
        free(cfg);
        return 1;
    }
    if (main_modules_init(srv, &log) != 0) {
        server_free(srv);
        free(cfg);
        return 1;
    }
    if (server_start(srv, fd_limit) != 0) {
        main_modules_deinit(srv);
        server_free(srv);
        free(cfg);
        return 1;
    }
    ms.srv = srv;
    pthread_t th;
    int have_thread = pthread_create(&th, NULL, main_signal_thread, &ms) == 0;

    server_run(srv);

    if (have_thread) {
        if (!ms.sig)
            pthread_kill(th, SIGTERM); /* wake sigwait; the signal stays blocked */
        pthread_join(th, NULL);
    }
    main_modules_deinit(srv);
    server_free(srv);
    log_info(&log, "stopped");
    fflush(stderr);
    free(cfg);
    return 0;
}
