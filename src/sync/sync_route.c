/* Documents in cluster mode: home nodes, forwarding, answers. See
 * sync_route.h and README.md ("Documents in a cluster"). */
#include "sync_route.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/cluster.h"
#include "common/clock.h"
#include "common/hmap.h"
#include "redis/redis.h"
#include "server/metrics.h"
#include "sync_move.h"

/* Requests of this node waiting for a home lookup or a home's answer; a
 * request beyond is refused as `busy`. */
#define ROUTE_INFLIGHT_MAX 10000
#define ROUTE_TICK_MS 250

enum { RJ_FOREIGN, RJ_VERSION, RJ_MALFORMED, RJ_TOO_BIG, RJ_N };
static const char *const rj_names[RJ_N] = {"foreign", "version", "malformed", "too_big"};

/* A request forwarded to its home node, waiting for the answer. */
struct fwd {
    uint64_t id;
    char home[ROUTE_NODE_MAX];
    int64_t deadline_ms;
    struct sync_request ids; /* for a refusal: the request without its payload */
    struct sync_reply reply;
    struct fwd *prev, *next;
};

/* A request waiting for Redis to say where its document lives. */
struct lookup {
    struct sync_request req;
    char *data; /* the request's JSON object, for the home */
    char user[ROUTE_USER_MAX + 1];
    enum route_role role;
    struct sync_reply reply;
    const char *event; /* the request's event; NULL = the one of req.op */
};

/* A request this node serves as the home for another node. */
struct served {
    char origin[ROUTE_NODE_MAX];
    char origin_boot[ROUTE_BOOT_LEN + 1];
    uint64_t id;
    /* For a refusal in place of an answer too big to relay. */
    char doc[SYNC_DOC_ID_MAX + 1];
    char request_id[SYNC_REQUEST_ID_MAX + 1];
    int too_big; /* that refusal is under way */
    struct served *prev, *next;
};

/* Re-claiming this node's documents after Redis came (back): a page of
 * ids from the store at a time, the next once Redis answered the last. */
#define RECLAIM_PAGE 256

struct reclaim {
    char after[SYNC_DOC_ID_MAX + 1]; /* the last id asked for */
    size_t waiting;                  /* answers of this page still to come */
    int running, again;              /* again: Redis came back during a pass */
    uint64_t kept, claimed, conflicts;
};

/* Access lists read again from their homes after Redis came (back): the
 * notices of changes made meanwhile went nowhere (Redis keeps no pub/sub
 * message for a subscriber that is not connected). */
#define RECHECK_INFLIGHT 8
/* A second pass this long after a reconnection, and after a pass some of
 * whose homes did not answer (at most RECHECK_RETRIES times in a row). */
#define RECHECK_AGAIN_MS 5000
#define RECHECK_RETRIES 10

struct recheck {
    char (*ids)[SYNC_DOC_ID_MAX + 1]; /* the pass's documents; NULL: no pass runs */
    size_t n, next, inflight;
    int filling, again, failed;
    unsigned retries;
    int64_t again_at; /* a later pass (0: none planned) */
    uint64_t read, unread;
};

/* Access-list changes already told (sync_route_acl_changed) with a list
 * read at change count `upto`: the ACL poll, which sees every change the
 * store counts, does not tell them twice. */
#define TOLD_MAX 1024
struct told {
    char doc[SYNC_DOC_ID_MAX + 1];
    uint64_t upto;
};

struct sync_route {
    struct sync_module *m;
    struct redis *rd;
    char node[ROUTE_NODE_MAX];
    char boot[ROUTE_BOOT_LEN + 1];
    char prefix[128];
    char inbox[256]; /* <prefix>:doc:<node> */
    int64_t timeout_ms;
    uint64_t next_id;
    struct hmap fwds; /* id (8 bytes) -> struct fwd */
    struct fwd *head, *tail;
    size_t nlookups;
    struct served *served;
    struct reclaim rc;
    char acl_channel[160]; /* <prefix>:acl: access lists changed on their homes */
    uint64_t acl_sent, acl_received, acl_next;
    struct recheck rk;
    struct told *told;
    size_t ntold;
    /* Changes of this node's lists not told for want of Redis: told after
     * the next reconnection (RECHECK_AGAIN_MS later, once the homes have
     * claimed their documents again). */
    char (*untold)[SYNC_DOC_ID_MAX + 1];
    size_t nuntold;
    uint64_t local, forwarded, answered, served_n, timeouts, unavailable, busy, stale;
    uint64_t rejected[RJ_N];
};

static struct sync_route *g_route; /* one server per process */

int sync_route_active(void)
{
    return g_route != NULL;
}

/* The request without what it owns (update, content): enough to echo its
 * ids in a refusal. */
static struct sync_request ids_of(const struct sync_request *req)
{
    struct sync_request r = *req;
    r.update = NULL;
    r.update_len = 0;
    r.content = NULL;
    r.content_len = 0;
    return r;
}

static void refuse(struct sync_route *rt, const struct sync_reply *reply,
                   const struct sync_request *req, const char *code, const char *text)
{
    if (strcmp(code, "unavailable") == 0)
        rt->unavailable++;
    sync_engine_reply_error(rt->m->engine, reply, req, code, text);
}

/* ---- asking node ---------------------------------------------------------- */

static void fwd_unlink(struct sync_route *rt, struct fwd *f)
{
    hmap_del(&rt->fwds, &f->id, sizeof f->id);
    if (f->prev)
        f->prev->next = f->next;
    else
        rt->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        rt->tail = f->prev;
}

/* Refuses a forwarded request still waiting (its home is silent or not
 * listening) and forgets it. */
static void fwd_fail(struct sync_route *rt, struct fwd *f, const char *why)
{
    char text[256];
    if (f->ids.doc[0])
        snprintf(text, sizeof text, "the home node of document %s (%s) %s; retry", f->ids.doc,
                 f->home, why);
    else /* an auditor's request for that node's log */
        snprintf(text, sizeof text, "node %s %s; retry", f->home, why);
    fwd_unlink(rt, f);
    refuse(rt, &f->reply, &f->ids, "unavailable", text);
    free(f);
}

/* PUBLISH's answer: 0 receivers means the home is not listening (stopped
 * or restarting), so the request is refused now rather than at its
 * deadline. */
