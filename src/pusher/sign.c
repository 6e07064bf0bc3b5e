/* sign: see sign.h. */
#include "sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

/* OpenSSL 3 looks algorithms up by name (a locked table) on every HMAC()
 * or EVP_sha256()-style call, which costs more than hashing a request. They
 * are fetched once: an HMAC-SHA256 context to copy, and MD5. NULL when a
 * fetch failed; the one-shot calls are used then. */
static EVP_MAC_CTX *sign_hmac_template;
static EVP_MD *sign_md5;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;

static void sign_fetch(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    sign_hmac_template = ctx;
    sign_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
}

/* HMAC-SHA256 into mac[32]; 0 on success. */
static int sign_hmac(const unsigned char *key, size_t key_len, const unsigned char *msg,
                     size_t msg_len, unsigned char mac[EVP_MAX_MD_SIZE])
{
    pthread_once(&sign_once, sign_fetch);
    if (!sign_hmac_template) {
        unsigned int n = 0;
        return HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, mac, &n) && n == 32 ? 0 : -1;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(sign_hmac_template);
    size_t n = 0;
    int ok = ctx && EVP_MAC_init(ctx, key, key_len, NULL) == 1 &&
             EVP_MAC_update(ctx, msg, msg_len) == 1 &&
             EVP_MAC_final(ctx, mac, &n, EVP_MAX_MD_SIZE) == 1 && n == 32;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

void sign_hmac_hex(const void *key, size_t key_len, const void *msg, size_t msg_len,
                   char out[SIGN_HEX_LEN + 1])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    static const unsigned char empty = 0;
    if (sign_hmac(key_len ? key : &empty, key_len, msg_len ? msg : &empty, msg_len, mac) != 0) {
        /* HMAC only fails on allocation failure: produce a value that can
         * never match a real hex signature. */
        memset(out, 'x', SIGN_HEX_LEN);
        out[SIGN_HEX_LEN] = '\0';
        return;
    }
    hex_encode(mac, 32, out);
    OPENSSL_cleanse(mac, sizeof mac);
}

void sign_md5_hex(const void *data, size_t len, char out[SIGN_MD5_HEX_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const unsigned char empty = 0;
    pthread_once(&sign_once, sign_fetch);
    if (!EVP_Digest(len ? data : &empty, len, md, &md_len, sign_md5 ? sign_md5 : EVP_md5(), NULL) ||
        md_len != 16) {
        memset(out, 'x', SIGN_MD5_HEX_LEN);
        out[SIGN_MD5_HEX_LEN] = '\0';
        return;
    }
    hex_encode(md, 16, out);
}

int sign_equal(const void *a, size_t a_len, const void *b, size_t b_len)
{
    /* Compare over a's length against b (or against a itself when lengths
     * differ) so the time depends on the lengths only. */
    int same_len = a_len == b_len;
    const void *other = same_len ? b : a;
    if (a_len == 0)
        return same_len;
    return CRYPTO_memcmp(a, other, a_len) == 0 && same_len;
}

/* ---- channel / user auth ---- */

/* HMAC of the concatenation of up to 5 pieces, written as hex into out. */
static int hmac_parts(const char *secret, const char *const *parts, const size_t *lens, size_t n,
                      char out[SIGN_HEX_LEN + 1])
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    char *buf = malloc(total ? total : 1);
    if (!buf)
        return SIGN_ENOMEM;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(buf + off, parts[i], lens[i]);
        off += lens[i];
    }
    sign_hmac_hex(secret, strlen(secret), buf, total, out);
    free(buf);
    return SIGN_OK;
}

static int channel_hex(const char *secret, const char *socket_id, const char *channel,
                       const char *channel_data, size_t channel_data_len,
                       char out[SIGN_HEX_LEN + 1])
{
    const char *parts[5] = {socket_id, ":", channel, ":", channel_data};
    size_t lens[5] = {strlen(socket_id), 1, strlen(channel), 1, channel_data_len};
    size_t n = channel_data && channel_data_len ? 5 : 3;
    return hmac_parts(secret, parts, lens, n, out);
}

static int user_hex(const char *secret, const char *socket_id, const char *user_data,
                    size_t user_data_len, char out[SIGN_HEX_LEN + 1])
{
    const char *parts[3] = {socket_id, "::user::", user_data ? user_data : ""};
    size_t lens[3] = {strlen(socket_id), 8, user_data ? user_data_len : 0};
    return hmac_parts(secret, parts, lens, 3, out);
}

