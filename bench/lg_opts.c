/* lg_opts: the load generator's command line and descriptor limit (see lg_opts.h). */
#include "lg_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void lg_opts_fail(const char *msg)
{
    fprintf(stderr, "loadgen: %s\n", msg);
    printf("RESULT error=1\n");
    exit(2);
}

static void lg_opts_usage(void)
{
    fputs("usage: loadgen fanout|connect|whisper --port P[,P...] [options]\n"
          "       loadgen selftest   (signature vectors, histogram)\n"
          "  --host A         server address (127.0.0.1)\n"
          "  --app-id ID --key K --secret S   app credentials (env REVERB_APP_ID/KEY/SECRET)\n"
          "  --port P[,P...]  server port; several (cluster nodes): connection i goes to the\n"
          "                   (i mod count)-th\n"
          "  --pub-port P     port of the HTTP publishes (the first --port)\n"
          "  --pid PID[,PID...]  server processes to sample, summed (CPU from /proc/PID/stat,\n"
          "                   RSS from status)\n"
          "  -n N             fanout: subscribers; connect: connections; whisper: pairs (1000)\n"
          "  --rate R         fanout: events/s; whisper: total whispers/s; 0 = full rate (0)\n"
          "  --window W       full rate: undelivered events (fanout, default = publishers) /\n"
          "                   messages in flight per pair (whisper, default 1)\n"
          "  --warmup S --duration S   seconds (3, 10)\n"
          "  --hold S         connect: seconds to hold before reading RSS (3)\n"
          "  --src N          source addresses 127.0.0.1..127.0.0.N (auto: one per 20000)\n"
          "  --pending N      handshakes in flight (256)\n"
          "  --publishers N   HTTP keep-alive publisher connections (4)\n"
          "  --batch-us N     sleep so that epoll waits are >= N us apart while loaded (0)\n"
          "  --spin           busy-poll instead of sleeping in epoll_wait (diagnostic)\n"
          "  --channel NAME   fanout channel (bench)\n"
          "  --subscribe      connect: also subscribe connection i to channel <--channel>-i\n"
          "  --sio 3|4        speak Socket.IO over Engine.IO 3 or 4 on /socket.io/ (WebSocket\n"
          "                   transport, laravel-echo-server's subscribe event) instead of Pusher\n"
          "  --redis-port P   fanout: publish through Redis (PUBLISH <prefix><channel>, Laravel's\n"
          "                   redis broadcaster payload) instead of the HTTP API\n"
          "  --redis-prefix S the app's Redis prefix (\"\")\n"
          "  --event-log F    fanout: write one line per event measured to file F: its\n"
          "                   publish time (ms after the first), its deliveries, the latency\n"
          "                   of its first and of its last delivery (us)\n"
          "  --label TEXT     copied into the RESULT line\n"
          "  --timeout S      hard bound on the whole run (60)\n",
          stderr);
    exit(2);
}

void lg_opts_raise_nofile(unsigned need)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur >= need)
        return;
    rlim_t want = need;
    if (rl.rlim_max < want) {
        struct rlimit up = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return;
        want = rl.rlim_max;
    }
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need)
        fprintf(stderr,
                "loadgen: RLIMIT_NOFILE is %lu, %u needed; run as root or raise ulimit -n\n",
                (unsigned long)rl.rlim_cur, need);
}

int lg_parse_list(const char *v, int *out, unsigned max)
{
    unsigned n = 0;
    for (const char *p = v; *p;) {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p || x <= 0 || x > 1 << 22 || (*end && *end != ',') || n == max)
            return -1;
        out[n++] = (int)x;
        p = *end ? end + 1 : end;
    }
    return (int)n;
}

/* lg_parse_list for an option: exits with a message on a bad list. */
static unsigned parse_list(const char *v, int *out, unsigned max, const char *what)
{
    int n = lg_parse_list(v, out, max);
    if (n < 0) {
        fprintf(stderr, "loadgen: bad %s list '%s' (at most %u positive numbers)\n", what, v, max);
        lg_opts_fail("bad list");
    }
    return (unsigned)n;
}

