/* Unit tests of message.h: parsing of pusher-js frames and hostile input
 * (deep nesting, huge keys, duplicate keys, NUL bytes, oversize), presence/user data decoding, and
 * the exact bytes of every builder. */
#include "pusher/json_check.h"
#include "pusher/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

static int parse(const char *s, message **m)
{
    return message_parse(s, strlen(s), NULL, m);
}

/* Parses and frees, returning the code. */
static int code_of(const char *s)
{
    message *m = NULL;
    int rc = parse(s, &m);
    message_free(m);
    return rc;
}

static void test_pusher_js_frames(void)
{
    message *m = NULL;
    struct message_subscribe sub;

    CHECK_EQ(
        parse("{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"\",\"channel\":\"news\"}}", &m),
        MESSAGE_OK);
    CHECK_STR_EQ(message_event(m), "pusher:subscribe");
    CHECK_EQ(message_kind_of(m), MESSAGE_KIND_PUSHER);
    CHECK(message_channel(m) == NULL);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_OK);
    CHECK_STR_EQ(sub.channel, "news");
    CHECK_STR_EQ(sub.auth, "");
    CHECK_EQ(sub.auth_len, 0);
    CHECK(sub.channel_data == NULL);
    message_free(m);

    const char *presence =
        "{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"k:abc\",\"channel_data\":"
        "\"{\\\"user_id\\\":\\\"1\\\",\\\"user_info\\\":{\\\"name\\\":\\\"A\\\"}}\","
        "\"channel\":\"presence-x\"}}";
    CHECK_EQ(parse(presence, &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_OK);
    CHECK_STR_EQ(sub.channel, "presence-x");
    CHECK_STR_EQ(sub.auth, "k:abc");
    CHECK_EQ(sub.auth_len, 5);
    CHECK_STR_EQ(sub.channel_data, "{\"user_id\":\"1\",\"user_info\":{\"name\":\"A\"}}");
    CHECK_EQ(sub.channel_data_len, strlen(sub.channel_data));
    message_free(m);

    /* data as a JSON string is accepted like an object */
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":\"{\\\"channel\\\":\\\"a\\\"}\"}", &m),
             MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_OK);
    CHECK_STR_EQ(sub.channel, "a");
    CHECK(sub.auth == NULL);
    size_t raw_len;
    const char *raw = message_data_raw(m, &raw_len);
    CHECK(raw && raw_len == strlen("\"{\\\"channel\\\":\\\"a\\\"}\"") &&
          memcmp(raw, "\"{\\\"channel\\\":\\\"a\\\"}\"", raw_len) == 0);
    message_free(m);

    /* auth:null is treated as absent */
    CHECK_EQ(
        parse("{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":null,\"channel\":\"private-x\"}}",
              &m),
        MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_OK);
    CHECK(sub.auth == NULL);
    message_free(m);

    /* unsubscribe, ping, pong */
    CHECK_EQ(parse("{\"event\":\"pusher:unsubscribe\",\"data\":{\"channel\":\"x\"}}", &m),
             MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_OK);
    CHECK_STR_EQ(sub.channel, "x");
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:ping\",\"data\":{}}", &m), MESSAGE_OK);
    CHECK_STR_EQ(message_event(m), "pusher:ping");
    CHECK(cJSON_IsObject(message_data(m)));
    message_free(m);

    /* signin */
    CHECK_EQ(parse("{\"event\":\"pusher:signin\",\"data\":{\"auth\":\"k:s\",\"user_data\":\"{"
                   "\\\"id\\\":\\\"1\\\"}\"}}",
                   &m),
             MESSAGE_OK);
    struct message_signin si;
    CHECK_EQ(message_signin_get(m, &si), MESSAGE_OK);
    CHECK_STR_EQ(si.auth, "k:s");
    CHECK_STR_EQ(si.user_data, "{\"id\":\"1\"}");
    CHECK_EQ(si.user_data_len, 10);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:signin\",\"data\":{\"auth\":\"k:s\"}}", &m), MESSAGE_OK);
    CHECK_EQ(message_signin_get(m, &si), MESSAGE_EINVALID);
    message_free(m);

    /* client event: data raw kept byte for byte, incl. whitespace */
    const char *whisper = "{\"event\":\"client-typing\",\"data\": { \"name\" : \"A\\u00e9\" "
                          ",\"n\":[1,2.5e3]} ,\"channel\":\"private-chat\"}";
    CHECK_EQ(parse(whisper, &m), MESSAGE_OK);
    CHECK_EQ(message_kind_of(m), MESSAGE_KIND_CLIENT);
    CHECK_STR_EQ(message_channel(m), "private-chat");
    raw = message_data_raw(m, &raw_len);
    const char *want = "{ \"name\" : \"A\\u00e9\" ,\"n\":[1,2.5e3]}";
    CHECK_EQ(raw_len, strlen(want));
    CHECK(raw && memcmp(raw, want, raw_len) == 0);
    message_free(m);

    /* "data" key written with an escape is still found */
    CHECK_EQ(parse("{\"event\":\"client-a\",\"d\\u0061ta\":[1],\"channel\":\"c\"}", &m),
             MESSAGE_OK);
    raw = message_data_raw(m, &raw_len);
    CHECK(raw && raw_len == 3 && memcmp(raw, "[1]", 3) == 0);
    message_free(m);

    /* no data: raw is NULL */
    CHECK_EQ(parse("{\"event\":\"client-a\",\"channel\":\"c\"}", &m), MESSAGE_OK);
    CHECK(message_data_raw(m, &raw_len) == NULL);
    CHECK_EQ(raw_len, 0);
    CHECK(message_data(m) == NULL);
    message_free(m);

    /* data string that is not JSON stays a string */
    CHECK_EQ(parse("{\"event\":\"client-a\",\"data\":\"hello\",\"channel\":\"c\"}", &m),
             MESSAGE_OK);
    CHECK(cJSON_IsString(message_data(m)));
    message_free(m);

    /* kinds */
    CHECK_EQ(parse("{\"event\":\"pusher_internal:member_added\",\"data\":{}}", &m), MESSAGE_OK);
    CHECK_EQ(message_kind_of(m), MESSAGE_KIND_OTHER);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"foo\"}", &m), MESSAGE_OK);
    CHECK_EQ(message_kind_of(m), MESSAGE_KIND_OTHER);
    message_free(m);
    /* pusher:unknown parses (the server answers 4200) */
    CHECK_EQ(parse("{\"event\":\"pusher:unknown\",\"data\":{}}", &m), MESSAGE_OK);
    CHECK_EQ(message_kind_of(m), MESSAGE_KIND_PUSHER);
    message_free(m);
}

