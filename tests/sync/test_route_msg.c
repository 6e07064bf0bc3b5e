/* sync/route_msg: what route_encode writes route_decode reads back, byte
 * for byte, and every field route_decode checks is refused when wrong
 * (README.md, "Documents in a cluster"): anyone with access to Redis may
 * publish on a node's request channel, and the home node trusts the user
 * a request names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync/route_msg.h"
#include "test.h"

static int dec(const char *s, struct route_msg *m)
{
    return route_decode(s, strlen(s), m);
}

static void test_request_roundtrip(void)
{
    struct route_msg m = {.type = ROUTE_REQ, .id = 7, .role = ROUTE_ROLE_ACL, .user = "u 1"};
    m.user_len = 3;
    strcpy(m.node, "node-b");
    strcpy(m.boot, "0123456789abcdef");
    strcpy(m.socket_id, "12.34");
    strcpy(m.event, "docsync:submit");
    m.body = "{\"documentId\":\"d\"}";
    m.body_len = strlen(m.body);
    char *buf;
    size_t len;
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsdoc/1 req node-b 0123456789abcdef 7\n12.34\nacl\nu 1\ndocsync:submit\n"
                      "{\"documentId\":\"d\"}");
    struct route_msg d;
    CHECK(route_decode(buf, len, &d) == 0);
    CHECK(d.type == ROUTE_REQ && d.id == 7 && d.role == ROUTE_ROLE_ACL);
    CHECK_STR_EQ(d.node, "node-b");
    CHECK_STR_EQ(d.socket_id, "12.34");
    CHECK_STR_EQ(d.event, "docsync:submit");
    CHECK(d.user_len == 3 && memcmp(d.user, "u 1", 3) == 0);
    CHECK(d.body_len == m.body_len && memcmp(d.body, m.body, m.body_len) == 0);
    free(buf);
    /* an auditor's request for another node's log, and its answer */
    CHECK(dec("dsdoc/1 req a 0123456789abcdef 2\n\nowner\n\ndocsync:audit\n{\"op\":\"export\"}",
              &d) == 0);
    CHECK_STR_EQ(d.event, "docsync:audit");
    CHECK(dec("dsdoc/1 rep a 0123456789abcdef 2\n0123456789abcdef\ndocsync:audit\n{\"status\":200}",
              &d) == 0);
    CHECK_STR_EQ(d.event, "docsync:audit");
    /* HTTP: no socket, the owner's role, an anonymous user is allowed on the wire */
    m.socket_id[0] = '\0';
    m.role = ROUTE_ROLE_OWNER;
    m.user = "";
    m.user_len = 0;
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK(route_decode(buf, len, &d) == 0);
    CHECK(d.role == ROUTE_ROLE_OWNER && d.socket_id[0] == '\0' && d.user_len == 0);
    free(buf);
    /* a user id with a newline cannot be framed: refused by the encoder */
    m.user = "a\nb";
    m.user_len = 3;
    CHECK(route_encode(&m, &buf, &len) == -1);
}

static void test_reply_roundtrip(void)
{
    struct route_msg m = {.type = ROUTE_REP, .id = 9, .body = "{\"version\":3}"};
    m.body_len = strlen(m.body);
    strcpy(m.node, "node-a");
    strcpy(m.boot, "fedcba9876543210");
    strcpy(m.to_boot, "0123456789abcdef");
    strcpy(m.event, "docsync:ack");
    char *buf;
    size_t len;
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsdoc/1 rep node-a fedcba9876543210 9\n0123456789abcdef\ndocsync:ack\n"
                      "{\"version\":3}");
    struct route_msg d;
    CHECK(route_decode(buf, len, &d) == 0);
    CHECK(d.type == ROUTE_REP && d.id == 9);
    CHECK_STR_EQ(d.to_boot, "0123456789abcdef");
    CHECK_STR_EQ(d.event, "docsync:ack");
    free(buf);
}

/* Version 2: the HTTP API's document reads, access lists and roles. A
 * message is written in the lowest version that carries its event (so a
 * node of version 1 still reads everything it knows), and one decoded is
 * written again in the version it said. */