static int make_auth(const char *key, const char *hex, char *out, size_t cap)
{
    size_t klen = strlen(key);
    size_t need = klen + 1 + SIGN_HEX_LEN;
    if (!out || cap < need + 1)
        return SIGN_ENOMEM;
    memcpy(out, key, klen);
    out[klen] = ':';
    memcpy(out + klen + 1, hex, SIGN_HEX_LEN);
    out[need] = '\0';
    return (int)need;
}

/* Checks "<key>:<hex>" against the expected key and hex, constant-time. */
static int check_auth(const char *key, const char *expected_hex, const char *auth, size_t auth_len)
{
    if (!auth)
        return SIGN_ESIGNATURE;
    const char *colon = memchr(auth, ':', auth_len);
    if (!colon)
        return SIGN_ESIGNATURE;
    size_t key_part = (size_t)(colon - auth);
    int key_ok = sign_equal(auth, key_part, key, strlen(key));
    int sig_ok = sign_equal(colon + 1, auth_len - key_part - 1, expected_hex, SIGN_HEX_LEN);
    if (!key_ok)
        return SIGN_EKEY;
    return sig_ok ? SIGN_OK : SIGN_ESIGNATURE;
}

int sign_channel_auth_make(const char *key, const char *secret, const char *socket_id,
                           const char *channel, const char *channel_data, size_t channel_data_len,
                           char *out, size_t cap)
{
    char hex[SIGN_HEX_LEN + 1];
    int rc = channel_hex(secret, socket_id, channel, channel_data, channel_data_len, hex);
    if (rc < 0)
        return rc;
    return make_auth(key, hex, out, cap);
}

