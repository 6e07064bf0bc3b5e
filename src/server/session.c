/* session: what happens to one complete inbound WebSocket text message.
 *
 * Every message refreshes the connection's liveness. Then: Reverb's
 * optional generic rate limit, the bounded parse (message.h; any failure
 * is pusher:error 4200 "Invalid message format" and the socket stays open),
 * module handlers by event prefix, and the built-in Pusher events
 * (pusher:ping, pusher:subscribe, ...). Events that start with neither "pusher:" nor
 * "client-" (including a client-sent pusher_internal:*) are dropped. */
#include "server_int.h"

#include "pusher/channel_name.h"

#include <string.h>

int session_on_event(struct server *srv, const char *prefix, session_event_fn fn, void *ud)
{
    return session_on_event_sized(srv, prefix, 0, fn, ud);
}

int session_on_event_sized(struct server *srv, const char *prefix, size_t max_bytes,
                           session_event_fn fn, void *ud)
{
    if (!prefix || !*prefix || !fn || !strncmp(prefix, "pusher:", 7) ||
        !strncmp(prefix, "client-", 7))
        return SERVER_EINVAL;
    if (srv->nevents >= SERVER_MAX_EVENT_HANDLERS)
        return SERVER_EFULL;
    char *p = strdup(prefix);
    if (!p)
        return SERVER_ENOMEM;
    srv->events[srv->nevents++] = (struct server_event_handler){p, strlen(p), max_bytes, fn, ud};
    return 0;
}

int session_on_frame(struct server *srv, session_frame_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nframe_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->frame_hooks[srv->nframe_hooks++] = (struct session_frame_hook){fn, ud};
    return 0;
}

static const struct server_event_handler *session_find_handler(const struct server *srv,
                                                               const char *ev)
{
    const struct server_event_handler *best = NULL;
    for (size_t i = 0; i < srv->nevents; i++) {
        const struct server_event_handler *h = &srv->events[i];
        if (!strncmp(ev, h->prefix, h->len) && (!best || h->len > best->len))
            best = h;
    }
    return best;
}

/* Reverb's rate limiter: every inbound message counts, max_attempts per
 * decay_seconds window. Returns 1 when the message must be refused. */
static int session_rate_limited(struct conn *c, int64_t now)
{
    const struct config *cfg = c->srv->cfg;
    if (!cfg->rate_limiting_enabled)
        return 0;
    if (now - c->rl_window >= (int64_t)cfg->rate_limit_decay_seconds) {
        c->rl_window = now;
        c->rl_count = 0;
    }
    if (++c->rl_count <= cfg->rate_limit_max_attempts)
        return 0;
    conn_error(c, PUSHER_CLIENT_EVENT_LIMIT, "Rate limit exceeded",
               cfg->rate_limit_terminate ? PUSHER_CLIENT_EVENT_LIMIT : 0);
    return 1;
}

/* 1 when the connection holds a subscription the app authorised. */
static int session_authorised(const struct conn *c)
{
    for (uint32_t i = 0; i < channel_set_count(&c->chans); i++) {
        size_t n;
        const char *name = channel_get_name(channel_set_at(&c->chans, i), &n);
        if (channel_kind_needs_auth(channel_name_kind(name, n)))
            return 1;
    }
    return 0;
}

size_t session_message_limit(const struct conn *c, const char *head, size_t n)
{
    const struct server *srv = c->srv;
    size_t max = srv->cfg->max_message_size;
    /* The event name follows the lead: a Pusher message's, or, on an
     * Engine.IO session (c->tx), a Socket.IO event's ("4" message + "2"
     * event + the arguments array), so a module's larger limit holds over
     * both protocols. */
    static const char lead[] = "{\"event\":\"";
    static const char sio_lead[] = "42[\"";
    size_t ll = sizeof lead - 1;
    if (c->tx && n > sizeof sio_lead - 1 && !memcmp(head, sio_lead, sizeof sio_lead - 1))
        ll = sizeof sio_lead - 1;
    else if (n <= ll || memcmp(head, lead, ll) != 0)
        return max;
    for (size_t i = 0; i < srv->nevents; i++) {
        const struct server_event_handler *h = &srv->events[i];
        if (h->max_bytes > max && n >= ll + h->len && !memcmp(head + ll, h->prefix, h->len) &&
            session_authorised(c))
            return h->max_bytes;
    }
    return max;
}

size_t session_frame_limit(const struct conn *c)
{
    const struct server *srv = c->srv;
    size_t max = srv->cfg->max_message_size;
    size_t big = max;
    for (size_t i = 0; i < srv->nevents; i++)
        if (srv->events[i].max_bytes > big)
            big = srv->events[i].max_bytes;
    return big > max && session_authorised(c) ? big : max;
}

int session_admit(struct conn *c)
{
    int64_t now = server_monotonic();
    c->last_seen = now;
    c->flags &= ~CONN_F_PINGED;
    if (!(c->flags & CONN_F_APP) || (c->flags & (CONN_F_CLOSING | CONN_F_DEAD)))
        return 0; /* refused at open, or on its way out */
    return !session_rate_limited(c, now);
}

void session_receive(struct conn *c, const char *buf, size_t len)
{
    struct server *srv = c->srv;
    if (!session_admit(c))
        return;

    message *m = NULL;
    /* The size limit was decided on the message's first bytes
     * (server_receive: c->rx_max); parsing holds it to the same. */
    struct message_limits lim = srv->limits;
    lim.max_bytes = c->rx_max;
    /* Frame hooks read only objects nested two deep that fit the limit. */
    if (len <= lim.max_bytes && (lim.max_depth == 0 || lim.max_depth >= 2))
        for (size_t i = 0; i < srv->nframe_hooks; i++)
            if (srv->frame_hooks[i].fn(srv, c, buf, len, srv->frame_hooks[i].ud))
                return;
    int rc = message_parse(buf, len, &lim, &m);
    if (rc != MESSAGE_OK) {
        if (log_enabled(srv->log, LOG_LEVEL_DEBUG))
            log_debug(srv->log, "connection %s: bad message (%s)", c->sid, message_strerror(rc));
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    const char *ev = message_event(m);
    const struct server_event_handler *h = session_find_handler(srv, ev);
    if (h) {
        if (h->fn(srv, c, m, h->ud) < 0)
            conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        message_free(m);
        return;
    }
    switch (message_kind_of(m)) {
    case MESSAGE_KIND_PUSHER:
        if (!strcmp(ev, "pusher:ping"))
            conn_queue(c, srv->pong);
        else if (!strcmp(ev, "pusher:pong"))
            ; /* liveness already refreshed */
        else if (!strcmp(ev, "pusher:subscribe"))
            subscribe_handle(c, m);
        else if (!strcmp(ev, "pusher:unsubscribe"))
            unsubscribe_handle(c, m);
        else if (!strcmp(ev, "pusher:signin"))
            signin_handle(c, m);
        else
            conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        break;
    case MESSAGE_KIND_CLIENT:
        client_event_handle(c, m);
        break;
    case MESSAGE_KIND_OTHER:
    default:
        break;
    }
    message_free(m);
}
