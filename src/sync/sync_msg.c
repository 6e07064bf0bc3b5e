/* Parsing of document sync requests. See sync_msg.h. */
#include "sync_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "pusher/json_check.h"

static const char *EVENTS[] = {"docsync:submit", "docsync:replace", "docsync:catchup",
                               "docsync:history"};

int sync_msg_op_from_event(const char *event)
{
    for (int i = 0; i < 4; i++)
        if (event && strcmp(event, EVENTS[i]) == 0)
            return i;
    return -1;
}

const char *sync_msg_op_event(enum sync_op op)
{
    return (unsigned)op < 4 ? EVENTS[op] : "docsync:?";
}

static int chars_ok(const char *s, size_t max, const char *extra)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(extra, c)))
            return 0;
        if (n >= max)
            return 0;
    }
    return n > 0;
}

int sync_msg_doc_id_valid(const char *id)
{
    return id && chars_ok(id, SYNC_DOC_ID_MAX, "_-=@,.;");
}

int sync_msg_client_id_valid(const char *id)
{
    return id && chars_ok(id, SYNC_CLIENT_ID_MAX, "_-.:@");
}

static const cJSON *field(const cJSON *data, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(data, name);
}

static int copy_string(const cJSON *v, char *dst, size_t cap)
{
    if (!cJSON_IsString(v))
        return -1;
    size_t n = strlen(v->valuestring);
    if (n >= cap)
        return -1;
    memcpy(dst, v->valuestring, n + 1);
    return 0;
}

void sync_msg_clear(struct sync_request *r)
{
    free(r->update);
    free(r->content);
    memset(r, 0, sizeof *r);
}

void sync_msg_ids(const cJSON *data, struct sync_request *out)
{
    const cJSON *rid = cJSON_IsObject(data) ? field(data, "requestId") : NULL;
    uint64_t n;
    if (cJSON_IsNumber(rid) && json_u64(rid, &n) == 0)
        snprintf(out->request_id, sizeof out->request_id, "%llu", (unsigned long long)n);
    else if (rid && (copy_string(rid, out->request_id, sizeof out->request_id) != 0 ||
                     !sync_msg_client_id_valid(out->request_id)))
        out->request_id[0] = '\0';
    const cJSON *doc = cJSON_IsObject(data) ? field(data, "documentId") : NULL;
    if (doc &&
        (copy_string(doc, out->doc, sizeof out->doc) != 0 || !sync_msg_doc_id_valid(out->doc)))
        out->doc[0] = '\0';
}

/* Decodes a submit's base64 `update` (n characters) into out->update under
 * max_update (0 = no limit): 0, or SYNC_MSG_E* with *why naming the problem.
 * Both readers of a submit (sync_msg_parse, sync_msg_submit_frame) go
 * through it, so they refuse the same updates. */
static int update_decode(const char *s, size_t n, size_t max_update, struct sync_request *out,
                         const char **why)
{
    size_t cap = base64_decoded_max(n);
    if (max_update && cap > max_update + 3) {
        *why = "update is too large";
        return SYNC_MSG_ETOOBIG;
    }
    out->update = malloc(cap ? cap : 1);
    if (!out->update) {
        *why = "out of memory";
        return SYNC_MSG_ENOMEM;
    }
    if (base64_decode(s, n, 0, out->update, cap, &out->update_len) != 0) {
        *why = "update is not valid base64";
        return SYNC_MSG_EINVAL;
    }
    if (out->update_len == 0) {
        *why = "update is empty";
        return SYNC_MSG_EINVAL;
    }
    if (max_update && out->update_len > max_update) {
        *why = "update is too large";
        return SYNC_MSG_ETOOBIG;
    }
    return 0;
}

#define FAIL(code, text)                                                                           \
    do {                                                                                           \
        rc = (code);                                                                               \
        msg = (text);                                                                              \
        goto fail;                                                                                 \
    } while (0)

