/* Moving a document to another node. See sync_move.h and README.md
 * ("Moving a document").
 *
 * Why this order: the home record in Redis says who serves a document, and
 * it changes only after the target holds the whole document durably (its
 * commit, fsync included, precedes its last SHIPPED), and only if it still
 * names this node (a compare-and-set script). A crash before the switch
 * leaves this node the home with its copy whole (the target's copy, if
 * any, is never served: requests go where the record says); a crash after
 * it leaves the target the home with a whole copy. Nothing is written to
 * the document while it moves: from the MOVE on, this node refuses its
 * requests as `unavailable` (not applied, so a client's resend is applied
 * exactly once, wherever it lands) and ships only once the engine has no
 * op of it queued or in flight. The sequence index travels with the ops
 * (the store rebuilds it from their (client, seq)), so a resent (client,
 * seq) that was acknowledged here is answered as a duplicate there. */
#include "sync_move.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "cluster/cluster.h"
#include "common/base64.h"
#include "common/clock.h"
#include "common/hex.h"
#include "common/hmap.h"
#include "server/metrics.h"
#include "sync_msg.h"

#define PART_BYTES (1024u * 1024u)  /* update bytes (base64) per SHIP, at least one op */
#define OP_MAX (3u * 1024u * 1024u) /* bytes of one op: its base64 fits a message */
#define IMPORTS_MAX 4               /* imports at once on one node */
#define SEQS_PER_PART 2000          /* sequence-index records per SHIP */
/* Bytes of a base snapshot per SHIP when it does not fit one part whole:
 * its base64 is PART_BYTES. */
#define BASE_CHUNK (PART_BYTES / 4u * 3u)
#define TOMBSTONES_MAX 4096 /* documents remembered as moved away */

enum mv_state {
    MV_IDLE,
    MV_CHECK,   /* GET of the home record in flight */
    MV_DRAIN,   /* waiting for the engine's commits of the document */
    MV_SHIP,    /* a part sent, waiting for its SHIPPED */
    MV_SWITCH,  /* the compare-and-set in flight */
    MV_RESOLVE, /* the switch's answer was lost: GET until Redis answers */
    MV_DROP,    /* switched; the local copy being deleted */
};
static const char *const state_names[] = {"idle",   "check",   "drain", "ship",
                                          "switch", "resolve", "drop"};

/* The steps the test hook can hold (DOCSYNC_TEST_MOVE_PAUSE_MS, move_start). */
enum mv_due { DUE_NONE, DUE_SHIP, DUE_SWITCH, DUE_DROP };
static const char *const due_names[] = {"", "ship", "switch", "drop"};

struct out_move {
    enum mv_state state;
    char doc[SYNC_DOC_ID_MAX + 1];
    char to[ROUTE_NODE_MAX];
    char admin[ROUTE_BOOT_LEN + 1]; /* docsync-admin's reply token */
    char token[ROUTE_BOOT_LEN + 1]; /* this move's, in every SHIP / SHIPPED */
    uint64_t head, next_version, part;
    int64_t deadline;
    int get_pending;                         /* MV_RESOLVE: a GET in flight */
    char seq_after[STORE_CLIENT_ID_MAX + 1]; /* the last client id shipped */
    int seqs_done;
    /* The retained snapshot the copy starts from (read once, in part 1, so
     * that every part sends bytes of the same one), NULL when none. */
    uint8_t *base;
    size_t base_len, base_sent;
    int base_split;    /* over one part: version 3 parts, with its size and hash */
    char base_sha[65]; /* hex SHA-256 of the whole snapshot, when split */
    /* The test hook: the step held, until when, and which one was held
     * last (a step is held once). */
    enum mv_due due;
    int64_t pause_until;
    uint64_t pause_key;
};

struct in_move {
    int used, committing;
    char from[ROUTE_NODE_MAX];
    char token[ROUTE_BOOT_LEN + 1];
    char doc[SYNC_DOC_ID_MAX + 1];
    uint64_t head, next_version, part;
    store_batch *b;
    int64_t deadline;
    /* A base arriving in parts (version 3): its bytes so far, checked
     * against the declared size and hash once whole, then added to `b`
     * (with the metadata, which needs the document the base creates). */
    int base_open, base_hashed;
    uint64_t base_version, base_ts;
    size_t base_size, base_got, base_cap;
    uint8_t base_sha[32];
    uint8_t *base, *meta;
    size_t meta_len;
    int has_meta;
};

struct mover {
    struct move_env env;
    struct out_move out;
    struct in_move in[IMPORTS_MAX];
    uint64_t next_id;
    struct hmap gone; /* doc -> strdup(new home): moved away from here */
    char *ring[TOMBSTONES_MAX];
    size_t ring_pos;
    uint64_t moved, failed, imported, import_failed, refused, parts;
    int64_t pause_ms; /* DOCSYNC_TEST_MOVE_PAUSE_MS: 0 = off */
};

static struct mover *g_mv;

static const struct logger *lg(void)
{
    return server_logger(g_mv->env.m->srv);
}

static const struct logger *lg_of(const struct move_env *env)
{
    return server_logger(env->m->srv);
}

/* ---- sending ---------------------------------------------------------------- */

static int send_msg(enum route_type type, int version, const char *channel, const char *token,
                    const char *json, redis_reply_fn fn, void *ud)
{
    struct mover *mv = g_mv;
    struct route_msg msg = {.type = type,
                            .version = version,
                            .id = ++mv->next_id,
                            .body = json,
                            .body_len = strlen(json)};
    snprintf(msg.node, sizeof msg.node, "%s", mv->env.node);
    snprintf(msg.boot, sizeof msg.boot, "%s", mv->env.boot);
    snprintf(msg.to_boot, sizeof msg.to_boot, "%s", token);
    char *buf;
    size_t len;
    if (route_encode(&msg, &buf, &len) != 0)
        return -1;
    const char *argv[3] = {"PUBLISH", channel, buf};
    size_t lens[3] = {7, strlen(channel), len};
    int rc = redis_command(mv->env.rd, fn, ud, 3, argv, lens);
    free(buf);
    return rc == 0 ? 0 : -1;
}

