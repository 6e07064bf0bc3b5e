/* recover: parsing of a subscribe's "recover" member. See recover.h. */
#include "recover.h"

#include <string.h>

#include "pusher/json_check.h"

int history_recover_parse(const cJSON *data, struct history_recover *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    const cJSON *r =
        cJSON_IsObject(data) ? cJSON_GetObjectItemCaseSensitive(data, "recover") : NULL;
    if (!r || cJSON_IsNull(r))
        return 0;
    if (!cJSON_IsObject(r)) {
        *why = "recover must be an object {epoch, offset}";
        return -1;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "epoch");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(r, "offset");
    if (!cJSON_IsString(e) || strlen(e->valuestring) != HISTORY_EPOCH_HEX) {
        *why = "recover.epoch must be the 32 hexadecimal digits docsync:recovered gave";
        return -1;
    }
    for (size_t i = 0; i < HISTORY_EPOCH_HEX; i++) {
        char c = e->valuestring[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            *why = "recover.epoch must be the 32 hexadecimal digits docsync:recovered gave";
            return -1;
        }
        out->epoch[i] = c;
    }
    out->epoch[HISTORY_EPOCH_HEX] = 0;
    if (!o || json_u64(o, &out->offset) != 0) {
        *why = "recover.offset must be an integer from 0 to 2^53 - 1";
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->present = 1;
    return 0;
}
