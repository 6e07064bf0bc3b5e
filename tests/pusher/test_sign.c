/* Unit tests of sign.h: the published Pusher vectors for channel
 * authorization and the HTTP API, mutations of them, query decoding and sorting, timestamp window.
 */
#include "pusher/sign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#define KEY "278d425bdf160c739803"
#define SECRET "7ad3773142a6692b25b8"
#define SOCKET "1234.1234"

static const char body_51[] =
    "{\"name\":\"foo\",\"channels\":[\"project-3\"],\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}";
static const char sig_51[] = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";

static void test_hmac_vectors(void)
{
    char hex[SIGN_HEX_LEN + 1];
    const char *m1 = SOCKET ":private-foobar";
    sign_hmac_hex(SECRET, strlen(SECRET), m1, strlen(m1), hex);
    CHECK_STR_EQ(hex, "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");

    const char *m2 =
        SOCKET ":presence-foobar:{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}";
    sign_hmac_hex(SECRET, strlen(SECRET), m2, strlen(m2), hex);
    CHECK_STR_EQ(hex, "31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80");

    const char *m3 = SOCKET "::user::{\"id\":\"12345\",\"user_info\":{\"name\":\"John\"}}";
    sign_hmac_hex(SECRET, strlen(SECRET), m3, strlen(m3), hex);
    CHECK_STR_EQ(hex, "98b5b265fedd87d17f61ce2e310eb2a5285a36ff88a4d5c586b75d01f17bf57d");

    char md5[SIGN_MD5_HEX_LEN + 1];
    sign_md5_hex(body_51, strlen(body_51), md5);
    CHECK_STR_EQ(md5, "ec365a775a4cd0599faeb73354201b6f");
    sign_md5_hex("", 0, md5);
    CHECK_STR_EQ(md5, "d41d8cd98f00b204e9800998ecf8427e");
}

static void test_equal(void)
{
    CHECK_EQ(sign_equal("abc", 3, "abc", 3), 1);
    CHECK_EQ(sign_equal("abc", 3, "abd", 3), 0);
    CHECK_EQ(sign_equal("abc", 3, "abcd", 4), 0);
    CHECK_EQ(sign_equal("abcd", 4, "abc", 3), 0);
    CHECK_EQ(sign_equal("", 0, "", 0), 1);
    CHECK_EQ(sign_equal("", 0, "a", 1), 0);
}

static void test_channel_auth(void)
{
    const char *good = KEY ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, good,
                                      strlen(good)),
             SIGN_OK);
    /* made auth equals the vector */
    char made[128];
    CHECK_EQ(
        sign_channel_auth_make(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, made, sizeof made),
        (int)strlen(good));
    CHECK_STR_EQ(made, good);
    CHECK_EQ(sign_channel_auth_make(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, made, 20),
             SIGN_ENOMEM);
    /* other channel, other socket */
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobaz", NULL, 0, good,
                                      strlen(good)),
             SIGN_ESIGNATURE);
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, "1234.1235", "private-foobar", NULL, 0, good,
                                      strlen(good)),
             SIGN_ESIGNATURE);
    /* wrong key part, no colon, empty, NULL, truncated, upper-case hex */
    const char *badkey =
        "278d425bdf160c739804:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, badkey,
                                      strlen(badkey)),
             SIGN_EKEY);
    const char *nocolon = "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, nocolon,
                                      strlen(nocolon)),
             SIGN_ESIGNATURE);
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, "", 0),
             SIGN_ESIGNATURE);
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, NULL, 0),
             SIGN_ESIGNATURE);
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, good,
                                      strlen(good) - 1),
             SIGN_ESIGNATURE);
    const char *upper = KEY ":58DF8B0C36D6982B82C3ECF6B4662E34FE8C25BBA48F5369F135BF843651C3A4";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, upper,
                                      strlen(upper)),
             SIGN_ESIGNATURE);
    /* every single-byte mutation of the hex part fails */
    char mut[128];
    int all_fail = 1;
    for (size_t i = strlen(KEY) + 1; i < strlen(good); i++) {
        strcpy(mut, good);
        mut[i] = mut[i] == '0' ? '1' : '0';
        if (sign_channel_auth_verify(KEY, SECRET, SOCKET, "private-foobar", NULL, 0, mut,
                                     strlen(mut)) != SIGN_ESIGNATURE)
            all_fail = 0;
    }
    CHECK(all_fail);

    /* presence: channel_data is signed verbatim; a one-character change fails */
    const char *cd = "{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}";
    const char *pgood = KEY ":31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "presence-foobar", cd, strlen(cd), pgood,
                                      strlen(pgood)),
             SIGN_OK);
    const char *cd2 = "{\"user_id\":11,\"user_info\":{\"name\":\"Mr. Channels\"}}";
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "presence-foobar", cd2, strlen(cd2),
                                      pgood, strlen(pgood)),
             SIGN_ESIGNATURE);
    /* presence signature without channel_data does not verify */
    CHECK_EQ(sign_channel_auth_verify(KEY, SECRET, SOCKET, "presence-foobar", NULL, 0, pgood,
                                      strlen(pgood)),
             SIGN_ESIGNATURE);

    /* signin */
    const char *ud = "{\"id\":\"12345\",\"user_info\":{\"name\":\"John\"}}";
    const char *ugood = KEY ":98b5b265fedd87d17f61ce2e310eb2a5285a36ff88a4d5c586b75d01f17bf57d";
    CHECK_EQ(sign_user_auth_verify(KEY, SECRET, SOCKET, ud, strlen(ud), ugood, strlen(ugood)),
             SIGN_OK);
    CHECK_EQ(sign_user_auth_make(KEY, SECRET, SOCKET, ud, strlen(ud), made, sizeof made),
             (int)strlen(ugood));
    CHECK_STR_EQ(made, ugood);
    CHECK_EQ(sign_user_auth_verify(KEY, SECRET, SOCKET, ud, strlen(ud) - 1, ugood, strlen(ugood)),
             SIGN_ESIGNATURE);
}