static void test_invalid(void)
{
    /* an unknown pusher: event parses too */
    CHECK_EQ(code_of("not json"), MESSAGE_EINVALID);
    CHECK_EQ(code_of("{\"data\":{}}"), MESSAGE_EINVALID);
    CHECK_EQ(code_of("{\"event\":1}"), MESSAGE_EINVALID);
    CHECK_EQ(code_of("{\"event\":\"\"}"), MESSAGE_EINVALID);
    CHECK_EQ(code_of("{\"event\":null}"), MESSAGE_EINVALID);
    CHECK_EQ(code_of("{\"event\":\"x\",\"channel\":5}"), MESSAGE_EINVALID);
    message *m = NULL;
    struct message_subscribe sub;
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":{\"auth\":\"\"}}", &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"\"}}", &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":5}}", &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"x\",\"auth\":5}}", &m),
             MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(
        parse("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"x\",\"channel_data\":{}}}",
              &m),
        MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\"}", &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);
    CHECK_EQ(parse("{\"event\":\"pusher:subscribe\",\"data\":\"not json\"}", &m), MESSAGE_OK);
    CHECK_EQ(message_subscribe_get(m, &sub), MESSAGE_EINVALID);
    message_free(m);

    /* grammar */
    const char *bad[] = {
        "",
        " ",
        "[]",
        "\"x\"",
        "1",
        "null",
        "{",
        "{\"event\"",
        "{\"event\":}",
        "{\"event\":\"a\",}",
        "{\"event\":\"a\"} x",
        "{\"event\":\"a\",\"n\":NaN}",
        "{\"event\":\"a\",\"n\":Infinity}",
        "{\"event\":\"a\",\"n\":01}",
        "{\"event\":\"a\",\"n\":1.}",
        "{\"event\":\"a\",\"n\":-}",
        "{\"event\":\"a\",\"n\":.5}",
        "{\"event\":\"a\",\"n\":tru}",
        "{\"event\":\"a\",'x':1}",
        "{\"event\":\"a\\x\"}",
        "{\"event\":\"a\\u12\"}",
        "{\"event\":\"a\tb\"}",
        "{event:\"a\"}",
        "{\"event\":\"a\",\"n\":[1,]}",
        "{\"event\":\"a\"}}",
        "{\"event\":\"a\" \"b\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = code_of(bad[i]);
        if (rc >= 0)
            fprintf(stderr, "accepted bad input %zu: %s\n", i, bad[i]);
        CHECK(rc < 0);
    }
    CHECK_EQ(message_parse(NULL, 0, NULL, &m), MESSAGE_EINVALID);
    CHECK(m == NULL);
}

