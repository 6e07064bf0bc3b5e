/* The docsync:submit fast path (sync_msg_submit_frame) against the general
 * path it stands in for (message_parse, then sync_msg_parse of the data):
 * every frame it takes must give exactly the request the general path
 * gives, and every frame it declines is left to the general path, whatever
 * that path answers. */
#include <stdlib.h>

#include "pusher/message.h"
#include "sync/sync_msg.h"
#include "test.h"

/* The general path: -100 when message_parse refuses the frame or it is not a
 * docsync:submit without a channel, else sync_msg_parse's code. */
static int general(const char *frame, size_t max_update, struct sync_request *r)
{
    memset(r, 0, sizeof *r);
    struct message_limits lim = {.max_bytes = strlen(frame) + 1, .max_depth = 2};
    message *m = NULL;
    if (message_parse(frame, strlen(frame), &lim, &m) != MESSAGE_OK)
        return -100;
    int rc = -100;
    if (!strcmp(message_event(m), "docsync:submit") && !message_channel(m))
        rc = sync_msg_parse(SYNC_OP_SUBMIT, message_data(m), max_update, 0, r, NULL);
    message_free(m);
    return rc;
}

static void same_request(const struct sync_request *a, const struct sync_request *b)
{
    CHECK_EQ(a->op, b->op);
    CHECK_STR_EQ(a->doc, b->doc);
    CHECK_STR_EQ(a->client, b->client);
    CHECK_EQ(a->seq, b->seq);
    CHECK_EQ(a->update_len, b->update_len);
    if (a->update_len == b->update_len)
        CHECK_MEM_EQ(a->update, b->update, a->update_len);
    CHECK_STR_EQ(a->request_id, b->request_id);
    CHECK(!a->content && !b->content);
}

/* A frame the fast path takes: the fields it read, and the same from the
 * general path. */
static void taken(const char *frame, const char *doc, const char *client, uint64_t seq,
                  const char *update, size_t update_len, const char *request_id)
{
    struct sync_request fast, slow;
    int ok = sync_msg_submit_frame(frame, strlen(frame), 100, &fast);
    if (!ok)
        fprintf(stderr, "declined: %s\n", frame);
    CHECK_EQ(ok, 1);
    CHECK_EQ(fast.op, SYNC_OP_SUBMIT);
    CHECK_STR_EQ(fast.doc, doc);
    CHECK_STR_EQ(fast.client, client);
    CHECK_EQ(fast.seq, seq);
    CHECK_EQ(fast.update_len, update_len);
    if (fast.update_len == update_len)
        CHECK_MEM_EQ(fast.update, update, update_len);
    CHECK_STR_EQ(fast.request_id, request_id);
    CHECK_EQ(general(frame, 100, &slow), 0);
    same_request(&fast, &slow);
    sync_msg_clear(&fast);
    sync_msg_clear(&slow);
}

/* A frame the fast path leaves to the general path, which answers `want`
 * (0: the same request, read its own way; -100: not a docsync:submit
 * message at all; else sync_msg_parse's refusal). */
static void declined(const char *frame, int want)
{
    struct sync_request fast, slow;
    int ok = sync_msg_submit_frame(frame, strlen(frame), 100, &fast);
    if (ok)
        fprintf(stderr, "taken: %s\n", frame);
    CHECK_EQ(ok, 0);
    /* declined leaves nothing behind */
    CHECK(!fast.update && !fast.doc[0] && !fast.request_id[0]);
    int rc = general(frame, 100, &slow);
    if (rc != want)
        fprintf(stderr, "general path: %d for %s\n", rc, frame);
    CHECK_EQ(rc, want);
    sync_msg_clear(&slow);
}

