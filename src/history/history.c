/* history: durable channel history and recovery. See history.h. */
#include "history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/hmap.h"
#include "common/jsonw.h"
#include "hist_route.h"
#include "history_int.h"
#include "recover.h"
#include "server/metrics.h"

#define PATTERNS_MAX 16
#define PATTERN_LEN 200
#define READ_PAGE 512            /* history entries read per store call */
#define PAGE_BYTES (256u * 1024) /* replay bytes queued at once, at most */
#define AGE_SWEEP_MS 5000
#define SWEEP_CHANNELS 1000 /* channels an age sweep looks at, at most */
#define IDLE_MS 60000       /* a channel unused this long leaves memory */
#define PUMP_MS 20
#define RECOVERIES_PER_SECOND 20
#define HTTP_LIMIT_MAX 1000

/* One DOCSYNC_HISTORY_CHANNELS entry: a channel name glob ('*' matches any
 * run of characters) with its retention. */
struct pattern {
    char glob[PATTERN_LEN + 1];
    uint64_t max_events; /* kept per channel, newest */
    uint64_t max_age_ms; /* 0: no age limit */
    int client;          /* client events (whispers) are kept too */
};

/* A channel with history that the module has looked at. `assigned` is the
 * newest offset given to an event (committed or not), `delivered` the
 * newest one delivered (events are delivered in offset order, after their
 * commit), `first` the oldest one kept. */
struct hchan {
    const struct pattern *pat;
    uint64_t first, assigned, delivered;
    uint64_t used_ms; /* last looked up: idle channels leave memory (age_sweep) */
    unsigned pending; /* events between assignment and delivery */
    char name[];
};

/* An event waiting for its commit. */
struct pend {
    struct history *h;
    struct hchan *ch;
    uint64_t offset;
    struct frame *f;
    char except[64]; /* socket id excluded by the publisher, "" none */
    void (*done)(void *ctx, int ok, const char *why);
    void *ctx;
};

/* A connection being given what it missed on a channel: held from live
 * delivery until `next` passes the channel's delivered offset. */
struct recovery {
    struct recovery *next_rec;
    char sid[64];
    char channel[PATTERN_LEN + 1];
    uint64_t next; /* the next offset to send */
    uint64_t sent;
};

struct history {
    struct server *srv;
    store *st;
    store_writer *w;
    struct pattern pats[PATTERNS_MAX];
    size_t npats;
    struct hmap chans; /* name -> struct hchan */
    struct recovery *recs;
    struct server_timer *pump; /* armed while a recovery waits (pump_all) */
    char epoch[STORE_EPOCH_HEX_LEN + 1];
    uint64_t stored, store_failed, recovered, gaps, trimmed;
    size_t sweep_it; /* where age_sweep goes on next time */
};

static struct history *the_history;

/* ---- patterns ---- */

static int glob_match(const char *g, const char *s)
{
    const char *star = NULL, *back = NULL;
    while (*s) {
        if (*g == '*') {
            star = g++;
            back = s;
        } else if (*g == *s) {
            g++;
            s++;
        } else if (star) {
            g = star + 1;
            s = ++back;
        } else {
            return 0;
        }
    }
    while (*g == '*')
        g++;
    return *g == 0;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 15)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(s[i] - '0');
    }
    *out = x;
    return 0;
}

/* "glob[:max=N][:age=SECONDS]" entries separated by spaces or commas... but
 * commas may be part of channel names, so only whitespace separates. */
static int patterns_parse(const char *spec, uint64_t def_max, uint64_t def_age_s,
                          struct pattern *out, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n')
            end++;
        if (*n >= PATTERNS_MAX) {
            snprintf(err, errlen, "DOCSYNC_HISTORY_CHANNELS: at most %d patterns", PATTERNS_MAX);
            return -1;
        }
        struct pattern *pt = &out[*n];
        pt->max_events = def_max;
        pt->max_age_ms = def_age_s * 1000u;
        const char *colon = memchr(p, ':', (size_t)(end - p));
        size_t glen = (size_t)((colon ? colon : end) - p);
        if (glen == 0 || glen > PATTERN_LEN) {
            snprintf(err, errlen,
                     "DOCSYNC_HISTORY_CHANNELS: a pattern must have 1 to %d characters",
                     PATTERN_LEN);
            return -1;
        }
        memcpy(pt->glob, p, glen);
        pt->glob[glen] = 0;
        for (size_t i = 0; i < glen; i++) {
            char c = pt->glob[i];
            if (!(c == '*' || c == '_' || c == '-' || c == '=' || c == '@' || c == ',' ||
                  c == '.' || c == ';' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                  (c >= 'A' && c <= 'Z'))) {
                snprintf(err, errlen,
                         "DOCSYNC_HISTORY_CHANNELS: \"%s\" has a character channel names cannot "
                         "have",
                         pt->glob);
                return -1;
            }
        }
        const char *o = colon;
        while (o && o < end) {
            const char *oe = memchr(o + 1, ':', (size_t)(end - o - 1));
            if (!oe)
                oe = end;
            const char *v = o + 1;
            size_t vl = (size_t)(oe - v);
            uint64_t x;
            if (vl > 4 && memcmp(v, "max=", 4) == 0 && parse_u64(v + 4, vl - 4, &x) == 0 && x > 0) {
                pt->max_events = x;
            } else if (vl > 4 && memcmp(v, "age=", 4) == 0 && parse_u64(v + 4, vl - 4, &x) == 0) {
                pt->max_age_ms = x * 1000u;
            } else if (vl == 6 && memcmp(v, "client", 6) == 0) {
                pt->client = 1;
            } else {
                snprintf(err, errlen,
                         "DOCSYNC_HISTORY_CHANNELS: unknown option \"%.*s\" of \"%s\" (max=N with "
                         "N >= 1, age=SECONDS, client)",
                         (int)vl, v, pt->glob);
                return -1;
            }
            o = oe;
        }
        (*n)++;
        p = end;
    }
    return 0;
}

