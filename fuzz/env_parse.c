/* Fuzz target: the .env parser (config_apply_env_text) and config_set on
 * arbitrary text, plus the Origin matcher on the same bytes. Checks that a
 * successful parse leaves every string setting NUL-terminated within its
 * buffer and the numeric settings within their documented ranges. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/origin.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config cfg;
    char err[256];
    config_defaults(&cfg);
    int rc = config_apply_env_text(&cfg, (const char *)data, size, "fuzz.env", err, sizeof err);
    check(rc <= 0);
    check(memchr(err, '\0', sizeof err) != NULL || rc == 0);
    if (rc == 0) {
        check(memchr(cfg.host, '\0', sizeof cfg.host) != NULL);
        check(memchr(cfg.path, '\0', sizeof cfg.path) != NULL);
        check(cfg.path[0] == '\0' || cfg.path[0] == '/');
        check(memchr(cfg.app_secret, '\0', sizeof cfg.app_secret) != NULL);
        check(memchr(cfg.allowed_origins, '\0', sizeof cfg.allowed_origins) != NULL);
        check(cfg.port <= 65535);
        check(cfg.max_message_size >= 1 && cfg.activity_timeout >= 1);
        /* The origin matcher on the input as an origin (NUL-terminated copy). */
        char *origin = malloc(size + 1);
        memcpy(origin, data, size);
        origin[size] = '\0';
        (void)origin_allowed(cfg.allowed_origins, origin);
        free(origin);
    }
    return 0;
}
