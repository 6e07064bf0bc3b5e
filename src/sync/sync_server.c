/* The document sync module: store, writer, engine and the docsync: client
 * events. See sync_server.h. */
#include "sync_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cluster/cluster.h"
#include "common/jsonw.h"
#include "common/strjoin.h"
#include "route_msg.h"
#include "server/http_api.h"
#include "server/metrics.h"
#include "sync_activity.h"
#include "sync_feed.h"
#include "sync_msg.h"
#include "sync_route.h"

/* The frame of a docsync event in one pass (the envelope and the escaped
 * data written straight into a shareable frame), or NULL. */
static struct frame *event_frame(const char *event, const char *json, const char *channel)
{
    struct message_frame mf;
    if (channel) {
        if (message_build_app_event(MESSAGE_FRAME_HEADROOM, event, json, strlen(json), channel,
                                    &mf) != 0)
            return NULL;
        struct frame *f = message_frame_adopt(&mf);
        if (!f)
            message_frame_free(&mf);
        return f;
    }
    /* No channel (a refusal before the subscription check):
     * {"event":E,"data":"<json as a string>"}. */
    char buf[1024];
    struct jsonw w;
    jsonw_init(&w, buf, sizeof buf);
    jsonw_lit(&w, "{\"event\":");
    jsonw_cstr(&w, event);
    jsonw_lit(&w, ",\"data\":");
    jsonw_cstr(&w, json);
    jsonw_lit(&w, "}");
    struct frame *f = w.oom ? NULL : frame_from(w.p, w.len);
    jsonw_free(&w);
    return f;
}

static void io_send(void *ctx, const char *socket_id, const char *event, const char *channel,
                    const char *json)
{
    struct sync_module *m = ctx;
    struct conn *c = conn_find(m->srv, socket_id);
    if (!c)
        return;
    struct frame *f = event_frame(event, json, channel);
    if (f)
        conn_send_frame(c, f);
    frame_unref(f);
}

static void io_broadcast(void *ctx, const char *channel, const char *event, const char *json,
                         const char *except_socket)
{
    struct sync_module *m = ctx;
    const struct conn *except = except_socket ? conn_find(m->srv, except_socket) : NULL;
    struct frame *f = event_frame(event, json, channel);
    if (f) {
        broadcast_frame(m->srv, channel, f, except);
        /* In cluster mode this node is the document's home (only the home
         * applies): its DocumentUpdated goes to the other nodes' subscribers,
         * skipping the sender wherever its connection is. */
        if (sync_route_active())
            cluster_publish(channel, f, except_socket);
    }
    frame_unref(f);
}

static int io_audience(void *ctx, const char *channel, const char *except_socket)
{
    struct sync_module *m = ctx;
    if (sync_route_active())
        return 1; /* subscribers on other nodes are not counted here */
    size_t n = broadcast_subscriber_count(m->srv, channel);
    if (n != 1 || !except_socket)
        return n > 0;
    const struct conn *c = conn_find(m->srv, except_socket);
    return !c || !conn_is_subscribed(c, channel);
}

void sync_server_send(struct sync_module *m, const struct sync_reply *to, const char *event,
                      const char *json)
{
    if (to->done)
        to->done(to->arg, event, json);
    else if (to->socket_id[0])
        io_send(m, to->socket_id, event, to->channel[0] ? to->channel : NULL, json);
}

/* A committed version: the server's observers (webhook/) hear of it as
 * document_updated on the document's channel. */
static void io_updated(void *ctx, const char *doc, uint64_t version, const char *user)
{
    struct sync_module *m = ctx;
    char channel[SYNC_CHANNEL_MAX], fields[64 + 2 * STORE_DOC_ID_MAX];
    str_join(channel, sizeof channel, "private-document.", doc);
    struct jsonw w;
    jsonw_init(&w, fields, sizeof fields);
    JSONW_LIT(&w, "\"document\":");
    jsonw_cstr(&w, doc);
    JSONW_KEY(&w, "version");
    jsonw_u64(&w, version);
    if (!w.oom)
        broadcast_notify(m->srv, &(struct broadcast_event){.kind = BROADCAST_MODULE_EVENT,
                                                           .channel = channel,
                                                           .user_id = user,
                                                           .event = "document_updated",
                                                           .data = w.p,
                                                           .data_len = w.len});
    jsonw_free(&w);
}