int history_patterns_check(const char *spec, char *err, size_t errlen)
{
    struct pattern pats[PATTERNS_MAX];
    size_t n;
    return patterns_parse(spec, 1, 0, pats, &n, err, errlen);
}

static const struct pattern *pattern_of(const struct history *h, const char *channel)
{
    if (strlen(channel) > STORE_HISTORY_CHANNEL_MAX)
        return NULL;
    for (size_t i = 0; i < h->npats; i++)
        if (glob_match(h->pats[i].glob, channel))
            return &h->pats[i];
    return NULL;
}

/* ---- channels ---- */

/* The channel's state, loaded from the store the first time; NULL when it
 * keeps no history (or on a store failure, logged). */
static struct hchan *chan_get(struct history *h, const char *channel)
{
    size_t n = strlen(channel);
    struct hchan *ch = hmap_get(&h->chans, channel, n);
    if (ch) {
        ch->used_ms = clock_wall_ms();
        return ch;
    }
    const struct pattern *pat = pattern_of(h, channel);
    if (!pat)
        return NULL;
    uint64_t first = 0, last = 0;
    store_read *r;
    int err = store_read_begin(h->st, &r);
    if (!err) {
        err = store_history_bounds(r, channel, &first, &last);
        store_read_end(r);
    }
    if (err) {
        log_error(server_logger(h->srv), "history: %s: cannot read its bounds: %s", channel,
                  store_strerror(err));
        return NULL;
    }
    ch = calloc(1, sizeof *ch + n + 1);
    if (!ch)
        return NULL;
    memcpy(ch->name, channel, n + 1);
    ch->pat = pat;
    ch->used_ms = clock_wall_ms();
    ch->first = first ? first : last + 1;
    ch->assigned = ch->delivered = last;
    if (hmap_put(&h->chans, ch->name, n, ch) != 0) {
        free(ch);
        return NULL;
    }
    return ch;
}

/* ---- frames ---- */

/* {"event":E,"data":"<data as a JSON string>","channel":C[,"user_id":U],"offset":N}: the
 * members in the order of the server's other frames, and the offset. */
static struct frame *event_frame(const char *event, size_t elen, const char *channel,
                                 const char *data, size_t dlen, const char *user, size_t ulen,
                                 uint64_t offset)
{
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"event\":");
    jsonw_str(&w, event, elen);
    JSONW_KEY(&w, "data");
    jsonw_str(&w, data, dlen);
    JSONW_KEY(&w, "channel");
    jsonw_cstr(&w, channel);
    if (ulen) {
        JSONW_KEY(&w, "user_id");
        jsonw_str(&w, user, ulen);
    }
    JSONW_KEY(&w, "offset");
    jsonw_u64(&w, offset);
    JSONW_LIT(&w, "}");
    struct frame *f = w.oom ? NULL : frame_from(w.p, w.len);
    jsonw_free(&w);
    return f;
}

/* docsync:recovered on `channel`: where the connection stands, what it was
 * given, and why not everything when it could not be (gap, message). */
