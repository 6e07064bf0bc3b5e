/* Fuzz target for the "recover" member of a subscribe (history/recover.c):
 * the bytes are a subscribe message's data as a client would send it. Checked
 * on every input: the parser never crashes nor leaks; it either refuses with
 * a reason, or accepts an epoch of exactly 32 lower-case hex digits and an
 * offset of at most 2^53 - 1, and accepting is a pure function of the input
 * (a second parse gives the same answer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "history/recover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    cJSON *j = cJSON_ParseWithLength((const char *)data, size);
    struct history_recover a, b;
    const char *why = NULL, *why2 = NULL;
    int rc = history_recover_parse(j, &a, &why);
    int rc2 = history_recover_parse(j, &b, &why2);
    if (rc != rc2 || memcmp(&a, &b, sizeof a) != 0)
        abort();
    if (rc != 0) {
        if (!why || a.present)
            abort();
    } else if (a.present) {
        if (strlen(a.epoch) != HISTORY_EPOCH_HEX || a.offset > 9007199254740991ull)
            abort();
        for (size_t i = 0; i < HISTORY_EPOCH_HEX; i++)
            if (!((a.epoch[i] >= '0' && a.epoch[i] <= '9') ||
                  (a.epoch[i] >= 'a' && a.epoch[i] <= 'f')))
                abort();
    }
    cJSON_Delete(j);
    return 0;
}