static void node_channel(char *out, size_t cap, const char *node)
{
    snprintf(out, cap, "%s:doc:%s", g_mv->env.prefix, node);
}

/* The outcome, to docsync-admin (who may have gone: nobody hears it then). */
static void tell_admin(const char *admin, cJSON *body)
{
    char channel[256];
    snprintf(channel, sizeof channel, "%s:admin:%s", g_mv->env.prefix, admin);
    char *json = cJSON_PrintUnformatted(body);
    if (json)
        (void)send_msg(ROUTE_MOVED, 0, channel, admin, json, NULL, NULL);
    free(json);
    cJSON_Delete(body);
}

static void admin_error(const char *admin, const char *doc, const char *text)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", 0);
    cJSON_AddStringToObject(b, "documentId", doc);
    cJSON_AddStringToObject(b, "error", text);
    tell_admin(admin, b);
}

/* ---- tombstones --------------------------------------------------------------- */

static void gone_forget(const char *doc)
{
    struct mover *mv = g_mv;
    char *home = hmap_get(&mv->gone, doc, strlen(doc));
    if (!home)
        return;
    hmap_del(&mv->gone, doc, strlen(doc));
    free(home);
    for (size_t i = 0; i < TOMBSTONES_MAX; i++)
        if (mv->ring[i] && strcmp(mv->ring[i], doc) == 0) {
            free(mv->ring[i]);
            mv->ring[i] = NULL;
        }
}

/* Remembers that `doc` lives on `to` now: a request forwarded here by a
 * node that read the record just before the switch is refused (retried, it
 * reads the new record) instead of starting the document anew here. Only
 * such late requests need it, so the oldest are forgotten beyond
 * TOMBSTONES_MAX. */
static void gone_add(const char *doc, const char *to)
{
    struct mover *mv = g_mv;
    gone_forget(doc);
    char *slot = mv->ring[mv->ring_pos];
    if (slot) {
        char *home = hmap_get(&mv->gone, slot, strlen(slot));
        hmap_del(&mv->gone, slot, strlen(slot));
        free(home);
        free(slot);
    }
    char *key = strdup(doc), *home = strdup(to);
    if (!key || !home || hmap_put(&mv->gone, key, strlen(key), home) != 0) {
        free(key);
        free(home);
        mv->ring[mv->ring_pos] = NULL;
        return;
    }
    mv->ring[mv->ring_pos] = key;
    mv->ring_pos = (mv->ring_pos + 1) % TOMBSTONES_MAX;
}

int move_blocked(const char *doc, char *why, size_t cap)
{
    struct mover *mv = g_mv;
    if (!mv)
        return 0;
    if (mv->out.state != MV_IDLE && mv->out.state != MV_DROP && strcmp(mv->out.doc, doc) == 0) {
        snprintf(why, cap, "document %s is moving to node %s; retry", doc, mv->out.to);
        mv->refused++;
        return 1;
    }
    const char *home = hmap_get(&mv->gone, doc, strlen(doc));
    if (mv->out.state == MV_DROP && strcmp(mv->out.doc, doc) == 0)
        home = mv->out.to;
    if (home) {
        snprintf(why, cap, "document %s has moved to node %s; retry", doc, home);
        mv->refused++;
        return 1;
    }
    return 0;
}

/* ---- the home: moving a document away ----------------------------------------- */

static void out_fail(const char *fmt, const char *a, const char *b)
{
    struct mover *mv = g_mv;
    char text[512];
    snprintf(text, sizeof text, fmt, a, b);
    log_warn(lg(), "sync: move of document %s to %s refused: %s", mv->out.doc, mv->out.to, text);
    mv->failed++;
    free(mv->out.base);
    mv->out.base = NULL;
    mv->out.due = DUE_NONE;
    admin_error(mv->out.admin, mv->out.doc, text);
    mv->out.state = MV_IDLE; /* requests are served here again */
}

static int add_op(void *ctx, const struct store_op *op);

/* One access-list entry into part 1. */
static int acl_one(void *ctx, const char *user, size_t ulen, enum store_role role)
{
    static const char *const roles[] = {"", "viewer", "editor", "owner"};
    cJSON *acl = ctx;
    if (role < STORE_ROLE_VIEWER || role > STORE_ROLE_OWNER)
        return 0;
    if (cJSON_GetArraySize(acl) >= ROUTE_SHIP_ACL_MAX)
        return STORE_EINVAL;
    char u[STORE_USER_ID_MAX + 1];
    if (ulen > STORE_USER_ID_MAX)
        return STORE_EINVAL;
    memcpy(u, user, ulen);
    u[ulen] = '\0';
    cJSON *e = cJSON_CreateArray();
    cJSON_AddItemToArray(e, cJSON_CreateString(u));
    cJSON_AddItemToArray(e, cJSON_CreateString(roles[role]));
    cJSON_AddItemToArray(acl, e);
    return 0;
}

struct part_build {
    cJSON *ops;
    size_t bytes;
    int too_big, gap;
    uint64_t expect; /* the version the next op must have */
};

struct seq_build {
    cJSON *seqs;
    size_t n;
    char *last; /* out_move.seq_after */
};

/* One sequence-index record into the part. */
static int seq_one(void *ctx, const char *client, size_t cl, uint64_t seq, uint64_t version,
                   const char *owner, size_t ol)
{
    struct seq_build *sb = ctx;
    char c[STORE_CLIENT_ID_MAX + 1], u[STORE_USER_ID_MAX + 1];
    if (cl > STORE_CLIENT_ID_MAX || ol > STORE_USER_ID_MAX)
        return STORE_ECORRUPT;
    memcpy(c, client, cl);
    c[cl] = '\0';
    if (ol)
        memcpy(u, owner, ol);
    u[ol] = '\0';
    cJSON *e = cJSON_CreateArray();
    cJSON_AddItemToArray(e, cJSON_CreateString(c));
    cJSON_AddItemToArray(e, cJSON_CreateNumber((double)seq));
    cJSON_AddItemToArray(e, cJSON_CreateNumber((double)version));
    cJSON_AddItemToArray(e, cJSON_CreateString(u));
    cJSON_AddItemToArray(sb->seqs, e);
    memcpy(sb->last, c, cl + 1);
    sb->n++;
    return 0;
}

