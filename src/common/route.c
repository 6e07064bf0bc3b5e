/* route: matching a request path against a route pattern. */
#include "route.h"

#include <stdlib.h>
#include <string.h>

int route_match(const char *pattern, const char *path, char **caps, unsigned maxcaps,
                unsigned *ncaps)
{
    unsigned n = 0;
    const char *p = pattern, *s = path;
    for (;;) {
        if (*p != '/' || *s != '/')
            goto fail;
        p++;
        s++;
        const char *pe = strchr(p, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        const char *se = strchr(s, '/');
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen == 1 && p[0] == '*' && !pe) {
            if (caps && n < maxcaps && !(caps[n++] = strdup(s)))
                goto fail;
            *ncaps = n;
            return 1;
        }
        if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
            if (!slen)
                goto fail;
            if (caps && n < maxcaps && !(caps[n++] = strndup(s, slen)))
                goto fail;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            goto fail;
        }
        p += plen;
        s += slen;
        if (!*p && !*s) {
            *ncaps = n;
            return 1;
        }
        if (!*p || !*s)
            goto fail;
    }
fail:
    if (caps)
        for (unsigned i = 0; i < n; i++) {
            free(caps[i]);
            caps[i] = NULL;
        }
    *ncaps = 0;
    return 0;
}
