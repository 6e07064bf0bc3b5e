/* client_event: relaying "client-*" events (whispers) between subscribers.
 *
 * REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM:
 *   members (default) - the sender must be subscribed to the channel, else
 *             pusher:error 4009 "The client is not a member of the specified
 *             channel."; and, stricter than Reverb (Pusher's rule: whispers
 *             only where the sender is authenticated), the channel must be private or presence
 * (incl. their cache variants; not private-encrypted, as Pusher), else pusher:error 4301; all     -
 * relayed without checks (Reverb's looser mode); none    - pusher:error 4301 "The app does not have
 * client messaging enabled." DOCSYNC_CLIENT_EVENTS_PER_SECOND (default 10, 0 = off) limits client
 * events per connection per second; beyond, pusher:error 4301 "Rate limit
 * exceeded" and nothing is relayed. A relayed event is never echoed to the
 * sender and carries `user_id` when the sender is a presence member of the
 * channel. */
#include "server_int.h"

#include <string.h>

#include "pusher/channel_name.h"

static int client_event_allowed_kind(enum channel_kind kind)
{
    /* Not private-encrypted: Pusher does not support client events there. */
    return kind == CHANNEL_KIND_PRIVATE || kind == CHANNEL_KIND_PRIVATE_CACHE ||
           kind == CHANNEL_KIND_PRESENCE || kind == CHANNEL_KIND_PRESENCE_CACHE;
}

void client_event_handle(struct conn *c, const message *m)
{
    struct server *srv = c->srv;
    const struct config *cfg = srv->cfg;
    const char *channel = message_channel(m);
    if (!channel || !*channel) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    if (cfg->accept_client_events_from == CONFIG_CLIENT_EVENTS_NONE) {
        conn_error(c, PUSHER_CLIENT_EVENT_LIMIT, "The app does not have client messaging enabled.",
                   0);
        return;
    }
    if (!conn_rate_take(&c->ce, cfg->client_events_per_second)) {
        conn_error(c, PUSHER_CLIENT_EVENT_LIMIT, "Rate limit exceeded", 0);
        return;
    }
    size_t nlen = strlen(channel);
    struct channel *ch = channel_find(srv->channels, channel, nlen);
    const struct channel_sub *mine = ch ? channel_set_find(&c->chans, ch) : NULL;
    if (cfg->accept_client_events_from == CONFIG_CLIENT_EVENTS_MEMBERS) {
        if (!mine) {
            conn_error(c, PUSHER_UNAUTHORIZED,
                       "The client is not a member of the specified channel.", 0);
            return;
        }
        if (!client_event_allowed_kind(channel_name_kind(channel, nlen))) {
            conn_error(c, PUSHER_CLIENT_EVENT_LIMIT,
                       "Client events are only allowed on private and presence channels.", 0);
            return;
        }
    }
    if (!ch && !srv->relay.fn)
        return; /* nobody to deliver to, here or on another node */
    const char *uid = (mine && mine->member) ? presence_member_id(mine->member, NULL) : NULL;
    size_t raw_len = 0;
    const char *raw = message_data_raw(m, &raw_len);
    int claimed = 0;
    for (size_t i = 0; i < srv->nclient_claims && !claimed; i++)
        claimed = srv->client_claims[i].fn(srv, c, channel, message_event(m), raw, raw_len, uid,
                                           srv->client_claims[i].ud);
    struct message_frame mf = {0};
    if (!claimed && message_build_client_event(MESSAGE_FRAME_HEADROOM, message_event(m), channel,
                                               raw, raw_len, uid, &mf) == MESSAGE_OK) {
        struct frame *f = message_frame_adopt(&mf);
        if (f) {
            if (ch)
                broadcast_publish(srv, ch, f, c);
            broadcast_relay(srv, channel, f, c->sid);
            frame_unref(f);
        }
    }
    if (srv->nobservers)
        broadcast_notify(srv, &(struct broadcast_event){.kind = BROADCAST_CLIENT_EVENT,
                                                        .channel = channel,
                                                        .user_id = uid,
                                                        .event = message_event(m),
                                                        .data = raw,
                                                        .data_len = raw_len,
                                                        .socket_id = c->sid});
}

int session_on_client_claim(struct server *srv, session_client_claim_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nclient_claims >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->client_claims[srv->nclient_claims++] = (struct session_client_claim_hook){fn, ud};
    return 0;
}
