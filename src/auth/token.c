/* HS256 bearer tokens. See token.h. */
#include "token.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/base64.h"

struct token_claims {
    cJSON *json;
    char sub[TOKEN_MAX_SUB + 1];
    const char *name;
    int64_t exp;
};

static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

const char *token_strerror(int code)
{
    switch (code) {
    case 0:
        return "ok";
    case TOKEN_EFORMAT:
        return "malformed token";
    case TOKEN_EALG:
        return "token algorithm is not HS256";
    case TOKEN_ESIGNATURE:
        return "token signature is invalid";
    case TOKEN_EEXPIRED:
        return "token has expired or is not yet valid";
    case TOKEN_ECLAIMS:
        return "token lacks a valid sub or exp claim";
    case TOKEN_ENOMEM:
        return "out of memory";
    case TOKEN_ESPACE:
        return "token too long";
    default:
        return "unknown token error";
    }
}

static int hmac(const char *secret, size_t secret_len, const char *msg, size_t len,
                unsigned char mac[32])
{
    unsigned int maclen = 0;
    if (!HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)msg, len, mac,
              &maclen) ||
        maclen != 32)
        return TOKEN_ENOMEM;
    return 0;
}

/* Converts a claim that is a string or an integral number to a string in
 * buf; returns 0 or -1. */
static int id_string(const cJSON *v, char *buf, size_t cap)
{
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        if (n == 0 || n >= cap)
            return -1;
        memcpy(buf, v->valuestring, n + 1);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740991.0)
            return -1;
        snprintf(buf, cap, "%" PRId64, (int64_t)d);
        return 0;
    }
    return -1;
}

int token_issue(const char *secret, size_t secret_len, const char *sub, const char *name,
                int64_t exp, const char *extra, char *out, size_t cap)
{
    if (!sub || !*sub || strlen(sub) > TOKEN_MAX_SUB)
        return TOKEN_ECLAIMS;
    cJSON *claims = extra ? cJSON_Parse(extra) : cJSON_CreateObject();
    if (!claims)
        return extra ? TOKEN_EFORMAT : TOKEN_ENOMEM;
    if (!cJSON_IsObject(claims) || cJSON_GetObjectItemCaseSensitive(claims, "sub") ||
        cJSON_GetObjectItemCaseSensitive(claims, "exp") ||
        cJSON_GetObjectItemCaseSensitive(claims, "name")) {
        cJSON_Delete(claims);
        return TOKEN_ECLAIMS;
    }
    int rc = TOKEN_ENOMEM;
    char *payload = NULL;
    if (!cJSON_AddStringToObject(claims, "sub", sub) ||
        (name && !cJSON_AddStringToObject(claims, "name", name)) ||
        !cJSON_AddNumberToObject(claims, "exp", (double)exp))
        goto done;
    payload = cJSON_PrintUnformatted(claims);
    if (!payload)
        goto done;
    char buf[TOKEN_MAX_LEN + 1];
    size_t plen = strlen(payload), n1, n2, n3;
    rc = TOKEN_ESPACE;
    if (base64_encoded_len(sizeof HEADER - 1, 1) + base64_encoded_len(plen, 1) + 2 + 43 >
        TOKEN_MAX_LEN)
        goto done;
    base64_encode((const uint8_t *)HEADER, sizeof HEADER - 1, 1, buf, sizeof buf, &n1);
    buf[n1] = '.';
    base64_encode((const uint8_t *)payload, plen, 1, buf + n1 + 1, sizeof buf - n1 - 1, &n2);
    size_t signed_len = n1 + 1 + n2;
    unsigned char mac[32];
    if ((rc = hmac(secret, secret_len, buf, signed_len, mac)) != 0)
        goto done;
    buf[signed_len] = '.';
    base64_encode(mac, 32, 1, buf + signed_len + 1, sizeof buf - signed_len - 1, &n3);
    size_t total = signed_len + 1 + n3;
    rc = TOKEN_ESPACE;
    if (total + 1 > cap)
        goto done;
    memcpy(out, buf, total + 1);
    rc = 0;
done:
    free(payload);
    cJSON_Delete(claims);
    return rc;
}

