/* socketio: Engine.IO packets and payloads of both protocols (protocol 3's
 * lengths in UTF-16 units, protocol 4's separators), Socket.IO packet
 * headers (namespaces, ack ids, binary refused), and the translation of
 * the server's Pusher frames into laravel-echo-server's events. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/message.h"
#include "socketio/eio.h"
#include "socketio/sio.h"
#include "test.h"

/* The packets of a payload joined by '|', or "ERR". */
static void packets(int proto, const char *payload, char *out, size_t cap)
{
    size_t len = strlen(payload), pos = 0, n, used = 0;
    const char *p;
    out[0] = '\0';
    if (eio_payload_check(proto, payload, len) != EIO_OK) {
        snprintf(out, cap, "ERR");
        return;
    }
    int rc;
    while ((rc = eio_payload_next(proto, payload, len, &pos, &p, &n)) == 1)
        used += (size_t)snprintf(out + used, cap - used, "%s%.*s", used ? "|" : "", (int)n, p);
    if (rc < 0)
        snprintf(out, cap, "ERR");
}

static void test_payloads(void)
{
    char out[256];
    packets(4,
            "40\x1e"
            "42[\"a\"]\x1e"
            "3",
            out, sizeof out);
    CHECK_STR_EQ(out, "40|42[\"a\"]|3");
    packets(4, "40\x1e", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* an empty last packet */
    packets(4,
            "\x1e"
            "40",
            out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* an empty first packet */
    packets(4, "bAQID", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* binary */
    packets(4, "9x", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* unknown type */
    packets(4, "", out, sizeof out);
    CHECK_STR_EQ(out, "ERR");
    packets(3, "2:403:42x", out, sizeof out);
    CHECK_STR_EQ(out, "40|42x");
    /* Lengths count UTF-16 units: é is one unit (two bytes), 😀 two units (four bytes). */
    packets(3,
            "4:4\xc3\xa9"
            "b4:4\xf0\x9f\x98\x80",
            out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* "b" is not a length */
    packets(3, "3:4\xc3\xa9x3:4\xf0\x9f\x98\x80", out, sizeof out);
    CHECK_STR_EQ(out, "4\xc3\xa9x|4\xf0\x9f\x98\x80");
    packets(3, "2:4\xc3\xa9x3:4\xf0\x9f\x98\x80", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* the 'x' after the first packet is not a length */
    packets(3,
            "2:4\xc3\xa9"
            "3:4\xf0\x9f\x98\x80",
            out, sizeof out);
    CHECK_STR_EQ(out, "4\xc3\xa9|4\xf0\x9f\x98\x80");
    packets(3, "2:4\xf0\x9f\x98\x80", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* the length splits a surrogate pair */
    packets(3, "10:42", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* longer than the payload */
    packets(3, "0:", out, sizeof out);
    CHECK_STR_EQ(out, "ERR");
    packets(3, "1234567890:4", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* absurd length */
    packets(3, "2:4\x00", out, sizeof out);
    CHECK_STR_EQ(out, "ERR"); /* shorter than its length (the NUL ends the C string) */
    CHECK_EQ(eio_payload_check(4, "4\xff", 2), EIO_EUTF8);
    CHECK_EQ(eio_payload_check(4, "4a\0b", 4), EIO_EUTF8);

    char pre[EIO_PREFIX_MAX];
    CHECK_EQ(eio_frame_prefix(4, 1, "40", 2, pre), 0);
    CHECK_EQ(eio_frame_prefix(4, 0, "40", 2, pre), 1);
    CHECK_EQ(pre[0], 0x1e);
    size_t k = eio_frame_prefix(3, 1, "4\xf0\x9f\x98\x80", 5, pre);
    CHECK_EQ(k, 2);
    CHECK(!memcmp(pre, "3:", 2));
    CHECK_EQ(eio_utf16_len("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 5);
}

static void test_sio_packets(void)
{
    struct sio_packet pk;
    CHECK_EQ(sio_packet_parse("0", 1, 32, &pk), SIO_OK);
    CHECK_EQ(pk.type, SIO_CONNECT);
    CHECK_EQ(pk.json_len, 0);
    CHECK_EQ(sio_packet_parse("0{\"token\":1}", 12, 32, &pk), SIO_OK);
    CHECK_EQ(sio_packet_parse("0/,", 3, 32, &pk), SIO_OK); /* "/" spelled out */
    CHECK_EQ(sio_packet_parse("0/admin,", 8, 32, &pk), SIO_ENSP);
    CHECK_EQ(sio_packet_parse("2/admin,[\"a\"]", 13, 32, &pk), SIO_ENSP);
    const char *ev = "212[\"subscribe\",{\"channel\":\"a\"}]";
    CHECK_EQ(sio_packet_parse(ev, strlen(ev), 32, &pk), SIO_OK);
    CHECK_EQ(pk.type, SIO_EVENT);
    CHECK_EQ(pk.ack, 12);
    cJSON *args = sio_event_args(&pk);
    CHECK(args && !strcmp(cJSON_GetArrayItem(args, 0)->valuestring, "subscribe"));
    cJSON_Delete(args);
    const char *bin = "51-[\"x\",{\"_placeholder\":true,\"num\":0}]";
    CHECK_EQ(sio_packet_parse(bin, strlen(bin), 32, &pk), SIO_EBINARY);
    CHECK_EQ(sio_packet_parse("2", 1, 32, &pk), SIO_EINVALID);          /* event without args */
    CHECK_EQ(sio_packet_parse("2{\"a\":1}", 8, 32, &pk), SIO_EINVALID); /* not an array */
    CHECK_EQ(sio_packet_parse("2[\"a\"", 5, 32, &pk), SIO_EINVALID);
    CHECK_EQ(sio_packet_parse("7[]", 3, 32, &pk), SIO_EINVALID);
    CHECK_EQ(sio_packet_parse("21234567890[\"a\"]", 16, 32, &pk), SIO_EINVALID); /* ack id */
    CHECK_EQ(sio_packet_parse("2[[[[\"a\"]]]]", 12, 3, &pk), SIO_EDEPTH);
    CHECK_EQ(sio_packet_parse("2[1]", 4, 32, &pk), SIO_OK);
    CHECK(sio_event_args(&pk) == NULL); /* the name must be a string */
}

/* The Socket.IO form of a Pusher frame, as text ("" for nothing). */
static void translated(const char *pusher, char *out, size_t cap)
{
    struct frame *f = frame_from(pusher, strlen(pusher));
    struct frame *a = sio_frame_for(f);
    CHECK(a != NULL);
    CHECK(sio_frame_for(f) == a); /* cached */
    snprintf(out, cap, "%.*s", a ? (int)a->len : 0, a ? (const char *)frame_data(a) : "");
    frame_unref(f);
}

static void test_translation(void)
{
    char out[512];
    translated("{\"event\":\"App\\\\Events\\\\NewMessage\",\"channel\":\"private-chat.1\","
               "\"data\":\"{\\\"message\\\":\\\"hi\\\"}\"}",
               out, sizeof out);
    CHECK_STR_EQ(out,
                 "42[\"App\\\\Events\\\\NewMessage\",\"private-chat.1\",{\"message\":\"hi\"}]");
    /* Data that is not a JSON object or array stays a string. */
    translated("{\"event\":\"e\",\"channel\":\"c\",\"data\":\"12\"}", out, sizeof out);
    CHECK_STR_EQ(out, "42[\"e\",\"c\",\"12\"]");
    /* A whisper: its data as sent, the sender the server stamped after it. */
    translated("{\"event\":\"client-typing\",\"channel\":\"presence-c\",\"data\":{\"a\":1},"
               "\"user_id\":\"7\"}",
               out, sizeof out);
    CHECK_STR_EQ(out, "42[\"client-typing\",\"presence-c\",{\"a\":1},{\"user_id\":\"7\"}]");
    /* Without a stamped sender (a private channel), three arguments. */
    translated("{\"event\":\"client-typing\",\"channel\":\"private-c\",\"data\":{\"a\":1}}", out,
               sizeof out);
    CHECK_STR_EQ(out, "42[\"client-typing\",\"private-c\",{\"a\":1}]");
    /* An app event naming a user_id at the top level is not a whisper: unchanged. */
    translated("{\"event\":\"e\",\"channel\":\"c\",\"data\":{},\"user_id\":\"7\"}", out,
               sizeof out);
    CHECK_STR_EQ(out, "42[\"e\",\"c\",{}]");
    translated("{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{\\\"presence\\\":"
               "{\\\"count\\\":1,\\\"ids\\\":[\\\"7\\\"],\\\"hash\\\":{\\\"7\\\":{\\\"name\\\":"
               "\\\"A\\\"}}}}\",\"channel\":\"presence-t\"}",
               out, sizeof out);
    CHECK_STR_EQ(out,
                 "42[\"presence:subscribed\",\"presence-t\",[{\"user_id\":\"7\",\"user_info\":{"
                 "\"name\":\"A\"}}]]");
    translated("{\"event\":\"pusher_internal:subscription_succeeded\",\"data\":\"{}\","
               "\"channel\":\"public\"}",
               out, sizeof out);
    CHECK_STR_EQ(out, "");
    translated("{\"event\":\"pusher_internal:member_added\",\"data\":\"{\\\"user_id\\\":\\\"7\\\","
               "\\\"user_info\\\":{\\\"name\\\":\\\"A\\\"}}\",\"channel\":\"presence-t\"}",
               out, sizeof out);
    CHECK_STR_EQ(out, "42[\"presence:joining\",\"presence-t\",{\"user_id\":\"7\",\"user_info\":{"
                      "\"name\":\"A\"}}]");
    translated("{\"event\":\"pusher:subscription_error\",\"channel\":\"private-x\",\"data\":{"
               "\"type\":\"AuthError\",\"error\":\"no\",\"status\":403}}",
               out, sizeof out);
    CHECK_STR_EQ(out, "42[\"subscription_error\",\"private-x\",403]");
    translated("{\"event\":\"pusher:error\",\"data\":{\"code\":4009,\"message\":\"no\"}}", out,
               sizeof out);
    CHECK_STR_EQ(out, "42[\"error\",{\"code\":4009,\"message\":\"no\"}]");
    translated("{\"event\":\"pusher:ping\"}", out, sizeof out);
    CHECK_STR_EQ(out, "");
    translated("{\"event\":\"pusher:connection_established\",\"data\":\"{}\"}", out, sizeof out);
    CHECK_STR_EQ(out, "");

    struct frame *l = sio_frame_leaving("presence-t", "7", "{\"name\":\"A\"}");
    CHECK(l && !strcmp((const char *)frame_data(l),
                       "42[\"presence:leaving\",\"presence-t\",{\"user_id\":\"7\",\"user_info\":{"
                       "\"name\":\"A\"}}]"));
    frame_unref(l);
}

int main(void)
{
    test_payloads();
    test_sio_packets();
    test_translation();
    return TEST_RESULT();
}