/* Called on the history reader's thread: only wakes the loop. */
static void io_wake(void *ctx)
{
    struct sync_module *m = ctx;
    server_wake(m->srv);
}

/* /broadcasting/auth's access-list reads: in cluster mode the list that
 * counts is the one on the document's home node (where every change of it
 * is made, sync_http.c), asked over Redis; on a lone server, this store's. */
struct acl_ask {
    auth_acl_done_fn done;
    void *arg;
};

static void acl_answered(void *arg, const char *event, const char *json)
{
    struct acl_ask *a = arg;
    int acl = AUTH_ACL_UNAVAILABLE;
    cJSON *o = cJSON_Parse(json);
    if (strcmp(event, "docsync:role") == 0) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "acl");
        /* -100 (the home could not read its store) .. AUTH_ROLE_OWNER */
        acl = cJSON_IsNumber(v) && v->valuedouble >= -100 && v->valuedouble <= AUTH_ROLE_OWNER
                  ? (int)v->valuedouble
                  : -100;
    } else {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
        /* Refused for the home's sake (down, moving, Redis gone): unknown,
         * retry; refused for the request's: no access. */
        const char *c = cJSON_IsString(code) ? code->valuestring : "";
        if (strcmp(c, "unavailable") != 0 && strcmp(c, "busy") != 0)
            acl = -100;
    }
    cJSON_Delete(o);
    a->done(a->arg, acl);
    free(a);
}

static void acl_async(void *ctx, const char *doc, const char *user, auth_acl_done_fn done,
                      void *arg)
{
    struct sync_module *m = ctx;
    if (!sync_route_active() || !sync_msg_doc_id_valid(doc)) {
        done(arg, sync_engine_acl_fn(m->store, doc, user));
        return;
    }
    struct acl_ask *a = calloc(1, sizeof *a);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "documentId", doc);
    cJSON_AddStringToObject(o, "user", user);
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!a || !json) {
        free(a);
        free(json);
        done(arg, AUTH_ACL_UNAVAILABLE);
        return;
    }
    a->done = done;
    a->arg = arg;
    struct sync_reply reply;
    memset(&reply, 0, sizeof reply);
    reply.done = acl_answered;
    reply.arg = a;
    sync_route_doc(m, doc, "docsync:role", json, 0, &reply);
    free(json);
}

/* Role of a connection's user on `doc` with the access list read by `acl`
 * (NULL or "" = neither a presence member nor signed in: it reads as the
 * access list's "*" entry allows, nothing when the list has none, a viewer
 * when the document has no list, and never writes). A user's role is the
 * access-list role; a document without an access list gives
 * AUTH_ROLE_EDITOR (whoever authorised the channel subscription decided);
 * an error reading the list gives AUTH_ROLE_NONE. */
static int role_by(auth_acl_fn acl, void *ctx, const char *doc, const char *user)
{
    if (user && *user) {
        int role = acl(ctx, doc, user);
        if (role == AUTH_ACL_ABSENT)
            return AUTH_ROLE_EDITOR;
        return role < 0 ? AUTH_ROLE_NONE : role;
    }
    int role = acl(ctx, doc, "*");
    if (role == AUTH_ACL_ABSENT)
        return AUTH_ROLE_VIEWER;
    if (role < 0)
        return AUTH_ROLE_NONE;
    return role < AUTH_ROLE_VIEWER ? role : AUTH_ROLE_VIEWER;
}

int sync_server_role(struct sync_module *m, const char *doc, const char *user)
{
    return role_by(sync_engine_acl_fn, m->store, doc, user);
}

