/* History reads run off the calling (loop) thread: with a wake callback the
 * engine answers a history request only from sync_engine_drain(), after the
 * reader thread woke the loop, and refuses reads beyond its queue bound with
 * "busy" instead of letting them pile up. Rebuilding an old version costs
 * time proportional to the document; on the loop thread a viewer could stall
 * every other client with a few requests. */
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "auth/auth_rules.h"
#include "store.h"
#include "sync/sync_engine.h"
#include "sync/sync_msg.h"
#include "test.h"

static atomic_int wakes;

static void on_wake(void *arg)
{
    (void)arg;
    atomic_fetch_add(&wakes, 1);
}

struct replies {
    int n;
    char event[8][32];
    char text[8][256];
};

static void on_reply(void *arg, const char *event, const char *json)
{
    struct replies *r = arg;
    if (r->n < 8) {
        snprintf(r->event[r->n], sizeof r->event[0], "%s", event);
        snprintf(r->text[r->n], sizeof r->text[0], "%s", json);
    }
    r->n++;
}

static struct sync_reply reply_to(struct replies *r)
{
    struct sync_reply rep;
    memset(&rep, 0, sizeof rep);
    rep.done = on_reply;
    rep.arg = r;
    return rep;
}

static struct sync_request history(uint64_t version)
{
    struct sync_request q;
    memset(&q, 0, sizeof q);
    q.op = SYNC_OP_HISTORY;
    snprintf(q.doc, sizeof q.doc, "d");
    q.version = version;
    return q;
}

/* Waits (bounded) for the reader thread to wake the loop `n` times. */
static void wait_wakes(int n)
{
    for (int i = 0; i < 5000 && atomic_load(&wakes) < n; i++)
        usleep(1000);
    CHECK(atomic_load(&wakes) >= n);
}

int main(void)
{
    char dir[] = "/tmp/docsync-reader-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct store_options so;
    store_options_init(&so);
    so.map_size = 16u << 20;
    store *s = NULL;
    store_writer *w = NULL;
    CHECK_EQ(store_open(dir, &so, &s), 0);
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.history_queue = 2;
    eo.wake = on_wake;
    sync_engine *e = NULL;
    CHECK_EQ(sync_engine_new(s, w, &eo, NULL, &e), 0);

    /* Version 1: "hello", written through the engine and made durable. */
    struct replies wr = {0};
    struct sync_reply wrep = reply_to(&wr);
    struct sync_request rq;
    memset(&rq, 0, sizeof rq);
    rq.op = SYNC_OP_REPLACE;
    snprintf(rq.doc, sizeof rq.doc, "d");
    rq.content = strdup("hello");
    rq.content_len = 5;
    sync_engine_handle(e, &rq, "ada", AUTH_ROLE_EDITOR, &wrep);
    free(rq.content);
    while (store_writer_pending(w))
        store_writer_flush(w);
    CHECK_EQ(wr.n, 1);
    CHECK_STR_EQ(wr.event[0], "docsync:ack");

    /* A history read is not answered on the calling thread ... */
    struct replies hr = {0};
    struct sync_reply hrep = reply_to(&hr);
    struct sync_request q = history(1);
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &hrep);
    CHECK_EQ(hr.n, 0);
    /* ... but after the reader woke the loop and the loop drained. */
    wait_wakes(1);
    sync_engine_drain(e);
    CHECK_EQ(hr.n, 1);
    CHECK_STR_EQ(hr.event[0], "docsync:history");
    CHECK(strstr(hr.text[0], "\"content\":\"hello\"") != NULL);

    /* Errors come the same way: a version beyond the head. */
    struct replies nr = {0};
    struct sync_reply nrep = reply_to(&nr);
    q = history(9);
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &nrep);
    wait_wakes(2);
    sync_engine_drain(e);
    CHECK_EQ(nr.n, 1);
    CHECK_STR_EQ(nr.event[0], "docsync:error");
    CHECK(strstr(nr.text[0], "\"not_found\"") != NULL);

    /* The queue is bounded: reads done but not yet drained count, so the
     * third of three undrained reads is refused at once with "busy". */
    struct replies br = {0};
    struct sync_reply brep = reply_to(&br);
    q = history(1);
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &brep);
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &brep);
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &brep);
    CHECK_EQ(br.n, 1);
    CHECK_STR_EQ(br.event[0], "docsync:error");
    CHECK(strstr(br.text[0], "\"busy\"") != NULL);
    wait_wakes(4);
    sync_engine_drain(e);
    CHECK_EQ(br.n, 3);
    CHECK_STR_EQ(br.event[1], "docsync:history");
    CHECK_STR_EQ(br.event[2], "docsync:history");

    /* Freeing with a read still queued drops it without a reply or a leak. */
    sync_engine_handle(e, &q, "bob", AUTH_ROLE_VIEWER, &brep);
    sync_engine_free(e);
    store_writer_free(w);
    store_close(s);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
    return TEST_RESULT();
}
