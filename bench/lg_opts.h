/* lg_opts: command line of the load generator (see usage in lg_opts.c). */
#ifndef LG_OPTS_H
#define LG_OPTS_H

/* Most HTTP publisher connections. */
#define LG_MAX_PUB 16
/* Most servers (cluster nodes) to spread connections over, and processes to sample. */
#define LG_MAX_PORTS 8
#define LG_MAX_PIDS 8

enum lg_mode { MODE_FANOUT, MODE_CONNECT, MODE_WHISPER };

struct lg_opts {
    enum lg_mode mode;
    const char *host;
    int port;                /* the first of ports[] */
    int ports[LG_MAX_PORTS]; /* connection i goes to ports[i % nports] */
    unsigned nports;
    int pub_port; /* HTTP publishes (default: the first port) */
    const char *app_id, *key, *secret;
    int pid;               /* the first of pids[] */
    int pids[LG_MAX_PIDS]; /* server processes whose CPU and RSS are summed */
    unsigned npids;
    unsigned n;      /* subscribers, connections, or pairs */
    double rate;     /* events (fanout) or whispers (whisper) per second; 0 = full rate */
    unsigned window; /* fanout: undelivered events; whisper: messages in flight per pair */
    double warmup, duration, hold, timeout;
    unsigned src;     /* source addresses 127.0.0.1 .. 127.0.0.src */
    unsigned pending; /* handshakes in flight */
    unsigned publishers;
    unsigned batch_us; /* full rate: let frames accumulate this long between epoll waits */
    int spin;          /* busy-poll epoll (diagnostic: removes the server's wake-up cost) */
    const char *channel;
    const char *label;
    int subscribe_idle; /* connect mode: subscribe each connection to --channel */
    int sio;            /* 0 = Pusher protocol; 3 or 4 = Socket.IO over Engine.IO 3 / 4 (WS) */
    int redis_port;     /* fanout: publish with PUBLISH on this Redis (--host) instead of HTTP */
    const char *redis_prefix; /* prepended to the channel for the Redis channel ("") */
    const char *event_log;    /* fanout: one line per measured event into this file (NULL) */
};

/* A comma-separated list of up to max positive integers (at most 2^22: ports and pids) into
 * out[]; returns the count, or -1 for an empty, malformed or longer list. */
int lg_parse_list(const char *v, int *out, unsigned max);

/* Parse argv into *o (defaults for everything not given); prints usage and exits on errors. */
void lg_opts_parse(struct lg_opts *o, int argc, char **argv);

/* Raise RLIMIT_NOFILE to at least need descriptors (the hard limit too when privileged); warns
 * on stderr when that is impossible. */
void lg_opts_raise_nofile(unsigned need);

#endif