/* A whole access list told by the document's home node. */
struct acl_list {
    const struct route_ship_acl *e;
    size_t n;
};

/* sync_engine_acl_fn's answer, from a list: the user's entry, else the
 * "*" entry's role (none without one), or AUTH_ACL_ABSENT for no list. */
static int list_acl(void *ctx, const char *doc, const char *user)
{
    const struct acl_list *l = ctx;
    (void)doc;
    if (l->n == 0)
        return AUTH_ACL_ABSENT;
    int star = AUTH_ROLE_NONE;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].user, user) == 0)
            return l->e[i].role;
        if (strcmp(l->e[i].user, "*") == 0)
            star = l->e[i].role;
    }
    return star;
}

/* The user a connection acts as on `doc`: its member id on the document's
 * presence channel, else its signed-in id; NULL for neither. The same for
 * requests and for the revocation check, whichever channel is checked. */
static const char *doc_user(const struct conn *c, const char *doc)
{
    char pres[SYNC_CHANNEL_MAX];
    snprintf(pres, sizeof pres, "presence-document.%s", doc);
    const char *user = conn_is_subscribed(c, pres) ? conn_user_id(c, pres) : NULL;
    return user ? user : conn_user_id(c, NULL);
}

/* Answers a request refused before it is read (only its requestId and
 * documentId are taken, so the client can match the answer). */
static void refuse_unread(struct sync_module *m, const struct sync_reply *reply, const message *msg,
                          const char *code, const char *text)
{
    struct sync_request none;
    memset(&none, 0, sizeof none);
    sync_msg_ids(message_data(msg), &none);
    sync_engine_reply_error(m->engine, reply, &none, code, text);
}

struct revoke_ctx {
    auth_acl_fn acl;
    void *acl_ctx;
    const char *doc;
};

static int revoke_allowed(void *ctx, const struct conn *c, const char *channel)
{
    struct revoke_ctx *r = ctx;
    (void)channel;
    return role_by(r->acl, r->acl_ctx, r->doc, doc_user(c, r->doc)) >= AUTH_ROLE_VIEWER;
}

static void revoke_with(struct sync_module *m, const char *doc, auth_acl_fn acl, void *acl_ctx);

void sync_server_revoke(struct sync_module *m, const char *doc)
{
    revoke_with(m, doc, sync_engine_acl_fn, m->store);
}

void sync_server_revoke_list(struct sync_module *m, const char *doc,
                             const struct route_ship_acl *acl, size_t n)
{
    struct acl_list l = {acl, n};
    revoke_with(m, doc, list_acl, &l);
}

static void revoke_with(struct sync_module *m, const char *doc, auth_acl_fn acl, void *acl_ctx)
{
    struct jsonw j;
    char buf[512];
    jsonw_init(&j, buf, sizeof buf);
    jsonw_lit(&j, "{\"documentId\":");
    jsonw_cstr(&j, doc);
    jsonw_lit(&j, ",\"code\":\"access_revoked\",\"message\":"
                  "\"your access to this document was removed; you were unsubscribed\"}");
    static const char *const prefixes[] = {"private-document.", "presence-document."};
    for (size_t i = 0; i < 2; i++) {
        char channel[SYNC_CHANNEL_MAX];
        snprintf(channel, sizeof channel, "%s%s", prefixes[i], doc);
        struct frame *notice = j.oom ? NULL : event_frame("docsync:error", j.p, channel);
        struct revoke_ctx r = {acl, acl_ctx, doc};
        int n = broadcast_revoke(m->srv, channel, revoke_allowed, &r, notice);
        frame_unref(notice);
        if (n > 0)
            log_info(server_logger(m->srv), "sync: %s: %d subscription(s) dropped, access revoked",
                     channel, n);
    }
    jsonw_free(&j);
}

/* The writer thread's group commits in GET /metrics: how long a commit
 * takes (apply, page writes and fsync) and how many batches share one is
 * what bounds the acknowledged edits per second. */