void history__send_recovered(struct conn *c, const char *channel, const char *epoch,
                             uint64_t offset, uint64_t count, const char *gap, const char *why)
{
    char inner[512], buf[1024];
    struct jsonw d;
    jsonw_init(&d, inner, sizeof inner);
    JSONW_LIT(&d, "{\"epoch\":");
    jsonw_cstr(&d, epoch);
    JSONW_KEY(&d, "offset");
    jsonw_u64(&d, offset);
    JSONW_KEY(&d, "recovered");
    jsonw_u64(&d, count);
    JSONW_KEY(&d, "gap");
    if (gap)
        jsonw_cstr(&d, gap);
    else
        JSONW_LIT(&d, "null");
    if (why) {
        JSONW_KEY(&d, "message");
        jsonw_cstr(&d, why);
    }
    JSONW_LIT(&d, "}");
    struct jsonw w;
    jsonw_init(&w, buf, sizeof buf);
    JSONW_LIT(&w, "{\"event\":\"docsync:recovered\",\"channel\":");
    jsonw_cstr(&w, channel);
    JSONW_KEY(&w, "data");
    jsonw_str(&w, d.p, d.len);
    JSONW_LIT(&w, "}");
    struct frame *f = w.oom || d.oom ? NULL : frame_from(w.p, w.len);
    if (f) {
        conn_send_frame(c, f);
        frame_unref(f);
    }
    jsonw_free(&w);
    jsonw_free(&d);
}

static void send_recovered(struct history *h, struct conn *c, const char *channel, uint64_t offset,
                           uint64_t count, const char *gap, const char *why)
{
    history__send_recovered(c, channel, h->epoch, offset, count, gap, why);
}

/* ---- publishing: store, then deliver ---- */

static void deliver_done(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct pend *p = ctx;
    struct history *h = p->h;
    struct hchan *ch = p->ch;
    if (status == 0) {
        h->stored++;
        struct conn *except = p->except[0] ? conn_find(h->srv, p->except) : NULL;
        ch->delivered = p->offset;
        if (p->f && p->except[0] && !except && hist_route_active()) {
            /* An event another node forwarded, whose excluded socket is
             * there: the bus carries its id to that node. */
            broadcast_remote(h->srv, ch->name, p->f, NULL);
            cluster_publish(ch->name, p->f, p->except);
        } else if (p->f) {
            broadcast_frame(h->srv, ch->name, p->f, except);
        }
    } else {
        h->store_failed++;
        ch->delivered = p->offset; /* nothing is kept there */
        log_error(server_logger(h->srv), "history: %s: event %llu not stored: %s", ch->name,
                  (unsigned long long)p->offset, store_strerror(status));
    }
    ch->pending--;
    if (p->done)
        p->done(p->ctx, status == 0, NULL);
    frame_unref(p->f);
    free(p);
}

int history__publish(const char *channel, const char *event, const char *data, size_t data_len,
                     const char *except_sid, const char *user_id,
                     void (*done)(void *ctx, int ok, const char *why), void *ctx)
{
    /* In a cluster the channel's home node assigns its offsets. */
    if (hist_route_active())
        return history__keeps(channel) ? hist_route_publish(channel, event, data, data_len,
                                                            except_sid, user_id, done, ctx)
                                       : -1;
    return history__publish_here(channel, event, data, data_len, except_sid, user_id, done, ctx);
}

int history__publish_here(const char *channel, const char *event, const char *data, size_t data_len,
                          const char *except_sid, const char *user_id,
                          void (*done)(void *ctx, int ok, const char *why), void *ctx)
{
    struct history *h = the_history;
    struct hchan *ch = h ? chan_get(h, channel) : NULL;
    if (!ch)
        return -1;
    uint64_t off = ch->assigned + 1, ts = clock_wall_ms();
    store_batch *b = NULL;
    struct pend *p = calloc(1, sizeof *p);
    if (!p || store_batch_new(&b) != 0 ||
        store_batch_history_append(b, channel, off, ts, event, user_id, data, data_len) != 0) {
        free(p);
        store_batch_free(b);
        return -1;
    }
    /* retention by count, with the append */
    uint64_t keep = ch->pat->max_events;
    if (off >= ch->first && off - ch->first + 1 > keep) {
        uint64_t upto = off - keep;
        if (store_batch_history_trim(b, channel, upto) == 0) {
            h->trimmed += upto - ch->first + 1;
            ch->first = upto + 1;
        }
    }
    p->h = h;
    p->ch = ch;
    p->offset = off;
    p->done = done;
    p->ctx = ctx;
    p->f = event_frame(event, strlen(event), channel, data, data_len, user_id,
                       user_id ? strlen(user_id) : 0, off);
    if (except_sid)
        snprintf(p->except, sizeof p->except, "%s", except_sid);
    if (store_writer_submit(h->w, b, deliver_done, p) != 0) {
        store_batch_free(b);
        frame_unref(p->f);
        free(p);
        return -1;
    }
    ch->assigned = off;
    ch->pending++;
    return 0;
}

int history__keeps(const char *channel)
{
    return the_history && pattern_of(the_history, channel) != NULL;
}

static void claim_done(void *ctx, int ok, const char *why)
{
    if (!ok && why)
        http_api_hold_refuse(ctx, why);
    else
        http_api_hold_release(ctx, ok);
}

static int claim(struct server *srv, const char *channel, const char *event, const char *data,
                 size_t data_len, const char *socket_id, struct http_api_hold *hold, void *ud)
{
    (void)srv;
    (void)ud;
    /* not storable (an event name with control bytes, the writer's queue
     * full): delivered as on any channel, without history */
    return history__publish(channel, event, data, data_len, socket_id, NULL, claim_done, hold) == 0;
}

