/* redis: hiredis's async API on a libev loop of its own thread, results
 * handed to the loop thread through a queue (see redis.h). */
#include "redis.h"

#include "common/hex.h"

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/adapters/libev.h>

#define REDIS_MAX_STATUS 8
#define REDIS_BACKOFF_MIN_MS 100u
#define REDIS_BACKOFF_MAX_MS 5000u
#define REDIS_MAX_QUEUED 100000u                    /* commands waiting or in flight */
#define REDIS_MAX_INBOX_BYTES (64u * 1024u * 1024u) /* messages not dispatched yet */

/* A channel or pattern to (re)subscribe to. The list only grows; `sent` is
 * the Redis thread's. */
struct redis_sub {
    struct redis_sub *next;
    struct redis *rd;
    char *name;
    int pattern;
    int sent;
    redis_message_fn fn;
    void *ud;
};

/* A command queued by the loop thread, formatted there. */
struct redis_req {
    struct redis_req *next;
    struct redis *rd;
    redis_reply_fn fn;
    void *ud;
    char *cmd;
    int len;
};

/* What the Redis thread hands to the loop thread. */
enum redis_item_kind { ITEM_REPLY, ITEM_MESSAGE, ITEM_STATUS };
struct redis_item {
    struct redis_item *next;
    enum redis_item_kind kind;
    redis_reply_fn fn; /* REPLY */
    void *ud;
    struct redis_reply *reply; /* REPLY; NULL = lost */
    struct redis_sub *sub;     /* MESSAGE */
    char *chan, *payload;      /* MESSAGE */
    size_t clen, plen;
    int status; /* STATUS */
};

struct redis_status_cb {
    redis_status_fn fn;
    void *ud;
};

struct redis {
    struct redis_opts o;
    const struct logger *log;
    void (*wake)(void *ud);
    void *wake_ud;
    pthread_t th;
    int started;

    /* Redis thread */
    struct ev_loop *loop;
    ev_async async;
    ev_timer retry;
    redisAsyncContext *cmd, *sub;
    int cmd_ready, sub_ready, reported_up, closing;
    unsigned fail_streak; /* failures since the last connection */
    unsigned backoff_ms;

    /* shared, under mu */
    pthread_mutex_t mu;
    struct redis_req *rq_head, *rq_tail;
    struct redis_sub *subs, *subs_tail;
    struct redis_item *out_head, *out_tail;
    size_t out_bytes;
    size_t queued; /* commands queued or in flight */
    int stop;

    atomic_int up; /* the Redis thread's view, read by redis_command */
    atomic_uint_fast64_t connects, failures, dropped, in_flight;

    /* loop thread */
    struct redis_status_cb status[REDIS_MAX_STATUS];
    size_t nstatus;
    int connected; /* as last dispatched */
    uint64_t commands, refused, messages;
};

/* ---- URL ---------------------------------------------------------------- */

/* Percent-decodes s[0..n) into dst (cap bytes with the NUL). */
static int redis_decode(const char *s, size_t n, char *dst, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (k + 1 >= cap || c == '\0')
            return -1;
        dst[k++] = c;
    }
    dst[k] = '\0';
    return 0;
}

static int redis_url_fail(char *err, size_t errlen, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "REDIS_URL: %s", why);
    return REDIS_EINVAL;
}

