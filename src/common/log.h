/* log: one line per event on stderr (or any FILE), with a level filter.
 *
 * Line format (UTC, second precision, then the level name, then the text):
 *     2026-11-25T18:40:00Z info listening on 127.0.0.1:8080
 *
 * Each line is written with a single stdio call on an unbuffered or line
 * buffered stream, so lines from one process never interleave mid-line.
 * Control characters in the formatted text (newline, carriage return, ESC,
 * ...) are written as `\n`, `\r` or `\xHH`, so untrusted input (channel names,
 * event names) cannot forge extra log lines.
 *
 * RULE - never log secrets. Callers must not pass to the logger: the app
 * secret, any `auth` value or `auth_signature` (HMAC), `channel_data` /
 * `user_data` of private users, request bodies of the HTTP API, or any
 * derived key. Log identifiers instead (socket id, channel name, app id,
 * user id, sizes, error codes). The app key is public and may be logged;
 * even the development app's secret is not (main names the file that holds
 * it), since logs travel further than the data directory.
 *
 * Not thread-safe in the sense of configuration: a struct logger is set up
 * once by main and then only read. There is no global logger; pass it.
 */
#ifndef DOCSYNC_LOG_H
#define DOCSYNC_LOG_H

#include <stdio.h>

/* Ordered: a logger prints messages whose level is >= its minimum. */
enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO = 1,
    LOG_LEVEL_WARN = 2,
    LOG_LEVEL_ERROR = 3,
};

#define LOG_EINVAL (-1) /* unknown level name */

struct logger {
    enum log_level min; /* messages below this level are dropped */
    FILE *out;          /* destination; NULL means stderr */
};

/* Sets up `lg` to print messages at `min` level and above to `out` (NULL =
 * stderr). Never fails. */
void log_init(struct logger *lg, enum log_level min, FILE *out);

/* Parses "debug", "info", "warn" (also "warning") or "error"
 * (case-insensitive) into *out. Returns 0, or LOG_EINVAL and leaves *out
 * untouched. */
int log_level_parse(const char *name, enum log_level *out);

/* The lower-case name of `level` ("debug", "info", "warn", "error"); a
 * static string, "?" for an out-of-range value. */
const char *log_level_name(enum log_level level);

/* True (1) when a message at `level` would be printed by `lg`. Use it to
 * skip expensive formatting for debug lines. */
int log_enabled(const struct logger *lg, enum log_level level);

/* Formats like printf and prints one line (a newline is appended; do not
 * end `fmt` with one). The text is truncated at 2048 bytes. Uses the
 * current wall-clock time. `lg` may be NULL: then the line goes to stderr at
 * any level. */
void log_msg(const struct logger *lg, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats the line for `level` at Unix time `now` into `buf` (size `cap`,
 * NUL-terminated, with the trailing newline) and returns its length
 * (truncated to cap-1). Exposed for tests and for callers that want the
 * exact line. */
size_t log_format(char *buf, size_t cap, long long now, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define log_debug(lg, ...) log_msg((lg), LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(lg, ...) log_msg((lg), LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(lg, ...) log_msg((lg), LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(lg, ...) log_msg((lg), LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
