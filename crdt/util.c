/* util.c - allocator wrappers, UTF-8 helpers, varint buffers, agent-name
 * order, error text. */
#include "crdt_int.h"

#include <stdlib.h>
#include <string.h>

const char *crdt_strerror(int err)
{
    switch (err) {
    case CRDT_OK:
        return "success";
    case CRDT_ENOMEM:
        return "out of memory";
    case CRDT_EINVAL:
        return "invalid argument";
    case CRDT_EBADUPDATE:
        return "malformed update";
    case CRDT_EVERSION:
        return "unsupported format version";
    case CRDT_EMISSING:
        return "update depends on an operation this replica lacks";
    case CRDT_ELIMIT:
        return "size limit exceeded";
    case CRDT_EIDINUSE:
        return "operation id already in use";
    case CRDT_ERANGE:
        return "output buffer too small";
    case CRDT_ECOST:
        return "merging the update's concurrent inserts would cost more than allowed";
    case CRDT_EORIGIN:
        return "an insert's origins contradict the document (no replica could have made it)";
    default:
        return "unknown error";
    }
}

int crdt__name_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* An allocator with no functions (the zeroed copy kept by an object made
 * with a NULL allocator) means libc. */
void *crdt__mem_alloc(const crdt_allocator *a, size_t size)
{
    if (size == 0)
        size = 1;
    return a && a->malloc_fn ? a->malloc_fn(a->ctx, size) : malloc(size);
}

void *crdt__mem_realloc(const crdt_allocator *a, void *p, size_t size)
{
    if (size == 0)
        size = 1;
    return a && a->realloc_fn ? a->realloc_fn(a->ctx, p, size) : realloc(p, size);
}

void crdt__mem_free(const crdt_allocator *a, void *p)
{
    if (!p)
        return;
    if (a && a->free_fn)
        a->free_fn(a->ctx, p);
    else
        free(p);
}

void crdt_free_bytes(const crdt_allocator *alloc, void *p)
{
    crdt__mem_free(alloc, p);
}

/* How a table grows: by half when full, which keeps a heap of many
 * documents tight and bounds what an update can make a replica allocate.
 *
 * The WebAssembly build (CRDT_GROW_FAST) grows a table that already holds
 * GROW_FAST_FROM bytes or more by four times, up to GROW_FAST_UNTIL. Its
 * single heap cannot extend a table in place while other tables grow
 * beside it (while typing, the per-LV leaf table, the records, the text
 * and the leaves all grow together), so each step copied the whole table
 * onto pages the module had never touched. The room a step leaves is
 * address space until it is written; a fresh process's replay of a long
 * typing session (automerge-paper) got a few milliseconds faster. A table
 * reserved for a known size, as a load does, starts below GROW_FAST_FROM
 * and takes the half steps, so it stays close to that size. Natively the
 * four-times steps measured no faster, so the native build keeps the half
 * steps and its bound. */
#ifndef CRDT_GROW_FAST
#define CRDT_GROW_FAST 0
#endif
#define GROW_FAST_FROM (64u * 1024u)
#define GROW_FAST_UNTIL (16u * 1024u * 1024u)

int crdt__mem_grow(const crdt_allocator *a, void **p, uint32_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CRDT_OK;
    if (need > UINT32_MAX)
        return CRDT_ELIMIT;
    uint64_t ncap = *cap ? *cap : 8; /* 64 bits: no wrap in a 32-bit size_t */
    while (ncap < need)
        ncap = ncap + ncap / 2 + 8;
    uint64_t bytes = (uint64_t)*cap * elem;
    if (CRDT_GROW_FAST && bytes >= GROW_FAST_FROM && bytes < GROW_FAST_UNTIL &&
        ncap < (uint64_t)*cap * 4)
        ncap = (uint64_t)*cap * 4;
    if (ncap > UINT32_MAX)
        ncap = UINT32_MAX;
    if (ncap > SIZE_MAX / elem)
        return CRDT_ELIMIT;
    void *np = crdt__mem_realloc(a, *p, ncap * elem);
    if (!np)
        return CRDT_ENOMEM;
    *p = np;
    *cap = (uint32_t)ncap;
    return CRDT_OK;
}

