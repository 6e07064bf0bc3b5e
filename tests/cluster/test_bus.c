/* cluster/bus: what bus_encode writes bus_decode reads back, byte for byte,
 * and every field bus_decode checks is refused when wrong (README.md, "The
 * bus"): the other nodes deliver what it accepts to browsers as it is. */
#include <stdlib.h>
#include <string.h>

#include "cluster/bus.h"
#include "test.h"

static int dec(const char *s, struct bus_msg *m)
{
    return bus_decode(s, strlen(s), 200, m);
}

static void test_roundtrip(void)
{
    struct bus_msg m = {.type = BUS_EVENT,
                        .seq = 42,
                        .channel = "presence-room.1",
                        .channel_len = 15,
                        .body = "{\"event\":\"E\",\"data\":\"\\n\"}"};
    m.body_len = strlen(m.body);
    strcpy(m.node, "node-a:8080");
    strcpy(m.boot, "0123456789abcdef");
    strcpy(m.except, "123.456");
    char *buf;
    size_t len;
    CHECK(bus_encode(&m, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsbus/1 event node-a:8080 0123456789abcdef 42\npresence-room.1\n123.456\n"
                      "{\"event\":\"E\",\"data\":\"\\n\"}");
    struct bus_msg d;
    CHECK(bus_decode(buf, len, 200, &d) == 0);
    CHECK(d.type == BUS_EVENT && d.seq == 42);
    CHECK_STR_EQ(d.node, "node-a:8080");
    CHECK_STR_EQ(d.boot, "0123456789abcdef");
    CHECK_STR_EQ(d.except, "123.456");
    CHECK(d.channel_len == 15 && memcmp(d.channel, "presence-room.1", 15) == 0);
    CHECK(d.body_len == m.body_len && memcmp(d.body, m.body, m.body_len) == 0);
    free(buf);

    struct bus_msg b = {.type = BUS_BEAT, .seq = 1, .connections = 7};
    strcpy(b.node, "n");
    strcpy(b.boot, "ffffffffffffffff");
    CHECK(bus_encode(&b, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsbus/1 beat n ffffffffffffffff 1\n7\n");
    CHECK(bus_decode(buf, len, 200, &d) == 0 && d.type == BUS_BEAT && d.connections == 7);
    free(buf);
    CHECK(dec("dsbus/1 bye n ffffffffffffffff 9\n", &d) == 0 && d.type == BUS_BYE && d.seq == 9);
    struct bus_msg t = {.type = BUS_TERMINATE, .seq = 5, .user = "user 7", .user_len = 6};
    strcpy(t.node, "n");
    strcpy(t.boot, "ffffffffffffffff");
    CHECK(bus_encode(&t, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsbus/1 terminate n ffffffffffffffff 5\nuser 7");
    CHECK(bus_decode(buf, len, 200, &d) == 0 && d.type == BUS_TERMINATE && d.user_len == 6 &&
          memcmp(d.user, "user 7", 6) == 0);
    free(buf);
    /* No exclusion: an empty line. */
    CHECK(dec("dsbus/1 event n ffffffffffffffff 3\nch\n\n{}", &d) == 0 && d.except[0] == 0);
}

static void test_refused(void)
{
    struct bus_msg d;
    const char *ok = "dsbus/1 event n 0123456789abcdef 1\nch\n\n{}";
    CHECK(dec(ok, &d) == 0);
    CHECK(dec("", &d) == BUS_EFOREIGN);
    CHECK(dec("{\"event\":\"x\",\"app\":{\"secret\":\"s\"}}", &d) == BUS_EFOREIGN);
    CHECK(dec("dsbus", &d) == BUS_EFOREIGN);
    CHECK(dec("dsbus/2 event n 0123456789abcdef 1\nch\n\n{}", &d) == BUS_EVERSION);
    CHECK(dec("dsbus/10 event n 0123456789abcdef 1\nch\n\n{}", &d) == BUS_EVERSION);
    CHECK(dec("dsbus/", &d) == BUS_EVERSION);
    const char *bad[] = {
        "dsbus/1 party n 0123456789abcdef 1\nch\n\n{}",   /* unknown type */
        "dsbus/1 event  0123456789abcdef 1\nch\n\n{}",    /* empty node */
        "dsbus/1 event n/x 0123456789abcdef 1\nch\n\n{}", /* node charset */
        "dsbus/1 event n 0123456789ABCDEF 1\nch\n\n{}",   /* boot: lower-case hex */
        "dsbus/1 event n 0123456789abcde 1\nch\n\n{}",    /* boot: 16 digits */
        "dsbus/1 event n 0123456789abcdef 0\nch\n\n{}",   /* seq from 1 */
        "dsbus/1 event n 0123456789abcdef 01\nch\n\n{}",  /* leading zero */
        "dsbus/1 event n 0123456789abcdef 99999999999999999999\nch\n\n{}", /* > 2^63 */
        "dsbus/1 event n 0123456789abcdef 1\nbad channel\n\n{}",           /* channel name */
        "dsbus/1 event n 0123456789abcdef 1\n\n\n{}",                      /* empty channel */
        "dsbus/1 event n 0123456789abcdef 1\nch\n1.2.3\n{}",               /* socket id */
        "dsbus/1 event n 0123456789abcdef 1\nch\n.5\n{}",                  /* socket id */
        "dsbus/1 event n 0123456789abcdef 1\nch\n\n",                      /* no body */
        "dsbus/1 event n 0123456789abcdef 1\nch\n\n<p>",                   /* not an object */
        "dsbus/1 event n 0123456789abcdef 1\nch\n",                        /* truncated */
        "dsbus/1 event n 0123456789abcdef 1",                              /* header only */
        "dsbus/1 beat n 0123456789abcdef 1\nx\n",                          /* connections */
        "dsbus/1 beat n 0123456789abcdef 1\n5\nextra",                     /* trailing bytes */
        "dsbus/1 bye n 0123456789abcdef 1\nextra",                         /* trailing bytes */
        "dsbus/1 terminate n 0123456789abcdef 1\n",                        /* no user id */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = dec(bad[i], &d);
        if (rc != BUS_EMALFORMED)
            fprintf(stderr, "accepted or misjudged (%d): %s\n", rc, bad[i]);
        CHECK(rc == BUS_EMALFORMED);
    }
    /* Invalid UTF-8 and NUL inside the body. */
    const char inv[] = "dsbus/1 event n 0123456789abcdef 1\nch\n\n{\xff}";
    CHECK(bus_decode(inv, sizeof inv - 1, 200, &d) == BUS_EMALFORMED);
    const char nul[] = "dsbus/1 event n 0123456789abcdef 1\nch\n\n{\0}";
    CHECK(bus_decode(nul, sizeof nul - 1, 200, &d) == BUS_EMALFORMED);
    /* A channel longer than the limit. */
    CHECK(bus_decode(ok, strlen(ok), 1, &d) == BUS_EMALFORMED);
    /* Size: the limit is checked before anything else is read. */
    size_t n = BUS_MAX_MESSAGE + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    memcpy(big, "dsbus/1 ", 8);
    CHECK(bus_decode(big, n, 200, &d) == BUS_ETOOBIG);
    free(big);
    /* Node ids */
    CHECK(bus_node_id_valid("a.b_c:d-9", 9));
    CHECK(!bus_node_id_valid("", 0));
    char long_id[70];
    memset(long_id, 'a', sizeof long_id);
    CHECK(bus_node_id_valid(long_id, 63) && !bus_node_id_valid(long_id, 64));
}

/* member: what the Redis scripts publish (src/cluster/roster.c builds the
 * same bytes in Lua): the user id by its length, then the user_info. */
static void test_member(void)
{
    struct bus_msg m = {.type = BUS_MEMBER,
                        .seq = 17,
                        .channel = "presence-room",
                        .channel_len = 13,
                        .added = 1,
                        .user = "u\n7",
                        .user_len = 3,
                        .info = "{\"n\":\"x\"}",
                        .info_len = 9};
    strcpy(m.node, "node-a");
    strcpy(m.boot, "0123456789abcdef");
    strcpy(m.except, "1.2");
    char *buf;
    size_t len;
    CHECK(bus_encode(&m, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsbus/1 member node-a 0123456789abcdef 17\npresence-room\n1.2\na 3\n"
                      "u\n7{\"n\":\"x\"}");
    struct bus_msg d;
    CHECK(bus_decode(buf, len, 200, &d) == 0);
    CHECK(d.type == BUS_MEMBER && d.seq == 17 && d.added == 1);
    CHECK(d.user_len == 3 && memcmp(d.user, "u\n7", 3) == 0);
    CHECK(d.info_len == 9 && memcmp(d.info, "{\"n\":\"x\"}", 9) == 0);
    CHECK_STR_EQ(d.except, "1.2");
    free(buf);
    CHECK(dec("dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 1\n7null", &d) == 0 &&
          d.added == 0 && d.except[0] == 0);
    const char *bad[] = {
        "dsbus/1 member n 0123456789abcdef 2\nprivate-x\n\nr 1\n7null",   /* not presence */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nx 1\n7null",  /* kind */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 0\nnull",   /* empty id */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 9\n7null",  /* id too long */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 1\n7nul",   /* info not JSON */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 1\n7",      /* no info */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 1\n7{}{}",  /* two values */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\nx.\nr 1\n7{}",  /* socket id */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 01\n7{}",   /* length */
        "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 2000\n7{}", /* length */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = dec(bad[i], &d);
        if (rc != BUS_EMALFORMED)
            fprintf(stderr, "accepted or misjudged (%d): %s\n", rc, bad[i]);
        CHECK(rc == BUS_EMALFORMED);
    }
    const char nul[] = "dsbus/1 member n 0123456789abcdef 2\npresence-x\n\nr 2\n7\0null";
    CHECK(bus_decode(nul, sizeof nul - 1, 200, &d) == BUS_EMALFORMED);
}

int main(void)
{
    test_roundtrip();
    test_member();
    test_refused();
    return TEST_RESULT();
}
