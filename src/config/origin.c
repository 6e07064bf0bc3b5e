/* origin: the Origin check of WebSocket upgrades against
 * REVERB_ALLOWED_ORIGINS. See origin.h. */
#include "origin.h"

#include <string.h>

#include "config.h"

/* Glob match with '*' only, case-sensitive. Iterative with backtracking. */
static int glob_match(const char *pat, const char *s, size_t slen)
{
    size_t p = 0, i = 0, star = (size_t)-1, mark = 0;
    size_t plen = strlen(pat);
    while (i < slen) {
        if (p < plen && pat[p] == '*') {
            star = p++;
            mark = i;
        } else if (p < plen && pat[p] == s[i]) {
            p++;
            i++;
        } else if (star != (size_t)-1) {
            p = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

int origin_allowed(const char *list, const char *origin)
{
    /* Walk the comma-separated list; entries are trimmed. */
    const char *host = NULL;
    size_t host_len = 0;
    if (origin) {
        const char *p = strstr(origin, "://");
        p = p ? p + 3 : origin;
        const char *at = NULL;
        const char *e = p;
        while (*e && *e != '/' && *e != '?' && *e != '#') {
            if (*e == '@')
                at = e;
            e++;
        }
        if (at)
            p = at + 1;
        const char *colon = NULL;
        if (*p == '[') { /* IPv6 literal */
            const char *rb = memchr(p, ']', (size_t)(e - p));
            colon = rb ? rb + 1 : e;
            if (colon > e || *colon != ':')
                colon = NULL;
        } else {
            colon = memchr(p, ':', (size_t)(e - p));
        }
        host = p;
        host_len = (size_t)((colon ? colon : e) - p);
    }
    while (*list) {
        while (*list == ' ' || *list == '\t' || *list == ',')
            list++;
        const char *end = strchr(list, ',');
        if (!end)
            end = list + strlen(list);
        const char *t = end;
        while (t > list && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        size_t n = (size_t)(t - list);
        if (n > 0) {
            char pat[CONFIG_ORIGINS_MAX];
            memcpy(pat, list, n);
            pat[n] = '\0';
            if (strcmp(pat, "*") == 0)
                return 1;
            if (host && glob_match(pat, host, host_len))
                return 1;
        }
        list = end;
    }
    return 0;
}