/* Everything is sent: the base whole, the sequence index, the ops to head. */
static int out_all_sent(const struct out_move *o)
{
    return o->seqs_done && (!o->base || o->base_sent == o->base_len) && o->next_version > o->head;
}

/* Part 1: the retained snapshot the copy starts from, into o->base (read
 * once: the document is closed and refused here, so nothing replaces it,
 * but every part must carry bytes of the same snapshot). */
static int base_read(store_read *r, uint64_t version, uint64_t *ts)
{
    struct out_move *o = &g_mv->out;
    struct store_snapshot snap;
    int rc = store_snapshot_get(r, o->doc, version, &snap);
    if (rc == 0 && snap.version != version)
        return STORE_ENOTFOUND;
    if (rc == 0 && !(o->base = malloc(snap.len ? snap.len : 1)))
        rc = STORE_ENOMEM;
    if (rc != 0)
        return rc;
    if (snap.len)
        memcpy(o->base, snap.data, snap.len);
    o->base_len = snap.len;
    o->base_sent = 0;
    *ts = snap.ts_ms;
    o->next_version = snap.version + 1;
    /* A base too large for one part goes in version 3 parts, whole
     * otherwise (version 1, which every node reads). */
    o->base_split = base64_encoded_len(snap.len, 0) > PART_BYTES;
    if (o->base_split) {
        uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256(o->base, o->base_len, d);
        hex_encode(d, sizeof d, o->base_sha);
    }
    return 0;
}

/* The base's next bytes into the part (the whole base, or BASE_CHUNK when
 * split). Returns 0 with *b64_len set, or a store error. */
static int base_add(cJSON *body, uint64_t version, uint64_t ts, size_t *b64_len)
{
    struct out_move *o = &g_mv->out;
    size_t n = o->base_len - o->base_sent;
    if (o->base_split && n > BASE_CHUNK)
        n = BASE_CHUNK;
    size_t cap = base64_encoded_len(n, 0) + 1;
    char *b64 = malloc(cap);
    if (!b64 || base64_encode(o->base + o->base_sent, n, 0, b64, cap, b64_len) != 0) {
        free(b64);
        return STORE_ENOMEM;
    }
    cJSON *base = cJSON_AddObjectToObject(body, "base");
    if (o->part == 0) {
        cJSON_AddNumberToObject(base, "version", (double)version);
        cJSON_AddNumberToObject(base, "ts", (double)ts);
        if (o->base_split) {
            cJSON_AddNumberToObject(base, "size", (double)o->base_len);
            cJSON_AddStringToObject(base, "sha256", o->base_sha);
        }
    }
    if (o->base_split)
        cJSON_AddNumberToObject(base, "offset", (double)o->base_sent);
    cJSON_AddStringToObject(base, "state", b64);
    free(b64);
    o->base_sent += n;
    return 0;
}

/* Reads the next part from the store and sends it. Returns 0, or -1 after
 * failing the move. */
static int ship_next(void)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    store_read *r;
    int rc = store_read_begin(mv->env.m->store, &r);
    if (rc) {
        out_fail("the store cannot be read: %s%s", store_strerror(rc), "");
        return -1;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "documentId", o->doc);
    cJSON_AddNumberToObject(body, "part", (double)(o->part + 1));
    uint64_t base_version = 0, base_ts = 0;
    if (o->part == 0) {
        struct store_doc_info info;
        rc = store_doc_get(r, o->doc, &info);
        if (rc == STORE_ENOTFOUND) {
            info.head = 0;
            info.trunc_version = 0;
            info.meta_len = 0;
            rc = 0;
        }
        o->head = info.head;
        o->next_version = 1;
        o->seq_after[0] = '\0';
        o->seqs_done = 0;
        free(o->base);
        o->base = NULL;
        if (rc == 0 && info.trunc_version > 0) {
            /* Older ops were dropped: the copy starts at the retained base. */
            rc = base_read(r, info.trunc_version, &base_ts);
            base_version = info.trunc_version;
            if (rc == STORE_ENOTFOUND) {
                store_read_end(r);
                cJSON_Delete(body);
                out_fail("its retained base has no snapshot%s%s", "", "");
                return -1;
            }
        }
        if (rc == 0 && info.meta_len) {
            char *b64 = malloc(base64_encoded_len(info.meta_len, 0) + 1);
            size_t n;
            if (b64 && base64_encode(info.meta, info.meta_len, 0, b64,
                                     base64_encoded_len(info.meta_len, 0) + 1, &n) == 0)
                cJSON_AddStringToObject(body, "meta", b64);
            free(b64);
        }
        cJSON *acl = cJSON_AddArrayToObject(body, "acl");
        if (rc == 0) {
            rc = store_acl_list(r, o->doc, acl_one, acl);
            if (rc > 0)
                rc = 0;
        }
    }
    cJSON_AddNumberToObject(body, "head", (double)o->head);
    /* The base's bytes first (they count toward the part's budget): ops
     * only once it is whole. */
    size_t base_b64 = 0;
    if (rc == 0 && o->base && (o->part == 0 || o->base_sent < o->base_len))
        rc = base_add(body, base_version, base_ts, &base_b64);
    int base_whole = !o->base || o->base_sent == o->base_len;
    if (rc == 0 && !o->seqs_done) {
        struct seq_build sb = {cJSON_AddArrayToObject(body, "seqs"), 0, o->seq_after};
        rc = store_seq_list(r, o->doc, o->seq_after, SEQS_PER_PART, seq_one, &sb);
        if (rc == 0 && sb.n < SEQS_PER_PART)
            o->seqs_done = 1;
    }
    struct part_build pb = {cJSON_AddArrayToObject(body, "ops"), base_b64, 0, 0, o->next_version};
    if (rc == 0 && base_whole && o->next_version <= o->head)
        rc = store_ops_after(r, o->doc, o->next_version - 1, o->head, 0, add_op, &pb, NULL);
    store_read_end(r);
    if (rc < 0 || pb.too_big || pb.gap) {
        cJSON_Delete(body);
        out_fail(pb.too_big ? "an op is too large to ship (%s%s)"
                 : pb.gap   ? "its op log has a gap%s%s"
                            : "the store cannot be read: %s%s",
                 pb.too_big ? "over 3 MiB"
                 : pb.gap   ? ""
                            : store_strerror(rc),
                 "");
        return -1;
    }
    o->next_version = pb.expect;
    cJSON_AddBoolToObject(body, "last", out_all_sent(o));
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char channel[256];
    node_channel(channel, sizeof channel, o->to);
    o->part++;
    mv->parts++;
    o->state = MV_SHIP;
    o->deadline = clock_mono_ms() + mv->env.timeout_ms;
    if (!json ||
        send_msg(ROUTE_SHIP, o->base_split ? 3 : 0, channel, o->token, json, NULL, NULL) != 0) {
        free(json);
        out_fail("the document could not be sent to %s (Redis unreachable or the part too large)%s",
                 o->to, "");
        return -1;
    }
    free(json);
    return 0;
}

