/* Unit tests of the sync engine (src/sync/sync_engine.h) over a real store and
 * CRDT, with a fake connection layer that records what would be sent. */
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "auth/auth_rules.h"
#include "common/base64.h"
#include "crdt.h"
#include "store.h"
#include "sync/sync_engine.h"
#include "sync/sync_msg.h"
#include "test.h"

#define MAX_SENT 4096

struct sent {
    char socket[SYNC_SOCKET_ID_MAX];
    char event[64];
    char channel[SYNC_CHANNEL_MAX];
    char except[SYNC_SOCKET_ID_MAX];
    int broadcast;
    cJSON *data;
};

struct fake {
    struct sent v[MAX_SENT];
    size_t n;
    /* The audience callback: what it was last asked, and whether it says
     * that nobody would receive the broadcast. */
    int deaf, asked;
    char asked_channel[SYNC_CHANNEL_MAX], asked_except[SYNC_SOCKET_ID_MAX];
};

static void fake_send(void *ctx, const char *socket_id, const char *event, const char *channel,
                      const char *json)
{
    struct fake *f = ctx;
    if (f->n == MAX_SENT)
        return;
    struct sent *s = &f->v[f->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->socket, sizeof s->socket, "%s", socket_id);
    snprintf(s->event, sizeof s->event, "%s", event);
    snprintf(s->channel, sizeof s->channel, "%s", channel ? channel : "");
    s->data = cJSON_Parse(json);
}

static int fake_audience(void *ctx, const char *channel, const char *except)
{
    struct fake *f = ctx;
    f->asked++;
    snprintf(f->asked_channel, sizeof f->asked_channel, "%s", channel);
    snprintf(f->asked_except, sizeof f->asked_except, "%s", except ? except : "");
    return !f->deaf;
}

static void fake_broadcast(void *ctx, const char *channel, const char *event, const char *json,
                           const char *except)
{
    struct fake *f = ctx;
    if (f->n == MAX_SENT)
        return;
    struct sent *s = &f->v[f->n++];
    memset(s, 0, sizeof *s);
    s->broadcast = 1;
    snprintf(s->event, sizeof s->event, "%s", event);
    snprintf(s->channel, sizeof s->channel, "%s", channel);
    snprintf(s->except, sizeof s->except, "%s", except ? except : "");
    s->data = cJSON_Parse(json);
}

static void fake_clear(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++)
        cJSON_Delete(f->v[i].data);
    f->n = 0;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

struct env {
    char dir[64];
    store *s;
    store_writer *w;
    sync_engine *e;
    struct fake f;
};

/* Zeroes v and makes a fresh temporary directory for its store. */
static void env_mkdir(struct env *v)
{
    memset(v, 0, sizeof *v);
    snprintf(v->dir, sizeof v->dir, "/tmp/docsync-engine-XXXXXX");
    CHECK(mkdtemp(v->dir) != NULL);
}

/* Opens the store in v->dir with `o`, its writer, and an engine with `eo`
 * that sends through v's fake connection layer. */
static void env_start(struct env *v, const struct store_options *o,
                      const struct sync_engine_options *eo)
{
    CHECK_EQ(store_open(v->dir, o, &v->s), 0);
    CHECK_EQ(store_writer_new(v->s, NULL, NULL, NULL, &v->w), 0);
    struct sync_engine_io io = {&v->f, fake_send, fake_broadcast, fake_audience, NULL};
    CHECK_EQ(sync_engine_new(v->s, v->w, eo, &io, &v->e), 0);
}

/* The usual environment: snapshots every 10 ops, 20 ops retained, documents
 * of at most 4096 bytes; in a new directory (v zeroed first) if `fresh`. */
static void env_open(struct env *v, int fresh)
{
    if (fresh)
        env_mkdir(v);
    struct store_options o;
    store_options_init(&o);
    o.map_size = 64u << 20;
    o.snapshot_interval = 10;
    o.retain_ops = 20;
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.snapshot_every = 10;
    eo.doc_max_bytes = 4096;
    env_start(v, &o, &eo);
}

static void env_drain(struct env *v)
{
    while (store_writer_pending(v->w))
        store_writer_flush(v->w);
}

static void env_close(struct env *v)
{
    env_drain(v);
    sync_engine_free(v->e);
    store_writer_free(v->w);
    store_close(v->s);
    fake_clear(&v->f);
}

static void rm_dir(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}

static struct sync_reply to_socket(const char *sid)
{
    struct sync_reply r;
    memset(&r, 0, sizeof r);
    snprintf(r.socket_id, sizeof r.socket_id, "%s", sid);
    snprintf(r.channel, sizeof r.channel, "private-document.d");
    return r;
}

/* Builds and runs a request from a JSON text. */
static void run(struct env *v, enum sync_op op, const char *json, const char *user, int role,
                const char *sid)
{
    cJSON *d = cJSON_Parse(json);
    struct sync_request req;
    const char *why = NULL;
    int rc = sync_msg_parse(op, d, 0, 0, &req, &why);
    cJSON_Delete(d);
    if (rc != 0) {
        fprintf(stderr, "parse failed: %s (%s)\n", why, json);
        CHECK_EQ(rc, 0);
        return;
    }
    struct sync_reply r = to_socket(sid);
    sync_engine_handle(v->e, &req, user, role, &r);
    sync_msg_clear(&req);
}

/* Submits the update u[0..ul) as (client, seq) of document `doc` from `user`. */
static void submit_bytes(struct env *v, const char *doc, const uint8_t *u, size_t ul,
                         const char *client, uint64_t seq, const char *user, const char *sid)
{
    char b64[8192];
    size_t n;
    CHECK_EQ(base64_encode(u, ul, 0, b64, sizeof b64, &n), 0);
    char json[9000];
    snprintf(json, sizeof json,
             "{\"documentId\":\"%s\",\"clientId\":\"%s\",\"seq\":%llu,\"update\":\"%s\"}", doc,
             client, (unsigned long long)seq, b64);
    run(v, SYNC_OP_SUBMIT, json, user, AUTH_ROLE_EDITOR, sid);
}

/* Submits the ops `replica` made since `mark` as (client, seq) of "d" from
 * `user`. */
static void submit_as(struct env *v, crdt_doc *replica, uint64_t mark, const char *client,
                      uint64_t seq, const char *user, const char *sid)
{
    uint8_t *u = NULL;
    size_t ul = 0;
    CHECK_EQ(crdt_doc_encode_since_mark(replica, mark, &u, &ul), CRDT_OK);
    submit_bytes(v, "d", u, ul, client, seq, user, sid);
    crdt_free_bytes(NULL, u);
}

/* Submits the ops `replica` made since `mark` as (client, seq) from u1. */
static void submit(struct env *v, crdt_doc *replica, uint64_t mark, const char *client,
                   uint64_t seq, const char *sid)
{
    submit_as(v, replica, mark, client, seq, "u1", sid);
}

/* A new, empty replica whose agent is `agent`. */
static crdt_doc *new_replica(const char *agent)
{
    crdt_doc *r = NULL;
    CHECK_EQ(crdt_doc_new(NULL, agent, strlen(agent), &r), CRDT_OK);
    return r;
}

static const struct sent *find(const struct fake *f, const char *event, int broadcast, size_t k)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].event, event) == 0 && f->v[i].broadcast == broadcast && k-- == 0)
            return &f->v[i];
    return NULL;
}