int redis_opts_from_url(const char *url, struct redis_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    o->port = 6379;
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return redis_url_fail(err, errlen, "must start with redis:// (TLS is not supported)");
    p += 8;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *uend = colon ? colon : at;
        if (redis_decode(p, (size_t)(uend - p), o->username, sizeof o->username) != 0)
            return redis_url_fail(err, errlen, "bad user name");
        if (colon &&
            redis_decode(colon + 1, (size_t)(at - colon - 1), o->password, sizeof o->password) != 0)
            return redis_url_fail(err, errlen, "bad password encoding");
        p = at + 1;
    }
    const char *hend = end;
    const char *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (!rb)
            return redis_url_fail(err, errlen, "bad IPv6 host");
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < end && !colon)
            return redis_url_fail(err, errlen, "bad host");
        size_t hl = (size_t)(rb - p - 1);
        if (hl == 0 || hl >= sizeof o->host)
            return redis_url_fail(err, errlen, "bad host");
        memcpy(o->host, p + 1, hl);
        o->host[hl] = '\0';
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        hend = colon ? colon : end;
        size_t hl = (size_t)(hend - p);
        if (hl >= sizeof o->host)
            return redis_url_fail(err, errlen, "host too long");
        memcpy(o->host, p, hl);
        o->host[hl] = '\0';
        if (hl == 0)
            strcpy(o->host, "127.0.0.1");
    }
    if (colon) {
        unsigned long v = 0;
        const char *q = colon + 1;
        if (q == end)
            return redis_url_fail(err, errlen, "bad port");
        for (; q < end; q++) {
            if (*q < '0' || *q > '9' || (v = v * 10 + (unsigned)(*q - '0')) > 65535)
                return redis_url_fail(err, errlen, "bad port");
        }
        if (v == 0)
            return redis_url_fail(err, errlen, "bad port");
        o->port = (unsigned)v;
    }
    if (*end == '/' && end[1] && end[1] != '?' && end[1] != '#') {
        unsigned long v = 0;
        const char *q = end + 1;
        for (; *q && *q != '?' && *q != '#'; q++) {
            if (*q < '0' || *q > '9' || (v = v * 10 + (unsigned)(*q - '0')) > 100000)
                return redis_url_fail(err, errlen, "bad database number");
        }
        o->db = (unsigned)v;
    }
    return 0;
}

int redis_opts_from_settings(const char *url, const char *host, unsigned port, const char *user,
                             const char *password, unsigned db, struct redis_opts *o, char *err,
                             size_t errlen)
{
    if (url[0])
        return redis_opts_from_url(url, o, err, errlen);
    memset(o, 0, sizeof *o);
    if (strlen(host) >= sizeof o->host || strlen(user) >= sizeof o->username ||
        strlen(password) >= sizeof o->password) {
        snprintf(err, errlen, "REDIS_HOST, REDIS_USERNAME or REDIS_PASSWORD too long");
        return REDIS_EINVAL;
    }
    strcpy(o->host, host);
    strcpy(o->username, user);
    strcpy(o->password, password);
    o->port = port;
    o->db = db;
    return 0;
}

/* ---- replies ------------------------------------------------------------ */

static void redis_reply_free(struct redis_reply *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        redis_reply_free(r->elem[i]);
    free(r->elem);
    free(r->str);
    free(r);
}

/* A copy of hiredis's reply (hiredis frees its own after the callback). */
static struct redis_reply *redis_reply_copy(const redisReply *h, size_t *bytes)
{
    struct redis_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->type = h->type;
    r->integer = h->integer;
    *bytes += sizeof *r;
    if (h->type == REDIS_REPLY_STRING || h->type == REDIS_REPLY_STATUS ||
        h->type == REDIS_REPLY_ERROR) {
        r->str = malloc(h->len + 1);
        if (!r->str)
            goto fail;
        memcpy(r->str, h->str, h->len);
        r->str[h->len] = '\0';
        r->len = h->len;
        *bytes += h->len;
    } else if (h->type == REDIS_REPLY_ARRAY && h->elements) {
        r->elem = calloc(h->elements, sizeof *r->elem);
        if (!r->elem)
            goto fail;
        for (size_t i = 0; i < h->elements; i++) {
            r->elem[i] = redis_reply_copy(h->element[i], bytes);
            if (!r->elem[i])
                goto fail;
            r->n = i + 1;
        }
    }
    return r;
fail:
    redis_reply_free(r);
    return NULL;
}

/* ---- the queue to the loop thread -------------------------------------- */

/* Appends `it` (Redis thread) and wakes the loop when the queue was empty:
 * the loop takes the whole queue at once, so one wake covers the rest. */
