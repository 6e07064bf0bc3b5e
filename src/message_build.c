/* message_build: the server -> client frame builders of message.h. Each
 * builder writes into one growing buffer that starts with `headroom` zero
 * bytes (LWS_PRE), so the server can hand the payload to lws_write without
 * a copy and share one frame among all subscribers. */
#include "message.h"
#include "message_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- builders ---- */

struct jb {
    unsigned char *p;
    size_t len, cap;
    int oom;
};

static void jb_init(struct jb *b, size_t headroom, size_t hint)
{
    b->cap = headroom + hint + 1;
    b->p = malloc(b->cap);
    b->oom = !b->p;
    b->len = headroom;
    if (b->p)
        memset(b->p, 0, headroom);
}

static int jb_grow(struct jb *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap * 2;
    while (cap < b->len + extra + 1)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void jb_raw(struct jb *b, const void *s, size_t n)
{
    if (jb_grow(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void jb_lit(struct jb *b, const char *s)
{
    jb_raw(b, s, strlen(s));
}

static void jb_uint(struct jb *b, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%lld", v);
    jb_raw(b, num, (size_t)n);
}

/* Appends `s` as a JSON string literal. Invalid UTF-8 becomes U+FFFD so the
 * frame is always a valid text message. */
static void jb_str(struct jb *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (jb_grow(b, n + 2) < 0)
        return;
    b->p[b->len++] = '"';
    for (size_t i = 0; i < n;) {
        /* Copy the longest run of plain ASCII in one go. */
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\')
            run++;
        if (run > i) {
            jb_raw(b, u + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t k = message_utf8_seq(u + i, n - i);
            if (k == 0) {
                jb_raw(b, "\xef\xbf\xbd", 3);
                i++;
            } else {
                jb_raw(b, u + i, k);
                i += k;
            }
            continue;
        }
        char esc[8];
        const char *out = esc;
        size_t on = 2;
        switch (c) {
        case '"':
            out = "\\\"";
            break;
        case '\\':
            out = "\\\\";
            break;
        case '\n':
            out = "\\n";
            break;
        case '\r':
            out = "\\r";
            break;
        case '\t':
            out = "\\t";
            break;
        case '\b':
            out = "\\b";
            break;
        case '\f':
            out = "\\f";
            break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                on = 6;
            } else {
                esc[0] = (char)c;
                on = 1;
            }
        }
        jb_raw(b, out, on);
        i++;
    }
    jb_raw(b, "\"", 1);
}

static void jb_cstr(struct jb *b, const char *s)
{
    jb_str(b, s ? s : "", s ? strlen(s) : 0);
}

static int jb_finish(struct jb *b, size_t headroom, struct message_frame *out)
{
    if (b->oom || jb_grow(b, 0) < 0) {
        free(b->p);
        memset(out, 0, sizeof *out);
        return MESSAGE_ENOMEM;
    }
    b->p[b->len] = '\0';
    out->alloc = b->p;
    out->headroom = headroom;
    out->len = b->len - headroom;
    return MESSAGE_OK;
}

/* Appends the contents of inner (headroom 0) as a JSON string; frees inner. */
static void jb_inner_as_string(struct jb *b, struct jb *inner)
{
    if (inner->oom) {
        b->oom = 1;
    } else {
        jb_str(b, (const char *)inner->p, inner->len);
    }
    free(inner->p);
}

void message_frame_free(struct message_frame *f)
{
    if (!f)
        return;
    free(f->alloc);
    memset(f, 0, sizeof *f);
}

int message_frame_from(size_t headroom, const void *payload, size_t len, struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, len);
    jb_raw(&b, payload, len);
    return jb_finish(&b, headroom, out);
}

int message_build_connection_established(size_t headroom, const char *socket_id,
                                         unsigned activity_timeout, struct message_frame *out)
{
    struct jb in, b;
    jb_init(&in, 0, 64);
    jb_lit(&in, "{\"socket_id\":");
    jb_cstr(&in, socket_id);
    jb_lit(&in, ",\"activity_timeout\":");
    jb_uint(&in, activity_timeout);
    jb_lit(&in, "}");
    jb_init(&b, headroom, 128);
    jb_lit(&b, "{\"event\":\"pusher:connection_established\",\"data\":");
    jb_inner_as_string(&b, &in);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_error(size_t headroom, int code, const char *msg, struct message_frame *out)
{
    struct jb in, b;
    jb_init(&in, 0, 64);
    jb_lit(&in, "{\"code\":");
    if (code < 0)
        jb_lit(&in, "null");
    else
        jb_uint(&in, code);
    jb_lit(&in, ",\"message\":");
    jb_cstr(&in, msg);
    jb_lit(&in, "}");
    jb_init(&b, headroom, 128);
    jb_lit(&b, "{\"event\":\"pusher:error\",\"data\":");
    jb_inner_as_string(&b, &in);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

static int build_literal(size_t headroom, const char *text, struct message_frame *out)
{
    return message_frame_from(headroom, text, strlen(text), out);
}

int message_build_ping(size_t headroom, struct message_frame *out)
{
    return build_literal(headroom, "{\"event\":\"pusher:ping\"}", out);
}

int message_build_pong(size_t headroom, struct message_frame *out)
{
    return build_literal(headroom, "{\"event\":\"pusher:pong\"}", out);
}

int message_build_subscription_succeeded(size_t headroom, const char *channel,
                                         const char *data_json, struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, 128);
    jb_lit(&b, "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":");
    jb_cstr(&b, data_json ? data_json : "{}");
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_presence_succeeded(size_t headroom, const char *channel,
                                     const struct message_presence_member *members, size_t n,
                                     struct message_frame *out)
{
    struct jb in, b;
    jb_init(&in, 0, 64 + n * 32);
    jb_lit(&in, "{\"presence\":{\"count\":");
    jb_uint(&in, (long long)n);
    jb_lit(&in, ",\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            jb_lit(&in, ",");
        jb_cstr(&in, members[i].user_id);
    }
    jb_lit(&in, "],\"hash\":{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            jb_lit(&in, ",");
        jb_cstr(&in, members[i].user_id);
        jb_lit(&in, ":");
        jb_lit(&in, members[i].user_info ? members[i].user_info : "null");
    }
    jb_lit(&in, "}}}");
    jb_init(&b, headroom, in.len * 2 + 128);
    jb_lit(&b, "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":");
    jb_inner_as_string(&b, &in);
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_member_added(size_t headroom, const char *channel, const char *user_id,
                               const char *user_info, struct message_frame *out)
{
    struct jb in, b;
    jb_init(&in, 0, 64);
    jb_lit(&in, "{\"user_id\":");
    jb_cstr(&in, user_id);
    if (user_info) {
        jb_lit(&in, ",\"user_info\":");
        jb_lit(&in, user_info);
    }
    jb_lit(&in, "}");
    jb_init(&b, headroom, in.len * 2 + 128);
    jb_lit(&b, "{\"event\":\"pusher_internal:member_added\",\"data\":");
    jb_inner_as_string(&b, &in);
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_member_removed(size_t headroom, const char *channel, const char *user_id,
                                 struct message_frame *out)
{
    struct jb in, b;
    jb_init(&in, 0, 64);
    jb_lit(&in, "{\"user_id\":");
    jb_cstr(&in, user_id);
    jb_lit(&in, "}");
    jb_init(&b, headroom, 128);
    jb_lit(&b, "{\"event\":\"pusher_internal:member_removed\",\"data\":");
    jb_inner_as_string(&b, &in);
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_cache_miss(size_t headroom, const char *channel, struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, 64);
    jb_lit(&b, "{\"event\":\"pusher:cache_miss\",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_app_event(size_t headroom, const char *event, const char *data, size_t data_len,
                            const char *channel, struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, data_len + data_len / 8 + 64);
    jb_lit(&b, "{\"event\":");
    jb_cstr(&b, event);
    jb_lit(&b, ",\"data\":");
    jb_str(&b, data ? data : "", data ? data_len : 0);
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_client_event(size_t headroom, const char *event, const char *channel,
                               const char *data_raw, size_t data_raw_len, const char *user_id,
                               struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, data_raw_len + 96);
    jb_lit(&b, "{\"event\":");
    jb_cstr(&b, event);
    jb_lit(&b, ",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, ",\"data\":");
    if (data_raw && data_raw_len)
        jb_raw(&b, data_raw, data_raw_len);
    else
        jb_lit(&b, "null");
    if (user_id) {
        jb_lit(&b, ",\"user_id\":");
        jb_cstr(&b, user_id);
    }
    jb_lit(&b, "}");
    return jb_finish(&b, headroom, out);
}

int message_build_signin_success(size_t headroom, const char *user_data, size_t user_data_len,
                                 struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, user_data_len + 96);
    jb_lit(&b, "{\"event\":\"pusher:signin_success\",\"data\":{\"user_data\":");
    jb_str(&b, user_data ? user_data : "", user_data ? user_data_len : 0);
    jb_lit(&b, "}}");
    return jb_finish(&b, headroom, out);
}

int message_build_subscription_error(size_t headroom, const char *channel, const char *type,
                                     const char *error, int status, struct message_frame *out)
{
    struct jb b;
    jb_init(&b, headroom, 160);
    jb_lit(&b, "{\"event\":\"pusher:subscription_error\",\"channel\":");
    jb_cstr(&b, channel);
    jb_lit(&b, ",\"data\":{\"type\":");
    jb_cstr(&b, type);
    jb_lit(&b, ",\"error\":");
    jb_cstr(&b, error);
    jb_lit(&b, ",\"status\":");
    jb_uint(&b, status);
    jb_lit(&b, "}}");
    return jb_finish(&b, headroom, out);
}

int message_json_quote(const char *s, size_t len, char **out)
{
    struct jb b;
    jb_init(&b, 0, len + 8);
    jb_str(&b, s ? s : "", s ? len : 0);
    if (b.oom || jb_grow(&b, 0) < 0) {
        free(b.p);
        *out = NULL;
        return MESSAGE_ENOMEM;
    }
    b.p[b.len] = '\0';
    *out = (char *)b.p;
    return (int)b.len;
}
