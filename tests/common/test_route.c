/* route: literal, "{}" and "*" segments, captures, and the near misses. */
#include <stdlib.h>

#include "common/route.h"
#include "test.h"

static int m(const char *pattern, const char *path)
{
    unsigned n = 99;
    int r = route_match(pattern, path, NULL, 0, &n);
    CHECK_EQ(n, 0);
    return r;
}

int main(void)
{
    CHECK(m("/up", "/up"));
    CHECK(!m("/up", "/up/"));
    CHECK(!m("/up", "/upx"));
    CHECK(!m("/up", "/u"));
    CHECK(!m("/up", "up"));
    CHECK(!m("/up", ""));
    CHECK(m("/apps/{app_id}/events", "/apps/3/events"));
    CHECK(!m("/apps/{app_id}/events", "/apps//events"));
    CHECK(!m("/apps/{app_id}/events", "/apps/3/events/x"));
    CHECK(!m("/apps/{app_id}/events", "/apps/3"));
    CHECK(m("/apps/{}/channels/{c}/users", "/apps/1/channels/presence-x/users"));
    CHECK(!m("/apps/{}/channels/{c}/users", "/apps/1/channels/presence-x"));
    CHECK(m("/x/*", "/x/"));
    CHECK(m("/x/*", "/x/a/b"));
    CHECK(!m("/x/*", "/x"));
    CHECK(!m("/x/*", "/y/a"));

    char *caps[4] = {0};
    unsigned n = 0;
    CHECK(route_match("/apps/{id}/users/{u}/terminate_connections",
                      "/apps/42/users/7/terminate_connections", caps, 4, &n));
    CHECK_EQ(n, 2);
    CHECK_STR_EQ(caps[0], "42");
    CHECK_STR_EQ(caps[1], "7");
    free(caps[0]);
    free(caps[1]);
    caps[0] = caps[1] = NULL;

    CHECK(route_match("/apps/{id}/documents/*", "/apps/1/documents/a/b/ops", caps, 4, &n));
    CHECK_EQ(n, 2);
    CHECK_STR_EQ(caps[0], "1");
    CHECK_STR_EQ(caps[1], "a/b/ops");
    free(caps[0]);
    free(caps[1]);
    caps[0] = caps[1] = NULL;

    /* A failed match frees what it captured on the way. */
    CHECK(!route_match("/apps/{id}/x/{y}", "/apps/1/z/2", caps, 4, &n));
    CHECK_EQ(n, 0);
    CHECK(caps[0] == NULL);
    /* maxcaps bounds the captures. */
    CHECK(route_match("/{a}/{b}/{c}", "/1/2/3", caps, 2, &n));
    CHECK_EQ(n, 2);
    free(caps[0]);
    free(caps[1]);
    return TEST_RESULT();
}