/* A client event on a channel whose pattern says :client: stored, then
 * delivered to the others with its offset; its data (JSON as sent) travels
 * as a JSON string, which Pusher clients parse back. */
static int claim_client(struct server *srv, struct conn *sender, const char *channel,
                        const char *event, const char *data_raw, size_t len, const char *user_id,
                        void *ud)
{
    (void)srv;
    struct history *h = ud;
    const struct pattern *pat = pattern_of(h, channel);
    if (!pat || !pat->client)
        return 0;
    return history__publish(channel, event, data_raw ? data_raw : "null", data_raw ? len : 4,
                            conn_socket_id(sender), user_id, NULL, NULL) == 0;
}

/* ---- recovery ---- */

struct page_ctx {
    struct history *h;
    struct conn *c;
    struct recovery *rec;
    uint64_t upto;
    size_t budget;
    int stop;
};

static int page_each(void *ctx, const struct store_history_entry *e)
{
    struct page_ctx *pc = ctx;
    if (e->offset > pc->upto)
        return 1;
    struct frame *f = event_frame(e->event, e->event_len, pc->rec->channel, (const char *)e->data,
                                  e->len, e->user_id, e->user_len, e->offset);
    if (!f)
        return 1;
    size_t flen = f->len;
    if (flen > pc->budget && pc->rec->sent) {
        frame_unref(f);
        pc->stop = 1;
        return 1;
    }
    pc->budget = flen > pc->budget ? 0 : pc->budget - flen;
    conn_send_frame(pc->c, f);
    frame_unref(f);
    pc->rec->next = e->offset + 1;
    pc->rec->sent++;
    return 0;
}

/* Sends the next page of a recovery; returns 1 when it is complete (the
 * connection released, docsync:recovered sent) or over (connection gone). */
static int pump_one(struct history *h, struct recovery *rec)
{
    struct conn *c = conn_find(h->srv, rec->sid);
    if (!c || !conn_is_subscribed(c, rec->channel))
        return 1;
    struct hchan *ch = chan_get(h, rec->channel);
    if (!ch)
        return 1;
    while (rec->next <= ch->delivered) {
        size_t room = conn_send_room(c);
        struct page_ctx pc = {
            h, c, rec, ch->delivered, room / 2 < PAGE_BYTES ? room / 2 : PAGE_BYTES, 0};
        if (pc.budget < 4096)
            return 0; /* wait for the client to read */
        uint64_t before = rec->next;
        store_read *r;
        int err = store_read_begin(h->st, &r);
        if (!err) {
            /* a trimmed start: continue from what is kept */
            if (rec->next < ch->first)
                rec->next = ch->first;
            err = store_history_read(r, rec->channel, rec->next - 1, READ_PAGE, page_each, &pc);
            store_read_end(r);
        }
        if (err) {
            broadcast_hold(c, rec->channel, 0);
            send_recovered(h, c, rec->channel, ch->delivered, rec->sent, "error",
                           "the history could not be read; events after this offset were lost");
            return 1;
        }
        if (pc.stop)
            return 0;
        if (rec->next == before) {
            /* nothing stored in the range any more (trimmed meanwhile) */
            rec->next = ch->delivered + 1;
        }
    }
    broadcast_hold(c, rec->channel, 0);
    h->recovered += rec->sent;
    send_recovered(h, c, rec->channel, ch->delivered, rec->sent, NULL, NULL);
    return 1;
}

/* Runs after every wake-up of the loop, and every PUMP_MS while a
 * recovery waits for its client to read: a queue that drained in one
 * write wakes nothing else. */
static void pump_all(struct server *srv, void *ud)
{
    (void)srv;
    struct history *h = ud;
    struct recovery **pp = &h->recs;
    while (*pp) {
        struct recovery *rec = *pp;
        if (pump_one(h, rec)) {
            *pp = rec->next_rec;
            free(rec);
        } else {
            pp = &rec->next_rec;
        }
    }
    if (h->recs)
        server_timer_arm(h->pump, PUMP_MS);
}

/* Whether a recovery of `channel` runs here for connection `sid`. */
static int recovery_running(const struct history *h, const char *channel, const char *sid)
{
    for (const struct recovery *r = h->recs; r; r = r->next_rec)
        if (strcmp(r->channel, channel) == 0 && strcmp(r->sid, sid) == 0)
            return 1;
    return 0;
}