static void test_hostile(void)
{
    message *m = NULL;
    char *buf = malloc(20000);

    /* Hostile input: nesting 32 deep passes (default limit), 33 fails; depth counts
     * the top-level object as 1. */
    for (int depth = 31; depth <= 34; depth++) {
        size_t n = 0;
        n += (size_t)sprintf(buf + n, "{\"event\":\"client-x\",\"data\":");
        for (int i = 0; i < depth - 1; i++)
            buf[n++] = '[';
        for (int i = 0; i < depth - 1; i++)
            buf[n++] = ']';
        buf[n++] = '}';
        int rc = message_parse(buf, n, NULL, &m);
        CHECK_EQ(rc, depth <= 32 ? MESSAGE_OK : MESSAGE_EDEPTH);
        message_free(m);
    }
    /* 100000-deep nesting is refused without recursion blowing up */
    {
        size_t n = 100000;
        char *deep = malloc(n);
        memset(deep, '[', n);
        CHECK_EQ(message_parse(deep, n, &(struct message_limits){.max_bytes = n}, &m),
                 MESSAGE_EDEPTH);
        free(deep);
    }
    /* a string data that decodes to something too deep stays a string */
    CHECK_EQ(parse("{\"event\":\"client-x\",\"data\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]"
                   "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\"}",
                   &m),
             MESSAGE_OK);
    CHECK(cJSON_IsString(message_data(m)));
    message_free(m);

    /* Hostile input: 1500-character keys are fine */
    {
        size_t n = (size_t)sprintf(buf, "{\"event\":\"client-x\",\"data\":{\"");
        memset(buf + n, 'k', 1500);
        n += 1500;
        n += (size_t)sprintf(buf + n, "\":1},\"");
        memset(buf + n, 'j', 1500);
        n += 1500;
        n += (size_t)sprintf(buf + n, "\":2}");
        CHECK_EQ(message_parse(buf, n, NULL, &m), MESSAGE_OK);
        message_free(m);
    }

    /* Hostile input: duplicate keys at the top level and in data */
    {
        /* Objects of up to 16 members are compared pairwise, larger ones
         * sorted: both ways, with and without a duplicate. */
        for (int members = 15; members <= 18; members++) {
            for (int dup = 0; dup <= 1; dup++) {
                char f[1024];
                int len = snprintf(f, sizeof f, "{\"event\":\"client-x\",\"data\":{");
                for (int k = 0; k < members; k++)
                    len += snprintf(f + len, sizeof f - (size_t)len, "%s\"k%d\":%d", k ? "," : "",
                                    dup && k == members - 1 ? 0 : k, k);
                snprintf(f + len, sizeof f - (size_t)len, "}}");
                CHECK_EQ(code_of(f), dup ? MESSAGE_EDUPKEY : MESSAGE_OK);
            }
        }
    }
    CHECK_EQ(code_of("{\"event\":\"client-x\",\"event\":\"pusher:ping\"}"), MESSAGE_EDUPKEY);
    CHECK_EQ(code_of("{\"event\":\"client-x\",\"channel\":\"a\",\"channel\":\"b\"}"),
             MESSAGE_EDUPKEY);
    CHECK_EQ(code_of("{\"event\":\"client-x\",\"data\":1,\"d\\u0061ta\":2}"), MESSAGE_EDUPKEY);
    CHECK_EQ(code_of("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"a\",\"channel\":"
                     "\"private-b\"}}"),
             MESSAGE_EDUPKEY);
    CHECK_EQ(code_of("{\"event\":\"pusher:subscribe\",\"data\":\"{\\\"channel\\\":\\\"a\\\","
                     "\\\"channel\\\":\\\"b\\\"}\"}"),
             MESSAGE_EDUPKEY);
    /* deeper duplicates are relayed data, not interpreted: allowed */
    CHECK_EQ(code_of("{\"event\":\"client-x\",\"data\":{\"a\":{\"b\":1,\"b\":2}}}"), MESSAGE_OK);

    /* Hostile input: NUL bytes, raw or escaped */
    CHECK_EQ(message_parse("{\"event\":\"a\0\"}", 13, NULL, &m), MESSAGE_ENUL);
    CHECK_EQ(message_parse("{\"event\":\"a\"}\0", 14, NULL, &m), MESSAGE_ENUL);
    CHECK_EQ(code_of("{\"event\":\"a\\u0000b\"}"), MESSAGE_ENUL);
    CHECK_EQ(code_of("{\"event\":\"client-a\",\"data\":{\"k\\u0000\":1}}"), MESSAGE_ENUL);
    /* an escaped backslash followed by u0000 is just text */
    CHECK_EQ(code_of("{\"event\":\"a\\\\u0000b\"}"), MESSAGE_OK);

    /* Hostile input: 10 KB + 1 with the default limit; exactly 10000 passes */
    {
        size_t n = (size_t)sprintf(buf, "{\"event\":\"client-x\",\"data\":\"");
        size_t fill = 10000 - n - 2;
        memset(buf + n, 'x', fill);
        n += fill;
        buf[n++] = '"';
        buf[n++] = '}';
        CHECK_EQ(n, 10000);
        CHECK_EQ(message_parse(buf, n, NULL, &m), MESSAGE_OK);
        message_free(m);
        memmove(buf + 30, buf + 29, n - 29);
        n++;
        CHECK_EQ(message_parse(buf, n, NULL, &m), MESSAGE_ETOOBIG);
        CHECK(m == NULL);
        struct message_limits big = {.max_bytes = 20000};
        CHECK_EQ(message_parse(buf, n, &big, &m), MESSAGE_OK);
        message_free(m);
    }

    /* UTF-8 */
    CHECK_EQ(code_of("{\"event\":\"client-\xc3\xa9\"}"), MESSAGE_OK);     /* é */
    CHECK_EQ(code_of("{\"event\":\"\xf0\x9f\x98\x80\"}"), MESSAGE_OK);    /* emoji */
    CHECK_EQ(code_of("{\"event\":\"\xc3\"}"), MESSAGE_EUTF8);             /* truncated */
    CHECK_EQ(code_of("{\"event\":\"\xc0\xaf\"}"), MESSAGE_EUTF8);         /* overlong */
    CHECK_EQ(code_of("{\"event\":\"\xe0\x80\xaf\"}"), MESSAGE_EUTF8);     /* overlong */
    CHECK_EQ(code_of("{\"event\":\"\xed\xa0\x80\"}"), MESSAGE_EUTF8);     /* U+D800 */
    CHECK_EQ(code_of("{\"event\":\"\xf4\x90\x80\x80\"}"), MESSAGE_EUTF8); /* > U+10FFFF */
    CHECK_EQ(code_of("{\"event\":\"\xff\"}"), MESSAGE_EUTF8);
    CHECK_EQ(code_of("{\"event\":\"\\ud800\"}"), MESSAGE_EUTF8);             /* lone high */
    CHECK_EQ(code_of("{\"event\":\"\\udc00\"}"), MESSAGE_EUTF8);             /* lone low */
    CHECK_EQ(code_of("{\"event\":\"\\ud83d\\ude00\"}"), MESSAGE_OK);         /* pair */
    CHECK_EQ(code_of("{\"event\":\"a\",\"x\":\xc3\xa9}"), MESSAGE_EINVALID); /* outside string */

    /* a long number is refused before cJSON sees it */
    {
        size_t n = (size_t)sprintf(buf, "{\"event\":\"a\",\"n\":");
        memset(buf + n, '1', 100);
        n += 100;
        buf[n++] = '}';
        CHECK_EQ(message_parse(buf, n, NULL, &m), MESSAGE_EINVALID);
    }
    free(buf);
}