static void redis_hand(struct redis *rd, struct redis_item *it, size_t bytes)
{
    pthread_mutex_lock(&rd->mu);
    int was_empty = rd->out_head == NULL;
    if (rd->out_tail)
        rd->out_tail->next = it;
    else
        rd->out_head = it;
    rd->out_tail = it;
    rd->out_bytes += bytes;
    pthread_mutex_unlock(&rd->mu);
    if (was_empty && rd->wake)
        rd->wake(rd->wake_ud);
}

static void redis_hand_reply(struct redis *rd, redis_reply_fn fn, void *ud,
                             struct redis_reply *reply)
{
    struct redis_item *it = calloc(1, sizeof *it);
    if (!it) {
        /* Out of memory: the callback cannot be told; it is lost, as the
         * reply would be with the connection. */
        redis_reply_free(reply);
        return;
    }
    it->kind = ITEM_REPLY;
    it->fn = fn;
    it->ud = ud;
    it->reply = reply;
    redis_hand(rd, it, 0);
}

static void redis_hand_status(struct redis *rd, int up)
{
    struct redis_item *it = calloc(1, sizeof *it);
    if (!it)
        return;
    it->kind = ITEM_STATUS;
    it->status = up;
    redis_hand(rd, it, 0);
}

/* ---- the Redis thread: connections ------------------------------------- */

static void redis_connect(struct redis *rd);

static void redis_report(struct redis *rd)
{
    int up = rd->cmd_ready && rd->sub_ready;
    if (up == rd->reported_up)
        return;
    rd->reported_up = up;
    atomic_store(&rd->up, up);
    if (up) {
        atomic_fetch_add(&rd->connects, 1);
        rd->backoff_ms = REDIS_BACKOFF_MIN_MS;
        rd->fail_streak = 0;
        log_info(rd->log, "redis: connected to %s:%u", rd->o.host, rd->o.port);
    }
    redis_hand_status(rd, up);
}

/* Closes both connections (their pending callbacks are answered NULL by
 * hiredis) and schedules a reconnection unless stopping. */
static void redis_lost(struct redis *rd, const char *why)
{
    if (rd->closing)
        return;
    rd->closing = 1;
    /* One warning when a link is lost or the first attempt fails; the
     * retries that follow are debug lines. */
    if (rd->reported_up || rd->fail_streak++ == 0)
        log_warn(rd->log, "redis: %s:%u: %s; retrying with backoff", rd->o.host, rd->o.port, why);
    else
        log_debug(rd->log, "redis: %s:%u: %s; retrying in %u ms", rd->o.host, rd->o.port, why,
                  rd->backoff_ms);
    atomic_fetch_add(&rd->failures, 1);
    rd->cmd_ready = rd->sub_ready = 0;
    redis_report(rd);
    redisAsyncContext *a = rd->cmd, *b = rd->sub;
    rd->cmd = rd->sub = NULL;
    if (a)
        redisAsyncFree(a);
    if (b)
        redisAsyncFree(b);
    rd->closing = 0;
    int stop;
    pthread_mutex_lock(&rd->mu);
    stop = rd->stop;
    pthread_mutex_unlock(&rd->mu);
    if (!stop && !ev_is_active(&rd->retry)) {
        ev_timer_set(&rd->retry, rd->backoff_ms / 1000.0, 0.);
        ev_timer_start(rd->loop, &rd->retry);
        rd->backoff_ms =
            rd->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : rd->backoff_ms * 2;
    }
}

static struct redis *redis_of(const redisAsyncContext *ac)
{
    return ac->data;
}

/* hiredis frees a context after its disconnect (or failed connect)
 * callback: forget it first. */
static void redis_forget(struct redis *rd, const redisAsyncContext *ac)
{
    if (rd->cmd == ac)
        rd->cmd = NULL;
    if (rd->sub == ac)
        rd->sub = NULL;
}

