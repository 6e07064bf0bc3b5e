/* Channel history and the inbox in cluster mode: home nodes, forwarding,
 * answers. See hist_route.h and README.md ("History in a cluster"). */
#include "hist_route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/frame.h"
#include "common/hmap.h"
#include "common/jsonw.h"
#include "hist_msg.h"
#include "history_int.h"
#include "redis/redis.h"
#include "server/metrics.h"

#define TICK_MS 250
#define INFLIGHT_MAX 10000        /* requests of this node waiting for a home */
#define PAGE_BYTES (256u * 1024u) /* a recovery page, at most (history.c's too) */
#define PAGE_MIN_ROOM 8192        /* free send queue a page waits for */
#define RETRY_MS 1000             /* a recovery whose home could not be asked asks again */
#define CHANNEL_MAX 200           /* STORE_HISTORY_CHANNEL_MAX */
#define RECLAIM_PAGE 256

enum { RJ_FOREIGN, RJ_VERSION, RJ_MALFORMED, RJ_TOO_BIG, RJ_N };
static const char *const rj_names[RJ_N] = {"foreign", "version", "malformed", "too_big"};

/* What a forwarded request's answer goes to: status 0 when it never came
 * (body: why, a sentence). */
typedef void (*answer_fn)(void *ud, int status, const char *body, size_t len);

/* A request forwarded to a home node, waiting for its answer. */
struct fwd {
    uint64_t id;
    char home[HIST_NODE_MAX];
    int64_t deadline_ms;
    answer_fn fn;
    void *ud;
    struct fwd *prev, *next;
};

/* A subscription to a history channel whose home is asked where it stands. */
enum rec_state { REC_LOOKUP, REC_READY, REC_WAITING, REC_RETRY };

struct rrec {
    struct rrec *next;
    uint64_t key; /* names it in callbacks (it may be gone by then) */
    char sid[64];
    char channel[CHANNEL_MAX + 1];
    char home[HIST_NODE_MAX];
    struct history_recover rq;
    char invalid[200]; /* why the recover member was refused ("" valid) */
    uint64_t here_delivered;
    uint64_t after, sent;
    int probe, cont, told;
    enum rec_state state;
    int64_t retry_at;
};

struct hroute {
    struct server *srv;
    store *st;
    struct redis *rd;
    char node[HIST_NODE_MAX];
    char boot[HIST_BOOT_LEN + 1];
    char inbox[256]; /* <prefix>:hist:<node> */
    char prefix[128];
    int64_t timeout_ms;
    uint64_t next_id, next_key;
    struct hmap fwds; /* id (8 bytes) -> struct fwd */
    struct fwd *head, *tail;
    size_t nlookups;
    struct rrec *recs;
    /* re-claiming this store's channels after Redis came (back) */
    char rc_after[CHANNEL_MAX + 1];
    size_t rc_waiting;
    int rc_running, rc_again;
    uint64_t rc_kept, rc_claimed, rc_conflicts;
    uint64_t local, forwarded, served, answered, unavailable, timeouts, stale, busy;
    uint64_t rejected[RJ_N];
};

static struct hroute *g_hr; /* one server per process */

int hist_route_active(void)
{
    return g_hr != NULL;
}

/* ---- asking node: forwarding ------------------------------------------------- */

static void fwd_unlink(struct hroute *hr, struct fwd *f)
{
    hmap_del(&hr->fwds, &f->id, sizeof f->id);
    if (f->prev)
        f->prev->next = f->next;
    else
        hr->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        hr->tail = f->prev;
}

static void fwd_fail(struct hroute *hr, struct fwd *f, const char *why)
{
    char text[256];
    snprintf(text, sizeof text, "the channel's home node (%s) %s; retry", f->home, why);
    fwd_unlink(hr, f);
    hr->unavailable++;
    answer_fn fn = f->fn;
    void *ud = f->ud;
    free(f);
    fn(ud, 0, text, strlen(text));
}

/* PUBLISH's answer: 0 receivers means the home is not listening (stopped
 * or restarting): refused now rather than at the deadline. */
static void on_published(void *ud, const struct redis_reply *r)
{
    struct hroute *hr = g_hr;
    uint64_t id = (uint64_t)(uintptr_t)ud;
    struct fwd *f = hr ? hmap_get(&hr->fwds, &id, sizeof id) : NULL;
    if (!f)
        return;
    if (!r)
        fwd_fail(hr, f, "could not be reached (Redis connection lost)");
    else if (r->type == REDIS_R_INTEGER && r->integer == 0)
        fwd_fail(hr, f, "is not listening");
}

/* Sends `body` as a `kind` request to `home`; its answer (or the reason it
 * never came) goes to fn, exactly once, later. Returns 0, or -1 when it
 * was not sent (fn is then not called). */
static int forward(struct hroute *hr, const char *home, enum hist_kind kind, const char *body,
                   size_t len, answer_fn fn, void *ud)
{
    if (hmap_count(&hr->fwds) >= INFLIGHT_MAX) {
        hr->busy++;
        return -1;
    }
    struct fwd *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->id = ++hr->next_id;
    snprintf(f->home, sizeof f->home, "%s", home);
    f->fn = fn;
    f->ud = ud;
    struct hist_msg m = {
        .type = HIST_REQ, .id = f->id, .kind = kind, .body = body, .body_len = len};
    memcpy(m.node, hr->node, sizeof m.node);
    memcpy(m.boot, hr->boot, sizeof m.boot);
    char *buf = NULL, channel[sizeof hr->prefix + HIST_NODE_MAX + 8];
    size_t blen;
    snprintf(channel, sizeof channel, "%s:hist:%s", hr->prefix, home);
    if (hist_encode(&m, &buf, &blen) != 0) {
        free(f);
        return -1;
    }
    const char *argv[3] = {"PUBLISH", channel, buf};
    size_t lens[3] = {7, strlen(channel), blen};
    if (hmap_put(&hr->fwds, &f->id, sizeof f->id, f) != 0 ||
        redis_command(hr->rd, on_published, (void *)(uintptr_t)f->id, 3, argv, lens) != 0) {
        hmap_del(&hr->fwds, &f->id, sizeof f->id);
        free(f);
        free(buf);
        return -1;
    }
    free(buf);
    f->deadline_ms = clock_mono_ms() + hr->timeout_ms;
    f->prev = hr->tail;
    if (hr->tail)
        hr->tail->next = f;
    else
        hr->head = f;
    hr->tail = f;
    hr->forwarded++;
    return 0;
}