static char *writer_metrics(struct server *srv, void *ud)
{
    (void)srv;
    struct sync_module *m = ud;
    struct store_writer_stats st;
    store_writer_stats(m->writer, &st);
    struct metrics_text b = {0};
    metrics_text_printf(
        &b, "# HELP docsync_store_commit_seconds Group commits of the store's writer thread (one "
            "transaction and one fsync each): wall time from the first batch applied to the "
            "commit on disk.\n"
            "# TYPE docsync_store_commit_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < STORE_WRITER_BUCKETS; i++) {
        cum += st.le[i];
        metrics_text_printf(&b, "docsync_store_commit_seconds_bucket{le=\"%g\"} %llu\n",
                            (double)(1u << i) / 4000.0, (unsigned long long)cum);
    }
    metrics_text_printf(
        &b,
        "docsync_store_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
        "docsync_store_commit_seconds_sum %.6f\n"
        "docsync_store_commit_seconds_count %llu\n"
        "# HELP docsync_store_commit_sync_seconds_total Of the group commits' time, the final "
        "commit alone: page writes and fsync.\n"
        "# TYPE docsync_store_commit_sync_seconds_total counter\n"
        "docsync_store_commit_sync_seconds_total %.6f\n"
        "# HELP docsync_store_commit_batches_total Batches (a document's edits, history events, "
        "outbox entries) committed by the group commits.\n"
        "# TYPE docsync_store_commit_batches_total counter\n"
        "docsync_store_commit_batches_total %llu\n",
        (unsigned long long)st.groups, (double)st.commit_us / 1e6, (unsigned long long)st.groups,
        (double)st.sync_us / 1e6, (unsigned long long)st.batches);
    return metrics_text_take(&b);
}

/* Access lists may also change behind the server's back (docsync-admin
 * writes the store directly): once a second the store's count of changes
 * is compared with the last one seen, and on a difference every document
 * with live subscriptions is checked as after a change through the API. */
#define ACL_POLL_MS 1000

struct doc_names {
    char (*ids)[SYNC_DOC_ID_MAX + 1];
    size_t n, cap;
};

static void collect_doc(void *ctx, const char *name, size_t nlen)
{
    struct doc_names *dn = ctx;
    const char *dot = memchr(name, '.', nlen);
    size_t idl = dot ? nlen - (size_t)(dot + 1 - name) : 0;
    if (!idl || idl > SYNC_DOC_ID_MAX)
        return;
    for (size_t i = 0; i < dn->n; i++)
        if (strlen(dn->ids[i]) == idl && memcmp(dn->ids[i], dot + 1, idl) == 0)
            return; /* its other channel came first */
    if (dn->n == dn->cap) {
        size_t cap = dn->cap ? dn->cap * 2 : 16;
        void *p = realloc(dn->ids, cap * sizeof *dn->ids);
        if (!p)
            return;
        dn->ids = p;
        dn->cap = cap;
    }
    memcpy(dn->ids[dn->n], dot + 1, idl);
    dn->ids[dn->n++][idl] = 0;
}

char (*sync_server_subscribed_docs(struct sync_module *m, size_t *n))[SYNC_DOC_ID_MAX + 1]
{
    struct doc_names dn = {0};
    broadcast_each_channel(m->srv, "private-document.", collect_doc, &dn);
    broadcast_each_channel(m->srv, "presence-document.", collect_doc, &dn);
    *n = dn.n;
    return dn.ids;
}