static void test_submit_ack_broadcast_dup(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *a = new_replica("ca"); /* agent = clientId */
    uint64_t m = crdt_doc_mark(a);
    CHECK_EQ(crdt_doc_insert(a, 0, "hello", 5), CRDT_OK);
    submit(&v, a, m, "ca", 1, "1.1");
    CHECK_EQ(v.f.n, 0); /* nothing before the commit */
    env_drain(&v);
    const struct sent *ack = find(&v.f, "docsync:ack", 0, 0);
    const struct sent *bc = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0);
    CHECK(ack && bc);
    if (ack && bc) {
        CHECK_EQ(num(ack->data, "version"), 1);
        CHECK_STR_EQ(ack->socket, "1.1");
        CHECK_STR_EQ(bc->channel, "private-document.d");
        CHECK_STR_EQ(bc->except, "1.1");
        CHECK_EQ(num(bc->data, "version"), 1);
        CHECK_STR_EQ(str(bc->data, "content"), "hello");
        CHECK_STR_EQ(str(bc->data, "user"), "u1");
    }
    fake_clear(&v.f);
    /* Same (client, seq): acked again with version 1, nothing broadcast. */
    submit(&v, a, m, "ca", 1, "1.2");
    env_drain(&v);
    ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack != NULL);
    if (ack) {
        CHECK_EQ(num(ack->data, "version"), 1);
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ack->data, "duplicate")));
    }
    CHECK(find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0) == NULL);
    fake_clear(&v.f);
    /* Pipelined: 30 submits without draining; acks in version order. */
    for (int i = 0; i < 30; i++) {
        m = crdt_doc_mark(a);
        CHECK_EQ(crdt_doc_insert(a, crdt_doc_length(a), "x", 1), CRDT_OK);
        submit(&v, a, m, "ca", (uint64_t)(2 + i), "1.1");
    }
    env_drain(&v);
    for (int i = 0; i < 30; i++) {
        const struct sent *s = find(&v.f, "docsync:ack", 0, (size_t)i);
        const struct sent *b = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, (size_t)i);
        CHECK(s && b);
        if (s && b) {
            CHECK_EQ(num(s->data, "version"), 2 + i);
            CHECK_EQ(num(b->data, "version"), 2 + i);
        }
    }
    fake_clear(&v.f);
    /* An older seq still in the log: acked with its version. */
    submit(&v, a, crdt_doc_mark(a), "ca", 5, "1.1");
    env_drain(&v);
    ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack && num(ack->data, "version") == 5);
    fake_clear(&v.f);
    /* Stale whole-content write; then a good one. */
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"d\",\"baseVersion\":3,\"content\":\"bye\"}", "u2",
        AUTH_ROLE_EDITOR, "1.3");
    const struct sent *err = find(&v.f, "docsync:error", 0, 0);
    CHECK(err != NULL);
    if (err) {
        CHECK_STR_EQ(str(err->data, "code"), "conflict");
        CHECK_EQ(num(err->data, "currentVersion"), 31);
    }
    fake_clear(&v.f);
    run(&v, SYNC_OP_REPLACE,
        "{\"documentId\":\"d\",\"baseVersion\":31,\"content\":\"hello wörld\"}", "u2",
        AUTH_ROLE_EDITOR, "1.3");
    env_drain(&v);
    ack = find(&v.f, "docsync:ack", 0, 0);
    bc = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0);
    CHECK(ack && bc);
    if (ack && bc) {
        CHECK_EQ(num(ack->data, "version"), 32);
        CHECK_STR_EQ(str(bc->data, "content"), "hello wörld");
        /* The broadcast update brings replica A to the same text. */
        const char *u = str(bc->data, "update");
        uint8_t bin[4096];
        size_t bl;
        CHECK_EQ(base64_decode(u, strlen(u), 0, bin, sizeof bin, &bl), 0);
        CHECK_EQ(crdt_doc_apply(a, bin, bl, NULL), CRDT_OK);
        char *t = NULL;
        crdt_doc_text(a, &t, NULL);
        CHECK_STR_EQ(t, "hello wörld");
        crdt_free_bytes(NULL, t);
    }
    fake_clear(&v.f);
    /* Viewer refused. */
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"d\",\"baseVersion\":32,\"content\":\"x\"}", "u3",
        AUTH_ROLE_VIEWER, "1.4");
    err = find(&v.f, "docsync:error", 0, 0);
    CHECK(err && strcmp(str(err->data, "code"), "forbidden") == 0);
    fake_clear(&v.f);
    /* Missing dependencies: replica B built on ops the server never saw. */
    crdt_doc *b = new_replica("cb");
    crdt_doc_insert(b, 0, "zz", 2);
    uint64_t bm = crdt_doc_mark(b);
    crdt_doc_insert(b, 1, "y", 1);
    submit(&v, b, bm, "cb", 1, "1.5");
    err = find(&v.f, "docsync:error", 0, 0);
    CHECK(err != NULL);
    if (err) {
        CHECK_STR_EQ(str(err->data, "code"), "missing_dependencies");
        CHECK_EQ(num(err->data, "catchUpFrom"), 32);
    }
    fake_clear(&v.f);
    /* Too large: the document would exceed 4096 bytes; state unchanged. */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    m = crdt_doc_mark(a);
    crdt_doc_insert(a, 0, big, strlen(big));
    submit(&v, a, m, "ca", 100, "1.1");
    err = find(&v.f, "docsync:error", 0, 0);
    CHECK(err && strcmp(str(err->data, "code"), "too_large") == 0);
    fake_clear(&v.f);
    crdt_doc_free(a);
    crdt_doc_free(b);

    /* Catch-up, pure replay from version 29. */
    run(&v, SYNC_OP_CATCHUP, "{\"documentId\":\"d\",\"version\":0}", "u1", AUTH_ROLE_VIEWER, "1.6");
    const struct sent *cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu != NULL);
    char epoch[64] = "";
    if (cu)
        snprintf(epoch, sizeof epoch, "%s", str(cu->data, "epoch"));
    fake_clear(&v.f);
    char json[256];
    snprintf(json, sizeof json, "{\"documentId\":\"d\",\"version\":29,\"epoch\":\"%s\"}", epoch);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu != NULL);
    if (cu) {
        CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cu->data, "replay")));
        CHECK_EQ(num(cu->data, "head"), 32);
        const cJSON *ups = cJSON_GetObjectItemCaseSensitive(cu->data, "updates");
        CHECK_EQ(cJSON_GetArraySize(ups), 3);
        CHECK_EQ(num(cJSON_GetArrayItem(ups, 0), "version"), 30);
    }
    fake_clear(&v.f);
    /* Wrong epoch: snapshot, not a replay. */
    run(&v, SYNC_OP_CATCHUP,
        "{\"documentId\":\"d\",\"version\":29,\"epoch\":\"00000000000000000000000000000000\"}",
        "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cu->data, "replay")));
    CHECK(cu && cJSON_GetObjectItemCaseSensitive(cu->data, "snapshot") != NULL);
    fake_clear(&v.f);
    /* History at version 1 and at the head; beyond the head. */
    run(&v, SYNC_OP_HISTORY, "{\"documentId\":\"d\",\"version\":32}", "u1", AUTH_ROLE_VIEWER,
        "1.6");
    const struct sent *h = find(&v.f, "docsync:history", 0, 0);
    CHECK(h && strcmp(str(h->data, "content"), "hello wörld") == 0);
    fake_clear(&v.f);
    run(&v, SYNC_OP_HISTORY, "{\"documentId\":\"d\",\"version\":99}", "u1", AUTH_ROLE_VIEWER,
        "1.6");
    err = find(&v.f, "docsync:error", 0, 0);
    CHECK(err && strcmp(str(err->data, "code"), "not_found") == 0);
    fake_clear(&v.f);
    /* Old history beyond retention (retain 20, snapshots every 10). */
    run(&v, SYNC_OP_HISTORY, "{\"documentId\":\"d\",\"version\":1}", "u1", AUTH_ROLE_VIEWER, "1.6");
    CHECK(v.f.n == 1);
    fake_clear(&v.f);
    env_close(&v);

    /* Reopen: head, text and epoch are kept. */
    env_open(&v, 0);
    run(&v, SYNC_OP_HISTORY, "{\"documentId\":\"d\",\"version\":32}", "u1", AUTH_ROLE_VIEWER,
        "1.6");
    h = find(&v.f, "docsync:history", 0, 0);
    CHECK(h && strcmp(str(h->data, "content"), "hello wörld") == 0);
    fake_clear(&v.f);
    snprintf(json, sizeof json, "{\"documentId\":\"d\",\"version\":31,\"epoch\":\"%s\"}", epoch);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cu->data, "replay")));
    fake_clear(&v.f);
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"d\",\"baseVersion\":32,\"content\":\"fin\"}", "u2",
        AUTH_ROLE_OWNER, "1.3");
    env_drain(&v);
    ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack && num(ack->data, "version") == 33);
    env_close(&v);
    rm_dir(v.dir);
}

/* A DocumentUpdated that nobody but its sender would receive is not built:
 * the engine asks the audience callback first (channel and sender), acks as
 * always, and broadcasts only when someone is there. */
