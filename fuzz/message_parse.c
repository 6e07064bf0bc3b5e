/* Fuzz target: message_parse and everything the server does with a parsed
 * client frame (subscribe/signin accessors, presence channel_data and
 * user_data decoding, channel-name checks, rebuilding a relayed client
 * event). Invariants checked: a relayed client event built from a parsed
 * frame parses again with the same event, channel and raw data; every
 * builder output parses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pusher/channel_name.h"
#include "pusher/json_check.h"
#include "pusher/message.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct message_limits lim = {.max_bytes = 20000, .max_depth = 32};
    message *m = NULL;
    int rc = message_parse((const char *)data, size, &lim, &m);
    /* The allocation-free checker agrees with the parser's first pass. */
    int jc = json_check((const char *)data, size, lim.max_depth);
    if (size > 0 && size <= lim.max_bytes) {
        if (rc == MESSAGE_OK)
            check(jc == MESSAGE_OK);
        if (jc != MESSAGE_OK)
            check(rc == jc);
    }
    /* Builders always produce valid JSON and UTF-8, whatever the bytes (an
     * HTTP API event may carry anything): the input as event data. */
    {
        struct message_frame f;
        check(message_build_app_event(16, "E", (const char *)data, size, "c", &f) == MESSAGE_OK);
        int fc = json_check((const char *)message_frame_payload(&f), f.len, 4);
        check(fc == MESSAGE_OK || (fc == MESSAGE_ENUL && memchr(data, 0, size)));
        message_frame_free(&f);
    }
    int uc = json_check_utf8((const char *)data, size);
    if (rc == MESSAGE_OK)
        check(uc == MESSAGE_OK);
    if (rc != MESSAGE_OK) {
        check(m == NULL);
        return 0;
    }
    const char *event = message_event(m);
    const char *channel = message_channel(m);
    (void)message_kind_of(m);
    (void)message_data(m);

    struct message_subscribe sub;
    if (message_subscribe_get(m, &sub) == MESSAGE_OK) {
        size_t clen = strlen(sub.channel);
        enum channel_kind kind = channel_name_kind(sub.channel, clen);
        (void)channel_name_validate(sub.channel, clen, 200);
        (void)channel_kind_needs_auth(kind);
        size_t id_len;
        (void)channel_name_user_id(sub.channel, clen, &id_len);
        if (sub.channel_data) {
            struct message_member mb;
            if (message_member_decode(sub.channel_data, sub.channel_data_len, &lim, &mb) ==
                MESSAGE_OK) {
                struct message_frame f;
                check(message_build_member_added(16, sub.channel, mb.user_id, mb.user_info, &f) ==
                      MESSAGE_OK);
                message *back = NULL;
                check(message_parse((const char *)message_frame_payload(&f), f.len, NULL, &back) ==
                      MESSAGE_OK);
                message_free(back);
                message_frame_free(&f);
                struct message_presence_member pm = {mb.user_id, mb.user_info};
                check(message_build_presence_succeeded(16, sub.channel, &pm, 1, &f) == MESSAGE_OK);
                message_frame_free(&f);
                message_member_free(&mb);
            }
        }
    }
    struct message_signin si;
    if (message_signin_get(m, &si) == MESSAGE_OK) {
        struct message_member mb;
        if (message_user_data_decode(si.user_data, si.user_data_len, &lim, &mb) == MESSAGE_OK)
            message_member_free(&mb);
        struct message_frame f;
        check(message_build_signin_success(0, si.user_data, si.user_data_len, &f) == MESSAGE_OK);
        message_frame_free(&f);
    }

    /* Relay invariant. */
    if (channel) {
        size_t raw_len;
        const char *raw = message_data_raw(m, &raw_len);
        struct message_frame f;
        check(message_build_client_event(16, event, channel, raw, raw_len, "u", &f) == MESSAGE_OK);
        struct message_limits big = {.max_bytes = f.len + 1, .max_depth = 33};
        message *back = NULL;
        int brc = message_parse((const char *)message_frame_payload(&f), f.len, &big, &back);
        check(brc == MESSAGE_OK);
        check(strcmp(message_event(back), event) == 0);
        check(strcmp(message_channel(back), channel) == 0);
        size_t back_len;
        const char *back_raw = message_data_raw(back, &back_len);
        if (raw) {
            check(back_len == raw_len && memcmp(back_raw, raw, raw_len) == 0);
        }
        message_free(back);
        message_frame_free(&f);

        /* App event with the raw data as the string payload. */
        check(message_build_app_event(16, event, raw ? raw : "", raw_len, channel, &f) ==
              MESSAGE_OK);
        big.max_bytes = f.len + 1;
        check(message_parse((const char *)message_frame_payload(&f), f.len, &big, &back) ==
              MESSAGE_OK);
        message_free(back);
        message_frame_free(&f);
    }
    message_free(m);
    return 0;
}