static void acl_poll(struct server *srv, void *ud)
{
    (void)srv;
    struct sync_module *m = ud;
    store_read *r;
    uint64_t changes = 0;
    /* A change committed whose completion has not run yet would be told
     * twice (here and by the completion): looked at on a later tick. */
    if (m->acl_writes_pending || store_read_begin(m->store, &r) != 0)
        return;
    int err = store_acl_changes(r, &changes);
    store_read_end(r);
    if (err || changes == m->acl_changes_seen)
        return;
    uint64_t since = m->acl_changes_seen;
    if (sync_route_active()) {
        /* Cluster mode: the home's list is the one that counts, here and
         * (told) on every other node; a page of changes per poll, the
         * next poll going on from where this one stopped. */
        m->acl_changes_seen = sync_route_acl_poll(m, since, changes);
        return;
    }
    m->acl_changes_seen = changes;
    size_t n = 0;
    char(*ids)[SYNC_DOC_ID_MAX + 1] = sync_server_subscribed_docs(m, &n);
    for (size_t i = 0; ids && i < n; i++)
        sync_server_revoke(m, ids[i]);
    free(ids);
}

/* A request that was read: membership, attribution, the access list, then
 * the engine (or, in cluster mode, the document's home node, which needs the
 * request's JSON: `msg`). The caller clears `req`. */
static void serve_request(struct sync_module *m, struct conn *c, const message *msg,
                          struct sync_request *req, struct sync_reply *reply)
{
    const struct config *cfg = server_config(m->srv);
    int op = (int)req->op;
    int read = op == SYNC_OP_CATCHUP || op == SYNC_OP_HISTORY;
    char text[512];
    char priv[SYNC_CHANNEL_MAX], pres[SYNC_CHANNEL_MAX];
    str_join(priv, sizeof priv, "private-document.", req->doc);
    str_join(pres, sizeof pres, "presence-document.", req->doc);
    int in_priv = conn_is_subscribed(c, priv), in_pres = conn_is_subscribed(c, pres);
    str_join(reply->channel, sizeof reply->channel, "", in_priv ? priv : pres);
    if (!in_priv && !in_pres) {
        reply->channel[0] = '\0';
        snprintf(text, sizeof text, "subscribe to %s or %s before using this document", priv, pres);
        sync_engine_reply_error(m->engine, reply, req, "forbidden", text);
        return;
    }
    /* Attribution: the presence member id, else the signed-in user. */
    const char *user = doc_user(c, req->doc);
    if (!user || !*user) {
        if (op == SYNC_OP_SUBMIT || op == SYNC_OP_REPLACE) {
            snprintf(text, sizeof text,
                     "edits must be attributed to a user: join %s or sign in (pusher:signin)",
                     pres);
            sync_engine_reply_error(m->engine, reply, req, "forbidden", text);
            return;
        }
        user = "";
    }
    if (strlen(user) > SYNC_USER_MAX) {
        /* Never truncated: a shortened id could match another user's
         * access-list entry, or none and fall back to "*". */
        snprintf(text, sizeof text, "user ids longer than %d characters are not supported",
                 SYNC_USER_MAX);
        sync_engine_reply_error(m->engine, reply, req, "forbidden", text);
        return;
    }
    if (sync_route_active()) {
        /* Cluster mode: the document's home node applies it (maybe this one). */
        sync_route_handle(m, req, message_data(msg), user, ROUTE_ROLE_ACL, 1, reply);
        return;
    }
    int role = sync_server_role(m, req->doc, user);
    int64_t start = conn_work_start();
    sync_engine_handle(m->engine, req, *user ? user : "anonymous", role, reply);
    if (!read)
        conn_work_done(c, start, cfg->sync_write_us_per_second);
}

