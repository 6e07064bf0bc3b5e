/* sio_echo: Socket.IO packets on the default namespace, with
 * laravel-echo-server's events as laravel-echo's socket.io connector sends
 * them, mapped onto the Pusher machinery so that both protocols share
 * every channel:
 *   subscribe {channel, auth: {headers}}   public channels join at once;
 *       private and presence channels ask the authorisers
 *       (socketio_auth.h) and join through subscribe_admit, the Pusher
 *       subscribe without its signature check (presence rules, capacity,
 *       member_added, history hooks all apply);
 *   unsubscribe {channel}                  leaves it;
 *   client event {channel, event, data}    a whisper: relayed as the Pusher
 *       message {"event","channel","data"} through session_receive, so the
 *       same membership rules and rate limits hold;
 *   <module>:<name> {channel, data}        a module's event (docsync:*) the
 *       same way, through session_receive to the module's handler.
 * What the server sends back is the Pusher frames' Socket.IO form
 * (socketio/sio.h). Other namespaces get CONNECT_ERROR "Invalid namespace";
 * binary packets an error event; both leave the session open. */
#include "server_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pusher/channel_name.h"
#include "socketio/sio.h"

int sio_on_authorize(struct server *srv, sio_authorize_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nsio_auth >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->sio_auth[srv->nsio_auth++] = (struct sio_authorizer){fn, ud};
    return 0;
}

/* Queues Engine.IO text as it is. */
static void sio_raw(struct conn *c, const char *s, size_t n)
{
    struct frame *f = frame_from(s, n);
    if (f) {
        conn_queue_raw(c, f);
        frame_unref(f);
    }
}

void sio_open(struct conn *c, int proto)
{
    /* Protocol 3 servers connect the default namespace unasked. */
    if (proto == 3) {
        c->flags |= CONN_F_SIO;
        sio_raw(c, "40", 2);
    }
}

/* Runs a Pusher message built from a Socket.IO event through the Pusher
 * path (session_receive): the same parse, limits and handlers. */
static void sio_as_pusher(struct conn *c, cJSON *msg)
{
    char *s = cJSON_PrintUnformatted(msg);
    if (!s) {
        conn_error(c, PUSHER_GENERIC, "Internal error", 0);
        return;
    }
    size_t n = strlen(s);
    c->rx_max = session_message_limit(c, s, n);
    session_receive(c, s, n);
    free(s);
}

/* The Pusher subscribe of an authorised channel. */
static void sio_admit(struct conn *c, const char *channel, const char *channel_data)
{
    struct server *srv = c->srv;
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "event", "pusher:subscribe");
    cJSON *data = cJSON_AddObjectToObject(msg, "data");
    cJSON_AddStringToObject(data, "channel", channel);
    if (channel_data)
        cJSON_AddStringToObject(data, "channel_data", channel_data);
    char *s = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    message *m = NULL;
    struct message_limits lim = srv->limits;
    lim.max_bytes = 65536; /* built here; the limits of what it carries still apply */
    if (s && message_parse(s, strlen(s), &lim, &m) == MESSAGE_OK)
        subscribe_admit(c, m);
    else
        conn_error(c, PUSHER_GENERIC, "Invalid presence channel data", 0);
    message_free(m);
    free(s);
}

static void sio_refuse(struct conn *c, const char *channel)
{
    struct message_frame mf = {0};
    if (message_build_subscription_error(MESSAGE_FRAME_HEADROOM, channel, "AuthError",
                                         "Connection is unauthorized", 403, &mf) == MESSAGE_OK) {
        struct frame *f = message_frame_adopt(&mf);
        if (f) {
            conn_queue(c, f);
            frame_unref(f);
        }
    }
}

void sio_auth_done(struct server *srv, const char *socket_id, const char *channel, int allowed,
                   const char *channel_data)
{
    struct conn *c = conn_find(srv, socket_id);
    if (!c || !c->tx || (c->flags & (CONN_F_DEAD | CONN_F_CLOSING)))
        return;
    if (allowed)
        sio_admit(c, channel, channel_data);
    else
        sio_refuse(c, channel);
}

/* The value of header `name` in the client's auth.headers, or NULL. */
static const char *sio_header(const cJSON *headers, const char *name)
{
    const cJSON *h;
    cJSON_ArrayForEach(h, headers)
    {
        if (h->string && !strcasecmp(h->string, name) && cJSON_IsString(h))
            return h->valuestring;
    }
    return NULL;
}

static void sio_subscribe(struct conn *c, const cJSON *opt)
{
    struct server *srv = c->srv;
    const cJSON *chj = cJSON_GetObjectItemCaseSensitive(opt, "channel");
    if (!cJSON_IsString(chj)) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    const char *channel = chj->valuestring;
    size_t nlen = strlen(channel);
    if (channel_name_validate(channel, nlen, srv->cfg->channel_name_max) != CHANNEL_NAME_OK ||
        !channel_kind_needs_auth(channel_name_kind(channel, nlen))) {
        sio_admit(c, channel, NULL); /* public, or refused there with its reason */
        return;
    }
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(opt, "auth");
    const cJSON *headers = cJSON_GetObjectItemCaseSensitive(auth, "headers");
    if (!cJSON_IsObject(headers))
        headers = NULL;
    char *hj = headers ? cJSON_PrintUnformatted(headers) : NULL;
    const struct eio_sess *e = c->tx_ud;
    struct sio_auth_request rq = {
        .socket_id = c->sid,
        .channel = channel,
        .headers_json = hj ? hj : "{}",
        .authorization = sio_header(headers, "authorization"),
        .cookie = e ? e->cookie : NULL,
    };
    int decided = 0;
    for (size_t i = 0; i < srv->nsio_auth && !decided; i++) {
        char *cd = NULL;
        int rc = srv->sio_auth[i].fn(srv, &rq, &cd, srv->sio_auth[i].ud);
        if (rc == SIO_AUTH_ALLOW)
            sio_admit(c, channel, cd);
        else if (rc == SIO_AUTH_DENY)
            sio_refuse(c, channel);
        decided = rc != SIO_AUTH_NEXT;
        free(cd);
    }
    if (!decided)
        sio_refuse(c, channel);
    free(hj);
}

