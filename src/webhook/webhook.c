/* webhook: see webhook.h and README.md. */
#include "webhook.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/jsonw.h"
#include "pusher/sign.h"
#include "server/metrics.h"
#include "webhook_config.h"
#include "webhook_http.h"

#define WH_QUEUE_MAX 100000            /* events waiting for the sender thread */
#define WH_BODY_SOFT_MAX (256u * 1024) /* a batch is sent once its body is this big */
#define WH_BACKOFF_MAX_MS 60000u
/* Deletes of delivered requests wait up to this long for the next commit
 * (a new request's, which must not wait): one fsync per request instead of
 * two when they come one by one. A crash in between sends those again. */
#define WH_DELETE_DELAY_MS 200u

/* One observed event, from the loop thread to the sender thread. */
struct wh_event {
    struct wh_event *next;
    unsigned bit;    /* WEBHOOK_EV_* */
    uint64_t due_ms; /* monotonic ms when it may go into batches */
    char *channel;   /* for the filters and for cancelling */
    char *user;      /* member_*: the user id, else NULL */
    char *json;      /* the event object, as it goes into "events" */
    size_t json_len;
};

/* One request in the outbox (its bytes stay in the store). */
struct wh_pending {
    uint64_t id;
    uint64_t created_ms; /* wall clock */
    size_t target;
    size_t bytes; /* of its outbox record */
};

/* The sender thread's state for one webhook. */
struct wh_target_state {
    struct jsonw batch; /* events so far, comma-separated */
    size_t count;
    uint64_t first_ms; /* monotonic ms of the batch's first event */
    uint64_t next_try_ms;
    unsigned failures; /* consecutive */
};

struct webhook_module {
    struct server *srv;
    const struct config *cfg;
    const struct logger *log;
    store *store;
    struct webhook_config conf;
    unsigned wanted; /* the union of every webhook's types, plus what cancels them */
    atomic_int active;
    pthread_t thread;
    int have_thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* Under mu: */
    struct wh_event *in_head, *in_tail;
    size_t in_count;
    int stop;
    /* The sender thread's own: */
    struct wh_event *delayed; /* in arrival order */
    struct wh_target_state *ts;
    struct wh_pending *pend; /* in id order */
    size_t npend, cap_pend;
    size_t pend_bytes; /* the sum of their bytes */
    uint64_t last_id;
    store_batch *sb;   /* puts and deletes not yet committed */
    size_t sb_puts;    /* new requests in sb: committed before any attempt */
    uint64_t sb_since; /* monotonic ms sb was started */
    /* Counters for /metrics (written by either thread, read by the loop). */
    atomic_uint_fast64_t n_events, n_cancelled, n_requests, n_delivered, n_failed, n_dropped_full,
        n_dropped_expired, n_dropped_queue, n_dropped_store, n_outbox;
};

static struct webhook_module *wh_module; /* one server per process */

/* The queue keeps its times as unsigned milliseconds. */
static uint64_t wh_mono_ms(void)
{
    return (uint64_t)clock_mono_ms();
}

static uint64_t wh_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wh_event_free(struct wh_event *e)
{
    if (!e)
        return;
    free(e->channel);
    free(e->user);
    free(e->json);
    free(e);
}

/* ------------------------------------------------------------ loop thread */

static unsigned wh_bit_of(const struct broadcast_event *ev)
{
    switch (ev->kind) {
    case BROADCAST_OCCUPIED:
        return WEBHOOK_EV_OCCUPIED;
    case BROADCAST_VACATED:
        return WEBHOOK_EV_VACATED;
    case BROADCAST_MEMBER_ADDED:
        return WEBHOOK_EV_MEMBER_ADDED;
    case BROADCAST_MEMBER_REMOVED:
        return WEBHOOK_EV_MEMBER_REMOVED;
    case BROADCAST_CLIENT_EVENT:
        return WEBHOOK_EV_CLIENT_EVENT;
    case BROADCAST_CACHE_MISS:
        return WEBHOOK_EV_CACHE_MISS;
    case BROADCAST_MODULE_EVENT:
        return ev->event ? webhook_event_bit(ev->event) : 0;
    }
    return 0;
}