/* One op into the part; stops (1) once the part holds PART_BYTES. */
static int add_op(void *ctx, const struct store_op *op)
{
    struct part_build *pb = ctx;
    if (op->len > OP_MAX) {
        pb->too_big = 1;
        return 1;
    }
    if (pb->bytes && pb->bytes + base64_encoded_len(op->len, 0) > PART_BYTES)
        return 1;
    if (op->version != pb->expect) {
        pb->gap = 1;
        return 1;
    }
    char user[STORE_USER_ID_MAX + 1], client[STORE_CLIENT_ID_MAX + 1];
    size_t ul = op->user_len > STORE_USER_ID_MAX ? STORE_USER_ID_MAX : op->user_len;
    size_t cl = op->client_len > STORE_CLIENT_ID_MAX ? STORE_CLIENT_ID_MAX : op->client_len;
    memcpy(user, op->user, ul);
    user[ul] = '\0';
    memcpy(client, op->client, cl);
    client[cl] = '\0';
    size_t cap = base64_encoded_len(op->len, 0) + 1, n;
    char *b64 = malloc(cap);
    if (!b64 || base64_encode(op->data, op->len, 0, b64, cap, &n) != 0) {
        free(b64);
        return STORE_ENOMEM;
    }
    cJSON *e = cJSON_CreateArray();
    cJSON_AddItemToArray(e, cJSON_CreateNumber((double)op->version));
    cJSON_AddItemToArray(e, cJSON_CreateNumber((double)op->ts_ms));
    cJSON_AddItemToArray(e, cJSON_CreateNumber((double)op->seq));
    cJSON_AddItemToArray(e, cJSON_CreateString(user));
    cJSON_AddItemToArray(e, cJSON_CreateString(client));
    cJSON_AddItemToArray(e, cJSON_CreateString(b64));
    free(b64);
    cJSON_AddItemToArray(pb->ops, e);
    pb->bytes += n;
    pb->expect++;
    return 0;
}

static void step(enum mv_due d);

static void drain_step(void)
{
    struct mover *mv = g_mv;
    if (sync_engine_doc_close(mv->env.m->engine, mv->out.doc) != 0)
        return; /* commits still in flight: the next tick looks again */
    mv->out.part = 0;
    step(DUE_SHIP);
}

static void on_home_checked(void *ud, const struct redis_reply *r)
{
    (void)ud;
    struct mover *mv = g_mv;
    if (!mv || mv->out.state != MV_CHECK)
        return;
    if (!r || (r->type != REDIS_R_STRING && r->type != REDIS_R_NIL)) {
        out_fail("Redis did not answer where the document lives%s%s", "", "");
        return;
    }
    if (r->type == REDIS_R_NIL || strcmp(r->str, mv->env.node) != 0) {
        out_fail("this node (%s) is not its home (Redis names %s)", mv->env.node,
                 r->type == REDIS_R_NIL ? "nobody" : r->str);
        return;
    }
    mv->out.state = MV_DRAIN;
    mv->out.deadline = clock_mono_ms() + mv->env.timeout_ms;
    drain_step();
}

static void on_moved_admin(void)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    mv->moved++;
    log_info(lg(), "sync: document %s moved to node %s at version %llu", o->doc, o->to,
             (unsigned long long)o->head);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddBoolToObject(b, "ok", 1);
    cJSON_AddStringToObject(b, "documentId", o->doc);
    cJSON_AddStringToObject(b, "from", mv->env.node);
    cJSON_AddStringToObject(b, "to", o->to);
    cJSON_AddNumberToObject(b, "version", (double)o->head);
    tell_admin(o->admin, b);
}

static void on_dropped(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    char *doc = ctx;
    struct mover *mv = g_mv;
    if (mv && mv->out.state == MV_DROP && strcmp(mv->out.doc, doc) == 0) {
        if (status != 0)
            log_error(lg(),
                      "sync: document %s moved to %s, but its copy here could not be deleted (%s): "
                      "it is never served (requests go to the new home)",
                      doc, mv->out.to, store_strerror(status));
        gone_add(mv->out.doc, mv->out.to);
        on_moved_admin();
        mv->out.state = MV_IDLE;
    }
    free(doc);
}

static int keep_acl(void *ctx, const char *user, size_t ulen, enum store_role role)
{
    char u[STORE_USER_ID_MAX + 1];
    if (ulen > STORE_USER_ID_MAX)
        return 0;
    memcpy(u, user, ulen);
    u[ulen] = '\0';
    return store_batch_acl_put(ctx, g_mv->out.doc, u, role);
}

/* Switched: this node is no longer the home. Its copy goes (the engine
 * closed the document before the first part and has not opened it since:
 * every request was refused): ops, snapshots, sequence index. Its access
 * list stays: /broadcasting/auth on this node reads it for the clients
 * connected here, and a document without one would let anyone edit. */
static void switched(void)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    o->state = MV_DROP;
    (void)sync_engine_doc_close(mv->env.m->engine, o->doc);
    step(DUE_DROP);
}

