/* Unit tests of log.h: line format, level names and filter, escaping of
 * control characters (one call = one line). */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

int main(void)
{
    char line[256];
    /* 2026-11-25T18:40:00Z = 1795632000 */
    size_t n = log_format(line, sizeof line, 1795632000LL, LOG_LEVEL_INFO, "listening on %s:%d",
                          "127.0.0.1", 8080);
    CHECK_STR_EQ(line, "2026-11-25T18:40:00Z info listening on 127.0.0.1:8080\n");
    CHECK_EQ(n, strlen(line));

    log_format(line, sizeof line, 0, LOG_LEVEL_WARN, "a\nb\rc\x1b[31md\x7f");
    CHECK_STR_EQ(line, "1970-01-01T00:00:00Z warn a\\nb\\rc\\x1b[31md\\x7f\n");

    /* truncation keeps the newline and the NUL */
    char small[32];
    n = log_format(small, sizeof small, 0, LOG_LEVEL_ERROR, "%s",
                   "0123456789012345678901234567890");
    CHECK_EQ(n, strlen(small));
    CHECK(n < sizeof small);
    CHECK_EQ(small[n - 1], '\n');

    enum log_level lv = LOG_LEVEL_ERROR;
    CHECK_EQ(log_level_parse("debug", &lv), 0);
    CHECK_EQ(lv, LOG_LEVEL_DEBUG);
    CHECK_EQ(log_level_parse("WARNING", &lv), 0);
    CHECK_EQ(lv, LOG_LEVEL_WARN);
    CHECK_EQ(log_level_parse("loud", &lv), LOG_EINVAL);
    CHECK_EQ(lv, LOG_LEVEL_WARN);
    CHECK_EQ(log_level_parse(NULL, &lv), LOG_EINVAL);
    CHECK_STR_EQ(log_level_name(LOG_LEVEL_ERROR), "error");

    /* filter: only >= min reaches the stream */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct logger lg;
    log_init(&lg, LOG_LEVEL_WARN, f);
    CHECK(!log_enabled(&lg, LOG_LEVEL_INFO));
    CHECK(log_enabled(&lg, LOG_LEVEL_ERROR));
    log_info(&lg, "hidden");
    log_debug(&lg, "hidden");
    log_warn(&lg, "shown %d", 1);
    log_error(&lg, "shown %d", 2);
    fclose(f);
    CHECK(buf && strstr(buf, "hidden") == NULL);
    CHECK(buf && strstr(buf, " warn shown 1\n") != NULL);
    CHECK(buf && strstr(buf, " error shown 2\n") != NULL);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    CHECK_EQ(lines, 2);
    free(buf);
    return TEST_RESULT();
}
