/* signin: pusher:signin (user authentication, Pusher spec; absent from
 * Reverb). The auth is verified over "<socket_id>::user::<user_data>" with
 * the key part checked; user_data must be a JSON object with a non-empty
 * `id`. Success: the connection is signed in as that id (it may then join
 * #server-to-user-<id> and presence channels without channel_data) and gets
 * pusher:signin_success. Failure: pusher:error 4009 and close 4009, as
 * soketi does. */
#include "server_int.h"

#include <stdlib.h>

#include "pusher/sign.h"

void signin_handle(struct conn *c, const message *m)
{
    struct server *srv = c->srv;
    const struct config *cfg = srv->cfg;
    struct message_signin si;
    if (message_signin_get(m, &si) != MESSAGE_OK) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    if (sign_user_auth_verify(cfg->app_key, cfg->app_secret, c->sid, si.user_data, si.user_data_len,
                              si.auth, si.auth_len) != SIGN_OK) {
        conn_error(c, PUSHER_UNAUTHORIZED, "Invalid signature", PUSHER_UNAUTHORIZED);
        return;
    }
    struct message_member mb = {0};
    if (message_user_data_decode(si.user_data, si.user_data_len, &srv->limits, &mb) != MESSAGE_OK) {
        conn_error(c, PUSHER_UNAUTHORIZED, "Invalid user data", PUSHER_UNAUTHORIZED);
        return;
    }
    free(c->signin_id);
    free(c->signin_info);
    c->signin_id = mb.user_id;
    c->signin_info = mb.user_info;
    struct message_frame mf = {0};
    if (message_build_signin_success(MESSAGE_FRAME_HEADROOM, si.user_data, si.user_data_len, &mf) ==
        MESSAGE_OK) {
        struct frame *f = message_frame_adopt(&mf);
        if (f) {
            conn_queue(c, f);
            frame_unref(f);
        }
    }
    if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
        log_debug(srv->log, "connection %s signed in as %s", c->sid, c->signin_id);
}
