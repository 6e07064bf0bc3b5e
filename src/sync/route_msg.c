/* route_msg: encoding and checking the document route messages (README.md,
 * "Documents in a cluster"). Pure: no I/O, no clock. */
#include "route_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cluster/bus.h"
#include "common/base64.h"
#include "common/hex.h"
#include "common/utf8.h"
#include "store.h"

#define ROUTE_MAGIC "dsdoc/"
#define ROUTE_MAGIC_LEN 6

static const char *const type_names[] = {NULL,   "req",     "rep",   "move",
                                         "ship", "shipped", "moved", "acl"};
#define TYPE_N 8
static const char *const role_names[] = {"acl", "owner"};
/* docsync:audit: an auditor's request for this node's activity log (its
 * answer has the same name); the others are the clients' requests.
 * Version 2 adds the HTTP API's document reads and access lists
 * (docsync:document, answered as docsync:history or docsync:error;
 * docsync:acl, read or set, answered as docsync:acl) and the role a user
 * has on a document (docsync:role, for /broadcasting/auth on another
 * node). Each name's version: a message carrying it says at least that
 * version, so a node of version 1 drops it (as `version`) rather than
 * misreading it. */
static const char *const req_events[] = {"docsync:submit",  "docsync:replace", "docsync:catchup",
                                         "docsync:history", "docsync:audit",   "docsync:document",
                                         "docsync:acl",     "docsync:role"};
static const char *const rep_events[] = {"docsync:ack",     "docsync:error", "docsync:catchup",
                                         "docsync:history", "docsync:audit", NULL,
                                         "docsync:acl",     "docsync:role"};
static const int event_version[] = {1, 1, 1, 1, 1, 2, 2, 2};
#define EVENTS_N 8

/* The index of the name `s` (len bytes) in `names` (n of them), or -1. */
static int name_index(const char *const *names, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
            return i;
    return -1;
}

/* The version a message carrying event `ev` needs (1 for none), or 0 for an
 * unknown event. */
static int version_of_event(const char *ev)
{
    if (!ev || !*ev)
        return 1;
    for (int i = 0; i < EVENTS_N; i++)
        if ((req_events[i] && strcmp(req_events[i], ev) == 0) ||
            (rep_events[i] && strcmp(rep_events[i], ev) == 0))
            return event_version[i];
    return 0;
}

/* "dsdoc/<1|2> <type> <node> <boot> <id>\n" */
static int header(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *v = bus_field(c, ' ', &n);
    if (!v || n != ROUTE_MAGIC_LEN + 1 || v[ROUTE_MAGIC_LEN] < '0' + ROUTE_VERSION_MIN ||
        v[ROUTE_MAGIC_LEN] > '0' + ROUTE_VERSION)
        return ROUTE_EVERSION;
    m->version = v[ROUTE_MAGIC_LEN] - '0';
    const char *t = bus_field(c, ' ', &n);
    int type = t ? name_index(type_names, TYPE_N, t, n) : -1;
    if (type < 1)
        return ROUTE_EMALFORMED;
    m->type = (enum route_type)type;
    const char *node = bus_field(c, ' ', &n);
    if (!node || !bus_node_id_valid(node, n))
        return ROUTE_EMALFORMED;
    memcpy(m->node, node, n);
    m->node[n] = '\0';
    const char *boot = bus_field(c, ' ', &n);
    if (!boot || !bus_hex_valid(boot, n))
        return ROUTE_EMALFORMED;
    memcpy(m->boot, boot, n);
    m->boot[n] = '\0';
    const char *id = bus_field(c, '\n', &n);
    if (!id || bus_u64(id, n, &m->id) != 0 || m->id == 0)
        return ROUTE_EMALFORMED;
    return 0;
}

/* The body: a JSON-looking object in valid UTF-8 without NUL (parsed and
 * checked field by field by whoever uses it). */
static int body(struct bus_cur *c, struct route_msg *m)
{
    m->body = c->p;
    m->body_len = (size_t)(c->end - c->p);
    if (m->body_len < 2 || m->body[0] != '{' || m->body[m->body_len - 1] != '}' ||
        memchr(m->body, '\0', m->body_len) || !utf8_valid(m->body, m->body_len))
        return ROUTE_EMALFORMED;
    return 0;
}