static int on_docsync_event(struct server *srv, struct conn *c, const message *msg, void *ud)
{
    struct sync_module *m = ud;
    int op = sync_msg_op_from_event(message_event(msg));
    struct sync_reply reply;
    memset(&reply, 0, sizeof reply);
    str_join(reply.socket_id, sizeof reply.socket_id, "", conn_socket_id(c));
    if (op < 0) {
        refuse_unread(m, &reply, msg, "invalid",
                      "unknown event; expected docsync:submit, docsync:replace, "
                      "docsync:catchup or docsync:history");
        return 0;
    }
    const struct config *cfg = server_config(srv);
    /* Per-connection budgets, checked before the request is read, so a
     * flood costs a counter and a reply: reads (a catch-up page, a rebuilt
     * version: work proportional to the document) by count per second;
     * writes by the server time they took, since applying an update costs
     * time that depends on its content (many concurrent inserts at one
     * place cost more than linear time). */
    int read = op == SYNC_OP_CATCHUP || op == SYNC_OP_HISTORY;
    char text[512];
    if (!read && !conn_work_allowed(c, cfg->sync_write_us_per_second)) {
        snprintf(text, sizeof text,
                 "this connection's writes used more than %u microseconds of server time per "
                 "second; retry later",
                 cfg->sync_write_us_per_second);
        refuse_unread(m, &reply, msg, "rate_limited", text);
        return 0;
    }
    if (read && !conn_request_allowed(c, cfg->sync_reads_per_second)) {
        snprintf(text, sizeof text,
                 "more than %u catch-up and history requests in one second on this connection; "
                 "retry later",
                 cfg->sync_reads_per_second);
        refuse_unread(m, &reply, msg, "rate_limited", text);
        return 0;
    }
    struct sync_request req;
    const char *why = NULL;
    /* Updates keep the ordinary message limit (the JS client splits large
     * edits): integrating many concurrent inserts at one place costs more
     * than linear time, so an editor's update stays small. Whole-content
     * writes, which the server turns into one insert and one delete, may
     * carry a whole document. */
    int rc = sync_msg_parse((enum sync_op)op, message_data(msg), cfg->max_message_size,
                            cfg->doc_max_bytes, &req, &why);
    if (rc != 0) {
        sync_engine_reply_error(m->engine, &reply, &req,
                                rc == SYNC_MSG_ETOOBIG ? "too_large" : "invalid",
                                why ? why : "invalid request");
        return 0;
    }
    serve_request(m, c, msg, &req, &reply);
    sync_msg_clear(&req);
    return 0;
}

/* The fast path of docsync:submit (session_on_frame): the same as
 * on_docsync_event for the frames sync_msg_submit_frame reads, without
 * parsing them into JSON trees. A refusal for the write budget answers from
 * the parsed message, and cluster mode forwards the request's JSON: both
 * take the general path. */
static int on_docsync_frame(struct server *srv, struct conn *c, const char *buf, size_t len,
                            void *ud)
{
    struct sync_module *m = ud;
    const struct config *cfg = server_config(srv);
    struct sync_request req;
    if (sync_route_active() || !conn_work_allowed(c, cfg->sync_write_us_per_second) ||
        !sync_msg_submit_frame(buf, len, cfg->max_message_size, &req))
        return 0;
    struct sync_reply reply;
    memset(&reply, 0, sizeof reply);
    str_join(reply.socket_id, sizeof reply.socket_id, "", conn_socket_id(c));
    serve_request(m, c, NULL, &req, &reply);
    sync_msg_clear(&req);
    return 1;
}

/* Counts an app event that did not make it into the activity log, with a
 * warning for the 1st, 2nd, 4th, 8th... (never blocks, never floods). */
static void app_event_dropped(struct sync_module *m, const char *why)
{
    uint64_t n = ++m->app_events_dropped;
    if ((n & (n - 1)) == 0)
        log_warn(server_logger(m->srv),
                 "sync: app event not logged in the activity log: %s (%llu so far)", why,
                 (unsigned long long)n);
}

static void app_event_done(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    if (status != 0)
        app_event_dropped(ctx, store_strerror(status));
}

/* Publish hook: events apps send through the HTTP API that match the rule
 * of sync_activity.h are appended to the activity log through the writer
 * (group commit). Delivery and the HTTP reply do not wait for it. */