static void drop_copy(void)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    store_batch *b = NULL;
    char *doc = strdup(o->doc);
    if (!doc) {
        gone_add(o->doc, o->to);
        on_moved_admin();
        o->state = MV_IDLE;
        return;
    }
    store_read *r = NULL;
    int rc = store_batch_new(&b);
    if (rc == 0)
        rc = store_batch_doc_delete(b, o->doc);
    if (rc == 0)
        rc = store_read_begin(mv->env.m->store, &r);
    if (rc == 0) {
        rc = store_acl_list(r, o->doc, keep_acl, b);
        store_read_end(r);
    }
    if (rc == 0)
        rc = store_writer_submit(mv->env.m->writer, b, on_dropped, doc);
    if (rc != 0) {
        store_batch_free(b);
        on_dropped(doc, rc, NULL);
    }
}

static void on_resolved(void *ud, const struct redis_reply *r)
{
    (void)ud;
    struct mover *mv = g_mv;
    if (!mv || mv->out.state != MV_RESOLVE)
        return;
    mv->out.get_pending = 0;
    if (!r || (r->type != REDIS_R_STRING && r->type != REDIS_R_NIL))
        return; /* still unknown: the next tick asks again */
    if (r->type == REDIS_R_STRING && strcmp(r->str, mv->out.to) == 0)
        switched();
    else if (r->type == REDIS_R_STRING && strcmp(r->str, mv->env.node) == 0)
        out_fail("the switch of the home record to %s did not happen%s", mv->out.to, "");
    else
        out_fail("the home record changed during the move (now %s)%s",
                 r->type == REDIS_R_NIL ? "missing" : r->str, "");
}

static void on_switched(void *ud, const struct redis_reply *r)
{
    (void)ud;
    struct mover *mv = g_mv;
    if (!mv || mv->out.state != MV_SWITCH)
        return;
    if (r && r->type == REDIS_R_INTEGER && r->integer == 1) {
        switched();
    } else if (r && r->type == REDIS_R_INTEGER && r->integer == 0) {
        out_fail("the home record no longer named %s when the document was to switch%s",
                 mv->env.node, "");
    } else {
        /* Lost with the connection, or an error: whether Redis ran the
         * script is unknown, so the document stays closed here until a GET
         * says where it lives. */
        mv->out.state = MV_RESOLVE;
        mv->out.get_pending = 0;
        log_warn(lg(), "sync: move of document %s: the switch's answer was lost; asking Redis",
                 mv->out.doc);
    }
}

static const char switch_script[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                    "redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

static void home_key(char *out, size_t cap, const char *doc)
{
    snprintf(out, cap, "%s:doc-home:%s", g_mv->env.prefix, doc);
}

static void do_switch(void)
{
    struct mover *mv = g_mv;
    char key[512];
    home_key(key, sizeof key, mv->out.doc);
    const char *argv[6] = {"EVAL", switch_script, "1", key, mv->env.node, mv->out.to};
    mv->out.state = MV_SWITCH;
    if (redis_command(mv->env.rd, on_switched, NULL, 6, argv, NULL) != 0)
        out_fail("Redis is unreachable: the home record could not be switched%s%s", "", "");
}

/* A SHIPPED from the target. */
static void on_shipped(const struct route_msg *msg)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    if (o->state != MV_SHIP || strcmp(msg->node, o->to) != 0 || strcmp(msg->to_boot, o->token) != 0)
        return; /* for a move that ended (a deadline passed) */
    cJSON *j = cJSON_ParseWithLength(msg->body, msg->body_len);
    const cJSON *part = cJSON_GetObjectItemCaseSensitive(j, "part");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (!cJSON_IsNumber(part) || part->valuedouble != (double)o->part) {
        cJSON_Delete(j);
        return;
    }
    if (cJSON_IsString(err)) {
        char text[256];
        snprintf(text, sizeof text, "%.200s", err->valuestring);
        cJSON_Delete(j);
        out_fail("node %s refused it: %s", o->to, text);
        return;
    }
    cJSON_Delete(j);
    if (out_all_sent(o)) {
        free(o->base);
        o->base = NULL;
        step(DUE_SWITCH);
    } else
        step(DUE_SHIP);
}

/* A move refused before it started (counted as failed, nothing changed). */
static void refuse_move(const char *admin, const char *doc, const char *text)
{
    g_mv->failed++;
    log_warn(lg(), "sync: move of document %s refused: %s", doc, text);
    admin_error(admin, doc, text);
}

/* A MOVE from docsync-admin: {"documentId","to"}. */
static void on_move(const struct route_msg *msg)
{
    struct mover *mv = g_mv;
    cJSON *j = cJSON_ParseWithLength(msg->body, msg->body_len);
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(j, "documentId");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(j, "to");
    const char *d =
        cJSON_IsString(doc) && sync_msg_doc_id_valid(doc->valuestring) ? doc->valuestring : "";
    if (!*d || !cJSON_IsString(to) ||
        !bus_node_id_valid(to->valuestring, strlen(to->valuestring))) {
        refuse_move(msg->to_boot, d, "a move names a valid documentId and a valid node id (to)");
    } else if (mv->out.state != MV_IDLE) {
        char text[512];
        snprintf(text, sizeof text, "node %s is moving document %s (%s); retry when it is done",
                 mv->env.node, mv->out.doc, state_names[mv->out.state]);
        refuse_move(msg->to_boot, d, text);
    } else if (strcmp(to->valuestring, mv->env.node) == 0) {
        refuse_move(msg->to_boot, d, "the document is already on that node");
    } else if (!cluster_node_alive(to->valuestring)) {
        char text[256];
        snprintf(text, sizeof text,
                 "node %s is not a live node of this cluster (unknown, or silent for "
                 "DOCSYNC_CLUSTER_NODE_TIMEOUT)",
                 to->valuestring);
        refuse_move(msg->to_boot, d, text);
    } else {
        struct out_move *o = &mv->out;
        free(o->base);
        memset(o, 0, sizeof *o);
        snprintf(o->doc, sizeof o->doc, "%s", d);
        snprintf(o->to, sizeof o->to, "%s", to->valuestring);
        memcpy(o->admin, msg->to_boot, sizeof o->admin);
        uint8_t rnd[8];
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            memcpy(rnd, &mv->next_id, sizeof rnd);
        for (int i = 0; i < 8; i++)
            snprintf(o->token + 2 * i, 3, "%02x", rnd[i]);
        /* From here on every request for the document is refused here;
         * those the engine took before are drained below. */
        o->state = MV_CHECK;
        o->deadline = clock_mono_ms() + mv->env.timeout_ms;
        log_info(lg(), "sync: moving document %s to node %s", o->doc, o->to);
        char key[512];
        home_key(key, sizeof key, o->doc);
        const char *argv[2] = {"GET", key};
        if (redis_command(mv->env.rd, on_home_checked, NULL, 2, argv, NULL) != 0)
            out_fail("Redis is unreachable%s%s", "", "");
    }
    cJSON_Delete(j);
}

