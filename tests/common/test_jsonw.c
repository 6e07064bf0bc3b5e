/* Unit tests of jsonw.h: escaping (quotes, backslash, control bytes,
 * U+FFFD for bytes that are not UTF-8, on both sides of the eight-byte fast
 * path), integers, keys, the move from the caller's buffer to the heap, and
 * handing the text over. */
#include "common/jsonw.h"

#include <stdlib.h>
#include <string.h>

#include "test.h"

/* The JSON string literal jsonw writes for the n bytes at s. Written twice:
 * into a buffer with room for the worst case (six bytes per input byte),
 * which jsonw_str fills without growing it; and into a heap buffer sized to
 * exactly that literal, where each escape makes its own room: jsonw_str must
 * neither grow the buffer (room asked for beyond the text) nor write past it
 * (too little asked for, which AddressSanitizer reports), and both texts
 * must be the same. */
static char *quoted(const char *s, size_t n)
{
    static char big[4096];
    struct jsonw w;
    jsonw_init(&w, big, sizeof big);
    jsonw_str(&w, s, n);
    CHECK(w.p == big);
    char *q = strdup(w.p);
    size_t len = w.len;
    jsonw_free(&w);
    struct jsonw x;
    jsonw_init(&x, NULL, len);
    size_t cap = x.cap;
    jsonw_str(&x, s, n);
    CHECK_EQ(x.cap, cap);
    CHECK_EQ(x.len, len);
    CHECK(memcmp(x.p, q, len) == 0);
    jsonw_free(&x);
    return q;
}

#define Q(lit, want)                                                                               \
    do {                                                                                           \
        char *q_ = quoted(lit, sizeof(lit) - 1);                                                   \
        CHECK_STR_EQ(q_, want);                                                                    \
        free(q_);                                                                                  \
    } while (0)

static void test_escapes(void)
{
    Q("", "\"\"");
    Q("plain", "\"plain\"");
    Q("a\"b\\c", "\"a\\\"b\\\\c\"");
    Q("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
    Q("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
    Q("caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    /* Not UTF-8: a stray byte, a surrogate, a truncated sequence at the end. */
    Q("a\xff"
      "b",
      "\"a\xef\xbf\xbd"
      "b\"");
    Q("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    Q("ok\xc3", "\"ok\xef\xbf\xbd\"");
    /* Special bytes at every place of an eight-byte block, after and before plain runs. */
    Q("0123456789abcdef\"", "\"0123456789abcdef\\\"\"");
    Q("01234567\\89abcdef", "\"01234567\\\\89abcdef\"");
    Q("0123456\n89abcdefgh", "\"0123456\\n89abcdefgh\"");
    Q("01234567\xc3\xa9"
      "abcdefgh",
      "\"01234567\xc3\xa9"
      "abcdefgh\"");
    Q("0123456789abcde\xff", "\"0123456789abcde\xef\xbf\xbd\"");
    /* A NUL byte inside the string is escaped, not a terminator. */
    char *q = quoted("a\0b", 3);
    CHECK_STR_EQ(q, "\"a\\u0000b\"");
    free(q);
}

static void test_numbers_keys(void)
{
    char buf[8]; /* small on purpose: the text moves to the heap */
    struct jsonw w;
    jsonw_init(&w, buf, sizeof buf);
    JSONW_LIT(&w, "{\"a\":");
    jsonw_u64(&w, 0);
    JSONW_KEY(&w, "b");
    jsonw_u64(&w, UINT64_MAX);
    JSONW_KEY(&w, "c");
    jsonw_i64(&w, INT64_MIN);
    JSONW_KEY(&w, "d");
    JSONW_LIT(&w, "{\"e\":");
    jsonw_cstr(&w, NULL);
    jsonw_lit(&w, "}}");
    CHECK(w.heap);
    CHECK(!w.oom);
    size_t len = 0;
    char *t = jsonw_take(&w, &len);
    CHECK_STR_EQ(t, "{\"a\":0,\"b\":18446744073709551615,\"c\":-9223372036854775808,"
                    "\"d\":{\"e\":\"\"}}");
    CHECK_EQ(len, strlen(t));
    free(t);
}

static void test_stack_take_and_zero(void)
{
    char buf[64];
    struct jsonw w;
    jsonw_init(&w, buf, sizeof buf);
    jsonw_zero(&w, 4);
    jsonw_lit(&w, "{}");
    CHECK(!w.heap);
    size_t len = 0;
    char *t = jsonw_take(&w, &len); /* copied out of the caller's buffer */
    CHECK(t != buf);
    CHECK_EQ(len, 6);
    CHECK(!memcmp(t, "\0\0\0\0{}", 7));
    free(t);
    /* A taken writer is finished: what follows is dropped, take gives NULL. */
    jsonw_lit(&w, "x");
    CHECK(jsonw_take(&w, NULL) == NULL);
}

int main(void)
{
    test_escapes();
    test_numbers_keys();
    test_stack_take_and_zero();
    return TEST_RESULT();
}
