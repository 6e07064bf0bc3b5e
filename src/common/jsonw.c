/* jsonw: the JSON text writer. See jsonw.h. */
#include "jsonw.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

void jsonw_init(struct jsonw *w, char *buf, size_t cap)
{
    w->len = 0;
    w->oom = 0;
    if (buf && cap) {
        w->p = buf;
        w->cap = cap;
        w->heap = 0;
    } else {
        w->cap = cap ? cap + 1 : 64;
        w->p = malloc(w->cap);
        w->heap = 1;
        if (!w->p) {
            w->oom = 1;
            w->cap = 0;
            return;
        }
    }
    w->p[0] = '\0';
}

int jsonw_room(struct jsonw *w, size_t more)
{
    if (w->oom)
        return -1;
    if (w->len + more + 1 <= w->cap)
        return 0;
    size_t cap = w->cap ? w->cap * 2 : 64;
    while (cap < w->len + more + 1)
        cap *= 2;
    char *n = w->heap ? realloc(w->p, cap) : malloc(cap);
    if (!n) {
        w->oom = 1;
        return -1;
    }
    if (!w->heap)
        memcpy(n, w->p, w->len + 1);
    w->p = n;
    w->cap = cap;
    w->heap = 1;
    return 0;
}

void jsonw_raw(struct jsonw *w, const void *s, size_t n)
{
    if (jsonw_room(w, n) != 0)
        return;
    memcpy(w->p + w->len, s, n);
    w->len += n;
    w->p[w->len] = '\0';
}

void jsonw_zero(struct jsonw *w, size_t n)
{
    if (jsonw_room(w, n) != 0)
        return;
    memset(w->p + w->len, 0, n + 1);
    w->len += n;
}

void jsonw_lit(struct jsonw *w, const char *s)
{
    jsonw_raw(w, s, strlen(s));
}

void jsonw_u64(struct jsonw *w, uint64_t v)
{
    char num[24];
    size_t i = sizeof num;
    do {
        num[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    jsonw_raw(w, num + i, sizeof num - i);
}

void jsonw_i64(struct jsonw *w, int64_t v)
{
    if (v < 0) {
        jsonw_raw(w, "-", 1);
        jsonw_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        jsonw_u64(w, (uint64_t)v);
    }
}

/* Nonzero when one of the 8 bytes in `x` needs more than a copy: below
 * 0x20, '"', '\\' or 0x80 and above. */
static inline uint64_t jsonw_special8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * 0x22), b = x ^ (ones * 0x5c);
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b) | x) & highs;
}

/* How many bytes from u[0] (of n) are plain ASCII that needs no escape,
 * counted in whole blocks of eight: a multiple of 8, possibly short of the
 * run's end (the callers' byte loops take the rest). */
static inline size_t jsonw_plain8(const unsigned char *u, size_t n)
{
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t x;
        memcpy(&x, u + i, 8);
        if (jsonw_special8(x))
            break;
        i += 8;
    }
    return i;
}

/* Room at *o for `more` bytes of output, the closing quote and the NUL,
 * growing the buffer (and moving *o with it) only when it lacks them.
 * Returns false when out of memory. */
static bool jsonw_str_room(struct jsonw *w, char **o, size_t more)
{
    size_t used = (size_t)(*o - w->p);
    if (used + more + 2 <= w->cap)
        return true;
    w->len = used;
    if (jsonw_room(w, more + 1) != 0)
        return false;
    *o = w->p + used;
    return true;
}

void jsonw_str(struct jsonw *w, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    /* One pass. Every input byte writes at least itself, so room for n
     * bytes and the quotes is reserved first; an escape that writes more
     * than it reads makes room for itself and the rest of the input (as
     * plain bytes) before it is written. The buffer grows only as much as
     * the text needs: reserving the worst case (six bytes per input byte)
     * made every frame builder reallocate to six times its data. */
    if (jsonw_room(w, n + 2) != 0)
        return;
    char *o = w->p + w->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        size_t plain = jsonw_plain8(u + i, n - i);
        memcpy(o, u + i, plain);
        o += plain;
        i += plain;
        if (i == n)
            break;
        unsigned char c = u[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(u + i, n - i);
            if (k == 0) {
                if (!jsonw_str_room(w, &o, 3 + (n - i - 1)))
                    return;
                memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD for a byte that is not UTF-8 */
                o += 3;
                i++;
            } else {
                memcpy(o, u + i, k);
                o += k;
                i += k;
            }
            continue;
        }
        int shortform =
            c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t';
        if (!jsonw_str_room(w, &o, (shortform ? 2u : 6u) + (n - i - 1)))
            return;
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default: {
            static const char hex[] = "0123456789abcdef";
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        }
        i++;
    }
    *o++ = '"';
    *o = '\0';
    w->len = (size_t)(o - w->p);
}

void jsonw_cstr(struct jsonw *w, const char *s)
{
    jsonw_str(w, s ? s : "", s ? strlen(s) : 0);
}

char *jsonw_take(struct jsonw *w, size_t *len)
{
    char *out = NULL;
    if (!w->oom) {
        if (w->heap) {
            out = w->p;
        } else if ((out = malloc(w->len + 1)) != NULL) {
            memcpy(out, w->p, w->len + 1);
        }
    }
    if (out && len)
        *len = w->len;
    if (!out)
        jsonw_free(w);
    w->p = NULL;
    w->len = w->cap = 0;
    w->heap = 0;
    w->oom = 1;
    return out;
}

void jsonw_free(struct jsonw *w)
{
    if (w->heap)
        free(w->p);
    w->p = NULL;
    w->len = w->cap = 0;
    w->heap = 0;
}
