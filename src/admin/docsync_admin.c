/* docsync-admin: a small CLI for development and operations.
 *
 *   docsync-admin [--data DIR] [--env-file FILE] COMMAND ...
 *
 *   token --sub ID [--name NAME] [--ttl SECONDS] [--claims JSON]
 *         print an HS256 bearer token signed with the app secret (for the
 *         server's own /broadcasting/auth); default ttl 3600
 *   acl set DOC USER ROLE      ROLE = viewer | editor | owner (USER * = everyone)
 *   acl delete DOC USER
 *   acl list DOC
 *   acl apply                  read "set DOC USER ROLE" / "delete DOC USER"
 *                              lines from stdin (fields separated by spaces
 *                              or tabs) and commit them all in one
 *                              transaction; at most 100,000 lines
 *   docs                       list documents with their head versions
 *   text DOC [VERSION]         print the document text (at VERSION)
 *   ops DOC [AFTER]            print the op log as JSON lines
 *   verify [HEADHASH]          check every document (versions without gaps,
 *                              snapshot + ops rebuild, ops-only rebuild when
 *                              nothing was truncated) and the activity hash
 *                              chain; exit 0 when everything verifies
 *
 * The app secret and data directory come from the same places as the
 * server's (environment, .env, flags; the development app's dev-app.env).
 * LMDB allows this process to open the store while the server runs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth_rules.h"
#include "auth/token.h"
#include "common/log.h"
#include "config/config.h"
#include "crdt.h"
#include "redis/redis.h"
#include "store.h"
#include "sync/document.h"
#include "sync/route_msg.h"
#include "sync/sync_msg.h"
#include <cjson/cJSON.h>
#include <openssl/rand.h>

extern char **environ;

static int usage(void)
{
    fprintf(stderr,
            "usage: docsync-admin [--data DIR] [--env-file FILE] COMMAND\n"
            "  token --sub ID [--name NAME] [--ttl SECONDS] [--claims JSON]\n"
            "  acl set DOC USER ROLE | acl delete DOC USER | acl list DOC | acl apply < LINES\n"
            "  docs | text DOC [VERSION] | ops DOC [AFTER] | verify [HEADHASH]\n"
            "  move-doc DOC --to NODE [--timeout SECONDS]   (cluster mode, through Redis)\n");
    return 2;
}

static int open_store(const struct config *cfg, store **s)
{
    /* Look before opening: a data file cut short must be reported, not
     * read (that would fault), and a store made up from nothing said. */
    struct store_files f;
    int rc = store_inspect(cfg->data_dir, &f);
    if (rc == STORE_ETRUNCATED) {
        fprintf(stderr,
                "docsync-admin: the store in %s is damaged: data.mdb is cut short: %llu bytes, "
                "but its pages reach %llu (restore the directory from a backup)\n",
                cfg->data_dir, (unsigned long long)f.data_bytes, (unsigned long long)f.used_bytes);
        return rc;
    }
    if (rc) {
        fprintf(stderr, "docsync-admin: cannot open the store in %s: %s\n", cfg->data_dir,
                store_strerror(rc));
        return rc;
    }
    struct store_options o;
    store_options_init(&o);
    o.map_size = cfg->map_size;
    o.map_size_max = cfg->map_size;
    o.snapshot_interval = cfg->snapshot_every;
    o.retain_ops = cfg->ops_retain;
    rc = store_open(cfg->data_dir, &o, s);
    if (rc) {
        fprintf(stderr, "docsync-admin: cannot open the store in %s: %s\n", cfg->data_dir,
                store_strerror(rc));
        return rc;
    }
    if (!f.store) {
        struct store_epoch e;
        char hex[STORE_EPOCH_HEX_LEN + 1] = "?";
        if (store_epoch_get(*s, &e) == 0)
            store_epoch_format(&e, hex);
        fprintf(stderr, "docsync-admin: no store in %s: created a new one with epoch %s%s\n",
                cfg->data_dir, hex,
                f.traces ? ", but LMDB's files show that a store was there (data.mdb deleted or "
                           "emptied): it looks like data was lost"
                         : "");
    }
    return 0;
}

