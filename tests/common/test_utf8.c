/* utf8: valid sequences at every length boundary, and the classic invalid
 * ones (overlong, surrogates, > U+10FFFF, truncated, stray continuation). */
#include "common/utf8.h"
#include "test.h"

#define V(s) utf8_valid(s, sizeof(s) - 1)

int main(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(V("plain ascii {\"a\":1}"));
    CHECK(V("\xc2\x80"));         /* U+0080 */
    CHECK(V("\xdf\xbf"));         /* U+07FF */
    CHECK(V("\xe0\xa0\x80"));     /* U+0800 */
    CHECK(V("\xed\x9f\xbf"));     /* U+D7FF */
    CHECK(V("\xee\x80\x80"));     /* U+E000 */
    CHECK(V("\xef\xbf\xbf"));     /* U+FFFF */
    CHECK(V("\xf0\x90\x80\x80")); /* U+10000 */
    CHECK(V("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    CHECK(V("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    CHECK(!V("\x80"));                 /* stray continuation */
    CHECK(!V("\xc0\xaf"));             /* overlong '/' */
    CHECK(!V("\xe0\x80\xaf"));         /* overlong */
    CHECK(!V("\xf0\x80\x80\xaf"));     /* overlong */
    CHECK(!V("\xed\xa0\x80"));         /* U+D800 surrogate */
    CHECK(!V("\xed\xbf\xbf"));         /* U+DFFF surrogate */
    CHECK(!V("\xf4\x90\x80\x80"));     /* U+110000 */
    CHECK(!V("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    CHECK(!V("\xff"));
    CHECK(!V("\xe2\x82")); /* truncated */
    CHECK(!V("ok\xc3"));   /* truncated at the end */
    CHECK(!V("\xc3\x28")); /* bad continuation */
    return TEST_RESULT();
}
