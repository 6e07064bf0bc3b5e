/* message: see message.h.
 *
 * Parsing runs in two passes: a strict RFC 8259 validator of our own (depth,
 * UTF-8, NUL, lone surrogates; it also finds the raw span of the top-level
 * "data" value), then cJSON on input known to be well-formed and shallow.
 * cJSON therefore never recurses deeper than max_depth. */
#include "message.h"

#include "json_check.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_BYTES 10000
#define DEFAULT_MAX_DEPTH 32
#define DEFAULT_MAX_USER_ID 128
#define DEFAULT_MAX_USER_INFO 1024

struct message {
    cJSON *root;       /* the whole frame */
    cJSON *decoded;    /* data decoded from a JSON string, owned; NULL otherwise */
    const cJSON *data; /* borrowed from root or decoded; NULL when absent/null */
    const char *event; /* borrowed from root */
    const char *channel;
    char *data_raw; /* copy of the raw data value, NUL-terminated */
    size_t data_raw_len;
};

/* ---- limits ---- */

static struct message_limits effective_limits(const struct message_limits *in)
{
    struct message_limits l = {0, 0, 0, 0};
    if (in)
        l = *in;
    if (!l.max_bytes)
        l.max_bytes = DEFAULT_MAX_BYTES;
    if (l.max_depth <= 0)
        l.max_depth = DEFAULT_MAX_DEPTH;
    if (l.max_depth > JSON_CHECK_MAX_DEPTH)
        l.max_depth = JSON_CHECK_MAX_DEPTH;
    if (!l.max_user_id)
        l.max_user_id = DEFAULT_MAX_USER_ID;
    if (!l.max_user_info)
        l.max_user_info = DEFAULT_MAX_USER_INFO;
    return l;
}

/* ---- duplicate keys ---- */

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Members up to which names are compared pairwise, without an allocation:
 * every frame's top level and `data` object have a handful (a submit's data
 * has four), and the malloc and qsort per object were a fiftieth of the
 * event loop's time under durable edits. At most 120 comparisons. */
#define DUPKEY_PAIRWISE_MAX 16

/* 1 when object `o` has two members with the same name. */
static int has_duplicate_keys(const cJSON *o)
{
    if (!cJSON_IsObject(o))
        return 0;
    size_t n = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        n++;
    if (n < 2)
        return 0;
    if (n <= DUPKEY_PAIRWISE_MAX) {
        const char *few[DUPKEY_PAIRWISE_MAX];
        size_t k = 0;
        for (const cJSON *c = o->child; c; c = c->next)
            few[k++] = c->string ? c->string : "";
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(few[i], few[j]) == 0)
                    return 1;
        return 0;
    }
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return 1; /* refuse rather than guess */
    size_t i = 0;
    for (const cJSON *c = o->child; c; c = c->next)
        names[i++] = c->string ? c->string : "";
    qsort(names, n, sizeof *names, cmp_str_ptr);
    int dup = 0;
    for (i = 1; i < n && !dup; i++)
        dup = strcmp(names[i - 1], names[i]) == 0;
    free(names);
    return dup;
}

/* Validates and parses `len` bytes into a cJSON tree. */
static int parse_json(const char *buf, size_t len, int max_depth, struct json_scan *s, cJSON **out)
{
    *out = NULL;
    int rc = json_check_document(buf, len, max_depth, s);
    if (rc)
        return rc;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root)
        return MESSAGE_ENOMEM; /* input is valid JSON: only allocation can fail */
    *out = root;
    return 0;
}

/* ---- parse ---- */