int sync_msg_parse(enum sync_op op, const cJSON *data, size_t max_update, size_t max_content,
                   struct sync_request *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->op = op;
    int rc = 0;
    const char *msg = NULL;
    if (!cJSON_IsObject(data))
        FAIL(SYNC_MSG_EINVAL, "data must be a JSON object");
    const cJSON *rid = field(data, "requestId");
    if (rid) {
        if (cJSON_IsNumber(rid)) {
            uint64_t n;
            if (json_u64(rid, &n) != 0)
                FAIL(SYNC_MSG_EINVAL, "requestId must be a string or a non-negative integer");
            snprintf(out->request_id, sizeof out->request_id, "%llu", (unsigned long long)n);
        } else if (copy_string(rid, out->request_id, sizeof out->request_id) != 0 ||
                   !sync_msg_client_id_valid(out->request_id)) {
            FAIL(SYNC_MSG_EINVAL, "requestId must be 1-64 characters of A-Z a-z 0-9 _ - . : @");
        }
    }
    if (copy_string(field(data, "documentId"), out->doc, sizeof out->doc) != 0 ||
        !sync_msg_doc_id_valid(out->doc))
        FAIL(SYNC_MSG_EINVAL, "documentId must be 1-128 characters of A-Z a-z 0-9 _ - = @ , . ;");
    const cJSON *client = field(data, "clientId");
    if (client || op == SYNC_OP_SUBMIT) {
        if (op == SYNC_OP_CATCHUP || op == SYNC_OP_HISTORY) {
            /* ignored */
        } else if (copy_string(client, out->client, sizeof out->client) != 0 ||
                   !sync_msg_client_id_valid(out->client)) {
            FAIL(SYNC_MSG_EINVAL, "clientId must be 1-64 characters of A-Z a-z 0-9 _ - . : @");
        }
    }
    switch (op) {
    case SYNC_OP_SUBMIT: {
        if (json_u64(field(data, "seq"), &out->seq) != 0 || out->seq == 0)
            FAIL(SYNC_MSG_EINVAL, "seq must be an integer from 1 to 2^53-1");
        const cJSON *u = field(data, "update");
        if (!cJSON_IsString(u))
            FAIL(SYNC_MSG_EINVAL, "update must be a base64 string");
        if ((rc = update_decode(u->valuestring, strlen(u->valuestring), max_update, out, &msg)))
            goto fail;
        break;
    }
    case SYNC_OP_REPLACE: {
        if (json_u64(field(data, "baseVersion"), &out->base_version) != 0)
            FAIL(SYNC_MSG_EINVAL, "baseVersion must be a non-negative integer");
        const cJSON *seq = field(data, "seq");
        if (seq && (json_u64(seq, &out->seq) != 0 || out->seq == 0))
            FAIL(SYNC_MSG_EINVAL, "seq must be an integer from 1 to 2^53-1");
        if (out->seq && !out->client[0])
            FAIL(SYNC_MSG_EINVAL, "seq needs a clientId");
        const cJSON *c = field(data, "content");
        if (!cJSON_IsString(c))
            FAIL(SYNC_MSG_EINVAL, "content must be a string");
        size_t n = strlen(c->valuestring);
        if (max_content && n > max_content)
            FAIL(SYNC_MSG_ETOOBIG, "content is too large");
        out->content = malloc(n + 1);
        if (!out->content)
            FAIL(SYNC_MSG_ENOMEM, "out of memory");
        memcpy(out->content, c->valuestring, n + 1);
        out->content_len = n;
        break;
    }
    case SYNC_OP_CATCHUP: {
        const cJSON *e = field(data, "epoch");
        if (e && !cJSON_IsNull(e)) {
            if (copy_string(e, out->epoch, sizeof out->epoch) != 0)
                FAIL(SYNC_MSG_EINVAL, "epoch must be the 32 hex characters the server sent");
            for (const char *p = out->epoch; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                      (*p >= 'A' && *p <= 'F')))
                    FAIL(SYNC_MSG_EINVAL, "epoch must be the 32 hex characters the server sent");
        }
        if (json_u64(field(data, "version"), &out->version) != 0)
            FAIL(SYNC_MSG_EINVAL, "version must be a non-negative integer");
        const cJSON *m = field(data, "merge");
        if (m && !cJSON_IsBool(m) && !cJSON_IsNull(m))
            FAIL(SYNC_MSG_EINVAL, "merge must be true or false");
        out->merge = cJSON_IsTrue(m);
        break;
    }
    case SYNC_OP_HISTORY:
        if (json_u64(field(data, "version"), &out->version) != 0)
            FAIL(SYNC_MSG_EINVAL, "version must be a non-negative integer");
        break;
    default:
        FAIL(SYNC_MSG_EINVAL, "unknown operation");
    }
    if (why)
        *why = NULL;
    return 0;
fail:;
    /* Keep what identifies the request, so the refusal can be correlated. */
    char doc[SYNC_DOC_ID_MAX + 1], reqid[SYNC_REQUEST_ID_MAX + 1];
    memcpy(doc, out->doc, sizeof doc);
    memcpy(reqid, out->request_id, sizeof reqid);
    sync_msg_clear(out);
    out->op = op;
    if (sync_msg_doc_id_valid(doc))
        memcpy(out->doc, doc, sizeof doc);
    if (sync_msg_client_id_valid(reqid))
        memcpy(out->request_id, reqid, sizeof reqid);
    if (why)
        *why = msg;
    return rc;
}

/* ---- docsync:submit straight from the frame ---------------------------- */

/* Reading position in a frame. */
struct scan {
    const char *p, *end;
};

