/* Fuzz target: jsonw_str, which every frame builder uses to write client
 * bytes as a JSON string. It reserves the input's size and makes room for
 * each escape as it comes: a room check one byte short would write past the
 * buffer. Invariants checked: the text written into a buffer with room for
 * the worst case (six bytes per input byte: no growth) and into a heap
 * buffer of exactly that text's size is the same, the heap buffer did not
 * grow, and a writer that starts one byte long grows to hold the same text
 * after a prefix. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char big[1 << 20];
    if (size > (sizeof big - 16) / 6)
        return 0;
    const char *s = (const char *)data;
    struct jsonw w;
    jsonw_init(&w, big, sizeof big);
    jsonw_str(&w, s, size);
    check(w.p == big && !w.oom);
    size_t len = w.len;

    struct jsonw x;
    jsonw_init(&x, NULL, len);
    size_t cap = x.cap;
    jsonw_str(&x, s, size);
    check(!x.oom && x.cap == cap && x.len == len && memcmp(x.p, big, len) == 0);
    jsonw_free(&x);

    struct jsonw y;
    jsonw_init(&y, NULL, 1);
    jsonw_lit(&y, "ab");
    jsonw_str(&y, s, size);
    check(!y.oom && y.len == len + 2 && memcmp(y.p + 2, big, len) == 0);
    jsonw_free(&y);
    return 0;
}
