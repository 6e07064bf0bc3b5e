/* json_check: the strict JSON validator every client frame and HTTP API
 * body passes before cJSON sees it. See json_check.h. */
#include "json_check.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/utf8.h"
#include "message.h"

#define DEFAULT_MAX_DEPTH 32

static void skip_ws(struct json_scan *s)
{
    while (s->pos < s->len) {
        unsigned char c = s->p[s->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        s->pos++;
    }
}

static int fail(struct json_scan *s, int code)
{
    if (!s->err)
        s->err = code;
    return -1;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Validates one UTF-8 sequence starting at s->pos (first byte >= 0x80). */
static int scan_utf8(struct json_scan *s)
{
    size_t n = utf8_seq(s->p + s->pos, s->len - s->pos);
    if (n == 0)
        return fail(s, MESSAGE_EUTF8);
    s->pos += n;
    return 0;
}

/* Scans a string; s->pos is at the opening quote. */
static int scan_string(struct json_scan *s)
{
    s->pos++;
    while (s->pos < s->len) {
        unsigned char c = s->p[s->pos];
        if (c == '"') {
            s->pos++;
            return 0;
        }
        if (c == 0)
            return fail(s, MESSAGE_ENUL);
        if (c < 0x20)
            return fail(s, MESSAGE_EINVALID);
        if (c >= 0x80) {
            if (scan_utf8(s) < 0)
                return -1;
            continue;
        }
        if (c != '\\') {
            s->pos++;
            continue;
        }
        if (s->pos + 1 >= s->len)
            return fail(s, MESSAGE_EINVALID);
        unsigned char e = s->p[s->pos + 1];
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
            e == 't') {
            s->pos += 2;
            continue;
        }
        if (e != 'u' || s->len - s->pos < 6)
            return fail(s, MESSAGE_EINVALID);
        unsigned u;
        if (hex4(s->p + s->pos + 2, &u) < 0)
            return fail(s, MESSAGE_EINVALID);
        s->pos += 6;
        if (u == 0)
            return fail(s, MESSAGE_ENUL);
        if (u >= 0xdc00 && u <= 0xdfff)
            return fail(s, MESSAGE_EUTF8); /* lone low surrogate */
        if (u >= 0xd800 && u <= 0xdbff) {
            unsigned lo;
            if (s->len - s->pos < 6 || s->p[s->pos] != '\\' || s->p[s->pos + 1] != 'u' ||
                hex4(s->p + s->pos + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                return fail(s, MESSAGE_EUTF8);
            s->pos += 6;
        }
    }
    return fail(s, MESSAGE_EINVALID);
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(struct json_scan *s)
{
    size_t start = s->pos;
    if (s->pos < s->len && s->p[s->pos] == '-')
        s->pos++;
    if (s->pos >= s->len)
        return fail(s, MESSAGE_EINVALID);
    if (s->p[s->pos] == '0') {
        s->pos++;
    } else if (is_digit(s->p[s->pos])) {
        while (s->pos < s->len && is_digit(s->p[s->pos]))
            s->pos++;
    } else {
        return fail(s, MESSAGE_EINVALID);
    }
    if (s->pos < s->len && s->p[s->pos] == '.') {
        s->pos++;
        if (s->pos >= s->len || !is_digit(s->p[s->pos]))
            return fail(s, MESSAGE_EINVALID);
        while (s->pos < s->len && is_digit(s->p[s->pos]))
            s->pos++;
    }
    if (s->pos < s->len && (s->p[s->pos] == 'e' || s->p[s->pos] == 'E')) {
        s->pos++;
        if (s->pos < s->len && (s->p[s->pos] == '+' || s->p[s->pos] == '-'))
            s->pos++;
        if (s->pos >= s->len || !is_digit(s->p[s->pos]))
            return fail(s, MESSAGE_EINVALID);
        while (s->pos < s->len && is_digit(s->p[s->pos]))
            s->pos++;
    }
    /* cJSON reads numbers into a 64-byte buffer; refuse absurd lengths. */
    if (s->pos - start > 63)
        return fail(s, MESSAGE_EINVALID);
    return 0;
}

static int scan_literal(struct json_scan *s, const char *word)
{
    size_t n = strlen(word);
    if (s->len - s->pos < n || memcmp(s->p + s->pos, word, n) != 0)
        return fail(s, MESSAGE_EINVALID);
    s->pos += n;
    return 0;
}

/* True when the raw JSON string token [start, end) decodes to "data". */
static int key_is_data(const unsigned char *p, size_t start, size_t end)
{
    static const char want[] = "data";
    size_t w = 0;
    size_t i = start + 1, stop = end - 1; /* inside the quotes */
    if (end - start > 40)
        return 0;
    while (i < stop) {
        unsigned ch = p[i];
        if (ch == '\\') {
            if (i + 1 < stop && p[i + 1] == 'u' && stop - i >= 6 && hex4(p + i + 2, &ch) == 0) {
                i += 6;
            } else {
                return 0;
            }
        } else {
            i++;
        }
        if (w >= 4 || ch != (unsigned char)want[w])
            return 0;
        w++;
    }
    return w == 4;
}

static int scan_value(struct json_scan *s, int depth);

static int scan_container(struct json_scan *s, int depth, int object)
{
    if (depth > s->max_depth)
        return fail(s, MESSAGE_EDEPTH);
    s->pos++; /* '{' or '[' */
    skip_ws(s);
    char close = object ? '}' : ']';
    if (s->pos < s->len && s->p[s->pos] == close) {
        s->pos++;
        return 0;
    }
    for (;;) {
        int is_data = 0;
        if (object) {
            skip_ws(s);
            if (s->pos >= s->len || s->p[s->pos] != '"')
                return fail(s, MESSAGE_EINVALID);
            size_t kstart = s->pos;
            if (scan_string(s) < 0)
                return -1;
            is_data = depth == 1 && key_is_data(s->p, kstart, s->pos);
            skip_ws(s);
            if (s->pos >= s->len || s->p[s->pos] != ':')
                return fail(s, MESSAGE_EINVALID);
            s->pos++;
        }
        skip_ws(s);
        size_t vstart = s->pos;
        if (scan_value(s, depth) < 0)
            return -1;
        if (is_data) {
            s->data_start = vstart;
            s->data_end = s->pos;
            s->have_data = 1;
        }
        skip_ws(s);
        if (s->pos >= s->len)
            return fail(s, MESSAGE_EINVALID);
        unsigned char c = s->p[s->pos++];
        if (c == close)
            return 0;
        if (c != ',')
            return fail(s, MESSAGE_EINVALID);
    }
}

static int scan_value(struct json_scan *s, int depth)
{
    skip_ws(s);
    if (s->pos >= s->len)
        return fail(s, MESSAGE_EINVALID);
    switch (s->p[s->pos]) {
    case '{':
        return scan_container(s, depth + 1, 1);
    case '[':
        return scan_container(s, depth + 1, 0);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    case 0:
        return fail(s, MESSAGE_ENUL);
    default:
        return scan_number(s);
    }
}

int json_check_document(const char *buf, size_t len, int max_depth, struct json_scan *s)
{
    memset(s, 0, sizeof *s);
    s->p = (const unsigned char *)buf;
    s->len = len;
    s->max_depth = max_depth;
    if (memchr(buf, '\0', len))
        return MESSAGE_ENUL;
    if (scan_value(s, 0) < 0)
        return s->err ? s->err : MESSAGE_EINVALID;
    skip_ws(s);
    if (s->pos != s->len)
        return MESSAGE_EINVALID;
    return 0;
}

int json_check(const char *buf, size_t len, int max_depth)
{
    struct json_scan s;
    if (!buf || len == 0)
        return MESSAGE_EINVALID;
    if (max_depth <= 0)
        max_depth = DEFAULT_MAX_DEPTH;
    if (max_depth > JSON_CHECK_MAX_DEPTH)
        max_depth = JSON_CHECK_MAX_DEPTH;
    return json_check_document(buf, len, max_depth, &s);
}

int json_check_utf8(const char *buf, size_t len)
{
    struct json_scan s = {(const unsigned char *)buf, len, 0, 0, 0, 0, 0, 0};
    while (s.pos < len) {
        unsigned char c = s.p[s.pos];
        if (c == 0)
            return MESSAGE_ENUL;
        if (c < 0x80) {
            s.pos++;
        } else if (scan_utf8(&s) < 0) {
            return MESSAGE_EUTF8;
        }
    }
    return MESSAGE_OK;
}

int json_u64(const cJSON *v, uint64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!isfinite(d) || d < 0 || d > JSON_INT_MAX || d != floor(d))
            return -1;
        *out = (uint64_t)d;
        return 0;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n > 16)
            return -1;
        uint64_t x = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return -1;
            x = x * 10 + (uint64_t)(s[i] - '0');
        }
        if ((double)x > JSON_INT_MAX)
            return -1;
        *out = x;
        return 0;
    }
    return -1;
}