static void on_publish(struct server *srv, const char *channel, const char *event, const char *data,
                       size_t data_len, const char *socket_id, void *ud)
{
    (void)socket_id;
    struct sync_module *m = ud;
    if (!sync_activity_wanted(channel, event))
        return;
    char *entry = NULL;
    size_t len = 0;
    store_batch *b = NULL;
    int rc = sync_activity_app_event(channel, event, data, data_len, &entry, &len);
    if (rc != 0) {
        app_event_dropped(m, rc == SYNC_ACTIVITY_ENOMEM ? "out of memory" : "invalid event");
        return;
    }
    struct jsonw w;
    jsonw_init(&w, NULL, len + 96);
    sync_activity_stamp(m->activity_node, entry, len, &w);
    free(entry);
    rc = w.oom ? STORE_ENOMEM : store_batch_new(&b);
    if (rc == 0)
        rc = store_batch_activity_append(b, (uint64_t)server_now(srv) * 1000u, w.p, w.len);
    jsonw_free(&w);
    if (rc == 0)
        rc = store_writer_submit(m->writer, b, app_event_done, m);
    if (rc != 0) {
        store_batch_free(b);
        app_event_dropped(m, store_strerror(rc));
        return;
    }
    m->app_events_logged++;
}

static void on_wake(struct server *srv, void *ud)
{
    (void)srv;
    struct sync_module *m = ud;
    store_writer_drain(m->writer);
    sync_engine_drain(m->engine);
}

static void writer_notify(void *arg)
{
    server_wake(arg);
}

/* The module state lives for the whole process; one server per process. */
static struct sync_module *module_of(struct server *srv, struct sync_module *set, int clear)
{
    static struct sync_module *current; /* the one module instance, set at init */
    (void)srv;
    if (set)
        current = set;
    struct sync_module *m = current;
    if (clear)
        current = NULL;
    return m;
}

store *sync_server_store(struct server *srv)
{
    struct sync_module *m = module_of(srv, NULL, 0);
    return m ? m->store : NULL;
}

store_writer *sync_server_writer(struct server *srv)
{
    struct sync_module *m = module_of(srv, NULL, 0);
    return m ? m->writer : NULL;
}

/* A graceful stop waits while commits are in flight, so that their
 * acknowledgements reach the clients (server_on_drain). */
static int sync_busy(struct server *srv, void *ud)
{
    struct sync_module *m = ud;
    (void)srv;
    return store_writer_pending(m->writer) != 0;
}