/* The event's JSON object, as Pusher's webhooks write it. */
static int wh_event_json(const struct broadcast_event *ev, unsigned bit, struct jsonw *w)
{
    JSONW_LIT(w, "{\"name\":");
    jsonw_cstr(w, webhook_event_name(bit));
    JSONW_KEY(w, "channel");
    jsonw_cstr(w, ev->channel);
    if (bit == WEBHOOK_EV_CLIENT_EVENT) {
        JSONW_KEY(w, "event");
        jsonw_cstr(w, ev->event ? ev->event : "");
        JSONW_KEY(w, "data");
        /* Pusher gives the data as a string: a JSON string as it was sent,
         * anything else as its JSON text. */
        if (ev->data && ev->data_len && ev->data[0] == '"')
            jsonw_raw(w, ev->data, ev->data_len);
        else if (ev->data && ev->data_len)
            jsonw_str(w, ev->data, ev->data_len);
        else
            JSONW_LIT(w, "null");
        JSONW_KEY(w, "socket_id");
        jsonw_cstr(w, ev->socket_id ? ev->socket_id : "");
    } else if (ev->kind == BROADCAST_MODULE_EVENT && ev->data && ev->data_len) {
        JSONW_LIT(w, ",");
        jsonw_raw(w, ev->data, ev->data_len);
    }
    if (ev->user_id) {
        JSONW_KEY(w, "user_id");
        jsonw_cstr(w, ev->user_id);
    }
    JSONW_LIT(w, "}");
    return w->oom ? -1 : 0;
}

static void wh_observe(struct server *srv, const struct broadcast_event *ev, void *ud)
{
    (void)srv;
    struct webhook_module *m = ud;
    if (!atomic_load(&m->active) || !ev->channel)
        return;
    unsigned bit = wh_bit_of(ev);
    if (!(bit & m->wanted))
        return;
    struct wh_event *e = calloc(1, sizeof *e);
    struct jsonw w;
    jsonw_init(&w, NULL, 256);
    if (!e || wh_event_json(ev, bit, &w) != 0 || !(e->channel = strdup(ev->channel)) ||
        (ev->user_id && !(e->user = strdup(ev->user_id)))) {
        jsonw_free(&w);
        wh_event_free(e);
        atomic_fetch_add(&m->n_dropped_queue, 1);
        return;
    }
    e->bit = bit;
    e->json = w.p; /* jsonw_init(NULL) put the text on the heap: it is ours now */
    e->json_len = w.len;
    e->due_ms = wh_mono_ms();
    if ((bit & (WEBHOOK_EV_MEMBER_REMOVED | WEBHOOK_EV_VACATED)) && !ev->settled)
        e->due_ms += m->cfg->webhook_leave_delay_ms;
    pthread_mutex_lock(&m->mu);
    int full = m->in_count >= WH_QUEUE_MAX;
    if (!full) {
        if (m->in_tail)
            m->in_tail->next = e;
        else
            m->in_head = e;
        m->in_tail = e;
        m->in_count++;
        pthread_cond_signal(&m->cv);
    }
    pthread_mutex_unlock(&m->mu);
    if (full) {
        wh_event_free(e);
        atomic_fetch_add(&m->n_dropped_queue, 1);
    }
}