static void redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis *rd = redis_of(ac);
    if (status != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect (%s)", ac->errstr);
        redis_forget(rd, ac);
        redis_lost(rd, why);
        return;
    }
    if (ac == rd->sub) {
        rd->sub_ready = 1;
        redis_report(rd);
    }
}

static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis *rd = redis_of(ac);
    (void)status;
    int ours = rd->cmd == ac || rd->sub == ac;
    redis_forget(rd, ac);
    if (ours)
        redis_lost(rd, ac->err ? ac->errstr : "connection closed");
}

/* AUTH / SELECT answers on either connection: an error is a configuration
 * problem, logged (without the password) and retried like a lost link. */
static void redis_on_setup(redisAsyncContext *ac, void *r, void *priv)
{
    struct redis *rd = redis_of(ac);
    const redisReply *rep = r;
    const char *what = priv;
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "%s refused: %.120s", what, rep->str);
        if (rd->cmd == ac || rd->sub == ac)
            redisAsyncDisconnect(ac);
        log_error(rd->log, "redis: %s", why);
    }
}

/* PING on the command connection after AUTH and SELECT: ready. */
static void redis_on_ping(redisAsyncContext *ac, void *r, void *priv)
{
    struct redis *rd = redis_of(ac);
    const redisReply *rep = r;
    (void)priv;
    if (rep && rep->type == REDIS_REPLY_STATUS && rd->cmd == ac) {
        rd->cmd_ready = 1;
        redis_report(rd);
    }
}

static void redis_auth(struct redis *rd, redisAsyncContext *ac)
{
    if (rd->o.password[0]) {
        if (rd->o.username[0])
            redisAsyncCommand(ac, redis_on_setup, "AUTH", "AUTH %s %s", rd->o.username,
                              rd->o.password);
        else
            redisAsyncCommand(ac, redis_on_setup, "AUTH", "AUTH %s", rd->o.password);
    }
}

static void redis_on_message(redisAsyncContext *ac, void *r, void *priv);

/* Sends SUBSCRIBE / PSUBSCRIBE for every entry not sent on this connection. */
static void redis_send_subs(struct redis *rd)
{
    if (!rd->sub)
        return;
    pthread_mutex_lock(&rd->mu);
    for (struct redis_sub *s = rd->subs; s; s = s->next) {
        if (s->sent)
            continue;
        s->sent = 1;
        redisAsyncCommand(rd->sub, redis_on_message, s,
                          s->pattern ? "PSUBSCRIBE %s" : "SUBSCRIBE %s", s->name);
    }
    pthread_mutex_unlock(&rd->mu);
}

static redisAsyncContext *redis_open(struct redis *rd)
{
    redisAsyncContext *ac = redisAsyncConnect(rd->o.host, (int)rd->o.port);
    if (!ac)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = rd;
    redisLibevAttach(rd->loop, ac);
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
    return ac;
}

static void redis_connect(struct redis *rd)
{
    rd->cmd = redis_open(rd);
    rd->sub = rd->cmd ? redis_open(rd) : NULL;
    if (!rd->cmd || !rd->sub) {
        redis_lost(rd, "cannot connect");
        return;
    }
    redis_auth(rd, rd->cmd);
    if (rd->o.db)
        redisAsyncCommand(rd->cmd, redis_on_setup, "SELECT", "SELECT %u", rd->o.db);
    redisAsyncCommand(rd->cmd, redis_on_ping, NULL, "PING");
    redis_auth(rd, rd->sub);
    pthread_mutex_lock(&rd->mu);
    for (struct redis_sub *s = rd->subs; s; s = s->next)
        s->sent = 0;
    pthread_mutex_unlock(&rd->mu);
    redis_send_subs(rd);
}

static void redis_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct redis *rd = (struct redis *)((char *)w - offsetof(struct redis, retry));
    if (!rd->cmd && !rd->sub)
        redis_connect(rd);
}

/* ---- the Redis thread: traffic ------------------------------------------ */