static void on_published(void *ud, const struct redis_reply *r)
{
    struct sync_route *rt = g_route;
    uint64_t id = (uint64_t)(uintptr_t)ud;
    struct fwd *f = rt ? hmap_get(&rt->fwds, &id, sizeof id) : NULL;
    if (!f)
        return;
    if (!r)
        fwd_fail(rt, f, "could not be reached (Redis connection lost)");
    else if (r->type == REDIS_R_INTEGER && r->integer == 0)
        fwd_fail(rt, f, "is not listening");
}

static void forward(struct sync_route *rt, struct lookup *lk, const char *home)
{
    if (hmap_count(&rt->fwds) >= ROUTE_INFLIGHT_MAX) {
        rt->busy++;
        refuse(rt, &lk->reply, &lk->req, "busy",
               "too many requests of this node wait for other nodes; retry");
        return;
    }
    struct fwd *f = calloc(1, sizeof *f);
    if (!f) {
        refuse(rt, &lk->reply, &lk->req, "busy", "out of memory; retry");
        return;
    }
    f->id = ++rt->next_id;
    snprintf(f->home, sizeof f->home, "%s", home);
    f->ids = ids_of(&lk->req);
    f->reply = lk->reply;
    struct route_msg msg = {.type = ROUTE_REQ,
                            .id = f->id,
                            .role = lk->role,
                            .user = lk->user,
                            .user_len = strlen(lk->user),
                            .body = lk->data,
                            .body_len = strlen(lk->data)};
    memcpy(msg.node, rt->node, sizeof msg.node);
    memcpy(msg.boot, rt->boot, sizeof msg.boot);
    size_t sl = strlen(lk->reply.socket_id);
    if (sl >= sizeof msg.socket_id) { /* never for the server's own ids */
        free(f);
        refuse(rt, &lk->reply, &lk->req, "invalid", "this socket id cannot be forwarded");
        return;
    }
    memcpy(msg.socket_id, lk->reply.socket_id, sl + 1);
    snprintf(msg.event, sizeof msg.event, "%s",
             lk->event ? lk->event : sync_msg_op_event(lk->req.op));
    char *buf = NULL, channel[sizeof rt->prefix + ROUTE_NODE_MAX + 8];
    size_t len;
    snprintf(channel, sizeof channel, "%s:doc:%s", rt->prefix, home);
    if (route_encode(&msg, &buf, &len) != 0) {
        free(f);
        refuse(rt, &lk->reply, &lk->req, "too_large",
               "this request cannot be forwarded to the document's home node");
        return;
    }
    const char *argv[3] = {"PUBLISH", channel, buf};
    size_t lens[3] = {7, strlen(channel), len};
    if (hmap_put(&rt->fwds, &f->id, sizeof f->id, f) != 0 ||
        redis_command(rt->rd, on_published, (void *)(uintptr_t)f->id, 3, argv, lens) != 0) {
        hmap_del(&rt->fwds, &f->id, sizeof f->id);
        free(f);
        free(buf);
        refuse(rt, &lk->reply, &lk->req, "unavailable",
               "Redis is unreachable: the document's home node cannot be asked; retry");
        return;
    }
    free(buf);
    f->deadline_ms = clock_mono_ms() + rt->timeout_ms;
    f->prev = rt->tail;
    if (rt->tail)
        rt->tail->next = f;
    else
        rt->head = f;
    rt->tail = f;
    rt->forwarded++;
}

static void handle_here(struct sync_route *rt, struct sync_request *req, const char *user,
                        enum route_role role, const struct sync_reply *reply)
{
    /* A document moving away (or gone) is not served here: the refusal is
     * retried, and the retry reads where it lives now. */
    char why[256];
    if (move_blocked(req->doc, why, sizeof why)) {
        refuse(rt, reply, req, "unavailable", why);
        return;
    }
    int r = role == ROUTE_ROLE_OWNER ? AUTH_ROLE_OWNER : sync_server_role(rt->m, req->doc, user);
    sync_engine_handle(rt->m->engine, req, *user ? user : "anonymous", r, reply);
}

/* Serves a looked-up request here: a docsync request through the engine, a
 * request of the HTTP API's document routes (lk->event) through
 * sync_http_doc_serve, as a lone server answers it. */
static void serve_here(struct sync_route *rt, struct lookup *lk)
{
    if (!lk->event) {
        handle_here(rt, &lk->req, lk->user, lk->role, &lk->reply);
        return;
    }
    char why[256];
    if (move_blocked(lk->req.doc, why, sizeof why)) {
        refuse(rt, &lk->reply, &lk->req, "unavailable", why);
        return;
    }
    sync_http_doc_serve(rt->m, lk->event, lk->data, strlen(lk->data), &lk->reply);
}

/* Where the document lives, as SET NX GET (or GET, for reads that claim
 * nothing) answered: nil = nobody had it (and, claimed, it is now this
 * node's: no other store holds it, so this node answers as a lone server
 * would); a node id = that node's. */
static void decide(struct sync_route *rt, struct lookup *lk, const struct redis_reply *r)
{
    if (!r || (r->type != REDIS_R_NIL && r->type != REDIS_R_STRING)) {
        refuse(rt, &lk->reply, &lk->req, "unavailable",
               "Redis is unreachable: the document's home node is unknown; retry");
        return;
    }
    if (r->type == REDIS_R_NIL || strcmp(r->str, rt->node) == 0) {
        rt->local++;
        serve_here(rt, lk);
        return;
    }
    char text[256];
    if (!bus_node_id_valid(r->str, r->len)) {
        snprintf(text, sizeof text, "document %s has an invalid home record in Redis", lk->req.doc);
        refuse(rt, &lk->reply, &lk->req, "unavailable", text);
        return;
    }
    if (!cluster_node_alive(r->str)) {
        snprintf(text, sizeof text, "the home node of document %s (%s) is down; retry", lk->req.doc,
                 r->str);
        refuse(rt, &lk->reply, &lk->req, "unavailable", text);
        return;
    }
    forward(rt, lk, r->str);
}

static void lookup_free(struct lookup *lk)
{
    sync_msg_clear(&lk->req);
    free(lk->data);
    free(lk);
}

static void on_home(void *ud, const struct redis_reply *r)
{
    struct lookup *lk = ud;
    struct sync_route *rt = g_route;
    if (rt) {
        rt->nlookups--;
        decide(rt, lk, r);
    }
    lookup_free(lk);
}

/* Asks Redis where lk's document lives (claiming it for this node when
 * `claim` and nobody has it); on_home decides. Takes lk. */
