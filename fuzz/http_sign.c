/* Fuzz target: HTTP API request verification and query parsing.
 * Input layout: METHOD '\n' PATH '\n' QUERY '\n' BODY (the body is the
 * rest, may contain newlines). Besides crashes it checks that re-signing
 * the parsed parameters with the right secret always verifies when the key,
 * version and timestamp parameters are valid (the signer and the verifier
 * agree on decoding and sorting). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/sign.h"

#define KEY "278d425bdf160c739803"
#define SECRET "7ad3773142a6692b25b8"
#define NOW 1353088179

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Splits off the next '\n'-terminated field; returns a malloc'd copy. */
static char *field(const uint8_t **p, size_t *left)
{
    const uint8_t *nl = memchr(*p, '\n', *left);
    size_t n = nl ? (size_t)(nl - *p) : *left;
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += n + (nl ? 1 : 0);
    *left -= n + (nl ? 1 : 0);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data;
    size_t left = size;
    char *method = field(&p, &left);
    char *path = field(&p, &left);
    char *query = field(&p, &left);
    const uint8_t *body = p;
    size_t body_len = left;
    size_t qlen = strlen(query); /* fields stop at NUL, like a C HTTP layer would */

    (void)sign_http_verify(method, path, query, qlen, body, body_len, KEY, SECRET, NOW, 600);
    (void)sign_http_verify(method, path, query, qlen, body, body_len, KEY, SECRET, NOW, 0);

    struct sign_query q;
    if (sign_query_parse(query, qlen, &q) == SIGN_OK) {
        char *str = NULL;
        int len = sign_http_string(method, path, &q, &str);
        check(len >= 0);
        const char *ak = sign_query_get(&q, "auth_key");
        const char *av = sign_query_get(&q, "auth_version");
        const char *ts = sign_query_get(&q, "auth_timestamp");
        const char *md5 = sign_query_get(&q, "body_md5");
        char want_md5[SIGN_MD5_HEX_LEN + 1];
        sign_md5_hex(body, body_len, want_md5);
        int md5_ok = md5 ? strcmp(md5, want_md5) == 0 : body_len == 0;
        int params_ok = ak && strcmp(ak, KEY) == 0 && av && strcmp(av, "1.0") == 0 && ts &&
                        strcmp(ts, "1353088179") == 0 && md5_ok &&
                        !sign_query_get(&q, "auth_signature");
        if (params_ok && qlen + 100 < SIGN_QUERY_MAX_LEN && q.count < SIGN_QUERY_MAX_PARAMS) {
            char hex[SIGN_HEX_LEN + 1];
            sign_hmac_hex(SECRET, strlen(SECRET), str, (size_t)len, hex);
            size_t n = qlen + 100;
            char *signed_q = malloc(n);
            int sn = snprintf(signed_q, n, "%s%sauth_signature=%s", query, qlen ? "&" : "", hex);
            check(sign_http_verify(method, path, signed_q, (size_t)sn, body, body_len, KEY, SECRET,
                                   NOW, 600) == SIGN_OK);
            free(signed_q);
        }
        free(str);
        sign_query_free(&q);
    }

    /* Channel auth on the same bytes. */
    char made[256];
    (void)sign_channel_auth_verify(KEY, SECRET, "1.2", path, query, qlen, (const char *)body,
                                   body_len);
    int mlen =
        sign_channel_auth_make(KEY, SECRET, "1.2", "private-x", query, qlen, made, sizeof made);
    check(mlen > 0);
    check(sign_channel_auth_verify(KEY, SECRET, "1.2", "private-x", query, qlen, made,
                                   (size_t)mlen) == SIGN_OK);
    free(method);
    free(path);
    free(query);
    return 0;
}
