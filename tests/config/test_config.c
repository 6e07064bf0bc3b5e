/* Unit tests of config.h: defaults, precedence environment < .env < flags,
 * .env syntax, validation messages, --help, the development app, origins. */
#include "config/config.h"
#include "config/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs config_load with a NULL-terminated argv/envp; argv[0] added. */
static int load(struct config *cfg, const char *const *args, const char *const *env, char *err,
                size_t errlen)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "docsyncd";
    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return config_load(cfg, argc, argv, (char *const *)env, err, errlen);
}

static void test_defaults(void)
{
    struct config c;
    config_defaults(&c);
    CHECK_STR_EQ(c.host, "127.0.0.1");
    CHECK_EQ(c.port, 8080);
    CHECK_STR_EQ(c.path, "");
    CHECK_EQ(c.max_request_size, 10000);
    CHECK_STR_EQ(c.allowed_origins, "*");
    CHECK_EQ(c.ping_interval, 60);
    CHECK_EQ(c.activity_timeout, 30);
    CHECK_EQ(c.max_connections, 0);
    CHECK_EQ(c.max_message_size, 10000);
    CHECK_EQ(c.accept_client_events_from, CONFIG_CLIENT_EVENTS_MEMBERS);
    CHECK_EQ(c.rate_limiting_enabled, 0);
    CHECK_EQ(c.rate_limit_max_attempts, 60);
    CHECK_EQ(c.rate_limit_decay_seconds, 60);
    CHECK_EQ(c.rate_limit_terminate, 0);
    CHECK_EQ(c.client_events_per_second, 10);
    CHECK_EQ(c.timestamp_window, 600);
    CHECK_EQ(c.sweep_interval, 60);
    CHECK_EQ(c.presence_max_members, 100);
    CHECK_EQ(c.presence_max_user_info, 1024);
    CHECK_EQ(c.presence_max_user_id, 128);
    CHECK_EQ(c.channel_name_max, 200);
    CHECK_EQ(c.send_queue_max, 1048576);
    CHECK_EQ(c.subscription_error, 0);
    CHECK_STR_EQ(c.data_dir, "./data");
    CHECK_EQ(c.log_level, LOG_LEVEL_INFO);
    CHECK_STR_EQ(c.env_file, ".env");
    CHECK_EQ(c.map_size, 1073741824);
    CHECK_EQ(c.snapshot_every, 100);
    CHECK_EQ(c.ops_retain, 1000);
    CHECK_STR_EQ(c.auth_rules, "");
    CHECK_EQ(c.dev_app, 0);
    CHECK_STR_EQ(c.app_key, "");
    CHECK_EQ(c.broadcast_content_max, 16384);
    CHECK_STR_EQ(c.event_loop, "libev");
    CHECK_EQ(c.demo, -1);
    CHECK_STR_EQ(c.demo_root, "");
    CHECK_STR_EQ(c.wasm, "");
    CHECK_STR_EQ(c.demo_bundle, "");
    char err[256];
    CHECK_EQ(config_set(&c, "DOCSYNC_DEMO", "false", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.demo, 0);
    CHECK_EQ(config_set(&c, "DOCSYNC_DEMO", "on", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.demo, 1);
    CHECK_EQ(config_set(&c, "DOCSYNC_DEMO", "", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.broadcast_content_max, 16384);
    CHECK_STR_EQ(c.event_loop, "libev");
    CHECK_EQ(c.demo, -1);
    CHECK_EQ(config_set(&c, "DOCSYNC_DEMO", "sometimes", err, sizeof err), CONFIG_EINVAL);
}

static void test_precedence(void)
{
    struct config c;
    char err[512];
    char envfile[512], data[512], data_arg[600];
    snprintf(envfile, sizeof envfile, "%s/test.env", tmpdir);
    snprintf(data, sizeof data, "%s/data", tmpdir);
    snprintf(data_arg, sizeof data_arg, "DOCSYNC_DATA_DIR=%s", data);
    write_file(envfile, "REVERB_SERVER_PORT=7001\n"
                        "REVERB_SERVER_PATH=fromfile\n"
                        "DOCSYNC_LOG_LEVEL=warn\n");
    const char *env[] = {"REVERB_SERVER_PORT=7000",
                         "REVERB_SERVER_HOST=0.0.0.0",
                         "REVERB_SERVER_PATH=fromenv",
                         "REVERB_APP_ID=1",
                         "REVERB_APP_KEY=k",
                         "REVERB_APP_SECRET=s",
                         data_arg,
                         "UNRELATED=x",
                         "NOEQUALS",
                         NULL};

    /* env only */
    const char *a0[] = {"--env-file", "/nonexistent-but-not-asked", NULL};
    (void)a0;
    const char *none[] = {NULL};
    CHECK(chdir(tmpdir) == 0); /* no .env here yet */
    CHECK_EQ(load(&c, none, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 7000);
    CHECK_STR_EQ(c.host, "0.0.0.0");
    CHECK_STR_EQ(c.path, "/fromenv");
    CHECK_EQ(c.dev_app, 0);
    CHECK_STR_EQ(c.app_key, "k");

    /* env < env file */
    const char *a1[] = {"--env-file", envfile, NULL};
    CHECK_EQ(load(&c, a1, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 7001);
    CHECK_STR_EQ(c.path, "/fromfile");
    CHECK_STR_EQ(c.host, "0.0.0.0"); /* not in the file: env value stays */
    CHECK_EQ(c.log_level, LOG_LEVEL_WARN);

    /* env file < flags, both --flag value and --flag=value */
    const char *a2[] = {"--env-file",  envfile, "--port", "7002", "--path=/flag/",
                        "--log-level", "debug", "--host", "::1",  NULL};
    CHECK_EQ(load(&c, a2, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 7002);
    CHECK_STR_EQ(c.path, "/flag");
    CHECK_EQ(c.log_level, LOG_LEVEL_DEBUG);
    CHECK_STR_EQ(c.host, "::1");

    /* flags before --env-file still win over the file */
    const char *a3[] = {"--port=7003", "--env-file=", NULL};
    (void)a3;
    const char *a4[] = {"--port=7003", "--env-file", envfile, NULL};
    CHECK_EQ(load(&c, a4, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 7003);

    /* the default ./.env in the working directory */
    write_file(".env", "# Laravel style\nexport REVERB_SERVER_PORT=7004\n");
    CHECK_EQ(load(&c, none, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 7004);
    unlink(".env");

    /* a missing --env-file is an error; a missing ./.env is not */
    const char *a5[] = {"--env-file", "/nonexistent/x.env", NULL};
    CHECK_EQ(load(&c, a5, env, err, sizeof err), CONFIG_EFILE);
    CHECK(strstr(err, "/nonexistent/x.env") != NULL);
    unlink(envfile);
}

static void test_env_syntax(void)
{
    struct config c;
    char err[512] = "";
    config_defaults(&c);
    const char *text = "# comment line\n"
                       "\n"
                       "   # indented comment\n"
                       "export REVERB_APP_ID=42\n"
                       "REVERB_APP_KEY = spaced-key   \n"
                       "REVERB_APP_SECRET=\"quoted # not a comment\" # a comment\n"
                       "REVERB_SERVER_HOST='single $quoted'\n"
                       "REVERB_APP_ALLOWED_ORIGINS=laravel.com, *.example.com # inline\n"
                       "REVERB_SERVER_PATH=\"esc\\\"aped\"\r\n"
                       "DOCSYNC_AUTH_RULES=\"line1\\nline2\"\n"
                       "REVERB_APP_RATE_LIMITING_ENABLED=(true)\n"
                       "REVERB_APP_RATE_LIMIT_TERMINATE=Yes\n"
                       "REVERB_APP_MAX_CONNECTIONS=\n"
                       "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM=all\n"
                       "DOCSYNC_DATA_DIR=a#b\n"
                       "APP_NAME=\"Laravel\"\n"
                       "MULTI=\"first\nsecond\"\n"
                       "DOCSYNC_SUBSCRIPTION_ERROR=on";
    CHECK_EQ(config_apply_env_text(&c, text, strlen(text), "t.env", err, sizeof err), CONFIG_OK);
    if (err[0])
        fprintf(stderr, "err: %s\n", err);
    CHECK_STR_EQ(c.app_id, "42");
    CHECK_STR_EQ(c.app_key, "spaced-key");
    CHECK_STR_EQ(c.app_secret, "quoted # not a comment");
    CHECK_STR_EQ(c.host, "single $quoted");
    CHECK_STR_EQ(c.allowed_origins, "laravel.com, *.example.com");
    CHECK_EQ(c.rate_limiting_enabled, 1);
    CHECK_EQ(c.rate_limit_terminate, 1);
    CHECK_EQ(c.max_connections, 0);
    CHECK_EQ(c.accept_client_events_from, CONFIG_CLIENT_EVENTS_ALL);
    CHECK_STR_EQ(c.auth_rules, "line1\nline2");
    CHECK_STR_EQ(c.data_dir, "a#b");
    CHECK_EQ(c.subscription_error, 1);
    /* the route prefix refuses a quote character */
    config_defaults(&c);
    const char *bad_path = "REVERB_SERVER_PATH=\"a b\"\n";
    CHECK_EQ(config_apply_env_text(&c, bad_path, strlen(bad_path), "t.env", err, sizeof err),
             CONFIG_EINVAL);
    CHECK(strstr(err, "t.env:1") != NULL);

    const char *bad[] = {"JUSTAKEY\n", "=value\n", "KEY=\"unterminated\n", "KEY=\"a\" junk\n",
                         "REVERB_SERVER_PORT=abc\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_defaults(&c);
        err[0] = '\0';
        int rc = config_apply_env_text(&c, bad[i], strlen(bad[i]), "bad.env", err, sizeof err);
        if (rc >= 0)
            fprintf(stderr, "accepted bad .env %zu\n", i);
        CHECK(rc < 0);
        CHECK(strstr(err, "bad.env") != NULL);
    }
    /* line numbers in messages */
    config_defaults(&c);
    const char *l3 = "A=1\nB=2\nREVERB_SERVER_PORT=99999\n";
    CHECK_EQ(config_apply_env_text(&c, l3, strlen(l3), "x.env", err, sizeof err), CONFIG_EINVAL);
    CHECK(strstr(err, "x.env:3") != NULL);
    CHECK(strstr(err, "REVERB_SERVER_PORT") != NULL);
}

static void test_validation(void)
{
    struct config c;
    char err[512];
    struct {
        const char *name, *value, *needle;
    } bad[] = {
        {"REVERB_SERVER_PORT", "65536", "REVERB_SERVER_PORT"},
        {"REVERB_SERVER_PORT", "-1", "negative"},
        {"REVERB_SERVER_PORT", "80x", "REVERB_SERVER_PORT"},
        {"REVERB_APP_MAX_MESSAGE_SIZE", "-5", "negative"},
        {"REVERB_APP_MAX_MESSAGE_SIZE", "0", "at least 1"},
        {"REVERB_MAX_REQUEST_SIZE", "-1", "negative"},
        {"REVERB_APP_MAX_CONNECTIONS", "-1", "negative"},
        {"REVERB_APP_ACTIVITY_TIMEOUT", "0", "at least 1"},
        {"REVERB_APP_PING_INTERVAL", "1.5", "REVERB_APP_PING_INTERVAL"},
        {"DOCSYNC_LOG_LEVEL", "verbose", "unknown log level"},
        {"REVERB_APP_RATE_LIMITING_ENABLED", "maybe", "true or false"},
        {"REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", "some", "members, all or none"},
        {"DOCSYNC_MAP_SIZE", "1000", "at least"},
        {"DOCSYNC_EVENT_LOOP", "epoll", "libev or poll"},
        {"DOCSYNC_CHANNEL_NAME_MAX", "99999999999999999999999", "DOCSYNC_CHANNEL_NAME_MAX"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_defaults(&c);
        err[0] = '\0';
        int rc = config_set(&c, bad[i].name, bad[i].value, err, sizeof err);
        if (rc != CONFIG_EINVAL || !strstr(err, bad[i].needle))
            fprintf(stderr, "%s=%s gave %d \"%s\"\n", bad[i].name, bad[i].value, rc, err);
        CHECK_EQ(rc, CONFIG_EINVAL);
        CHECK(strstr(err, bad[i].needle) != NULL);
    }
    config_defaults(&c);
    CHECK_EQ(config_set(&c, "REVERB_SERVER_PORT", "0", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 0);
    CHECK_EQ(config_set(&c, "REVERB_SERVER_PORT", "65535", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 65535);
    CHECK_EQ(config_set(&c, "REVERB_SERVER_PORT", "", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.port, 8080); /* empty = default */
    CHECK_EQ(config_set(&c, "UNKNOWN_SETTING", "whatever", err, sizeof err), CONFIG_OK);
    CHECK_EQ(config_set(&c, "REVERB_SERVER_PATH", "/", err, sizeof err), CONFIG_OK);
    CHECK_STR_EQ(c.path, "");
    CHECK_EQ(config_set(&c, "REVERB_SERVER_PATH", "ws", err, sizeof err), CONFIG_OK);
    CHECK_STR_EQ(c.path, "/ws");
    CHECK_EQ(config_set(&c, "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", "none", err, sizeof err),
             CONFIG_OK);
    CHECK_EQ(c.accept_client_events_from, CONFIG_CLIENT_EVENTS_NONE);

    /* through config_load: flags and env both give a message and an error */
    const char *env_ok[] = {"REVERB_APP_ID=1", "REVERB_APP_KEY=k", "REVERB_APP_SECRET=s", NULL};
    const char *f1[] = {"--port", "70000", NULL};
    CHECK_EQ(load(&c, f1, env_ok, err, sizeof err), CONFIG_EINVAL);
    CHECK(strstr(err, "--port") != NULL);
    const char *f2[] = {"--log-level", "loud", NULL};
    CHECK_EQ(load(&c, f2, env_ok, err, sizeof err), CONFIG_EINVAL);
    const char *f3[] = {"--bogus", "1", NULL};
    CHECK_EQ(load(&c, f3, env_ok, err, sizeof err), CONFIG_EFLAG);
    CHECK(strstr(err, "--bogus") != NULL);
    const char *f4[] = {"--port", NULL};
    CHECK_EQ(load(&c, f4, env_ok, err, sizeof err), CONFIG_EFLAG);
    const char *f5[] = {"stray", NULL};
    CHECK_EQ(load(&c, f5, env_ok, err, sizeof err), CONFIG_EFLAG);
    const char *env_bad[] = {"REVERB_APP_MAX_MESSAGE_SIZE=-1", NULL};
    CHECK_EQ(load(&c, NULL, env_bad, err, sizeof err), CONFIG_EINVAL);
    /* incomplete credentials */
    const char *env_partial[] = {"REVERB_APP_KEY=k", NULL};
    CHECK_EQ(load(&c, NULL, env_partial, err, sizeof err), CONFIG_EAPP);
    CHECK(strstr(err, "REVERB_APP_SECRET") != NULL);
}

static void test_help(void)
{
    struct config c;
    char err[256];
    const char *h1[] = {"--help", NULL};
    const char *h2[] = {"--port", "1", "-h", NULL};
    const char *h3[] = {"--bogus", "--help", NULL};
    CHECK_EQ(load(&c, h1, NULL, err, sizeof err), CONFIG_HELP);
    CHECK_EQ(load(&c, h2, NULL, err, sizeof err), CONFIG_HELP);
    CHECK_EQ(load(&c, h3, NULL, err, sizeof err), CONFIG_HELP);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_usage(f, "docsyncd");
    fclose(f);
    const char *must[] = {"--host",
                          "--port",
                          "--path",
                          "--data",
                          "--log-level",
                          "--env-file",
                          "--help",
                          "REVERB_SERVER_HOST",
                          "REVERB_SERVER_PORT",
                          "REVERB_SERVER_PATH",
                          "REVERB_APP_ID",
                          "REVERB_APP_KEY",
                          "REVERB_APP_SECRET",
                          "REVERB_MAX_REQUEST_SIZE",
                          "REVERB_APP_ALLOWED_ORIGINS",
                          "REVERB_APP_PING_INTERVAL",
                          "REVERB_APP_ACTIVITY_TIMEOUT",
                          "REVERB_APP_MAX_CONNECTIONS",
                          "REVERB_APP_MAX_MESSAGE_SIZE",
                          "REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM",
                          "REVERB_APP_RATE_LIMITING_ENABLED",
                          "REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS",
                          "REVERB_APP_RATE_LIMIT_DECAY_SECONDS",
                          "REVERB_APP_RATE_LIMIT_TERMINATE",
                          "DOCSYNC_CLIENT_EVENTS_PER_SECOND",
                          "DOCSYNC_TIMESTAMP_WINDOW",
                          "DOCSYNC_SWEEP_INTERVAL",
                          "DOCSYNC_PRESENCE_MAX_MEMBERS",
                          "DOCSYNC_PRESENCE_MAX_USER_INFO",
                          "DOCSYNC_PRESENCE_MAX_USER_ID",
                          "DOCSYNC_CHANNEL_NAME_MAX",
                          "DOCSYNC_SEND_QUEUE_MAX",
                          "DOCSYNC_SUBSCRIPTION_ERROR",
                          "DOCSYNC_DATA_DIR",
                          "DOCSYNC_LOG_LEVEL",
                          "DOCSYNC_MAP_SIZE",
                          "DOCSYNC_SNAPSHOT_EVERY",
                          "DOCSYNC_OPS_RETAIN",
                          "DOCSYNC_AUTH_RULES",
                          "DOCSYNC_DEMO",
                          "DOCSYNC_DEMO_ROOT",
                          "DOCSYNC_WASM",
                          "DOCSYNC_DEMO_BUNDLE",
                          "DOCSYNC_DOC_MAX_BYTES",
                          "DOCSYNC_BROADCAST_CONTENT_MAX",
                          "DOCSYNC_EVENT_LOOP",
                          "DOCSYNC_DEV_APP_PUBLIC",
                          "dev-app.env",
                          "\"8080\"",
                          "\"127.0.0.1\"",
                          "\"10000\"",
                          "\"members\""};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        if (!text || !strstr(text, must[i])) {
            fprintf(stderr, "--help lacks %s\n", must[i]);
            test_failures++;
        }
    }
    free(text);
}

static void test_dev_app(void)
{
    struct config c, c2;
    char err[512], data[512], data_arg[600], file[600];
    snprintf(data, sizeof data, "%s/nested/dev-data", tmpdir);
    snprintf(data_arg, sizeof data_arg, "DOCSYNC_DATA_DIR=%s", data);
    snprintf(file, sizeof file, "%s/dev-app.env", data);
    const char *env[] = {data_arg, "REVERB_APP_ID=", NULL}; /* empty = unset */
    CHECK_EQ(load(&c, NULL, env, err, sizeof err), CONFIG_OK);
    if (err[0])
        fprintf(stderr, "err: %s\n", err);
    CHECK_EQ(c.dev_app, 1);
    CHECK_EQ(strlen(c.app_key), 20);
    CHECK_EQ(strlen(c.app_secret), 40);
    CHECK_EQ(strlen(c.app_id), 6);
    CHECK_EQ(strspn(c.app_key, "0123456789abcdef"), 20);
    struct stat st;
    CHECK_EQ(stat(file, &st), 0);
    CHECK_EQ(st.st_mode & 0777, 0600);
    /* a restart keeps the credentials */
    CHECK_EQ(load(&c2, NULL, env, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c2.dev_app, 1);
    CHECK_STR_EQ(c2.app_id, c.app_id);
    CHECK_STR_EQ(c2.app_key, c.app_key);
    CHECK_STR_EQ(c2.app_secret, c.app_secret);
    /* a real app wins and the dev file is not used */
    const char *env2[] = {data_arg, "REVERB_APP_ID=9", "REVERB_APP_KEY=kk", "REVERB_APP_SECRET=ss",
                          NULL};
    CHECK_EQ(load(&c2, NULL, env2, err, sizeof err), CONFIG_OK);
    CHECK_EQ(c2.dev_app, 0);
    CHECK_STR_EQ(c2.app_key, "kk");
    /* deleting the file gives new credentials */
    unlink(file);
    CHECK_EQ(load(&c2, NULL, env, err, sizeof err), CONFIG_OK);
    CHECK(strcmp(c2.app_secret, c.app_secret) != 0);
    unlink(file);
    char nested[600];
    snprintf(nested, sizeof nested, "%s/nested", tmpdir);
    rmdir(data);
    rmdir(nested);
}

/* The development app only listens on loopback addresses unless
 * DOCSYNC_DEV_APP_PUBLIC says otherwise; a real app listens anywhere. */
static void test_dev_app_host(void)
{
    struct config c;
    char err[512], data[512], data_arg[600], file[600], host[300];
    snprintf(data, sizeof data, "%s/dev-host", tmpdir);
    snprintf(data_arg, sizeof data_arg, "DOCSYNC_DATA_DIR=%s", data);
    snprintf(file, sizeof file, "%s/dev-app.env", data);
    const char *outside[] = {"0.0.0.0",         "::",       "192.168.1.10", "example.com",
                             "::ffff:10.0.0.1", "128.0.0.1"};
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        snprintf(host, sizeof host, "REVERB_SERVER_HOST=%s", outside[i]);
        const char *env[] = {data_arg, host, NULL};
        CHECK_EQ(load(&c, NULL, env, err, sizeof err), CONFIG_OK);
        CHECK_EQ(c.dev_app, 1);
        CHECK_EQ(c.dev_app_public, 0);
        err[0] = '\0';
        CHECK_EQ(config_check_dev_app_host(&c, err, sizeof err), CONFIG_EINVAL);
        CHECK(strstr(err, "DOCSYNC_DEV_APP_PUBLIC=true") != NULL);
        CHECK(strstr(err, outside[i]) != NULL);
        CHECK(strstr(err, "development app") != NULL);
        /* the setting allows it */
        const char *env_pub[] = {data_arg, host, "DOCSYNC_DEV_APP_PUBLIC=true", NULL};
        CHECK_EQ(load(&c, NULL, env_pub, err, sizeof err), CONFIG_OK);
        CHECK_EQ(c.dev_app_public, 1);
        CHECK_EQ(config_check_dev_app_host(&c, err, sizeof err), CONFIG_OK);
        /* an app of one's own is not the development app */
        const char *env_app[] = {
            data_arg, host, "REVERB_APP_ID=1", "REVERB_APP_KEY=k", "REVERB_APP_SECRET=s", NULL};
        CHECK_EQ(load(&c, NULL, env_app, err, sizeof err), CONFIG_OK);
        CHECK_EQ(config_check_dev_app_host(&c, err, sizeof err), CONFIG_OK);
    }
    const char *loopback[] = {"127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
        snprintf(host, sizeof host, "REVERB_SERVER_HOST=%s", loopback[i]);
        const char *env[] = {data_arg, host, NULL};
        CHECK_EQ(load(&c, NULL, env, err, sizeof err), CONFIG_OK);
        CHECK_EQ(config_check_dev_app_host(&c, err, sizeof err), CONFIG_OK);
    }
    /* the flag overrides the environment, and a bad boolean names the setting */
    const char *env_pub[] = {data_arg, "DOCSYNC_DEV_APP_PUBLIC=maybe", NULL};
    CHECK_EQ(load(&c, NULL, env_pub, err, sizeof err), CONFIG_EINVAL);
    CHECK(strstr(err, "DOCSYNC_DEV_APP_PUBLIC") != NULL);
    const char *env_def[] = {data_arg, NULL};
    const char *flags[] = {"--host", "0.0.0.0", NULL};
    CHECK_EQ(load(&c, flags, env_def, err, sizeof err), CONFIG_OK);
    CHECK_EQ(config_check_dev_app_host(&c, err, sizeof err), CONFIG_EINVAL);
    unlink(file);
    rmdir(data);
}

static void test_origins(void)
{
    struct config c;
    config_defaults(&c);
    CHECK(origin_allowed(c.allowed_origins, NULL));
    CHECK(origin_allowed(c.allowed_origins, "http://evil.test"));
    strcpy(c.allowed_origins, "laravel.com");
    CHECK(origin_allowed(c.allowed_origins, "https://laravel.com:8443"));
    CHECK(origin_allowed(c.allowed_origins, "http://laravel.com"));
    CHECK(!origin_allowed(c.allowed_origins, "http://evil.test"));
    CHECK(!origin_allowed(c.allowed_origins, NULL));
    CHECK(!origin_allowed(c.allowed_origins, "https://laravel.com.evil.com"));
    CHECK(!origin_allowed(c.allowed_origins, "https://evil.com/laravel.com"));
    CHECK(!origin_allowed(c.allowed_origins, "https://laravel.com@evil.com"));
    CHECK(!origin_allowed(c.allowed_origins, "null"));
    strcpy(c.allowed_origins, " a.test , *.example.com ");
    CHECK(origin_allowed(c.allowed_origins, "https://app.example.com"));
    CHECK(origin_allowed(c.allowed_origins, "https://a.test"));
    CHECK(!origin_allowed(c.allowed_origins, "https://example.com"));
    CHECK(!origin_allowed(c.allowed_origins, "https://app.example.com.evil.org"));
    strcpy(c.allowed_origins, "localhost,*");
    CHECK(origin_allowed(c.allowed_origins, "http://anything"));
    strcpy(c.allowed_origins, "[::1]");
    CHECK(origin_allowed(c.allowed_origins, "http://[::1]:8080"));
}

/* TLS and hardening settings: defaults, the pairing of certificate and key,
 * the protocol versions accepted, the flags. */
static void test_tls_and_limits(void)
{
    struct config c;
    char err[512];
    config_defaults(&c);
    CHECK_STR_EQ(c.tls_cert, "");
    CHECK_STR_EQ(c.tls_key, "");
    CHECK_STR_EQ(c.tls_chain, "");
    CHECK_STR_EQ(c.tls_min_version, "1.2");
    CHECK_EQ(c.ip_max_connections, 1000);
    CHECK_EQ(c.ip_connections_per_second, 100);
    CHECK_EQ(c.ip_limit_loopback, 0);
    CHECK_EQ(c.api_requests_per_second, 1000);
    CHECK_EQ(c.drain_timeout, 10);

    const char *env_app[] = {"REVERB_APP_ID=1", "REVERB_APP_KEY=k", "REVERB_APP_SECRET=s",
                             "DOCSYNC_TLS_MIN_VERSION=1.3", NULL};
    const char *both[] = {"--tls-cert", "/c.pem", "--tls-key", "/k.pem", NULL};
    CHECK_EQ(load(&c, both, env_app, err, sizeof err), CONFIG_OK);
    CHECK_STR_EQ(c.tls_cert, "/c.pem");
    CHECK_STR_EQ(c.tls_key, "/k.pem");
    CHECK_STR_EQ(c.tls_min_version, "1.3");
    const char *cert_only[] = {"--tls-cert", "/c.pem", NULL};
    CHECK_EQ(load(&c, cert_only, env_app, err, sizeof err), CONFIG_EINVAL);
    CHECK(strstr(err, "DOCSYNC_TLS_CERT and DOCSYNC_TLS_KEY go together") != NULL);
    const char *key_only[] = {"--tls-key", "/k.pem", NULL};
    CHECK_EQ(load(&c, key_only, env_app, err, sizeof err), CONFIG_EINVAL);
    const char *env_v11[] = {"REVERB_APP_ID=1", "REVERB_APP_KEY=k", "REVERB_APP_SECRET=s",
                             "DOCSYNC_TLS_MIN_VERSION=1.1", NULL};
    CHECK_EQ(load(&c, NULL, env_v11, err, sizeof err), CONFIG_EINVAL);
    CHECK(strstr(err, "DOCSYNC_TLS_MIN_VERSION: expected 1.2 or 1.3, got \"1.1\"") != NULL);
    CHECK_EQ(config_set(&c, "DOCSYNC_IP_MAX_CONNECTIONS", "0", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.ip_max_connections, 0);
    CHECK_EQ(config_set(&c, "DOCSYNC_API_REQUESTS_PER_SECOND", "-5", err, sizeof err),
             CONFIG_EINVAL);
    CHECK_EQ(config_set(&c, "DOCSYNC_IP_LIMIT_LOOPBACK", "yes", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.ip_limit_loopback, 1);
}

/* The Laravel names the Redis broadcast input reads: REDIS_PREFIX unset is
 * not REDIS_PREFIX empty (Laravel's env() takes an empty value as given). */
static void test_laravel_redis(void)
{
    struct config c;
    char err[256];
    config_defaults(&c);
    CHECK_EQ(c.redis_broadcast, -1);
    CHECK_EQ(c.redis_prefix.set, 0);
    CHECK_STR_EQ(c.app_name, "laravel");
    const char *text = "BROADCAST_DRIVER=redis\nAPP_NAME=\"My App\"\nREDIS_PREFIX=\n";
    CHECK_EQ(config_apply_env_text(&c, text, strlen(text), "t.env", err, sizeof err), CONFIG_OK);
    CHECK_STR_EQ(c.broadcast_driver, "redis");
    CHECK_STR_EQ(c.app_name, "My App");
    CHECK_EQ(c.redis_prefix.set, 1);
    CHECK_STR_EQ(c.redis_prefix.value, "");
    CHECK_EQ(config_set(&c, "REDIS_PREFIX", "app:", err, sizeof err), CONFIG_OK);
    CHECK_STR_EQ(c.redis_prefix.value, "app:");
    char big[200];
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_EQ(config_set(&c, "REDIS_PREFIX", big, err, sizeof err), CONFIG_EINVAL);
    CHECK_EQ(config_set(&c, "DOCSYNC_REDIS_BROADCAST", "off", err, sizeof err), CONFIG_OK);
    CHECK_EQ(c.redis_broadcast, 0);
}

int main(void)
{
    char cwd[512];
    if (!getcwd(cwd, sizeof cwd))
        return 1;
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/docsync-test-config-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    test_defaults();
    test_precedence();
    test_env_syntax();
    test_validation();
    test_help();
    test_dev_app();
    test_dev_app_host();
    test_origins();
    test_tls_and_limits();
    test_laravel_redis();
    char data[600];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    rmdir(data);
    if (chdir(cwd) != 0 || rmdir(tmpdir) != 0)
        fprintf(stderr, "note: could not remove %s\n", tmpdir);
    return TEST_RESULT();
}