/* ---- the target: taking a document in ----------------------------------------- */

static void in_free(struct in_move *im)
{
    store_batch_free(im->b);
    free(im->base);
    free(im->meta);
    memset(im, 0, sizeof *im);
}

static void shipped(const char *to, const char *token, const char *doc, uint64_t part,
                    const char *error)
{
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "documentId", doc);
    cJSON_AddNumberToObject(b, "part", (double)part);
    if (error)
        cJSON_AddStringToObject(b, "error", error);
    char *json = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    char channel[256];
    node_channel(channel, sizeof channel, to);
    if (json)
        (void)send_msg(ROUTE_SHIPPED, 0, channel, token, json, NULL, NULL);
    free(json);
}

static void in_fail(struct in_move *im, const char *from, const char *token, const char *doc,
                    uint64_t part, const char *text)
{
    struct mover *mv = g_mv;
    mv->import_failed++;
    log_warn(lg(), "sync: document %s from node %s not taken: %s", doc, from, text);
    shipped(from, token, doc, part, text);
    if (im)
        in_free(im);
}

struct in_done {
    char from[ROUTE_NODE_MAX];
    char token[ROUTE_BOOT_LEN + 1];
    char doc[SYNC_DOC_ID_MAX + 1];
    uint64_t part, head;
};

static void on_imported(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    struct in_done *dn = ctx;
    struct mover *mv = g_mv;
    if (mv) {
        for (int i = 0; i < IMPORTS_MAX; i++)
            if (mv->in[i].used && mv->in[i].committing && strcmp(mv->in[i].token, dn->token) == 0 &&
                strcmp(mv->in[i].from, dn->from) == 0) {
                mv->in[i].b = NULL; /* the writer freed it */
                in_free(&mv->in[i]);
            }
        if (status != 0) {
            in_fail(NULL, dn->from, dn->token, dn->doc, dn->part, store_strerror(status));
        } else {
            /* A replica of an older copy may be open here: read it afresh. */
            (void)sync_engine_doc_close(mv->env.m->engine, dn->doc);
            gone_forget(dn->doc);
            mv->imported++;
            log_info(lg(), "sync: document %s from node %s stored at version %llu", dn->doc,
                     dn->from, (unsigned long long)dn->head);
            shipped(dn->from, dn->token, dn->doc, dn->part, NULL);
        }
    }
    free(dn);
}

/* The base's bytes of a part into the import (checked: in order, never
 * past the declared size); once whole and matching its hash, the base and
 * then the metadata go into the batch. Returns NULL or what is wrong. */
static const char *in_base(struct in_move *im, const struct route_ship *s)
{
    if (!s->has_chunk)
        return im->base_open ? "a part without the base's next bytes" : NULL;
    if (!im->base_open || s->base_offset != im->base_got ||
        s->base_len > im->base_size - im->base_got)
        return "base bytes out of order";
    if (im->base_got + s->base_len > im->base_cap) {
        /* Grows by doubling up to the declared size, so a hostile size
         * costs nothing until its bytes come. */
        size_t cap = im->base_cap ? im->base_cap : BASE_CHUNK;
        while (cap < im->base_got + s->base_len)
            cap *= 2;
        if (cap > im->base_size)
            cap = im->base_size;
        uint8_t *p = realloc(im->base, cap);
        if (!p)
            return "out of memory";
        im->base = p;
        im->base_cap = cap;
    }
    if (s->base_len)
        memcpy(im->base + im->base_got, s->base_state, s->base_len);
    im->base_got += s->base_len;
    if (im->base_got < im->base_size)
        return NULL;
    if (im->base_hashed) {
        uint8_t d[SHA256_DIGEST_LENGTH];
        SHA256(im->base, im->base_size, d);
        if (memcmp(d, im->base_sha, sizeof d) != 0)
            return "the base does not match its sha256";
    }
    if (store_batch_doc_base(im->b, im->doc, im->base_version, im->base_ts,
                             im->base ? (const void *)im->base : "", im->base_size) != 0 ||
        (im->has_meta &&
         store_batch_doc_put(im->b, im->doc, im->meta, im->meta_len, im->base_ts) != 0))
        return "out of memory";
    free(im->base);
    free(im->meta);
    im->base = im->meta = NULL;
    im->base_cap = 0;
    im->has_meta = 0;
    im->base_open = 0;
    return NULL;
}

/* Bytes an import holds before its commit: its batch and the base so far. */
static size_t in_bytes(const struct in_move *im)
{
    return store_batch_bytes(im->b) + im->base_cap;
}