static void sio_unsubscribe(struct conn *c, const cJSON *opt)
{
    const cJSON *chj = cJSON_GetObjectItemCaseSensitive(opt, "channel");
    if (!cJSON_IsString(chj))
        return;
    struct channel *ch = channel_find(c->srv->channels, chj->valuestring, strlen(chj->valuestring));
    if (ch && channel_set_find(&c->chans, ch))
        broadcast_leave(c, ch);
}

/* client event {channel, event, data}: a whisper, "client-" events only. */
static void sio_client_event(struct conn *c, const cJSON *opt)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(opt, "event");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(opt, "channel");
    if (!cJSON_IsString(ev) || strncmp(ev->valuestring, "client-", 7) != 0 || !cJSON_IsString(ch)) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "event", ev->valuestring);
    cJSON_AddStringToObject(msg, "channel", ch->valuestring);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(opt, "data");
    cJSON_AddItemToObject(msg, "data", data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
    sio_as_pusher(c, msg);
    cJSON_Delete(msg);
}

/* A module's event (its name has a ':' and is not Pusher's): {channel, data}. */
static void sio_module_event(struct conn *c, const char *name, const cJSON *opt)
{
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "event", name);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(opt, "channel");
    if (cJSON_IsString(ch))
        cJSON_AddStringToObject(msg, "channel", ch->valuestring);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(opt, "data");
    cJSON_AddItemToObject(msg, "data", data ? cJSON_Duplicate(data, 1) : cJSON_CreateObject());
    sio_as_pusher(c, msg);
    cJSON_Delete(msg);
}

static void sio_event(struct conn *c, const struct sio_packet *pk)
{
    cJSON *args = sio_event_args(pk);
    if (!args) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    const char *name = cJSON_GetArrayItem(args, 0)->valuestring;
    const cJSON *opt = cJSON_GetArrayItem(args, 1);
    if (!strcmp(name, "subscribe") || !strcmp(name, "unsubscribe")) {
        /* Counted like a Pusher message (Reverb's rate limit), since an
         * authorisation may cost a token check or a request to the app. */
        if (session_admit(c)) {
            if (name[0] == 's')
                sio_subscribe(c, opt);
            else
                sio_unsubscribe(c, opt);
        }
    } else if (!strcmp(name, "client event")) {
        sio_client_event(c, opt);
    } else if (strchr(name, ':') && strncmp(name, "pusher", 6) != 0 &&
               strncmp(name, "client-", 7) != 0) {
        sio_module_event(c, name, opt);
    }
    /* Anything else means nothing here, as with laravel-echo-server. */
    cJSON_Delete(args);
}

/* CONNECT_ERROR for a namespace other than "/". */
static void sio_refuse_namespace(struct conn *c, int proto, const char *pkt, size_t n)
{
    size_t i = 1, end = 1;
    while (end < n && pkt[end] != ',' && end - i < 128)
        end++;
    char buf[256];
    int k = snprintf(buf, sizeof buf,
                     proto == 3 ? "44%.*s,\"Invalid namespace\""
                                : "44%.*s,{\"message\":\"Invalid namespace\"}",
                     (int)(end - i), pkt + i);
    /* The name is the client's own text, only ever sent back to it; it
     * cannot hold a quote that matters: it is outside the JSON. */
    if (k > 0 && (size_t)k < sizeof buf)
        sio_raw(c, buf, (size_t)k);
}

void sio_packet(struct conn *c, int proto, const char *pkt, size_t n)
{
    struct sio_packet pk;
    int rc = sio_packet_parse(pkt, n, c->srv->limits.max_depth, &pk);
    if (rc == SIO_ENSP) {
        if (pkt[0] == '0')
            sio_refuse_namespace(c, proto, pkt, n);
        return;
    }
    if (rc == SIO_EBINARY) {
        conn_error(c, PUSHER_GENERIC, "Binary packets are not supported", 0);
        return;
    }
    if (rc != SIO_OK) {
        conn_error(c, PUSHER_GENERIC, "Invalid message format", 0);
        return;
    }
    switch (pk.type) {
    case SIO_CONNECT:
        if (!(c->flags & CONN_F_SIO)) {
            c->flags |= CONN_F_SIO;
            /* The Socket.IO id is the Pusher socket id: what Echo sends as
             * X-Socket-ID is what the HTTP API excludes. */
            char buf[64];
            int k = proto == 3 ? snprintf(buf, sizeof buf, "40")
                               : snprintf(buf, sizeof buf, "40{\"sid\":\"%s\"}", c->sid);
            sio_raw(c, buf, (size_t)k);
        }
        break;
    case SIO_DISCONNECT:
        broadcast_leave_all(c);
        conn_close(c, 1000);
        break;
    case SIO_EVENT:
        if (c->flags & CONN_F_SIO)
            sio_event(c, &pk);
        break;
    default:
        break; /* acks: none are asked for */
    }
}
