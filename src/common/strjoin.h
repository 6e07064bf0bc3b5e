/* strjoin.h - names built from two parts on hot paths (a channel from its
 * prefix and a document id, once or more per edit), without printf's
 * machinery. */
#ifndef DOCSYNC_COMMON_STRJOIN_H
#define DOCSYNC_COMMON_STRJOIN_H

#include <string.h>

/* dst = a then b, cut to cap - 1 bytes (cap > 0) as snprintf "%s%s" would. */
static inline void str_join(char *dst, size_t cap, const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na >= cap)
        na = cap - 1;
    if (nb >= cap - na)
        nb = cap - 1 - na;
    memcpy(dst, a, na);
    memcpy(dst + na, b, nb);
    dst[na + nb] = '\0';
}

#endif