static void test_query(void)
{
    struct sign_query q;
    CHECK_EQ(sign_query_parse("info=user_count%2Csubscription_count&filter_by_prefix=presence-"
                              "&a+b=c+d&e=&f&&g=%7e%41",
                              strlen("info=user_count%2Csubscription_count&filter_by_prefix="
                                     "presence-&a+b=c+d&e=&f&&g=%7e%41"),
                              &q),
             SIGN_OK);
    CHECK_EQ(q.count, 6);
    CHECK_STR_EQ(sign_query_get(&q, "info"), "user_count,subscription_count");
    CHECK_STR_EQ(sign_query_get(&q, "filter_by_prefix"), "presence-");
    CHECK_STR_EQ(sign_query_get(&q, "a b"), "c d");
    CHECK_STR_EQ(sign_query_get(&q, "e"), "");
    CHECK_STR_EQ(sign_query_get(&q, "f"), "");
    CHECK_STR_EQ(sign_query_get(&q, "g"), "~A");
    CHECK(sign_query_get(&q, "missing") == NULL);
    sign_query_free(&q);

    CHECK_EQ(sign_query_parse("", 0, &q), SIGN_OK);
    CHECK_EQ(q.count, 0);
    CHECK_EQ(sign_query_parse(NULL, 0, &q), SIGN_OK);
    CHECK_EQ(sign_query_parse("a=1&a=2", 7, &q), SIGN_EDUPLICATE);
    CHECK_EQ(q.count, 0);
    /* duplicates after decoding count too */
    CHECK_EQ(sign_query_parse("a=1&%61=2", 9, &q), SIGN_EDUPLICATE);
    CHECK_EQ(sign_query_parse("a=%zz", 5, &q), SIGN_EQUERY);
    CHECK_EQ(sign_query_parse("a=%4", 4, &q), SIGN_EQUERY);
    CHECK_EQ(sign_query_parse("a=%", 3, &q), SIGN_EQUERY);
    CHECK_EQ(sign_query_parse("a=%00", 5, &q), SIGN_EQUERY);
    CHECK_EQ(sign_query_parse("a=b\0c", 5, &q), SIGN_EQUERY);
    /* parameter count bound */
    char many[1024];
    size_t n = 0;
    for (int i = 0; i < SIGN_QUERY_MAX_PARAMS + 1; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sk%d=v", i ? "&" : "", i);
    CHECK_EQ(sign_query_parse(many, n, &q), SIGN_EQUERY);
    /* exactly at the bound passes */
    n = 0;
    for (int i = 0; i < SIGN_QUERY_MAX_PARAMS; i++)
        n += (size_t)snprintf(many + n, sizeof many - n, "%sk%d=v", i ? "&" : "", i);
    CHECK_EQ(sign_query_parse(many, n, &q), SIGN_OK);
    CHECK_EQ(q.count, SIGN_QUERY_MAX_PARAMS);
    sign_query_free(&q);
    sign_query_free(NULL);
}

static int verify_q(const char *method, const char *path, const char *query, const char *body,
                    int64_t now, unsigned window)
{
    return sign_http_verify(method, path, query, strlen(query), body, body ? strlen(body) : 0, KEY,
                            SECRET, now, window);
}

/* Signs `query` (without auth_signature) and returns "query&auth_signature=hex". */
static char *signed_query(const char *method, const char *path, const char *query)
{
    struct sign_query q;
    if (sign_query_parse(query, strlen(query), &q) != SIGN_OK)
        return NULL;
    char *str;
    int len = sign_http_string(method, path, &q, &str);
    sign_query_free(&q);
    if (len < 0)
        return NULL;
    char hex[SIGN_HEX_LEN + 1];
    sign_hmac_hex(SECRET, strlen(SECRET), str, (size_t)len, hex);
    free(str);
    size_t n = strlen(query) + 100;
    char *out = malloc(n);
    snprintf(out, n, "%s&auth_signature=%s", query, hex);
    return out;
}

static void test_http_51(void)
{
    const char *q51 =
        "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0"
        "&body_md5=ec365a775a4cd0599faeb73354201b6f"
        "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";
    /* the string to sign */
    struct sign_query q;
    CHECK_EQ(sign_query_parse(q51, strlen(q51), &q), SIGN_OK);
    char *str;
    int len = sign_http_string("POST", "/apps/3/events", &q, &str);
    CHECK(len > 0);
    CHECK_STR_EQ(str, "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp="
                      "1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f");
    char hex[SIGN_HEX_LEN + 1];
    sign_hmac_hex(SECRET, strlen(SECRET), str, (size_t)len, hex);
    CHECK_STR_EQ(hex, sig_51);
    free(str);
    sign_query_free(&q);

    /* clock check disabled: verifies at any time */
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 2000000000, 0), SIGN_OK);
    /* lower-case method is upper-cased for signing */
    CHECK_EQ(verify_q("post", "/apps/3/events", q51, body_51, 0, 0), SIGN_OK);
    /* window on: within / outside */
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 1353088179 + 600, 600), SIGN_OK);
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 1353088179 - 600, 600), SIGN_OK);
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 1353088179 + 601, 600),
             SIGN_ETIMESTAMP);
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 1353088179 - 601, 600),
             SIGN_ETIMESTAMP);
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, body_51, 1353088179 + 599, 600), SIGN_OK);

    /* mutations: each byte of the body */
    char body[sizeof body_51];
    int all_fail = 1;
    for (size_t i = 0; i < strlen(body_51); i++) {
        memcpy(body, body_51, sizeof body_51);
        body[i] ^= 0x01;
        if (verify_q("POST", "/apps/3/events", q51, body, 1353088179, 0) != SIGN_EBODYMD5)
            all_fail = 0;
    }
    CHECK(all_fail);
    /* other path, other method, missing body */
    CHECK_EQ(verify_q("POST", "/apps/4/events", q51, body_51, 0, 0), SIGN_ESIGNATURE);
    CHECK_EQ(verify_q("POST", "/ws/apps/3/events", q51, body_51, 0, 0), SIGN_ESIGNATURE);
    CHECK_EQ(verify_q("GET", "/apps/3/events", q51, body_51, 0, 0), SIGN_ESIGNATURE);
    /* the signed body cannot be dropped: body_md5 must match the empty body too */
    CHECK_EQ(verify_q("POST", "/apps/3/events", q51, NULL, 0, 0), SIGN_EBODYMD5);
    /* each byte of the signature */
    char qm[512];
    all_fail = 1;
    const char *sigpos = strstr(q51, "auth_signature=") + strlen("auth_signature=");
    for (size_t i = (size_t)(sigpos - q51); i < strlen(q51); i++) {
        strcpy(qm, q51);
        qm[i] = qm[i] == 'a' ? 'b' : 'a';
        if (verify_q("POST", "/apps/3/events", qm, body_51, 0, 0) != SIGN_ESIGNATURE)
            all_fail = 0;
    }
    CHECK(all_fail);
    /* wrong key, missing key, missing version, wrong version, missing timestamp, bad md5 */
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=278d425bdf160c739804&auth_timestamp=1353088179&auth_version=1.0"
                      "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181"
                      "a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EKEY);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb"
                      "73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7"
                      "430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EKEY);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_timestamp=1353088179&body_md5=ec365a775a4cd0599faeb"
                      "73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7"
                      "430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EVERSION);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=2.0&body_md5=ec365"
                      "a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625b"
                      "a02771f50b50e1e7430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EVERSION);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b"
                      "6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f"
                      "3f457e6c",
                      body_51, 0, 0),
             SIGN_ETIMESTAMP);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_timestamp=12x&auth_version=1.0&body_md5=ec365a775a4"
                      "cd0599faeb73354201b6f&auth_signature=da454824c97ba181a32ccc17a72625ba0277"
                      "1f50b50e1e7430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_ETIMESTAMP);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0&auth_signatur"
                      "e=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EBODYMD5);
    /* missing signature; duplicated parameter; parameter order does not matter */
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0&body_md5=ec365"
                      "a775a4cd0599faeb73354201b6f",
                      body_51, 0, 0),
             SIGN_ESIGNATURE);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_key=" KEY "&auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1"
                      ".0&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature=da454824c97ba1"
                      "81a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
                      body_51, 0, 0),
             SIGN_EDUPLICATE);
    CHECK_EQ(verify_q("POST", "/apps/3/events",
                      "auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f4"
                      "57e6c&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_version=1.0&auth_time"
                      "stamp=1353088179&auth_key=" KEY,
                      body_51, 0, 0),
             SIGN_OK);
    /* an extra unsigned parameter breaks the signature */
    char extra[600];
    snprintf(extra, sizeof extra, "%s&x=1", q51);
    CHECK_EQ(verify_q("POST", "/apps/3/events", extra, body_51, 0, 0), SIGN_ESIGNATURE);

    CHECK_EQ(sign_http_status(SIGN_OK), 200);
    CHECK_EQ(sign_http_status(SIGN_ESIGNATURE), 401);
    CHECK_EQ(sign_http_status(SIGN_ETIMESTAMP), 401);
    CHECK_STR_EQ(sign_http_message(SIGN_ESIGNATURE), "Authentication signature invalid.");
    CHECK_STR_EQ(sign_http_message(SIGN_EBODYMD5), "Authentication signature invalid.");
}