static void lookup_start(struct sync_route *rt, struct lookup *lk, int claim)
{
    /* The HTTP API's document and access-list reads claim nothing: a
     * document no node holds is answered here as a lone server answers it
     * (404, an empty list: the same bytes on every node), and leaves no
     * record behind. */
    if (cluster_home_lookup("doc", lk->req.doc, claim, on_home, lk) != 0) {
        refuse(rt, &lk->reply, &lk->req, "unavailable",
               "Redis is unreachable: the document's home node is unknown; retry");
        lookup_free(lk);
        return;
    }
    rt->nlookups++;
}

void sync_route_handle(struct sync_module *m, struct sync_request *req, const cJSON *data,
                       const char *user, enum route_role role, int claim,
                       const struct sync_reply *reply)
{
    struct sync_route *rt = g_route;
    (void)m;
    if (strchr(user, '\n') || strlen(user) > ROUTE_USER_MAX) {
        refuse(rt, reply, req, "forbidden", "this user id cannot be sent to another node");
        return;
    }
    if (rt->nlookups + hmap_count(&rt->fwds) >= ROUTE_INFLIGHT_MAX) {
        rt->busy++;
        refuse(rt, reply, req, "busy", "too many document requests wait on this node; retry");
        return;
    }
    struct lookup *lk = calloc(1, sizeof *lk);
    char *json = cJSON_PrintUnformatted(data);
    if (!lk || !json) {
        free(lk);
        free(json);
        refuse(rt, reply, req, "busy", "out of memory; retry");
        return;
    }
    lk->req = *req;
    memset(req, 0, sizeof *req); /* moved: the caller's clear frees nothing */
    req->op = lk->req.op;
    memcpy(req->doc, lk->req.doc, sizeof req->doc);
    memcpy(req->request_id, lk->req.request_id, sizeof req->request_id);
    lk->data = json;
    snprintf(lk->user, sizeof lk->user, "%s", user);
    lk->role = role;
    lk->reply = *reply;
    lookup_start(rt, lk, claim);
}

void sync_route_doc(struct sync_module *m, const char *doc, const char *event, const char *json,
                    int claim, const struct sync_reply *reply)
{
    struct sync_route *rt = g_route;
    struct sync_request ids;
    memset(&ids, 0, sizeof ids);
    snprintf(ids.doc, sizeof ids.doc, "%s", doc);
    if (!rt) {
        sync_engine_reply_error(m->engine, reply, &ids, "unavailable", "not in cluster mode");
        return;
    }
    if (rt->nlookups + hmap_count(&rt->fwds) >= ROUTE_INFLIGHT_MAX) {
        rt->busy++;
        refuse(rt, reply, &ids, "busy", "too many document requests wait on this node; retry");
        return;
    }
    struct lookup *lk = calloc(1, sizeof *lk);
    char *copy = strdup(json);
    if (!lk || !copy) {
        free(lk);
        free(copy);
        refuse(rt, reply, &ids, "busy", "out of memory; retry");
        return;
    }
    lk->req = ids;
    lk->data = copy;
    lk->role = ROUTE_ROLE_OWNER; /* the signed HTTP API (or this node's own question) */
    snprintf(lk->user, sizeof lk->user, "api");
    lk->reply = *reply;
    lk->event = event;
    lookup_start(rt, lk, claim);
}

void sync_route_ask(struct sync_module *m, const char *node, const char *event, const char *json,
                    const struct sync_reply *reply)
{
    (void)m;
    struct sync_route *rt = g_route;
    struct lookup lk;
    memset(&lk, 0, sizeof lk);
    lk.reply = *reply;
    lk.event = event;
    lk.data = (char *)json; /* only read by forward */
    lk.role = ROUTE_ROLE_OWNER;
    char text[256];
    if (!rt || !bus_node_id_valid(node, strlen(node)) || !cluster_node_alive(node)) {
        snprintf(text, sizeof text,
                 "node %.63s is not a live node of this cluster (unknown, or silent for "
                 "DOCSYNC_CLUSTER_NODE_TIMEOUT)",
                 node);
        if (rt)
            refuse(rt, reply, &lk.req, "unavailable", text);
        else
            sync_engine_reply_error(m->engine, reply, NULL, "unavailable", text);
        return;
    }
    forward(rt, &lk, node);
}

/* The home's answer to one of ours: relayed to the client as it is. */
static void on_answer(struct sync_route *rt, const struct route_msg *msg)
{
    struct fwd *f = hmap_get(&rt->fwds, &msg->id, sizeof msg->id);
    if (!f || strcmp(f->home, msg->node) != 0 || strcmp(msg->to_boot, rt->boot) != 0) {
        rt->stale++; /* answered after its deadline, or meant for another life */
        return;
    }
    fwd_unlink(rt, f);
    rt->answered++;
    /* The body is the end of the payload, which redis/ NUL-terminates. */
    sync_server_send(rt->m, &f->reply, msg->event, msg->body);
    free(f);
}

/* ---- home node -------------------------------------------------------------- */

