/* Unit tests of webhook_config (src/webhook/webhook_config.h): DOCSYNC_WEBHOOKS parsed into
 * hosts, ports, paths, event bits, filters and header lines; every mistake refused with a message
 * naming the webhook and the field; the filters. */
#include "test.h"
#include "webhook/webhook_config.h"

#include <string.h>

static void test_parse(void)
{
    struct webhook_config c;
    char err[512] = "";
    CHECK_EQ(webhook_config_parse("", &c, err, sizeof err), 0);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(webhook_config_parse(" \n ", &c, err, sizeof err), 0);
    CHECK_EQ(c.n, 0);
    const char *json =
        "[{\"url\":\"http://hooks.example.com/p?x=1\",\"event_types\":[\"member_added\","
        "\"document_updated\"],\"filter\":{\"channel_name_starts_with\":\"presence-\","
        "\"channel_name_ends_with\":\".1\"},\"headers\":{\"X-A\":\"b c\",\"Authorization\":\"t\"},"
        "\"batch_size\":7,\"batch_ms\":0},"
        "{\"url\":\"https://[::1]:8443\",\"event_types\":[\"cache_miss\"]},"
        "{\"url\":\"HTTPS://h\",\"event_types\":[\"client_event\"]},"
        "{\"url\":\"http://h:9/at/@me\",\"event_types\":[\"client_event\"]}]";
    CHECK_EQ(webhook_config_parse(json, &c, err, sizeof err), 0);
    CHECK_EQ(c.n, 4);
    if (c.n == 4) {
        CHECK_STR_EQ(c.t[0].host, "hooks.example.com");
        CHECK_STR_EQ(c.t[0].port, "80");
        CHECK_EQ(c.t[0].tls, 0);
        CHECK_STR_EQ(c.t[0].path, "/p?x=1");
        CHECK_EQ(c.t[0].types, WEBHOOK_EV_MEMBER_ADDED | WEBHOOK_EV_DOCUMENT_UPDATED);
        CHECK_STR_EQ(c.t[0].headers, "X-A: b c\r\nAuthorization: t\r\n");
        CHECK_EQ(c.t[0].batch_size, 7);
        CHECK_EQ(c.t[0].batch_ms, 0);
        CHECK_STR_EQ(c.t[1].host, "::1");
        CHECK_STR_EQ(c.t[1].port, "8443");
        CHECK_EQ(c.t[1].tls, 1);
        CHECK_STR_EQ(c.t[1].path, "/");
        CHECK_STR_EQ(c.t[1].headers, "");
        CHECK_EQ(c.t[1].batch_size, 100);
        CHECK_EQ(c.t[1].batch_ms, 50);
        CHECK_STR_EQ(c.t[2].port, "443");
        CHECK_EQ(c.t[2].tls, 1);
        CHECK_STR_EQ(c.t[3].path, "/at/@me"); /* an @ in the path is no user info */
        /* Filters: both must hold, and the type. */
        CHECK_EQ(webhook_target_wants(&c.t[0], WEBHOOK_EV_MEMBER_ADDED, "presence-x.1"), 1);
        CHECK_EQ(webhook_target_wants(&c.t[0], WEBHOOK_EV_MEMBER_ADDED, "presence-x.2"), 0);
        CHECK_EQ(webhook_target_wants(&c.t[0], WEBHOOK_EV_MEMBER_ADDED, "private-x.1"), 0);
        CHECK_EQ(webhook_target_wants(&c.t[0], WEBHOOK_EV_MEMBER_REMOVED, "presence-x.1"), 0);
        CHECK_EQ(webhook_target_wants(&c.t[1], WEBHOOK_EV_CACHE_MISS, "anything"), 1);
    }
    webhook_config_free(&c);
    CHECK_EQ(c.n, 0);
    CHECK_EQ(webhook_event_bit("channel_vacated"), WEBHOOK_EV_VACATED);
    CHECK_EQ(webhook_event_bit("channel_vacate"), 0);
    CHECK_STR_EQ(webhook_event_name(WEBHOOK_EV_CLIENT_EVENT), "client_event");
}

