/* message_build: the server -> client frame builders of message.h. Each
 * builder writes into one growing buffer that starts with `headroom` zero
 * bytes (LWS_PRE), so the server can hand the payload to lws_write without
 * a copy and share one frame among all subscribers. */
#include "message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

/* A builder's buffer: `headroom` zero bytes, then the JSON text. */
static void build_init(struct jsonw *b, size_t headroom, size_t hint)
{
    jsonw_init(b, NULL, headroom + hint);
    jsonw_zero(b, headroom);
}

static int build_finish(struct jsonw *b, size_t headroom, struct message_frame *out)
{
    size_t len = 0;
    char *p = jsonw_take(b, &len);
    if (!p) {
        memset(out, 0, sizeof *out);
        return MESSAGE_ENOMEM;
    }
    out->alloc = (unsigned char *)p;
    out->headroom = headroom;
    out->len = len - headroom;
    return MESSAGE_OK;
}

/* Appends the text of `inner` (no headroom) as a JSON string; frees inner. */
static void build_inner_as_string(struct jsonw *b, struct jsonw *inner)
{
    if (inner->oom)
        b->oom = 1;
    else
        jsonw_str(b, inner->p, inner->len);
    jsonw_free(inner);
}

void message_frame_free(struct message_frame *f)
{
    if (!f)
        return;
    free(f->alloc);
    memset(f, 0, sizeof *f);
}

struct frame *message_frame_adopt(struct message_frame *mf)
{
    if (!mf || !mf->alloc || mf->headroom != MESSAGE_FRAME_HEADROOM || mf->len > FRAME_MAX_LEN)
        return NULL;
    struct frame *f = (struct frame *)(void *)mf->alloc;
    f->refs = 1;
    f->len = (uint32_t)mf->len;
    f->alt = NULL;
    mf->alloc = NULL;
    mf->len = 0;
    return f;
}

int message_frame_from(size_t headroom, const void *payload, size_t len, struct message_frame *out)
{
    struct jsonw b;
    build_init(&b, headroom, len);
    jsonw_raw(&b, payload, len);
    return build_finish(&b, headroom, out);
}