static int event(struct bus_cur *c, const char *const *names, struct route_msg *m)
{
    size_t n;
    const char *ev = bus_field(c, '\n', &n);
    int i = ev ? name_index(names, EVENTS_N, ev, n) : -1;
    if (i < 0 || event_version[i] > m->version)
        return ROUTE_EMALFORMED;
    memcpy(m->event, names[i], n + 1);
    return 0;
}

/* "<socket id or nothing>\n<acl|owner>\n<user>\n<event>\n<data>" */
static int request(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *sid = bus_field(c, '\n', &n);
    if (!sid || (n && !bus_sid_valid(sid, n)))
        return ROUTE_EMALFORMED;
    memcpy(m->socket_id, sid, n);
    m->socket_id[n] = '\0';
    const char *role = bus_field(c, '\n', &n);
    int r = role ? name_index(role_names, 2, role, n) : -1;
    if (r < 0)
        return ROUTE_EMALFORMED;
    m->role = (enum route_role)r;
    m->user = bus_field(c, '\n', &m->user_len);
    if (!m->user || m->user_len > ROUTE_USER_MAX || memchr(m->user, '\0', m->user_len) ||
        !utf8_valid(m->user, m->user_len))
        return ROUTE_EMALFORMED;
    int rc = event(c, req_events, m);
    return rc ? rc : body(c, m);
}

/* MOVE, SHIP, SHIPPED, MOVED: "<token>\n<JSON object>" */
static int move_msg(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *tk = bus_field(c, '\n', &n);
    if (!tk || !bus_hex_valid(tk, n))
        return ROUTE_EMALFORMED;
    memcpy(m->to_boot, tk, n);
    m->to_boot[n] = '\0';
    return body(c, m);
}

/* "<to boot>\n<event>\n<answer>" */
static int reply(struct bus_cur *c, struct route_msg *m)
{
    size_t n;
    const char *tb = bus_field(c, '\n', &n);
    if (!tb || !bus_hex_valid(tb, n))
        return ROUTE_EMALFORMED;
    memcpy(m->to_boot, tb, n);
    m->to_boot[n] = '\0';
    int rc = event(c, rep_events, m);
    return rc ? rc : body(c, m);
}

int route_decode(const char *buf, size_t len, struct route_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len < ROUTE_MAGIC_LEN || memcmp(buf, ROUTE_MAGIC, ROUTE_MAGIC_LEN) != 0)
        return ROUTE_EFOREIGN;
    if (len > ROUTE_MAX_MESSAGE)
        return ROUTE_ETOOBIG;
    struct bus_cur c = {buf, buf + len};
    int rc = header(&c, out);
    if (rc)
        return rc;
    if (out->type == ROUTE_REQ)
        return request(&c, out);
    if (out->type == ROUTE_ACL) /* "<JSON object>", version 2 on */
        return out->version < 2 ? ROUTE_EMALFORMED : body(&c, out);
    return out->type == ROUTE_REP ? reply(&c, out) : move_msg(&c, out);
}

