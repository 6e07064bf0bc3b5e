/* Fuzz target for the docsync:submit fast path: the input is one WebSocket
 * message. Whenever sync_msg_submit_frame takes it, the general path
 * (message_parse, then sync_msg_parse of the data) must accept it as a
 * docsync:submit without a channel and give the same request, field for
 * field; a declined message must leave nothing allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/message.h"
#include "sync/sync_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    const char *frame = (const char *)data;
    const size_t max_update = 7400;
    struct sync_request fast;
    if (!sync_msg_submit_frame(frame, size, max_update, &fast)) {
        if (fast.update || fast.doc[0] || fast.client[0] || fast.request_id[0])
            abort();
        return 0;
    }
    struct message_limits lim = {.max_bytes = size, .max_depth = 2};
    message *m = NULL;
    if (message_parse(frame, size, &lim, &m) != MESSAGE_OK ||
        strcmp(message_event(m), "docsync:submit") != 0 || message_channel(m))
        abort();
    struct sync_request slow;
    if (sync_msg_parse(SYNC_OP_SUBMIT, message_data(m), max_update, 0, &slow, NULL) != 0)
        abort();
    if (fast.op != slow.op || strcmp(fast.doc, slow.doc) != 0 ||
        strcmp(fast.client, slow.client) != 0 || fast.seq != slow.seq ||
        fast.update_len != slow.update_len ||
        memcmp(fast.update, slow.update, fast.update_len) != 0 ||
        strcmp(fast.request_id, slow.request_id) != 0 || fast.content || slow.content)
        abort();
    sync_msg_clear(&fast);
    sync_msg_clear(&slow);
    message_free(m);
    return 0;
}