static void redis_on_message(redisAsyncContext *ac, void *r, void *priv)
{
    struct redis *rd = redis_of(ac);
    const redisReply *rep = r;
    struct redis_sub *s = priv;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3)
        return;
    const redisReply *kind = rep->element[0];
    const redisReply *ch, *pl;
    if (kind->type == REDIS_REPLY_STRING && kind->len == 7 &&
        memcmp(kind->str, "message", 7) == 0 && rep->elements == 3) {
        ch = rep->element[1];
        pl = rep->element[2];
    } else if (kind->type == REDIS_REPLY_STRING && kind->len == 8 &&
               memcmp(kind->str, "pmessage", 8) == 0 && rep->elements == 4) {
        ch = rep->element[2];
        pl = rep->element[3];
    } else {
        return; /* subscribe confirmations */
    }
    if (ch->type != REDIS_REPLY_STRING || pl->type != REDIS_REPLY_STRING)
        return;
    size_t bytes = ch->len + pl->len + sizeof(struct redis_item);
    pthread_mutex_lock(&rd->mu);
    int over = rd->out_bytes + bytes > REDIS_MAX_INBOX_BYTES;
    pthread_mutex_unlock(&rd->mu);
    struct redis_item *it = over ? NULL : calloc(1, sizeof *it);
    char *c = it ? malloc(ch->len + 1) : NULL;
    char *p = c ? malloc(pl->len + 1) : NULL;
    if (!p) {
        free(c);
        free(it);
        atomic_fetch_add(&rd->dropped, 1);
        return;
    }
    memcpy(c, ch->str, ch->len);
    c[ch->len] = '\0';
    memcpy(p, pl->str, pl->len);
    p[pl->len] = '\0';
    it->kind = ITEM_MESSAGE;
    it->sub = s;
    it->chan = c;
    it->clen = ch->len;
    it->payload = p;
    it->plen = pl->len;
    redis_hand(rd, it, bytes);
}

/* Hands a command's reply (NULL: lost or never sent) to the loop thread. */
static void redis_answer(struct redis *rd, struct redis_req *q, const redisReply *r)
{
    atomic_fetch_sub(&rd->in_flight, 1);
    pthread_mutex_lock(&rd->mu);
    rd->queued--;
    pthread_mutex_unlock(&rd->mu);
    if (q->fn) {
        size_t bytes = 0;
        struct redis_reply *copy = r ? redis_reply_copy(r, &bytes) : NULL;
        redis_hand_reply(rd, q->fn, q->ud, copy);
    }
    free(q->cmd);
    free(q);
}

static void redis_on_reply(redisAsyncContext *ac, void *r, void *priv)
{
    redis_answer(redis_of(ac), priv, r);
}

/* The loop thread queued commands, subscriptions or the stop. */
static void redis_on_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)revents;
    struct redis *rd = (struct redis *)((char *)w - offsetof(struct redis, async));
    pthread_mutex_lock(&rd->mu);
    struct redis_req *q = rd->rq_head;
    rd->rq_head = rd->rq_tail = NULL;
    int stop = rd->stop;
    pthread_mutex_unlock(&rd->mu);
    while (q) {
        struct redis_req *next = q->next;
        if (rd->cmd && rd->cmd_ready && !stop) {
            atomic_fetch_add(&rd->in_flight, 1);
            redisAsyncFormattedCommand(rd->cmd, redis_on_reply, q, q->cmd, (size_t)q->len);
            free(q->cmd);
            q->cmd = NULL;
        } else {
            atomic_fetch_add(&rd->in_flight, 1); /* redis_answer takes it back */
            redis_answer(rd, q, NULL);
        }
        q = next;
    }
    if (stop) {
        ev_timer_stop(loop, &rd->retry);
        rd->closing = 1;
        redisAsyncContext *a = rd->cmd, *b = rd->sub;
        rd->cmd = rd->sub = NULL;
        if (a)
            redisAsyncFree(a);
        if (b)
            redisAsyncFree(b);
        ev_async_stop(loop, &rd->async);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    redis_send_subs(rd);
}