static char *wh_metrics(struct server *srv, void *ud)
{
    (void)srv;
    struct webhook_module *m = ud;
    struct metrics_text b = {0};
#define U(x) ((unsigned long long)atomic_load(&m->x))
    metrics_text_printf(
        &b,
        "# HELP docsync_webhook_events_total Events put into a webhook batch.\n"
        "# TYPE docsync_webhook_events_total counter\n"
        "docsync_webhook_events_total %llu\n"
        "# HELP docsync_webhook_events_cancelled_total member_removed/channel_vacated "
        "cancelled (with their member_added/channel_occupied) by a quick return.\n"
        "# TYPE docsync_webhook_events_cancelled_total counter\n"
        "docsync_webhook_events_cancelled_total %llu\n"
        "# HELP docsync_webhook_requests_total Webhook requests recorded in the outbox.\n"
        "# TYPE docsync_webhook_requests_total counter\n"
        "docsync_webhook_requests_total %llu\n"
        "# HELP docsync_webhook_delivered_total Webhook requests answered with a 2xx.\n"
        "# TYPE docsync_webhook_delivered_total counter\n"
        "docsync_webhook_delivered_total %llu\n"
        "# HELP docsync_webhook_attempts_failed_total Attempts that got a non-2xx answer or "
        "a network error (retried later).\n"
        "# TYPE docsync_webhook_attempts_failed_total counter\n"
        "docsync_webhook_attempts_failed_total %llu\n"
        "# HELP docsync_webhook_dropped_total Webhook requests or events given up.\n"
        "# TYPE docsync_webhook_dropped_total counter\n"
        "docsync_webhook_dropped_total{reason=\"outbox_full\"} %llu\n"
        "docsync_webhook_dropped_total{reason=\"expired\"} %llu\n"
        "docsync_webhook_dropped_total{reason=\"queue_full\"} %llu\n"
        "docsync_webhook_dropped_total{reason=\"store_error\"} %llu\n"
        "# HELP docsync_webhook_outbox Webhook requests waiting in the outbox.\n"
        "# TYPE docsync_webhook_outbox gauge\n"
        "docsync_webhook_outbox %llu\n",
        U(n_events), U(n_cancelled), U(n_requests), U(n_delivered), U(n_failed), U(n_dropped_full),
        U(n_dropped_expired), U(n_dropped_queue), U(n_dropped_store), U(n_outbox));
#undef U
    return metrics_text_take(&b);
}

/* ---------------------------------------------------------- sender thread */

static void wh_pend_remove(struct webhook_module *m, size_t i)
{
    m->pend_bytes -= m->pend[i].bytes;
    memmove(&m->pend[i], &m->pend[i + 1], (m->npend - i - 1) * sizeof m->pend[0]);
    m->npend--;
    atomic_store(&m->n_outbox, m->npend);
}

static int wh_pend_push(struct webhook_module *m, uint64_t id, uint64_t created_ms, size_t target,
                        size_t bytes)
{
    if (m->npend == m->cap_pend) {
        size_t cap = m->cap_pend ? m->cap_pend * 2 : 64;
        struct wh_pending *p = realloc(m->pend, cap * sizeof *p);
        if (!p)
            return -1;
        m->pend = p;
        m->cap_pend = cap;
    }
    m->pend[m->npend++] = (struct wh_pending){id, created_ms, target, bytes};
    m->pend_bytes += bytes;
    atomic_store(&m->n_outbox, m->npend);
    return 0;
}

static void wh_forget(struct webhook_module *m, uint64_t id);

/* The cap: beyond DOCSYNC_WEBHOOK_OUTBOX_MAX requests or _MAX_BYTES bytes,
 * the oldest requests go first (the newest request is kept even when it
 * alone is over the bytes, so that a big batch is not lost for nothing). */
static void wh_cap(struct webhook_module *m)
{
    while (m->npend > m->cfg->webhook_outbox_max ||
           (m->npend > 1 && m->pend_bytes > m->cfg->webhook_outbox_max_bytes)) {
        wh_forget(m, m->pend[0].id);
        wh_pend_remove(m, 0);
        uint64_t dropped = atomic_fetch_add(&m->n_dropped_full, 1) + 1;
        if ((dropped & (dropped - 1)) == 0)
            log_warn(m->log,
                     "webhook: outbox full (%zu requests, %zu bytes at most): dropped the oldest "
                     "(%llu so far)",
                     (size_t)m->cfg->webhook_outbox_max, (size_t)m->cfg->webhook_outbox_max_bytes,
                     (unsigned long long)dropped);
    }
}

