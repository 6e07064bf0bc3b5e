/* sio: Socket.IO packets and the Pusher-to-Socket.IO translation (see sio.h). */
#include "sio.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/json_check.h"
#include "pusher/message.h"

int sio_packet_parse(const char *p, size_t n, int max_depth, struct sio_packet *out)
{
    size_t i = 0;
    if (!n || p[0] < '0' || p[0] > '6')
        return SIO_EINVALID;
    out->type = p[0] - '0';
    out->ack = -1;
    i = 1;
    if (out->type == SIO_BINARY_EVENT || out->type == SIO_BINARY_ACK)
        return SIO_EBINARY;
    if (i < n && p[i] == '/') {
        /* "/," names the default namespace; anything else is another one. */
        const char *comma = memchr(p + i, ',', n - i);
        size_t nl = comma ? (size_t)(comma - (p + i)) : n - i;
        if (nl != 1)
            return SIO_ENSP;
        i += nl + (comma ? 1 : 0);
    }
    if (i < n && p[i] >= '0' && p[i] <= '9') {
        long ack = 0;
        int digits = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            if (++digits > 9)
                return SIO_EINVALID;
            ack = ack * 10 + (p[i] - '0');
            i++;
        }
        out->ack = ack;
    }
    out->json = p + i;
    out->json_len = n - i;
    if (out->json_len) {
        int rc = json_check(out->json, out->json_len, max_depth);
        if (rc == MESSAGE_EDEPTH)
            return SIO_EDEPTH;
        if (rc != MESSAGE_OK)
            return SIO_EINVALID;
    }
    if ((out->type == SIO_EVENT || out->type == SIO_ACK) && (!out->json_len || out->json[0] != '['))
        return SIO_EINVALID;
    return SIO_OK;
}

