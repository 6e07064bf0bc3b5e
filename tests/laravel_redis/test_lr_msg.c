/* laravel_redis/lr_msg: what RedisBroadcaster publishes becomes the HTTP
 * API's event frame for the same channel, with the prefix taken off and the
 * publishing socket to skip; everything else on the prefix is refused by
 * reason; the prefix Laravel derives from APP_NAME and the PSUBSCRIBE
 * pattern are exact. */
#include <stdlib.h>
#include <string.h>

#include "laravel_redis/lr_msg.h"
#include "test.h"

#define PFX "laravel_database_"

static int dec(const char *ch, const char *payload, struct lr_msg *m)
{
    return lr_decode(ch, strlen(ch), payload, strlen(payload), PFX, 200, m);
}

static const char *frame(const struct lr_msg *m)
{
    return (const char *)message_frame_payload(&m->frame);
}

static void test_accepted(void)
{
    struct lr_msg m;
    /* As PHP's json_encode writes it: the socket twice, slashes escaped. */
    CHECK(dec(PFX "private-chat.1",
              "{\"event\":\"App\\\\Events\\\\NewMessage\",\"data\":{\"url\":\"a\\/b\","
              "\"socket\":\"123.456\"},\"socket\":\"123.456\"}",
              &m) == LR_OK);
    CHECK_STR_EQ(m.channel, "private-chat.1");
    CHECK_STR_EQ(m.socket, "123.456");
    CHECK_STR_EQ(frame(&m), "{\"event\":\"App\\\\Events\\\\NewMessage\",\"data\":\"{\\\"url\\\":"
                            "\\\"a\\\\/b\\\",\\\"socket\\\":\\\"123.456\\\"}\",\"channel\":"
                            "\"private-chat.1\"}");
    message_frame_free(&m.frame);
    /* An empty payload is [] in PHP; no socket. */
    CHECK(dec(PFX "presence-team.1", "{\"event\":\"E\",\"data\":[],\"socket\":null}", &m) == LR_OK);
    CHECK_STR_EQ(m.socket, "");
    CHECK_STR_EQ(frame(&m), "{\"event\":\"E\",\"data\":\"[]\",\"channel\":\"presence-team.1\"}");
    message_frame_free(&m.frame);
    /* A string data is the frame's data as it is; a socket of any shape is
     * kept for the server to resolve (a socket id, a protocol 3 session id,
     * or nobody), one longer than any of them is dropped. */
    CHECK(dec(PFX "news", "{\"event\":\"E\",\"data\":\"hi \\\"you\\\"\",\"socket\":\"abc\"}", &m) ==
          LR_OK);
    CHECK_STR_EQ(m.socket, "abc");
    message_frame_free(&m.frame);
    CHECK(dec(PFX "news",
              "{\"event\":\"E\",\"data\":\"hi \\\"you\\\"\",\"socket\":"
              "\"0123456789012345678901234567890123456789012345678\"}",
              &m) == LR_OK);
    CHECK_STR_EQ(m.socket, "");
    CHECK_STR_EQ(frame(&m), "{\"event\":\"E\",\"data\":\"hi \\\"you\\\"\",\"channel\":\"news\"}");
    message_frame_free(&m.frame);
    /* Members laravel-echo-server ignores are ignored; no socket member. */
    CHECK(dec(PFX "news", "{\"x\":1,\"event\":\"E\",\"data\":{}}", &m) == LR_OK);
    message_frame_free(&m.frame);
}

static void test_refused(void)
{
    struct lr_msg m;
    CHECK(dec("other_news", "{\"event\":\"E\",\"data\":{}}", &m) == LR_ECHANNEL);
    CHECK(dec(PFX, "{\"event\":\"E\",\"data\":{}}", &m) == LR_ECHANNEL);
    CHECK(dec(PFX "bad channel", "{\"event\":\"E\",\"data\":{}}", &m) == LR_ECHANNEL);
    CHECK(dec(PFX "private-", "{\"event\":\"E\",\"data\":{}}", &m) == LR_ECHANNEL);
    CHECK(lr_decode(PFX "a\0b", sizeof PFX + 2, "{\"event\":\"E\",\"data\":{}}", 24, PFX, 200,
                    &m) == LR_ECHANNEL);
    char longch[300];
    memset(longch, 'a', sizeof longch);
    memcpy(longch, PFX, strlen(PFX));
    longch[strlen(PFX) + 201] = '\0';
    CHECK(dec(longch, "{\"event\":\"E\",\"data\":{}}", &m) == LR_ECHANNEL);
    const char *bad[] = {
        "",
        "null",
        "[1]",
        "{\"event\":\"E\"}",                              /* no data */
        "{\"data\":{}}",                                  /* no event */
        "{\"event\":\"\",\"data\":{}}",                   /* empty event */
        "{\"event\":1,\"data\":{}}",                      /* event not a string */
        "{\"event\":\"E\",\"data\":{},\"socket\":7}",     /* socket not a string */
        "{\"event\":\"E\",\"data\":{\"a\":\"\\u0000\"}}", /* NUL */
        "{\"event\":\"E\",\"data\":{}",                   /* truncated */
        "{\"event\":\"E\",\"data\":\"\xff\"}",            /* not UTF-8 */
        "{\"event\":\"E\",\"data\":{}} x",                /* trailing bytes */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(dec(PFX "news", bad[i], &m) == LR_EMALFORMED);
        CHECK(m.frame.alloc == NULL);
    }
    char ev[300];
    snprintf(ev, sizeof ev, "{\"event\":\"%0201d\",\"data\":{}}", 0);
    CHECK(dec(PFX "news", ev, &m) == LR_EMALFORMED);
    /* Deeper than 64 levels. */
    char deep[400] = "{\"event\":\"E\",\"data\":";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    CHECK(dec(PFX "news", deep, &m) == LR_EMALFORMED);
    size_t n = LR_MSG_MAX + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    CHECK(lr_decode(PFX "news", strlen(PFX "news"), big, n, PFX, 200, &m) == LR_ETOOBIG);
    free(big);
}

static void test_prefix(void)
{
    char out[128];
    /* Str::slug(APP_NAME, '_') . '_database_', as Laravel 8.83 computes it
     * (tests/laravel_redis/broadcast.test.mjs compares with PHP's own). */
    struct {
        const char *name, *want;
    } cases[] = {
        {"Laravel", "laravel_database_"},
        {"laravel", "laravel_database_"},
        {"My Chat-App", "my_chat_app_database_"},
        {"  Team  @Home!! v2 ", "team_at_home_v2_database_"},
        {"a!b", "ab_database_"},
        {"--x__y--", "x_y_database_"},
        {"", "_database_"},
        {"!!!", "_database_"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(lr_default_prefix(cases[i].name, out, sizeof out) == 0);
        CHECK_STR_EQ(out, cases[i].want);
    }
    CHECK(lr_default_prefix("Caf\xc3\xa9", out, sizeof out) == -1);
    CHECK(lr_default_prefix("abcdef", out, 10) == -1);
    CHECK(lr_pattern("app_*?[]\\x:", out, sizeof out) == 0);
    CHECK_STR_EQ(out, "app_\\*\\?\\[\\]\\\\x:*");
    CHECK(lr_pattern("", out, sizeof out) == 0);
    CHECK_STR_EQ(out, "*");
    CHECK(lr_pattern("****", out, 8) == -1);
}

int main(void)
{
    test_accepted();
    test_refused();
    test_prefix();
    return TEST_RESULT();
}
