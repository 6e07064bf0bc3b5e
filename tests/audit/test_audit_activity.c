/* Unit tests of the audit side of src/sync/sync_activity.h: the document
 * feed's coalescing, the entries and events it makes, the audit filters, and
 * the export line (written, parsed back, its hash recomputed). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sync/sync_activity.h"
#include "test.h"

/* What the feed reported, as "kind user doc edits from..to first..last". */
struct got {
    char lines[16][160];
    int n;
};

static void record(void *ctx, const struct sync_activity_doc *a)
{
    struct got *g = ctx;
    if (g->n < 16)
        snprintf(g->lines[g->n++], sizeof g->lines[0], "%s %s %s %llu %llu..%llu %llu..%llu",
                 a->kind, a->user, a->doc, (unsigned long long)a->edits,
                 (unsigned long long)a->from_version, (unsigned long long)a->to_version,
                 (unsigned long long)a->first_ms, (unsigned long long)a->last_ms);
}

static void test_feed(void)
{
    struct sync_feed *f = NULL;
    struct got g = {0};
    CHECK_EQ(sync_feed_new(2000, 3, &f), 0);
    /* Three edits of (7, d1) within the window and one of (8, d1): two records. */
    CHECK_EQ(sync_feed_edit(f, "7", "d1", 5, 1000, record, &g), 0);
    CHECK_EQ(sync_feed_edit(f, "8", "d1", 6, 1100, record, &g), 0);
    CHECK_EQ(sync_feed_edit(f, "7", "d1", 7, 1500, record, &g), 0);
    CHECK_EQ(sync_feed_edit(f, "7", "d1", 8, 2900, record, &g), 0);
    CHECK_EQ(sync_feed_open(f), 2);
    CHECK_EQ(sync_feed_flush(f, 2999, NULL, NULL, record, &g), 0); /* windows still open */
    CHECK_EQ(sync_feed_flush(f, 3000, NULL, NULL, record, &g), 1);
    CHECK_STR_EQ(g.lines[0], "document.edited 7 d1 3 5..8 1000..2900");
    /* The next edit of (7, d1) opens a new record. */
    CHECK_EQ(sync_feed_edit(f, "7", "d1", 9, 3001, record, &g), 0);
    CHECK_EQ(sync_feed_open(f), 2);
    /* A leave reports that user's record of that document at once. */
    CHECK_EQ(sync_feed_flush(f, 3002, "7", "d1", record, &g), 1);
    CHECK_STR_EQ(g.lines[1], "document.edited 7 d1 1 9..9 3001..3001");
    /* Full: the oldest is reported early to make room. */
    CHECK_EQ(sync_feed_edit(f, "a", "d2", 1, 3100, record, &g), 0);
    CHECK_EQ(sync_feed_edit(f, "b", "d2", 2, 3100, record, &g), 0);
    CHECK_EQ(g.n, 2);
    CHECK_EQ(sync_feed_edit(f, "c", "d2", 3, 3100, record, &g), 0);
    CHECK_EQ(g.n, 3);
    CHECK_STR_EQ(g.lines[2], "document.edited 8 d1 1 6..6 1100..1100");
    /* A clock that went back does not report early. */
    CHECK_EQ(sync_feed_flush(f, 10, NULL, NULL, record, &g), 0);
    /* Stop: everything. */
    CHECK_EQ(sync_feed_flush(f, UINT64_MAX, NULL, NULL, record, &g), 3);
    CHECK_EQ(sync_feed_open(f), 0);
    CHECK_STR_EQ(g.lines[5], "document.edited c d2 1 3..3 3100..3100");
    sync_feed_free(f);
    CHECK_EQ(sync_feed_new(1, 0, &f), SYNC_ACTIVITY_EINVAL);
}

static void test_doc_entry_and_event(void)
{
    struct sync_activity_doc a = {.kind = SYNC_ACTIVITY_KIND_EDITED,
                                  .user = "7",
                                  .doc = "d\"1",
                                  .edits = 3,
                                  .from_version = 5,
                                  .to_version = 8,
                                  .first_ms = 1000,
                                  .last_ms = 2900};
    struct jsonw w;
    jsonw_init(&w, NULL, 64);
    sync_activity_doc_entry(&a, &w);
    CHECK_STR_EQ(w.p, "{\"kind\":\"document.edited\",\"user\":\"7\",\"documentId\":\"d\\\"1\","
                      "\"edits\":3,\"fromVersion\":5,\"toVersion\":8,\"firstTs\":1000,"
                      "\"lastTs\":2900}");
    struct jsonw e;
    jsonw_init(&e, NULL, 64);
    sync_activity_doc_event(w.p, w.len, 42, 1764936000123ull, &e);
    CHECK_STR_EQ(e.p, "{\"user\":{\"id\":\"7\"},\"action\":\"edited document d\\\"1\","
                      "\"timestamp\":\"2025-12-05T12:00:00.123Z\",\"kind\":\"document.edited\","
                      "\"documentId\":\"d\\\"1\",\"edits\":3,\"fromVersion\":5,"
                      "\"toVersion\":8,\"firstTs\":1000,\"lastTs\":2900,\"offset\":42}");
    jsonw_free(&w);
    jsonw_free(&e);
}

