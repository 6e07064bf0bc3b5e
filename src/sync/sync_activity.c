/* The activity-log rule and entry of app events (see sync_activity.h). */
#include "sync_activity.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

int sync_activity_wanted(const char *channel, const char *event)
{
    if (!channel || !event)
        return 0;
    if (strcmp(channel, SYNC_ACTIVITY_CHANNEL) == 0)
        return 1;
    size_t n = strlen(event), k = sizeof SYNC_ACTIVITY_EVENT_SUFFIX - 1;
    return n >= k && memcmp(event + n - k, SYNC_ACTIVITY_EVENT_SUFFIX, k) == 0;
}

int sync_activity_app_event(const char *channel, const char *event, const char *data,
                            size_t data_len, char **out, size_t *out_len)
{
    if (!channel || !event || !data || !out || !out_len || memchr(data, '\0', data_len))
        return SYNC_ACTIVITY_EINVAL;
    *out = NULL;
    *out_len = 0;
    char *d = malloc(data_len + 1);
    cJSON *o = cJSON_CreateObject();
    int ok = d && o;
    if (ok) {
        memcpy(d, data, data_len);
        d[data_len] = '\0';
        ok = cJSON_AddStringToObject(o, "kind", SYNC_ACTIVITY_KIND_APP_EVENT) &&
             cJSON_AddStringToObject(o, "channel", channel) &&
             cJSON_AddStringToObject(o, "event", event) && cJSON_AddStringToObject(o, "data", d);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    free(d);
    cJSON_Delete(o);
    if (!s)
        return SYNC_ACTIVITY_ENOMEM;
    *out = s;
    *out_len = strlen(s);
    return 0;
}