int route_encode(const struct route_msg *m, char **out, size_t *out_len)
{
    if (m->type < ROUTE_REQ || m->type > ROUTE_ACL || m->id == 0 ||
        !bus_node_id_valid(m->node, strlen(m->node)) || strlen(m->boot) != ROUTE_BOOT_LEN ||
        strlen(m->event) >= ROUTE_EVENT_MAX)
        return -1;
    /* The lowest version that carries the message, unless the caller (or
     * the decoder) named one. */
    int need = m->type == ROUTE_ACL ? (m->event[0] ? 0 : 2) : version_of_event(m->event);
    int version = m->version ? m->version : need;
    if (need == 0 || version < need || version < ROUTE_VERSION_MIN || version > ROUTE_VERSION)
        return -1;
    char head[ROUTE_NODE_MAX + 2 * ROUTE_BOOT_LEN + ROUTE_SID_MAX + ROUTE_EVENT_MAX + 64];
    int hl;
    if (m->type == ROUTE_REQ) {
        if (m->user_len > ROUTE_USER_MAX || (m->user_len && memchr(m->user, '\n', m->user_len)) ||
            (unsigned)m->role > ROUTE_ROLE_OWNER)
            return -1;
        hl = snprintf(head, sizeof head, "%s%d req %s %s %llu\n%s\n%s\n", ROUTE_MAGIC, version,
                      m->node, m->boot, (unsigned long long)m->id, m->socket_id,
                      role_names[m->role]);
    } else if (m->type == ROUTE_REP) {
        hl = snprintf(head, sizeof head, "%s%d rep %s %s %llu\n%s\n%s\n", ROUTE_MAGIC, version,
                      m->node, m->boot, (unsigned long long)m->id, m->to_boot, m->event);
    } else if (m->type == ROUTE_ACL) {
        hl = snprintf(head, sizeof head, "%s%d acl %s %s %llu\n", ROUTE_MAGIC, version, m->node,
                      m->boot, (unsigned long long)m->id);
    } else {
        if (!bus_hex_valid(m->to_boot, strlen(m->to_boot)))
            return -1;
        hl = snprintf(head, sizeof head, "%s%d %s %s %s %llu\n%s\n", ROUTE_MAGIC, version,
                      type_names[m->type], m->node, m->boot, (unsigned long long)m->id, m->to_boot);
    }
    if (hl < 0 || (size_t)hl >= sizeof head)
        return -1;
    size_t ev_len = strlen(m->event);
    size_t total = (size_t)hl + m->body_len;
    if (m->type == ROUTE_REQ)
        total += m->user_len + 1 + ev_len + 1;
    if (total > ROUTE_MAX_MESSAGE)
        return -1;
    char *b = malloc(total + 1);
    if (!b)
        return -1;
    size_t k = (size_t)hl;
    memcpy(b, head, k);
    if (m->type == ROUTE_REQ) {
        if (m->user_len)
            memcpy(b + k, m->user, m->user_len);
        k += m->user_len;
        b[k++] = '\n';
        memcpy(b + k, m->event, ev_len);
        k += ev_len;
        b[k++] = '\n';
    }
    memcpy(b + k, m->body, m->body_len);
    k += m->body_len;
    b[k] = '\0';
    *out = b;
    *out_len = k;
    return 0;
}

/* ---- a shipped part -------------------------------------------------------- */

/* An id the store takes: 1..max bytes (0..max when `empty_ok`), no
 * control bytes, valid UTF-8 (the store itself allows other bytes, but
 * nothing the server writes has them). */
static int ship_id(const cJSON *v, size_t max, int empty_ok)
{
    if (!cJSON_IsString(v))
        return 0;
    size_t n = strlen(v->valuestring);
    if ((!empty_ok && n == 0) || n > max || !utf8_valid(v->valuestring, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v->valuestring[i];
        if (ch < 0x20 || ch == 0x7f)
            return 0;
    }
    return 1;
}

/* A whole number 0 <= x < 2^53 (what a JSON number holds exactly). */
static int ship_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740991.0 ||
        (double)(uint64_t)v->valuedouble != v->valuedouble)
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static int ship_b64(const cJSON *v, size_t max, uint8_t **out, size_t *out_len)
{
    if (!cJSON_IsString(v))
        return 0;
    size_t n = strlen(v->valuestring);
    size_t cap = base64_decoded_max(n);
    if (cap > max + 3)
        return 0;
    uint8_t *b = malloc(cap ? cap : 1);
    if (!b || base64_decode(v->valuestring, n, 0, b, cap ? cap : 1, out_len) != 0 ||
        *out_len > max) {
        free(b);
        return 0;
    }
    *out = b;
    return 1;
}

void route_ship_free(struct route_ship *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nops; i++)
        free(s->ops[i].data);
    free(s->ops);
    free(s->acl);
    free(s->meta);
    free(s->seqs);
    free(s->base_state);
    cJSON_Delete(s->json);
    memset(s, 0, sizeof *s);
}

static const char *const role_words[] = {NULL, "viewer", "editor", "owner"};

/* [["user","role"],...] into a calloc'd array (*out, *n; strings into the
 * tree). Returns NULL or what is wrong (*out freed by the caller). */
static const char *acl_list_parse(const cJSON *acl, struct route_ship_acl **out, size_t *n)
{
    int count = cJSON_GetArraySize(acl);
    if (!cJSON_IsArray(acl) || count > ROUTE_SHIP_ACL_MAX)
        return "acl";
    *out = calloc((size_t)count + 1, sizeof **out);
    if (!*out)
        return "out of memory";
    const cJSON *e;
    cJSON_ArrayForEach(e, acl)
    {
        const cJSON *u = cJSON_GetArrayItem(e, 0), *r = cJSON_GetArrayItem(e, 1);
        int role = -1;
        if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(r))
            role = name_index(role_words, 4, r->valuestring, strlen(r->valuestring));
        if (role < 1 || !ship_id(u, STORE_USER_ID_MAX, 0))
            return "acl entry";
        (*out)[*n].user = u->valuestring;
        (*out)[(*n)++].role = role;
    }
    return NULL;
}