static void on_subscribed(struct server *srv, struct conn *c, const char *channel, const message *m,
                          void *ud)
{
    (void)srv;
    struct history *h = ud;
    if (!pattern_of(h, channel))
        return;
    /* a repeated subscribe while a recovery runs: that one carries on */
    if (recovery_running(h, channel, conn_socket_id(c)))
        return;
    struct history_recover rq;
    const char *why = NULL;
    int invalid = history_recover_parse(message_data(m), &rq, &why) != 0;
    if (invalid)
        memset(&rq, 0, sizeof rq);
    if (hist_route_active()) {
        /* In a cluster the channel's home node answers (hist_route.c),
         * which calls history__subscribed_here when it is this node. */
        struct hchan *ch = chan_get(h, channel);
        hist_route_subscribed(c, channel, &rq, invalid ? why : NULL, ch ? ch->delivered : 0);
        return;
    }
    history__subscribed_here(c, channel, &rq, invalid ? why : NULL);
}

void history__subscribed_here(struct conn *c, const char *channel,
                              const struct history_recover *rqp, const char *invalid_why)
{
    struct history *h = the_history;
    struct hchan *ch = h ? chan_get(h, channel) : NULL;
    if (!ch)
        return;
    if (recovery_running(h, channel, conn_socket_id(c)))
        return;
    if (invalid_why) {
        h->gaps++;
        send_recovered(h, c, channel, ch->delivered, 0, "invalid", invalid_why);
        return;
    }
    struct history_recover rq = *rqp;
    if (!rq.present) {
        send_recovered(h, c, channel, ch->delivered, 0, NULL, NULL);
        return;
    }
    if (strcmp(rq.epoch, h->epoch) != 0) {
        h->gaps++;
        send_recovered(h, c, channel, ch->delivered, 0, "epoch",
                       "the store was replaced since (another epoch): fetch the state again");
        return;
    }
    if (rq.offset > ch->delivered) {
        h->gaps++;
        send_recovered(h, c, channel, ch->delivered, 0, "ahead",
                       "the offset is beyond the newest event of this channel");
        return;
    }
    if (rq.offset == ch->delivered) {
        send_recovered(h, c, channel, ch->delivered, 0, NULL, NULL);
        return;
    }
    /* A replay reads the store and may queue up to a send queue's worth:
     * a connection gets RECOVERIES_PER_SECOND of them (subscribing again and
     * again must not make the server read its history in a loop). */
    if (!conn_request_allowed(c, RECOVERIES_PER_SECOND)) {
        h->gaps++;
        send_recovered(h, c, channel, ch->delivered, 0, "rate_limited",
                       "too many recoveries on this connection; subscribe again in a second");
        return;
    }
    if (rq.offset + 1 < ch->first) {
        h->gaps++;
        send_recovered(h, c, channel, ch->delivered, 0, "trimmed",
                       "the history no longer reaches back to that offset: fetch the state again");
        return;
    }
    struct recovery *rec = calloc(1, sizeof *rec);
    if (!rec || broadcast_hold(c, channel, 1) != 0) {
        free(rec);
        send_recovered(h, c, channel, ch->delivered, 0, "error", "out of memory");
        return;
    }
    snprintf(rec->sid, sizeof rec->sid, "%s", conn_socket_id(c));
    snprintf(rec->channel, sizeof rec->channel, "%s", channel);
    rec->next = rq.offset + 1;
    if (pump_one(h, rec)) {
        free(rec);
        return;
    }
    rec->next_rec = h->recs;
    h->recs = rec;
    server_timer_arm(h->pump, PUMP_MS);
}

/* ---- retention by age ---- */

struct age_ctx {
    uint64_t cutoff, upto;
};

static int age_each(void *ctx, const struct store_history_entry *e)
{
    struct age_ctx *a = ctx;
    if (e->ts_ms >= a->cutoff)
        return 1;
    a->upto = e->offset;
    return 0;
}

/* Whether a recovery is running on the channel (its state must stay). */
static int recovering(const struct history *h, const char *channel)
{
    for (const struct recovery *r = h->recs; r; r = r->next_rec)
        if (strcmp(r->channel, channel) == 0)
            return 1;
    return 0;
}

/* Every AGE_SWEEP_MS, for at most SWEEP_CHANNELS channels in memory (going
 * on where the last sweep stopped): trims events past their age, always
 * keeping the newest one, whose offset the next event continues from; and
 * lets channels idle for IDLE_MS leave memory (their state is read back from
 * the store when they are next used), so a channel nobody uses costs only
 * its history. */