static void test_members(void)
{
    struct message_member mb;
    const char *cd = "{\"user_id\":\"1\",\"user_info\":{\"name\":\"A\"}}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "1");
    CHECK_STR_EQ(mb.user_info, "{\"name\":\"A\"}");
    message_member_free(&mb);
    CHECK(mb.user_id == NULL);

    /* Presence ids: 1 and "1" are the same id */
    cd = "{\"user_id\":1}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "1");
    CHECK(mb.user_info == NULL);
    message_member_free(&mb);
    cd = "{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "10");
    message_member_free(&mb);
    cd = "{\"user_id\":-0,\"user_info\":null}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "0");
    CHECK(mb.user_info == NULL);
    message_member_free(&mb);
    cd = "{\"user_id\":9007199254740992}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "9007199254740992");
    message_member_free(&mb);

    const char *bad[] = {"{\"user_id\":1.5}",
                         "{\"user_id\":\"\"}",
                         "{\"user_id\":null}",
                         "{\"user_info\":{}}",
                         "{\"user_id\":[1]}",
                         "[1]",
                         "\"1\"",
                         "{\"user_id\":1e300}",
                         "{\"user_id\":true}",
                         "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = message_member_decode(bad[i], strlen(bad[i]), NULL, &mb);
        if (rc != MESSAGE_EINVALID)
            fprintf(stderr, "member %zu \"%s\" gave %d\n", i, bad[i], rc);
        CHECK_EQ(rc, MESSAGE_EINVALID);
        CHECK(mb.user_id == NULL && mb.user_info == NULL);
    }
    cd = "{\"user_id\":\"1\",\"user_id\":\"2\"}";
    CHECK_EQ(message_member_decode(cd, strlen(cd), NULL, &mb), MESSAGE_EDUPKEY);
    CHECK_EQ(message_member_decode("", 0, NULL, &mb), MESSAGE_EINVALID);

    /* limits: 128-char id passes, 129 fails; user_info 1024 passes, 1025 fails */
    char buf[4096];
    int n = sprintf(buf, "{\"user_id\":\"%0128d\"}", 7);
    CHECK_EQ(message_member_decode(buf, (size_t)n, NULL, &mb), MESSAGE_OK);
    CHECK_EQ(strlen(mb.user_id), 128);
    message_member_free(&mb);
    n = sprintf(buf, "{\"user_id\":\"%0129d\"}", 7);
    CHECK_EQ(message_member_decode(buf, (size_t)n, NULL, &mb), MESSAGE_ELIMIT);
    /* user_info = "xxxx...": compact JSON length = len + 2 quotes */
    n = sprintf(buf, "{\"user_id\":\"1\",\"user_info\":\"");
    memset(buf + n, 'x', 1022);
    n += 1022;
    n += sprintf(buf + n, "\"}");
    CHECK_EQ(message_member_decode(buf, (size_t)n, NULL, &mb), MESSAGE_OK);
    CHECK_EQ(strlen(mb.user_info), 1024);
    message_member_free(&mb);
    n = sprintf(buf, "{\"user_id\":\"1\",\"user_info\":\"");
    memset(buf + n, 'x', 1023);
    n += 1023;
    n += sprintf(buf + n, "\"}");
    CHECK_EQ(message_member_decode(buf, (size_t)n, NULL, &mb), MESSAGE_ELIMIT);
    struct message_limits lim = {.max_user_info = 2048, .max_user_id = 4};
    CHECK_EQ(message_member_decode(buf, (size_t)n, &lim, &mb), MESSAGE_OK);
    message_member_free(&mb);
    CHECK_EQ(message_member_decode("{\"user_id\":12345}", 17, &lim, &mb), MESSAGE_ELIMIT);

    /* sign-in user data */
    const char *ud = "{\"id\":\"12345\",\"user_info\":{\"name\":\"John\"}}";
    CHECK_EQ(message_user_data_decode(ud, strlen(ud), NULL, &mb), MESSAGE_OK);
    CHECK_STR_EQ(mb.user_id, "12345");
    CHECK_STR_EQ(mb.user_info, "{\"name\":\"John\"}");
    message_member_free(&mb);
    ud = "{\"user_id\":\"12345\"}";
    CHECK_EQ(message_user_data_decode(ud, strlen(ud), NULL, &mb), MESSAGE_EINVALID);
    message_member_free(NULL);
}