void route_acl_free(struct route_acl *a)
{
    if (!a)
        return;
    free(a->acl);
    cJSON_Delete(a->json);
    memset(a, 0, sizeof *a);
}

int route_acl_parse(const char *body, size_t len, struct route_acl *out, const char **why)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    out->json = j;
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(j, "documentId");
    const char *bad = NULL;
    if (!cJSON_IsObject(j))
        bad = "not a JSON object";
    else if (!ship_id(doc, STORE_DOC_ID_MAX, 0))
        bad = "documentId";
    else
        bad = acl_list_parse(cJSON_GetObjectItemCaseSensitive(j, "acl"), &out->acl, &out->nacl);
    if (bad) {
        route_acl_free(out);
        *why = bad;
        return -1;
    }
    out->doc = doc->valuestring;
    return 0;
}

static int ship_fail(struct route_ship *s, const char **why, const char *text)
{
    route_ship_free(s);
    *why = text;
    return -1;
}

/* 64 hex digits (either case) into 32 bytes. */
static int ship_sha(const cJSON *v, uint8_t out[32])
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 64)
        return 0;
    for (int i = 0; i < 32; i++) {
        int hi = hex_digit(v->valuestring[2 * i]), lo = hex_digit(v->valuestring[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

/* The base object of a part: whole in versions 1 and 2; in version 3 its
 * header and first bytes in part 1, then bytes at an offset. */
static const char *ship_base(const cJSON *base, int version, struct route_ship *out)
{
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(base, "size");
    const cJSON *offset = cJSON_GetObjectItemCaseSensitive(base, "offset");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(base, "sha256");
    const cJSON *bv = cJSON_GetObjectItemCaseSensitive(base, "version");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(base, "ts");
    uint64_t u = 0;
    if (!cJSON_IsObject(base))
        return "base";
    if (version < 3) {
        if (out->part != 1 || size || offset || sha)
            return "base";
    } else if (out->part == 1) {
        if (!ship_u64(size, &u) || u == 0 || u > ROUTE_SHIP_BASE_MAX ||
            !ship_sha(sha, out->base_sha256))
            return "base size or sha256";
        out->base_size = (size_t)u;
        out->base_hashed = 1;
        if (!ship_u64(offset, &u) || u != 0)
            return "base offset";
    } else {
        /* A later part: the next bytes only. */
        if (size || sha || bv || ts || !ship_u64(offset, &u) || u >= ROUTE_SHIP_BASE_MAX)
            return "base offset";
        out->base_offset = (size_t)u;
    }
    if (out->part == 1) {
        if (!ship_u64(bv, &out->base_version) || !ship_u64(ts, &out->base_ts) ||
            out->base_version == 0 || out->base_version > out->head)
            return "base";
        out->has_base = 1;
    }
    if (!ship_b64(cJSON_GetObjectItemCaseSensitive(base, "state"), ROUTE_MAX_MESSAGE,
                  &out->base_state, &out->base_len))
        return "base state";
    if (version < 3)
        out->base_size = out->base_len;
    else if (out->base_len == 0 || out->base_offset + out->base_len > ROUTE_SHIP_BASE_MAX ||
             (out->part == 1 && out->base_len > out->base_size))
        return "base bytes past its size";
    out->has_chunk = 1;
    return NULL;
}

int route_ship_parse(const char *body, size_t len, int version, uint64_t next_version,
                     struct route_ship *out, const char **why)
{
    memset(out, 0, sizeof *out);
    cJSON *j = cJSON_ParseWithLength(body, len);
    out->json = j;
    if (!cJSON_IsObject(j))
        return ship_fail(out, why, "not a JSON object");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(j, "documentId");
    if (!ship_id(doc, STORE_DOC_ID_MAX, 0))
        return ship_fail(out, why, "documentId");
    out->doc = doc->valuestring;
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(j, "last");
    if (!ship_u64(cJSON_GetObjectItemCaseSensitive(j, "part"), &out->part) || out->part == 0 ||
        !ship_u64(cJSON_GetObjectItemCaseSensitive(j, "head"), &out->head) || !cJSON_IsBool(last))
        return ship_fail(out, why, "part, head or last");
    out->last = cJSON_IsTrue(last);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
    const cJSON *acl = cJSON_GetObjectItemCaseSensitive(j, "acl");
    if (out->part != 1 && (meta || acl))
        return ship_fail(out, why, "meta and acl belong to part 1");
    if (meta && !ship_b64(meta, STORE_META_MAX, &out->meta, &out->meta_len))
        return ship_fail(out, why, "meta");
    if (acl) {
        const char *bad = acl_list_parse(acl, &out->acl, &out->nacl);
        if (bad)
            return ship_fail(out, why, bad);
    }
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(j, "base");
    if (base) {
        const char *bad = ship_base(base, version, out);
        if (bad)
            return ship_fail(out, why, bad);
        if (out->has_base)
            next_version = out->base_version + 1;
    }
    /* A part 1 whose base is not whole carries no op and is not the last. */
    int base_open = out->has_base && out->base_len < out->base_size;
    const cJSON *seqs = cJSON_GetObjectItemCaseSensitive(j, "seqs");
    if (seqs) {
        int ns = cJSON_GetArraySize(seqs);
        if (!cJSON_IsArray(seqs) || ns > ROUTE_SHIP_SEQS_MAX)
            return ship_fail(out, why, "seqs");
        out->seqs = calloc((size_t)ns + 1, sizeof *out->seqs);
        if (!out->seqs)
            return ship_fail(out, why, "out of memory");
        const cJSON *e;
        cJSON_ArrayForEach(e, seqs)
        {
            struct route_ship_seq *q = &out->seqs[out->nseqs];
            if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 4 ||
                !ship_id(cJSON_GetArrayItem(e, 0), STORE_CLIENT_ID_MAX, 0) ||
                !ship_u64(cJSON_GetArrayItem(e, 1), &q->seq) ||
                !ship_u64(cJSON_GetArrayItem(e, 2), &q->version) || q->version > out->head ||
                !ship_id(cJSON_GetArrayItem(e, 3), STORE_USER_ID_MAX, 1))
                return ship_fail(out, why, "seqs entry");
            q->client = cJSON_GetArrayItem(e, 0)->valuestring;
            q->owner = cJSON_GetArrayItem(e, 3)->valuestring;
            out->nseqs++;
        }
    }
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(j, "ops");
    int n = cJSON_GetArraySize(ops);
    if (!cJSON_IsArray(ops) || n > ROUTE_SHIP_OPS_MAX)
        return ship_fail(out, why, "ops");
    if (base_open && (n > 0 || out->last))
        return ship_fail(out, why, "ops or the last part before the base is whole");
    out->ops = calloc((size_t)n + 1, sizeof *out->ops);
    if (!out->ops)
        return ship_fail(out, why, "out of memory");
    uint64_t expect = next_version;
    const cJSON *e;
    cJSON_ArrayForEach(e, ops)
    {
        struct route_ship_op *op = &out->ops[out->nops];
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 6 ||
            !ship_u64(cJSON_GetArrayItem(e, 0), &op->version) ||
            !ship_u64(cJSON_GetArrayItem(e, 1), &op->ts_ms) ||
            !ship_u64(cJSON_GetArrayItem(e, 2), &op->seq) ||
            !ship_id(cJSON_GetArrayItem(e, 3), STORE_USER_ID_MAX, 0) ||
            !ship_id(cJSON_GetArrayItem(e, 4), STORE_CLIENT_ID_MAX, 1))
            return ship_fail(out, why, "op");
        if (op->version != expect || op->version > out->head)
            return ship_fail(out, why, "op versions out of order");
        if (!ship_b64(cJSON_GetArrayItem(e, 5), ROUTE_MAX_MESSAGE, &op->data, &op->len))
            return ship_fail(out, why, "op update");
        op->user = cJSON_GetArrayItem(e, 3)->valuestring;
        op->client = cJSON_GetArrayItem(e, 4)->valuestring;
        out->nops++;
        expect++;
    }
    if (out->last && expect != out->head + 1)
        return ship_fail(out, why, "the last part does not end at head");
    return 0;
}