int sign_channel_auth_verify(const char *key, const char *secret, const char *socket_id,
                             const char *channel, const char *channel_data, size_t channel_data_len,
                             const char *auth, size_t auth_len)
{
    char hex[SIGN_HEX_LEN + 1];
    int rc = channel_hex(secret, socket_id, channel, channel_data, channel_data_len, hex);
    if (rc < 0)
        return rc;
    rc = check_auth(key, hex, auth, auth_len);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

int sign_user_auth_verify(const char *key, const char *secret, const char *socket_id,
                          const char *user_data, size_t user_data_len, const char *auth,
                          size_t auth_len)
{
    char hex[SIGN_HEX_LEN + 1];
    int rc = user_hex(secret, socket_id, user_data, user_data_len, hex);
    if (rc < 0)
        return rc;
    rc = check_auth(key, hex, auth, auth_len);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

int sign_user_auth_make(const char *key, const char *secret, const char *socket_id,
                        const char *user_data, size_t user_data_len, char *out, size_t cap)
{
    char hex[SIGN_HEX_LEN + 1];
    int rc = user_hex(secret, socket_id, user_data, user_data_len, hex);
    if (rc < 0)
        return rc;
    return make_auth(key, hex, out, cap);
}

/* ---- query strings ---- */

/* Decodes s[0..len) into a new NUL-terminated string. Returns NULL and sets
 * *err on a bad escape, a decoded NUL or no memory. */
static char *url_decode(const char *s, size_t len, int *err)
{
    char *out = malloc(len + 1);
    if (!out) {
        *err = SIGN_ENOMEM;
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (len - i < 3) {
                free(out);
                *err = SIGN_EQUERY;
                return NULL;
            }
            int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
            if (h < 0 || l < 0) {
                free(out);
                *err = SIGN_EQUERY;
                return NULL;
            }
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0') {
            free(out);
            *err = SIGN_EQUERY;
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

void sign_query_free(struct sign_query *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++) {
        free(q->params[i].key);
        free(q->params[i].value);
    }
    free(q->params);
    q->params = NULL;
    q->count = 0;
}

int sign_query_parse(const char *query, size_t len, struct sign_query *out)
{
    out->params = NULL;
    out->count = 0;
    if (!query || len == 0)
        return SIGN_OK;
    if (len > SIGN_QUERY_MAX_LEN || memchr(query, '\0', len))
        return SIGN_EQUERY;
    struct sign_query q = {calloc(SIGN_QUERY_MAX_PARAMS, sizeof *q.params), 0};
    if (!q.params)
        return SIGN_ENOMEM;
    int rc = SIGN_OK;
    size_t pos = 0;
    while (pos <= len && rc == SIGN_OK) {
        const char *seg = query + pos;
        const char *amp = memchr(seg, '&', len - pos);
        size_t seg_len = amp ? (size_t)(amp - seg) : len - pos;
        pos += seg_len + 1;
        if (seg_len == 0)
            continue;
        if (q.count == SIGN_QUERY_MAX_PARAMS) {
            rc = SIGN_EQUERY;
            break;
        }
        const char *eq = memchr(seg, '=', seg_len);
        size_t key_len = eq ? (size_t)(eq - seg) : seg_len;
        int err = SIGN_OK;
        char *key = url_decode(seg, key_len, &err);
        char *value =
            key ? url_decode(eq ? eq + 1 : seg + seg_len, eq ? seg_len - key_len - 1 : 0, &err)
                : NULL;
        if (!key || !value) {
            free(key);
            rc = err;
            break;
        }
        if (sign_query_get(&q, key)) {
            free(key);
            free(value);
            rc = SIGN_EDUPLICATE;
            break;
        }
        q.params[q.count].key = key;
        q.params[q.count].value = value;
        q.count++;
    }
    if (rc != SIGN_OK) {
        sign_query_free(&q);
        return rc;
    }
    *out = q;
    return SIGN_OK;
}

const char *sign_query_get(const struct sign_query *q, const char *key)
{
    for (size_t i = 0; q && i < q->count; i++) {
        if (strcmp(q->params[i].key, key) == 0)
            return q->params[i].value;
    }
    return NULL;
}

/* ---- HTTP API ---- */

static int cmp_param_ptr(const void *a, const void *b)
{
    const struct sign_query_param *pa = *(const struct sign_query_param *const *)a;
    const struct sign_query_param *pb = *(const struct sign_query_param *const *)b;
    return strcmp(pa->key, pb->key);
}

/* Bytes of `s` once written by put_escaped. */
static size_t escaped_len(const char *s, int is_key)
{
    size_t n = 0;
    for (; *s; s++)
        n += (*s == '%' || *s == '&' || (is_key && *s == '=')) ? 3 : 1;
    return n;
}

/* Writes `s` with '%' and '&' (and, in a key, '=') as %25, %26, %3D, so the
 * joined list can be split back in one way only: at every '&', then at the
 * first '=' of each part. Every other byte is written as decoded, which is
 * what the Pusher SDKs sign for the values they send (channel names, comma
 * lists, prefixes: a channel name may hold '=', never '&' or '%'). */
static size_t put_escaped(char *out, const char *s, int is_key)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '%' || c == '&' || (is_key && c == '=')) {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        } else {
            out[n++] = (char)c;
        }
    }
    return n;
}

int sign_http_string(const char *method, const char *path, const struct sign_query *q, char **out)
{
    *out = NULL;
    size_t n = q ? q->count : 0;
    const struct sign_query_param **sorted = calloc(n ? n : 1, sizeof *sorted);
    if (!sorted)
        return SIGN_ENOMEM;
    size_t m = 0, total = strlen(method) + 1 + strlen(path) + 1;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(q->params[i].key, "auth_signature") == 0)
            continue;
        sorted[m++] = &q->params[i];
        total += escaped_len(q->params[i].key, 1) + 1 + escaped_len(q->params[i].value, 0) + 1;
    }
    qsort(sorted, m, sizeof *sorted, cmp_param_ptr);
    char *s = malloc(total + 1);
    if (!s) {
        free(sorted);
        return SIGN_ENOMEM;
    }
    size_t len = 0;
    for (const char *p = method; *p; p++)
        s[len++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
    s[len++] = '\n';
    size_t plen = strlen(path);
    memcpy(s + len, path, plen);
    len += plen;
    s[len++] = '\n';
    for (size_t i = 0; i < m; i++) {
        if (i)
            s[len++] = '&';
        len += put_escaped(s + len, sorted[i]->key, 1);
        s[len++] = '=';
        len += put_escaped(s + len, sorted[i]->value, 0);
    }
    s[len] = '\0';
    free(sorted);
    *out = s;
    return (int)len;
}