static void served_unlink(struct sync_route *rt, struct served *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        rt->served = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

/* The engine's answer to a request another node forwarded: back to it. */
static void served_done(void *arg, const char *event, const char *json)
{
    struct served *s = arg;
    struct sync_route *rt = g_route;
    if (!rt)
        return;  /* freed by sync_route_stop */
    if (!json) { /* out of memory while answering */
        event = "docsync:error";
        json = "{\"code\":\"internal\",\"message\":\"out of memory\"}";
    }
    size_t jl = strlen(json);
    if (jl + 1024 > ROUTE_MAX_MESSAGE && !s->too_big) {
        /* A message between nodes carries at most ROUTE_MAX_MESSAGE bytes
         * (Redis holds each whole, in every subscriber's output buffer):
         * a bigger answer (a history text of a document whose every byte
         * is escaped, past 4 MiB) is refused in so many words, rather
         * than left to time out. It comes back here, small. */
        s->too_big = 1;
        struct sync_request ids;
        memset(&ids, 0, sizeof ids);
        memcpy(ids.doc, s->doc, sizeof ids.doc);
        memcpy(ids.request_id, s->request_id, sizeof ids.request_id);
        struct sync_reply again;
        memset(&again, 0, sizeof again);
        again.done = served_done;
        again.arg = s;
        char text[256];
        snprintf(text, sizeof text,
                 "the answer (%zu bytes) is larger than a message between nodes may be (%u "
                 "bytes); ask the document's home node (%s)",
                 jl, ROUTE_MAX_MESSAGE, rt->node);
        sync_engine_reply_error(rt->m->engine, &again, &ids, "too_large", text);
        return;
    }
    served_unlink(rt, s);
    struct route_msg msg = {.type = ROUTE_REP, .id = s->id, .body = json, .body_len = jl};
    memcpy(msg.node, rt->node, sizeof msg.node);
    memcpy(msg.boot, rt->boot, sizeof msg.boot);
    memcpy(msg.to_boot, s->origin_boot, sizeof msg.to_boot);
    snprintf(msg.event, sizeof msg.event, "%s", event);
    char *buf, channel[sizeof rt->prefix + ROUTE_NODE_MAX + 8];
    size_t len;
    snprintf(channel, sizeof channel, "%s:doc:%s", rt->prefix, s->origin);
    if (route_encode(&msg, &buf, &len) == 0) {
        /* Lost with Redis: the asking node refuses at its deadline and the
         * client resends (a repeated (client, seq) is answered, not applied). */
        (void)redis_publish(rt->rd, channel, buf, len);
        free(buf);
    }
    free(s);
}

static void on_request(struct sync_route *rt, const struct route_msg *msg)
{
    struct served *s = calloc(1, sizeof *s);
    if (!s)
        return; /* the asking node refuses at its deadline */
    memcpy(s->origin, msg->node, sizeof s->origin);
    memcpy(s->origin_boot, msg->boot, sizeof s->origin_boot);
    s->id = msg->id;
    s->next = rt->served;
    if (s->next)
        s->next->prev = s;
    rt->served = s;
    rt->served_n++;
    struct sync_reply reply;
    memset(&reply, 0, sizeof reply);
    /* The client's socket id: DocumentUpdated skips it on its node. */
    memcpy(reply.socket_id, msg->socket_id, sizeof msg->socket_id);
    reply.done = served_done;
    reply.arg = s;
    if (strcmp(msg->event, "docsync:audit") == 0) {
        /* An auditor asked another node for this node's log. */
        sync_http_audit_serve(rt->m, msg->body, msg->body_len, &reply);
        return;
    }
    if (strcmp(msg->event, "docsync:document") == 0 || strcmp(msg->event, "docsync:acl") == 0 ||
        strcmp(msg->event, "docsync:role") == 0) {
        /* The HTTP API's document routes, or /broadcasting/auth, on
         * another node: answered as they would be here. Its document id
         * is checked again by sync_http_doc_serve (hostile input). */
        cJSON *j = cJSON_ParseWithLength(msg->body, msg->body_len);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "documentId");
        char why[256];
        struct sync_request ids;
        memset(&ids, 0, sizeof ids);
        if (cJSON_IsString(d) && sync_msg_doc_id_valid(d->valuestring))
            snprintf(ids.doc, sizeof ids.doc, "%s", d->valuestring);
        cJSON_Delete(j);
        memcpy(s->doc, ids.doc, sizeof s->doc);
        if (msg->role != ROUTE_ROLE_OWNER) /* nodes send these with the owner's role only */
            sync_engine_reply_error(rt->m->engine, &reply, &ids, "forbidden",
                                    "document reads and access lists are the HTTP API's");
        else if (ids.doc[0] && move_blocked(ids.doc, why, sizeof why))
            refuse(rt, &reply, &ids, "unavailable", why);
        else
            sync_http_doc_serve(rt->m, msg->event, msg->body, msg->body_len, &reply);
        return;
    }
    char user[ROUTE_USER_MAX + 1];
    memcpy(user, msg->user, msg->user_len);
    user[msg->user_len] = '\0';
    int op = sync_msg_op_from_event(msg->event);
    cJSON *data = cJSON_ParseWithLength(msg->body, msg->body_len);
    struct sync_request req;
    memset(&req, 0, sizeof req);
    const struct config *cfg = server_config(rt->m->srv);
    const char *why = NULL;
    int rc = cJSON_IsObject(data)
                 ? sync_msg_parse((enum sync_op)op, data,
                                  msg->role == ROUTE_ROLE_OWNER ? cfg->doc_max_bytes
                                                                : cfg->max_message_size,
                                  cfg->doc_max_bytes, &req, &why)
                 : SYNC_MSG_EINVAL;
    cJSON_Delete(data);
    memcpy(s->doc, req.doc, sizeof s->doc);
    memcpy(s->request_id, req.request_id, sizeof s->request_id);
    if (rc != 0) {
        sync_engine_reply_error(rt->m->engine, &reply, &req,
                                rc == SYNC_MSG_ETOOBIG ? "too_large" : "invalid",
                                why ? why : "invalid request");
    } else if (!user[0] && (op == SYNC_OP_SUBMIT || op == SYNC_OP_REPLACE)) {
        sync_engine_reply_error(rt->m->engine, &reply, &req, "forbidden",
                                "edits must be attributed to a user");
    } else {
        handle_here(rt, &req, user, msg->role, &reply);
    }
    sync_msg_clear(&req);
}

/* Logs a rejected message by reason and size, never its bytes. */
static void reject(struct sync_route *rt, int why, size_t len);

/* A message route_decode refused with `rc`: counted by its reason. */
static void reject_decode(struct sync_route *rt, int rc, size_t len)
{
    reject(rt,
           rc == ROUTE_EFOREIGN   ? RJ_FOREIGN
           : rc == ROUTE_EVERSION ? RJ_VERSION
           : rc == ROUTE_ETOOBIG  ? RJ_TOO_BIG
                                  : RJ_MALFORMED,
           len);
}

static void reject(struct sync_route *rt, int why, size_t len)
{
    uint64_t n = ++rt->rejected[why];
    if (n <= 5 || n % 1000 == 0)
        log_warn(server_logger(rt->m->srv),
                 "sync: dropped a document route message (%s, %zu bytes; %llu so far)",
                 rj_names[why], len, (unsigned long long)n);
}

static void on_inbox(void *ud, const char *channel, size_t clen, const char *payload, size_t len)
{
    (void)ud;
    (void)channel;
    (void)clen;
    struct sync_route *rt = g_route;
    if (!rt)
        return;
    struct route_msg msg;
    int rc = route_decode(payload, len, &msg);
    if (rc != 0) {
        reject_decode(rt, rc, len);
        return;
    }
    if (msg.type == ROUTE_REQ)
        on_request(rt, &msg);
    else if (msg.type == ROUTE_REP)
        on_answer(rt, &msg);
    else
        move_on_message(&msg);
}