/* Checks that frame f holds exactly `want` after `headroom` zero bytes. */
static void check_frame(int rc, struct message_frame *f, size_t headroom, const char *want,
                        int line)
{
    if (rc != MESSAGE_OK) {
        fprintf(stderr, "line %d: builder failed %d\n", line, rc);
        test_failures++;
        return;
    }
    const char *got = (const char *)message_frame_payload(f);
    if (f->headroom != headroom || f->len != strlen(want) || memcmp(got, want, f->len) != 0 ||
        got[f->len] != '\0') {
        fprintf(stderr, "line %d: frame mismatch:\n  got  %.*s\n  want %s\n", line, (int)f->len,
                got, want);
        test_failures++;
    }
    for (size_t i = 0; i < headroom; i++) {
        if (f->alloc[i] != 0) {
            fprintf(stderr, "line %d: headroom not zeroed\n", line);
            test_failures++;
            break;
        }
    }
    message_frame_free(f);
    CHECK(f->alloc == NULL);
}

#define FRAME(call, hr, want)                                                                      \
    do {                                                                                           \
        struct message_frame f_;                                                                   \
        int rc_ = call;                                                                            \
        check_frame(rc_, &f_, hr, want, __LINE__);                                                 \
    } while (0)

static void test_builders(void)
{
    FRAME(message_build_connection_established(16, "123.456", 30, &f_), 16,
          "{\"event\":\"pusher:connection_established\",\"data\":\"{\\\"socket_id\\\":\\\"123."
          "456\\\",\\\"activity_timeout\\\":30}\"}");
    FRAME(message_build_error(0, 4009, "Origin not allowed", &f_), 0,
          "{\"event\":\"pusher:error\",\"data\":\"{\\\"code\\\":4009,\\\"message\\\":\\\"Origin "
          "not allowed\\\"}\"}");
    FRAME(message_build_error(0, -1, "Invalid signature: \"x\"", &f_), 0,
          "{\"event\":\"pusher:error\",\"data\":\"{\\\"code\\\":null,\\\"message\\\":\\\"Invalid "
          "signature: \\\\\\\"x\\\\\\\"\\\"}\"}");
    FRAME(message_build_ping(16, &f_), 16, "{\"event\":\"pusher:ping\"}");
    FRAME(message_build_pong(16, &f_), 16, "{\"event\":\"pusher:pong\"}");
    FRAME(message_build_subscription_succeeded(16, "test-channel", NULL, &f_), 16,
          "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{}\",\"channel\":"
          "\"test-channel\"}");
    struct message_presence_member mem[2] = {{"1", "{\"name\":\"A\"}"}, {"2", NULL}};
    FRAME(message_build_presence_succeeded(16, "presence-x", mem, 1, &f_), 16,
          "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{\\\"presence\\\":{"
          "\\\"count\\\":1,\\\"ids\\\":[\\\"1\\\"],\\\"hash\\\":{\\\"1\\\":{\\\"name\\\":\\\"A\\\"}"
          "}}}\",\"channel\":\"presence-x\"}");
    FRAME(message_build_presence_succeeded(0, "presence-x", mem, 2, &f_), 0,
          "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{\\\"presence\\\":{"
          "\\\"count\\\":2,\\\"ids\\\":[\\\"1\\\",\\\"2\\\"],\\\"hash\\\":{\\\"1\\\":{\\\"name\\\":"
          "\\\"A\\\"},\\\"2\\\":null}}}\",\"channel\":\"presence-x\"}");
    FRAME(message_build_presence_succeeded(0, "presence-x", NULL, 0, &f_), 0,
          "{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{\\\"presence\\\":{"
          "\\\"count\\\":0,\\\"ids\\\":[],\\\"hash\\\":{}}}\",\"channel\":\"presence-x\"}");
    FRAME(message_build_member_added(16, "presence-x", "2", "{\"name\":\"B\"}", &f_), 16,
          "{\"event\":\"pusher_internal:member_added\",\"data\":\"{\\\"user_id\\\":\\\"2\\\","
          "\\\"user_info\\\":{\\\"name\\\":\\\"B\\\"}}\",\"channel\":\"presence-x\"}");
    FRAME(message_build_member_added(0, "presence-x", "2", NULL, &f_), 0,
          "{\"event\":\"pusher_internal:member_added\",\"data\":\"{\\\"user_id\\\":\\\"2\\\"}\","
          "\"channel\":\"presence-x\"}");
    FRAME(message_build_member_removed(16, "presence-x", "2", &f_), 16,
          "{\"event\":\"pusher_internal:member_removed\",\"data\":\"{\\\"user_id\\\":\\\"2\\\"}\","
          "\"channel\":\"presence-x\"}");
    FRAME(message_build_cache_miss(16, "cache-x", &f_), 16,
          "{\"event\":\"pusher:cache_miss\",\"channel\":\"cache-x\"}");
    const char *d = "{\"x\":1}";
    FRAME(message_build_app_event(16, "E", d, strlen(d), "news", &f_), 16,
          "{\"event\":\"E\",\"data\":\"{\\\"x\\\":1}\",\"channel\":\"news\"}");
    d = "App\\Events\\OrderShipped";
    FRAME(message_build_app_event(0, d, "{\"id\":1}", 8, "orders", &f_), 0,
          "{\"event\":\"App\\\\Events\\\\OrderShipped\",\"data\":\"{\\\"id\\\":1}\",\"channel\":"
          "\"orders\"}");
    /* control characters, slash, non-ASCII and invalid UTF-8 in data */
    FRAME(message_build_app_event(0, "E", "a\nb\x01/\xc3\xa9\xff", 8, "c", &f_), 0,
          "{\"event\":\"E\",\"data\":\"a\\nb\\u0001/\xc3\xa9\xef\xbf\xbd\",\"channel\":\"c\"}");
    FRAME(message_build_client_event(16, "client-typing", "private-chat", "{\"name\":\"A\"}", 12,
                                     NULL, &f_),
          16,
          "{\"event\":\"client-typing\",\"channel\":\"private-chat\",\"data\":{\"name\":\"A\"}}");
    FRAME(message_build_client_event(0, "client-typing", "presence-x", "{\"a\":1}", 7, "1", &f_), 0,
          "{\"event\":\"client-typing\",\"channel\":\"presence-x\",\"data\":{\"a\":1},\"user_id\":"
          "\"1\"}");
    FRAME(message_build_client_event(0, "client-a", "c", NULL, 0, NULL, &f_), 0,
          "{\"event\":\"client-a\",\"channel\":\"c\",\"data\":null}");
    d = "{\"id\":\"1\"}";
    FRAME(message_build_signin_success(0, d, strlen(d), &f_), 0,
          "{\"event\":\"pusher:signin_success\",\"data\":{\"user_data\":\"{\\\"id\\\":\\\"1\\\"}\"}"
          "}");
    FRAME(message_build_subscription_error(0, "private-x", "AuthError",
                                           "Connection is unauthorized", 401, &f_),
          0,
          "{\"event\":\"pusher:subscription_error\",\"channel\":\"private-x\",\"data\":{\"type\":"
          "\"AuthError\",\"error\":\"Connection is unauthorized\",\"status\":401}}");
    FRAME(message_frame_from(4, "abc", 3, &f_), 4, "abc");

    char *q = NULL;
    CHECK_EQ(message_json_quote("a\"b", 3, &q), 6);
    CHECK_STR_EQ(q, "\"a\\\"b\"");
    free(q);
    message_frame_free(NULL);

    /* Round trip: a relayed client event parses back with the same data. */
    const char *in = "{\"event\":\"client-x\",\"channel\":\"c\",\"data\":{\"k\":[1,\"\\u00e9\"]}}";
    message *m = NULL;
    CHECK_EQ(message_parse(in, strlen(in), NULL, &m), MESSAGE_OK);
    size_t raw_len;
    const char *raw = message_data_raw(m, &raw_len);
    struct message_frame f;
    CHECK_EQ(
        message_build_client_event(0, message_event(m), message_channel(m), raw, raw_len, NULL, &f),
        MESSAGE_OK);
    CHECK_EQ(f.len, strlen(in));
    CHECK(memcmp(message_frame_payload(&f), in, f.len) == 0);
    message_frame_free(&f);
    message_free(m);

    /* Every builder's output parses as a message. */
    CHECK_EQ(message_build_presence_succeeded(0, "presence-x", mem, 2, &f), MESSAGE_OK);
    CHECK_EQ(message_parse((const char *)message_frame_payload(&f), f.len, NULL, &m), MESSAGE_OK);
    const cJSON *data = message_data(m);
    CHECK(cJSON_IsObject(data));
    const cJSON *pres = cJSON_GetObjectItemCaseSensitive(data, "presence");
    CHECK(cJSON_GetObjectItemCaseSensitive(pres, "count")->valueint == 2);
    message_free(m);
    message_frame_free(&f);
}