static int cmd_token(const struct config *cfg, int argc, char **argv)
{
    const char *sub = NULL, *name = NULL, *claims = NULL;
    long long ttl = 3600;
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--sub") == 0)
            sub = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--name") == 0)
            name = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--claims") == 0)
            claims = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--ttl") == 0)
            ttl = atoll(argv[++i]);
        else
            return usage();
    }
    if (!sub || ttl <= 0)
        return usage();
    char tok[TOKEN_MAX_LEN + 1];
    int rc = token_issue(cfg->app_secret, strlen(cfg->app_secret), sub, name,
                         (int64_t)time(NULL) + ttl, claims, tok, sizeof tok);
    if (rc) {
        fprintf(stderr, "docsync-admin: %s\n", token_strerror(rc));
        return 1;
    }
    printf("%s\n", tok);
    return 0;
}

static int print_acl(void *ctx, const char *user, size_t len, enum store_role role)
{
    (void)ctx;
    printf("%.*s\t%s\n", (int)len, user, auth_role_name((int)role));
    return 0;
}

#define ACL_APPLY_MAX 100000 /* lines of one `acl apply` */

/* `acl apply`: many changes in one transaction (one commit, one fsync; a
 * running server's poll sees them all at once and tells them a page at a
 * time). Nothing is written unless every line is valid. */
static int cmd_acl_apply(store *s)
{
    store_batch *b = NULL;
    if (store_batch_new(&b) != 0)
        return 1;
    char line[1024];
    long n = 0, lineno = 0;
    const char *bad = NULL; /* what is wrong with line `lineno` */
    while (!bad && fgets(line, sizeof line, stdin)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            bad = "longer than 1022 bytes";
            break;
        }
        char *f[5] = {0};
        int nf = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && nf < 5;
             t = strtok_r(NULL, " \t\r\n", &save))
            f[nf++] = t;
        if (nf == 0)
            continue;
        int role = nf == 4 ? auth_role_parse(f[3]) : 0;
        if (++n > ACL_APPLY_MAX)
            bad = "more than 100,000 changes in one apply";
        else if (nf == 4 && strcmp(f[0], "set") == 0 && role >= AUTH_ROLE_VIEWER)
            bad = store_batch_acl_put(b, f[1], f[2], (enum store_role)role) == 0
                      ? NULL
                      : "a document or user id the store refuses";
        else if (nf == 3 && strcmp(f[0], "delete") == 0)
            bad = store_batch_acl_delete(b, f[1], f[2]) == 0
                      ? NULL
                      : "a document or user id the store refuses";
        else
            bad = "expected \"set DOC USER ROLE\" (viewer, editor, owner) or \"delete DOC USER\"";
    }
    int rc = 0;
    if (bad)
        fprintf(stderr, "docsync-admin: line %ld: %s; nothing applied\n", lineno, bad);
    else if (ferror(stdin))
        fprintf(stderr, "docsync-admin: cannot read stdin; nothing applied\n");
    else if (n > 0 && (rc = store_batch_commit(s, b, NULL)) != 0)
        fprintf(stderr, "docsync-admin: %s\n", store_strerror(rc));
    store_batch_free(b);
    if (bad || ferror(stdin) || rc)
        return 1;
    printf("applied %ld access-list changes\n", n);
    return 0;
}

static int cmd_acl(store *s, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "apply") == 0)
        return cmd_acl_apply(s);
    if (argc >= 2 && strcmp(argv[0], "list") == 0) {
        store_read *r = NULL;
        if (store_read_begin(s, &r) != 0)
            return 1;
        int rc = store_acl_list(r, argv[1], print_acl, NULL);
        store_read_end(r);
        return rc ? 1 : 0;
    }
    store_batch *b = NULL;
    if (store_batch_new(&b) != 0)
        return 1;
    int rc;
    if (argc == 4 && strcmp(argv[0], "set") == 0) {
        int role = auth_role_parse(argv[3]);
        if (role < AUTH_ROLE_VIEWER) {
            store_batch_free(b);
            return usage();
        }
        rc = store_batch_acl_put(b, argv[1], argv[2], (enum store_role)role);
    } else if (argc == 3 && strcmp(argv[0], "delete") == 0) {
        rc = store_batch_acl_delete(b, argv[1], argv[2]);
    } else {
        store_batch_free(b);
        return usage();
    }
    if (rc == 0)
        rc = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    if (rc) {
        fprintf(stderr, "docsync-admin: %s\n", store_strerror(rc));
        return 1;
    }
    return 0;
}