static void on_answer(struct hroute *hr, const struct hist_msg *m)
{
    struct fwd *f = hmap_get(&hr->fwds, &m->id, sizeof m->id);
    if (!f || strcmp(f->home, m->node) != 0 || strcmp(m->to_boot, hr->boot) != 0) {
        hr->stale++; /* answered after its deadline, or meant for another life */
        return;
    }
    fwd_unlink(hr, f);
    hr->answered++;
    answer_fn fn = f->fn;
    void *ud = f->ud;
    free(f);
    fn(ud, m->status, m->body, m->body_len);
}

/* Where a channel lives, from the home record's reply: 1 here (nobody had
 * it, and it is now this node's when claimed: no other store holds it;
 * or this node), 0 on `home` (a live node), -1 refused (why set). */
static int decide(struct hroute *hr, const struct redis_reply *r, const char *channel,
                  char home[HIST_NODE_MAX], char *why, size_t wl)
{
    if (!r || (r->type != REDIS_R_NIL && r->type != REDIS_R_STRING)) {
        snprintf(why, wl, "Redis is unreachable: the home node of channel %s is unknown; retry",
                 channel);
        return -1;
    }
    if (r->type == REDIS_R_NIL || strcmp(r->str, hr->node) == 0) {
        hr->local++;
        return 1;
    }
    if (!bus_node_id_valid(r->str, r->len)) {
        snprintf(why, wl, "channel %s has an invalid home record in Redis", channel);
        return -1;
    }
    if (!cluster_node_alive(r->str)) {
        snprintf(why, wl, "the home node of channel %s (%s) is down; retry", channel, r->str);
        return -1;
    }
    snprintf(home, HIST_NODE_MAX, "%s", r->str);
    return 0;
}

/* The start of every answer to a home look-up: decide() with the module's
 * counts. -2, with "the server is stopping" in why, when the module
 * stopped while Redis answered. */
static int home_answer(const struct redis_reply *r, const char *name, char home[HIST_NODE_MAX],
                       char *why, size_t wl)
{
    struct hroute *hr = g_hr;
    if (!hr) {
        snprintf(why, wl, "the server is stopping");
        return -2;
    }
    hr->nlookups--;
    int d = decide(hr, r, name, home, why, wl);
    if (d < 0)
        hr->unavailable++;
    return d;
}

/* ---- publishing -------------------------------------------------------------- */

struct rpub {
    char *channel, *event, *data, *user;
    size_t data_len;
    char except[64];
    void (*done)(void *ctx, int ok, const char *why);
    void *ctx;
};

static void rpub_free(struct rpub *p)
{
    free(p->channel);
    free(p->event);
    free(p->data);
    free(p->user);
    free(p);
}

static void rpub_end(struct rpub *p, int ok, const char *why)
{
    if (p->done)
        p->done(p->ctx, ok, why);
    rpub_free(p);
}

/* The home's answer: 200 stored, 503 a store failure there (as on one
 * server); never answered: why (status 0). */
static void pub_answered(void *ud, int status, const char *body, size_t len)
{
    char why[300];
    snprintf(why, sizeof why, "%.*s: the event was not stored nor delivered",
             (int)(len < 240 ? len : 240), body);
    rpub_end(ud, status == 200, status == 0 ? why : NULL);
}

static void pub_home(void *ud, const struct redis_reply *r)
{
    struct rpub *p = ud;
    char home[HIST_NODE_MAX], why[256];
    int d = home_answer(r, p->channel, home, why, sizeof why);
    if (d == -2) {
        rpub_end(p, 0, "this node is stopping");
        return;
    }
    if (d < 0) {
        char text[320];
        snprintf(text, sizeof text, "%s: the event was not stored nor delivered", why);
        rpub_end(p, 0, text);
        return;
    }
    if (d == 1) {
        if (history__publish_here(p->channel, p->event, p->data, p->data_len,
                                  p->except[0] ? p->except : NULL, p->user, p->done, p->ctx) != 0)
            rpub_end(p, 0, NULL);
        else
            rpub_free(p);
        return;
    }
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"channel\":");
    jsonw_cstr(&w, p->channel);
    JSONW_KEY(&w, "event");
    jsonw_cstr(&w, p->event);
    JSONW_KEY(&w, "data");
    jsonw_str(&w, p->data, p->data_len);
    JSONW_KEY(&w, "socket_id");
    if (p->except[0])
        jsonw_cstr(&w, p->except);
    else
        JSONW_LIT(&w, "null");
    JSONW_KEY(&w, "user_id");
    if (p->user)
        jsonw_cstr(&w, p->user);
    else
        JSONW_LIT(&w, "null");
    JSONW_LIT(&w, "}");
    int rc = w.oom ? -1 : forward(g_hr, home, HIST_PUBLISH, w.p, w.len, pub_answered, p);
    jsonw_free(&w);
    if (rc != 0)
        rpub_end(p, 0,
                 "Redis is unreachable: the channel's home node cannot be asked; retry: the event "
                 "was not stored nor delivered");
}