static void age_sweep(struct server *srv, void *ud)
{
    (void)srv;
    struct history *h = ud;
    uint64_t now = clock_wall_ms();
    struct hchan *ch;
    const char *key;
    size_t klen;
    store_batch *b = NULL;
    for (int k = 0; k < SWEEP_CHANNELS; k++) {
        size_t at = h->sweep_it;
        if (!(ch = hmap_next(&h->chans, &h->sweep_it, &key, &klen))) {
            h->sweep_it = 0;
            break;
        }
        if (!ch->pending && now - ch->used_ms > IDLE_MS && !recovering(h, ch->name)) {
            hmap_del(&h->chans, ch->name, strlen(ch->name));
            free(ch);
            h->sweep_it = at; /* the table changed under the cursor: look there again */
            continue;
        }
        if (!ch->pat->max_age_ms || ch->first >= ch->delivered)
            continue;
        struct age_ctx a = {now > ch->pat->max_age_ms ? now - ch->pat->max_age_ms : 0, 0};
        store_read *r;
        if (store_read_begin(h->st, &r) != 0)
            break;
        store_history_read(r, ch->name, ch->first - 1, 10000, age_each, &a);
        store_read_end(r);
        if (a.upto >= ch->delivered)
            a.upto = ch->delivered - 1; /* the newest stays */
        if (!a.upto || a.upto < ch->first)
            continue;
        if (!b && store_batch_new(&b) != 0)
            break;
        if (store_batch_history_trim(b, ch->name, a.upto) == 0) {
            h->trimmed += a.upto - ch->first + 1;
            ch->first = a.upto + 1;
        }
    }
    if (b && store_writer_submit(h->w, b, NULL, NULL) != 0)
        store_batch_free(b);
}

/* ---- HTTP: GET /apps/{app_id}/channels/{channel}/history ---- */

struct http_ctx {
    struct jsonw *w;
    size_t n;
    uint64_t last;
};

static int http_each(void *ctx, const struct store_history_entry *e)
{
    struct http_ctx *hc = ctx;
    jsonw_lit(hc->w, hc->n ? ",{\"offset\":" : "{\"offset\":");
    jsonw_u64(hc->w, e->offset);
    JSONW_KEY(hc->w, "ts");
    jsonw_u64(hc->w, e->ts_ms);
    JSONW_KEY(hc->w, "event");
    jsonw_str(hc->w, e->event, e->event_len);
    JSONW_KEY(hc->w, "data");
    jsonw_str(hc->w, (const char *)e->data, e->len);
    if (e->user_len) {
        JSONW_KEY(hc->w, "user_id");
        jsonw_str(hc->w, e->user_id, e->user_len);
    }
    JSONW_LIT(hc->w, "}");
    hc->n++;
    hc->last = e->offset;
    return 0;
}

char *history__error_body(const char *code, const char *msg, size_t *len)
{
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"code\":");
    jsonw_cstr(&w, code);
    JSONW_KEY(&w, "message");
    jsonw_cstr(&w, msg);
    JSONW_LIT(&w, "}");
    char *out = w.oom ? NULL : strndup(w.p, w.len);
    *len = w.len;
    jsonw_free(&w);
    return out;
}

static void http_error(struct http_req *req, int status, const char *code, const char *msg)
{
    size_t len;
    char *b = history__error_body(code, msg, &len);
    if (b)
        http_req_respond(req, status, NULL, b, len, NULL, NULL);
    else
        http_req_respond(req, 500, NULL, NULL, 0, NULL, NULL);
    free(b);
}

static int arg_u64(struct http_req *req, const char *name, uint64_t def, uint64_t *out)
{
    const char *v = http_req_arg(req, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    return parse_u64(v, strlen(v), out);
}

int history__read(const char *channel, uint64_t after, uint64_t limit, char **body, size_t *len)
{
    struct history *h = the_history;
    *body = NULL;
    *len = 0;
    struct hchan *ch = h ? chan_get(h, channel) : NULL;
    if (!ch) {
        *body = history__error_body("not_found", "this channel keeps no history", len);
        return 404;
    }
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"channel\":");
    jsonw_cstr(&w, channel);
    JSONW_KEY(&w, "epoch");
    jsonw_cstr(&w, h->epoch);
    JSONW_KEY(&w, "first");
    jsonw_u64(&w, ch->first <= ch->delivered ? ch->first : 0);
    JSONW_KEY(&w, "last");
    jsonw_u64(&w, ch->delivered);
    JSONW_KEY(&w, "gap");
    jsonw_lit(&w, after + 1 < ch->first && after < ch->delivered ? "true" : "false");
    JSONW_KEY(&w, "events");
    JSONW_LIT(&w, "[");
    struct http_ctx hc = {&w, 0, after};
    store_read *r;
    int err = store_read_begin(h->st, &r);
    if (!err) {
        /* only what was delivered: an event still committing is not history
         * yet */
        uint64_t n = ch->delivered > after ? ch->delivered - after : 0;
        if (n)
            err = store_history_read(r, channel, after, (size_t)(n < limit ? n : limit), http_each,
                                     &hc);
        store_read_end(r);
    }
    if (err) {
        jsonw_free(&w);
        *body = history__error_body("storage_error", "the history could not be read", len);
        return 503;
    }
    JSONW_LIT(&w, "]");
    JSONW_KEY(&w, "more");
    jsonw_lit(&w, hc.last < ch->delivered ? "true" : "false");
    JSONW_KEY(&w, "next");
    jsonw_u64(&w, hc.last);
    JSONW_LIT(&w, "}");
    int status = 200;
    if (w.oom) {
        *body = history__error_body("internal", "out of memory", len);
        status = 500;
    } else {
        *body = strndup(w.p, w.len);
        *len = w.len;
    }
    jsonw_free(&w);
    return *body ? status : 500;
}