static void test_checks(void)
{
    CHECK_EQ(json_check("{\"a\":[1,2,{\"b\":null}]}", 22, 0), MESSAGE_OK);
    CHECK_EQ(json_check("\"str\"", 5, 0), MESSAGE_OK);
    CHECK_EQ(json_check("12.5e3", 6, 0), MESSAGE_OK);
    CHECK_EQ(json_check(" true ", 6, 0), MESSAGE_OK);
    CHECK_EQ(json_check("", 0, 0), MESSAGE_EINVALID);
    CHECK_EQ(json_check("{", 1, 0), MESSAGE_EINVALID);
    CHECK_EQ(json_check("[1] [2]", 7, 0), MESSAGE_EINVALID);
    CHECK_EQ(json_check("\"\xff\"", 3, 0), MESSAGE_EUTF8);
    CHECK_EQ(json_check("\"\\ud800\"", 8, 0), MESSAGE_EUTF8);
    CHECK_EQ(json_check("\"a\\u0000\"", 9, 0), MESSAGE_ENUL);
    CHECK_EQ(json_check("[[[]]]", 6, 2), MESSAGE_EDEPTH);
    CHECK_EQ(json_check("[[[]]]", 6, 3), MESSAGE_OK);
    CHECK_EQ(json_check_utf8("abc \xc3\xa9 \xf0\x9f\x98\x80", 11), MESSAGE_OK);
    CHECK_EQ(json_check_utf8("", 0), MESSAGE_OK);
    CHECK_EQ(json_check_utf8("a\0b", 3), MESSAGE_ENUL);
    CHECK_EQ(json_check_utf8("\xc0\xaf", 2), MESSAGE_EUTF8);
    CHECK_EQ(json_check_utf8("\xed\xa0\x80", 3), MESSAGE_EUTF8);
    CHECK_EQ(json_check_utf8("\xe2\x82", 2), MESSAGE_EUTF8);
}