int hist_route_publish(const char *channel, const char *event, const char *data, size_t data_len,
                       const char *except_sid, const char *user_id,
                       void (*done)(void *ctx, int ok, const char *why), void *ctx)
{
    struct hroute *hr = g_hr;
    struct rpub *p = calloc(1, sizeof *p);
    if (p) {
        p->channel = strdup(channel);
        p->event = strdup(event);
        p->data = malloc(data_len + 1);
        p->user = user_id ? strdup(user_id) : NULL;
        p->data_len = data_len;
        p->done = done;
        p->ctx = ctx;
        if (except_sid)
            snprintf(p->except, sizeof p->except, "%s", except_sid);
    }
    if (!p || !p->channel || !p->event || !p->data || (user_id && !p->user)) {
        if (p)
            rpub_free(p);
        if (done)
            done(ctx, 0, NULL);
        return 0;
    }
    memcpy(p->data, data, data_len);
    p->data[data_len] = '\0';
    /* One lookup per event, as for documents: the record is never cached,
     * so nothing can go stale. Lookups of one node are answered in the
     * order they were sent (one Redis connection), so its events reach the
     * home in the order they were published. */
    if (hr->nlookups + hmap_count(&hr->fwds) >= INFLIGHT_MAX ||
        cluster_home_lookup("hist", channel, 1, pub_home, p) != 0) {
        hr->unavailable++;
        rpub_end(p, 0,
                 "Redis is unreachable: the channel's home node is unknown; retry: the event was "
                 "not stored nor delivered");
        return 0;
    }
    hr->nlookups++;
    return 0;
}

/* ---- recovery on a node that is not the channel's home ------------------------ */

static struct rrec *rec_find(struct hroute *hr, uint64_t key)
{
    for (struct rrec *r = hr->recs; r; r = r->next)
        if (r->key == key)
            return r;
    return NULL;
}

static void rec_remove(struct hroute *hr, struct rrec *rec)
{
    for (struct rrec **pp = &hr->recs; *pp; pp = &(*pp)->next)
        if (*pp == rec) {
            *pp = rec->next;
            free(rec);
            return;
        }
}

/* The connection, while it still wants the channel. */
static struct conn *rec_conn(struct hroute *hr, const struct rrec *rec)
{
    struct conn *c = conn_find(hr->srv, rec->sid);
    return c && conn_is_subscribed(c, rec->channel) ? c : NULL;
}

/* The home could not be asked: the client, when it asked to recover, is
 * told once (its position stays where it was, so acting on it or
 * reconnecting loses nothing); the subscription stays held and the home
 * is asked again every RETRY_MS, so the events it missed still come
 * before any newer one once the home is back. */
static void rec_unavailable(struct hroute *hr, struct rrec *rec, const char *why)
{
    struct conn *c = rec_conn(hr, rec);
    if (!c) {
        rec_remove(hr, rec);
        return;
    }
    if (!rec->told && rec->rq.present && !rec->cont) {
        rec->told = 1;
        char msg[400];
        snprintf(msg, sizeof msg,
                 "%s; the events after this offset follow once the channel's home node answers",
                 why);
        history__send_recovered(c, rec->channel, rec->rq.epoch, rec->rq.offset, 0, "unavailable",
                                msg);
    }
    rec->state = REC_RETRY;
    rec->retry_at = clock_mono_ms() + RETRY_MS;
}

static void rec_pump(struct hroute *hr, struct rrec *rec);

static void page_answered(void *ud, int status, const char *body, size_t len)
{
    struct hroute *hr = g_hr;
    struct rrec *rec = hr ? rec_find(hr, (uint64_t)(uintptr_t)ud) : NULL;
    if (!rec)
        return;
    struct conn *c = rec_conn(hr, rec);
    if (!c) {
        rec_remove(hr, rec);
        return;
    }
    if (status == 0 || status == 503) {
        char why[300];
        snprintf(why, sizeof why, "%.*s", (int)(status ? 45 : (len < 250 ? len : 250)),
                 status ? "the channel's home node could not be asked" : body);
        rec_unavailable(hr, rec, why);
        return;
    }
    if (status != 200) {
        /* A page the home cannot send (an event larger than a message
         * between nodes may be): a gap, told as such; the position the
         * client gave stays its own. */
        cJSON *e = cJSON_ParseWithLength(body, len);
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        broadcast_hold(c, rec->channel, 0);
        history__send_recovered(c, rec->channel, rec->rq.epoch, rec->after, rec->sent,
                                status == 413 ? "too_large" : "error",
                                cJSON_IsString(msg) ? msg->valuestring
                                                    : "the channel's home node refused the page");
        cJSON_Delete(e);
        rec_remove(hr, rec);
        return;
    }
    const char *nl = memchr(body, '\n', len);
    size_t hlen = nl ? (size_t)(nl - body) : len;
    cJSON *hd = cJSON_ParseWithLength(body, hlen);
    const cJSON *ep = cJSON_GetObjectItemCaseSensitive(hd, "epoch");
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(hd, "delivered");
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(hd, "last");
    const cJSON *gp = cJSON_GetObjectItemCaseSensitive(hd, "gap");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(hd, "message");
    if (!cJSON_IsString(ep) || strlen(ep->valuestring) > HISTORY_EPOCH_HEX || !cJSON_IsNumber(dl) ||
        dl->valuedouble < 0 || !cJSON_IsNumber(ls) || ls->valuedouble < 0 ||
        (!cJSON_IsString(gp) && !cJSON_IsNull(gp))) {
        cJSON_Delete(hd);
        hr->rejected[RJ_MALFORMED]++;
        rec_unavailable(hr, rec, "the channel's home node answered with a malformed page");
        return;
    }
    uint64_t delivered = (uint64_t)dl->valuedouble, last = (uint64_t)ls->valuedouble;
    if (cJSON_IsString(gp)) {
        broadcast_hold(c, rec->channel, 0);
        history__send_recovered(c, rec->channel, ep->valuestring, delivered, rec->sent,
                                gp->valuestring, cJSON_IsString(ms) ? ms->valuestring : NULL);
        cJSON_Delete(hd);
        rec_remove(hr, rec);
        return;
    }
    /* The frames, one per line, sent as the home built them. Every live
     * frame up to `delivered` left the home before this answer, on the
     * same Redis connection, so it reached this node before it (and was
     * skipped for the held connection); every later one comes after. */
    const char *p = nl ? nl + 1 : body + len, *end = body + len;
    while (nl && p <= end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        size_t fl = (size_t)(e - p);
        if (fl >= 2 && p[0] == '{' && p[fl - 1] == '}') {
            struct frame *f = frame_from(p, fl);
            if (f) {
                conn_send_frame(c, f);
                frame_unref(f);
                rec->sent++;
            }
        }
        p = e + 1;
    }
    rec->after = last;
    rec->cont = 1;
    if (last >= delivered) {
        broadcast_hold(c, rec->channel, 0);
        const char *gap = rec->invalid[0] ? "invalid" : NULL;
        history__send_recovered(c, rec->channel, ep->valuestring, delivered, rec->sent, gap,
                                gap ? rec->invalid : NULL);
        cJSON_Delete(hd);
        rec_remove(hr, rec);
        return;
    }
    cJSON_Delete(hd);
    rec->state = REC_READY;
    rec_pump(hr, rec);
}