static void *redis_thread(void *arg)
{
    struct redis *rd = arg;
    redis_connect(rd);
    ev_run(rd->loop, 0);
    return NULL;
}

/* ---- the loop thread ---------------------------------------------------- */

struct redis *redis_new(const struct redis_opts *o, const struct logger *log,
                        void (*wake)(void *ud), void *wake_ud)
{
    struct redis *rd = calloc(1, sizeof *rd);
    if (!rd)
        return NULL;
    rd->o = *o;
    rd->log = log;
    rd->wake = wake;
    rd->wake_ud = wake_ud;
    rd->backoff_ms = REDIS_BACKOFF_MIN_MS;
    pthread_mutex_init(&rd->mu, NULL);
    return rd;
}

int redis_subscribe(struct redis *rd, const char *name, int pattern, redis_message_fn fn, void *ud)
{
    if (!rd || !name || !*name || !fn)
        return REDIS_EINVAL;
    struct redis_sub *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return REDIS_ENOMEM;
    }
    s->rd = rd;
    s->pattern = pattern ? 1 : 0;
    s->fn = fn;
    s->ud = ud;
    pthread_mutex_lock(&rd->mu);
    if (rd->subs_tail)
        rd->subs_tail->next = s;
    else
        rd->subs = s;
    rd->subs_tail = s;
    pthread_mutex_unlock(&rd->mu);
    if (rd->started)
        ev_async_send(rd->loop, &rd->async);
    return 0;
}

int redis_on_status(struct redis *rd, redis_status_fn fn, void *ud)
{
    if (!fn)
        return REDIS_EINVAL;
    if (rd->nstatus >= REDIS_MAX_STATUS)
        return REDIS_EFULL;
    rd->status[rd->nstatus++] = (struct redis_status_cb){fn, ud};
    return 0;
}

int redis_start(struct redis *rd)
{
    rd->loop = ev_loop_new(EVFLAG_AUTO);
    if (!rd->loop)
        return REDIS_ENOMEM;
    ev_async_init(&rd->async, redis_on_async);
    ev_async_start(rd->loop, &rd->async);
    ev_timer_init(&rd->retry, redis_on_retry, 0., 0.);
    if (pthread_create(&rd->th, NULL, redis_thread, rd) != 0) {
        ev_loop_destroy(rd->loop);
        rd->loop = NULL;
        return REDIS_ENOMEM;
    }
    rd->started = 1;
    log_info(rd->log, "redis: connecting to %s:%u%s", rd->o.host, rd->o.port,
             rd->o.password[0] ? " (with AUTH)" : "");
    return 0;
}

int redis_command(struct redis *rd, redis_reply_fn fn, void *ud, int argc, const char **argv,
                  const size_t *lens)
{
    if (!rd || argc < 1 || !argv)
        return REDIS_EINVAL;
    if (!rd->started || !atomic_load(&rd->up)) {
        rd->refused++;
        return REDIS_EDOWN;
    }
    struct redis_req *q = calloc(1, sizeof *q);
    if (!q)
        return REDIS_ENOMEM;
    q->rd = rd;
    q->fn = fn;
    q->ud = ud;
    q->len = redisFormatCommandArgv(&q->cmd, argc, argv, lens);
    if (q->len < 0 || !q->cmd) {
        free(q);
        return REDIS_ENOMEM;
    }
    pthread_mutex_lock(&rd->mu);
    if (rd->queued >= REDIS_MAX_QUEUED) {
        pthread_mutex_unlock(&rd->mu);
        free(q->cmd);
        free(q);
        rd->refused++;
        return REDIS_EFULL;
    }
    rd->queued++;
    int was_empty = rd->rq_head == NULL;
    if (rd->rq_tail)
        rd->rq_tail->next = q;
    else
        rd->rq_head = q;
    rd->rq_tail = q;
    pthread_mutex_unlock(&rd->mu);
    rd->commands++;
    if (was_empty)
        ev_async_send(rd->loop, &rd->async);
    return 0;
}