static void test_taken(void)
{
    static const uint8_t bytes[] = {1, 2, 3};
    /* as pusher-js writes it, with the JS client's numeric requestId */
    taken("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"doc-1\",\"clientId\":\"c.1\","
          "\"seq\":12,\"update\":\"AQID\",\"requestId\":7}}",
          "doc-1", "c.1", 12, (const char *)bytes, 3, "7");
    /* no requestId; a string requestId; members in other orders */
    taken("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
          "\"seq\":1,\"update\":\"AQI=\"}}",
          "d", "c", 1, (const char *)bytes, 2, "");
    taken("{\"data\":{\"update\":\"AQ==\",\"requestId\":\"r:9\",\"seq\":9007199254740991,"
          "\"clientId\":\"c@x\",\"documentId\":\"a=b,c;d.e@f_g\"},\"event\":\"docsync:submit\"}",
          "a=b,c;d.e@f_g", "c@x", 9007199254740991ull, (const char *)bytes, 1, "r:9");
    taken("{\"event\":\"docsync:submit\",\"data\":{\"requestId\":0,\"documentId\":\"d\","
          "\"clientId\":\"c\",\"seq\":10,\"update\":\"AQID\"}}",
          "d", "c", 10, (const char *)bytes, 3, "0");
}

static void test_declined(void)
{
    /* the general path reads these as the same request */
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\": 1,\"update\":\"AQID\"}}",
             0);
    declined("{\"event\":\"docsync:submit\", \"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\"}}",
             0);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":\"1\",\"update\":\"AQID\"}}",
             0);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1.0,\"update\":\"AQID\"}}",
             0);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQ\\/D\"}}",
             0);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"\\u0064\","
             "\"clientId\":\"c\",\"seq\":1,\"update\":\"AQID\"}}",
             0);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\",\"x\":1}}",
             0);
    /* a channel member: the general path does not read it as a plain submit */
    declined("{\"event\":\"docsync:submit\",\"channel\":\"x\",\"data\":{\"documentId\":\"d\","
             "\"clientId\":\"c\",\"seq\":1,\"update\":\"AQID\"}}",
             -100);
    /* not JSON, or a duplicate member: message_parse refuses */
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":01,\"update\":\"AQID\"}}",
             -100);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"seq\":2,\"update\":\"AQID\"}}",
             -100);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\",\"update\":\"AQ==\"}}",
             -100);
    declined("{\"event\":\"docsync:submit\",\"event\":\"docsync:submit\",\"data\":{"
             "\"documentId\":\"d\",\"clientId\":\"c\",\"seq\":1,\"update\":\"AQID\"}}",
             -100);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\"}}}",
             -100);
    declined("{\"event\":\"docsync:submitx\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\"}}",
             -100);
    /* requests sync_msg_parse refuses */
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":0,\"update\":\"AQID\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":9007199254740992,\"update\":\"AQID\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQI\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c/1\","
             "\"seq\":1,\"update\":\"AQID\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\",\"requestId\":-1}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\",\"requestId\":\"\"}}",
             SYNC_MSG_EINVAL);
    declined("{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"AQID\",\"requestId\":null}}",
             SYNC_MSG_EINVAL);
    /* over the update limit (100 bytes here): 136 characters decode to 102 */
    char big[400];
    snprintf(big, sizeof big,
             "{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"d\",\"clientId\":\"c\","
             "\"seq\":1,\"update\":\"%0136d\"}}",
             0);
    declined(big, SYNC_MSG_ETOOBIG);
}

/* A NUL byte inside an id is declined (message_parse refuses the frame),
 * not read as the id before it. */
static void test_nul(void)
{
    static const char frame[] =
        "{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"doc\0x\",\"clientId\":\"c\","
        "\"seq\":1,\"update\":\"AQID\"}}";
    struct sync_request r;
    CHECK_EQ(sync_msg_submit_frame(frame, sizeof frame - 1, 100, &r), 0);
    CHECK(!r.update && !r.doc[0]);
    message *m = NULL;
    CHECK_EQ(message_parse(frame, sizeof frame - 1, NULL, &m), MESSAGE_ENUL);
    message_free(m);
}

/* Every proper prefix of a frame it takes is declined. */
static void test_prefixes(void)
{
    static const char frame[] =
        "{\"event\":\"docsync:submit\",\"data\":{\"documentId\":\"doc-1\",\"clientId\":\"c.1\","
        "\"seq\":12,\"update\":\"AQID\",\"requestId\":7}}";
    for (size_t n = 0; n < sizeof frame - 1; n++) {
        struct sync_request r;
        CHECK_EQ(sync_msg_submit_frame(frame, n, 100, &r), 0);
        CHECK(!r.update);
        sync_msg_clear(&r);
    }
}

int main(void)
{
    test_taken();
    test_declined();
    test_nul();
    test_prefixes();
    return TEST_RESULT();
}
