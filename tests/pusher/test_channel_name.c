/* Unit tests of channel_name.h: classification by dashed prefix, and
 * validation (165/200/201 characters, bad characters, empty suffix). */
#include "pusher/channel_name.h"

#include <string.h>

#include "test.h"

static enum channel_kind kind(const char *s)
{
    return channel_name_kind(s, strlen(s));
}

static int valid(const char *s)
{
    return channel_name_validate(s, strlen(s), CHANNEL_NAME_DEFAULT_MAX);
}

static void test_kinds(void)
{
    CHECK_EQ(kind("orders"), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(kind("private-orders.1"), CHANNEL_KIND_PRIVATE);
    CHECK_EQ(kind("private-encrypted-x"), CHANNEL_KIND_PRIVATE_ENCRYPTED);
    CHECK_EQ(kind("private-encrypted-cache-x"), CHANNEL_KIND_PRIVATE_ENCRYPTED);
    CHECK_EQ(kind("private-cache-x"), CHANNEL_KIND_PRIVATE_CACHE);
    CHECK_EQ(kind("presence-cache-x"), CHANNEL_KIND_PRESENCE_CACHE);
    CHECK_EQ(kind("cache-x"), CHANNEL_KIND_CACHE);
    CHECK_EQ(kind("presence-room"), CHANNEL_KIND_PRESENCE);
    CHECK_EQ(kind("#server-to-user-42"), CHANNEL_KIND_SERVER_TO_USER);
    /* undashed prefixes are public (Reverb would differ; we use dashes) */
    CHECK_EQ(kind("privatefoo"), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(kind("presencefoo"), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(kind("cachefoo"), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(kind("Private-x"), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(kind(""), CHANNEL_KIND_PUBLIC);
    CHECK_EQ(channel_name_kind(NULL, 0), CHANNEL_KIND_PUBLIC);
    /* not NUL-terminated input: only len bytes are looked at */
    CHECK_EQ(channel_name_kind("private-x", 7), CHANNEL_KIND_PUBLIC);

    CHECK_EQ(channel_name_prefix_len("private-encrypted-cache-x", 25), 24);
    CHECK_EQ(channel_name_prefix_len("orders", 6), 0);
    CHECK_EQ(channel_name_prefix_len("presence-x", 10), 9);

    CHECK(channel_kind_needs_auth(CHANNEL_KIND_PRIVATE));
    CHECK(channel_kind_needs_auth(CHANNEL_KIND_PRIVATE_ENCRYPTED));
    CHECK(channel_kind_needs_auth(CHANNEL_KIND_PRESENCE));
    CHECK(channel_kind_needs_auth(CHANNEL_KIND_PRIVATE_CACHE));
    CHECK(channel_kind_needs_auth(CHANNEL_KIND_PRESENCE_CACHE));
    CHECK(channel_kind_needs_auth(CHANNEL_KIND_SERVER_TO_USER));
    CHECK(!channel_kind_needs_auth(CHANNEL_KIND_PUBLIC));
    CHECK(!channel_kind_needs_auth(CHANNEL_KIND_CACHE));
    CHECK(channel_kind_is_presence(CHANNEL_KIND_PRESENCE));
    CHECK(channel_kind_is_presence(CHANNEL_KIND_PRESENCE_CACHE));
    CHECK(!channel_kind_is_presence(CHANNEL_KIND_PRIVATE));
    CHECK(channel_kind_is_cache(CHANNEL_KIND_CACHE));
    CHECK(channel_kind_is_cache(CHANNEL_KIND_PRIVATE_CACHE));
    CHECK(channel_kind_is_cache(CHANNEL_KIND_PRESENCE_CACHE));
    CHECK(!channel_kind_is_cache(CHANNEL_KIND_PRIVATE_ENCRYPTED));
    CHECK(channel_kind_is_encrypted(CHANNEL_KIND_PRIVATE_ENCRYPTED));
    CHECK(channel_kind_is_private(CHANNEL_KIND_PRIVATE));
    CHECK(channel_kind_is_private(CHANNEL_KIND_PRIVATE_CACHE));
    CHECK(!channel_kind_is_private(CHANNEL_KIND_PRESENCE));
    CHECK_STR_EQ(channel_kind_name(CHANNEL_KIND_PRESENCE_CACHE), "presence-cache");

    size_t id_len = 0;
    const char *id = channel_name_user_id("#server-to-user-42", 18, &id_len);
    CHECK(id != NULL);
    CHECK_EQ(id_len, 2);
    CHECK(id && memcmp(id, "42", 2) == 0);
    CHECK(channel_name_user_id("#server-to-user-", 16, &id_len) == NULL);
    CHECK(channel_name_user_id("private-x", 9, &id_len) == NULL);
}

static void test_validate(void)
{
    char name[400];
    CHECK_EQ(valid("orders"), CHANNEL_NAME_OK);
    CHECK_EQ(valid("private-App.Models.User.1"), CHANNEL_NAME_OK);
    CHECK_EQ(valid("a-zA-Z0-9_=@,.;"), CHANNEL_NAME_OK);
    CHECK_EQ(valid("#server-to-user-42"), CHANNEL_NAME_OK);
    CHECK_EQ(valid(""), CHANNEL_NAME_EEMPTY);
    CHECK_EQ(channel_name_validate(NULL, 0, 200), CHANNEL_NAME_EEMPTY);

    /* lengths: 165 and 200 pass, 201 fails (default max 200) */
    memset(name, 'a', sizeof name);
    CHECK_EQ(channel_name_validate(name, 165, 200), CHANNEL_NAME_OK);
    CHECK_EQ(channel_name_validate(name, 200, 200), CHANNEL_NAME_OK);
    CHECK_EQ(channel_name_validate(name, 201, 200), CHANNEL_NAME_ETOOLONG);
    /* a configured limit of 164 (Pusher docs) */
    CHECK_EQ(channel_name_validate(name, 164, 164), CHANNEL_NAME_OK);
    CHECK_EQ(channel_name_validate(name, 165, 164), CHANNEL_NAME_ETOOLONG);
    /* prefixed names at the limit */
    memcpy(name, "presence-", 9);
    CHECK_EQ(channel_name_validate(name, 200, 200), CHANNEL_NAME_OK);
    CHECK_EQ(channel_name_validate(name, 201, 200), CHANNEL_NAME_ETOOLONG);

    /* bad characters */
    const char *bad[] = {"a b",  "a/b",  "a:b", "a#b",  "a\"b",
                         "a\\b", "a*b",  "a%b", "a?b",  "é",
                         "a\tb", "a\nb", "a{b", "#foo", "#server-to-user",
                         "a'b",  "a+b",  "a!b", "a$b",  "a&b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = valid(bad[i]);
        if (rc != CHANNEL_NAME_ECHAR)
            fprintf(stderr, "bad name %zu \"%s\" gave %d\n", i, bad[i], rc);
        CHECK_EQ(rc, CHANNEL_NAME_ECHAR);
    }
    /* embedded NUL */
    CHECK_EQ(channel_name_validate("a\0b", 3, 200), CHANNEL_NAME_ECHAR);

    /* empty suffix after a prefix */
    const char *empty[] = {"private-",
                           "presence-",
                           "cache-",
                           "private-cache-",
                           "presence-cache-",
                           "private-encrypted-",
                           "private-encrypted-cache-",
                           "#server-to-user-"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        int rc = valid(empty[i]);
        if (rc != CHANNEL_NAME_ESUFFIX)
            fprintf(stderr, "empty-suffix name \"%s\" gave %d\n", empty[i], rc);
        CHECK_EQ(rc, CHANNEL_NAME_ESUFFIX);
    }
    /* but "private-encrypted-" followed by something is fine, and so is a
     * suffix that happens to look like another prefix */
    CHECK_EQ(valid("private-encrypted-x"), CHANNEL_NAME_OK);
    CHECK_EQ(valid("private-private-"), CHANNEL_NAME_OK);
    CHECK_EQ(valid("private"), CHANNEL_NAME_OK);
    CHECK(strlen(channel_name_strerror(CHANNEL_NAME_ECHAR)) > 0);
}

int main(void)
{
    test_kinds();
    test_validate();
    return TEST_RESULT();
}