static store_batch *wh_sb(struct webhook_module *m)
{
    if (!m->sb) {
        if (store_batch_new(&m->sb) != 0)
            m->sb = NULL;
        m->sb_puts = 0;
        m->sb_since = wh_mono_ms();
    }
    return m->sb;
}

/* Deletes outbox entry `id` in this round's store batch. */
static void wh_forget(struct webhook_module *m, uint64_t id)
{
    store_batch *b = wh_sb(m);
    if (b)
        store_batch_outbox_delete(b, id);
}

/* Commits this round's puts and deletes in one transaction (one fsync).
 * When it fails, the requests it recorded are dropped (they were never
 * sent: nothing may go out that is not recorded) and deletes are retried
 * with the next round (a request delivered twice is harmless). */
static void wh_commit(struct webhook_module *m, uint64_t first_new_id)
{
    if (!m->sb)
        return;
    int rc = store_batch_commit(m->store, m->sb, NULL);
    store_batch_free(m->sb);
    m->sb = NULL;
    m->sb_puts = 0;
    if (rc == 0)
        return;
    size_t lost = 0;
    for (size_t i = m->npend; i-- > 0;)
        if (first_new_id && m->pend[i].id >= first_new_id) {
            wh_pend_remove(m, i);
            lost++;
        }
    atomic_fetch_add(&m->n_dropped_store, lost);
    log_error(m->log, "webhook: cannot record %zu request(s) in the outbox: %s; dropped", lost,
              store_strerror(rc));
}

/* The outbox value: [u16le url length][url][body]. */
static int wh_record(struct webhook_module *m, size_t t, const char *body, size_t len)
{
    const char *url = m->conf.t[t].url;
    size_t ul = strlen(url), n = 2 + ul + len;
    uint8_t *v = malloc(n);
    store_batch *b = wh_sb(m);
    if (!v || !b) {
        free(v);
        atomic_fetch_add(&m->n_dropped_store, 1);
        return -1;
    }
    v[0] = (uint8_t)(ul & 0xff);
    v[1] = (uint8_t)(ul >> 8);
    memcpy(v + 2, url, ul);
    memcpy(v + 2 + ul, body, len);
    uint64_t id = ++m->last_id, now = wh_wall_ms();
    int rc = store_batch_outbox_put(b, id, now, v, n);
    free(v);
    if (rc == 0)
        m->sb_puts++;
    if (rc != 0 || wh_pend_push(m, id, now, t, n) != 0) {
        log_error(m->log, "webhook: request of %zu bytes not recorded: %s", n,
                  rc ? store_strerror(rc) : "out of memory");
        atomic_fetch_add(&m->n_dropped_store, 1);
        return -1;
    }
    atomic_fetch_add(&m->n_requests, 1);
    wh_cap(m);
    return 0;
}

/* Closes webhook t's batch into one request body and records it. */
static void wh_flush(struct webhook_module *m, size_t t)
{
    struct wh_target_state *s = &m->ts[t];
    if (!s->count)
        return;
    struct jsonw w;
    jsonw_init(&w, NULL, s->batch.len + 64);
    JSONW_LIT(&w, "{\"time_ms\":");
    jsonw_u64(&w, wh_wall_ms());
    JSONW_LIT(&w, ",\"events\":[");
    jsonw_raw(&w, s->batch.p, s->batch.len);
    JSONW_LIT(&w, "]}");
    if (w.oom)
        atomic_fetch_add(&m->n_dropped_store, 1);
    else
        wh_record(m, t, w.p, w.len);
    jsonw_free(&w);
    s->batch.len = 0;
    if (s->batch.p)
        s->batch.p[0] = '\0';
    s->count = 0;
}