/* ---- access lists changed on a home node ------------------------------------------
 * The home is the only node whose list counts (every change is made
 * there, every request and /broadcasting/auth reads it there), but the
 * subscribers a change takes a document away from may be on any node: the
 * home tells every node, with the whole new list, and each unsubscribes
 * its own as the home did its own (sync_server_revoke_list). */

struct acl_build {
    cJSON *arr;
    size_t n;
    int over; /* more entries than a notice may carry */
};

static int acl_entry(void *ctx, const char *user, size_t ulen, enum store_role role)
{
    static const char *const roles[] = {"", "viewer", "editor", "owner"};
    struct acl_build *b = ctx;
    if (role < STORE_ROLE_VIEWER || role > STORE_ROLE_OWNER || ulen > STORE_USER_ID_MAX)
        return 0;
    if (b->n == ROUTE_SHIP_ACL_MAX) {
        b->over = 1;
        return 1; /* stop */
    }
    char u[STORE_USER_ID_MAX + 1];
    memcpy(u, user, ulen);
    u[ulen] = '\0';
    cJSON *e = cJSON_CreateArray();
    cJSON_AddItemToArray(e, cJSON_CreateString(u));
    cJSON_AddItemToArray(e, cJSON_CreateString(roles[role]));
    cJSON_AddItemToArray(b->arr, e);
    b->n++;
    return 0;
}

static void untold_add(struct sync_route *rt, const char *doc);

void sync_route_acl_changed(struct sync_module *m, const char *doc)
{
    struct sync_route *rt = g_route;
    if (!rt)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "documentId", doc);
    struct acl_build b = {cJSON_AddArrayToObject(o, "acl"), 0, 0};
    store_read *r = NULL;
    uint64_t upto = 0;
    int rc = store_read_begin(m->store, &r);
    if (rc == 0) {
        rc = store_acl_list(r, doc, acl_entry, &b);
        if (rc >= 0 && store_acl_changes(r, &upto) != 0)
            upto = 0;
        store_read_end(r);
    }
    if (rc >= 0 && upto && rt->ntold < TOLD_MAX) {
        struct told *t = realloc(rt->told, (rt->ntold + 1) * sizeof *t);
        if (t) {
            rt->told = t;
            snprintf(t[rt->ntold].doc, sizeof t->doc, "%s", doc);
            t[rt->ntold++].upto = upto;
        }
    }
    /* A list the receivers would take only in part is not sent: they would
     * read the users left out as removed. */
    char *json = rc >= 0 && !b.over ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    struct route_msg msg = {.type = ROUTE_ACL, .id = ++rt->acl_next};
    memcpy(msg.node, rt->node, sizeof msg.node);
    memcpy(msg.boot, rt->boot, sizeof msg.boot);
    msg.body = json;
    msg.body_len = json ? strlen(json) : 0;
    char *buf = NULL;
    size_t len = 0;
    int encoded = json && route_encode(&msg, &buf, &len) == 0;
    if (encoded && redis_publish(rt->rd, rt->acl_channel, buf, len) != 0)
        untold_add(rt, doc); /* told once Redis is back */
    else if (!encoded)
        log_warn(server_logger(m->srv),
                 "sync: the other nodes could not be told that the access list of %s changed "
                 "(more than %d entries); their subscribers keep their subscriptions (their "
                 "requests are checked here)",
                 doc, ROUTE_SHIP_ACL_MAX);
    else
        rt->acl_sent++;
    free(buf);
    free(json);
}

static void on_acl_notice(void *ud, const char *channel, size_t clen, const char *payload,
                          size_t len)
{
    (void)ud;
    (void)channel;
    (void)clen;
    struct sync_route *rt = g_route;
    if (!rt)
        return;
    struct route_msg msg;
    int rc = route_decode(payload, len, &msg);
    if (rc == 0 && msg.type != ROUTE_ACL)
        rc = ROUTE_EMALFORMED;
    if (rc != 0) {
        reject_decode(rt, rc, len);
        return;
    }
    if (strcmp(msg.node, rt->node) == 0 && strcmp(msg.boot, rt->boot) == 0)
        return; /* ours: this node revoked its own already */
    struct route_acl a;
    const char *why = NULL;
    if (route_acl_parse(msg.body, msg.body_len, &a, &why) != 0) {
        reject(rt, RJ_MALFORMED, len);
        return;
    }
    rt->acl_received++;
    sync_server_revoke_list(rt->m, a.doc, a.acl, a.nacl);
    route_acl_free(&a);
}

/* ---- access lists changed behind the server's back ---------------------------
 * docsync-admin writes a node's store directly; the ACL poll
 * (sync_server.c) sees the store's change count move and calls here with
 * the counts it had not seen. Each changed document that Redis names this
 * node the home of is told to the other nodes as a change through the HTTP
 * API is (a change another node's store took is not the list that counts,
 * and is not told). */

#define UNTOLD_MAX 4096

static void untold_add(struct sync_route *rt, const char *doc)
{
    for (size_t i = 0; i < rt->nuntold; i++)
        if (strcmp(rt->untold[i], doc) == 0)
            return;
    void *p = rt->nuntold < UNTOLD_MAX ? realloc(rt->untold, (rt->nuntold + 1) * sizeof *rt->untold)
                                       : NULL;
    if (!p) {
        log_warn(server_logger(rt->m->srv),
                 "sync: the access list of %s changed; the other nodes are not told (Redis "
                 "unreachable, too many waiting); their subscribers are checked again when their "
                 "node reconnects to Redis",
                 doc);
        return;
    }
    rt->untold = p;
    snprintf(rt->untold[rt->nuntold++], sizeof *rt->untold, "%s", doc);
}

struct home_check {
    char doc[SYNC_DOC_ID_MAX + 1];
};

static void on_home_checked(void *ud, const struct redis_reply *r)
{
    struct home_check *h = ud;
    struct sync_route *rt = g_route;
    if (rt && r && r->type == REDIS_R_STRING && strcmp(r->str, rt->node) == 0) {
        /* The home's list: its own subscribers (a list without a version
         * yet is not "held" by the poll), then every other node's. */
        sync_server_revoke(rt->m, h->doc);
        sync_route_acl_changed(rt->m, h->doc);
    } else if (rt && (!r || r->type == REDIS_R_ERROR))
        untold_add(rt, h->doc); /* Redis went away: asked again after it is back */
    free(h);
}

/* Tells the other nodes of a change of `doc`'s list if Redis names this
 * node its home. */