static void test_version2(void)
{
    struct route_msg m = {.type = ROUTE_REQ, .id = 3, .role = ROUTE_ROLE_OWNER, .user = "api"};
    m.user_len = 3;
    strcpy(m.node, "node-c");
    strcpy(m.boot, "0123456789abcdef");
    strcpy(m.event, "docsync:acl");
    m.body = "{\"documentId\":\"d\",\"user\":\"u\",\"role\":\"viewer\"}";
    m.body_len = strlen(m.body);
    char *buf;
    size_t len;
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK_STR_EQ(buf, "dsdoc/2 req node-c 0123456789abcdef 3\n\nowner\napi\ndocsync:acl\n"
                      "{\"documentId\":\"d\",\"user\":\"u\",\"role\":\"viewer\"}");
    struct route_msg d;
    CHECK(route_decode(buf, len, &d) == 0);
    CHECK(d.version == 2 && d.type == ROUTE_REQ);
    CHECK_STR_EQ(d.event, "docsync:acl");
    free(buf);
    /* version 1 cannot carry it */
    m.version = 1;
    CHECK(route_encode(&m, &buf, &len) == -1);
    /* the answers */
    CHECK(dec("dsdoc/2 rep a 0123456789abcdef 2\n0123456789abcdef\ndocsync:acl\n{}", &d) == 0);
    CHECK_STR_EQ(d.event, "docsync:acl");
    CHECK(dec("dsdoc/2 rep a 0123456789abcdef 2\n0123456789abcdef\ndocsync:role\n{\"acl\":2}",
              &d) == 0);
    CHECK(dec("dsdoc/2 req a 0123456789abcdef 2\n\nowner\napi\ndocsync:document\n{}", &d) == 0);
    CHECK_STR_EQ(d.event, "docsync:document");
    /* a version 1 event in a version 2 message is read, and written back as it came */
    static const char v2sub[] = "dsdoc/2 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}";
    CHECK(dec(v2sub, &d) == 0 && d.version == 2);
    CHECK(route_encode(&d, &buf, &len) == 0);
    CHECK(len == sizeof v2sub - 1 && memcmp(buf, v2sub, len) == 0);
    free(buf);
    /* an access list changed on the home: version 2 only, no token, no event */
    static const char acl[] =
        "dsdoc/2 acl node-a 0123456789abcdef 4\n"
        "{\"documentId\":\"d\",\"acl\":[[\"u\",\"editor\"],[\"*\",\"viewer\"]]}";
    CHECK(dec(acl, &d) == 0 && d.type == ROUTE_ACL && d.version == 2 && d.id == 4);
    CHECK(route_encode(&d, &buf, &len) == 0);
    CHECK(len == sizeof acl - 1 && memcmp(buf, acl, len) == 0);
    free(buf);
    struct route_acl a;
    const char *why = NULL;
    CHECK(route_acl_parse(d.body, d.body_len, &a, &why) == 0);
    CHECK_STR_EQ(a.doc, "d");
    CHECK(a.nacl == 2 && a.acl[0].role == 2 && a.acl[1].role == 1);
    CHECK_STR_EQ(a.acl[1].user, "*");
    route_acl_free(&a);
    static const char none[] = "{\"documentId\":\"d\",\"acl\":[]}";
    CHECK(route_acl_parse(none, sizeof none - 1, &a, &why) == 0 && a.nacl == 0);
    route_acl_free(&a);
    static const char *const bad_acl[] = {
        "{\"documentId\":\"d\"}",                             /* no list */
        "{\"documentId\":\"\",\"acl\":[]}",                   /* no document */
        "{\"documentId\":\"d\",\"acl\":[[\"u\",\"admin\"]]}", /* unknown role */
        "{\"documentId\":\"d\",\"acl\":[[\"\",\"viewer\"]]}", /* no user */
        "{\"documentId\":\"d\",\"acl\":[[\"u\"]]}",           /* no role */
    };
    for (size_t i = 0; i < sizeof bad_acl / sizeof bad_acl[0]; i++) {
        CHECK(route_acl_parse(bad_acl[i], strlen(bad_acl[i]), &a, &why) == -1);
        CHECK(a.acl == NULL && a.json == NULL);
    }
    CHECK(dec("dsdoc/1 acl node-a 0123456789abcdef 4\n{\"documentId\":\"d\",\"acl\":[]}", &d) ==
          ROUTE_EMALFORMED);
    /* a version 1 event with no version named: version 1 */
    m.version = 0;
    strcpy(m.event, "docsync:catchup");
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK(strncmp(buf, "dsdoc/1 ", 8) == 0);
    free(buf);
}

