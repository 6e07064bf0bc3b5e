/* channel_name: see channel_name.h. */
#include "channel_name.h"

#include <string.h>

static const struct {
    const char *prefix;
    size_t len;
    enum channel_kind kind;
} prefixes[] = {
#define P(s, k)                                                                                    \
    {                                                                                              \
        s, sizeof(s) - 1, k                                                                        \
    }
    P(CHANNEL_NAME_SERVER_TO_USER_PREFIX, CHANNEL_KIND_SERVER_TO_USER),
    P("private-encrypted-cache-", CHANNEL_KIND_PRIVATE_ENCRYPTED),
    P("private-encrypted-", CHANNEL_KIND_PRIVATE_ENCRYPTED),
    P("private-cache-", CHANNEL_KIND_PRIVATE_CACHE),
    P("presence-cache-", CHANNEL_KIND_PRESENCE_CACHE),
    P("cache-", CHANNEL_KIND_CACHE),
    P("private-", CHANNEL_KIND_PRIVATE),
    P("presence-", CHANNEL_KIND_PRESENCE),
#undef P
};

/* Index into prefixes[] of the first matching prefix, or -1. */
static int match_prefix(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (len >= prefixes[i].len && memcmp(name, prefixes[i].prefix, prefixes[i].len) == 0)
            return (int)i;
    }
    return -1;
}

enum channel_kind channel_name_kind(const char *name, size_t len)
{
    int i = name ? match_prefix(name, len) : -1;
    return i < 0 ? CHANNEL_KIND_PUBLIC : prefixes[i].kind;
}

size_t channel_name_prefix_len(const char *name, size_t len)
{
    int i = name ? match_prefix(name, len) : -1;
    return i < 0 ? 0 : prefixes[i].len;
}

static int allowed_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '=' || c == '@' || c == ',' || c == '.' || c == ';';
}

int channel_name_validate(const char *name, size_t len, size_t max_len)
{
    if (!name || len == 0)
        return CHANNEL_NAME_EEMPTY;
    if (len > max_len)
        return CHANNEL_NAME_ETOOLONG;
    size_t start = 0;
    if (name[0] == '#') {
        if (channel_name_kind(name, len) != CHANNEL_KIND_SERVER_TO_USER)
            return CHANNEL_NAME_ECHAR;
        start = 1;
    }
    for (size_t i = start; i < len; i++) {
        if (!allowed_char((unsigned char)name[i]))
            return CHANNEL_NAME_ECHAR;
    }
    if (channel_name_prefix_len(name, len) == len)
        return CHANNEL_NAME_ESUFFIX;
    return CHANNEL_NAME_OK;
}

int channel_kind_needs_auth(enum channel_kind kind)
{
    return kind != CHANNEL_KIND_PUBLIC && kind != CHANNEL_KIND_CACHE;
}

int channel_kind_is_presence(enum channel_kind kind)
{
    return kind == CHANNEL_KIND_PRESENCE || kind == CHANNEL_KIND_PRESENCE_CACHE;
}

int channel_kind_is_cache(enum channel_kind kind)
{
    return kind == CHANNEL_KIND_CACHE || kind == CHANNEL_KIND_PRIVATE_CACHE ||
           kind == CHANNEL_KIND_PRESENCE_CACHE;
}

int channel_kind_is_encrypted(enum channel_kind kind)
{
    return kind == CHANNEL_KIND_PRIVATE_ENCRYPTED;
}

int channel_kind_is_private(enum channel_kind kind)
{
    return kind == CHANNEL_KIND_PRIVATE || kind == CHANNEL_KIND_PRIVATE_CACHE ||
           kind == CHANNEL_KIND_PRIVATE_ENCRYPTED;
}

const char *channel_kind_name(enum channel_kind kind)
{
    switch (kind) {
    case CHANNEL_KIND_PUBLIC:
        return "public";
    case CHANNEL_KIND_PRIVATE:
        return "private";
    case CHANNEL_KIND_PRIVATE_ENCRYPTED:
        return "private-encrypted";
    case CHANNEL_KIND_PRESENCE:
        return "presence";
    case CHANNEL_KIND_CACHE:
        return "cache";
    case CHANNEL_KIND_PRIVATE_CACHE:
        return "private-cache";
    case CHANNEL_KIND_PRESENCE_CACHE:
        return "presence-cache";
    case CHANNEL_KIND_SERVER_TO_USER:
        return "server-to-user";
    }
    return "?";
}

const char *channel_name_user_id(const char *name, size_t len, size_t *id_len)
{
    const size_t plen = sizeof(CHANNEL_NAME_SERVER_TO_USER_PREFIX) - 1;
    if (!name || len <= plen || memcmp(name, CHANNEL_NAME_SERVER_TO_USER_PREFIX, plen) != 0)
        return NULL;
    *id_len = len - plen;
    return name + plen;
}

const char *channel_name_strerror(int code)
{
    switch (code) {
    case CHANNEL_NAME_OK:
        return "valid channel name";
    case CHANNEL_NAME_EEMPTY:
        return "empty channel name";
    case CHANNEL_NAME_ETOOLONG:
        return "channel name too long";
    case CHANNEL_NAME_ECHAR:
        return "channel name contains a character outside [-a-zA-Z0-9_=@,.;]";
    case CHANNEL_NAME_ESUFFIX:
        return "channel name has nothing after its type prefix";
    }
    return "unknown channel name error";
}

int socket_id_shape(const char *s, size_t len)
{
    size_t dots = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (!digits || dots)
                return 0;
            dots++;
            digits = 0;
        } else if (s[i] >= '0' && s[i] <= '9') {
            digits++;
        } else {
            return 0;
        }
    }
    return dots == 1 && digits > 0;
}
