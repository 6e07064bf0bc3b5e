/* recover: the "recover" member a client adds to its pusher:subscribe data
 * to be given what it missed on a channel with history:
 *
 *   {"channel":"private-chat.1","auth":"...","recover":{"epoch":"<32 hex>","offset":41}}
 *
 * epoch is the store's (docsync:recovered tells it), offset the last one the
 * client saw on that channel (0: nothing yet). Unmodified Pusher clients
 * never send it; servers that do not know it ignore it. */
#ifndef DOCSYNC_HISTORY_RECOVER_H
#define DOCSYNC_HISTORY_RECOVER_H

#include <stdint.h>

#include <cjson/cJSON.h>

#define HISTORY_EPOCH_HEX 32

struct history_recover {
    int present;                       /* 0: no "recover" member (or null) */
    char epoch[HISTORY_EPOCH_HEX + 1]; /* lower-case hex */
    uint64_t offset;                   /* 0 .. 2^53 - 1 */
};

/* Reads the "recover" member of a subscribe message's data object (NULL or
 * not an object: none). Returns 0 with *out filled (present 0 when absent),
 * or -1 with *why set to a static English sentence when the member is there
 * but malformed: not an object, epoch not 32 hex digits, offset not an
 * integer from 0 to 2^53 - 1 (a number or a string of digits). Never reads
 * beyond what cJSON parsed; a pure function of its input. */
int history_recover_parse(const cJSON *data, struct history_recover *out, const char **why);

#endif