static void test_no_audience(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *a = new_replica("ca");
    uint64_t m = crdt_doc_mark(a);
    CHECK_EQ(crdt_doc_insert(a, 0, "solo", 4), CRDT_OK);
    v.f.deaf = 1;
    submit(&v, a, m, "ca", 1, "1.1");
    env_drain(&v);
    CHECK_EQ(v.f.asked, 1);
    CHECK_STR_EQ(v.f.asked_channel, "private-document.d");
    CHECK_STR_EQ(v.f.asked_except, "1.1");
    const struct sent *ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack && num(ack->data, "version") == 1);
    CHECK(find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0) == NULL);
    CHECK_EQ(v.f.n, 1);
    fake_clear(&v.f);
    v.f.deaf = 0;
    m = crdt_doc_mark(a);
    CHECK_EQ(crdt_doc_insert(a, 4, "!", 1), CRDT_OK);
    submit(&v, a, m, "ca", 2, "1.1");
    env_drain(&v);
    CHECK_EQ(v.f.asked, 2);
    const struct sent *bc = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0);
    CHECK(bc && num(bc->data, "version") == 2);
    if (bc)
        CHECK_STR_EQ(str(bc->data, "content"), "solo!");
    fake_clear(&v.f);
    crdt_doc_free(a);
    env_close(&v);
}

static void test_parse(void)
{
    static const char *bad[] = {
        "[]",
        "{}",
        "{\"documentId\":\"\",\"clientId\":\"c\",\"seq\":1,\"update\":\"AA==\"}",
        "{\"documentId\":\"a b\",\"clientId\":\"c\",\"seq\":1,\"update\":\"AA==\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c c\",\"seq\":1,\"update\":\"AA==\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":0,\"update\":\"AA==\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1.5,\"update\":\"AA==\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":-1,\"update\":\"AA==\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1,\"update\":\"A\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1,\"update\":\"\"}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1,\"update\":5}",
        "{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1e300,\"update\":\"AA==\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *d = cJSON_Parse(bad[i]);
        struct sync_request r;
        const char *why = NULL;
        int rc = sync_msg_parse(SYNC_OP_SUBMIT, d, 0, 0, &r, &why);
        if (rc == 0)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(rc != 0);
        CHECK(why != NULL);
        sync_msg_clear(&r);
        cJSON_Delete(d);
    }
    cJSON *d = cJSON_Parse("{\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":\"12\","
                           "\"update\":\"AAEC\",\"requestId\":7}");
    struct sync_request r;
    CHECK_EQ(sync_msg_parse(SYNC_OP_SUBMIT, d, 0, 0, &r, NULL), 0);
    CHECK_EQ(r.seq, 12);
    CHECK_EQ(r.update_len, 3);
    CHECK_STR_EQ(r.request_id, "7");
    sync_msg_clear(&r);
    CHECK_EQ(sync_msg_parse(SYNC_OP_SUBMIT, d, 2, 0, &r, NULL), SYNC_MSG_ETOOBIG);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"documentId\":\"d\",\"baseVersion\":3,\"content\":\"abc\"}");
    CHECK_EQ(sync_msg_parse(SYNC_OP_REPLACE, d, 0, 0, &r, NULL), 0);
    CHECK_EQ(r.base_version, 3);
    CHECK_STR_EQ(r.content, "abc");
    sync_msg_clear(&r);
    CHECK_EQ(sync_msg_parse(SYNC_OP_REPLACE, d, 0, 2, &r, NULL), SYNC_MSG_ETOOBIG);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"documentId\":\"d\",\"version\":3,\"epoch\":\"zz\"}");
    CHECK_EQ(sync_msg_parse(SYNC_OP_CATCHUP, d, 0, 0, &r, NULL), SYNC_MSG_EINVAL);
    cJSON_Delete(d);
    CHECK_EQ(sync_msg_op_from_event("docsync:history"), SYNC_OP_HISTORY);
    CHECK_EQ(sync_msg_op_from_event("docsync:x"), -1);
}

/* Whole-content writes that delete more than a million characters in total:
 * the document must still reload (snapshots that would not load are not
 * stored; the ops since the last good one are kept). */
static void test_many_tombstones(void)
{
    struct env v;
    env_mkdir(&v);
    struct store_options o;
    store_options_init(&o);
    o.map_size = 256u << 20;
    o.retain_ops = 2;
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.snapshot_every = 2;
    eo.doc_max_bytes = 1u << 20;
    env_start(&v, &o, &eo);
    size_t n = 140000;
    char *json = malloc(n + 128);
    /* Eight large texts, each replacing the previous, then two tiny ones: the
     * state at version 10 has ~1.05M deleted characters and almost no text,
     * more than crdt_doc_apply accepts for its size. */
    for (int i = 0; i < 10; i++) {
        size_t len = i < 8 ? n : 1;
        int k =
            snprintf(json, n + 128, "{\"documentId\":\"t\",\"baseVersion\":%d,\"content\":\"", i);
        memset(json + k, 'a' + i, len);
        strcpy(json + k + len, "\"}");
        run(&v, SYNC_OP_REPLACE, json, "u", AUTH_ROLE_EDITOR, "1.1");
        env_drain(&v);
    }
    free(json);
    const struct sent *ack = find(&v.f, "docsync:ack", 0, 9);
    CHECK(ack && num(ack->data, "version") == 10);
    fake_clear(&v.f);
    env_close(&v);
    /* Reopen: the document loads and has the last text. */
    env_start(&v, &o, &eo);
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"t\",\"baseVersion\":10,\"content\":\"end\"}", "u",
        AUTH_ROLE_EDITOR, "1.1");
    env_drain(&v);
    ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack && num(ack->data, "version") == 11);
    if (!ack && v.f.n)
        fprintf(stderr, "reply: %s %s\n", v.f.v[0].event, str(v.f.v[0].data, "message"));
    env_close(&v);
    rm_dir(v.dir);
}

/* Snapshots of a large document are amortized: once the last snapshot is
 * 64 KiB or more, the next waits until the ops since it add up to half its
 * size, however many versions pass (a snapshot costs the whole document on
 * the loop thread). A small document keeps one every snapshot_every ops. */
static uint64_t snapshot_of(struct env *v, const char *doc)
{
    store_read *r;
    struct store_doc_info info;
    memset(&info, 0, sizeof info);
    CHECK_EQ(store_read_begin(v->s, &r), 0);
    CHECK_EQ(store_doc_get(r, doc, &info), 0);
    store_read_end(r);
    return info.snapshot_version;
}

static void replace_with(struct env *v, const char *doc, int base, const char *text, size_t len)
{
    char *json = malloc(len + 128);
    int k = snprintf(json, len + 128, "{\"documentId\":\"%s\",\"baseVersion\":%d,\"content\":\"",
                     doc, base);
    memcpy(json + k, text, len);
    strcpy(json + k + len, "\"}");
    run(v, SYNC_OP_REPLACE, json, "u", AUTH_ROLE_EDITOR, "1.1");
    env_drain(v);
    free(json);
    const struct sent *ack = find(&v->f, "docsync:ack", 0, 0);
    CHECK(ack && num(ack->data, "version") == (uint64_t)base + 1);
    fake_clear(&v->f);
}

static void test_snapshot_amortized(void)
{
    struct env v;
    env_mkdir(&v);
    struct store_options o;
    store_options_init(&o);
    o.map_size = 256u << 20;
    o.retain_ops = 1000;
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.snapshot_every = 2;
    eo.doc_max_bytes = 1u << 20;
    env_start(&v, &o, &eo);
    /* 300,000 pseudo-random letters: a state far above 64 KiB once packed. */
    size_t n = 300000;
    char *text = malloc(n + 300000);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n + 300000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        text[i] = (char)('a' + x % 26);
    }
    replace_with(&v, "big", 0, text, n);
    replace_with(&v, "big", 1, text, n + 1);
    CHECK_EQ(snapshot_of(&v, "big"), 2); /* the first one: nothing to amortize yet */
    /* Eight one-character edits: versions 3-10, far from half the snapshot. */
    for (int i = 2; i < 10; i++)
        replace_with(&v, "big", i, text, n + (size_t)i);
    CHECK_EQ(snapshot_of(&v, "big"), 2);
    /* 300,000 characters more in one op: now the ops weigh enough. */
    replace_with(&v, "big", 10, text, n + 300000);
    CHECK_EQ(snapshot_of(&v, "big"), 11);
    /* A small document: every second version, as before. */
    for (int i = 0; i < 10; i++)
        replace_with(&v, "small", i, text, 10 + (size_t)i);
    CHECK_EQ(snapshot_of(&v, "small"), 10);
    free(text);
    env_close(&v);
    /* Reopened, the large document loads from version 11's snapshot. */
    env_start(&v, &o, &eo);
    replace_with(&v, "big", 11, "end", 3);
    env_close(&v);
    rm_dir(v.dir);
}