int message_build_connection_established(size_t headroom, const char *socket_id,
                                         unsigned activity_timeout, struct message_frame *out)
{
    struct jsonw in, b;
    build_init(&in, 0, 64);
    jsonw_lit(&in, "{\"socket_id\":");
    jsonw_cstr(&in, socket_id);
    jsonw_lit(&in, ",\"activity_timeout\":");
    jsonw_i64(&in, activity_timeout);
    jsonw_lit(&in, "}");
    build_init(&b, headroom, 128);
    jsonw_lit(&b, "{\"event\":\"pusher:connection_established\",\"data\":");
    build_inner_as_string(&b, &in);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_error(size_t headroom, int code, const char *msg, struct message_frame *out)
{
    struct jsonw in, b;
    build_init(&in, 0, 64);
    jsonw_lit(&in, "{\"code\":");
    if (code < 0)
        jsonw_lit(&in, "null");
    else
        jsonw_i64(&in, code);
    jsonw_lit(&in, ",\"message\":");
    jsonw_cstr(&in, msg);
    jsonw_lit(&in, "}");
    build_init(&b, headroom, 128);
    jsonw_lit(&b, "{\"event\":\"pusher:error\",\"data\":");
    build_inner_as_string(&b, &in);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
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
    struct jsonw b;
    build_init(&b, headroom, 128);
    jsonw_lit(&b, "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":");
    jsonw_cstr(&b, data_json ? data_json : "{}");
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_presence_succeeded(size_t headroom, const char *channel,
                                     const struct message_presence_member *members, size_t n,
                                     struct message_frame *out)
{
    struct jsonw in, b;
    build_init(&in, 0, 64 + n * 32);
    jsonw_lit(&in, "{\"presence\":{\"count\":");
    jsonw_i64(&in, (long long)n);
    jsonw_lit(&in, ",\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            jsonw_lit(&in, ",");
        jsonw_cstr(&in, members[i].user_id);
    }
    jsonw_lit(&in, "],\"hash\":{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            jsonw_lit(&in, ",");
        jsonw_cstr(&in, members[i].user_id);
        jsonw_lit(&in, ":");
        jsonw_lit(&in, members[i].user_info ? members[i].user_info : "null");
    }
    jsonw_lit(&in, "}}}");
    build_init(&b, headroom, in.len * 2 + 128);
    jsonw_lit(&b, "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":");
    build_inner_as_string(&b, &in);
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_member_added(size_t headroom, const char *channel, const char *user_id,
                               const char *user_info, struct message_frame *out)
{
    struct jsonw in, b;
    build_init(&in, 0, 64);
    jsonw_lit(&in, "{\"user_id\":");
    jsonw_cstr(&in, user_id);
    if (user_info) {
        jsonw_lit(&in, ",\"user_info\":");
        jsonw_lit(&in, user_info);
    }
    jsonw_lit(&in, "}");
    build_init(&b, headroom, in.len * 2 + 128);
    jsonw_lit(&b, "{\"event\":\"pusher_internal:member_added\",\"data\":");
    build_inner_as_string(&b, &in);
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_member_removed(size_t headroom, const char *channel, const char *user_id,
                                 struct message_frame *out)
{
    struct jsonw in, b;
    build_init(&in, 0, 64);
    jsonw_lit(&in, "{\"user_id\":");
    jsonw_cstr(&in, user_id);
    jsonw_lit(&in, "}");
    build_init(&b, headroom, 128);
    jsonw_lit(&b, "{\"event\":\"pusher_internal:member_removed\",\"data\":");
    build_inner_as_string(&b, &in);
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_cache_miss(size_t headroom, const char *channel, struct message_frame *out)
{
    struct jsonw b;
    build_init(&b, headroom, 64);
    jsonw_lit(&b, "{\"event\":\"pusher:cache_miss\",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_app_event(size_t headroom, const char *event, const char *data, size_t data_len,
                            const char *channel, struct message_frame *out)
{
    struct jsonw b;
    /* Room for the usual case at once: JSON data escapes about one byte in
     * five (its quotes), and the names and keys come on top. */
    build_init(&b, headroom, data_len + data_len / 4 + strlen(event) + strlen(channel) + 64);
    jsonw_lit(&b, "{\"event\":");
    jsonw_cstr(&b, event);
    jsonw_lit(&b, ",\"data\":");
    jsonw_str(&b, data ? data : "", data ? data_len : 0);
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_client_event(size_t headroom, const char *event, const char *channel,
                               const char *data_raw, size_t data_raw_len, const char *user_id,
                               struct message_frame *out)
{
    struct jsonw b;
    build_init(&b, headroom, data_raw_len + 96);
    jsonw_lit(&b, "{\"event\":");
    jsonw_cstr(&b, event);
    jsonw_lit(&b, ",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, ",\"data\":");
    if (data_raw && data_raw_len)
        jsonw_raw(&b, data_raw, data_raw_len);
    else
        jsonw_lit(&b, "null");
    if (user_id) {
        jsonw_lit(&b, ",\"user_id\":");
        jsonw_cstr(&b, user_id);
    }
    jsonw_lit(&b, "}");
    return build_finish(&b, headroom, out);
}

int message_build_signin_success(size_t headroom, const char *user_data, size_t user_data_len,
                                 struct message_frame *out)
{
    struct jsonw b;
    build_init(&b, headroom, user_data_len + 96);
    jsonw_lit(&b, "{\"event\":\"pusher:signin_success\",\"data\":{\"user_data\":");
    jsonw_str(&b, user_data ? user_data : "", user_data ? user_data_len : 0);
    jsonw_lit(&b, "}}");
    return build_finish(&b, headroom, out);
}

int message_build_subscription_error(size_t headroom, const char *channel, const char *type,
                                     const char *error, int status, struct message_frame *out)
{
    struct jsonw b;
    build_init(&b, headroom, 160);
    jsonw_lit(&b, "{\"event\":\"pusher:subscription_error\",\"channel\":");
    jsonw_cstr(&b, channel);
    jsonw_lit(&b, ",\"data\":{\"type\":");
    jsonw_cstr(&b, type);
    jsonw_lit(&b, ",\"error\":");
    jsonw_cstr(&b, error);
    jsonw_lit(&b, ",\"status\":");
    jsonw_i64(&b, status);
    jsonw_lit(&b, "}}");
    return build_finish(&b, headroom, out);
}

int message_json_quote(const char *s, size_t len, char **out)
{
    struct jsonw b;
    jsonw_init(&b, NULL, len + 8);
    jsonw_str(&b, s ? s : "", s ? len : 0);
    size_t n = 0;
    *out = jsonw_take(&b, &n);
    return *out ? (int)n : MESSAGE_ENOMEM;
}