static void tell_if_home(struct sync_route *rt, const char *doc)
{
    struct home_check *h = calloc(1, sizeof *h);
    char key[sizeof rt->prefix + SYNC_DOC_ID_MAX + 16];
    snprintf(key, sizeof key, "%s:doc-home:%s", rt->prefix, doc);
    const char *argv[2] = {"GET", key};
    if (h)
        snprintf(h->doc, sizeof h->doc, "%s", doc);
    if (!h || redis_command(rt->rd, on_home_checked, h, 2, argv, NULL) != 0) {
        free(h);
        untold_add(rt, doc);
    }
}

static void untold_retry(struct sync_route *rt)
{
    char(*ids)[SYNC_DOC_ID_MAX + 1] = rt->untold;
    size_t n = rt->nuntold;
    rt->untold = NULL;
    rt->nuntold = 0;
    for (size_t i = 0; i < n; i++)
        tell_if_home(rt, ids[i]);
    free(ids);
}

static int told_covers(const struct sync_route *rt, const char *doc, uint64_t count)
{
    for (size_t i = 0; i < rt->ntold; i++)
        if (rt->told[i].upto >= count && strcmp(rt->told[i].doc, doc) == 0)
            return 1;
    return 0;
}

struct changed {
    struct sync_route *rt;
    uint64_t now; /* later changes are the next poll's */
    char (*ids)[SYNC_DOC_ID_MAX + 1];
    size_t n;
};

static int changed_one(void *ctx, const char *doc, uint64_t count)
{
    struct changed *c = ctx;
    if (count > c->now)
        return 1;
    if (told_covers(c->rt, doc, count))
        return 0;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->ids[i], doc) == 0)
            return 0;
    void *p = realloc(c->ids, (c->n + 1) * sizeof *c->ids);
    if (!p)
        return STORE_ENOMEM;
    c->ids = p;
    snprintf(c->ids[c->n++], sizeof *c->ids, "%s", doc);
    return 0;
}

uint64_t sync_route_acl_poll(struct sync_module *m, uint64_t since, uint64_t now)
{
    struct sync_route *rt = g_route;
    if (!rt)
        return now;
    /* A page of changes per call (each changed list costs a Redis GET and,
     * on its home, a notice): the rest waits for the next poll, so a burst
     * of changes (a script of docsync-admin acl) is told whole, a page a
     * second, as long as the store's log still reaches back. */
    uint64_t end = now;
    if (now - since > SYNC_ROUTE_ACL_PAGE)
        now = since + SYNC_ROUTE_ACL_PAGE;
    struct changed c = {rt, now, NULL, 0};
    store_read *r = NULL;
    int rc = store_read_begin(m->store, &r);
    if (rc == 0)
        rc = store_acl_changed_since(r, since, changed_one, &c);
    /* Which of them this store holds (the home's, or one that is becoming
     * it): their lists count here, for this node's own subscribers, even
     * while Redis cannot confirm the home. */
    char *held = c.n ? calloc(c.n, 1) : NULL;
    struct store_doc_info info;
    for (size_t i = 0; rc == 0 && held && i < c.n; i++)
        held[i] = store_doc_get(r, c.ids[i], &info) == 0;
    store_read_end(r);
    if (rc != 0) {
        log_warn(server_logger(m->srv),
                 "sync: access-list changes after count %llu are no longer all logged in the store "
                 "(%s; it keeps the last %d): the other nodes are not told of them; their "
                 "subscribers are checked again when their node reconnects to Redis",
                 (unsigned long long)since, store_strerror(rc), STORE_ACL_LOG);
        /* This node's own subscribers: every document held here. */
        size_t n = 0;
        char(*ids)[SYNC_DOC_ID_MAX + 1] = sync_server_subscribed_docs(m, &n);
        if (ids && store_read_begin(m->store, &r) == 0) {
            char *mine = calloc(n ? n : 1, 1);
            for (size_t i = 0; mine && i < n; i++)
                mine[i] = store_doc_get(r, ids[i], &info) == 0;
            store_read_end(r);
            for (size_t i = 0; mine && i < n; i++)
                if (mine[i])
                    sync_server_revoke(m, ids[i]);
            free(mine);
        }
        free(ids);
        now = end; /* nothing more can be learnt of the changes skipped */
    }
    for (size_t i = 0; rc == 0 && i < c.n; i++) {
        if (!held || held[i])
            sync_server_revoke(m, c.ids[i]);
        tell_if_home(rt, c.ids[i]);
    }
    free(held);
    free(c.ids);
    /* Every change up to `now` is told or being told. */
    size_t k = 0;
    for (size_t i = 0; i < rt->ntold; i++)
        if (rt->told[i].upto > now)
            rt->told[k++] = rt->told[i];
    rt->ntold = k;
    return now;
}

/* ---- access lists read again after a reconnection -----------------------------
 * A notice published while this node was cut from Redis never reaches it:
 * once connected again it asks the home of every document it has
 * subscribers on for the current list (docsync:acl, never claiming) and
 * unsubscribes whoever lost the viewer role, as a notice would have. At
 * most RECHECK_INFLIGHT questions wait at a time; a second pass follows
 * RECHECK_AGAIN_MS later, since a Redis restarted without its data knows
 * no home until each home has claimed its documents again (meanwhile a
 * list reads as none). */

static void recheck_fill(struct sync_route *rt);
static void recheck_start(struct sync_route *rt);

static int role_of_name(const char *s)
{
    int r = auth_role_parse(s);
    return r >= AUTH_ROLE_VIEWER && r <= AUTH_ROLE_OWNER ? r : -1;
}

static void recheck_answered(void *arg, const char *event, const char *json)
{
    struct sync_route *rt = g_route;
    /* The document asked about (an entry of rk.ids, which lives until every
     * answer of the pass is in, or until the module stops). */
    const char *doc = arg;
    if (!rt)
        return;
    rt->rk.inflight--;
    cJSON *o = strcmp(event, "docsync:acl") == 0 ? cJSON_Parse(json) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "documentId");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "acl");
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    struct route_ship_acl *e = n > 0 ? calloc((size_t)n, sizeof *e) : NULL;
    int ok = cJSON_IsString(d) && strcmp(d->valuestring, doc) == 0 && n >= 0 && (n == 0 || e);
    for (int i = 0; ok && i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "user");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(it, "role");
        e[i].role = cJSON_IsString(r) ? role_of_name(r->valuestring) : -1;
        e[i].user = cJSON_IsString(u) ? u->valuestring : NULL;
        ok = e[i].user && e[i].role > 0;
    }
    if (ok) {
        rt->rk.read++;
        sync_server_revoke_list(rt->m, doc, e, (size_t)n);
    } else {
        /* The home down, moving, or Redis gone again: a later pass asks. */
        rt->rk.unread++;
        rt->rk.failed = 1;
    }
    free(e);
    cJSON_Delete(o);
    recheck_fill(rt);
}