static void get_history(struct server *srv, struct http_req *req, void *ud)
{
    (void)srv;
    (void)ud;
    const char *channel = http_req_param(req, 1);
    uint64_t after, limit;
    if (!channel || arg_u64(req, "after", 0, &after) || arg_u64(req, "limit", 100, &limit) ||
        limit == 0 || limit > HTTP_LIMIT_MAX) {
        http_error(req, 422, "invalid",
                   "after must be an offset (0 or more) and limit from 1 to 1000");
        return;
    }
    if (hist_route_active() && history__keeps(channel)) {
        /* the channel's home node answers, with its bytes */
        hist_route_read(req, channel, after, limit);
        return;
    }
    history__read_respond(req, channel, after, limit);
}

void history__read_respond(struct http_req *req, const char *channel, uint64_t after,
                           uint64_t limit)
{
    char *body;
    size_t len;
    int status = history__read(channel, after, limit, &body, &len);
    http_req_respond(req, status, NULL, body, body ? len : 0, NULL, NULL);
    free(body);
}

/* ---- a page of a recovery, for another node (hist_route.c) ---- */

struct rpage_ctx {
    struct jsonw *w;
    const char *channel;
    uint64_t upto, last;
    size_t budget, n;
};

static int rpage_each(void *ctx, const struct store_history_entry *e)
{
    struct rpage_ctx *pc = ctx;
    if (e->offset > pc->upto)
        return 1;
    struct frame *f = event_frame(e->event, e->event_len, pc->channel, (const char *)e->data,
                                  e->len, e->user_id, e->user_len, e->offset);
    if (!f)
        return 1;
    if (f->len > pc->budget && pc->n) {
        frame_unref(f);
        return 1;
    }
    pc->budget = f->len > pc->budget ? 0 : pc->budget - f->len;
    jsonw_lit(pc->w, "\n");
    jsonw_raw(pc->w, frame_data(f), f->len);
    frame_unref(f);
    pc->last = e->offset;
    pc->n++;
    return 0;
}

char *history__page(const char *channel, const char *epoch, uint64_t after, size_t budget,
                    int probe, int cont, size_t *len)
{
    struct history *h = the_history;
    struct hchan *ch = h ? chan_get(h, channel) : NULL;
    const char *gap = NULL, *why = NULL;
    uint64_t from = after;
    if (!ch) {
        gap = "error";
        why = "the channel's home node keeps no history for it";
    } else if (!probe && strcmp(epoch, h->epoch) != 0) {
        gap = "epoch";
        why = "the store was replaced since (another epoch): fetch the state again";
    } else if (!probe && after > ch->delivered) {
        gap = "ahead";
        why = "the offset is beyond the newest event of this channel";
    } else if (!probe && !cont && after + 1 < ch->first) {
        gap = "trimmed";
        why = "the history no longer reaches back to that offset: fetch the state again";
    }
    if (gap && h)
        h->gaps++;
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    struct jsonw head;
    jsonw_init(&head, NULL, 0);
    struct rpage_ctx pc = {&w, channel, ch ? ch->delivered : 0, after, budget, 0};
    if (!gap && !probe && ch && after < ch->delivered) {
        /* a start trimmed meanwhile: continue from what is kept */
        if (from + 1 < ch->first)
            from = ch->first - 1;
        store_read *r;
        int err = store_read_begin(h->st, &r);
        if (!err) {
            err = store_history_read(r, channel, from, READ_PAGE, rpage_each, &pc);
            store_read_end(r);
        }
        if (err) {
            gap = "error";
            why = "the history could not be read; events after this offset were lost";
            pc.n = 0;
            w.len = 0;
        } else if (!pc.n) {
            pc.last = ch->delivered; /* nothing kept in the range any more */
        }
    } else if (probe && ch) {
        pc.last = ch->delivered;
    }
    JSONW_LIT(&head, "{\"epoch\":");
    jsonw_cstr(&head, h ? h->epoch : "");
    JSONW_KEY(&head, "first");
    jsonw_u64(&head, ch ? ch->first : 0);
    JSONW_KEY(&head, "delivered");
    jsonw_u64(&head, ch ? ch->delivered : 0);
    JSONW_KEY(&head, "last");
    jsonw_u64(&head, pc.last);
    JSONW_KEY(&head, "count");
    jsonw_u64(&head, pc.n);
    JSONW_KEY(&head, "gap");
    if (gap)
        jsonw_cstr(&head, gap);
    else
        JSONW_LIT(&head, "null");
    if (why) {
        JSONW_KEY(&head, "message");
        jsonw_cstr(&head, why);
    }
    JSONW_LIT(&head, "}");
    jsonw_raw(&head, w.p ? w.p : "", w.len);
    char *out = head.oom || w.oom ? NULL : strndup(head.p, head.len);
    *len = head.len;
    jsonw_free(&head);
    jsonw_free(&w);
    return out;
}