int message_parse(const char *buf, size_t len, const struct message_limits *limits, message **out)
{
    *out = NULL;
    struct message_limits lim = effective_limits(limits);
    if (len > lim.max_bytes)
        return MESSAGE_ETOOBIG;
    if (!buf || len == 0)
        return MESSAGE_EINVALID;

    struct json_scan s;
    cJSON *root;
    int rc = parse_json(buf, len, lim.max_depth, &s, &root);
    if (rc)
        return rc;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return MESSAGE_EINVALID;
    }
    if (has_duplicate_keys(root)) {
        cJSON_Delete(root);
        return MESSAGE_EDUPKEY;
    }
    message *m = calloc(1, sizeof *m);
    if (!m) {
        cJSON_Delete(root);
        return MESSAGE_ENOMEM;
    }
    m->root = root;
    const cJSON *event = cJSON_GetObjectItemCaseSensitive(root, "event");
    const cJSON *channel = cJSON_GetObjectItemCaseSensitive(root, "channel");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    rc = MESSAGE_OK;
    if (!cJSON_IsString(event) || !event->valuestring[0]) {
        rc = MESSAGE_EINVALID;
    } else if (channel && !cJSON_IsNull(channel) && !cJSON_IsString(channel)) {
        rc = MESSAGE_EINVALID;
    }
    if (rc == MESSAGE_OK) {
        m->event = event->valuestring;
        m->channel = cJSON_IsString(channel) ? channel->valuestring : NULL;
        if (data && s.have_data) {
            m->data_raw_len = s.data_end - s.data_start;
            m->data_raw = malloc(m->data_raw_len + 1);
            if (!m->data_raw) {
                rc = MESSAGE_ENOMEM;
            } else {
                memcpy(m->data_raw, buf + s.data_start, m->data_raw_len);
                m->data_raw[m->data_raw_len] = '\0';
            }
        }
    }
    if (rc == MESSAGE_OK && data && !cJSON_IsNull(data)) {
        m->data = data;
        if (cJSON_IsString(data)) {
            /* Reverb: a string that parses as JSON is decoded first. */
            struct json_scan s2;
            cJSON *decoded = NULL;
            size_t dlen = strlen(data->valuestring);
            if (dlen > 0 &&
                parse_json(data->valuestring, dlen, lim.max_depth, &s2, &decoded) == 0) {
                m->decoded = decoded;
                m->data = cJSON_IsNull(decoded) ? NULL : decoded;
            }
        }
        if (m->data && has_duplicate_keys(m->data))
            rc = MESSAGE_EDUPKEY;
    }
    if (rc != MESSAGE_OK) {
        message_free(m);
        return rc;
    }
    *out = m;
    return MESSAGE_OK;
}

void message_free(message *m)
{
    if (!m)
        return;
    cJSON_Delete(m->root);
    cJSON_Delete(m->decoded);
    free(m->data_raw);
    free(m);
}

const char *message_event(const message *m)
{
    return m->event;
}

enum message_kind message_kind_of(const message *m)
{
    if (strncmp(m->event, "pusher:", 7) == 0)
        return MESSAGE_KIND_PUSHER;
    if (strncmp(m->event, "client-", 7) == 0)
        return MESSAGE_KIND_CLIENT;
    return MESSAGE_KIND_OTHER;
}

const char *message_channel(const message *m)
{
    return m->channel;
}

const cJSON *message_data(const message *m)
{
    return m->data;
}

const char *message_data_raw(const message *m, size_t *len)
{
    *len = m->data_raw_len;
    return m->data_raw;
}

/* A string member (NULL when absent or null); -1 on a wrong type. */
static int get_opt_string(const cJSON *obj, const char *name, const char **out, size_t *len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    *len = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    *len = strlen(v->valuestring);
    return 0;
}

int message_subscribe_get(const message *m, struct message_subscribe *out)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(m->data))
        return MESSAGE_EINVALID;
    size_t clen;
    if (get_opt_string(m->data, "channel", &out->channel, &clen) < 0 || !out->channel || clen == 0)
        return MESSAGE_EINVALID;
    if (get_opt_string(m->data, "auth", &out->auth, &out->auth_len) < 0)
        return MESSAGE_EINVALID;
    if (get_opt_string(m->data, "channel_data", &out->channel_data, &out->channel_data_len) < 0)
        return MESSAGE_EINVALID;
    if (out->channel_data && out->channel_data_len == 0)
        out->channel_data = NULL;
    return MESSAGE_OK;
}

int message_signin_get(const message *m, struct message_signin *out)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(m->data))
        return MESSAGE_EINVALID;
    if (get_opt_string(m->data, "auth", &out->auth, &out->auth_len) < 0 || !out->auth_len ||
        get_opt_string(m->data, "user_data", &out->user_data, &out->user_data_len) < 0 ||
        !out->user_data_len)
        return MESSAGE_EINVALID;
    return MESSAGE_OK;
}