static void test_http_get(void)
{
    /* The GET example of Pusher's HTTP API documentation. */
    const char *q = "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0"
                    "&filter_by_prefix=presence-&info=user_count";
    struct sign_query pq;
    CHECK_EQ(sign_query_parse(q, strlen(q), &pq), SIGN_OK);
    char *str;
    int len = sign_http_string("GET", "/apps/3/channels", &pq, &str);
    char hex[SIGN_HEX_LEN + 1];
    sign_hmac_hex(SECRET, strlen(SECRET), str, (size_t)len, hex);
    CHECK_STR_EQ(hex, "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291");
    free(str);
    sign_query_free(&pq);

    /* the value is signed decoded. Signed over the decoded
     * "user_count,subscription_count", sent as %2C. */
    char *sq = signed_query("GET", "/apps/3/channels",
                            "auth_key=" KEY "&auth_timestamp=1353088179&auth_version=1.0"
                            "&info=user_count,subscription_count");
    CHECK(sq != NULL);
    CHECK_EQ(verify_q("GET", "/apps/3/channels", sq, NULL, 0, 0), SIGN_OK);
    char enc[512];
    const char *comma = strchr(strstr(sq, "info="), ',');
    snprintf(enc, sizeof enc, "%.*s%%2C%s", (int)(comma - sq), sq, comma + 1);
    CHECK_EQ(verify_q("GET", "/apps/3/channels", enc, NULL, 0, 0), SIGN_OK);
    free(sq);

    /* sorted by key regardless of URL order. Sign in one order
     * then send parameters reversed. */
    sq = signed_query("GET", "/apps/3/channels",
                      "info=user_count&filter_by_prefix=presence-&auth_version=1.0"
                      "&auth_timestamp=1353088179&auth_key=" KEY);
    CHECK(sq != NULL);
    CHECK(strstr(sq, "auth_signature=16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb6"
                     "5010291") != NULL);
    CHECK_EQ(verify_q("GET", "/apps/3/channels", sq, NULL, 1353088179, 600), SIGN_OK);
    free(sq);

    /* The timestamp window with a GET: 601 s old fails, 599 s passes */
    sq = signed_query("GET", "/apps/3/connections",
                      "auth_key=" KEY "&auth_timestamp=1000000&auth_version=1.0");
    CHECK_EQ(verify_q("GET", "/apps/3/connections", sq, NULL, 1000000 + 601, 600), SIGN_ETIMESTAMP);
    CHECK_EQ(verify_q("GET", "/apps/3/connections", sq, NULL, 1000000 + 599, 600), SIGN_OK);
    CHECK_EQ(verify_q("GET", "/apps/3/connections", sq, NULL, 1000000 + 100000, 0), SIGN_OK);
    free(sq);

    /* '+' is a space when decoding (PHP) */
    sq = signed_query("GET", "/apps/3/channels",
                      "auth_key=" KEY "&auth_timestamp=1&auth_version=1.0&filter_by_prefix=a b");
    /* replace the space with '+' */
    for (char *c = sq; *c; c++)
        if (*c == ' ')
            *c = '+';
    CHECK_EQ(verify_q("GET", "/apps/3/channels", sq, NULL, 1, 600), SIGN_OK);
    free(sq);
}

