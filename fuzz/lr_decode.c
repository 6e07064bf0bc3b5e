/* Fuzz target for what a Laravel app publishes with its redis broadcast
 * driver (src/laravel_redis/lr_msg.c): anyone who can publish on the app's
 * Redis can put any bytes on its channels. The input is split at its first
 * newline into the Redis channel and the payload. Invariants checked: an
 * accepted message has a channel that is the input's channel without the
 * prefix, a socket to skip of at most LR_SOCKET_MAX bytes (the server
 * resolves whom it names), and a frame that is
 * {"event":...} and ends with the channel member. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "laravel_redis/lr_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const char *nl = memchr(buf, '\n', size);
    if (!nl)
        return 0;
    size_t clen = (size_t)(nl - buf);
    const char *payload = nl + 1;
    size_t len = size - clen - 1;
    static const char prefix[] = "laravel_database_";
    struct lr_msg m;
    if (lr_decode(buf, clen, payload, len, prefix, 200, &m) != LR_OK)
        return 0;
    size_t n = strlen(m.channel);
    if (clen != sizeof prefix - 1 + n || memcmp(buf + sizeof prefix - 1, m.channel, n) != 0)
        abort();
    if (strlen(m.socket) > LR_SOCKET_MAX)
        abort();
    const char *f = (const char *)message_frame_payload(&m.frame);
    if (m.frame.len < 12 || memcmp(f, "{\"event\":\"", 10) != 0 || f[m.frame.len - 1] != '}' ||
        f[m.frame.len] != '\0')
        abort();
    message_frame_free(&m.frame);
    char out[64];
    (void)lr_default_prefix(m.channel, out, sizeof out);
    (void)lr_pattern(m.channel, out, sizeof out);
    return 0;
}