/* Asks the home for the next page when the connection has room for one. */
static void rec_pump(struct hroute *hr, struct rrec *rec)
{
    if (rec->state != REC_READY)
        return;
    struct conn *c = rec_conn(hr, rec);
    if (!c) {
        rec_remove(hr, rec);
        return;
    }
    size_t room = conn_send_room(c);
    size_t budget = room / 2 < PAGE_BYTES ? room / 2 : PAGE_BYTES;
    if (!rec->probe && budget < PAGE_MIN_ROOM / 2)
        return; /* wait for the client to read */
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"channel\":");
    jsonw_cstr(&w, rec->channel);
    JSONW_KEY(&w, "epoch");
    jsonw_cstr(&w, rec->rq.epoch);
    JSONW_KEY(&w, "after");
    jsonw_u64(&w, rec->after);
    JSONW_KEY(&w, "budget");
    jsonw_u64(&w, budget);
    JSONW_KEY(&w, "probe");
    jsonw_lit(&w, rec->probe ? "true" : "false");
    JSONW_KEY(&w, "cont");
    jsonw_lit(&w, rec->cont ? "true" : "false");
    JSONW_LIT(&w, "}");
    int rc = w.oom ? -1
                   : forward(hr, rec->home, HIST_PAGE, w.p, w.len, page_answered,
                             (void *)(uintptr_t)rec->key);
    jsonw_free(&w);
    if (rc != 0) {
        rec_unavailable(hr, rec, "Redis is unreachable: the channel's home node cannot be asked");
        return;
    }
    rec->state = REC_WAITING;
}

static void rec_home(void *ud, const struct redis_reply *r)
{
    struct hroute *hr = g_hr;
    if (!hr)
        return;
    hr->nlookups--;
    struct rrec *rec = rec_find(hr, (uint64_t)(uintptr_t)ud);
    if (!rec)
        return;
    struct conn *c = rec_conn(hr, rec);
    if (!c) {
        rec_remove(hr, rec);
        return;
    }
    char home[HIST_NODE_MAX], why[256];
    int d = decide(hr, r, rec->channel, home, why, sizeof why);
    if (d < 0) {
        rec_unavailable(hr, rec, why);
        return;
    }
    if (d == 1) {
        /* This node's store answers, as a lone server's. A subscriber
         * without recover was held since it subscribed: what was
         * delivered meanwhile is replayed from where it stood then. */
        struct history_recover rq = rec->rq;
        if (!rq.present && !rec->invalid[0]) {
            rq.present = 1;
            snprintf(rq.epoch, sizeof rq.epoch, "%s", history__epoch());
            rq.offset = rec->here_delivered;
        }
        char invalid[sizeof rec->invalid];
        memcpy(invalid, rec->invalid, sizeof invalid);
        char channel[sizeof rec->channel];
        memcpy(channel, rec->channel, sizeof channel);
        rec_remove(hr, rec);
        broadcast_hold(c, channel, 0);
        history__subscribed_here(c, channel, &rq, invalid[0] ? invalid : NULL);
        return;
    }
    memcpy(rec->home, home, sizeof rec->home);
    rec->state = REC_READY;
    rec_pump(hr, rec);
}

static void rec_lookup(struct hroute *hr, struct rrec *rec)
{
    /* A subscriber claims a channel nobody holds, as a document's
     * catch-up does: its answer names the home's store by its epoch. */
    rec->state = REC_LOOKUP;
    if (cluster_home_lookup("hist", rec->channel, 1, rec_home, (void *)(uintptr_t)rec->key) != 0) {
        rec_unavailable(hr, rec, "Redis is unreachable: the channel's home node is unknown");
        return;
    }
    hr->nlookups++;
}