static int take(struct scan *s, const char *lit, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

#define TAKE(s, lit) take((s), (lit), sizeof(lit) - 1)

/* The bytes of a string up to its closing quote, which is consumed. The
 * caller checks them: every byte it accepts needs no escape in JSON, so the
 * bytes are the string's value. */
static int take_span(struct scan *s, const char **at, size_t *n)
{
    if (!TAKE(s, "\""))
        return 0;
    const char *q = memchr(s->p, '"', (size_t)(s->end - s->p));
    if (!q)
        return 0;
    *at = s->p;
    *n = (size_t)(q - s->p);
    s->p = q + 1;
    return 1;
}

/* A string that `valid` accepts, copied into dst (cap bytes with the NUL). */
static int take_id(struct scan *s, int (*valid)(const char *), char *dst, size_t cap)
{
    const char *at;
    size_t n;
    if (!take_span(s, &at, &n) || n >= cap)
        return 0;
    memcpy(dst, at, n);
    dst[n] = '\0';
    /* a NUL inside would cut the id short where `valid` looks */
    return strlen(dst) == n && valid(dst);
}

/* An integer written as JSON writes it (no sign, fraction, exponent or
 * leading zero) and at most 2^53 - 1, the integers json_u64 takes from a
 * number. */
static int take_uint(struct scan *s, uint64_t *out)
{
    const char *q = s->p;
    uint64_t x = 0;
    size_t n = 0;
    for (; q < s->end && *q >= '0' && *q <= '9'; q++) {
        if (++n > 16)
            return 0;
        x = x * 10 + (uint64_t)(*q - '0');
    }
    if (n == 0 || (n > 1 && *s->p == '0') || x > (uint64_t)JSON_INT_MAX)
        return 0;
    s->p = q;
    *out = x;
    return 1;
}

/* The update: base64 with the standard alphabet, decoded as sync_msg_parse
 * decodes it. base64_decode refuses every byte outside that alphabet, which
 * holds no byte JSON escapes or forbids in a string. */
static int take_update(struct scan *s, size_t max_update, struct sync_request *out)
{
    const char *at, *why;
    size_t n;
    return take_span(s, &at, &n) && !memchr(at, '\\', n) &&
           update_decode(at, n, max_update, out, &why) == 0;
}

/* The keys of the data members, each with its bit in `seen`. */
#define KEY(name)                                                                                  \
    {                                                                                              \
        "\"" name "\":", sizeof(name) + 2                                                          \
    }
static const struct {
    const char *text;
    size_t len;
} KEYS[] = {KEY("documentId"), KEY("clientId"), KEY("seq"), KEY("update"), KEY("requestId")};
#undef KEY
enum { K_DOC, K_CLIENT, K_SEQ, K_UPDATE, K_REQUEST, K_COUNT };

static int take_value(struct scan *s, int k, size_t max_update, struct sync_request *out)
{
    uint64_t v;
    switch (k) {
    case K_DOC:
        return take_id(s, sync_msg_doc_id_valid, out->doc, sizeof out->doc);
    case K_CLIENT:
        return take_id(s, sync_msg_client_id_valid, out->client, sizeof out->client);
    case K_SEQ:
        return take_uint(s, &out->seq) && out->seq > 0;
    case K_UPDATE:
        return take_update(s, max_update, out);
    default:
        if (s->p < s->end && *s->p == '"')
            return take_id(s, sync_msg_client_id_valid, out->request_id, sizeof out->request_id);
        if (!take_uint(s, &v))
            return 0;
        snprintf(out->request_id, sizeof out->request_id, "%llu", (unsigned long long)v);
        return 1;
    }
}

static int take_data(struct scan *s, size_t max_update, struct sync_request *out)
{
    unsigned seen = 0;
    if (!TAKE(s, "{"))
        return 0;
    do {
        int k = 0;
        while (k < K_COUNT && !take(s, KEYS[k].text, KEYS[k].len))
            k++;
        /* A repeated member is refused before its value is read (a second
         * update would replace the first). */
        if (k == K_COUNT || (seen & 1u << k) || !take_value(s, k, max_update, out))
            return 0;
        seen |= 1u << k;
    } while (TAKE(s, ","));
    unsigned required = 1u << K_DOC | 1u << K_CLIENT | 1u << K_SEQ | 1u << K_UPDATE;
    return TAKE(s, "}") && (seen & required) == required;
}

int sync_msg_submit_frame(const char *buf, size_t len, size_t max_update, struct sync_request *out)
{
    memset(out, 0, sizeof *out);
    out->op = SYNC_OP_SUBMIT;
    struct scan s = {buf, buf + len};
    int event = 0, data = 0, ok = TAKE(&s, "{");
    while (ok) {
        if (!event && TAKE(&s, "\"event\":\"docsync:submit\""))
            event = 1;
        else if (!data && TAKE(&s, "\"data\":"))
            ok = data = take_data(&s, max_update, out);
        else
            ok = 0;
        if (ok && !TAKE(&s, ","))
            break;
    }
    if (ok && event && data && TAKE(&s, "}") && s.p == s.end)
        return 1;
    sync_msg_clear(out);
    return 0;
}
