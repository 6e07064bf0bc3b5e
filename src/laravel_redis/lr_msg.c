/* lr_msg: see lr_msg.h. */
#include "lr_msg.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "pusher/channel_name.h"
#include "pusher/json_check.h"

/* Nesting allowed in a published message: the event's payload is the app's
 * own data, deeper than a client frame may be. */
#define LR_MAX_DEPTH 64

static int lr_channel(const char *channel, size_t clen, const char *prefix, size_t channel_name_max,
                      struct lr_msg *out)
{
    size_t plen = strlen(prefix);
    if (clen < plen || memcmp(channel, prefix, plen) != 0)
        return LR_ECHANNEL;
    const char *name = channel + plen;
    size_t nlen = clen - plen;
    if (channel_name_max > LR_CHANNEL_MAX)
        channel_name_max = LR_CHANNEL_MAX;
    if (memchr(name, '\0', nlen) ||
        channel_name_validate(name, nlen, channel_name_max) != CHANNEL_NAME_OK)
        return LR_ECHANNEL;
    memcpy(out->channel, name, nlen);
    out->channel[nlen] = '\0';
    return LR_OK;
}

/* The event, the socket to skip and the frame, from a checked document. */
static int lr_fields(const char *payload, const struct json_scan *scan, cJSON *root,
                     struct lr_msg *out)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(root, "event");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    const cJSON *sock = cJSON_GetObjectItemCaseSensitive(root, "socket");
    if (!cJSON_IsString(ev) || !data || !scan->have_data)
        return LR_EMALFORMED;
    size_t elen = strlen(ev->valuestring);
    if (elen == 0 || elen > LR_EVENT_MAX)
        return LR_EMALFORMED;
    if (sock && !cJSON_IsNull(sock) && !cJSON_IsString(sock))
        return LR_EMALFORMED;
    if (cJSON_IsString(sock) && strlen(sock->valuestring) <= LR_SOCKET_MAX)
        strcpy(out->socket, sock->valuestring);
    const char *d = payload + scan->data_start;
    size_t dlen = scan->data_end - scan->data_start;
    if (cJSON_IsString(data)) {
        d = data->valuestring;
        dlen = strlen(d);
    }
    int rc = message_build_app_event(MESSAGE_FRAME_HEADROOM, ev->valuestring, d, dlen, out->channel,
                                     &out->frame);
    return rc == MESSAGE_OK ? LR_OK : LR_ENOMEM;
}

int lr_decode(const char *channel, size_t clen, const char *payload, size_t len, const char *prefix,
              size_t channel_name_max, struct lr_msg *out)
{
    memset(out, 0, sizeof *out);
    if (len > LR_MSG_MAX)
        return LR_ETOOBIG;
    int rc = lr_channel(channel, clen, prefix, channel_name_max, out);
    if (rc != LR_OK)
        return rc;
    /* One linear pass first, so cJSON only ever parses sane text. */
    struct json_scan scan;
    if (len < 2 || payload[0] != '{' ||
        json_check_document(payload, len, LR_MAX_DEPTH, &scan) != MESSAGE_OK)
        return LR_EMALFORMED;
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (!root)
        return LR_ENOMEM; /* valid JSON: only allocation can fail */
    rc = cJSON_IsObject(root) ? lr_fields(payload, &scan, root, out) : LR_EMALFORMED;
    cJSON_Delete(root);
    if (rc != LR_OK) {
        message_frame_free(&out->frame);
        out->socket[0] = '\0';
    }
    return rc;
}

/* Str::slug's whitespace (PCRE's \s). */
static int lr_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int lr_default_prefix(const char *name, char *out, size_t cap)
{
    static const char suffix[] = "_database_";
    /* Str::slug(name, '_') on ASCII: '-' runs become '_', '@' becomes
     * "_at_", lower case, anything but [_a-z0-9\s] removed, runs of [_\s]
     * become one '_', then '_' trimmed at both ends. */
    size_t k = 0;
    int pending = 0; /* a separator run not written yet */
    for (const char *p = name; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80)
            return -1;
        const char *emit = NULL;
        char one[2] = {0, 0};
        if (c == '-' || c == '_' || lr_space((char)c)) {
            pending = 1;
            continue;
        }
        if (c == '@') {
            emit = "at";
            pending = 1;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            one[0] = (char)c;
        } else if (c >= 'A' && c <= 'Z') {
            one[0] = (char)(c - 'A' + 'a');
        } else {
            continue; /* removed, without separating what surrounds it */
        }
        if (pending && k > 0) {
            if (k + 1 >= cap)
                return -1;
            out[k++] = '_';
        }
        pending = emit ? 1 : 0;
        const char *w = emit ? emit : one;
        size_t wl = strlen(w);
        if (k + wl >= cap)
            return -1;
        memcpy(out + k, w, wl);
        k += wl;
    }
    if (k + sizeof suffix > cap)
        return -1;
    memcpy(out + k, suffix, sizeof suffix);
    return 0;
}

int lr_pattern(const char *prefix, char *out, size_t cap)
{
    size_t k = 0;
    for (const char *p = prefix; *p; p++) {
        int esc = *p == '*' || *p == '?' || *p == '[' || *p == ']' || *p == '\\';
        if (k + (size_t)esc + 1 >= cap)
            return -1;
        if (esc)
            out[k++] = '\\';
        out[k++] = *p;
    }
    if (k + 2 > cap)
        return -1;
    out[k++] = '*';
    out[k] = '\0';
    return 0;
}
