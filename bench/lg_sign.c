/* lg_sign: HMAC-SHA256 and MD5 in hex via OpenSSL (see lg_sign.h). */
#include "lg_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

static void lg_sign_hex(const unsigned char *d, unsigned n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void lg_sign_hmac_hex(const char *secret, const void *msg, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, len, md, &n);
    lg_sign_hex(md, n, out);
}

void lg_sign_md5_hex(const void *data, size_t len, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    lg_sign_hex(md, n, out);
}