static void recheck_fill(struct sync_route *rt)
{
    struct recheck *k = &rt->rk;
    if (k->filling || !k->ids)
        return;
    k->filling = 1; /* a refusal answers at once: no recursion */
    while (k->inflight < RECHECK_INFLIGHT && k->next < k->n) {
        const char *doc = k->ids[k->next++];
        if (!sync_msg_doc_id_valid(doc))
            continue; /* no document can have that id: nothing to read */
        char json[SYNC_DOC_ID_MAX * 6 + 32];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "documentId", doc);
        int ok = o && cJSON_PrintPreallocated(o, json, sizeof json, 0);
        cJSON_Delete(o);
        struct sync_reply reply;
        memset(&reply, 0, sizeof reply);
        reply.done = recheck_answered;
        reply.arg = (void *)doc; /* the answer is checked against it */
        if (!ok) {
            k->unread++;
            k->failed = 1;
            continue;
        }
        k->inflight++;
        sync_route_doc(rt->m, doc, "docsync:acl", json, 0, &reply);
    }
    k->filling = 0;
    if (k->next < k->n || k->inflight)
        return;
    log_info(server_logger(rt->m->srv),
             "sync: access lists of %zu document(s) with subscribers here read again from their "
             "homes%s",
             k->n, k->failed ? " (some homes did not answer: asked again later)" : "");
    free(k->ids);
    k->ids = NULL;
    if (k->failed && k->retries < RECHECK_RETRIES) {
        k->retries++;
        if (!k->again_at)
            k->again_at = clock_mono_ms() + RECHECK_AGAIN_MS;
    } else if (!k->failed) {
        k->retries = 0;
    }
    if (k->again) {
        k->again = 0;
        recheck_start(rt);
    }
}

static void recheck_start(struct sync_route *rt)
{
    struct recheck *k = &rt->rk;
    if (k->ids) {
        k->again = 1; /* after the pass under way */
        return;
    }
    size_t n = 0;
    k->ids = sync_server_subscribed_docs(rt->m, &n);
    k->n = k->ids ? n : 0;
    k->next = 0;
    k->failed = 0;
    if (!k->ids)
        return;
    recheck_fill(rt);
}

/* ---- re-claiming after a Redis restart ---------------------------------------
 * The home records live in Redis only. A Redis restarted without
 * persistence has lost them: each node then claims again, with SET NX, the
 * documents its own store holds, so that the next request for one finds
 * its data where it is. A record that names another node is left alone and
 * logged: two stores hold the document (the first request after the loss
 * reached another node before this pass did). */

static void reclaim_page(struct sync_route *rt);

static void on_reclaimed(void *ud, const struct redis_reply *r)
{
    char *doc = ud;
    struct sync_route *rt = g_route;
    if (rt) {
        if (r && r->type == REDIS_R_NIL) {
            rt->rc.claimed++;
        } else if (r && r->type == REDIS_R_STRING && strcmp(r->str, rt->node) != 0) {
            rt->rc.conflicts++;
            log_error(server_logger(rt->m->srv),
                      "sync: document %s is in this node's store but Redis names %s as its home; "
                      "requests go there (the home record was lost and claimed anew)",
                      doc, r->str);
        } else if (r && r->type == REDIS_R_STRING) {
            rt->rc.kept++;
        }
        if (--rt->rc.waiting == 0)
            reclaim_page(rt);
    }
    free(doc);
}

struct reclaim_list {
    struct sync_route *rt;
    size_t n;
};

static int reclaim_one(void *ctx, const char *doc, size_t len, const struct store_doc_info *info)
{
    (void)info;
    struct reclaim_list *l = ctx;
    struct sync_route *rt = l->rt;
    if (len > SYNC_DOC_ID_MAX)
        return 0;
    memcpy(rt->rc.after, doc, len);
    rt->rc.after[len] = '\0';
    char *id = strdup(rt->rc.after);
    if (!id || cluster_home_lookup("doc", rt->rc.after, 1, on_reclaimed, id) != 0) {
        free(id);
        return -1; /* Redis is gone again: the next connection starts over */
    }
    rt->rc.waiting++;
    l->n++;
    return 0;
}

static void reclaim_page(struct sync_route *rt)
{
    store_read *r;
    struct reclaim_list l = {rt, 0};
    int rc = store_read_begin(rt->m->store, &r);
    if (rc == 0) {
        rc = store_doc_list(r, rt->rc.after, RECLAIM_PAGE, reclaim_one, &l);
        store_read_end(r);
    }
    if (rt->rc.waiting)
        return; /* the last answer asks for the next page */
    rt->rc.running = 0;
    if (rc == 0)
        log_info(server_logger(rt->m->srv),
                 "sync: home records checked: %llu kept, %llu claimed again, %llu held elsewhere",
                 (unsigned long long)rt->rc.kept, (unsigned long long)rt->rc.claimed,
                 (unsigned long long)rt->rc.conflicts);
    if (rt->rc.again) {
        rt->rc.again = 0;
        rt->rc.running = 1;
        rt->rc.after[0] = '\0';
        reclaim_page(rt);
    }
}

static void on_redis_status(void *ud, int up)
{
    (void)ud;
    struct sync_route *rt = g_route;
    if (!rt || !up)
        return;
    rt->rk.retries = 0;
    recheck_start(rt);
    rt->rk.again_at = clock_mono_ms() + RECHECK_AGAIN_MS;
    if (rt->rc.running) {
        rt->rc.again = 1;
        return;
    }
    rt->rc.running = 1;
    rt->rc.after[0] = '\0';
    rt->rc.kept = rt->rc.claimed = rt->rc.conflicts = 0;
    reclaim_page(rt);
}

/* ---- timer, metrics, start, stop -------------------------------------------- */

static void on_tick(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct sync_route *rt = g_route;
    if (!rt)
        return;
    int64_t now = clock_mono_ms();
    char why[64];
    snprintf(why, sizeof why, "did not answer within %lld ms", (long long)rt->timeout_ms);
    while (rt->head && rt->head->deadline_ms <= now) {
        rt->timeouts++;
        fwd_fail(rt, rt->head, why);
    }
    if (rt->rk.again_at && rt->rk.again_at <= now) {
        rt->rk.again_at = 0;
        recheck_start(rt);
        untold_retry(rt);
    }
    move_tick(now);
}

