/* env: the .env reader (KEY=value lines, comments, `export`, quoted
 * values that may span lines), used for ./.env, --env-file and the
 * development app's file. See config_int.h. */
#include "config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_FILE_MAX (1024 * 1024) /* bytes of a .env file we are willing to read */

void config__err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Parses one logical line [p, end) into key/value (malloc'd value). Returns
 * 1 when a pair was found, 0 for blank/comment lines, -1 on a syntax error.
 * *next is set past the consumed text (quoted values may span lines). */
static int env_next(const char *p, const char *end, const char **next, char *key, size_t key_cap,
                    char **value)
{
    const char *line_end = memchr(p, '\n', (size_t)(end - p));
    if (!line_end)
        line_end = end;
    *next = line_end < end ? line_end + 1 : end;
    *value = NULL;

    while (p < line_end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    if (p == line_end || *p == '#')
        return 0;
    if ((size_t)(line_end - p) > 7 && strncmp(p, "export", 6) == 0 &&
        (p[6] == ' ' || p[6] == '\t')) {
        p += 7;
        while (p < line_end && (*p == ' ' || *p == '\t'))
            p++;
    }
    const char *k = p;
    while (p < line_end && *p != '=' && *p != ' ' && *p != '\t')
        p++;
    size_t klen = (size_t)(p - k);
    while (p < line_end && (*p == ' ' || *p == '\t'))
        p++;
    if (klen == 0 || klen >= key_cap || p == line_end || *p != '=')
        return -1;
    memcpy(key, k, klen);
    key[klen] = '\0';
    p++; /* '=' */
    while (p < line_end && (*p == ' ' || *p == '\t'))
        p++;

    /* Size the value: up to the closing quote for a quoted value (it may
     * span lines), else up to the end of the line. */
    size_t cap;
    if (p < end && (*p == '"' || *p == '\'')) {
        const char *q = p + 1;
        while (q < end && *q != *p)
            q += (*p == '"' && *q == '\\' && q + 1 < end) ? 2 : 1;
        cap = (size_t)(q - p) + 1;
    } else {
        cap = (size_t)(line_end - p) + 1;
    }
    char *v = malloc(cap);
    if (!v)
        return -2;
    size_t n = 0;
    if (p < end && (*p == '"' || *p == '\'')) {
        char q = *p++;
        int closed = 0;
        while (p < end) {
            char c = *p++;
            if (c == q) {
                closed = 1;
                break;
            }
            if (q == '"' && c == '\\' && p < end) {
                char e = *p++;
                switch (e) {
                case 'n':
                    c = '\n';
                    break;
                case 't':
                    c = '\t';
                    break;
                case 'r':
                    c = '\r';
                    break;
                case '"':
                case '\\':
                case '$':
                    c = e;
                    break;
                default:
                    v[n++] = '\\';
                    c = e;
                }
            }
            v[n++] = c;
        }
        if (!closed) {
            free(v);
            return -1;
        }
        /* The rest of the line may only hold blanks and a comment. */
        const char *rest_end = memchr(p, '\n', (size_t)(end - p));
        if (!rest_end)
            rest_end = end;
        for (const char *r = p; r < rest_end; r++) {
            if (*r == '#')
                break;
            if (*r != ' ' && *r != '\t' && *r != '\r') {
                free(v);
                return -1;
            }
        }
        *next = rest_end < end ? rest_end + 1 : end;
    } else {
        const char *vend = line_end;
        /* Inline comment: " #" ends an unquoted value. */
        for (const char *r = p; r < line_end; r++) {
            if (*r == '#' && r > p && (r[-1] == ' ' || r[-1] == '\t')) {
                vend = r;
                break;
            }
        }
        while (vend > p && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r'))
            vend--;
        n = (size_t)(vend - p);
        memcpy(v, p, n);
    }
    v[n] = '\0';
    *value = v;
    return 1;
}

int env_parse(const char *text, size_t len, const char *origin, env_pair_fn fn, void *ctx,
              char *err, size_t errlen)
{
    const char *p = text, *end = text + len;
    int line = 1;
    if (memchr(text, '\0', len)) {
        config__err(err, errlen, "%s: contains a NUL byte", origin);
        return CONFIG_EFILE;
    }
    while (p < end) {
        const char *next;
        char key[128];
        char *value;
        int r = env_next(p, end, &next, key, sizeof key, &value);
        if (r == -2)
            return CONFIG_ENOMEM;
        if (r < 0) {
            config__err(err, errlen, "%s:%d: syntax error (expected KEY=value)", origin, line);
            return CONFIG_EINVAL;
        }
        if (r > 0) {
            int rc = fn(ctx, key, value, err, errlen);
            free(value);
            if (rc < 0) {
                /* Prefix the location to the setting's own message. */
                if (err && errlen) {
                    char tmp[640];
                    snprintf(tmp, sizeof tmp, "%.200s:%d: %.400s", origin, line, err);
                    snprintf(err, errlen, "%s", tmp);
                }
                return rc;
            }
        }
        for (const char *c = p; c < next; c++)
            line += *c == '\n';
        p = next;
    }
    return CONFIG_OK;
}

int env_read_file(const char *path, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    char *buf = malloc(ENV_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, ENV_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > ENV_FILE_MAX) {
        free(buf);
        return bad ? -EIO : -EFBIG;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}