int sync_server_start(struct server *srv)
{
    const struct config *cfg = server_config(srv);
    const struct logger *lg = server_logger(srv);
    struct sync_module *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->srv = srv;
    struct store_options so;
    store_options_init(&so);
    so.map_size = cfg->map_size;
    so.map_size_max = cfg->map_size; /* DOCSYNC_MAP_SIZE is the cap: the map never grows past it */
    so.snapshot_interval = cfg->snapshot_every;
    so.retain_ops = cfg->ops_retain;
    int rc = store_open(server_data_dir(srv), &so, &m->store);
    if (rc) {
        log_error(lg, "sync: cannot open the store in %s: %s", server_data_dir(srv),
                  store_strerror(rc));
        free(m);
        return -1;
    }
    rc = store_writer_new(m->store, NULL, writer_notify, srv, &m->writer);
    if (rc) {
        log_error(lg, "sync: cannot start the store writer: %s", store_strerror(rc));
        store_close(m->store);
        free(m);
        return -1;
    }
    /* cluster_start ran before: its Redis client exists in cluster mode only. */
    if (cluster_redis())
        snprintf(m->activity_node, sizeof m->activity_node, "%s", cluster_node_id());
    struct sync_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.activity_node = m->activity_node;
    eo.wake = io_wake;
    eo.wake_arg = m;
    eo.doc_max_bytes = cfg->doc_max_bytes;
    eo.doc_max_ops = cfg->doc_max_ops;
    eo.snapshot_every = cfg->snapshot_every;
    /* DocumentUpdated carries `content` up to this many bytes of text; 0 = never. */
    if (cfg->broadcast_content_max == 0)
        eo.content_off = 1;
    else
        eo.content_max = cfg->broadcast_content_max;
    /* A catch-up page (escaped into its event frame) takes at most 3/4 of the
     * connection's send queue, leaving room for the events queued around it;
     * 10,000 small updates then fit in one page with the default 1 MiB. */
    if (cfg->send_queue_max >= 4) {
        eo.catchup_max_frame = cfg->send_queue_max / 4 * 3;
        eo.catchup_max_bytes = eo.catchup_max_frame;
    }
    struct sync_engine_io io = {m, io_send, io_broadcast, io_audience, io_updated};
    char err[256] = "";
    /* The development app, without a rules file of its own, also opens the activity feed
     * that the demo page (and Laravel's real-time guide) listens on, to every token: there
     * is no app to authorise it, and a page whose feed is refused shows an error. */
    static const char dev_rules[] = "private-activity allow\n";
    if (sync_engine_new(m->store, m->writer, &eo, &io, &m->engine) != 0 ||
        auth_rules_new(&m->rules) != 0 ||
        (cfg->auth_rules[0] &&
         auth_rules_load_file(m->rules, cfg->auth_rules, err, sizeof err) != 0) ||
        (!cfg->auth_rules[0] && cfg->dev_app &&
         auth_rules_parse(m->rules, dev_rules, sizeof dev_rules - 1, err, sizeof err) != 0)) {
        log_error(lg, "sync: start-up failed%s%s", err[0] ? ": " : "", err);
        auth_rules_free(m->rules);
        sync_engine_free(m->engine);
        store_writer_free(m->writer);
        store_close(m->store);
        free(m);
        return -1;
    }
    module_of(srv, m, 0);
    m->auth = (struct broadcasting_auth){srv, m->rules, sync_engine_acl_fn, m->store, acl_async, m};
    /* A whole-content write of a document at the size limit fits in one
     * message: its text escaped into JSON, twice the bytes at most for
     * ordinary text, plus the envelope. */
    size_t sync_max = cfg->doc_max_bytes * 2 + 64u * 1024u;
    if (session_on_event_sized(srv, "docsync:", sync_max, on_docsync_event, m) != 0 ||
        session_on_frame(srv, on_docsync_frame, m) != 0 || server_on_wake(srv, on_wake, m) != 0 ||
        http_api_on_publish(srv, on_publish, m) != 0 || sync_http_register(m) != 0 ||
        broadcasting_auth_register(&m->auth) != 0 ||
        server_every(srv, ACL_POLL_MS, acl_poll, m) != 0 ||
        http_api_on_metrics(srv, writer_metrics, m) != 0 ||
        server_on_drain(srv, sync_busy, m) != 0 || sync_feed_start(m) != 0 ||
        sync_route_start(m) != 0) {
        log_error(lg, "sync: cannot register handlers");
        return -1; /* deinit frees */
    }
    store_read *r;
    if (store_read_begin(m->store, &r) == 0) {
        (void)store_acl_changes(r, &m->acl_changes_seen);
        store_read_end(r);
    }
    struct store_epoch ep;
    char hex[STORE_EPOCH_HEX_LEN + 1] = "";
    if (store_epoch_get(m->store, &ep) == 0)
        store_epoch_format(&ep, hex);
    log_info(lg, "sync: store open in %s (epoch %s, %zu auth rules)", server_data_dir(srv), hex,
             auth_rules_count(m->rules));
    return 0;
}

void sync_server_stop(struct server *srv)
{
    struct sync_module *m = module_of(srv, NULL, 1);
    if (!m)
        return;
    /* Commit what is queued, then stop the writer (its completions run
     * here; connections are gone, so replies go nowhere). */
    sync_feed_stop(m);
    for (int i = 0; i < 1000 && store_writer_pending(m->writer); i++)
        store_writer_flush(m->writer); /* completions may queue further batches */
    sync_engine_free(m->engine);
    sync_route_stop(m);
    store_writer_free(m->writer);
    sync_feed_end(m);
    store_close(m->store);
    auth_rules_free(m->rules);
    free(m);
}