/* ---- members ---- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

/* Shared decoding of channel_data (id key "user_id") and user_data ("id"). */
static int member_decode(const char *text, size_t len, const struct message_limits *limits,
                         const char *id_key, struct message_member *out)
{
    memset(out, 0, sizeof *out);
    struct message_limits lim = effective_limits(limits);
    if (!text || len == 0)
        return MESSAGE_EINVALID;
    if (len > lim.max_bytes)
        return MESSAGE_ETOOBIG;
    struct json_scan s;
    cJSON *root;
    int rc = parse_json(text, len, lim.max_depth, &s, &root);
    if (rc)
        return rc;
    rc = MESSAGE_OK;
    char idbuf[32];
    const char *id = NULL;
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(root, id_key);
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "user_info");
    if (!cJSON_IsObject(root)) {
        rc = MESSAGE_EINVALID;
    } else if (has_duplicate_keys(root)) {
        rc = MESSAGE_EDUPKEY;
    } else if (cJSON_IsString(idv) && idv->valuestring[0]) {
        id = idv->valuestring;
    } else if (cJSON_IsNumber(idv)) {
        double v = idv->valuedouble;
        if (!isfinite(v) || v != floor(v) || fabs(v) > 9007199254740992.0) {
            rc = MESSAGE_EINVALID;
        } else {
            snprintf(idbuf, sizeof idbuf, "%lld", (long long)v);
            id = idbuf;
        }
    } else {
        rc = MESSAGE_EINVALID;
    }
    if (rc == MESSAGE_OK && strlen(id) > lim.max_user_id)
        rc = MESSAGE_ELIMIT;
    if (rc == MESSAGE_OK) {
        out->user_id = dup_str(id);
        if (!out->user_id)
            rc = MESSAGE_ENOMEM;
    }
    if (rc == MESSAGE_OK && info && !cJSON_IsNull(info)) {
        out->user_info = cJSON_PrintUnformatted(info);
        if (!out->user_info)
            rc = MESSAGE_ENOMEM;
        else if (strlen(out->user_info) > lim.max_user_info)
            rc = MESSAGE_ELIMIT;
    }
    cJSON_Delete(root);
    if (rc != MESSAGE_OK)
        message_member_free(out);
    return rc;
}

int message_member_decode(const char *channel_data, size_t len, const struct message_limits *limits,
                          struct message_member *out)
{
    return member_decode(channel_data, len, limits, "user_id", out);
}

int message_user_data_decode(const char *user_data, size_t len, const struct message_limits *limits,
                             struct message_member *out)
{
    return member_decode(user_data, len, limits, "id", out);
}

void message_member_free(struct message_member *mb)
{
    if (!mb)
        return;
    free(mb->user_id);
    if (mb->user_info)
        cJSON_free(mb->user_info);
    mb->user_id = NULL;
    mb->user_info = NULL;
}

const char *message_strerror(int code)
{
    switch (code) {
    case MESSAGE_OK:
        return "ok";
    case MESSAGE_EINVALID:
        return "invalid message format";
    case MESSAGE_ETOOBIG:
        return "message too big";
    case MESSAGE_EDEPTH:
        return "JSON nested too deeply";
    case MESSAGE_ENUL:
        return "NUL byte in message";
    case MESSAGE_EUTF8:
        return "invalid UTF-8 in message";
    case MESSAGE_EDUPKEY:
        return "duplicate JSON key";
    case MESSAGE_ELIMIT:
        return "user id or user info over its limit";
    case MESSAGE_ENOMEM:
        return "out of memory";
    }
    return "unknown message error";
}

/* ---- codes ---- */

enum message_band message_code_band(int code)
{
    if (code < 4000)
        return MESSAGE_BAND_RECONNECT_1S;
    if (code == 4000)
        return MESSAGE_BAND_TLS;
    if (code < 4100)
        return MESSAGE_BAND_REFUSED;
    if (code < 4200)
        return MESSAGE_BAND_BACKOFF;
    if (code < 4300)
        return MESSAGE_BAND_RECONNECT_NOW;
    return MESSAGE_BAND_REFUSED;
}

const char *message_code_text(int code)
{
    switch (code) {
    case PUSHER_APP_NOT_FOUND:
        return "Application does not exist";
    case PUSHER_OVER_QUOTA:
        return "Application is over connection quota";
    case PUSHER_UNAUTHORIZED:
        return "Connection is unauthorized";
    case PUSHER_OVER_CAPACITY:
        return "Over capacity";
    case PUSHER_GENERIC:
        return "Invalid message format";
    case PUSHER_PONG_TIMEOUT:
        return "Pong reply not received in time";
    case PUSHER_INACTIVE:
        return "Closed after inactivity";
    case PUSHER_CLIENT_EVENT_LIMIT:
        return "Rate limit exceeded";
    }
    return "";
}