/* The replies written as JSON text directly escape what they carry: a user
 * name and a content with quotes, backslashes, control characters and
 * non-ASCII text come back unchanged through a JSON parser. */
static void test_json_text(void)
{
    struct env v;
    env_open(&v, 1);
    const char *user = "we\"ird\\user \xc3\xa9/<>";
    const char *content = "he said \"hi\"\\ \n\t\x01\x1f caf\xc3\xa9 \xe2\x82\xac";
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "documentId", "d");
    cJSON_AddNumberToObject(req, "baseVersion", 0);
    cJSON_AddStringToObject(req, "content", content);
    cJSON_AddStringToObject(req, "clientId", "c-1");
    cJSON_AddStringToObject(req, "requestId", "r.1");
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    /* seq 2^53-1 written by hand: cJSON prints it as 9.00719925474099e+15
     * (its round-trip check is approximate), i.e. 9007199254740990. */
    char json[512];
    snprintf(json, sizeof json, "%.*s,\"seq\":9007199254740991}", body ? (int)strlen(body) - 1 : 0,
             body ? body : "");
    free(body);
    run(&v, SYNC_OP_REPLACE, json, user, AUTH_ROLE_EDITOR, "1.1");
    env_drain(&v);
    const struct sent *ack = find(&v.f, "docsync:ack", 0, 0);
    CHECK(ack && ack->data);
    if (ack && ack->data) {
        CHECK_EQ(num(ack->data, "version"), 1);
        CHECK_EQ(num(ack->data, "seq"), 9007199254740991.0);
        CHECK(strcmp(str(ack->data, "clientId"), "c-1") == 0);
        CHECK(strcmp(str(ack->data, "requestId"), "r.1") == 0);
        CHECK(strcmp(str(ack->data, "documentId"), "d") == 0);
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(ack->data, "duplicate")));
        CHECK(cJSON_GetObjectItemCaseSensitive(ack->data, "applied") == NULL);
    }
    const struct sent *up = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0);
    CHECK(up && up->data);
    if (up && up->data) {
        CHECK(strcmp(str(up->data, "user"), user) == 0);
        CHECK(strcmp(str(up->data, "content"), content) == 0);
        CHECK_EQ(num(up->data, "version"), 1);
        CHECK_EQ(num(up->data, "seq"), 9007199254740991.0);
        CHECK(strcmp(up->except, "1.1") == 0);
        /* The update applies to an empty replica and gives the content. */
        const char *u = str(up->data, "update");
        uint8_t bin[4096];
        size_t bl = 0;
        CHECK_EQ(base64_decode(u, strlen(u), 0, bin, sizeof bin, &bl), 0);
        crdt_doc *r = new_replica("R");
        CHECK_EQ(crdt_doc_apply(r, bin, bl, NULL), CRDT_OK);
        char *t = NULL;
        size_t tl = 0;
        CHECK_EQ(crdt_doc_text(r, &t, &tl), CRDT_OK);
        CHECK(t && tl == strlen(content) && memcmp(t, content, tl) == 0);
        crdt_free_bytes(NULL, t);
        crdt_doc_free(r);
    }
    fake_clear(&v.f);
    /* Catch-up carries the same user; small members come first. */
    run(&v, SYNC_OP_CATCHUP, "{\"documentId\":\"d\",\"version\":0,\"requestId\":\"q\"}", "u1",
        AUTH_ROLE_VIEWER, "1.2");
    const struct sent *cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && cu->data);
    if (cu && cu->data) {
        CHECK(strcmp(str(cu->data, "requestId"), "q") == 0);
        CHECK_EQ(num(cu->data, "nextVersion"), 2);
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cu->data, "more")));
        const cJSON *ups = cJSON_GetObjectItemCaseSensitive(cu->data, "updates");
        CHECK_EQ(cJSON_GetArraySize(ups), 1);
        CHECK(strcmp(str(cJSON_GetArrayItem(ups, 0), "user"), user) == 0);
    }
    env_close(&v);
    rm_dir(v.dir);
}

/* A document loaded while every other open document waits for its commit
 * stays open even though the limit is exceeded (it is the one being used). */
static void test_evict_busy(void)
{
    struct env v;
    env_mkdir(&v);
    struct store_options o;
    store_options_init(&o);
    o.map_size = 64u << 20;
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.max_open_docs = 2;
    env_start(&v, &o, &eo);
    static const char *docs[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"documentId\":\"%s\",\"baseVersion\":0,\"content\":\"x\"}",
                 docs[i]);
        run(&v, SYNC_OP_REPLACE, json, "u", AUTH_ROLE_EDITOR, "1.1");
    }
    struct sync_engine_stats st;
    sync_engine_stats_get(v.e, &st);
    CHECK_EQ(st.open_docs, 3);
    env_drain(&v);
    for (size_t i = 0; i < 3; i++) {
        const struct sent *ack = find(&v.f, "docsync:ack", 0, i);
        CHECK(ack && num(ack->data, "version") == 1);
    }
    sync_engine_stats_get(v.e, &st);
    CHECK(st.open_docs <= 2);
    env_close(&v);
    rm_dir(v.dir);
}

/* The one reply `event` (ack or error) sent to socket `sid` since the last
 * fake_clear, or NULL. */
static const struct sent *reply_to(const struct fake *f, const char *sid)
{
    for (size_t i = 0; i < f->n; i++)
        if (!f->v[i].broadcast && strcmp(f->v[i].socket, sid) == 0)
            return &f->v[i];
    return NULL;
}

/* Checks that the reply to `sid` is docsync:error with `code`. */
static void expect_error(const struct fake *f, const char *sid, const char *code)
{
    const struct sent *r = reply_to(f, sid);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR_EQ(r->event, "docsync:error");
    CHECK_STR_EQ(str(r->data, "code"), code);
    if (strcmp(str(r->data, "code"), code) != 0)
        fprintf(stderr, "  reply: %s %s\n", str(r->data, "code"), str(r->data, "message"));
}

/* Checks that the reply to `sid` is an ack of a new op at `version`. */
static void expect_ack(const struct fake *f, const char *sid, double version)
{
    const struct sent *r = reply_to(f, sid);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR_EQ(r->event, "docsync:ack");
    if (strcmp(r->event, "docsync:ack") != 0)
        fprintf(stderr, "  reply: %s %s\n", str(r->data, "code"), str(r->data, "message"));
    CHECK_EQ(num(r->data, "version"), version);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->data, "duplicate")));
    CHECK(cJSON_GetObjectItemCaseSensitive(r->data, "applied") == NULL);
}

/* Checks that the text of `doc` at its head `version` is `want`. */
static void expect_text(struct env *v, const char *doc, int version, const char *want)
{
    char json[128];
    snprintf(json, sizeof json, "{\"documentId\":\"%s\",\"version\":%d}", doc, version);
    run(v, SYNC_OP_HISTORY, json, "u1", AUTH_ROLE_VIEWER, "9.9");
    const struct sent *h = find(&v->f, "docsync:history", 0, 0);
    CHECK(h != NULL);
    if (h)
        CHECK_STR_EQ(str(h->data, "content"), want);
    char head[128];
    snprintf(head, sizeof head, "{\"documentId\":\"%s\",\"version\":%d}", doc, version + 1);
    fake_clear(&v->f);
    run(v, SYNC_OP_HISTORY, head, "u1", AUTH_ROLE_VIEWER, "9.9");
    expect_error(&v->f, "9.9", "not_found"); /* `version` is the head */
    fake_clear(&v->f);
}