void hist_route_subscribed(struct conn *c, const char *channel, const struct history_recover *rq,
                           const char *invalid_why, uint64_t here_delivered)
{
    struct hroute *hr = g_hr;
    const char *sid = conn_socket_id(c);
    /* a repeated subscribe while a recovery runs: that one carries on */
    for (struct rrec *r = hr->recs; r; r = r->next)
        if (strcmp(r->channel, channel) == 0 && strcmp(r->sid, sid) == 0)
            return;
    if (strlen(channel) > CHANNEL_MAX || strlen(sid) >= sizeof hr->recs->sid)
        return;
    if (rq->present && !conn_request_allowed(c, 20)) {
        /* as a lone server: a replay costs reads, so at most 20 a second */
        history__send_recovered(c, channel, rq->epoch, rq->offset, 0, "rate_limited",
                                "too many recoveries on this connection; subscribe again in a "
                                "second");
        return;
    }
    struct rrec *rec = calloc(1, sizeof *rec);
    if (!rec || broadcast_hold(c, channel, 1) != 0) {
        free(rec);
        return;
    }
    rec->key = ++hr->next_key;
    snprintf(rec->sid, sizeof rec->sid, "%s", sid);
    snprintf(rec->channel, sizeof rec->channel, "%s", channel);
    rec->rq = *rq;
    if (invalid_why)
        snprintf(rec->invalid, sizeof rec->invalid, "%s", invalid_why);
    rec->probe = !rq->present;
    rec->after = rq->present ? rq->offset : 0;
    rec->here_delivered = here_delivered;
    rec->next = hr->recs;
    hr->recs = rec;
    rec_lookup(hr, rec);
}

/* ---- the HTTP history read ------------------------------------------------------ */

struct rread {
    struct http_req *req;
    char channel[CHANNEL_MAX + 1];
    uint64_t after, limit;
};

static void http_unavailable(struct http_req *req, const char *why)
{
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"code\":\"unavailable\",\"message\":");
    jsonw_cstr(&w, why);
    JSONW_LIT(&w, "}");
    http_req_respond(req, 503, NULL, w.p, w.oom ? 0 : w.len, NULL, NULL);
    jsonw_free(&w);
}

static void read_answered(void *ud, int status, const char *body, size_t len)
{
    struct rread *rr = ud;
    if (status == 0)
        http_unavailable(rr->req, body);
    else /* the home's status and bytes, as they came */
        http_req_respond(rr->req, status, NULL, body, len, NULL, NULL);
    free(rr);
}

static void read_home(void *ud, const struct redis_reply *r)
{
    struct rread *rr = ud;
    char home[HIST_NODE_MAX], why[256];
    int d = home_answer(r, rr->channel, home, why, sizeof why);
    if (d < 0) {
        http_unavailable(rr->req, why);
        free(rr);
        return;
    }
    if (d == 1) { /* here, or nowhere: a lone server's answer */
        history__read_respond(rr->req, rr->channel, rr->after, rr->limit);
        free(rr);
        return;
    }
    char body[CHANNEL_MAX * 6 + 128];
    struct jsonw w;
    jsonw_init(&w, body, sizeof body);
    JSONW_LIT(&w, "{\"channel\":");
    jsonw_cstr(&w, rr->channel);
    JSONW_KEY(&w, "after");
    jsonw_u64(&w, rr->after);
    JSONW_KEY(&w, "limit");
    jsonw_u64(&w, rr->limit);
    JSONW_LIT(&w, "}");
    int rc = w.oom ? -1 : forward(g_hr, home, HIST_READ, w.p, w.len, read_answered, rr);
    jsonw_free(&w);
    if (rc != 0) {
        http_unavailable(rr->req,
                         "Redis is unreachable: the channel's home node cannot be asked; retry");
        free(rr);
    }
}

void hist_route_read(struct http_req *req, const char *channel, uint64_t after, uint64_t limit)
{
    struct hroute *hr = g_hr;
    struct rread *rr = calloc(1, sizeof *rr);
    if (!rr || strlen(channel) > CHANNEL_MAX) {
        free(rr);
        http_unavailable(req, "out of memory; retry");
        return;
    }
    rr->req = req;
    snprintf(rr->channel, sizeof rr->channel, "%s", channel);
    rr->after = after;
    rr->limit = limit;
    /* A read claims nothing: a channel no node holds is answered here as a
     * lone server answers it, and leaves no record behind. */
    if (cluster_home_lookup("hist", channel, 0, read_home, rr) != 0) {
        http_unavailable(req, "Redis is unreachable: the channel's home node is unknown; retry");
        free(rr);
        return;
    }
    hr->nlookups++;
}

/* ---- the inbox ------------------------------------------------------------------ */

struct rinbox {
    char name[CHANNEL_MAX + 1]; /* #inbox.{user} */
    char *json;
    size_t len;
    void (*reply)(void *ctx, int status, const char *body, size_t len);
    void *ctx;
};

static void inbox_unavailable(struct rinbox *ri, const char *why)
{
    struct jsonw w;
    jsonw_init(&w, NULL, 0);
    JSONW_LIT(&w, "{\"code\":\"unavailable\",\"message\":");
    jsonw_cstr(&w, why);
    JSONW_LIT(&w, "}");
    ri->reply(ri->ctx, 503, w.oom ? NULL : w.p, w.oom ? 0 : w.len);
    jsonw_free(&w);
}

static void rinbox_free(struct rinbox *ri)
{
    free(ri->json);
    free(ri);
}

static void inbox_answered(void *ud, int status, const char *body, size_t len)
{
    struct rinbox *ri = ud;
    if (status == 0)
        inbox_unavailable(ri, body);
    else
        ri->reply(ri->ctx, status, body, len);
    rinbox_free(ri);
}