/* Parses a decimal integer with optional leading '-'; returns 0 on success. */
static int parse_int64(const char *s, int64_t *out)
{
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

int sign_http_verify(const char *method, const char *path, const char *query, size_t query_len,
                     const void *body, size_t body_len, const char *key, const char *secret,
                     int64_t now, unsigned window)
{
    struct sign_query q;
    int rc = sign_query_parse(query, query_len, &q);
    if (rc != SIGN_OK)
        return rc;

    const char *auth_key = sign_query_get(&q, "auth_key");
    const char *version = sign_query_get(&q, "auth_version");
    const char *ts = sign_query_get(&q, "auth_timestamp");
    const char *md5 = sign_query_get(&q, "body_md5");
    const char *sig = sign_query_get(&q, "auth_signature");
    int64_t ts_val = 0;

    if (!auth_key || !sign_equal(auth_key, strlen(auth_key), key, strlen(key))) {
        rc = SIGN_EKEY;
    } else if (!version || strcmp(version, "1.0") != 0) {
        rc = SIGN_EVERSION;
    } else if (!ts || parse_int64(ts, &ts_val) != 0) {
        rc = SIGN_ETIMESTAMP;
    } else if (window && (ts_val > now ? (uint64_t)(ts_val - now) : (uint64_t)(now - ts_val)) >
                             (uint64_t)window) {
        rc = SIGN_ETIMESTAMP;
    } else if (body_len > 0 || md5) {
        /* A non-empty body needs body_md5; a supplied body_md5 must match
         * even for an empty body, so a signed body cannot be dropped. */
        char want[SIGN_MD5_HEX_LEN + 1];
        sign_md5_hex(body, body_len, want);
        if (!md5 || strlen(md5) != SIGN_MD5_HEX_LEN ||
            !sign_equal(md5, SIGN_MD5_HEX_LEN, want, SIGN_MD5_HEX_LEN))
            rc = SIGN_EBODYMD5;
    }
    if (rc == SIGN_OK && !sig)
        rc = SIGN_ESIGNATURE;
    if (rc == SIGN_OK) {
        char *str = NULL;
        int len = sign_http_string(method, path, &q, &str);
        if (len < 0) {
            rc = len;
        } else {
            char want[SIGN_HEX_LEN + 1];
            sign_hmac_hex(secret, strlen(secret), str, (size_t)len, want);
            if (!sign_equal(sig, strlen(sig), want, SIGN_HEX_LEN))
                rc = SIGN_ESIGNATURE;
            OPENSSL_cleanse(want, sizeof want);
            free(str);
        }
    }
    sign_query_free(&q);
    return rc;
}

int sign_http_status(int code)
{
    if (code == SIGN_OK)
        return 200;
    if (code == SIGN_ENOMEM)
        return 500;
    return 401;
}

const char *sign_http_message(int code)
{
    switch (code) {
    case SIGN_OK:
        return "";
    case SIGN_EKEY:
        return "Invalid auth_key.";
    case SIGN_ETIMESTAMP:
        return "Timestamp expired: auth_timestamp is not within the allowed window of server time.";
    case SIGN_EVERSION:
        return "Invalid auth_version: expected 1.0.";
    case SIGN_EDUPLICATE:
        return "Duplicate query parameter.";
    case SIGN_EQUERY:
        return "Malformed query string.";
    case SIGN_ENOMEM:
        return "Internal server error.";
    case SIGN_ESIGNATURE:
    case SIGN_EBODYMD5:
    default:
        return "Authentication signature invalid.";
    }
}

const char *sign_strerror(int code)
{
    switch (code) {
    case SIGN_OK:
        return "signature valid";
    case SIGN_ESIGNATURE:
        return "signature mismatch or missing";
    case SIGN_EKEY:
        return "auth key missing or not the app key";
    case SIGN_ETIMESTAMP:
        return "auth_timestamp missing, malformed or outside the window";
    case SIGN_EVERSION:
        return "auth_version missing or not 1.0";
    case SIGN_EBODYMD5:
        return "body_md5 missing or not the MD5 of the body";
    case SIGN_EDUPLICATE:
        return "duplicate query parameter";
    case SIGN_EQUERY:
        return "malformed query string";
    case SIGN_ENOMEM:
        return "out of memory";
    }
    return "unknown signature error";
}
