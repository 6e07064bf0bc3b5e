/* The server's own activity feed (see sync_feed.h). */
#include "sync_feed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/jsonw.h"
#include "server/metrics.h"
#include "sync_activity.h"
#include "sync_server.h"

#define FEED_TICK_MS 250   /* how often windows that ended are reported */
#define FEED_MAX_OPEN 4096 /* (user, document) pairs coalescing at once */
#define DOC_CHANNEL "private-document."
#define PRESENCE_CHANNEL "presence-document."

struct sync_feed_state {
    struct sync_module *m; /* NULL once the feed ended */
    struct sync_feed *feed;
    struct sync_feed_stats st;
};

/* The one feed of the process (one server per process, as the module). It
 * is never freed: observers cannot be removed, and the server still reports
 * the leaves of the connections it closes while it is freed, after the
 * modules stopped; those find m NULL and are ignored. */
static struct sync_feed_state feed_state;

/* An entry waiting for its commit, broadcast when it is durable. */
struct pending_entry {
    struct sync_feed_state *fs;
    uint64_t ts_ms;
    size_t len;
    char entry[];
};

static void dropped(struct sync_feed_state *fs, const char *why)
{
    uint64_t n = ++fs->st.dropped;
    if (fs->m && (n & (n - 1)) == 0)
        log_warn(server_logger(fs->m->srv), "sync: document activity not logged: %s (%llu so far)",
                 why, (unsigned long long)n);
}

static void entry_done(void *ctx, int status, const struct store_batch_result *res)
{
    struct pending_entry *p = ctx;
    struct sync_feed_state *fs = p->fs;
    if (status != 0) {
        dropped(fs, store_strerror(status));
    } else if (fs->m && fs->m->srv) {
        /* Durable: subscribers hear of it with its place in the log, as
         * apps' events are published (channel history keeps it when it keeps
         * private-activity, so an auditor's feed resumes after a
         * reconnect). */
        char buf[1024];
        struct jsonw w;
        jsonw_init(&w, buf, sizeof buf);
        sync_activity_doc_event(p->entry, p->len, res->activity_first, p->ts_ms, &w);
        if (!w.oom)
            http_api_publish(fs->m->srv, SYNC_ACTIVITY_CHANNEL, SYNC_ACTIVITY_EVENT, w.p, w.len);
        jsonw_free(&w);
    }
    free(p);
}

/* Logs one entry (the writer commits it in submission order). */
static void emit(void *ctx, const struct sync_activity_doc *a)
{
    struct sync_feed_state *fs = ctx;
    char buf[512], sbuf[600];
    struct jsonw e, w;
    jsonw_init(&e, buf, sizeof buf);
    sync_activity_doc_entry(a, &e);
    jsonw_init(&w, sbuf, sizeof sbuf);
    sync_activity_stamp(fs->m->activity_node, e.p, e.len, &w);
    if (e.oom)
        w.oom = 1;
    jsonw_free(&e);
    struct pending_entry *p = w.oom ? NULL : malloc(sizeof *p + w.len + 1);
    store_batch *b = NULL;
    int rc = p ? store_batch_new(&b) : STORE_ENOMEM;
    if (rc == 0) {
        p->fs = fs;
        p->ts_ms = clock_wall_ms();
        p->len = w.len;
        memcpy(p->entry, w.p, w.len + 1);
        rc = store_batch_activity_append(b, p->ts_ms, w.p, w.len);
    }
    jsonw_free(&w);
    if (rc == 0)
        rc = store_writer_submit(fs->m->writer, b, entry_done, p);
    if (rc != 0) {
        store_batch_free(b);
        free(p);
        dropped(fs, store_strerror(rc));
        return;
    }
    fs->st.queued++;
}

/* The version in a document_updated report's members ("...,"version":N"). */
static int version_of(const char *data, size_t len, uint64_t *v)
{
    static const char key[] = "\"version\":";
    for (size_t i = 0; data && i + sizeof key - 1 < len; i++)
        if (memcmp(data + i, key, sizeof key - 1) == 0) {
            uint64_t x = 0;
            size_t j = i + sizeof key - 1, digits = 0;
            for (; j < len && data[j] >= '0' && data[j] <= '9' && digits < 20; j++, digits++)
                x = x * 10 + (uint64_t)(data[j] - '0');
            if (!digits)
                return -1;
            *v = x;
            return 0;
        }
    return -1;
}