int redis_publish(struct redis *rd, const char *channel, const char *payload, size_t len)
{
    const char *argv[3] = {"PUBLISH", channel, payload};
    size_t lens[3] = {7, strlen(channel), len};
    return redis_command(rd, NULL, NULL, 3, argv, lens);
}

static void redis_run_item(struct redis *rd, struct redis_item *it)
{
    switch (it->kind) {
    case ITEM_REPLY:
        if (it->fn)
            it->fn(it->ud, it->reply);
        break;
    case ITEM_MESSAGE:
        rd->messages++;
        it->sub->fn(it->sub->ud, it->chan, it->clen, it->payload, it->plen);
        break;
    case ITEM_STATUS:
        if (it->status != rd->connected) {
            rd->connected = it->status;
            for (size_t i = 0; i < rd->nstatus; i++)
                rd->status[i].fn(rd->status[i].ud, it->status);
        }
        break;
    }
}

static void redis_item_free(struct redis_item *it)
{
    redis_reply_free(it->reply);
    free(it->chan);
    free(it->payload);
    free(it);
}

void redis_dispatch_until(struct redis *rd, const volatile int *done, unsigned ms)
{
    for (unsigned waited = 0; rd && !*done && waited < ms; waited += 5) {
        usleep(5000);
        redis_dispatch(rd);
    }
}

void redis_dispatch(struct redis *rd)
{
    if (!rd)
        return;
    pthread_mutex_lock(&rd->mu);
    struct redis_item *it = rd->out_head;
    rd->out_head = rd->out_tail = NULL;
    rd->out_bytes = 0;
    pthread_mutex_unlock(&rd->mu);
    while (it) {
        struct redis_item *next = it->next;
        redis_run_item(rd, it);
        redis_item_free(it);
        it = next;
    }
}

int redis_connected(const struct redis *rd)
{
    return rd && rd->connected;
}

void redis_get_stats(const struct redis *rd, struct redis_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!rd)
        return;
    st->connected = rd->connected;
    st->connects = atomic_load(&rd->connects);
    st->failures = atomic_load(&rd->failures);
    st->commands = rd->commands;
    st->refused = rd->refused;
    st->messages = rd->messages;
    st->dropped = atomic_load(&rd->dropped);
    st->in_flight = atomic_load(&rd->in_flight);
}

void redis_stop(struct redis *rd)
{
    if (!rd || !rd->started)
        return;
    pthread_mutex_lock(&rd->mu);
    rd->stop = 1;
    pthread_mutex_unlock(&rd->mu);
    ev_async_send(rd->loop, &rd->async);
    pthread_join(rd->th, NULL);
    rd->started = 0;
    ev_loop_destroy(rd->loop);
    rd->loop = NULL;
    /* Commands queued after the thread's last look: answered NULL too. */
    pthread_mutex_lock(&rd->mu);
    struct redis_req *q = rd->rq_head;
    rd->rq_head = rd->rq_tail = NULL;
    pthread_mutex_unlock(&rd->mu);
    while (q) {
        struct redis_req *next = q->next;
        if (q->fn)
            redis_hand_reply(rd, q->fn, q->ud, NULL);
        free(q->cmd);
        free(q);
        q = next;
    }
    void (*wake)(void *) = rd->wake;
    rd->wake = NULL; /* the loop may be gone */
    redis_dispatch(rd);
    rd->wake = wake;
}

void redis_free(struct redis *rd)
{
    if (!rd)
        return;
    struct redis_sub *s = rd->subs;
    while (s) {
        struct redis_sub *next = s->next;
        free(s->name);
        free(s);
        s = next;
    }
    struct redis_item *it = rd->out_head;
    while (it) {
        struct redis_item *next = it->next;
        redis_item_free(it);
        it = next;
    }
    pthread_mutex_destroy(&rd->mu);
    free(rd);
}
