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
    return TEST_RESULT();
}