static void inbox_home(void *ud, const struct redis_reply *r)
{
    struct rinbox *ri = ud;
    char home[HIST_NODE_MAX], why[256];
    int d = home_answer(r, ri->name, home, why, sizeof why);
    if (d < 0) {
        inbox_unavailable(ri, why);
        rinbox_free(ri);
        return;
    }
    if (d == 1) {
        inbox__serve(ri->json, ri->len, ri->reply, ri->ctx);
        rinbox_free(ri);
        return;
    }
    if (forward(g_hr, home, HIST_INBOX, ri->json, ri->len, inbox_answered, ri) != 0) {
        inbox_unavailable(ri, "Redis is unreachable: the inbox's home node cannot be asked; retry");
        rinbox_free(ri);
    }
}

void hist_route_inbox(const char *user, const char *json, size_t len,
                      void (*reply)(void *ctx, int status, const char *body, size_t len), void *ctx)
{
    struct hroute *hr = g_hr;
    struct rinbox *ri = calloc(1, sizeof *ri);
    char *copy = ri ? strndup(json, len) : NULL;
    if (!ri || !copy) {
        free(ri);
        reply(ctx, 503, NULL, 0);
        return;
    }
    snprintf(ri->name, sizeof ri->name, "#inbox.%s", user);
    ri->json = copy;
    ri->len = len;
    ri->reply = reply;
    ri->ctx = ctx;
    /* Every request claims: the inbox's home is where its first request
     * (a notification, or a read of an empty inbox) landed. */
    if (cluster_home_lookup("hist", ri->name, 1, inbox_home, ri) != 0) {
        inbox_unavailable(ri, "Redis is unreachable: the inbox's home node is unknown; retry");
        rinbox_free(ri);
        return;
    }
    hr->nlookups++;
}

/* ---- home node ---------------------------------------------------------------- */

/* A request this node serves as the home for another node. */
struct served {
    char origin[HIST_NODE_MAX];
    char origin_boot[HIST_BOOT_LEN + 1];
    uint64_t id;
};

static void served_reply(void *ctx, int status, const char *body, size_t len)
{
    struct served *s = ctx;
    struct hroute *hr = g_hr;
    if (hr) {
        static const char oom[] = "{\"code\":\"internal\",\"message\":\"out of memory\"}";
        if (!body) {
            status = 500;
            body = oom;
            len = sizeof oom - 1;
        }
        struct hist_msg m = {
            .type = HIST_REP, .id = s->id, .status = status, .body = body, .body_len = len};
        memcpy(m.node, hr->node, sizeof m.node);
        memcpy(m.boot, hr->boot, sizeof m.boot);
        memcpy(m.to_boot, s->origin_boot, sizeof m.to_boot);
        char *buf, channel[sizeof hr->prefix + HIST_NODE_MAX + 8];
        size_t blen;
        snprintf(channel, sizeof channel, "%s:hist:%s", hr->prefix, s->origin);
        /* Lost with Redis: the asking node refuses at its deadline. */
        if (hist_encode(&m, &buf, &blen) == 0) {
            (void)redis_publish(hr->rd, channel, buf, blen);
            free(buf);
        } else if (status != 413) {
            /* Larger than a message between nodes may be (Redis holds
             * each whole, in every subscriber's output buffer): refused in
             * so many words rather than left to time out. */
            char text[300];
            snprintf(text, sizeof text,
                     "{\"code\":\"too_large\",\"message\":\"the answer (%zu bytes) is larger than "
                     "a message between nodes may be (%u bytes); ask the channel's home node "
                     "(%s)\"}",
                     len, HIST_MAX_MESSAGE, hr->node);
            served_reply(s, 413, text, strlen(text));
            return;
        }
    }
    free(s);
}

static void served_error(struct served *s, int status, const char *code, const char *msg)
{
    size_t len = 0;
    char *body = history__error_body(code, msg, &len);
    served_reply(s, status, body, body ? len : 0);
    free(body);
}

static void served_published(void *ctx, int ok, const char *why)
{
    (void)why;
    if (ok)
        served_reply(ctx, 200, "{}", 2);
    else
        served_error(ctx, 503, "storage_error", "the event could not be stored");
}

static const char *str_member(const cJSON *j, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int u64_member(const cJSON *j, const char *name, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static void serve_publish(struct served *s, const cJSON *j)
{
    const char *channel = str_member(j, "channel"), *event = str_member(j, "event");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "socket_id");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(j, "user_id");
    if (!channel || !event || !cJSON_IsString(data) ||
        !(cJSON_IsNull(sid) ||
          (cJSON_IsString(sid) && bus_sid_valid(sid->valuestring, strlen(sid->valuestring)))) ||
        !(cJSON_IsNull(user) || cJSON_IsString(user))) {
        served_error(s, 422, "invalid", "malformed publish request");
        return;
    }
    if (!history__keeps(channel)) {
        served_error(s, 404, "not_found", "this node keeps no history for the channel");
        return;
    }
    if (history__publish_here(channel, event, data->valuestring, strlen(data->valuestring),
                              cJSON_IsString(sid) ? sid->valuestring : NULL,
                              cJSON_IsString(user) ? user->valuestring : NULL, served_published,
                              s) != 0)
        served_error(s, 503, "storage_error", "the event could not be stored");
}

static void serve_page(struct served *s, const cJSON *j)
{
    const char *channel = str_member(j, "channel"), *epoch = str_member(j, "epoch");
    uint64_t after, budget;
    if (!channel || !epoch || u64_member(j, "after", &after) || u64_member(j, "budget", &budget)) {
        served_error(s, 422, "invalid", "malformed page request");
        return;
    }
    if (budget > PAGE_BYTES)
        budget = PAGE_BYTES;
    size_t len;
    char *body = history__page(channel, epoch, after, (size_t)budget,
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "probe")),
                               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "cont")), &len);
    served_reply(s, 200, body, body ? len : 0);
    free(body);
}