void crdt__mem_trim(const crdt_allocator *a, void **p, uint32_t *cap, uint32_t n, size_t elem)
{
    uint64_t keep = (uint64_t)n + n / 8 + 16;
    if (!*p || keep >= *cap || (*cap - keep) * elem < 4096)
        return;
    void *np = crdt__mem_realloc(a, *p, (size_t)keep * elem);
    if (np) {
        *p = np;
        *cap = (uint32_t)keep;
    }
}

bool crdt__utf8_validate(const uint8_t *s, size_t len, size_t *cps, size_t *astral)
{
    size_t i = 0, n = 0, a = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            /* ASCII eight bytes at a time: most text is */
            uint64_t w;
            while (len - i >= 8 && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull))) {
                i += 8;
                n += 8;
            }
            if (i < len && s[i] < 0x80) {
                i++;
                n++;
            }
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= len || (s[i + 1] & 0xC0) != 0x80)
                return false;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80)
                return false;
            if (c == 0xE0 && s[i + 1] < 0xA0)
                return false; /* overlong */
            if (c == 0xED && s[i + 1] >= 0xA0)
                return false; /* surrogate */
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= len || (s[i + 1] & 0xC0) != 0x80 || (s[i + 2] & 0xC0) != 0x80 ||
                (s[i + 3] & 0xC0) != 0x80)
                return false;
            if (c == 0xF0 && s[i + 1] < 0x90)
                return false; /* overlong */
            if (c == 0xF4 && s[i + 1] >= 0x90)
                return false; /* > U+10FFFF */
            i += 4;
            a++;
        } else {
            return false;
        }
        n++;
    }
    *cps = n;
    if (astral)
        *astral = a;
    return true;
}

static size_t utf8_width(uint8_t c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

size_t crdt__utf8_offset(const uint8_t *s, size_t len, size_t k)
{
    size_t i = 0;
    while (k > 0 && i < len) {
        i += utf8_width(s[i]);
        k--;
    }
    return i;
}

uint32_t crdt__utf8_astral(const uint8_t *s, size_t len)
{
    uint32_t a = 0;
    for (size_t i = 0; i < len; i++)
        a += s[i] >= 0xF0;
    return a;
}

static void wbuf_grow(crdt_wbuf *w, size_t n)
{
    if (w->err)
        return;
    if (w->len + n <= w->cap)
        return;
    size_t ncap = w->cap ? w->cap : 64;
    while (ncap < w->len + n)
        ncap *= 2;
    uint8_t *np = crdt__mem_realloc(w->alloc, w->p, ncap);
    if (!np) {
        w->err = CRDT_ENOMEM;
        return;
    }
    w->p = np;
    w->cap = ncap;
}

void crdt__wbuf_byte(crdt_wbuf *w, uint8_t b)
{
    wbuf_grow(w, 1);
    if (!w->err)
        w->p[w->len++] = b;
}

void crdt__wbuf_varint(crdt_wbuf *w, uint64_t v)
{
    wbuf_grow(w, 10);
    if (w->err)
        return;
    while (v >= 0x80) {
        w->p[w->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    w->p[w->len++] = (uint8_t)v;
}

void crdt__wbuf_bytes(crdt_wbuf *w, const void *p, size_t n)
{
    wbuf_grow(w, n);
    if (!w->err && n) {
        memcpy(w->p + w->len, p, n);
        w->len += n;
    }
}

/* LEB128, at most 10 bytes, rejecting non-minimal trailing zero bytes and
 * values above 64 bits so that every value has one encoding. */
bool crdt__rbuf_varint_long(crdt_rbuf *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0, i = 0; i < 10; i++, shift += 7) {
        if (r->off >= r->len)
            return false;
        uint8_t b = r->p[r->off++];
        if (i == 9 && b > 1)
            return false;
        x |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return false;
            *v = x;
            return true;
        }
    }
    return false;
}

bool crdt__rbuf_bytes(crdt_rbuf *r, size_t n, const uint8_t **p)
{
    if (n > r->len - r->off)
        return false;
    *p = r->p + r->off;
    r->off += n;
    return true;
}