/* A SHIP: one part of a document coming here. */
static void on_ship(const struct route_msg *msg)
{
    struct mover *mv = g_mv;
    struct in_move *im = NULL, *fresh = NULL;
    for (int i = 0; i < IMPORTS_MAX; i++) {
        if (mv->in[i].used && strcmp(mv->in[i].from, msg->node) == 0 &&
            strcmp(mv->in[i].token, msg->to_boot) == 0)
            im = &mv->in[i];
        else if (!mv->in[i].used && !fresh)
            fresh = &mv->in[i];
    }
    struct route_ship s;
    const char *why = NULL;
    uint64_t next = im ? im->next_version : 1;
    int rc = route_ship_parse(msg->body, msg->body_len, msg->version, next, &s, &why);
    char doc[SYNC_DOC_ID_MAX + 1] = "";
    if (rc == 0)
        snprintf(doc, sizeof doc, "%s", s.doc);
    uint64_t part = rc == 0 ? s.part : 0;
    if (rc != 0) {
        in_fail(im, msg->node, msg->to_boot, doc, part, why);
        return;
    }
    if (!sync_msg_doc_id_valid(s.doc) ||
        (im && (strcmp(im->doc, s.doc) != 0 || s.part != im->part + 1 || s.head != im->head)) ||
        (!im && s.part != 1)) {
        route_ship_free(&s);
        in_fail(im, msg->node, msg->to_boot, doc, part, "a part out of sequence");
        return;
    }
    if (im && im->committing) {
        route_ship_free(&s);
        return;
    }
    char tmp[256];
    if (!im) {
        if (!fresh) {
            route_ship_free(&s);
            in_fail(NULL, msg->node, msg->to_boot, doc, part, "too many documents arriving; retry");
            return;
        }
        if (mv->out.state != MV_IDLE && strcmp(mv->out.doc, s.doc) == 0) {
            route_ship_free(&s);
            in_fail(NULL, msg->node, msg->to_boot, doc, part, "this node is moving it away");
            return;
        }
        if (s.has_base && s.base_size > mv->env.import_max) {
            snprintf(tmp, sizeof tmp,
                     "its base (%zu bytes) is larger than this node takes (DOCSYNC_MOVE_MAX_BYTES "
                     "%zu)",
                     s.base_size, mv->env.import_max);
            route_ship_free(&s);
            in_fail(NULL, msg->node, msg->to_boot, doc, part, tmp);
            return;
        }
        im = fresh;
        memset(im, 0, sizeof *im);
        im->used = 1;
        snprintf(im->from, sizeof im->from, "%s", msg->node);
        memcpy(im->token, msg->to_boot, sizeof im->token);
        snprintf(im->doc, sizeof im->doc, "%s", s.doc);
        im->head = s.head;
        /* A copy already here (from a move that failed after its parts
         * arrived) is replaced whole. Its versions may name other states
         * than the incoming ones, so the store's epoch is renewed too:
         * clients resuming from an (epoch, version) of the old copy get the
         * whole state rather than a wrong replay. */
        store_read *r;
        struct store_doc_info info;
        int exists = 0;
        if (store_read_begin(mv->env.m->store, &r) == 0) {
            exists = store_doc_get(r, s.doc, &info) == 0;
            store_read_end(r);
        }
        im->next_version = s.has_base ? s.base_version + 1 : 1;
        if (s.has_base) {
            /* The base creates the document: the metadata waits for it. */
            im->base_open = 1;
            im->base_version = s.base_version;
            im->base_ts = s.base_ts;
            im->base_size = s.base_size;
            im->base_hashed = s.base_hashed;
            memcpy(im->base_sha, s.base_sha256, sizeof im->base_sha);
            if (s.meta) {
                im->meta = s.meta;
                im->meta_len = s.meta_len;
                im->has_meta = 1;
                s.meta = NULL;
            }
        }
        if (store_batch_new(&im->b) != 0 ||
            (exists &&
             (store_batch_doc_delete(im->b, s.doc) != 0 || store_batch_epoch_renew(im->b) != 0)) ||
            (!s.has_base && s.meta &&
             store_batch_doc_put(im->b, s.doc, s.meta, s.meta_len, s.nops ? s.ops[0].ts_ms : 0) !=
                 0)) {
            route_ship_free(&s);
            in_fail(im, msg->node, msg->to_boot, doc, part, "out of memory");
            return;
        }
        for (size_t i = 0; i < s.nacl; i++)
            if (store_batch_acl_put(im->b, s.doc, s.acl[i].user, (enum store_role)s.acl[i].role) !=
                0) {
                route_ship_free(&s);
                in_fail(im, msg->node, msg->to_boot, doc, part, "an access-list entry");
                return;
            }
    }
    const char *bad = in_base(im, &s);
    if (!bad && im->base_open && (s.nops || s.last))
        bad = "ops or the last part before the base is whole";
    if (bad) {
        route_ship_free(&s);
        in_fail(im, msg->node, msg->to_boot, doc, part, bad);
        return;
    }
    for (size_t i = 0; i < s.nseqs; i++)
        if (store_batch_seq_put(im->b, s.doc, s.seqs[i].client, s.seqs[i].seq, s.seqs[i].version,
                                s.seqs[i].owner) != 0) {
            route_ship_free(&s);
            in_fail(im, msg->node, msg->to_boot, doc, part, "a sequence-index record");
            return;
        }
    for (size_t i = 0; i < s.nops; i++) {
        const struct route_ship_op *op = &s.ops[i];
        if (store_batch_op_append(im->b, s.doc, op->version, op->user, op->client, op->seq,
                                  op->ts_ms, op->data, op->len) != 0) {
            snprintf(tmp, sizeof tmp, "op %llu cannot be stored", (unsigned long long)op->version);
            route_ship_free(&s);
            in_fail(im, msg->node, msg->to_boot, doc, part, tmp);
            return;
        }
    }
    if (in_bytes(im) > mv->env.import_max) {
        route_ship_free(&s);
        snprintf(tmp, sizeof tmp,
                 "the document is larger than this node takes (DOCSYNC_MOVE_MAX_BYTES %zu)",
                 mv->env.import_max);
        in_fail(im, msg->node, msg->to_boot, doc, part, tmp);
        return;
    }
    im->next_version += s.nops;
    im->part = s.part;
    im->deadline = clock_mono_ms() + 2 * mv->env.timeout_ms;
    int last = s.last;
    route_ship_free(&s);
    if (!last) {
        shipped(im->from, im->token, im->doc, im->part, NULL);
        return;
    }
    /* The whole document in one commit: durable (fsync) before the
     * SHIPPED that lets the home switch the record. */
    struct in_done *dn = calloc(1, sizeof *dn);
    if (!dn) {
        in_fail(im, msg->node, msg->to_boot, doc, part, "out of memory");
        return;
    }
    memcpy(dn->from, im->from, sizeof dn->from);
    memcpy(dn->token, im->token, sizeof dn->token);
    memcpy(dn->doc, im->doc, sizeof dn->doc);
    dn->part = im->part;
    dn->head = im->head;
    if (store_batch_count(im->b) == 0) { /* nothing stored anywhere: nothing to write */
        in_free(im);
        im = NULL;
        on_imported(dn, 0, NULL);
        return;
    }
    im->committing = 1;
    if (store_writer_submit(mv->env.m->writer, im->b, on_imported, dn) != 0) {
        im->committing = 0;
        free(dn);
        in_fail(im, msg->node, msg->to_boot, doc, part, "the store is busy; retry");
    }
}