static void serve_read(struct served *s, const cJSON *j)
{
    const char *channel = str_member(j, "channel");
    uint64_t after, limit;
    if (!channel || u64_member(j, "after", &after) || u64_member(j, "limit", &limit) ||
        limit == 0 || limit > 1000) {
        served_error(s, 422, "invalid", "malformed read request");
        return;
    }
    char *body;
    size_t len;
    int status = history__read(channel, after, limit, &body, &len);
    served_reply(s, status, body, body ? len : 0);
    free(body);
}

static void on_request(struct hroute *hr, const struct hist_msg *m)
{
    struct served *s = calloc(1, sizeof *s);
    if (!s)
        return; /* the asking node refuses at its deadline */
    memcpy(s->origin, m->node, sizeof s->origin);
    memcpy(s->origin_boot, m->boot, sizeof s->origin_boot);
    s->id = m->id;
    hr->served++;
    if (m->kind == HIST_INBOX) {
        inbox__serve(m->body, m->body_len, served_reply, s);
        return;
    }
    cJSON *j = cJSON_ParseWithLength(m->body, m->body_len);
    if (!cJSON_IsObject(j))
        served_error(s, 422, "invalid", "the request is not a JSON object");
    else if (m->kind == HIST_PUBLISH)
        serve_publish(s, j);
    else if (m->kind == HIST_PAGE)
        serve_page(s, j);
    else
        serve_read(s, j);
    cJSON_Delete(j);
}

static void reject(struct hroute *hr, int rc, size_t len)
{
    int why = rc == HIST_EFOREIGN   ? RJ_FOREIGN
              : rc == HIST_EVERSION ? RJ_VERSION
              : rc == HIST_ETOOBIG  ? RJ_TOO_BIG
                                    : RJ_MALFORMED;
    uint64_t n = ++hr->rejected[why];
    if (n <= 5 || n % 1000 == 0)
        log_warn(server_logger(hr->srv),
                 "history: dropped a message between nodes (%s, %zu bytes; %llu so far)",
                 rj_names[why], len, (unsigned long long)n);
}

static void on_inbox_msg(void *ud, const char *channel, size_t clen, const char *payload,
                         size_t len)
{
    (void)ud;
    (void)channel;
    (void)clen;
    struct hroute *hr = g_hr;
    if (!hr)
        return;
    struct hist_msg m;
    int rc = hist_decode(payload, len, &m);
    if (rc != 0) {
        reject(hr, rc, len);
        return;
    }
    if (m.type == HIST_REQ)
        on_request(hr, &m);
    else
        on_answer(hr, &m);
}

/* ---- re-claiming after a Redis restart -------------------------------------------
 * As for documents (sync/sync_route.c): a Redis restarted without
 * persistence has lost the home records, so each node claims again, with
 * SET NX, every channel and inbox its own store holds history of. */

static void reclaim_page(struct hroute *hr);

static void on_reclaimed(void *ud, const struct redis_reply *r)
{
    char *name = ud;
    struct hroute *hr = g_hr;
    if (hr) {
        if (r && r->type == REDIS_R_NIL) {
            hr->rc_claimed++;
        } else if (r && r->type == REDIS_R_STRING && strcmp(r->str, hr->node) != 0) {
            hr->rc_conflicts++;
            log_error(server_logger(hr->srv),
                      "history: %s has history in this node's store but Redis names %s as its "
                      "home; its events go there (the home record was lost and claimed anew)",
                      name, r->str);
        } else if (r && r->type == REDIS_R_STRING) {
            hr->rc_kept++;
        }
        if (--hr->rc_waiting == 0)
            reclaim_page(hr);
    }
    free(name);
}

static int reclaim_one(void *ctx, const char *channel, size_t len)
{
    struct hroute *hr = ctx;
    if (len > CHANNEL_MAX)
        return 0;
    memcpy(hr->rc_after, channel, len);
    hr->rc_after[len] = '\0';
    char *name = strdup(hr->rc_after);
    if (!name || cluster_home_lookup("hist", name, 1, on_reclaimed, name) != 0) {
        free(name);
        return -1; /* Redis is gone again: the next connection starts over */
    }
    hr->rc_waiting++;
    return 0;
}

static void reclaim_page(struct hroute *hr)
{
    store_read *r;
    int rc = store_read_begin(hr->st, &r);
    if (rc == 0) {
        rc = store_history_channels(r, hr->rc_after, RECLAIM_PAGE, reclaim_one, hr);
        store_read_end(r);
    }
    if (hr->rc_waiting)
        return; /* the last answer asks for the next page */
    hr->rc_running = 0;
    if (rc == 0)
        log_info(server_logger(hr->srv),
                 "history: home records checked: %llu kept, %llu claimed again, %llu held "
                 "elsewhere",
                 (unsigned long long)hr->rc_kept, (unsigned long long)hr->rc_claimed,
                 (unsigned long long)hr->rc_conflicts);
    if (hr->rc_again) {
        hr->rc_again = 0;
        hr->rc_running = 1;
        hr->rc_after[0] = '\0';
        reclaim_page(hr);
    }
}

static void on_redis_status(void *ud, int up)
{
    (void)ud;
    struct hroute *hr = g_hr;
    if (!hr || !up)
        return;
    if (hr->rc_running) {
        hr->rc_again = 1;
        return;
    }
    hr->rc_running = 1;
    hr->rc_after[0] = '\0';
    hr->rc_kept = hr->rc_claimed = hr->rc_conflicts = 0;
    reclaim_page(hr);
}