static char *route_metrics(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct sync_route *rt = g_route;
    if (!rt)
        return NULL;
    struct metrics_text b = {0};
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        &b,
        "# HELP docsync_route_requests_total Document requests by where they were handled "
        "(cluster mode).\n"
        "# TYPE docsync_route_requests_total counter\n"
        "docsync_route_requests_total{where=\"home\"} %llu\n"
        "docsync_route_requests_total{where=\"forwarded\"} %llu\n"
        "docsync_route_requests_total{where=\"served\"} %llu\n"
        "# HELP docsync_route_answers_total Answers of home nodes relayed to clients.\n"
        "# TYPE docsync_route_answers_total counter\n"
        "docsync_route_answers_total %llu\n"
        "# HELP docsync_route_refused_total Requests refused by routing.\n"
        "# TYPE docsync_route_refused_total counter\n"
        "docsync_route_refused_total{reason=\"unavailable\"} %llu\n"
        "docsync_route_refused_total{reason=\"timeout\"} %llu\n"
        "docsync_route_refused_total{reason=\"busy\"} %llu\n"
        "# HELP docsync_route_in_flight Requests waiting for Redis or a home node.\n"
        "# TYPE docsync_route_in_flight gauge\n"
        "docsync_route_in_flight %llu\n"
        "# HELP docsync_route_stale_total Answers that came too late or for another life.\n"
        "# TYPE docsync_route_stale_total counter\n"
        "docsync_route_stale_total %llu\n"
        "# HELP docsync_route_rejected_total Route messages dropped unread.\n"
        "# TYPE docsync_route_rejected_total counter\n"
        "docsync_route_rejected_total{reason=\"foreign\"} %llu\n"
        "docsync_route_rejected_total{reason=\"version\"} %llu\n"
        "docsync_route_rejected_total{reason=\"malformed\"} %llu\n"
        "docsync_route_rejected_total{reason=\"too_big\"} %llu\n"
        "# HELP docsync_route_acl_notices_total Access-list changes told to the other "
        "nodes (sent) and heard from their home nodes (received).\n"
        "# TYPE docsync_route_acl_notices_total counter\n"
        "docsync_route_acl_notices_total{dir=\"sent\"} %llu\n"
        "docsync_route_acl_notices_total{dir=\"received\"} %llu\n",
        U(rt->local), U(rt->forwarded), U(rt->served_n), U(rt->answered), U(rt->unavailable),
        U(rt->timeouts), U(rt->busy), U(rt->nlookups + hmap_count(&rt->fwds)), U(rt->stale),
        U(rt->rejected[RJ_FOREIGN]), U(rt->rejected[RJ_VERSION]), U(rt->rejected[RJ_MALFORMED]),
        U(rt->rejected[RJ_TOO_BIG]), U(rt->acl_sent), U(rt->acl_received));
#undef U
    move_metrics(&b);
    return metrics_text_take(&b);
}

/* The re-reads of access lists after reconnections (a producer of its own). */
static char *recheck_metrics(struct server *srv, void *ud)
{
    (void)srv;
    (void)ud;
    struct sync_route *rt = g_route;
    char *out = rt ? malloc(512) : NULL;
    if (out)
        snprintf(out, 512,
                 "# HELP docsync_route_acl_rechecks_total Access lists of documents with "
                 "subscribers here read again from their homes after a reconnection to Redis "
                 "(read), or not answered (unread: asked again later).\n"
                 "# TYPE docsync_route_acl_rechecks_total counter\n"
                 "docsync_route_acl_rechecks_total{result=\"read\"} %llu\n"
                 "docsync_route_acl_rechecks_total{result=\"unread\"} %llu\n",
                 (unsigned long long)rt->rk.read, (unsigned long long)rt->rk.unread);
    return out;
}

int sync_route_start(struct sync_module *m)
{
    struct redis *rd = cluster_redis();
    if (!rd)
        return 0;
    struct sync_route *rt = calloc(1, sizeof *rt);
    if (!rt)
        return -1;
    rt->m = m;
    rt->rd = rd;
    snprintf(rt->node, sizeof rt->node, "%s", cluster_node_id());
    snprintf(rt->boot, sizeof rt->boot, "%s", cluster_boot_id());
    snprintf(rt->prefix, sizeof rt->prefix, "%s", cluster_prefix());
    snprintf(rt->inbox, sizeof rt->inbox, "%s:doc:%s", rt->prefix, rt->node);
    snprintf(rt->acl_channel, sizeof rt->acl_channel, "%s:acl", rt->prefix);
    unsigned timeout = server_config(m->srv)->cluster_node_timeout;
    rt->timeout_ms = (int64_t)(timeout ? timeout : 1) * 1000;
    hmap_init(&rt->fwds);
    g_route = rt;
    if (redis_subscribe(rd, rt->inbox, 0, on_inbox, NULL) != 0 ||
        redis_subscribe(rd, rt->acl_channel, 0, on_acl_notice, NULL) != 0 ||
        redis_on_status(rd, on_redis_status, NULL) != 0 ||
        server_every(m->srv, ROUTE_TICK_MS, on_tick, NULL) != 0 ||
        http_api_on_metrics(m->srv, route_metrics, NULL) != 0 ||
        http_api_on_metrics(m->srv, recheck_metrics, NULL) != 0) {
        g_route = NULL;
        hmap_deinit(&rt->fwds);
        free(rt);
        return -1;
    }
    struct move_env env = {.m = m,
                           .rd = rd,
                           .node = rt->node,
                           .boot = rt->boot,
                           .prefix = rt->prefix,
                           .timeout_ms = rt->timeout_ms,
                           .import_max = server_config(m->srv)->move_max_bytes};
    move_start(&env);
    log_info(server_logger(m->srv), "sync: documents routed by home node (requests on %s)",
             rt->inbox);
    return 0;
}

void sync_route_stop(struct sync_module *m)
{
    (void)m;
    struct sync_route *rt = g_route;
    if (!rt)
        return;
    g_route = NULL;
    move_stop();
    while (rt->head) {
        struct fwd *f = rt->head;
        fwd_unlink(rt, f);
        free(f);
    }
    hmap_deinit(&rt->fwds);
    free(rt->rk.ids);
    free(rt->told);
    free(rt->untold);
    while (rt->served) {
        struct served *s = rt->served;
        served_unlink(rt, s);
        free(s);
    }
    free(rt);
}
