/* log: see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#define LOG_LINE_MAX 2048

void log_init(struct logger *lg, enum log_level min, FILE *out)
{
    lg->min = min;
    lg->out = out;
}

int log_level_parse(const char *name, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        {"debug", LOG_LEVEL_DEBUG},  {"info", LOG_LEVEL_INFO},   {"warn", LOG_LEVEL_WARN},
        {"warning", LOG_LEVEL_WARN}, {"error", LOG_LEVEL_ERROR},
    };
    if (!name)
        return LOG_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return LOG_EINVAL;
}

const char *log_level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_DEBUG:
        return "debug";
    case LOG_LEVEL_INFO:
        return "info";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_ERROR:
        return "error";
    }
    return "?";
}

int log_enabled(const struct logger *lg, enum log_level level)
{
    return !lg || level >= lg->min;
}

/* Formats the prefix and the escaped message into buf; returns the length. */
static size_t log_vformat(char *buf, size_t cap, long long now, enum log_level level,
                          const char *fmt, va_list ap)
{
    if (cap == 0)
        return 0;
    char text[LOG_LINE_MAX];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    size_t text_len = n < 0 ? 0 : (size_t)n;
    if (text_len >= sizeof text)
        text_len = sizeof text - 1;

    time_t t = (time_t)now;
    struct tm tm;
    size_t len = 0;
    if (gmtime_r(&t, &tm))
        len = strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ ", &tm);
    int m = snprintf(buf + len, cap - len, "%s ", log_level_name(level));
    if (m > 0)
        len += (size_t)m < cap - len ? (size_t)m : cap - len - 1;

    /* Copy the text, escaping control characters so one call is one line. */
    for (size_t i = 0; i < text_len; i++) {
        unsigned char c = (unsigned char)text[i];
        char esc[5];
        size_t esc_len;
        if (c == '\n') {
            esc[0] = '\\', esc[1] = 'n', esc_len = 2;
        } else if (c == '\r') {
            esc[0] = '\\', esc[1] = 'r', esc_len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
            esc_len = 4;
        } else {
            esc[0] = (char)c, esc_len = 1;
        }
        if (len + esc_len + 1 >= cap) /* keep room for '\n' and NUL */
            break;
        for (size_t k = 0; k < esc_len; k++)
            buf[len++] = esc[k];
    }
    if (len + 1 < cap)
        buf[len++] = '\n';
    buf[len] = '\0';
    return len;
}

size_t log_format(char *buf, size_t cap, long long now, enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = log_vformat(buf, cap, now, level, fmt, ap);
    va_end(ap);
    return len;
}

void log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(lg, level))
        return;
    char line[LOG_LINE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    size_t len = log_vformat(line, sizeof line, (long long)time(NULL), level, fmt, ap);
    va_end(ap);
    FILE *out = lg && lg->out ? lg->out : stderr;
    fwrite(line, 1, len, out);
    fflush(out);
}
