/* Unit tests of hex.h: every byte value, the empty input, the NUL. */
#include "common/hex.h"

#include "test.h"

int main(void)
{
    char out[9];
    hex_encode("", 0, out);
    CHECK_STR_EQ(out, "");
    hex_encode("\x00\x7f\x80\xff", 4, out);
    CHECK_STR_EQ(out, "007f80ff");
    unsigned char all[256];
    char hex[513];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    hex_encode(all, sizeof all, hex);
    CHECK_EQ(strlen(hex), 512);
    CHECK(!memcmp(hex + 2 * 0xab, "ab", 2));
    CHECK(!memcmp(hex + 2 * 0x10, "10", 2));
    /* hex_digit: both cases, and -1 for everything else; it reads back
     * what hex_encode wrote */
    for (int c = 0; c < 256; c++) {
        int want = c >= '0' && c <= '9'   ? c - '0'
                   : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
        CHECK_EQ(hex_digit((char)c), want);
    }
    for (int i = 0; i < 256; i++)
        CHECK_EQ(hex_digit(hex[2 * i]) * 16 + hex_digit(hex[2 * i + 1]), i);
    return TEST_RESULT();
}