/* Puts an event into the batch of every webhook that wants it. */
static void wh_dispatch(struct webhook_module *m, const struct wh_event *e, uint64_t now)
{
    for (size_t t = 0; t < m->conf.n; t++) {
        const struct webhook_target *tg = &m->conf.t[t];
        if (!webhook_target_wants(tg, e->bit, e->channel))
            continue;
        struct wh_target_state *s = &m->ts[t];
        if (s->count && s->batch.len + e->json_len > WH_BODY_SOFT_MAX)
            wh_flush(m, t);
        if (s->count)
            JSONW_LIT(&s->batch, ",");
        else
            s->first_ms = now;
        jsonw_raw(&s->batch, e->json, e->json_len);
        if (s->batch.oom) {
            /* Start over with an empty batch rather than send a broken one. */
            jsonw_free(&s->batch);
            jsonw_init(&s->batch, NULL, 1024);
            s->count = 0;
            atomic_fetch_add(&m->n_dropped_queue, 1);
            continue;
        }
        s->count++;
        atomic_fetch_add(&m->n_events, 1);
        if (s->count >= tg->batch_size)
            wh_flush(m, t);
    }
}

static int wh_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* A new event: a member_added or channel_occupied that finds its
 * member_removed or channel_vacated still delayed cancels it, and neither
 * is sent (the user or the channel never really went away); leaves wait
 * their delay; the rest goes into batches at once. */
static void wh_arrive(struct webhook_module *m, struct wh_event *e, uint64_t now)
{
    unsigned undo = e->bit == WEBHOOK_EV_MEMBER_ADDED ? WEBHOOK_EV_MEMBER_REMOVED
                    : e->bit == WEBHOOK_EV_OCCUPIED   ? WEBHOOK_EV_VACATED
                                                      : 0;
    if (undo) {
        for (struct wh_event **pp = &m->delayed; *pp; pp = &(*pp)->next) {
            struct wh_event *d = *pp;
            if (d->bit == undo && strcmp(d->channel, e->channel) == 0 &&
                wh_same(d->user, e->user)) {
                *pp = d->next;
                wh_event_free(d);
                wh_event_free(e);
                atomic_fetch_add(&m->n_cancelled, 2);
                return;
            }
        }
    }
    if (e->due_ms > now) {
        struct wh_event **pp = &m->delayed;
        while (*pp)
            pp = &(*pp)->next;
        e->next = NULL;
        *pp = e;
        return;
    }
    wh_dispatch(m, e, now);
    wh_event_free(e);
}

/* The delayed events whose time has come (all of them when stopping). */
static void wh_release_delayed(struct webhook_module *m, uint64_t now, int all)
{
    struct wh_event **pp = &m->delayed;
    while (*pp) {
        struct wh_event *d = *pp;
        if (all || d->due_ms <= now) {
            *pp = d->next;
            wh_dispatch(m, d, now);
            wh_event_free(d);
        } else {
            pp = &d->next;
        }
    }
}

