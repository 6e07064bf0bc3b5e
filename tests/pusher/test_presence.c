/* presence: unique users, first/last connection reporting, member limit,
 * stored user_info, iteration. */
#include <stdlib.h>

#include "pusher/presence.h"
#include "test.h"

int main(void)
{
    struct presence *p = presence_new();
    CHECK(p != NULL);
    int first = -1, last = -1;
    struct presence_member *m = NULL;

    CHECK_EQ(presence_join(p, "1", 1, "{\"name\":\"A\"}", 12, 2, &first, &m), 0);
    CHECK_EQ(first, 1);
    CHECK_STR_EQ(presence_member_id(m, NULL), "1");
    CHECK_STR_EQ(presence_member_info(m, NULL), "{\"name\":\"A\"}");
    /* Same user, second tab: not new; its info is not replaced. */
    CHECK_EQ(presence_join(p, "1", 1, "{\"name\":\"B\"}", 12, 2, &first, NULL), 0);
    CHECK_EQ(first, 0);
    CHECK_EQ(presence_count(p), 1);
    CHECK_EQ(presence_connections(p, "1", 1), 2);
    CHECK_STR_EQ(presence_member_info(m, NULL), "{\"name\":\"A\"}");

    CHECK_EQ(presence_join(p, "2", 1, NULL, 0, 2, &first, &m), 0);
    CHECK_EQ(first, 1);
    CHECK_STR_EQ(presence_member_info(m, NULL), "null");
    /* Member limit counts users, not connections. */
    CHECK_EQ(presence_join(p, "3", 1, NULL, 0, 2, &first, NULL), PRESENCE_EFULL);
    CHECK_EQ(presence_join(p, "2", 1, NULL, 0, 2, &first, NULL), 0);
    CHECK_EQ(first, 0);
    CHECK_EQ(presence_count(p), 2);

    size_t it = 0, n = 0;
    while (presence_next(p, &it))
        n++;
    CHECK_EQ(n, 2);

    /* Leaving: only the last connection of a user reports last. */
    CHECK_EQ(presence_leave(p, "1", 1, &last), 0);
    CHECK_EQ(last, 0);
    CHECK_EQ(presence_leave(p, "1", 1, &last), 0);
    CHECK_EQ(last, 1);
    CHECK_EQ(presence_leave(p, "1", 1, &last), PRESENCE_ENOENT);
    CHECK_EQ(presence_count(p), 1);
    CHECK_EQ(presence_connections(p, "1", 1), 0);
    /* Now user 3 fits. */
    CHECK_EQ(presence_join(p, "3", 1, NULL, 0, 2, &first, NULL), 0);
    CHECK_EQ(first, 1);
    presence_free(p);
    presence_free(NULL);
    return TEST_RESULT();
}