/* ---- timer, metrics, start, stop ------------------------------------------------ */

static void pump_all(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct hroute *hr = g_hr;
    if (!hr)
        return;
    int64_t now = clock_mono_ms();
    struct rrec *next;
    for (struct rrec *rec = hr->recs; rec; rec = next) {
        next = rec->next; /* rec may be removed */
        if (rec->state == REC_READY)
            rec_pump(hr, rec);
        else if (rec->state == REC_RETRY && rec->retry_at <= now) {
            if (!rec_conn(hr, rec))
                rec_remove(hr, rec);
            else
                rec_lookup(hr, rec);
        }
    }
}

static void on_tick(struct server *srv, void *ud)
{
    struct hroute *hr = g_hr;
    if (!hr)
        return;
    int64_t now = clock_mono_ms();
    char why[64];
    snprintf(why, sizeof why, "did not answer within %lld ms", (long long)hr->timeout_ms);
    while (hr->head && hr->head->deadline_ms <= now) {
        hr->timeouts++;
        fwd_fail(hr, hr->head, why);
    }
    pump_all(srv, ud);
}

static char *route_metrics(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct hroute *hr = g_hr;
    if (!hr)
        return NULL;
    size_t nrec = 0;
    for (struct rrec *r = hr->recs; r; r = r->next)
        nrec++;
    struct metrics_text b = {0};
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        &b,
        "# HELP docsync_history_route_requests_total History requests by where they were "
        "handled (cluster mode).\n"
        "# TYPE docsync_history_route_requests_total counter\n"
        "docsync_history_route_requests_total{where=\"home\"} %llu\n"
        "docsync_history_route_requests_total{where=\"forwarded\"} %llu\n"
        "docsync_history_route_requests_total{where=\"served\"} %llu\n"
        "# TYPE docsync_history_route_answers_total counter\n"
        "docsync_history_route_answers_total %llu\n"
        "# TYPE docsync_history_route_refused_total counter\n"
        "docsync_history_route_refused_total{reason=\"unavailable\"} %llu\n"
        "docsync_history_route_refused_total{reason=\"timeout\"} %llu\n"
        "docsync_history_route_refused_total{reason=\"busy\"} %llu\n"
        "# TYPE docsync_history_route_stale_total counter\n"
        "docsync_history_route_stale_total %llu\n"
        "# TYPE docsync_history_route_in_flight gauge\n"
        "docsync_history_route_in_flight %llu\n"
        "# TYPE docsync_history_route_recoveries gauge\n"
        "docsync_history_route_recoveries %llu\n"
        "# TYPE docsync_history_route_rejected_total counter\n"
        "docsync_history_route_rejected_total{reason=\"foreign\"} %llu\n"
        "docsync_history_route_rejected_total{reason=\"version\"} %llu\n"
        "docsync_history_route_rejected_total{reason=\"malformed\"} %llu\n"
        "docsync_history_route_rejected_total{reason=\"too_big\"} %llu\n",
        U(hr->local), U(hr->forwarded), U(hr->served), U(hr->answered), U(hr->unavailable),
        U(hr->timeouts), U(hr->busy), U(hr->stale), U(hr->nlookups + hmap_count(&hr->fwds)),
        U(nrec), U(hr->rejected[RJ_FOREIGN]), U(hr->rejected[RJ_VERSION]),
        U(hr->rejected[RJ_MALFORMED]), U(hr->rejected[RJ_TOO_BIG]));
#undef U
    return metrics_text_take(&b);
}

int hist_route_start(struct server *srv, store *st)
{
    struct redis *rd = cluster_redis();
    if (!rd)
        return 0;
    struct hroute *hr = calloc(1, sizeof *hr);
    if (!hr)
        return -1;
    hr->srv = srv;
    hr->st = st;
    hr->rd = rd;
    snprintf(hr->node, sizeof hr->node, "%s", cluster_node_id());
    snprintf(hr->boot, sizeof hr->boot, "%s", cluster_boot_id());
    snprintf(hr->prefix, sizeof hr->prefix, "%s", cluster_prefix());
    snprintf(hr->inbox, sizeof hr->inbox, "%s:hist:%s", hr->prefix, hr->node);
    unsigned timeout = server_config(srv)->cluster_node_timeout;
    hr->timeout_ms = (int64_t)(timeout ? timeout : 1) * 1000;
    hmap_init(&hr->fwds);
    g_hr = hr;
    if (redis_subscribe(rd, hr->inbox, 0, on_inbox_msg, NULL) != 0 ||
        redis_on_status(rd, on_redis_status, NULL) != 0 ||
        server_every(srv, TICK_MS, on_tick, NULL) != 0 ||
        server_on_wake(srv, pump_all, NULL) != 0 ||
        http_api_on_metrics(srv, route_metrics, NULL) != 0) {
        g_hr = NULL;
        hmap_deinit(&hr->fwds);
        free(hr);
        return -1;
    }
    log_info(server_logger(srv), "history: channels routed by home node (requests on %s)",
             hr->inbox);
    return 0;
}

void hist_route_stop(void)
{
    struct hroute *hr = g_hr;
    if (!hr)
        return;
    g_hr = NULL;
    /* What still waits for another node is refused now (publishers get
     * their 503, HTTP requests their answer) rather than left hanging. */
    while (hr->head) {
        struct fwd *f = hr->head;
        fwd_unlink(hr, f);
        answer_fn fn = f->fn;
        void *ud = f->ud;
        free(f);
        fn(ud, 0, "this node is stopping", 21);
    }
    hmap_deinit(&hr->fwds);
    while (hr->recs) {
        struct rrec *r = hr->recs;
        hr->recs = r->next;
        free(r);
    }
    free(hr);
}
