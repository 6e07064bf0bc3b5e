/* Unit tests of the app-event activity rule and entry (src/sync/sync_activity.h). */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sync/sync_activity.h"
#include "test.h"

static void test_wanted(void)
{
    CHECK_EQ(sync_activity_wanted("private-activity", "App\\Events\\UserActivity"), 1);
    CHECK_EQ(sync_activity_wanted("private-activity", "anything"), 1);
    CHECK_EQ(sync_activity_wanted("posts", "App\\Events\\UserActivity"), 1);
    CHECK_EQ(sync_activity_wanted("presence-team.1", "UserActivity"), 1);
    CHECK_EQ(sync_activity_wanted("posts", "App\\Events\\PostCreated"), 0);
    CHECK_EQ(sync_activity_wanted("posts", "UserActivityLogged"), 0);
    CHECK_EQ(sync_activity_wanted("posts", "Activity"), 0);
    CHECK_EQ(sync_activity_wanted("private-activity.7", "x"), 0);
    CHECK_EQ(sync_activity_wanted("activity", "x"), 0);
    CHECK_EQ(sync_activity_wanted(NULL, "UserActivity"), 0);
    CHECK_EQ(sync_activity_wanted("private-activity", NULL), 0);
}

static void test_entry(void)
{
    const char *data = "{\"user\":{\"id\":7,\"name\":\"Ada \\\"A\\\" \xc3\xa9\"},"
                       "\"action\":\"created a new post\",\"timestamp\":\"2026-11-25T21:00:00Z\"}";
    char *s = NULL;
    size_t n = 0;
    CHECK_EQ(sync_activity_app_event("private-activity", "App\\Events\\UserActivity", data,
                                     strlen(data), &s, &n),
             0);
    CHECK(s != NULL);
    CHECK_EQ(n, s ? strlen(s) : 0);
    cJSON *o = s ? cJSON_Parse(s) : NULL;
    CHECK(cJSON_IsObject(o));
    CHECK_EQ(cJSON_GetArraySize(o), 4);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "channel");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
    CHECK_STR_EQ(cJSON_GetStringValue(kind), "app_event");
    CHECK_STR_EQ(cJSON_GetStringValue(ch), "private-activity");
    CHECK_STR_EQ(cJSON_GetStringValue(ev), "App\\Events\\UserActivity");
    CHECK_STR_EQ(cJSON_GetStringValue(d), data); /* the data string, byte for byte */
    /* Field order is fixed (the entry is hashed as written). */
    CHECK(s &&
          strncmp(s, "{\"kind\":\"app_event\",\"channel\":\"private-activity\",\"event\":", 56) ==
              0);
    cJSON_Delete(o);
    free(s);

    /* Data that is not JSON text is kept as given; control characters escaped. */
    CHECK_EQ(sync_activity_app_event("c", "UserActivity", "line\n\ttab", 9, &s, &n), 0);
    CHECK_STR_EQ(s, "{\"kind\":\"app_event\",\"channel\":\"c\",\"event\":\"UserActivity\","
                    "\"data\":\"line\\n\\ttab\"}");
    free(s);
    /* Only the first data_len bytes count. */
    CHECK_EQ(sync_activity_app_event("c", "e", "abcdef", 3, &s, &n), 0);
    CHECK_STR_EQ(s, "{\"kind\":\"app_event\",\"channel\":\"c\",\"event\":\"e\",\"data\":\"abc\"}");
    free(s);
    CHECK_EQ(sync_activity_app_event("c", "e", "", 0, &s, &n), 0);
    CHECK_STR_EQ(s, "{\"kind\":\"app_event\",\"channel\":\"c\",\"event\":\"e\",\"data\":\"\"}");
    free(s);

    CHECK_EQ(sync_activity_app_event("c", "e", "a\0b", 3, &s, &n), SYNC_ACTIVITY_EINVAL);
    CHECK_EQ(sync_activity_app_event(NULL, "e", "x", 1, &s, &n), SYNC_ACTIVITY_EINVAL);
    CHECK_EQ(sync_activity_app_event("c", "e", NULL, 0, &s, &n), SYNC_ACTIVITY_EINVAL);
}

/* Cluster mode: "node" first; a lone server's entry unchanged. */
static void test_stamp(void)
{
    static const struct {
        const char *node, *in, *out;
    } cases[] = {
        {"node-a", "{\"kind\":\"app\"}", "{\"node\":\"node-a\",\"kind\":\"app\"}"},
        {"n:1.x_y-z", "{}", "{\"node\":\"n:1.x_y-z\"}"},
        {"b", "{ }", "{\"node\":\"b\"}"},
        {"b", "{ \"a\":1}", "{\"node\":\"b\",\"a\":1}"},
        {NULL, "{\"kind\":\"app\"}", "{\"kind\":\"app\"}"},
        {"", "{\"kind\":\"app\"}", "{\"kind\":\"app\"}"},
        {"a", "[1]", "[1]"}, /* not an object: as it is */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct jsonw w;
        jsonw_init(&w, NULL, 16);
        sync_activity_stamp(cases[i].node, cases[i].in, strlen(cases[i].in), &w);
        CHECK(!w.oom);
        CHECK_STR_EQ(w.p, cases[i].out);
        jsonw_free(&w);
    }
}

int main(void)
{
    test_wanted();
    test_entry();
    test_stamp();
    return TEST_RESULT();
}