/* ---- the test hook -------------------------------------------------------------
 * DOCSYNC_TEST_MOVE_PAUSE_MS, read only when set, for tests only: the home
 * holds each step of every move it makes (the first part, each later part,
 * the switch of the record, the drop of its copy) that many milliseconds,
 * logging the step as the hold starts, so that a test can kill a node at a
 * known step (tests/cluster/move.test.mjs). A hold does not count against
 * the move's deadlines (the target's does: keep it under twice the node
 * timeout); requests for the document stay refused meanwhile. Off, every
 * step runs at once, as step() is then a plain call. */
static void step_run(enum mv_due d)
{
    if (d == DUE_SHIP)
        (void)ship_next();
    else if (d == DUE_SWITCH)
        do_switch();
    else if (d == DUE_DROP)
        drop_copy();
}

static void step(enum mv_due d)
{
    struct mover *mv = g_mv;
    struct out_move *o = &mv->out;
    if (mv->pause_ms > 0) {
        uint64_t key = (uint64_t)d << 48 | o->part;
        if (o->pause_key != key) {
            o->pause_key = key;
            o->pause_until = clock_mono_ms() + mv->pause_ms;
            o->due = d;
            log_warn(lg(),
                     "sync: test pause: move of document %s to %s before %s (part %llu sent), %lld "
                     "ms (DOCSYNC_TEST_MOVE_PAUSE_MS)",
                     o->doc, o->to, due_names[d], (unsigned long long)o->part,
                     (long long)mv->pause_ms);
            return;
        }
        if (clock_mono_ms() < o->pause_until) {
            o->due = d;
            return;
        }
    }
    o->due = DUE_NONE;
    step_run(d);
}

void move_on_message(const struct route_msg *msg)
{
    if (!g_mv)
        return;
    if (msg->type == ROUTE_MOVE)
        on_move(msg);
    else if (msg->type == ROUTE_SHIP)
        on_ship(msg);
    else if (msg->type == ROUTE_SHIPPED)
        on_shipped(msg);
}

void move_tick(int64_t now)
{
    struct mover *mv = g_mv;
    if (!mv)
        return;
    struct out_move *o = &mv->out;
    if (o->due != DUE_NONE && o->pause_until <= now)
        step(o->due);
    if (o->state == MV_DRAIN && o->due == DUE_NONE)
        drain_step();
    if (o->state == MV_RESOLVE && !o->get_pending) {
        char key[512];
        home_key(key, sizeof key, o->doc);
        const char *argv[2] = {"GET", key};
        if (redis_command(mv->env.rd, on_resolved, NULL, 2, argv, NULL) == 0)
            o->get_pending = 1;
    }
    if ((o->state == MV_CHECK || o->state == MV_DRAIN || o->state == MV_SHIP) &&
        o->due == DUE_NONE && o->deadline <= now)
        out_fail(o->state == MV_SHIP ? "node %s did not take the document in time%s"
                                     : "this node could not prepare it in time%s%s",
                 o->state == MV_SHIP ? o->to : "", "");
    for (int i = 0; i < IMPORTS_MAX; i++)
        if (mv->in[i].used && !mv->in[i].committing && mv->in[i].deadline <= now) {
            log_warn(lg(), "sync: document %s from node %s dropped: its next part did not come",
                     mv->in[i].doc, mv->in[i].from);
            mv->import_failed++;
            in_free(&mv->in[i]);
        }
}

void move_metrics(struct metrics_text *b)
{
    struct mover *mv = g_mv;
    if (!mv)
        return;
#define U(x) ((unsigned long long)(x))
    metrics_text_printf(
        b,
        "# HELP docsync_move_total Documents moved to or from this node, by outcome.\n"
        "# TYPE docsync_move_total counter\n"
        "docsync_move_total{dir=\"out\",outcome=\"moved\"} %llu\n"
        "docsync_move_total{dir=\"out\",outcome=\"failed\"} %llu\n"
        "docsync_move_total{dir=\"in\",outcome=\"stored\"} %llu\n"
        "docsync_move_total{dir=\"in\",outcome=\"failed\"} %llu\n"
        "# HELP docsync_move_parts_total Parts of documents sent to other nodes.\n"
        "# TYPE docsync_move_parts_total counter\n"
        "docsync_move_parts_total %llu\n"
        "# HELP docsync_move_refused_total Requests refused while their document moved.\n"
        "# TYPE docsync_move_refused_total counter\n"
        "docsync_move_refused_total %llu\n",
        U(mv->moved), U(mv->failed), U(mv->imported), U(mv->import_failed), U(mv->parts),
        U(mv->refused));
#undef U
}

void move_start(const struct move_env *env)
{
    struct mover *mv = calloc(1, sizeof *mv);
    if (!mv)
        return;
    mv->env = *env;
    const char *pause = getenv("DOCSYNC_TEST_MOVE_PAUSE_MS");
    if (pause && *pause) {
        mv->pause_ms = atoll(pause);
        log_warn(lg_of(env),
                 "sync: DOCSYNC_TEST_MOVE_PAUSE_MS=%lld: every step of a move from this "
                 "node waits that long (a test hook: never set it in production)",
                 (long long)mv->pause_ms);
    }
    hmap_init(&mv->gone);
    g_mv = mv;
}

void move_stop(void)
{
    struct mover *mv = g_mv;
    if (!mv)
        return;
    g_mv = NULL;
    for (int i = 0; i < IMPORTS_MAX; i++) {
        if (!mv->in[i].committing)
            store_batch_free(mv->in[i].b);
        free(mv->in[i].base);
        free(mv->in[i].meta);
    }
    free(mv->out.base);
    for (size_t i = 0; i < TOMBSTONES_MAX; i++)
        if (mv->ring[i]) {
            free(hmap_get(&mv->gone, mv->ring[i], strlen(mv->ring[i])));
            free(mv->ring[i]);
        }
    hmap_deinit(&mv->gone);
    free(mv);
}