static void test_refused(void)
{
    struct route_msg m;
    CHECK(dec("", &m) == ROUTE_EFOREIGN);
    CHECK(dec("{\"event\":\"x\",\"data\":\"secret\"}", &m) == ROUTE_EFOREIGN);
    CHECK(dec("dsbus/1 event a 0123456789abcdef 1\n", &m) == ROUTE_EFOREIGN);
    CHECK(dec("dsdoc/4 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}", &m) ==
          ROUTE_EVERSION);
    CHECK(dec("dsdoc/0 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}", &m) ==
          ROUTE_EVERSION);
    static const char *const bad[] = {
        /* type */
        "dsdoc/1 ask a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}",
        /* node id */
        "dsdoc/1 req a/b 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}",
        /* boot */
        "dsdoc/1 req a 0123456789ABCDEF 1\n\nacl\nu\ndocsync:submit\n{}",
        /* id: zero, leading zero, not a number */
        "dsdoc/1 req a 0123456789abcdef 0\n\nacl\nu\ndocsync:submit\n{}",
        "dsdoc/1 req a 0123456789abcdef 01\n\nacl\nu\ndocsync:submit\n{}",
        "dsdoc/1 req a 0123456789abcdef x\n\nacl\nu\ndocsync:submit\n{}",
        /* socket id */
        "dsdoc/1 req a 0123456789abcdef 1\n12\nacl\nu\ndocsync:submit\n{}",
        "dsdoc/1 req a 0123456789abcdef 1\n1.2x\nacl\nu\ndocsync:submit\n{}",
        /* role */
        "dsdoc/1 req a 0123456789abcdef 1\n\nroot\nu\ndocsync:submit\n{}",
        /* user: not UTF-8 */
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\n\xff\ndocsync:submit\n{}",
        /* event: unknown, or an answer's in a request */
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:delete\n{}",
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:ack\n{}",
        /* body: not an object, missing */
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n[]",
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n",
        "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\n",
        /* reply: to-boot, event */
        "dsdoc/1 rep a 0123456789abcdef 1\nzz\ndocsync:ack\n{}",
        "dsdoc/1 rep a 0123456789abcdef 1\n0123456789abcdef\ndocsync:submit\n{}",
        /* version 2's events in a message that says version 1 */
        "dsdoc/1 req a 0123456789abcdef 1\n\nowner\nu\ndocsync:acl\n{}",
        "dsdoc/1 req a 0123456789abcdef 1\n\nowner\nu\ndocsync:document\n{}",
        "dsdoc/1 rep a 0123456789abcdef 1\n0123456789abcdef\ndocsync:role\n{}",
        /* docsync:document is a request only (answered as docsync:history) */
        "dsdoc/2 rep a 0123456789abcdef 1\n0123456789abcdef\ndocsync:document\n{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(dec(bad[i], &m) == ROUTE_EMALFORMED);
    /* a user id over 128 bytes */
    char big[512];
    strcpy(big, "dsdoc/1 req a 0123456789abcdef 1\n\nacl\n");
    size_t k = strlen(big);
    memset(big + k, 'u', 129);
    strcpy(big + k + 129, "\ndocsync:submit\n{}");
    CHECK(dec(big, &m) == ROUTE_EMALFORMED);
    /* a NUL inside the body */
    static const char nul[] = "dsdoc/1 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{\0}";
    CHECK(route_decode(nul, sizeof nul - 1, &m) == ROUTE_EMALFORMED);
    /* over 4 MiB */
    size_t n = ROUTE_MAX_MESSAGE + 1;
    char *huge = malloc(n);
    CHECK(huge != NULL);
    memset(huge, 'x', n);
    memcpy(huge, "dsdoc/1 ", 8);
    CHECK(route_decode(huge, n, &m) == ROUTE_ETOOBIG);
    free(huge);
}

/* The move messages: a token line and a JSON object, for every type. */
static void test_move_roundtrip(void)
{
    static const struct {
        enum route_type type;
        const char *name;
    } types[] = {{ROUTE_MOVE, "move"},
                 {ROUTE_SHIP, "ship"},
                 {ROUTE_SHIPPED, "shipped"},
                 {ROUTE_MOVED, "moved"}};
    for (size_t i = 0; i < 4; i++) {
        struct route_msg m = {.type = types[i].type, .id = 3, .body = "{\"documentId\":\"d\"}"};
        m.body_len = strlen(m.body);
        strcpy(m.node, "node-a");
        strcpy(m.boot, "fedcba9876543210");
        strcpy(m.to_boot, "00112233445566ff");
        char *buf, want[256];
        size_t len;
        CHECK(route_encode(&m, &buf, &len) == 0);
        snprintf(want, sizeof want,
                 "dsdoc/1 %s node-a fedcba9876543210 3\n00112233445566ff\n{\"documentId\":\"d\"}",
                 types[i].name);
        CHECK_STR_EQ(buf, want);
        struct route_msg d;
        CHECK(route_decode(buf, len, &d) == 0);
        CHECK(d.type == types[i].type && d.id == 3);
        CHECK_STR_EQ(d.to_boot, "00112233445566ff");
        CHECK(d.body_len == m.body_len && memcmp(d.body, m.body, m.body_len) == 0);
        free(buf);
        /* a token that is not 16 hex digits cannot be framed */
        strcpy(m.to_boot, "xyz");
        CHECK(route_encode(&m, &buf, &len) == -1);
    }
    struct route_msg d;
    CHECK(dec("dsdoc/1 ship a 0123456789abcdef 1\nzz\n{}", &d) == ROUTE_EMALFORMED);
    CHECK(dec("dsdoc/1 ship a 0123456789abcdef 1\n0123456789abcdef\n[]", &d) == ROUTE_EMALFORMED);
    CHECK(dec("dsdoc/1 moved a 0123456789abcdef 1\n0123456789abcdef\n", &d) == ROUTE_EMALFORMED);
}

static int ship(const char *body, uint64_t next, struct route_ship *s, const char **why)
{
    return route_ship_parse(body, strlen(body), 1, next, s, why);
}

static int ship3(const char *body, uint64_t next, struct route_ship *s, const char **why)
{
    return route_ship_parse(body, strlen(body), 3, next, s, why);
}

/* SHA-256 of 01 02 03 04 (the base of the version 3 parts below). */
#define SHA_1234 "9f64a747e1b97f131fabb6b447296c9b6f0201e79fb3c5356e6c77e89b6a806a"

/* Version 3: a base in parts. Part 1 declares its size and hash and
 * carries its first bytes; the next parts carry bytes at an offset; no op
 * before it is whole; version 1 never takes the version 3 fields. */
static void test_ship_base_parts(void)
{
    struct route_ship s;
    const char *why = NULL;
    /* "AQI=" = 01 02, "AwQ=" = 03 04 */
    CHECK(ship3("{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"acl\":[],"
                "\"base\":{\"version\":10,\"ts\":5000,\"size\":4,\"sha256\":\"" SHA_1234 "\","
                "\"offset\":0,\"state\":\"AQI=\"},\"ops\":[]}",
                1, &s, &why) == 0);
    CHECK(s.has_base && s.base_hashed && s.has_chunk && s.base_version == 10 && s.base_size == 4 &&
          s.base_offset == 0 && s.base_len == 2);
    CHECK(s.base_sha256[0] == 0x9f && s.base_sha256[31] == 0x6a);
    CHECK(s.base_state[0] == 1 && s.base_state[1] == 2);
    route_ship_free(&s);
    CHECK(ship3("{\"documentId\":\"d\",\"part\":2,\"last\":true,\"head\":11,"
                "\"base\":{\"offset\":2,\"state\":\"AwQ=\"},"
                "\"ops\":[[11,5001,8,\"u1\",\"c1\",\"AQI=\"]]}",
                11, &s, &why) == 0);
    CHECK(!s.has_base && s.has_chunk && s.base_offset == 2 && s.base_len == 2 && s.nops == 1);
    route_ship_free(&s);
    /* a whole base in version 3 (size = its bytes) may carry ops */
    CHECK(ship3("{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":11,"
                "\"base\":{\"version\":10,\"ts\":5000,\"size\":2,\"sha256\":\"" SHA_1234 "\","
                "\"offset\":0,\"state\":\"AQI=\"},\"ops\":[[11,5001,8,\"u1\",\"c1\",\"\"]]}",
                1, &s, &why) == 0);
    CHECK(s.nops == 1 && s.base_size == 2);
    route_ship_free(&s);
    static const char *const bad3[] = {
        /* part 1: size missing, 0, over the bound; sha256 short or not hex; offset not 0 */
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":0,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":268435457,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":"
        "\"AQI=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"9f64\",\"offset\":0,\"state\":\"AQI=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"zz" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"" SHA_1234 "\",\"offset\":2,\"state\":\"AQI=\"},"
        "\"ops\":[]}",
        /* bytes past the size; no bytes */
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":1,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"\"},"
        "\"ops\":[]}",
        /* the base not whole: an op, or the last part */
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},"
        "\"ops\":[[11,1,1,\"u\",\"c\",\"\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":10,\"base\":{\"version\":10,"
        "\"ts\":1,\"size\":4,\"sha256\":\"" SHA_1234 "\",\"offset\":0,\"state\":\"AQI=\"},"
        "\"ops\":[]}",
        /* a later part: only offset and bytes */
        "{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{\"version\":10,"
        "\"offset\":2,\"state\":\"AwQ=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{\"size\":4,"
        "\"offset\":2,\"state\":\"AwQ=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{"
        "\"state\":\"AwQ=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{\"offset\":-1,"
        "\"state\":\"AwQ=\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{\"offset\":"
        "268435456,\"state\":\"AwQ=\"},\"ops\":[]}",
    };
    for (size_t i = 0; i < sizeof bad3 / sizeof bad3[0]; i++) {
        why = NULL;
        if (ship3(bad3[i], 11, &s, &why) != -1 || !why)
            fprintf(stderr, "accepted (version 3): %s\n", bad3[i]);
        CHECK(ship3(bad3[i], 11, &s, &why) == -1);
        CHECK(s.json == NULL && s.base_state == NULL);
    }
    /* version 1 takes a base whole only: a version 3 base is refused there */
    CHECK(ship("{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":11,\"base\":{"
               "\"version\":10,\"ts\":1,\"size\":4,\"sha256\":\"" SHA_1234 "\",\"offset\":0,"
               "\"state\":\"AQI=\"},\"ops\":[]}",
               1, &s, &why) == -1);
    CHECK(ship("{\"documentId\":\"d\",\"part\":2,\"last\":false,\"head\":11,\"base\":{"
               "\"offset\":2,\"state\":\"AwQ=\"},\"ops\":[]}",
               11, &s, &why) == -1);
    /* a SHIP of version 3 is framed and read back as version 3 */
    struct route_msg m = {.type = ROUTE_SHIP, .version = 3, .id = 5, .body = "{}", .body_len = 2};
    strcpy(m.node, "a");
    strcpy(m.boot, "0123456789abcdef");
    strcpy(m.to_boot, "00112233445566ff");
    char *buf;
    size_t len;
    CHECK(route_encode(&m, &buf, &len) == 0);
    CHECK(len > 8 && memcmp(buf, "dsdoc/3 ship a ", 15) == 0);
    struct route_msg d;
    CHECK(route_decode(buf, len, &d) == 0 && d.version == 3 && d.type == ROUTE_SHIP);
    free(buf);
}