uint64_t history__delivered(const char *channel)
{
    struct history *h = the_history;
    struct hchan *ch = h ? chan_get(h, channel) : NULL;
    return ch ? ch->delivered : 0;
}

const char *history__epoch(void)
{
    return the_history ? the_history->epoch : "";
}

/* ---- metrics ---- */

static char *metrics(struct server *srv, void *ud)
{
    (void)srv;
    struct history *h = ud;
    size_t nrec = 0;
    for (struct recovery *r = h->recs; r; r = r->next_rec)
        nrec++;
    struct metrics_text b = {0};
    metrics_text_printf(&b,
                        "# TYPE docsync_history_events_stored_total counter\n"
                        "docsync_history_events_stored_total %llu\n"
                        "# TYPE docsync_history_store_failures_total counter\n"
                        "docsync_history_store_failures_total %llu\n"
                        "# TYPE docsync_history_events_recovered_total counter\n"
                        "docsync_history_events_recovered_total %llu\n"
                        "# TYPE docsync_history_gaps_total counter\n"
                        "docsync_history_gaps_total %llu\n"
                        "# TYPE docsync_history_events_trimmed_total counter\n"
                        "docsync_history_events_trimmed_total %llu\n"
                        "# TYPE docsync_history_recoveries_running gauge\n"
                        "docsync_history_recoveries_running %zu\n",
                        (unsigned long long)h->stored, (unsigned long long)h->store_failed,
                        (unsigned long long)h->recovered, (unsigned long long)h->gaps,
                        (unsigned long long)h->trimmed, nrec);
    return metrics_text_take(&b);
}

/* ---- start, stop ---- */

int history_start(struct server *srv, store *st, store_writer *w)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    if (!st || !w)
        return -1;
    struct history *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    h->srv = srv;
    h->st = st;
    h->w = w;
    hmap_init(&h->chans);
    the_history = h;
    char err[256];
    if (patterns_parse(cfg->history_channels, cfg->history_max_events, cfg->history_max_age,
                       h->pats, &h->npats, err, sizeof err) != 0) {
        log_error(lg, "%s", err);
        return -1;
    }
    struct store_epoch ep;
    if (store_epoch_get(st, &ep) != 0) {
        log_error(lg, "history: cannot read the store's epoch");
        return -1;
    }
    store_epoch_format(&ep, h->epoch);
    if (inbox__start(srv, st, w) != 0) {
        log_error(lg, "history: cannot register the inbox's routes");
        return -1;
    }
    if (hist_route_start(srv, st) != 0) {
        log_error(lg, "history: cannot start routing by home node (cluster mode)");
        return -1;
    }
    if (!h->npats) {
        log_info(lg, "history: no channel keeps history (DOCSYNC_HISTORY_CHANNELS is empty)");
        return 0;
    }
    h->pump = server_timer_new(srv, pump_all, h);
    if (!h->pump || http_api_on_claim(srv, claim, h) != 0 ||
        session_on_subscribed(srv, on_subscribed, h) != 0 ||
        session_on_client_claim(srv, claim_client, h) != 0 ||
        server_on_wake(srv, pump_all, h) != 0 ||
        server_every(srv, AGE_SWEEP_MS, age_sweep, h) != 0 ||
        http_route(srv, "GET", "/apps/{app_id}/channels/{channel}/history",
                   HTTP_ROUTE_APP | HTTP_ROUTE_SIGNED | HTTP_ROUTE_JSON, get_history, h) != 0 ||
        http_api_on_metrics(srv, metrics, h) != 0) {
        log_error(lg, "history: cannot register its hooks");
        return -1;
    }
    log_info(lg, "history: %zu channel pattern(s) keep history: %s", h->npats,
             cfg->history_channels);
    return 0;
}

void history_stop(struct server *srv)
{
    (void)srv;
    struct history *h = the_history;
    if (!h)
        return;
    /* Events still committing refer to the module: let their commits end
     * first (the publishers' answers go nowhere once connections are gone). */
    for (int i = 0; i < 1000 && store_writer_pending(h->w); i++)
        store_writer_flush(h->w);
    hist_route_stop();
    the_history = NULL;
    inbox__stop();
    while (h->recs) {
        struct recovery *r = h->recs;
        h->recs = r->next_rec;
        free(r);
    }
    size_t it = 0;
    struct hchan *ch;
    const char *key;
    size_t klen;
    while ((ch = hmap_next(&h->chans, &it, &key, &klen)))
        free(ch);
    hmap_deinit(&h->chans);
    free(h);
}
