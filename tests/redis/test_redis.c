/* redis/: URL parsing, and the client against a real redis-server started
 * here on a free port: commands and scripts answered on the "loop thread"
 * (this one, woken through a pipe as server_wake wakes the server),
 * pub/sub in publish order, a restart of redis-server seen as status 0 then
 * 1 with commands refused meanwhile, subscriptions restored after it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis/redis.h"
#include "test.h"

static int wake_pipe[2];

static void wake(void *ud)
{
    (void)ud;
    ssize_t n = write(wake_pipe[1], "x", 1);
    (void)n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the "loop" until *flag becomes want or timeout_ms passes. */
static int pump_until(struct redis *rd, const int *flag, int want, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (*flag != want && now_ms() < end) {
        struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            char buf[64];
            ssize_t n = read(wake_pipe[0], buf, sizeof buf);
            (void)n;
        }
        redis_dispatch(rd);
    }
    return *flag == want;
}

static unsigned free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    close(s);
    return ntohs(a.sin_port);
}

static pid_t start_redis(unsigned port)
{
    char ps[16];
    snprintf(ps, sizeof ps, "%u", port);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", ps, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_redis(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* ---- state the callbacks write ---- */
static int status_now = -1, status_changes;
static void on_status(void *ud, int up)
{
    (void)ud;
    status_now = up;
    status_changes++;
}

static int replies;
static char last_reply[256];
static int last_type;
static long long last_int;
static void on_reply(void *ud, const struct redis_reply *r)
{
    (void)ud;
    replies++;
    last_type = r ? r->type : -1;
    last_int = r ? r->integer : 0;
    snprintf(last_reply, sizeof last_reply, "%s", r && r->str ? r->str : "");
}

static int got;
static char msgs[64][32];
static char chans[64][32];
static void on_message(void *ud, const char *channel, size_t clen, const char *payload, size_t len)
{
    (void)ud;
    (void)clen;
    if (got < 64) {
        snprintf(msgs[got], sizeof msgs[got], "%.*s", (int)len, payload);
        snprintf(chans[got], sizeof chans[got], "%s", channel);
    }
    got++;
}

static void test_url(void)
{
    struct redis_opts o;
    char err[128];
    CHECK(redis_opts_from_url("redis://127.0.0.1:6380/2", &o, err, sizeof err) == 0);
    CHECK(strcmp(o.host, "127.0.0.1") == 0 && o.port == 6380 && o.db == 2);
    CHECK(o.username[0] == 0 && o.password[0] == 0);
    CHECK(redis_opts_from_url("redis://:s%40cret@example.org", &o, err, sizeof err) == 0);
    CHECK(strcmp(o.host, "example.org") == 0 && o.port == 6379 && o.db == 0);
    CHECK(strcmp(o.password, "s@cret") == 0 && o.username[0] == 0);
    CHECK(redis_opts_from_url("redis://app:pw@[::1]:7000/", &o, err, sizeof err) == 0);
    CHECK(strcmp(o.host, "::1") == 0 && o.port == 7000 && strcmp(o.username, "app") == 0 &&
          strcmp(o.password, "pw") == 0);
    CHECK(redis_opts_from_url("rediss://h", &o, err, sizeof err) == REDIS_EINVAL);
    CHECK(redis_opts_from_url("redis://h:99999", &o, err, sizeof err) == REDIS_EINVAL);
    CHECK(redis_opts_from_url("redis://h:", &o, err, sizeof err) == REDIS_EINVAL);
    CHECK(redis_opts_from_url("redis://h/x", &o, err, sizeof err) == REDIS_EINVAL);
    /* The reason never repeats the password. */
    CHECK(redis_opts_from_url("redis://:topsecret%zz@h", &o, err, sizeof err) == REDIS_EINVAL);
    CHECK(strstr(err, "topsecret") == NULL);
}

static void test_live(void)
{
    unsigned port = free_port();
    pid_t pid = start_redis(port);
    struct logger lg;
    log_init(&lg, LOG_LEVEL_WARN, NULL);
    struct redis_opts o = {.port = port};
    strcpy(o.host, "127.0.0.1");
    struct redis *rd = redis_new(&o, &lg, wake, NULL);
    CHECK(rd != NULL);
    CHECK(redis_on_status(rd, on_status, NULL) == 0);
    CHECK(redis_subscribe(rd, "t.one", 0, on_message, NULL) == 0);
    CHECK(redis_subscribe(rd, "p.*", 1, on_message, NULL) == 0);
    const char *set[] = {"SET", "k", "v"};
    CHECK(redis_command(rd, on_reply, NULL, 3, set, NULL) == REDIS_EDOWN); /* not started */
    CHECK(redis_start(rd) == 0);
    CHECK(pump_until(rd, &status_now, 1, 10000));
    CHECK(redis_connected(rd) == 1);

    CHECK(redis_command(rd, on_reply, NULL, 3, set, NULL) == 0);
    CHECK(pump_until(rd, &replies, 1, 5000));
    CHECK(last_type == REDIS_R_STATUS && strcmp(last_reply, "OK") == 0);
    const char *eval[] = {"EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", "n", "5"};
    CHECK(redis_command(rd, on_reply, NULL, 5, eval, NULL) == 0);
    CHECK(pump_until(rd, &replies, 2, 5000));
    CHECK(last_type == REDIS_R_INTEGER && last_int == 5);
    const char *bad[] = {"NOSUCHCOMMAND"};
    CHECK(redis_command(rd, on_reply, NULL, 1, bad, NULL) == 0);
    CHECK(pump_until(rd, &replies, 3, 5000));
    CHECK(last_type == REDIS_R_ERROR);

    /* Publish order is delivery order; patterns and plain channels alike;
     * binary payloads pass whole. */
    for (int i = 0; i < 20; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        CHECK(redis_publish(rd, i % 2 ? "t.one" : "p.two", p, strlen(p)) == 0);
    }
    CHECK(pump_until(rd, &got, 20, 5000));
    for (int i = 0; i < 20; i++) {
        char p[16];
        snprintf(p, sizeof p, "m%d", i);
        CHECK(strcmp(msgs[i], p) == 0);
        CHECK(strcmp(chans[i], i % 2 ? "t.one" : "p.two") == 0);
    }

    /* A subscription added while connected takes effect. */
    CHECK(redis_subscribe(rd, "late", 0, on_message, NULL) == 0);
    int64_t end = now_ms() + 5000;
    while (got < 21 && now_ms() < end) {
        redis_publish(rd, "late", "L", 1);
        int g = got + 1;
        pump_until(rd, &got, g, 200);
    }
    CHECK(got >= 21 && strcmp(chans[20], "late") == 0);

    /* redis-server dies: status 0, commands refused, then it comes back on
     * the same port and the client reconnects and subscribes again. */
    stop_redis(pid);
    CHECK(pump_until(rd, &status_now, 0, 10000));
    CHECK(redis_connected(rd) == 0);
    CHECK(redis_command(rd, on_reply, NULL, 3, set, NULL) == REDIS_EDOWN);
    pid = start_redis(port);
    CHECK(pump_until(rd, &status_now, 1, 15000));
    int before = got;
    end = now_ms() + 5000;
    while (got == before && now_ms() < end) {
        redis_publish(rd, "t.one", "again", 5);
        pump_until(rd, &got, before + 1, 200);
    }
    CHECK(got > before && strcmp(msgs[before], "again") == 0);
    struct redis_stats st;
    redis_get_stats(rd, &st);
    CHECK(st.connected == 1 && st.connects == 2 && st.failures >= 1 && st.refused >= 2);

    /* A command in flight at stop is answered NULL. */
    int r0 = replies;
    const char *blpop[] = {"BLPOP", "nothing", "5"};
    CHECK(redis_command(rd, on_reply, NULL, 3, blpop, NULL) == 0);
    usleep(100000);
    redis_stop(rd);
    CHECK(replies == r0 + 1 && last_type == -1);
    redis_free(rd);
    stop_redis(pid);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    CHECK(pipe(wake_pipe) == 0);
    fcntl(wake_pipe[0], F_SETFL, O_NONBLOCK);
    test_url();
    test_live();
    return TEST_RESULT();
}