static void observe(struct server *srv, const struct broadcast_event *ev, void *ud)
{
    (void)srv;
    struct sync_feed_state *fs = ud;
    if (!fs->m || !ev->channel || !ev->user_id || !*ev->user_id)
        return;
    if (ev->kind == BROADCAST_MODULE_EVENT && ev->event &&
        strcmp(ev->event, "document_updated") == 0 &&
        strncmp(ev->channel, DOC_CHANNEL, sizeof DOC_CHANNEL - 1) == 0) {
        uint64_t v;
        if (version_of(ev->data, ev->data_len, &v) != 0)
            return;
        if (sync_feed_edit(fs->feed, ev->user_id, ev->channel + sizeof DOC_CHANNEL - 1, v,
                           clock_wall_ms(), emit, fs) != 0)
            dropped(fs, "out of memory");
        return;
    }
    if ((ev->kind == BROADCAST_MEMBER_ADDED || ev->kind == BROADCAST_MEMBER_REMOVED) &&
        strncmp(ev->channel, PRESENCE_CHANNEL, sizeof PRESENCE_CHANNEL - 1) == 0) {
        const char *doc = ev->channel + sizeof PRESENCE_CHANNEL - 1;
        /* The edits of a user who leaves are reported before the leave. */
        if (ev->kind == BROADCAST_MEMBER_REMOVED)
            sync_feed_flush(fs->feed, clock_wall_ms(), ev->user_id, doc, emit, fs);
        struct sync_activity_doc a = {.kind = ev->kind == BROADCAST_MEMBER_ADDED
                                                  ? SYNC_ACTIVITY_KIND_JOINED
                                                  : SYNC_ACTIVITY_KIND_LEFT,
                                      .user = ev->user_id,
                                      .doc = doc};
        emit(fs, &a);
    }
}

/* Its lines of GET /metrics. */
static char *feed_metrics(struct server *srv, void *ud)
{
    (void)srv;
    struct sync_feed_state *fs = ud;
    struct metrics_text b = {0};
    metrics_text_printf(
        &b,
        "# HELP docsync_activity_feed_entries_total Document activity entries (coalesced "
        "edits, joins, leaves) the server queued to the activity log.\n"
        "# TYPE docsync_activity_feed_entries_total counter\n"
        "docsync_activity_feed_entries_total %llu\n"
        "# HELP docsync_activity_feed_dropped_total Document activity entries that could "
        "not be logged (writer queue full, store error).\n"
        "# TYPE docsync_activity_feed_dropped_total counter\n"
        "docsync_activity_feed_dropped_total %llu\n"
        "# HELP docsync_activity_feed_coalescing Users' edits of a document waiting for "
        "their window to end.\n"
        "# TYPE docsync_activity_feed_coalescing gauge\n"
        "docsync_activity_feed_coalescing %zu\n",
        (unsigned long long)fs->st.queued, (unsigned long long)fs->st.dropped,
        sync_feed_open(fs->feed));
    return metrics_text_take(&b);
}

static void tick(struct server *srv, void *ud)
{
    (void)srv;
    struct sync_feed_state *fs = ud;
    if (fs->m)
        sync_feed_flush(fs->feed, clock_wall_ms(), NULL, NULL, emit, fs);
}

int sync_feed_start(struct sync_module *m)
{
    unsigned window = server_config(m->srv)->activity_coalesce_ms;
    if (window == 0)
        return 0;
    struct sync_feed_state *fs = &feed_state;
    memset(fs, 0, sizeof *fs);
    if (sync_feed_new(window, FEED_MAX_OPEN, &fs->feed) != 0)
        return -1;
    fs->m = m;
    m->feed = fs;
    if (broadcast_observe(m->srv, observe, fs) != 0 ||
        server_every(m->srv, FEED_TICK_MS, tick, fs) != 0 ||
        http_api_on_metrics(m->srv, feed_metrics, fs) != 0)
        return -1; /* sync_feed_stop frees */
    return 0;
}

void sync_feed_stop(struct sync_module *m)
{
    struct sync_feed_state *fs = m ? m->feed : NULL;
    if (!fs)
        return;
    /* What is still coalescing is logged; nobody is left to hear it. */
    sync_feed_flush(fs->feed, UINT64_MAX, NULL, NULL, emit, fs);
}

void sync_feed_end(struct sync_module *m)
{
    struct sync_feed_state *fs = m ? m->feed : NULL;
    if (!fs)
        return;
    sync_feed_free(fs->feed);
    fs->feed = NULL;
    fs->m = NULL;
    m->feed = NULL;
}