/* A shipped part: what route_ship_parse takes, and every field it refuses. */
static void test_ship_parse(void)
{
    struct route_ship s;
    const char *why = NULL;
    /* "aGk=" = "hi", "AQI=" = 01 02 */
    CHECK(ship("{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":3,\"meta\":\"aGk=\","
               "\"acl\":[[\"u1\",\"editor\"],[\"*\",\"viewer\"]],"
               "\"ops\":[[1,1000,1,\"u1\",\"c1\",\"AQI=\"],[2,1001,0,\"u2\",\"\",\"\"]]}",
               1, &s, &why) == 0);
    CHECK_STR_EQ(s.doc, "d");
    CHECK(s.part == 1 && s.head == 3 && !s.last);
    CHECK(s.meta_len == 2 && memcmp(s.meta, "hi", 2) == 0);
    CHECK(s.nacl == 2 && s.acl[0].role == 2 && s.acl[1].role == 1);
    CHECK_STR_EQ(s.acl[1].user, "*");
    CHECK(s.nops == 2);
    CHECK(s.ops[0].version == 1 && s.ops[0].ts_ms == 1000 && s.ops[0].seq == 1);
    CHECK_STR_EQ(s.ops[0].user, "u1");
    CHECK_STR_EQ(s.ops[0].client, "c1");
    CHECK(s.ops[0].len == 2 && s.ops[0].data[0] == 1 && s.ops[0].data[1] == 2);
    CHECK(s.ops[1].len == 0 && s.ops[1].client[0] == '\0');
    route_ship_free(&s);
    CHECK(ship("{\"documentId\":\"d\",\"part\":2,\"last\":true,\"head\":3,"
               "\"ops\":[[3,1002,2,\"u1\",\"c1\",\"AQI=\"]]}",
               3, &s, &why) == 0);
    CHECK(s.last && s.nops == 1);
    route_ship_free(&s);
    /* A base: the ops go on after it; the sequence index of clients whose ops are gone. */
    CHECK(ship("{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":11,"
               "\"base\":{\"version\":10,\"ts\":5000,\"state\":\"AQI=\"},"
               "\"seqs\":[[\"c1\",7,9,\"u1\"],[\"c2\",1,3,\"\"]],"
               "\"ops\":[[11,5001,8,\"u1\",\"c1\",\"AQI=\"]]}",
               1, &s, &why) == 0);
    CHECK(s.has_base && s.base_version == 10 && s.base_ts == 5000 && s.base_len == 2);
    CHECK(s.nseqs == 2 && s.seqs[0].seq == 7 && s.seqs[0].version == 9);
    CHECK_STR_EQ(s.seqs[0].client, "c1");
    CHECK_STR_EQ(s.seqs[0].owner, "u1");
    CHECK_STR_EQ(s.seqs[1].owner, "");
    CHECK(s.nops == 1 && s.ops[0].version == 11);
    route_ship_free(&s);
    static const char *const bad[] = {
        "[]",
        "{\"part\":1,\"last\":true,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"\",\"part\":1,\"last\":true,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"a\\nb\",\"part\":1,\"last\":true,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":0,\"last\":true,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1.5,\"last\":true,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":1,\"head\":0,\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":-1,\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0}",
        /* meta and acl only in part 1 */
        "{\"documentId\":\"d\",\"part\":2,\"last\":true,\"head\":0,\"acl\":[],\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"meta\":\"!!\",\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"acl\":[[\"u\",\"root\"]],"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"acl\":[[\"\",\"owner\"]],"
        "\"ops\":[]}",
        /* versions: not the next one, past head, a gap, the last part short of head */
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":2,\"ops\":[[2,1,1,\"u\",\"c\","
        "\"\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":false,\"head\":0,\"ops\":[[1,1,1,\"u\",\"c\","
        "\"\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":3,\"ops\":[[1,1,1,\"u\",\"c\","
        "\"\"],"
        "[3,1,1,\"u\",\"c\",\"\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":2,\"ops\":[[1,1,1,\"u\",\"c\","
        "\"\"]]}",
        /* an op: user empty, client too long, update not base64, fields missing */
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":1,\"ops\":[[1,1,1,\"\",\"c\",\"\"]"
        "]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":1,\"ops\":[[1,1,1,\"u\",\""
        "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\",\"\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":1,\"ops\":[[1,1,1,\"u\",\"c\",\"*"
        "\"]]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":1,\"ops\":[[1,1,1,\"u\",\"c\"]]}",
        /* a base: outside part 1, past head, version 0, bad state; ops not after it */
        "{\"documentId\":\"d\",\"part\":2,\"last\":true,\"head\":5,"
        "\"base\":{\"version\":5,\"ts\":1,\"state\":\"\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":5,"
        "\"base\":{\"version\":6,\"ts\":1,\"state\":\"\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":5,"
        "\"base\":{\"version\":0,\"ts\":1,\"state\":\"\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":5,"
        "\"base\":{\"version\":5,\"ts\":1,\"state\":\"*\"},\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":6,"
        "\"base\":{\"version\":4,\"ts\":1,\"state\":\"\"},\"ops\":[[6,1,1,\"u\",\"c\",\"\"]]}",
        /* a sequence record: empty client, version past head, not four members */
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"seqs\":[[\"\",1,0,\"u\"]],"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"seqs\":[[\"c\",1,1,\"u\"]],"
        "\"ops\":[]}",
        "{\"documentId\":\"d\",\"part\":1,\"last\":true,\"head\":0,\"seqs\":[[\"c\",1,0]],"
        "\"ops\":[]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        if (ship(bad[i], 1, &s, &why) != -1 || !why)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        CHECK(ship(bad[i], 1, &s, &why) == -1);
        CHECK(s.json == NULL && s.ops == NULL);
    }
}

int main(void)
{
    test_request_roundtrip();
    test_reply_roundtrip();
    test_version2();
    test_refused();
    test_move_roundtrip();
    test_ship_parse();
    test_ship_base_parts();
    return TEST_RESULT();
}
