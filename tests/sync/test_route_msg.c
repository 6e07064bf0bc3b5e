/* sync/route_msg: what route_encode writes route_decode reads back, byte
 * for byte, and every field route_decode checks is refused when wrong
 * (README.md, "Documents in a cluster"): anyone with access to Redis may
 * publish on a node's request channel, and the home node trusts the user
 * a request names. */
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

static void test_refused(void)
{
    struct route_msg m;
    CHECK(dec("", &m) == ROUTE_EFOREIGN);
    CHECK(dec("{\"event\":\"x\",\"data\":\"secret\"}", &m) == ROUTE_EFOREIGN);
    CHECK(dec("dsbus/1 event a 0123456789abcdef 1\n", &m) == ROUTE_EFOREIGN);
    CHECK(dec("dsdoc/2 req a 0123456789abcdef 1\n\nacl\nu\ndocsync:submit\n{}", &m) ==
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

int main(void)
{
    test_request_roundtrip();
    test_reply_roundtrip();
    test_refused();
    return TEST_RESULT();
}
