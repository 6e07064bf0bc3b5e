/* recover: parsing of a subscribe's "recover" member. See recover.h. */
#include "recover.h"

#include <string.h>

#define OFFSET_MAX 9007199254740991ull /* 2^53 - 1: exact in a JS number */

static int parse_offset(const cJSON *v, uint64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= 0) || d > (double)OFFSET_MAX || d != (double)(uint64_t)d)
            return -1;
        *out = (uint64_t)d;
        return 0;
    }
    if (!cJSON_IsString(v))
        return -1;
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
    if (x > OFFSET_MAX)
        return -1;
    *out = x;
    return 0;
}

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
    if (!o || parse_offset(o, &out->offset) != 0) {
        *why = "recover.offset must be an integer from 0 to 2^53 - 1";
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->present = 1;
    return 0;
}