void lg_opts_parse(struct lg_opts *o, int argc, char **argv)
{
    if (argc < 2)
        lg_opts_usage();
    if (strcmp(argv[1], "fanout") == 0)
        o->mode = MODE_FANOUT;
    else if (strcmp(argv[1], "connect") == 0)
        o->mode = MODE_CONNECT;
    else if (strcmp(argv[1], "whisper") == 0)
        o->mode = MODE_WHISPER;
    else
        lg_opts_usage();
    o->host = "127.0.0.1";
    o->app_id = getenv("REVERB_APP_ID") ? getenv("REVERB_APP_ID") : "bench";
    o->key = getenv("REVERB_APP_KEY") ? getenv("REVERB_APP_KEY") : "bench-key";
    o->secret = getenv("REVERB_APP_SECRET") ? getenv("REVERB_APP_SECRET") : "bench-secret";
    o->n = 1000;
    o->warmup = 3;
    o->duration = 10;
    o->hold = 3;
    o->timeout = 60;
    o->pending = 256;
    o->publishers = 4;
    o->channel = "bench";
    o->label = "-";
    o->redis_prefix = "";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(a, "--spin") == 0) {
            o->spin = 1;
            continue;
        }
        if (strcmp(a, "--subscribe") == 0) {
            o->subscribe_idle = 1;
            continue;
        }
        if (!v)
            lg_opts_usage();
        if (strcmp(a, "--host") == 0)
            o->host = v;
        else if (strcmp(a, "--port") == 0)
            o->nports = parse_list(v, o->ports, LG_MAX_PORTS, "--port");
        else if (strcmp(a, "--pub-port") == 0)
            o->pub_port = atoi(v);
        else if (strcmp(a, "--app-id") == 0)
            o->app_id = v;
        else if (strcmp(a, "--key") == 0)
            o->key = v;
        else if (strcmp(a, "--secret") == 0)
            o->secret = v;
        else if (strcmp(a, "--pid") == 0)
            o->npids = parse_list(v, o->pids, LG_MAX_PIDS, "--pid");
        else if (strcmp(a, "-n") == 0)
            o->n = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--rate") == 0)
            o->rate = atof(v);
        else if (strcmp(a, "--window") == 0)
            o->window = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--event-log") == 0)
            o->event_log = v;
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atof(v);
        else if (strcmp(a, "--duration") == 0)
            o->duration = atof(v);
        else if (strcmp(a, "--hold") == 0)
            o->hold = atof(v);
        else if (strcmp(a, "--src") == 0)
            o->src = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--pending") == 0)
            o->pending = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--publishers") == 0)
            o->publishers = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--batch-us") == 0)
            o->batch_us = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--channel") == 0)
            o->channel = v;
        else if (strcmp(a, "--sio") == 0)
            o->sio = atoi(v);
        else if (strcmp(a, "--redis-port") == 0)
            o->redis_port = atoi(v);
        else if (strcmp(a, "--redis-prefix") == 0)
            o->redis_prefix = v;
        else if (strcmp(a, "--label") == 0)
            o->label = v;
        else if (strcmp(a, "--timeout") == 0)
            o->timeout = atof(v);
        else
            lg_opts_usage();
        i += takes;
    }
    o->port = o->nports ? o->ports[0] : 0;
    o->pid = o->npids ? o->pids[0] : 0;
    if (!o->pub_port)
        o->pub_port = o->port;
    for (unsigned i = 0; i < o->nports; i++)
        if (o->ports[i] > 65535)
            lg_opts_usage();
    if (o->port <= 0 || o->pub_port <= 0 || o->pub_port > 65535)
        lg_opts_usage();
    if (o->n == 0)
        lg_opts_fail("-n must be positive");
    if (o->publishers == 0 || o->publishers > LG_MAX_PUB)
        lg_opts_fail("--publishers must be 1..16");
    if (o->sio != 0 && o->sio != 3 && o->sio != 4)
        lg_opts_fail("--sio must be 3 or 4");
    if (o->sio && o->mode == MODE_WHISPER)
        lg_opts_fail("--sio: fanout and connect only");
    if (o->redis_port < 0 || o->redis_port > 65535 || strlen(o->redis_prefix) > 100)
        lg_opts_fail("bad --redis-port or --redis-prefix");
    if (o->pending == 0)
        o->pending = 1;
    if (o->timeout > 300)
        o->timeout = 300; /* every run is bounded */
    if (strlen(o->channel) > 100 || strlen(o->key) > 100 || strlen(o->app_id) > 100)
        lg_opts_fail("names longer than 100 characters are not supported");
}
