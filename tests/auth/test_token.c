/* Unit tests of HS256 tokens (src/auth/token.h) and base64 (src/common/base64.h). */
#include <stdlib.h>

#include "auth/token.h"
#include "common/base64.h"
#include "test.h"

#define SECRET "7ad3773142a6692b25b8"
#define SLEN (sizeof SECRET - 1)

/* Computed independently with Python's hmac + base64 (sub 42, teams 1,7). */
static const char *VECTOR =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJBZGEiLCJleHAiOjIwMDAwMDAwMD"
    "AsInRlYW1zIjpbIjEiLCI3Il19.Jj8BZwqEPELecAcaYGxAs76F9I4zftiKJVfUm5karHM";

static void test_base64(void)
{
    char out[64];
    size_t n;
    uint8_t dec[64];
    CHECK_EQ(base64_encode((const uint8_t *)"foobar", 6, 0, out, sizeof out, &n), 0);
    CHECK_STR_EQ(out, "Zm9vYmFy");
    CHECK_EQ(base64_encode((const uint8_t *)"fo", 2, 0, out, sizeof out, &n), 0);
    CHECK_STR_EQ(out, "Zm8=");
    CHECK_EQ(base64_encode((const uint8_t *)"f", 1, 1, out, sizeof out, &n), 0);
    CHECK_STR_EQ(out, "Zg");
    CHECK_EQ(base64_encode((const uint8_t *)"\xfb\xff", 2, 1, out, sizeof out, &n), 0);
    CHECK_STR_EQ(out, "-_8");
    CHECK_EQ(base64_encode((const uint8_t *)"foobar", 6, 0, out, 8, &n), BASE64_ESPACE);
    CHECK_EQ(base64_decode("Zm9vYmE=", 8, 0, dec, sizeof dec, &n), 0);
    CHECK_EQ(n, 5);
    CHECK_MEM_EQ(dec, "fooba", 5);
    CHECK_EQ(base64_decode("Zm9vYmE", 7, 0, dec, sizeof dec, &n), BASE64_EINVAL);
    CHECK_EQ(base64_decode("Zm9vYmE", 7, 1, dec, sizeof dec, &n), 0);
    CHECK_EQ(base64_decode("Zm9v*mE=", 8, 0, dec, sizeof dec, &n), BASE64_EINVAL);
    CHECK_EQ(base64_decode("Z", 1, 1, dec, sizeof dec, &n), BASE64_EINVAL);
    CHECK_EQ(base64_decode("Zh==", 4, 0, dec, sizeof dec, &n), BASE64_EINVAL);
    CHECK_EQ(base64_decode("", 0, 0, dec, sizeof dec, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(base64_decode("Zm9vYmFy", 8, 0, dec, 5, &n), BASE64_ESPACE);
    /* Round trip of every length up to 40 over all byte values. */
    for (size_t len = 0; len <= 40; len++) {
        uint8_t src[40];
        for (size_t i = 0; i < len; i++)
            src[i] = (uint8_t)(i * 37 + len * 11);
        for (int url = 0; url < 2; url++) {
            char enc[80];
            CHECK_EQ(base64_encode(src, len, url, enc, sizeof enc, &n), 0);
            CHECK_EQ(n, base64_encoded_len(len, url));
            size_t m;
            CHECK_EQ(base64_decode(enc, n, url, dec, sizeof dec, &m), 0);
            CHECK_EQ(m, len);
            CHECK_MEM_EQ(dec, src, len);
        }
    }
}

static void test_vector(void)
{
    token_claims *c = NULL;
    CHECK_EQ(token_verify(SECRET, SLEN, VECTOR, strlen(VECTOR), 1900000000, &c), 0);
    if (!c)
        return;
    CHECK_STR_EQ(token_claims_sub(c), "42");
    CHECK_STR_EQ(token_claims_name(c), "Ada");
    CHECK_EQ(token_claims_exp(c), 2000000000);
    CHECK(token_claims_contains(c, "teams", "7"));
    CHECK(!token_claims_contains(c, "teams", "2"));
    CHECK(!token_claims_contains(c, "nope", "1"));
    token_claims_free(c);
    /* Expired at exp exactly. */
    CHECK_EQ(token_verify(SECRET, SLEN, VECTOR, strlen(VECTOR), 2000000000, &c), TOKEN_EEXPIRED);
    CHECK(c == NULL);
    /* Wrong secret. */
    CHECK_EQ(token_verify("x", 1, VECTOR, strlen(VECTOR), 0, &c), TOKEN_ESIGNATURE);
}

static void test_roundtrip_and_tamper(void)
{
    char tok[TOKEN_MAX_LEN + 1];
    CHECK_EQ(token_issue(SECRET, SLEN, "7", "Bob", 100, "{\"teams\":[3,\"4\"],\"roles\":\"a,b\"}",
                         tok, sizeof tok),
             0);
    token_claims *c = NULL;
    CHECK_EQ(token_verify(SECRET, SLEN, tok, strlen(tok), 99, &c), 0);
    if (c) {
        CHECK_STR_EQ(token_claims_sub(c), "7");
        CHECK(token_claims_contains(c, "teams", "3"));
        CHECK(token_claims_contains(c, "teams", "4"));
        CHECK(token_claims_contains(c, "roles", "b"));
        CHECK(!token_claims_contains(c, "roles", "a,b"));
        token_claims_free(c);
    }
    /* Flip each character of the token: never verifies. */
    size_t len = strlen(tok);
    for (size_t i = 0; i < len; i++) {
        char copy[TOKEN_MAX_LEN + 1];
        memcpy(copy, tok, len + 1);
        copy[i] = copy[i] == 'A' ? 'B' : (copy[i] == '.' ? 'x' : 'A');
        c = NULL;
        int rc = token_verify(SECRET, SLEN, copy, len, 99, &c);
        if (rc == 0) {
            fprintf(stderr, "tampered token verified at %zu\n", i);
            token_claims_free(c);
        }
        CHECK(rc != 0);
    }
    /* Truncations. */
    for (size_t i = 0; i < len; i++) {
        c = NULL;
        CHECK(token_verify(SECRET, SLEN, tok, i, 99, &c) != 0);
        CHECK(c == NULL);
    }
    /* Reserved claims may not come from extra; sub must be sane. */
    CHECK_EQ(token_issue(SECRET, SLEN, "7", NULL, 1, "{\"sub\":\"8\"}", tok, sizeof tok),
             TOKEN_ECLAIMS);
    CHECK_EQ(token_issue(SECRET, SLEN, "", NULL, 1, NULL, tok, sizeof tok), TOKEN_ECLAIMS);
    CHECK_EQ(token_issue(SECRET, SLEN, "7", NULL, 1, "[1]", tok, sizeof tok), TOKEN_ECLAIMS);
    CHECK_EQ(token_issue(SECRET, SLEN, "7", NULL, 1, "{", tok, sizeof tok), TOKEN_EFORMAT);
    CHECK_EQ(token_issue(SECRET, SLEN, "7", NULL, 1, NULL, tok, 10), TOKEN_ESPACE);
}

/* Builds header.payload with arbitrary JSON parts and a dummy signature. */
static void forge(const char *header, const char *payload, const char *secret, char *out)
{
    size_t n1, n2;
    char buf[2048];
    base64_encode((const uint8_t *)header, strlen(header), 1, buf, sizeof buf, &n1);
    buf[n1] = '.';
    base64_encode((const uint8_t *)payload, strlen(payload), 1, buf + n1 + 1, sizeof buf - n1 - 1,
                  &n2);
    (void)secret;
    strcpy(out, buf);
    strcat(out, ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
}

static void test_refusals(void)
{
    char tok[4096];
    token_claims *c = NULL;
    forge("{\"alg\":\"none\"}", "{\"sub\":\"1\",\"exp\":9}", NULL, tok);
    CHECK_EQ(token_verify(SECRET, SLEN, tok, strlen(tok), 0, &c), TOKEN_EALG);
    forge("{\"alg\":\"HS512\"}", "{\"sub\":\"1\",\"exp\":9}", NULL, tok);
    CHECK_EQ(token_verify(SECRET, SLEN, tok, strlen(tok), 0, &c), TOKEN_EALG);
    forge("[]", "{}", NULL, tok);
    CHECK_EQ(token_verify(SECRET, SLEN, tok, strlen(tok), 0, &c), TOKEN_EFORMAT);
    forge("{\"alg\":\"HS256\"}", "{}", NULL, tok);
    CHECK_EQ(token_verify(SECRET, SLEN, tok, strlen(tok), 0, &c), TOKEN_ESIGNATURE);
    CHECK_EQ(token_verify(SECRET, SLEN, "a.b", 3, 0, &c), TOKEN_EFORMAT);
    CHECK_EQ(token_verify(SECRET, SLEN, "a.b.c.d", 7, 0, &c), TOKEN_EFORMAT);
    CHECK_EQ(token_verify(SECRET, SLEN, "..", 2, 0, &c), TOKEN_EFORMAT);
    char *big = malloc(TOKEN_MAX_LEN + 2);
    memset(big, 'a', TOKEN_MAX_LEN + 1);
    big[TOKEN_MAX_LEN + 1] = '\0';
    CHECK_EQ(token_verify(SECRET, SLEN, big, TOKEN_MAX_LEN + 1, 0, &c), TOKEN_ESPACE);
    free(big);
    /* Valid signature, bad claims: integer sub is accepted, missing exp is
     * not. */
    char ok[TOKEN_MAX_LEN + 1];
    CHECK_EQ(token_issue(SECRET, SLEN, "9", NULL, 50, "{\"nbf\":40}", ok, sizeof ok), 0);
    CHECK_EQ(token_verify(SECRET, SLEN, ok, strlen(ok), 39, &c), TOKEN_EEXPIRED);
    CHECK_EQ(token_verify(SECRET, SLEN, ok, strlen(ok), 40, &c), 0);
    token_claims_free(c);
    CHECK(strlen(token_strerror(TOKEN_EALG)) > 0);
    token_claims_free(NULL);
}

int main(void)
{
    test_base64();
    test_vector();
    test_roundtrip_and_tamper();
    test_refusals();
    return TEST_RESULT();
}