/* A replica of document "d" as the server has it, for `agent`. */
static crdt_doc *replica_of(struct env *v, const char *agent)
{
    run(v, SYNC_OP_CATCHUP, "{\"documentId\":\"d\",\"version\":0}", "u1", AUTH_ROLE_VIEWER, "9.8");
    const struct sent *cu = find(&v->f, "docsync:catchup", 0, 0);
    crdt_doc *r = new_replica(agent);
    const cJSON *ups = cu ? cJSON_GetObjectItemCaseSensitive(cu->data, "updates") : NULL;
    const cJSON *snap = cu ? cJSON_GetObjectItemCaseSensitive(cu->data, "snapshot") : NULL;
    static uint8_t bin[1 << 16];
    size_t bl = 0;
    if (snap) {
        const char *st = str(snap, "state");
        CHECK_EQ(base64_decode(st, strlen(st), 0, bin, sizeof bin, &bl), 0);
        CHECK_EQ(crdt_doc_apply(r, bin, bl, NULL), CRDT_OK);
    }
    for (int i = 0; i < cJSON_GetArraySize(ups); i++) {
        const char *u = str(cJSON_GetArrayItem(ups, i), "update");
        CHECK_EQ(base64_decode(u, strlen(u), 0, bin, sizeof bin, &bl), 0);
        CHECK_EQ(crdt_doc_apply(r, bin, bl, NULL), CRDT_OK);
    }
    crdt_doc_set_agent(r, agent, strlen(agent), CRDT_SEQ_AUTO);
    fake_clear(&v->f);
    return r;
}

/* Inserts `text` at code point `pos` of `r` and submits it as (client, seq)
 * from `user` on socket `sid`. */
static void edit_as(struct env *v, crdt_doc *r, size_t pos, const char *text, const char *client,
                    uint64_t seq, const char *user, const char *sid)
{
    uint64_t m = crdt_doc_mark(r);
    CHECK_EQ(crdt_doc_insert(r, pos, text, strlen(text)), CRDT_OK);
    submit_as(v, r, m, client, seq, user, sid);
}

/* Drains the writer, checks that the reply to `sid` is an ack of a new op at
 * `version`, and forgets what was sent. */
static void drain_ack(struct env *v, const char *sid, double version)
{
    env_drain(v);
    expect_ack(&v->f, sid, version);
    fake_clear(&v->f);
}

/* Checks that the reply to `sid` is docsync:error with `code`, and forgets
 * what was sent. */
static void refused(struct env *v, const char *sid, const char *code)
{
    expect_error(&v->f, sid, code);
    fake_clear(&v->f);
}

/* A new env where alice wrote "hello" to document "d" (version 1) as client
 * `client` on socket 1.1; returns her replica, whose agent is `client`. */
static crdt_doc *env_with_hello(struct env *v, const char *client)
{
    env_open(v, 1);
    crdt_doc *r = new_replica(client);
    edit_as(v, r, 0, "hello", client, 1, "alice", "1.1");
    drain_ack(v, "1.1", 1);
    return r;
}

/* A client id belongs to the user who first wrote with it on the document:
 * another editor who knows it from DocumentUpdated cannot take the
 * victim's next seq (which would make the victim's real edit a silent
 * duplicate) nor seq 2^53-1 (which would refuse all its later edits), also
 * when both first submits are in one batch and after a restart. */
static void test_client_id_taken(void)
{
    struct env v;
    crdt_doc *vic = env_with_hello(&v, "cv");

    /* Mallory replays what DocumentUpdated showed: clientId cv, next seq 2,
     * with ops of agent cv at the victim's next seqs. */
    crdt_doc *mal = replica_of(&v, "cv");
    edit_as(&v, mal, 0, "X", "cv", 2, "mallory", "2.1");
    refused(&v, "2.1", "client_id_taken");
    edit_as(&v, mal, 0, "Y", "cv", 9007199254740991ull, "mallory", "2.1");
    expect_error(&v.f, "2.1", "client_id_taken");
    const struct sent *err = reply_to(&v.f, "2.1");
    if (err)
        CHECK(strstr(str(err->data, "message"), "belongs to another user") != NULL);
    env_drain(&v);
    CHECK(find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0) == NULL); /* nothing applied */
    fake_clear(&v.f);

    /* The victim's real edits apply, as new ops. */
    edit_as(&v, vic, 5, " world", "cv", 2, "alice", "1.1");
    drain_ack(&v, "1.1", 2);
    edit_as(&v, vic, 11, "!", "cv", 3, "alice", "1.1");
    drain_ack(&v, "1.1", 3);
    expect_text(&v, "d", 3, "hello world!");

    /* Two first submits under a new client id in one batch: while alice's
     * seq 4 is in flight, alice then mallory first use "fresh". */
    crdt_doc *fa = replica_of(&v, "fresh");
    crdt_doc *fm = replica_of(&v, "fresh");
    edit_as(&v, vic, 0, "<", "cv", 4, "alice", "1.1");
    edit_as(&v, fa, 12, "a", "fresh", 1, "alice", "1.2");
    edit_as(&v, fm, 0, "m", "fresh", 1, "mallory", "2.2");
    refused(&v, "2.2", "client_id_taken");
    edit_as(&v, fm, 0, "m", "fresh", 2, "mallory", "2.2");
    refused(&v, "2.2", "client_id_taken");
    drain_ack(&v, "1.2", 5);
    expect_text(&v, "d", 5, "<hello world!a");
    env_close(&v);

    /* After a restart the owners come from the store. */
    env_open(&v, 0);
    edit_as(&v, mal, 0, "Z", "cv", 10, "mallory", "2.3");
    refused(&v, "2.3", "client_id_taken");
    edit_as(&v, fm, 0, "m", "fresh", 3, "mallory", "2.3");
    refused(&v, "2.3", "client_id_taken");
    /* Whole-content writes under a client id are checked too. */
    run(&v, SYNC_OP_REPLACE,
        "{\"documentId\":\"d\",\"baseVersion\":5,\"content\":\"gone\",\"clientId\":\"cv\","
        "\"seq\":99}",
        "mallory", AUTH_ROLE_EDITOR, "2.4");
    refused(&v, "2.4", "client_id_taken");
    edit_as(&v, vic, 0, ">", "cv", 5, "alice", "1.1");
    drain_ack(&v, "1.1", 6);
    expect_text(&v, "d", 6, "><hello world!a");
    /* Mallory's own client id works. */
    crdt_doc *own = replica_of(&v, "cm");
    edit_as(&v, own, 0, "m", "cm", 1, "mallory", "2.5");
    env_drain(&v);
    expect_ack(&v.f, "2.5", 7);
    env_close(&v);
    crdt_doc_free(vic);
    crdt_doc_free(mal);
    crdt_doc_free(fa);
    crdt_doc_free(fm);
    crdt_doc_free(own);
    rm_dir(v.dir);
}

/* An update may only carry operations of the agent named like its client id,
 * and never of the server's agent: forged ops of the victim's next seqs
 * would make the victim's characters disappear behind a normal ack, and
 * forged ops of docsync-server at seq 0 and 2^32 - 3 would make every
 * later whole-content write fail. */
