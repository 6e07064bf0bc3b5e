/* Fuzz target: the Socket.IO form of the server's frames (sio_frame_for).
 * The frames it translates are the server's own, but an HTTP API event or a
 * whisper puts client bytes inside them: the input is used as the data of
 * an app event and of a client event built by the Pusher builders, and as
 * a frame on its own. Invariant: a translation is empty or `42` followed by
 * a JSON array whose first element is a string. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/message.h"
#include "socketio/sio.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void translate(struct frame *f)
{
    if (!f)
        return;
    struct frame *a = sio_frame_for(f);
    if (a && a->len) {
        check(a->len > 2 && !memcmp(frame_data(a), "42", 2));
        cJSON *arr = cJSON_ParseWithLength((const char *)frame_data(a) + 2, a->len - 2);
        check(cJSON_IsArray(arr) && cJSON_IsString(cJSON_GetArrayItem(arr, 0)));
        cJSON_Delete(arr);
    }
    frame_unref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct message_frame mf;
    if (message_build_app_event(MESSAGE_FRAME_HEADROOM, "E", (const char *)data, size, "c", &mf) ==
        MESSAGE_OK)
        translate(message_frame_adopt(&mf));
    struct message_limits lim = {.max_bytes = 20000, .max_depth = 32};
    message *m = NULL;
    if (message_parse((const char *)data, size, &lim, &m) == MESSAGE_OK) {
        size_t rl = 0;
        const char *raw = message_data_raw(m, &rl);
        if (message_build_client_event(MESSAGE_FRAME_HEADROOM, "client-e", "private-c", raw, rl,
                                       "7", &mf) == MESSAGE_OK)
            translate(message_frame_adopt(&mf));
        message_free(m);
    }
    translate(frame_from(data, size));
    return 0;
}