/* Verifies `query` (which has no auth_signature) signed with `sig`. */
static int verify_with(const char *query, const char *sig)
{
    char q[512];
    snprintf(q, sizeof q, "%s&auth_signature=%s", query, sig);
    return verify_q("GET", "/apps/3/channels", q, NULL, 1, 0);
}

/* The hex signature the signer makes for `query`. */
static void sig_of(const char *query, char hex[SIGN_HEX_LEN + 1])
{
    char *sq = signed_query("GET", "/apps/3/channels", query);
    CHECK(sq != NULL);
    snprintf(hex, SIGN_HEX_LEN + 1, "%s", sq ? strstr(sq, "auth_signature=") + 15 : "");
    free(sq);
}

/* The string to sign for the raw query `q` on GET /p, or NULL. */
static char *string_of(const char *q)
{
    struct sign_query pq;
    char *str = NULL;
    if (sign_query_parse(q, strlen(q), &pq) != SIGN_OK)
        return NULL;
    if (sign_http_string("GET", "/p", &pq, &str) < 0)
        str = NULL;
    sign_query_free(&pq);
    return str;
}

static void test_http_unambiguous(void)
{
    /* One string to sign must never stand for two sets of parameters: the
     * split a=x&b=y (two parameters) and a=x%26b%3Dy (one, a="x&b=y") sign
     * differently. */
    char *two = string_of("a=x&b=y"), *one = string_of("a=x%26b%3Dy");
    CHECK(two && one && strcmp(two, one) != 0);
    CHECK_STR_EQ(two, "GET\n/p\na=x&b=y");
    free(two);
    free(one);
    /* The same with the boundary inside a key (a key decoded to "a=x"), and
     * with an escape in a value standing for itself. */
    two = string_of("a%3Dx=y");
    one = string_of("a=x%3Dy");
    CHECK(two && one && strcmp(two, one) != 0);
    free(two);
    free(one);
    two = string_of("a=x%26y");
    one = string_of("a=x%2526y");
    CHECK(two && one && strcmp(two, one) != 0);
    free(two);
    free(one);

    /* Whole requests: a signed GET /channels?filter_by_prefix=presence-&
     * info=user_count (no parameter sorts between the two) must not verify
     * as filter_by_prefix="presence-&info=user_count" with its signature,
     * nor the other way round. */
    const char *base = "auth_key=" KEY "&auth_timestamp=1&auth_version=1.0";
    char split[256], joined[256], hex_split[SIGN_HEX_LEN + 1], hex_joined[SIGN_HEX_LEN + 1];
    snprintf(split, sizeof split, "%s&filter_by_prefix=presence-&info=user_count", base);
    snprintf(joined, sizeof joined, "%s&filter_by_prefix=presence-%%26info%%3Duser_count", base);
    sig_of(split, hex_split);
    sig_of(joined, hex_joined);
    CHECK_EQ(verify_with(split, hex_split), SIGN_OK);
    CHECK_EQ(verify_with(joined, hex_joined), SIGN_OK);
    CHECK_EQ(verify_with(joined, hex_split), SIGN_ESIGNATURE);
    CHECK_EQ(verify_with(split, hex_joined), SIGN_ESIGNATURE);

    /* What the string looks like: '&' and '%' escaped in values, '=' too in
     * keys; everything else (',' '=' '@' ';' ' ' in a value) decoded. */
    char *str = string_of("z%3Dk=1&a=x%26b%3Dy%25&c=private-a=b@c,d.e;f_-&d=a+b");
    CHECK_STR_EQ(str ? str : "", "GET\n/p\na=x%26b=y%25&c=private-a=b@c,d.e;f_-&d=a b&z%3Dk=1");
    free(str);
}

int main(void)
{
    test_hmac_vectors();
    test_equal();
    test_channel_auth();
    test_query();
    test_http_51();
    test_http_get();
    test_http_unambiguous();
    return TEST_RESULT();
}