static struct store_activity entry(uint64_t off, uint64_t ts, const char *payload)
{
    struct store_activity e;
    memset(&e, 0, sizeof e);
    e.offset = off;
    e.ts_ms = ts;
    e.payload = (const uint8_t *)payload;
    e.len = strlen(payload);
    return e;
}

static void test_filters(void)
{
    struct store_activity upd = entry(1, 100,
                                      "{\"kind\":\"document.updated\",\"documentId\":\"42\","
                                      "\"version\":3,\"user\":\"7\"}");
    struct store_activity app = entry(2, 200,
                                      "{\"kind\":\"app_event\",\"channel\":\"private-activity\","
                                      "\"event\":\"UserActivity\",\"data\":\"{\\\"user\\\":"
                                      "{\\\"id\\\":7},\\\"documentId\\\":\\\"42\\\"}\"}");
    struct store_activity app2 = entry(3, 300, "{\"kind\":\"app\",\"user\":8,\"action\":\"x\"}");
    struct store_activity junk = entry(4, 400, "not json");
    struct sync_activity_filter f = {0};
    CHECK(sync_activity_filter_empty(&f));
    CHECK_EQ(sync_activity_match(&f, &junk), 1);
    f.user = "7";
    CHECK(!sync_activity_filter_empty(&f));
    CHECK_EQ(sync_activity_match(&f, &upd), 1);
    CHECK_EQ(sync_activity_match(&f, &app), 1); /* user.id in the event's data */
    CHECK_EQ(sync_activity_match(&f, &app2), 0);
    CHECK_EQ(sync_activity_match(&f, &junk), 0);
    f.user = "8";
    CHECK_EQ(sync_activity_match(&f, &app2), 1); /* a number */
    f.user = NULL;
    f.document = "42";
    CHECK_EQ(sync_activity_match(&f, &upd), 1);
    CHECK_EQ(sync_activity_match(&f, &app), 1);
    CHECK_EQ(sync_activity_match(&f, &app2), 0);
    f.kind = "app_event";
    CHECK_EQ(sync_activity_match(&f, &upd), 0);
    CHECK_EQ(sync_activity_match(&f, &app), 1);
    struct sync_activity_filter t = {.since_ms = 200, .until_ms = 300};
    CHECK_EQ(sync_activity_match(&t, &upd), 0);
    CHECK_EQ(sync_activity_match(&t, &app), 1);
    CHECK_EQ(sync_activity_match(&t, &app2), 0); /* until is exclusive */
}

static void test_line(void)
{
    /* A chain of two entries, hashed as the store does. */
    static const char p1[] = "{\"kind\":\"app\",\"note\":\"caf\xc3\xa9 \\\"q\\\"\"}";
    static const uint8_t p2[] = {0x00, 0xff, 'x'}; /* not UTF-8: base64 */
    struct store_activity e1 = entry(1, 1764936000123ull, p1);
    CHECK_EQ(store_activity_hash(e1.prev_hash, 1, e1.ts_ms, p1, strlen(p1), e1.hash), 0);
    struct store_activity e2 = {.offset = 2, .ts_ms = 5, .payload = p2, .len = sizeof p2};
    memcpy(e2.prev_hash, e1.hash, STORE_HASH_LEN);
    CHECK_EQ(store_activity_hash(e2.prev_hash, 2, 5, p2, sizeof p2, e2.hash), 0);
    struct store_activity *es[2] = {&e1, &e2};
    for (int i = 0; i < 2; i++) {
        struct jsonw w;
        jsonw_init(&w, NULL, 64);
        sync_activity_line(es[i], &w);
        CHECK(strstr(w.p, i ? "\"payloadBase64\":\"AP94\"" : "\"payload\":") != NULL);
        struct sync_activity_parsed p;
        const char *why = NULL;
        CHECK_EQ(sync_activity_line_parse(w.p, w.len, &p, &why), 0);
        CHECK_EQ(p.offset, es[i]->offset);
        CHECK_EQ(p.ts_ms, es[i]->ts_ms);
        CHECK_EQ(p.len, es[i]->len);
        CHECK_MEM_EQ(p.payload, es[i]->payload, es[i]->len);
        CHECK_MEM_EQ(p.prev_hash, es[i]->prev_hash, STORE_HASH_LEN);
        uint8_t h[STORE_HASH_LEN];
        CHECK_EQ(store_activity_hash(p.prev_hash, p.offset, p.ts_ms, p.payload, p.len, h), 0);
        CHECK_MEM_EQ(h, es[i]->hash, STORE_HASH_LEN);
        sync_activity_line_clear(&p);
        jsonw_free(&w);
    }
    struct sync_activity_parsed p;
    const char *why = NULL;
    static const char *bad[] = {
        "[]",
        "{\"offset\":0,\"ts\":1}",
        "{\"offset\":1.5}",
        "{\"offset\":1,\"ts\":1,\"prevHash\":\"00\",\"hash\":\"00\",\"payload\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(sync_activity_line_parse(bad[i], strlen(bad[i]), &p, &why), SYNC_ACTIVITY_EINVAL);
        CHECK(why != NULL);
    }
}

int main(void)
{
    test_feed();
    test_doc_entry_and_event();
    test_filters();
    test_line();
    TEST_RESULT();
}