static void test_forbidden_agent(void)
{
    struct env v;
    crdt_doc *vic = env_with_hello(&v, "ca");

    /* Mallory, under her own client id, sends ops of agent ca. */
    crdt_doc *forged = replica_of(&v, "ca");
    edit_as(&v, forged, 5, "XX", "cm", 1, "mallory", "2.1");
    expect_error(&v.f, "2.1", "forbidden_agent");
    const struct sent *err = reply_to(&v.f, "2.1");
    if (err)
        CHECK(strstr(str(err->data, "message"), "operations of agent ca;") != NULL);
    fake_clear(&v.f);
    /* Her own ops followed by one of ca's: refused as a whole. */
    crdt_doc *mixed = replica_of(&v, "cm");
    uint64_t m = crdt_doc_mark(mixed);
    CHECK_EQ(crdt_doc_insert(mixed, 0, "ok", 2), CRDT_OK);
    crdt_doc_set_agent(mixed, "ca", 2, CRDT_SEQ_AUTO);
    CHECK_EQ(crdt_doc_delete(mixed, 2, 1), CRDT_OK);
    submit_as(&v, mixed, m, "cm", 2, "mallory", "2.1");
    refused(&v, "2.1", "forbidden_agent");
    /* The server's agent, at seq 0 and at 2^32 - 3, under her client id and
     * as her client id. */
    crdt_doc *srv = replica_of(&v, "docsync-server");
    crdt_doc_set_agent(srv, "docsync-server", 14, 0);
    edit_as(&v, srv, 0, "s", "cm", 3, "mallory", "2.1");
    refused(&v, "2.1", "forbidden_agent");
    crdt_doc_set_agent(srv, "docsync-server", 14, 4294967293ull);
    edit_as(&v, srv, 0, "t", "cm", 4, "mallory", "2.1");
    refused(&v, "2.1", "forbidden_agent");
    crdt_doc_set_agent(srv, "docsync-server", 14, 1);
    edit_as(&v, srv, 0, "u", "docsync-server", 1, "mallory", "2.1");
    expect_error(&v.f, "2.1", "forbidden_agent");
    err = reply_to(&v.f, "2.1");
    if (err)
        CHECK(strstr(str(err->data, "message"), "server's own") != NULL);
    fake_clear(&v.f);
    /* A malformed update is still "invalid". */
    static const uint8_t junk[] = {0xD5, 0x01, 0x05};
    submit_bytes(&v, "d", junk, sizeof junk, "cm", 5, "mallory", "2.1");
    refused(&v, "2.1", "invalid");
    env_drain(&v);
    CHECK(find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0) == NULL);
    fake_clear(&v.f);

    /* The victim's next edit applies whole; whole-content writes work. */
    edit_as(&v, vic, 5, " world", "ca", 2, "alice", "1.1");
    drain_ack(&v, "1.1", 2);
    expect_text(&v, "d", 2, "hello world");
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"d\",\"baseVersion\":2,\"content\":\"hello there\"}",
        "bob", AUTH_ROLE_EDITOR, "3.1");
    drain_ack(&v, "3.1", 3);
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"d\",\"baseVersion\":3,\"content\":\"bye\"}", "bob",
        AUTH_ROLE_EDITOR, "3.1");
    drain_ack(&v, "3.1", 4);
    expect_text(&v, "d", 4, "bye");
    env_close(&v);
    crdt_doc_free(vic);
    crdt_doc_free(forged);
    crdt_doc_free(mixed);
    crdt_doc_free(srv);
    rm_dir(v.dir);
}

/* A document whose store already holds ops of the server's agent at its last
 * seqs (written before agents were checked): a whole-content write says
 * why it cannot be applied, not that the content is not valid UTF-8. */
static void test_replace_cause(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *srv = new_replica("docsync-server");
    CHECK_EQ(crdt_doc_insert(srv, 0, "s", 1), CRDT_OK);
    CHECK_EQ(crdt_doc_set_agent(srv, "docsync-server", 14, 4294967293ull), CRDT_OK);
    CHECK_EQ(crdt_doc_insert(srv, 1, "z", 1), CRDT_OK);
    uint8_t *u = NULL;
    size_t ul = 0;
    CHECK_EQ(crdt_doc_encode_state(srv, &u, &ul), CRDT_OK);
    store_batch *b = NULL;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "p", 1, "old", NULL, 0, 1, u, ul), 0);
    CHECK_EQ(store_batch_commit(v.s, b, NULL), 0);
    store_batch_free(b);
    crdt_free_bytes(NULL, u);
    crdt_doc_free(srv);
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"p\",\"baseVersion\":1,\"content\":\"plain text\"}",
        "bob", AUTH_ROLE_EDITOR, "3.1");
    env_drain(&v);
    const struct sent *r = reply_to(&v.f, "3.1");
    CHECK(r && strcmp(r->event, "docsync:error") == 0);
    if (r) {
        const char *msg = str(r->data, "message");
        CHECK(strstr(msg, "UTF-8") == NULL);
        CHECK(strstr(msg, "docsync-server") != NULL);
        CHECK(strcmp(str(r->data, "code"), "invalid") != 0);
    }
    env_close(&v);
    rm_dir(v.dir);
}

/* A whole-content write that fails after changing the replica, whose
 * reload from the store fails too, is still answered (an HTTP request would
 * otherwise hang): the server's agent has room to delete the old text but
 * not to insert the new, and the store has meanwhile got an op the replica
 * cannot load. */
static void test_replace_reload_fails(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *srv = new_replica("docsync-server");
    CHECK_EQ(crdt_doc_set_agent(srv, "docsync-server", 14, 4294967281ull), CRDT_OK);
    CHECK_EQ(crdt_doc_insert(srv, 0, "sz", 2), CRDT_OK);
    uint8_t *u = NULL;
    size_t ul = 0;
    CHECK_EQ(crdt_doc_encode_state(srv, &u, &ul), CRDT_OK);
    store_batch *b = NULL;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "q", 1, "old", NULL, 0, 1, u, ul), 0);
    CHECK_EQ(store_batch_commit(v.s, b, NULL), 0);
    store_batch_free(b);
    /* bob's edit makes the engine hold the document (version 2) */
    crdt_doc *bob = new_replica("cb");
    CHECK_EQ(crdt_doc_apply(bob, u, ul, NULL), CRDT_OK);
    crdt_free_bytes(NULL, u);
    crdt_doc_free(srv);
    uint64_t m = crdt_doc_mark(bob);
    CHECK_EQ(crdt_doc_insert(bob, 2, "!", 1), CRDT_OK);
    uint8_t *e = NULL;
    size_t el = 0;
    CHECK_EQ(crdt_doc_encode_since_mark(bob, m, &e, &el), CRDT_OK);
    submit_bytes(&v, "q", e, el, "cb", 1, "bob", "3.1");
    crdt_free_bytes(NULL, e);
    drain_ack(&v, "3.1", 2);
    /* version 3 in the store, behind the engine's back: not a CRDT update */
    static const uint8_t junk[] = {0xD5, 0x01, 0xFF};
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "q", 3, "old", NULL, 0, 3, junk, sizeof junk), 0);
    CHECK_EQ(store_batch_commit(v.s, b, NULL), 0);
    store_batch_free(b);
    /* "sz!" to "plain text": the server's agent has seqs left to insert ten
     * characters (the replica changes), not to delete three more */
    run(&v, SYNC_OP_REPLACE, "{\"documentId\":\"q\",\"baseVersion\":2,\"content\":\"plain text\"}",
        "bob", AUTH_ROLE_EDITOR, "3.2");
    env_drain(&v);
    const struct sent *r = reply_to(&v.f, "3.2");
    CHECK(r && strcmp(r->event, "docsync:error") == 0);
    if (r) {
        CHECK_STR_EQ(str(r->data, "code"), "storage_error");
        CHECK(strstr(str(r->data, "message"), "reloaded; retry") != NULL);
    }
    crdt_doc_free(bob);
    env_close(&v);
    rm_dir(v.dir);
}

/* An update of `n` ops of deleted text of agent `agent` from seq `seq` at
 * the document start: a kind-1 insert run (FORMAT.md) carries no text, so
 * it is a dozen bytes whatever n. Returns its length. */
static size_t tombstones(uint8_t *out, const char *agent, uint64_t seq, uint64_t n)
{
    size_t k = 0, al = strlen(agent);
    out[k++] = 0xD5;
    out[k++] = 0x01;
    out[k++] = 1; /* one agent */
    out[k++] = (uint8_t)al;
    memcpy(out + k, agent, al);
    k += al;
    out[k++] = 1;    /* one op */
    out[k++] = 0x31; /* kind 1, LEFT_NONE, RIGHT_NONE */
    out[k++] = 0;    /* agent index */
    uint64_t vals[2] = {seq, n};
    for (int i = 0; i < 2; i++) {
        uint64_t x = vals[i];
        while (x >= 0x80) {
            out[k++] = (uint8_t)(x | 0x80);
            x >>= 7;
        }
        out[k++] = (uint8_t)x;
    }
    return k;
}

/* Operations are bounded by the update's size and, deleted ones included,
 * by the document's budget (4 * doc_max_bytes = 16384 here); whole-content
 * writes too. */