static void test_codes(void)
{
    CHECK_EQ(message_code_band(1006), MESSAGE_BAND_RECONNECT_1S);
    CHECK_EQ(message_code_band(4000), MESSAGE_BAND_TLS);
    CHECK_EQ(message_code_band(4001), MESSAGE_BAND_REFUSED);
    CHECK_EQ(message_code_band(4009), MESSAGE_BAND_REFUSED);
    CHECK_EQ(message_code_band(4100), MESSAGE_BAND_BACKOFF);
    CHECK_EQ(message_code_band(4200), MESSAGE_BAND_RECONNECT_NOW);
    CHECK_EQ(message_code_band(4201), MESSAGE_BAND_RECONNECT_NOW);
    CHECK_EQ(message_code_band(4301), MESSAGE_BAND_REFUSED);
    CHECK_STR_EQ(message_code_text(PUSHER_GENERIC), "Invalid message format");
    CHECK_STR_EQ(message_code_text(PUSHER_APP_NOT_FOUND), "Application does not exist");
    CHECK_STR_EQ(message_code_text(PUSHER_PONG_TIMEOUT), "Pong reply not received in time");
    CHECK(strlen(message_strerror(MESSAGE_EDEPTH)) > 0);
}

int main(void)
{
    test_pusher_js_frames();
    test_invalid();
    test_hostile();
    test_members();
    test_builders();
    test_checks();
    test_codes();
    return TEST_RESULT();
}