static int print_doc(void *ctx, const char *doc, size_t len, const struct store_doc_info *i)
{
    (void)ctx;
    printf("%.*s\thead=%" PRIu64 "\tsnapshot=%" PRIu64 "\ttruncated=%" PRIu64 "\n", (int)len, doc,
           i->head, i->snapshot_version, i->trunc_version);
    return 0;
}

static int cmd_docs(store *s)
{
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return 1;
    int rc = store_doc_list(r, NULL, 0, print_doc, NULL);
    store_read_end(r);
    return rc ? 1 : 0;
}

static int cmd_text(store *s, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    uint64_t version = UINT64_MAX;
    if (argc >= 2)
        version = strtoull(argv[1], NULL, 10);
    if (version == UINT64_MAX) {
        store_read *r = NULL;
        struct store_doc_info info;
        if (store_read_begin(s, &r) != 0)
            return 1;
        int rc = store_doc_get(r, argv[0], &info);
        store_read_end(r);
        if (rc) {
            fprintf(stderr, "docsync-admin: %s\n", store_strerror(rc));
            return 1;
        }
        version = info.head;
    }
    char *text = NULL;
    size_t len = 0;
    uint64_t oldest = 0;
    int rc = document_text_at(s, argv[0], version, &text, &len, &oldest);
    if (rc) {
        fprintf(stderr, "docsync-admin: %s\n", document_strerror(rc));
        return 1;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}

static int print_op(void *ctx, const struct store_op *op)
{
    (void)ctx;
    printf("{\"version\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"user\":\"%.*s\",\"clientId\":\"%.*s\","
           "\"seq\":%" PRIu64 ",\"bytes\":%zu}\n",
           op->version, op->ts_ms, (int)op->user_len, op->user, (int)op->client_len, op->client,
           op->seq, op->len);
    return 0;
}

static int cmd_ops(store *s, int argc, char **argv)
{
    if (argc < 1)
        return usage();
    uint64_t after = argc >= 2 ? strtoull(argv[1], NULL, 10) : 0;
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return 1;
    int rc = store_ops_after(r, argv[0], after, UINT64_MAX, 0, print_op, NULL, NULL);
    store_read_end(r);
    return rc ? 1 : 0;
}

/* ---- verify ---- */

struct verify_ctx {
    store *s;
    int bad;
    uint64_t docs, ops;
};

struct gap_ctx {
    uint64_t expect;
    int gap;
    crdt_doc *doc;
    int apply_failed;
};

static int check_op(void *ctx, const struct store_op *op)
{
    struct gap_ctx *g = ctx;
    if (op->version != g->expect)
        g->gap = 1;
    g->expect = op->version + 1;
    if (g->doc && crdt_doc_apply(g->doc, op->data, op->len, NULL) != CRDT_OK)
        g->apply_failed = 1;
    return 0;
}

static int verify_doc(void *ctx, const char *doc_raw, size_t len, const struct store_doc_info *i)
{
    struct verify_ctx *v = ctx;
    char doc[STORE_DOC_ID_MAX + 1];
    snprintf(doc, sizeof doc, "%.*s", (int)len, doc_raw);
    v->docs++;
    /* 1. ops trunc_version+1 .. head all present, in order. */
    store_read *r = NULL;
    if (store_read_begin(v->s, &r) != 0) {
        v->bad = 1;
        return 0;
    }
    struct gap_ctx g = {i->trunc_version + 1, 0, NULL, 0};
    if (i->trunc_version == 0)
        crdt_doc_new(NULL, "verify", 6, &g.doc);
    int rc = store_ops_after(r, doc, i->trunc_version, UINT64_MAX, 0, check_op, &g, NULL);
    store_read_end(r);
    v->ops += g.expect - i->trunc_version - 1;
    if (rc || g.gap || g.expect != i->head + 1) {
        printf("FAIL %s: op log has a gap (head %" PRIu64 ", ops end at %" PRIu64 ")\n", doc,
               i->head, g.expect - 1);
        v->bad = 1;
    }
    if (g.apply_failed) {
        printf("FAIL %s: an op does not apply when replaying the log\n", doc);
        v->bad = 1;
    }
    /* 2. snapshot + ops rebuild; equal to the ops-only replay when we have it. */
    crdt_doc *loaded = NULL;
    uint64_t head = 0;
    rc = document_load(v->s, doc, &loaded, &head, NULL, NULL, NULL);
    if (rc) {
        printf("FAIL %s: cannot rebuild: %s\n", doc, document_strerror(rc));
        v->bad = 1;
    } else if (g.doc && !g.apply_failed) {
        char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0;
        crdt_doc_text(loaded, &a, &al);
        crdt_doc_text(g.doc, &b, &bl);
        if (!a || !b || al != bl || memcmp(a, b, al) != 0) {
            printf("FAIL %s: snapshot rebuild differs from the op log replay\n", doc);
            v->bad = 1;
        }
        free(a);
        free(b);
    }
    crdt_doc_free(loaded);
    crdt_doc_free(g.doc);
    return 0;
}

struct doc_list {
    struct doc_entry {
        char id[STORE_DOC_ID_MAX + 1];
        struct store_doc_info info;
    } * v;
    size_t n, cap;
};

static int collect_doc(void *ctx, const char *doc, size_t len, const struct store_doc_info *i)
{
    struct doc_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct doc_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return STORE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct doc_entry *e = &l->v[l->n++];
    snprintf(e->id, sizeof e->id, "%.*s", (int)len, doc);
    e->info = *i;
    e->info.meta = NULL; /* borrowed; not needed */
    e->info.meta_len = 0;
    return 0;
}

static int cmd_verify(store *s, int argc, char **argv)
{
    struct verify_ctx v = {s, 0, 0, 0};
    struct doc_list l = {NULL, 0, 0};
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return 1;
    int rc = store_doc_list(r, NULL, 0, collect_doc, &l);
    uint64_t head = 0, bad = 0;
    uint8_t hh[STORE_HASH_LEN], want[STORE_HASH_LEN];
    store_activity_head(r, &head, hh);
    int have_want = 0;
    if (argc >= 1 && strlen(argv[0]) == 2 * STORE_HASH_LEN) {
        for (int k = 0; k < STORE_HASH_LEN; k++) {
            unsigned x = 0;
            if (sscanf(argv[0] + 2 * k, "%2x", &x) != 1)
                x = 0;
            want[k] = (uint8_t)x;
        }
        have_want = 1;
    }
    int arc = head ? store_activity_verify(r, 1, UINT64_MAX, have_want ? want : NULL, &bad) : 0;
    store_read_end(r);
    /* Each document is checked with its own read handles (one per thread at
     * a time), after the listing ended. */
    for (size_t k = 0; k < l.n; k++)
        verify_doc(&v, l.v[k].id, strlen(l.v[k].id), &l.v[k].info);
    free(l.v);
    if (rc) {
        printf("FAIL listing documents: %s\n", store_strerror(rc));
        v.bad = 1;
    }
    if (arc) {
        printf("FAIL activity chain breaks at offset %" PRIu64 "\n", bad);
        v.bad = 1;
    }
    char hex[2 * STORE_HASH_LEN + 1];
    for (int k = 0; k < STORE_HASH_LEN; k++)
        snprintf(hex + 2 * k, 3, "%02x", hh[k]);
    printf("%s: %" PRIu64 " documents, %" PRIu64 " ops, activity head %" PRIu64 " %s\n",
           v.bad ? "FAILED" : "OK", v.docs, v.ops, head, hex);
    return v.bad ? 1 : 0;
}

/* ---- move-doc: asks a document's home node, over Redis, to move it ----------
 * The node does the move (src/sync/README.md, "Moving a document"); this
 * command finds the home in Redis, sends it a MOVE naming a reply channel
 * of its own (<prefix>:admin:<token>), subscribed before the MOVE goes, and
 * prints the outcome. */

struct mv_cli {
    struct redis *rd;
    char prefix[128], doc[SYNC_DOC_ID_MAX + 1], to[ROUTE_NODE_MAX], token[ROUTE_BOOT_LEN + 1];
    char home[ROUTE_NODE_MAX];
    volatile int done, up, asked;
    int rc;
};

static void mv_wake(void *ud)
{
    (void)ud;
}

static void mv_finish(struct mv_cli *c, int rc, const char *fmt, const char *a, const char *b)
{
    if (c->done)
        return;
    fprintf(rc ? stderr : stdout, fmt, a, b);
    c->rc = rc;
    c->done = 1;
}

static void mv_on_reply(void *ud, const char *channel, size_t clen, const char *payload, size_t len)
{
    (void)channel;
    (void)clen;
    struct mv_cli *c = ud;
    struct route_msg m;
    if (route_decode(payload, len, &m) != 0 || m.type != ROUTE_MOVED ||
        strcmp(m.to_boot, c->token) != 0)
        return;
    cJSON *j = cJSON_ParseWithLength(m.body, m.body_len);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(j, "version");
    char v[32] = "?";
    if (cJSON_IsNumber(ver))
        snprintf(v, sizeof v, "%.0f", ver->valuedouble);
    if (cJSON_IsTrue(ok)) {
        char line[512];
        snprintf(line, sizeof line, "moved document %s from %s to %s at version %%s%%s\n", c->doc,
                 m.node, c->to);
        mv_finish(c, 0, line, v, "");
    } else {
        mv_finish(c, 1, "docsync-admin: move refused by %s: %s\n", m.node,
                  cJSON_IsString(err) ? err->valuestring : "(no reason given)");
    }
    cJSON_Delete(j);
}

static void mv_on_published(void *ud, const struct redis_reply *r)
{
    struct mv_cli *c = ud;
    if (!r || r->type != REDIS_R_INTEGER)
        mv_finish(c, 1, "docsync-admin: Redis did not take the request%s%s\n", "", "");
    else if (r->integer == 0)
        mv_finish(c, 1, "docsync-admin: the home node %s is not listening (down?)%s\n", c->home,
                  "");
}

static void mv_on_home(void *ud, const struct redis_reply *r)
{
    struct mv_cli *c = ud;
    if (!r || (r->type != REDIS_R_STRING && r->type != REDIS_R_NIL)) {
        mv_finish(c, 1, "docsync-admin: Redis did not say where document %s lives%s\n", c->doc, "");
        return;
    }
    if (r->type == REDIS_R_NIL) {
        mv_finish(c, 1, "docsync-admin: document %s has no home node (never used)%s\n", c->doc, "");
        return;
    }
    snprintf(c->home, sizeof c->home, "%s", r->str);
    if (strcmp(c->home, c->to) == 0) {
        mv_finish(c, 0, "document %s is already on %s\n", c->doc, c->to);
        return;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "documentId", c->doc);
    cJSON_AddStringToObject(b, "to", c->to);
    char *json = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    struct route_msg m = {.type = ROUTE_MOVE, .id = 1, .body = json, .body_len = strlen(json)};
    snprintf(m.node, sizeof m.node, "docsync-admin");
    snprintf(m.boot, sizeof m.boot, "%s", c->token);
    snprintf(m.to_boot, sizeof m.to_boot, "%s", c->token);
    char *buf, channel[256];
    size_t len;
    snprintf(channel, sizeof channel, "%s:doc:%s", c->prefix, c->home);
    if (!json || route_encode(&m, &buf, &len) != 0) {
        free(json);
        mv_finish(c, 1, "docsync-admin: cannot encode the request%s%s\n", "", "");
        return;
    }
    const char *argv[3] = {"PUBLISH", channel, buf};
    size_t lens[3] = {7, strlen(channel), len};
    if (redis_command(c->rd, mv_on_published, c, 3, argv, lens) != 0)
        mv_finish(c, 1, "docsync-admin: Redis is unreachable%s%s\n", "", "");
    free(buf);
    free(json);
}

static void mv_on_status(void *ud, int up)
{
    struct mv_cli *c = ud;
    c->up = up;
    if (!up || c->asked)
        return;
    c->asked = 1;
    char key[512];
    snprintf(key, sizeof key, "%s:doc-home:%s", c->prefix, c->doc);
    const char *argv[2] = {"GET", key};
    if (redis_command(c->rd, mv_on_home, c, 2, argv, NULL) != 0)
        mv_finish(c, 1, "docsync-admin: Redis is unreachable%s%s\n", "", "");
}

static int cmd_move(const struct config *cfg, int argc, char **argv)
{
    static struct mv_cli c;
    unsigned timeout = 60;
    if (argc < 3 || strcmp(argv[1], "--to") != 0)
        return usage();
    if (argc == 5 && strcmp(argv[3], "--timeout") == 0)
        timeout = (unsigned)strtoul(argv[4], NULL, 10);
    else if (argc != 3)
        return usage();
    if (!sync_msg_doc_id_valid(argv[0]) || !bus_node_id_valid(argv[2], strlen(argv[2]))) {
        fprintf(stderr, "docsync-admin: invalid document id or node id\n");
        return 2;
    }
    if (!cfg->scaling_enabled) {
        fprintf(stderr, "docsync-admin: move-doc needs cluster mode (REVERB_SCALING_ENABLED=true "
                        "and the cluster's Redis settings)\n");
        return 2;
    }
    snprintf(c.prefix, sizeof c.prefix, "%s", cfg->scaling_channel);
    snprintf(c.doc, sizeof c.doc, "%s", argv[0]);
    snprintf(c.to, sizeof c.to, "%s", argv[2]);
    uint8_t rnd[8];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return 1;
    for (int k = 0; k < 8; k++)
        snprintf(c.token + 2 * k, 3, "%02x", rnd[k]);
    struct redis_opts o;
    char err[256];
    if (redis_opts_from_settings(cfg->redis_url, cfg->redis_host, cfg->redis_port,
                                 cfg->redis_username, cfg->redis_password, cfg->redis_db, &o, err,
                                 sizeof err) != 0) {
        fprintf(stderr, "docsync-admin: %s\n", err);
        return 2;
    }
    static struct logger lg;
    log_init(&lg, LOG_LEVEL_ERROR, stderr);
    char channel[256];
    snprintf(channel, sizeof channel, "%s:admin:%s", c.prefix, c.token);
    c.rd = redis_new(&o, &lg, mv_wake, NULL);
    if (!c.rd || redis_subscribe(c.rd, channel, 0, mv_on_reply, &c) != 0 ||
        redis_on_status(c.rd, mv_on_status, &c) != 0 || redis_start(c.rd) != 0) {
        fprintf(stderr, "docsync-admin: out of memory\n");
        return 1;
    }
    for (unsigned waited = 0; !c.done && waited < timeout * 10; waited++)
        redis_dispatch_until(c.rd, &c.done, 100);
    if (!c.done)
        mv_finish(&c, 1,
                  c.asked ? "docsync-admin: no answer from the home node within the timeout%s%s\n"
                          : "docsync-admin: Redis unreachable%s%s\n",
                  "", "");
    redis_stop(c.rd);
    redis_free(c.rd);
    return c.rc;
}

int main(int argc, char **argv)
{
    char *cargv[5] = {argv[0]};
    int cargc = 1, i = 1;
    for (; i < argc; i++) {
        if (i + 1 < argc &&
            (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--env-file") == 0)) {
            if (cargc + 2 > 5)
                return usage();
            cargv[cargc++] = argv[i];
            cargv[cargc++] = argv[++i];
        } else {
            break;
        }
    }
    if (i >= argc)
        return usage();
    static struct config cfg;
    char err[256];
    int rc = config_load(&cfg, cargc, cargv, environ, err, sizeof err);
    if (rc != CONFIG_OK) {
        fprintf(stderr, "docsync-admin: %s\n", err);
        return 2;
    }
    const char *cmd = argv[i++];
    if (strcmp(cmd, "token") == 0)
        return cmd_token(&cfg, argc - i, argv + i);
    if (strcmp(cmd, "move-doc") == 0)
        return cmd_move(&cfg, argc - i, argv + i);
    store *s = NULL;
    if (strcmp(cmd, "acl") != 0 && strcmp(cmd, "docs") != 0 && strcmp(cmd, "text") != 0 &&
        strcmp(cmd, "ops") != 0 && strcmp(cmd, "verify") != 0)
        return usage();
    if (open_store(&cfg, &s) != 0)
        return 1;
    if (strcmp(cmd, "acl") == 0)
        rc = cmd_acl(s, argc - i, argv + i);
    else if (strcmp(cmd, "docs") == 0)
        rc = cmd_docs(s);
    else if (strcmp(cmd, "text") == 0)
        rc = cmd_text(s, argc - i, argv + i);
    else if (strcmp(cmd, "ops") == 0)
        rc = cmd_ops(s, argc - i, argv + i);
    else
        rc = cmd_verify(s, argc - i, argv + i);
    store_close(s);
    return rc;
}