static void test_op_budget(void)
{
    struct env v;
    crdt_doc *vic = env_with_hello(&v, "ca");

    /* 13 bytes claiming 2^26 - 6 deleted characters. */
    uint8_t u[64];
    size_t ul = tombstones(u, "z", 0, (1u << 26) - 6);
    CHECK_EQ(ul, 13);
    submit_bytes(&v, "d", u, ul, "z", 1, "mallory", "2.1");
    refused(&v, "2.1", "too_many_ops");
    /* 64 per byte plus 4096 plus the document's 5 visible characters (all
     * of which one update may delete) is the bound: 4806 ops in 11 bytes
     * are refused, 4800 accepted. */
    ul = tombstones(u, "z", 0, 64 * 11 + 4096 + 5 + 1);
    CHECK_EQ(ul, 11);
    submit_bytes(&v, "d", u, ul, "z", 2, "mallory", "2.1");
    refused(&v, "2.1", "too_many_ops");
    /* Tombstones count in the document's budget: 4800 + 2 x 4500 fit, the
     * next 4500 do not although the text stays 5 bytes. */
    static const uint64_t first[4] = {0, 4800, 9300, 13800}, count[4] = {4800, 4500, 4500, 4500};
    for (int i = 0; i < 4; i++) {
        ul = tombstones(u, "z", first[i], count[i]);
        submit_bytes(&v, "d", u, ul, "z", 3 + (uint64_t)i, "mallory", "2.1");
        env_drain(&v);
        if (i < 3)
            expect_ack(&v.f, "2.1", 2 + i);
        else
            expect_error(&v.f, "2.1", "document_full");
        fake_clear(&v.f);
    }
    /* A whole-content write over the budget (13805 + 3000 + 5 ops; 3000
     * bytes of text) is refused, the document unchanged; a small edit
     * fits. */
    static char json[8192];
    int k = snprintf(json, sizeof json, "{\"documentId\":\"d\",\"baseVersion\":4,\"content\":\"");
    memset(json + k, 'r', 3000);
    strcpy(json + k + 3000, "\"}");
    run(&v, SYNC_OP_REPLACE, json, "bob", AUTH_ROLE_EDITOR, "3.1");
    env_drain(&v);
    refused(&v, "3.1", "document_full");
    expect_text(&v, "d", 4, "hello");
    edit_as(&v, vic, 5, "!", "ca", 2, "alice", "1.1");
    drain_ack(&v, "1.1", 5);
    expect_text(&v, "d", 5, "hello!");
    env_close(&v);
    crdt_doc_free(vic);
    rm_dir(v.dir);
}

/* A client's seqs only increase and the index keeps its last seq for good:
 * a resubmitted seq at or below it is a duplicate even after its op left
 * the retained log (retain_ops 20 here), acknowledged with "version": null
 * then, instead of refused. */
static void test_duplicate_beyond_log(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *a = new_replica("ca");
    for (uint64_t i = 1; i <= 40; i++) {
        edit_as(&v, a, crdt_doc_length(a), "x", "ca", i, "alice", "1.1");
        env_drain(&v);
    }
    fake_clear(&v.f);
    for (int pass = 0; pass < 2; pass++) {
        uint64_t mark = crdt_doc_mark(a);
        CHECK_EQ(crdt_doc_insert(a, 0, "y", 1), CRDT_OK);
        submit_as(&v, a, mark, "ca", 1, "alice", "1.2");
        const struct sent *r = reply_to(&v.f, "1.2");
        CHECK(r && strcmp(r->event, "docsync:ack") == 0);
        if (r) {
            CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->data, "duplicate")));
            CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r->data, "version")));
        }
        fake_clear(&v.f);
        /* Still in the log: its version. */
        submit_as(&v, a, mark, "ca", 39, "alice", "1.2");
        r = reply_to(&v.f, "1.2");
        CHECK(r && strcmp(r->event, "docsync:ack") == 0 && num(r->data, "version") == 39);
        fake_clear(&v.f);
        expect_text(&v, "d", 40, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        /* The same after a restart. */
        env_close(&v);
        env_open(&v, 0);
        crdt_doc_free(a);
        a = replica_of(&v, "ca");
    }
    env_close(&v);
    crdt_doc_free(a);
    rm_dir(v.dir);
}

/* Catch-up as one merged update (`merge: true`): from any version whose mark
 * the open replica knows, one update brings a replica at that version to the
 * head's text; pages instead while a write waits for its commit, for a
 * version from before the document was loaded, and for another epoch. */
static void test_merged_catchup(void)
{
    struct env v;
    env_open(&v, 1);
    crdt_doc *a = new_replica("ca");
    enum { N = 40 };
    /* The text a replica has at each version, kept as the encoded state. */
    uint8_t *states[N + 1] = {0};
    size_t slen[N + 1] = {0};
    CHECK_EQ(crdt_doc_encode_state(a, &states[0], &slen[0]), CRDT_OK);
    for (int i = 1; i <= N; i++) {
        uint64_t m = crdt_doc_mark(a);
        char c = (char)('a' + i % 26);
        CHECK_EQ(crdt_doc_insert(a, (size_t)(i * 7) % (size_t)i, &c, 1), CRDT_OK);
        if (i % 5 == 0)
            CHECK_EQ(crdt_doc_delete(a, 0, 1), CRDT_OK);
        submit(&v, a, m, "ca", (uint64_t)i, "1.1");
        env_drain(&v);
        CHECK_EQ(crdt_doc_encode_state(a, &states[i], &slen[i]), CRDT_OK);
    }
    char *want = NULL;
    CHECK_EQ(crdt_doc_text(a, &want, NULL), CRDT_OK);
    fake_clear(&v.f);
    run(&v, SYNC_OP_CATCHUP, "{\"documentId\":\"d\",\"version\":0,\"merge\":true}", "u1",
        AUTH_ROLE_VIEWER, "1.6");
    const struct sent *cu = find(&v.f, "docsync:catchup", 0, 0);
    char epoch[64] = "";
    if (cu)
        snprintf(epoch, sizeof epoch, "%s", str(cu->data, "epoch"));
    fake_clear(&v.f);
    static const int from[] = {0, 1, 17, 39};
    for (size_t k = 0; k < sizeof from / sizeof from[0]; k++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"documentId\":\"d\",\"version\":%d,\"epoch\":\"%s\",\"merge\":true}", from[k],
                 epoch);
        run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
        cu = find(&v.f, "docsync:catchup", 0, 0);
        const cJSON *mg = cu ? cJSON_GetObjectItemCaseSensitive(cu->data, "merged") : NULL;
        CHECK(mg != NULL);
        if (mg) {
            CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cu->data, "replay")));
            CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cu->data, "more")));
            CHECK_EQ(num(cu->data, "head"), N);
            CHECK_EQ(num(cu->data, "nextVersion"), N + 1);
            CHECK_EQ(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cu->data, "updates")), 0);
            CHECK_EQ(num(mg, "from"), from[k]);
            CHECK_EQ(num(mg, "version"), N);
            /* A replica at version from[k] plus the merged update = the head. */
            crdt_doc *r = new_replica("reader");
            CHECK_EQ(crdt_doc_apply(r, states[from[k]], slen[from[k]], NULL), CRDT_OK);
            const char *u = str(mg, "update");
            uint8_t bin[8192];
            size_t bl = 0;
            CHECK_EQ(base64_decode(u, strlen(u), 0, bin, sizeof bin, &bl), 0);
            CHECK_EQ(crdt_doc_apply(r, bin, bl, NULL), CRDT_OK);
            char *t = NULL;
            CHECK_EQ(crdt_doc_text(r, &t, NULL), CRDT_OK);
            CHECK_STR_EQ(t, want);
            crdt_free_bytes(NULL, t);
            crdt_doc_free(r);
            /* Only what the version lacked: from 39, one version's ops. */
            if (from[k] == 39)
                CHECK(bl < 64);
        }
        fake_clear(&v.f);
    }
    /* Without `merge`, and with another epoch: pages as before. */
    char json[256];
    snprintf(json, sizeof json, "{\"documentId\":\"d\",\"version\":17,\"epoch\":\"%s\"}", epoch);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && !cJSON_GetObjectItemCaseSensitive(cu->data, "merged"));
    CHECK(cu && num(cu->data, "head") == N); /* a replay or a snapshot, as retention allows */
    fake_clear(&v.f);
    run(&v, SYNC_OP_CATCHUP,
        "{\"documentId\":\"d\",\"version\":17,\"epoch\":\"00000000000000000000000000000000\","
        "\"merge\":true}",
        "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && !cJSON_GetObjectItemCaseSensitive(cu->data, "merged"));
    CHECK(cu && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cu->data, "replay")));
    fake_clear(&v.f);
    /* A write waiting for its commit: pages (the replica holds more than
     * is durable), each version's own update. */
    uint64_t m = crdt_doc_mark(a);
    CHECK_EQ(crdt_doc_insert(a, 0, "!", 1), CRDT_OK);
    submit(&v, a, m, "ca", N + 1, "1.1");
    snprintf(json, sizeof json,
             "{\"documentId\":\"d\",\"version\":30,\"epoch\":\"%s\",\"merge\":true}", epoch);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && !cJSON_GetObjectItemCaseSensitive(cu->data, "merged"));
    CHECK(cu && num(cu->data, "head") == N);
    env_drain(&v);
    fake_clear(&v.f);
    env_close(&v);
    /* Reopened: catch-ups read the store and do not open the document; a
     * write does, and marks start at the head it was loaded at. */
    env_open(&v, 0);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && !cJSON_GetObjectItemCaseSensitive(cu->data, "merged"));
    CHECK(cu && num(cu->data, "head") == N + 1);
    fake_clear(&v.f);
    m = crdt_doc_mark(a);
    CHECK_EQ(crdt_doc_insert(a, 0, "?", 1), CRDT_OK);
    submit(&v, a, m, "ca", N + 2, "1.1");
    env_drain(&v);
    fake_clear(&v.f);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6"); /* from 30: pages */
    cu = find(&v.f, "docsync:catchup", 0, 0);
    CHECK(cu && !cJSON_GetObjectItemCaseSensitive(cu->data, "merged"));
    CHECK(cu && num(cu->data, "head") == N + 2);
    fake_clear(&v.f);
    snprintf(json, sizeof json,
             "{\"documentId\":\"d\",\"version\":%d,\"epoch\":\"%s\",\"merge\":true}", N + 1, epoch);
    run(&v, SYNC_OP_CATCHUP, json, "u1", AUTH_ROLE_VIEWER, "1.6");
    cu = find(&v.f, "docsync:catchup", 0, 0);
    const cJSON *mg = cu ? cJSON_GetObjectItemCaseSensitive(cu->data, "merged") : NULL;
    CHECK(mg && num(mg, "from") == N + 1 && num(mg, "version") == N + 2);
    fake_clear(&v.f);
    crdt_free_bytes(NULL, want);
    for (int i = 0; i <= N; i++)
        crdt_free_bytes(NULL, states[i]);
    crdt_doc_free(a);
    env_close(&v);
    rm_dir(v.dir);
}