cJSON *sio_event_args(const struct sio_packet *pk)
{
    if (pk->type != SIO_EVENT || !pk->json_len)
        return NULL;
    cJSON *a = cJSON_ParseWithLength(pk->json, pk->json_len);
    if (!cJSON_IsArray(a) || !cJSON_IsString(cJSON_GetArrayItem(a, 0))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

/* `42` + the printed array, as a frame. */
static struct frame *sio_frame_array(cJSON *arr)
{
    char *s = arr ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    struct frame *f = frame_new(n + 2);
    if (f) {
        frame_data(f)[0] = '4';
        frame_data(f)[1] = '2';
        memcpy(frame_data(f) + 2, s, n);
    }
    free(s);
    return f;
}

/* An event's data as Socket.IO carries it: a Pusher data string holding
 * JSON text goes as that JSON value (laravel-echo-server emits the app's
 * payload object), anything else as it is. */
static cJSON *sio_data_value(const cJSON *data)
{
    if (cJSON_IsString(data)) {
        const char *s = data->valuestring;
        cJSON *v = cJSON_Parse(s);
        if (v && (cJSON_IsObject(v) || cJSON_IsArray(v)))
            return v;
        cJSON_Delete(v);
    }
    return data ? cJSON_Duplicate(data, 1) : cJSON_CreateNull();
}

/* A data member that is a JSON string of an object, parsed (Pusher's
 * internal frames carry their data that way). */
static cJSON *sio_data_object(const cJSON *data)
{
    if (cJSON_IsObject(data))
        return cJSON_Duplicate(data, 1);
    if (!cJSON_IsString(data))
        return NULL;
    cJSON *v = cJSON_Parse(data->valuestring);
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* [name, channel, value] */
static cJSON *sio_args3(const char *name, const char *channel, cJSON *value)
{
    cJSON *a = cJSON_CreateArray();
    if (!a) {
        cJSON_Delete(value);
        return NULL;
    }
    cJSON_AddItemToArray(a, cJSON_CreateString(name));
    if (channel)
        cJSON_AddItemToArray(a, cJSON_CreateString(channel));
    cJSON_AddItemToArray(a, value ? value : cJSON_CreateNull());
    return a;
}

/* presence:subscribed's member list from Pusher's {"presence":{ids,hash}}. */
static cJSON *sio_members(const cJSON *presence)
{
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(presence, "ids");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(presence, "hash");
    cJSON *list = cJSON_CreateArray();
    const cJSON *id;
    cJSON_ArrayForEach(id, ids)
    {
        if (!cJSON_IsString(id))
            continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "user_id", id->valuestring);
        const cJSON *info = cJSON_GetObjectItemCaseSensitive(hash, id->valuestring);
        cJSON_AddItemToObject(m, "user_info", info ? cJSON_Duplicate(info, 1) : cJSON_CreateNull());
        cJSON_AddItemToArray(list, m);
    }
    return list;
}

/* The translation itself (sio_frame_for caches it). */
static struct frame *sio_translate(struct frame *f)
{
    cJSON *m = cJSON_ParseWithLength((const char *)frame_data(f), f->len);
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(m, "event");
    const cJSON *chj = cJSON_GetObjectItemCaseSensitive(m, "channel");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(m, "data");
    const char *name = cJSON_IsString(ev) ? ev->valuestring : NULL;
    const char *ch = cJSON_IsString(chj) ? chj->valuestring : NULL;
    cJSON *args = NULL;
    int none = 0;
    if (!name) {
        none = 1;
    } else if (!strcmp(name, "pusher_internal:subscription_succeeded")) {
        cJSON *d = sio_data_object(data);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "presence");
        if (p && ch)
            args = sio_args3("presence:subscribed", ch, sio_members(p));
        else
            none = 1;
        cJSON_Delete(d);
    } else if (!strcmp(name, "pusher_internal:member_added") && ch) {
        args = sio_args3("presence:joining", ch, sio_data_object(data));
    } else if (!strcmp(name, "pusher_internal:member_removed") && ch) {
        args = sio_args3("presence:leaving", ch, sio_data_object(data));
    } else if (!strcmp(name, "pusher:subscription_error") && ch) {
        cJSON *d = sio_data_object(data);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(d, "status");
        args = sio_args3("subscription_error", ch,
                         cJSON_IsNumber(st) ? cJSON_CreateNumber(st->valuedouble)
                                            : cJSON_CreateNumber(403));
        cJSON_Delete(d);
    } else if (!strcmp(name, "pusher:error")) {
        args = sio_args3("error", NULL, sio_data_object(data));
    } else if (!strncmp(name, "pusher:", 7) || !strncmp(name, "pusher_internal:", 16)) {
        none = 1; /* pings, connection_established, cache_miss, signin_success */
    } else {
        args = sio_args3(name, ch, sio_data_value(data));
        /* A whisper on a presence channel carries the sender the server
         * stamped (Pusher's user_id) as a fourth argument: laravel-echo's
         * listeners take (channel, data) and never see it, while a client
         * that must know who whispered (the document client's typing and
         * cursors) reads it as pusher-js reads its metadata. */
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(m, "user_id");
        if (args && !strncmp(name, "client-", 7) && cJSON_IsString(uid)) {
            cJSON *meta = cJSON_CreateObject();
            cJSON_AddStringToObject(meta, "user_id", uid->valuestring);
            cJSON_AddItemToArray(args, meta);
        }
    }
    cJSON_Delete(m);
    if (none)
        return frame_new(0);
    return sio_frame_array(args);
}

struct frame *sio_frame_for(struct frame *f)
{
    if (!f->alt)
        f->alt = sio_translate(f);
    return f->alt;
}

struct frame *sio_frame_leaving(const char *channel, const char *user_id, const char *info)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "user_id", user_id);
    cJSON *i = info ? cJSON_Parse(info) : NULL;
    cJSON_AddItemToObject(m, "user_info", i ? i : cJSON_CreateNull());
    return sio_frame_array(sio_args3("presence:leaving", channel, m));
}