static uint64_t wh_backoff(const struct webhook_module *m, unsigned failures)
{
    uint64_t ms = m->cfg->webhook_backoff_ms;
    for (unsigned i = 1; i < failures && ms < WH_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < WH_BACKOFF_MAX_MS ? ms : WH_BACKOFF_MAX_MS;
}

/* Takes the queued events (the leave delay, the filters, the batches),
 * closes the batches that are due (every one when stopping), and records the
 * new requests in the outbox in one commit: recorded before attempted.
 * `may_stop`: whether a stop asked for is acted on now (not in the middle of
 * an attempt). Returns 1 when stopping. */
static int wh_intake(struct webhook_module *m, int may_stop)
{
    pthread_mutex_lock(&m->mu);
    struct wh_event *in = m->in_head;
    m->in_head = m->in_tail = NULL;
    m->in_count = 0;
    int stopping = may_stop && m->stop;
    pthread_mutex_unlock(&m->mu);

    uint64_t now = wh_mono_ms(), first_new = m->last_id + 1;
    while (in) {
        struct wh_event *next = in->next;
        in->next = NULL;
        wh_arrive(m, in, now);
        in = next;
    }
    wh_release_delayed(m, now, stopping);
    for (size_t t = 0; t < m->conf.n; t++)
        if (m->ts[t].count && (stopping || now >= m->ts[t].first_ms + m->conf.t[t].batch_ms))
            wh_flush(m, t);
    /* New requests at once; deletes alone when they have waited enough. */
    if (m->sb && (stopping || m->sb_puts || wh_mono_ms() >= m->sb_since + WH_DELETE_DELAY_MS))
        wh_commit(m, first_new);
    return stopping;
}

/* Called while an attempt waits for the network: events keep going into
 * batches and requests into the outbox, so that a slow endpoint does not
 * leave them in memory only. */
static void wh_idle(void *arg)
{
    wh_intake(arg, 0);
}

/* Sends the oldest request of one webhook that may try now. Returns 1 when
 * it sent (or dropped) something, 0 when nothing was due. */
static int wh_send_one(struct webhook_module *m, uint64_t now)
{
    uint64_t wall = wh_wall_ms(), retry_ms = (uint64_t)m->cfg->webhook_retry_for * 1000u;
    for (size_t i = 0; i < m->npend; i++) {
        struct wh_pending p = m->pend[i];
        struct wh_target_state *s = &m->ts[p.target];
        if (s->next_try_ms > now)
            continue; /* this webhook is backing off; its requests wait in order */
        if (wall > p.created_ms + retry_ms) {
            wh_forget(m, p.id);
            wh_pend_remove(m, i);
            atomic_fetch_add(&m->n_dropped_expired, 1);
            log_warn(m->log, "webhook: request %llu to %s given up after %u s of failures",
                     (unsigned long long)p.id, m->conf.t[p.target].url, m->cfg->webhook_retry_for);
            return 1;
        }
        /* The body, from the outbox. */
        char *body = NULL;
        size_t len = 0;
        store_read *r;
        int rc = store_read_begin(m->store, &r);
        if (rc == 0) {
            struct store_outbox_entry e;
            rc = store_outbox_get(r, p.id, &e);
            if (rc == 0) {
                size_t ul = e.len >= 2 ? (size_t)e.data[0] | ((size_t)e.data[1] << 8) : SIZE_MAX;
                if (ul == SIZE_MAX || 2 + ul > e.len)
                    rc = STORE_ECORRUPT;
                else if ((body = malloc(e.len - 2 - ul + 1)) != NULL) {
                    len = e.len - 2 - ul;
                    memcpy(body, e.data + 2 + ul, len);
                    body[len] = '\0';
                } else
                    rc = STORE_ENOMEM;
            }
            store_read_end(r);
        }
        if (rc != 0) {
            log_error(m->log, "webhook: request %llu unreadable in the outbox: %s; dropped",
                      (unsigned long long)p.id, store_strerror(rc));
            wh_forget(m, p.id);
            wh_pend_remove(m, i);
            atomic_fetch_add(&m->n_dropped_store, 1);
            return 1;
        }
        const struct webhook_target *tg = &m->conf.t[p.target];
        char sig[SIGN_HEX_LEN + 1];
        sign_hmac_hex(m->cfg->app_secret, strlen(m->cfg->app_secret), body, len, sig);
        size_t hl = strlen(tg->headers) + strlen(m->cfg->app_key) + 160;
        char *headers = malloc(hl);
        int status = -1;
        char err[256] = "";
        if (headers) {
            snprintf(headers, hl,
                     "Content-Type: application/json\r\nX-Pusher-Key: %s\r\n"
                     "X-Pusher-Signature: %s\r\n%s",
                     m->cfg->app_key, sig, tg->headers);
            status = webhook_http_post(tg->host, tg->port, tg->tls, tg->path, headers, body, len,
                                       m->cfg->webhook_timeout_ms, wh_idle, m, err, sizeof err);
        }
        free(headers);
        free(body);
        /* New requests were recorded meanwhile (wh_idle), and the cap may have
         * dropped this one: find it again. */
        for (i = 0; i < m->npend && m->pend[i].id != p.id; i++)
            ;
        if (status >= 200 && status < 300) {
            wh_forget(m, p.id);
            if (i < m->npend)
                wh_pend_remove(m, i);
            atomic_fetch_add(&m->n_delivered, 1);
            if (s->failures)
                log_info(m->log, "webhook: %s answers again", tg->url);
            s->failures = 0;
            s->next_try_ms = 0;
        } else {
            atomic_fetch_add(&m->n_failed, 1);
            s->failures++;
            s->next_try_ms = wh_mono_ms() + wh_backoff(m, s->failures);
            if (status > 0)
                snprintf(err, sizeof err, "HTTP %d", status);
            if ((s->failures & (s->failures - 1)) == 0)
                log_warn(m->log, "webhook: %s failed (%s), attempt %u; retrying in %llu ms",
                         tg->url, err, s->failures,
                         (unsigned long long)(s->next_try_ms - wh_mono_ms()));
        }
        return 1;
    }
    return 0;
}

/* When the thread has something to do next (monotonic ms), UINT64_MAX for
 * nothing until an event comes. */
static uint64_t wh_next_wake(const struct webhook_module *m)
{
    uint64_t next = m->sb ? m->sb_since + WH_DELETE_DELAY_MS : UINT64_MAX;
    for (const struct wh_event *d = m->delayed; d; d = d->next)
        if (d->due_ms < next)
            next = d->due_ms;
    for (size_t t = 0; t < m->conf.n; t++)
        if (m->ts[t].count && m->ts[t].first_ms + m->conf.t[t].batch_ms < next)
            next = m->ts[t].first_ms + m->conf.t[t].batch_ms;
    for (size_t i = 0; i < m->npend; i++) {
        uint64_t at = m->ts[m->pend[i].target].next_try_ms;
        if (at < next)
            next = at;
    }
    return next;
}

static void *wh_thread(void *arg)
{
    struct webhook_module *m = arg;
    for (;;) {
        uint64_t wake = wh_next_wake(m);
        pthread_mutex_lock(&m->mu);
        while (!m->stop && !m->in_head) {
            uint64_t now = wh_mono_ms();
            if (wake <= now)
                break;
            if (wake == UINT64_MAX) {
                pthread_cond_wait(&m->cv, &m->mu);
            } else {
                /* The condition variable waits on the wall clock. */
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (wake - now) * 1000000u;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                pthread_cond_timedwait(&m->cv, &m->mu, &ts);
            }
        }
        pthread_mutex_unlock(&m->mu);
        /* Recorded before attempted: the round's requests are durable before
         * any of them is sent. */
        if (wh_intake(m, 1))
            break;
        wh_send_one(m, wh_mono_ms()); /* its delete waits for a commit (WH_DELETE_DELAY_MS) */
    }
    return NULL;
}

/* ------------------------------------------------------------ start, stop */

struct wh_load {
    struct webhook_module *m;
    size_t unknown;
};

static int wh_load_one(void *ctx, const struct store_outbox_entry *e)
{
    struct wh_load *l = ctx;
    struct webhook_module *m = l->m;
    if (e->id > m->last_id)
        m->last_id = e->id;
    size_t ul = e->len >= 2 ? (size_t)e->data[0] | ((size_t)e->data[1] << 8) : SIZE_MAX;
    size_t t = m->conf.n;
    if (ul != SIZE_MAX && 2 + ul <= e->len)
        for (t = 0; t < m->conf.n; t++)
            if (strlen(m->conf.t[t].url) == ul && memcmp(m->conf.t[t].url, e->data + 2, ul) == 0)
                break;
    if (t == m->conf.n) {
        /* Its webhook is no longer configured. */
        wh_forget(m, e->id);
        l->unknown++;
        return 0;
    }
    return wh_pend_push(m, e->id, e->created_ms, t, e->len) == 0 ? 0 : STORE_ENOMEM;
}

static void wh_free(struct webhook_module *m)
{
    if (!m)
        return;
    while (m->in_head) {
        struct wh_event *n = m->in_head->next;
        wh_event_free(m->in_head);
        m->in_head = n;
    }
    while (m->delayed) {
        struct wh_event *n = m->delayed->next;
        wh_event_free(m->delayed);
        m->delayed = n;
    }
    for (size_t t = 0; m->ts && t < m->conf.n; t++)
        jsonw_free(&m->ts[t].batch);
    free(m->ts);
    free(m->pend);
    store_batch_free(m->sb);
    webhook_config_free(&m->conf);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
}

int webhook_start(struct server *srv, store *s)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    char err[512] = "";
    struct webhook_config conf;
    if (webhook_config_parse(cfg->webhooks, &conf, err, sizeof err) != 0) {
        log_error(lg, "%s", err);
        return -1;
    }
    if (conf.n == 0)
        return 0;
    if (!s) {
        log_error(lg, "webhook: no store for the outbox");
        webhook_config_free(&conf);
        return -1;
    }
    struct webhook_module *m = calloc(1, sizeof *m);
    if (!m) {
        webhook_config_free(&conf);
        return -1;
    }
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->srv = srv;
    m->cfg = cfg;
    m->log = lg;
    m->store = s;
    m->conf = conf;
    m->ts = calloc(conf.n, sizeof *m->ts);
    if (!m->ts) {
        wh_free(m);
        return -1;
    }
    for (size_t t = 0; t < conf.n; t++) {
        jsonw_init(&m->ts[t].batch, NULL, 1024);
        m->wanted |= conf.t[t].types;
    }
    /* A return cancels a leave only if the return is seen. */
    if (m->wanted & WEBHOOK_EV_MEMBER_REMOVED)
        m->wanted |= WEBHOOK_EV_MEMBER_ADDED;
    if (m->wanted & WEBHOOK_EV_VACATED)
        m->wanted |= WEBHOOK_EV_OCCUPIED;

    /* What an earlier run left in the outbox goes out first. */
    struct wh_load l = {m, 0};
    store_read *r;
    int rc = store_read_begin(s, &r);
    if (rc == 0) {
        rc = store_outbox_list(r, 0, 0, wh_load_one, &l);
        store_read_end(r);
    }
    if (rc != 0) {
        log_error(lg, "webhook: cannot read the outbox: %s", store_strerror(rc));
        wh_free(m);
        return -1;
    }
    if (l.unknown)
        log_warn(lg,
                 "webhook: %zu request(s) in the outbox for webhooks no longer configured: "
                 "dropped",
                 l.unknown);
    wh_cap(m); /* the cap may have been lowered since */
    wh_commit(m, 0);
    if (m->npend)
        log_info(lg, "webhook: %zu request(s) from the outbox to send", m->npend);
    atomic_store(&m->n_outbox, m->npend);
    atomic_store(&m->active, 1);
    if (broadcast_observe(srv, wh_observe, m) != 0 ||
        http_api_on_metrics(srv, wh_metrics, m) != 0 ||
        pthread_create(&m->thread, NULL, wh_thread, m) != 0) {
        /* The observer may be registered: leave it with an inactive module. */
        atomic_store(&m->active, 0);
        log_error(lg, "webhook: cannot start");
        wh_module = m;
        return -1;
    }
    m->have_thread = 1;
    wh_module = m;
    for (size_t t = 0; t < conf.n; t++)
        log_info(lg, "webhook: %s", conf.t[t].url);
    return 0;
}

void webhook_stop(struct server *srv)
{
    (void)srv;
    struct webhook_module *m = wh_module;
    if (!m)
        return;
    atomic_store(&m->active, 0);
    if (m->have_thread) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    if (m->npend)
        log_info(m->log, "webhook: %zu request(s) left in the outbox for the next start", m->npend);
    /* The server keeps the observer and the metrics hook: they must find a
     * module that ignores everything, so the struct itself stays (one per
     * process); what only the thread used goes. */
    for (size_t t = 0; m->ts && t < m->conf.n; t++)
        jsonw_free(&m->ts[t].batch);
    free(m->ts);
    m->ts = NULL;
    free(m->pend);
    m->pend = NULL;
    m->npend = 0;
    store_batch_free(m->sb);
    m->sb = NULL;
    webhook_config_free(&m->conf);
}