/* Two batches of one document in flight: the second is submitted while the
 * first commits, a third op waits for a free slot; acks and DocumentUpdated
 * come in version order. When the first batch fails, the second (already in
 * flight) must not commit even though its versions would now fit the store:
 * here a write outside the engine took the first batch's version, so the
 * second's first version is the store's head + 1. Every op behind the
 * failure is refused, the document reloads and takes writes again. */
static void test_pipelined_batches(void)
{
    struct env v;
    env_open(&v, 1);
    struct sync_engine_stats st0, st;
    sync_engine_stats_get(v.e, &st0);
    crdt_doc *a = new_replica("ca");
    const char *txt[] = {"h", "e", "y"};
    for (int i = 0; i < 3; i++) {
        uint64_t m = crdt_doc_mark(a);
        CHECK_EQ(crdt_doc_insert(a, (size_t)i, txt[i], 1), CRDT_OK);
        submit(&v, a, m, "ca", (uint64_t)i + 1, "1.1");
        sync_engine_stats_get(v.e, &st);
        CHECK_EQ(st.batches - st0.batches, i < 2 ? (uint64_t)i + 1 : 2); /* two in flight */
    }
    CHECK_EQ(v.f.n, 0);
    env_drain(&v);
    sync_engine_stats_get(v.e, &st);
    CHECK_EQ(st.batches - st0.batches, 3);
    for (int i = 0; i < 3; i++) {
        const struct sent *ack = find(&v.f, "docsync:ack", 0, (size_t)i);
        const struct sent *bc = find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, (size_t)i);
        CHECK(ack && num(ack->data, "version") == i + 1 && num(ack->data, "seq") == i + 1);
        CHECK(bc && num(bc->data, "version") == i + 1);
    }
    fake_clear(&v.f);

    /* Version 4 written outside the engine (a valid update of another agent). */
    uint8_t *state = NULL, *u = NULL;
    size_t slen = 0, ul = 0;
    CHECK_EQ(crdt_doc_encode_state(a, &state, &slen), CRDT_OK);
    crdt_doc *z = new_replica("zz");
    CHECK_EQ(crdt_doc_apply(z, state, slen, NULL), CRDT_OK);
    uint64_t zm = crdt_doc_mark(z);
    CHECK_EQ(crdt_doc_insert(z, 0, "Z", 1), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_since_mark(z, zm, &u, &ul), CRDT_OK);
    store_batch *b = NULL;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "d", 4, "old", NULL, 0, 4, u, ul), 0);
    CHECK_EQ(store_batch_commit(v.s, b, NULL), 0);
    store_batch_free(b);
    crdt_free_bytes(NULL, u);
    /* The engine still believes the head is 3: versions 4 (conflict), 5
     * (would fit) and 6 (queued behind them). */
    for (int i = 0; i < 3; i++) {
        uint64_t m = crdt_doc_mark(a);
        CHECK_EQ(crdt_doc_insert(a, 0, "!", 1), CRDT_OK);
        submit(&v, a, m, "ca", (uint64_t)i + 4, "1.1");
    }
    env_drain(&v);
    for (int i = 0; i < 3; i++) {
        const struct sent *err = find(&v.f, "docsync:error", 0, (size_t)i);
        CHECK(err && strcmp(str(err->data, "code"), "storage_error") == 0 &&
              num(err->data, "seq") == i + 4);
    }
    CHECK(find(&v.f, "docsync:ack", 0, 0) == NULL);
    CHECK(find(&v.f, SYNC_EVENT_DOCUMENT_UPDATED, 1, 0) == NULL);
    fake_clear(&v.f);
    store_read *r;
    struct store_doc_info info;
    CHECK_EQ(store_read_begin(v.s, &r), 0);
    CHECK_EQ(store_doc_get(r, "d", &info), 0);
    CHECK_EQ(info.head, 4); /* version 5 never committed */
    store_read_end(r);
    /* Reloaded with the outside write: an edit on "Zhey" gets version 5. */
    crdt_doc *c = new_replica("cc");
    CHECK_EQ(crdt_doc_apply(c, state, slen, NULL), CRDT_OK);
    CHECK_EQ(crdt_doc_encode_since_mark(z, zm, &u, &ul), CRDT_OK);
    CHECK_EQ(crdt_doc_apply(c, u, ul, NULL), CRDT_OK);
    crdt_free_bytes(NULL, u);
    uint64_t cm = crdt_doc_mark(c);
    CHECK_EQ(crdt_doc_insert(c, 4, ".", 1), CRDT_OK);
    submit(&v, c, cm, "cc", 1, "1.2");
    drain_ack(&v, "1.2", 5);
    run(&v, SYNC_OP_HISTORY, "{\"documentId\":\"d\",\"version\":5}", "u1", AUTH_ROLE_VIEWER, "1.6");
    const struct sent *h = find(&v.f, "docsync:history", 0, 0);
    CHECK(h && strcmp(str(h->data, "content"), "Zhey.") == 0);
    crdt_free_bytes(NULL, state);
    crdt_doc_free(a);
    crdt_doc_free(z);
    crdt_doc_free(c);
    env_close(&v);
    rm_dir(v.dir);
}

int main(void)
{
    test_parse();
    test_submit_ack_broadcast_dup();
    test_no_audience();
    test_many_tombstones();
    test_snapshot_amortized();
    test_json_text();
    test_evict_busy();
    test_client_id_taken();
    test_forbidden_agent();
    test_replace_cause();
    test_replace_reload_fails();
    test_op_budget();
    test_duplicate_beyond_log();
    test_merged_catchup();
    test_pipelined_batches();
    return TEST_RESULT();
}