/* Each bad setting is refused, with a message that contains `want`. */
static void refused(const char *json, const char *want)
{
    struct webhook_config c;
    char err[512] = "";
    int rc = webhook_config_parse(json, &c, err, sizeof err);
    CHECK_EQ(rc, -1);
    if (rc == 0)
        webhook_config_free(&c);
    CHECK_EQ(c.n, 0);
    if (!strstr(err, want))
        fprintf(stderr, "for %s\n  want \"%s\"\n  got  \"%s\"\n", json, want, err);
    CHECK(strstr(err, want) != NULL);
}

static void test_refused(void)
{
#define T "\"event_types\":[\"cache_miss\"]"
    refused("[", "not valid JSON");
    refused("{}", "expected a JSON array");
    refused("[1]", "DOCSYNC_WEBHOOKS[0]: expected an object");
    refused("[{" T "}]", "DOCSYNC_WEBHOOKS[0].url: required");
    refused("[{\"url\":\"ftp://h/\"," T "}]", "expected http[s]://host[:port]/path");
    refused("[{\"url\":\"http:///p\"," T "}]", "bad host");
    refused("[{\"url\":\"http://h:0/\"," T "}]", "bad port");
    refused("[{\"url\":\"http://h:65536/\"," T "}]", "bad port");
    refused("[{\"url\":\"http://h:8x/\"," T "}]", "bad port");
    refused("[{\"url\":\"http://[::1/\"," T "}]", "unterminated [IPv6] host");
    refused("[{\"url\":\"http://u@h/\"," T "}]", "no fragment or user info");
    refused("[{\"url\":\"http://h/#f\"," T "}]", "no fragment or user info");
    refused("[{\"url\":\"http://h/a b\"," T "}]", "spaces and control bytes");
    refused("[{\"url\":\"http://h/\"}]", "event_types: required");
    refused("[{\"url\":\"http://h/\",\"event_types\":[]}]", "event_types: required");
    refused("[{\"url\":\"http://h/\",\"event_types\":[3]}]", "unknown event (not a string)");
    refused("[{\"url\":\"http://h/\"," T ",\"filter\":{\"channel_name_contains\":\"x\"}}]",
            "unknown key \"channel_name_contains\"");
    refused("[{\"url\":\"http://h/\"," T ",\"filter\":{\"channel_name_starts_with\":1}}]",
            "filter: expected");
    refused("[{\"url\":\"http://h/\"," T ",\"headers\":{\"Host\":\"x\"}}]",
            "Host is set by the server");
    refused("[{\"url\":\"http://h/\"," T ",\"headers\":{\"X-Pusher-Signature\":\"x\"}}]",
            "X-Pusher-Signature is set by the server");
    refused("[{\"url\":\"http://h/\"," T ",\"headers\":{\"X Y\":\"x\"}}]", "bad header name");
    refused("[{\"url\":\"http://h/\"," T ",\"headers\":{\"X\":\"a\\r\\nB: c\"}}]",
            "control bytes not allowed");
    refused("[{\"url\":\"http://h/\"," T ",\"headers\":[\"x\"]}]", "expected an object of strings");
    refused("[{\"url\":\"http://h/\"," T ",\"batch_size\":1001}]", "batch_size: expected");
    refused("[{\"url\":\"http://h/\"," T ",\"batch_ms\":1.5}]", "batch_ms: expected");
    refused("[{\"url\":\"http://h/\"," T ",\"lambda\":{}}]", "unknown key \"lambda\"");
    refused("[{\"url\":\"http://h/\"," T "},{\"url\":\"http://h/\"," T "}]",
            "DOCSYNC_WEBHOOKS[1].url: same URL as webhook 0");
#undef T
}

int main(void)
{
    test_parse();
    test_refused();
    return TEST_RESULT();
}