/* Decodes one base64url part into a NUL-terminated heap string. */
static char *decode_part(const char *p, size_t len)
{
    size_t cap = base64_decoded_max(len) + 1, n;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    if (base64_decode(p, len, 1, (uint8_t *)s, cap - 1, &n) != 0 || memchr(s, '\0', n)) {
        free(s);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static int get_time(const cJSON *v, int64_t *out)
{
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
        v->valuedouble > 1e15)
        return -1;
    *out = (int64_t)v->valuedouble;
    return 0;
}

int token_verify(const char *secret, size_t secret_len, const char *token, size_t len, int64_t now,
                 token_claims **out)
{
    *out = NULL;
    if (!token || len == 0)
        return TOKEN_EFORMAT;
    if (len > TOKEN_MAX_LEN)
        return TOKEN_ESPACE;
    const char *d1 = memchr(token, '.', len);
    if (!d1)
        return TOKEN_EFORMAT;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token));
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return TOKEN_EFORMAT;
    size_t hlen = (size_t)(d1 - token), plen = (size_t)(d2 - d1 - 1);
    size_t slen = len - (size_t)(d2 + 1 - token);
    if (!hlen || !plen || !slen)
        return TOKEN_EFORMAT;

    /* Header first: refuse other algorithms before any other work. */
    char *header = decode_part(token, hlen);
    if (!header)
        return TOKEN_EFORMAT;
    cJSON *h = cJSON_Parse(header);
    free(header);
    if (!cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return TOKEN_EFORMAT;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
    int alg_ok = cJSON_IsString(alg) && strcmp(alg->valuestring, "HS256") == 0;
    cJSON_Delete(h);
    if (!alg_ok)
        return TOKEN_EALG;

    uint8_t sig[64];
    size_t siglen;
    if (base64_decode(d2 + 1, slen, 1, sig, sizeof sig, &siglen) != 0 || siglen != 32)
        return TOKEN_ESIGNATURE;
    unsigned char mac[32];
    int rc = hmac(secret, secret_len, token, (size_t)(d2 - token), mac);
    if (rc)
        return rc;
    if (CRYPTO_memcmp(mac, sig, 32) != 0)
        return TOKEN_ESIGNATURE;

    char *payload = decode_part(d1 + 1, plen);
    if (!payload)
        return TOKEN_EFORMAT;
    cJSON *claims = cJSON_Parse(payload);
    free(payload);
    if (!cJSON_IsObject(claims)) {
        cJSON_Delete(claims);
        return TOKEN_EFORMAT;
    }
    token_claims *c = calloc(1, sizeof *c);
    if (!c) {
        cJSON_Delete(claims);
        return TOKEN_ENOMEM;
    }
    c->json = claims;
    rc = TOKEN_ECLAIMS;
    if (id_string(cJSON_GetObjectItemCaseSensitive(claims, "sub"), c->sub, sizeof c->sub) != 0 ||
        get_time(cJSON_GetObjectItemCaseSensitive(claims, "exp"), &c->exp) != 0)
        goto fail;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(claims, "name");
    if (nm && !cJSON_IsString(nm))
        goto fail;
    c->name = nm ? nm->valuestring : NULL;
    const cJSON *nbf = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    int64_t nbf_t = 0;
    if (nbf && get_time(nbf, &nbf_t) != 0)
        goto fail;
    rc = TOKEN_EEXPIRED;
    if (now >= c->exp || now < nbf_t)
        goto fail;
    *out = c;
    return 0;
fail:
    token_claims_free(c);
    return rc;
}

const char *token_claims_sub(const token_claims *c)
{
    return c->sub;
}

const char *token_claims_name(const token_claims *c)
{
    return c->name;
}

int64_t token_claims_exp(const token_claims *c)
{
    return c->exp;
}

const cJSON *token_claims_get(const token_claims *c, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(c->json, name);
}

static int item_equals(const cJSON *v, const char *value)
{
    char buf[64];
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, value) == 0;
    if (cJSON_IsNumber(v) && id_string(v, buf, sizeof buf) == 0)
        return strcmp(buf, value) == 0;
    return 0;
}

int token_claims_contains(const token_claims *c, const char *name, const char *value)
{
    const cJSON *v = token_claims_get(c, name);
    if (!v)
        return 0;
    if (cJSON_IsArray(v)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, v)
        {
            if (item_equals(e, value))
                return 1;
        }
        return 0;
    }
    if (cJSON_IsString(v)) {
        size_t vl = strlen(value);
        const char *p = v->valuestring;
        while (1) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if (n == vl && memcmp(p, value, n) == 0)
                return 1;
            if (!comma)
                return 0;
            p = comma + 1;
        }
    }
    return item_equals(v, value);
}

void token_claims_free(token_claims *c)
{
    if (!c)
        return;
    cJSON_Delete(c->json);
    free(c);
}
