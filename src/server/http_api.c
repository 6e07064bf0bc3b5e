/* http_api: the Pusher HTTP API (signed with the app secret) and the unsigned
 * /up and /metrics, registered in the server's route table.
 *
 *   POST /apps/{id}/events                         trigger on <= 100 channels
 *   POST /apps/{id}/batch_events                   <= 10 events
 *   GET  /apps/{id}/channels                       filter_by_prefix, info
 *   GET  /apps/{id}/channels/{channel}             info
 *   GET  /apps/{id}/channels/{channel}/users       presence only
 *   GET  /apps/{id}/connections                    {"connections":N}
 *   POST /apps/{id}/users/{user}/terminate_connections
 *   GET  /up                                       {"health":"OK"}
 *   GET  /metrics                                  Prometheus text
 * Signed routes are verified by http.c before these run. Bodies are JSON
 * parsed with cJSON after the size limit; validation errors are 422 with a
 * Laravel-style {"field":["message"]} body (Reverb), a body that is not a
 * JSON object is 400. Each accepted event is also shown to the modules'
 * publish hooks (http_api_on_publish), once per channel, after delivery. */
#include "server_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "pusher/channel_name.h"

#define API_MAX_CHANNELS 100
#define API_MAX_BATCH 10
#define API_MAX_EVENT_NAME 200

static void api_json(struct http_req *req, int status, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    if (!s) {
        http_req_respond(req, 500, "text/plain; charset=utf-8", "Internal server error.", 22, NULL,
                         NULL);
    } else {
        http_req_respond(req, status, "application/json", s, strlen(s), NULL, NULL);
        free(s);
    }
    cJSON_Delete(obj);
}

static void api_raw(struct http_req *req, int status, const char *json)
{
    http_req_respond(req, status, "application/json", json, strlen(json), NULL, NULL);
}

static void api_text(struct http_req *req, int status, const char *text)
{
    http_req_respond(req, status, "text/plain; charset=utf-8", text, strlen(text), NULL, NULL);
}

static void api_invalid(struct http_req *req, const char *field, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = o ? cJSON_AddArrayToObject(o, field) : NULL;
    if (a)
        cJSON_AddItemToArray(a, cJSON_CreateString(msg));
    api_json(req, 422, o);
}

/* The shape of an Engine.IO session id (eio_transport.c: 120 bits in
 * base64url, 20 characters). */
static int api_eio_sid_shape(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return 0;
    }
    return n == 20;
}

/* Which counts `info` (comma list) asks for. */
static void api_info_flags(const char *info, int *users, int *subs, int *cache)
{
    *users = *subs = 0;
    if (cache)
        *cache = 0;
    if (!info)
        return;
    const char *p = info;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 10 && !strncmp(p, "user_count", n))
            *users = 1;
        else if (n == 18 && !strncmp(p, "subscription_count", n))
            *subs = 1;
        else if (cache && n == 5 && !strncmp(p, "cache", n))
            *cache = 1;
        p += n;
        if (*p == ',')
            p++;
    }
}

/* Adds the requested counts of channel `name` to `obj`. */
static void api_channel_counts(struct server *srv, cJSON *obj, const char *name, int users,
                               int subs)
{
    struct channel *ch = channel_find(srv->channels, name, strlen(name));
    const struct presence *p = ch ? channel_presence(ch) : NULL;
    if (users && (p || channel_kind_is_presence(channel_name_kind(name, strlen(name)))))
        cJSON_AddNumberToObject(obj, "user_count", p ? (double)presence_count(p) : 0);
    if (subs)
        cJSON_AddNumberToObject(obj, "subscription_count", ch ? (double)channel_sub_count(ch) : 0);
}

struct api_event {
    const char *name;
    const char *data;
    size_t data_len;
    const char *socket_id;
    const char *info;
    char socket_id_buf[SERVER_SID_MAX]; /* socket_id resolved from a session id */
};

static int api_counts_ask(struct server *srv, struct http_api_hold *hold, int batch,
                          const char *const *names, size_t n, const struct api_event *evs,
                          int one_info);

const char *broadcast_except_sid(struct server *srv, const char *id, char *buf, size_t size)
{
    if (socket_id_shape(id, strlen(id)))
        return id;
    if (!api_eio_sid_shape(id))
        return NULL;
    const struct eio_sess *e = hmap_get(&srv->eio_by_sid, id, strlen(id));
    if (!e || e->proto != 3 || e->ended || !e->c)
        return NULL;
    snprintf(buf, size, "%s", e->c->sid);
    return buf;
}

/* Validates the common fields of one event object; on failure responds
 * 422 and returns -1. */
static int api_event_fields(struct server *srv, struct http_req *req, const cJSON *o,
                            struct api_event *ev)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(o, "socket_id");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(o, "info");
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
        api_invalid(req, "name", "The name field is required.");
        return -1;
    }
    if (strlen(name->valuestring) > API_MAX_EVENT_NAME) {
        api_invalid(req, "name", "The name field must not be greater than 200 characters.");
        return -1;
    }
    if (!data) {
        api_invalid(req, "data", "The data field is required.");
        return -1;
    }
    if (!cJSON_IsString(data)) {
        api_invalid(req, "data", "The data field must be a string.");
        return -1;
    }
    if (sid && !cJSON_IsNull(sid) &&
        (!cJSON_IsString(sid) || !(socket_id_shape(sid->valuestring, strlen(sid->valuestring)) ||
                                   api_eio_sid_shape(sid->valuestring)))) {
        api_invalid(req, "socket_id", "The socket id field format is invalid.");
        return -1;
    }
    if (info && !cJSON_IsNull(info) && !cJSON_IsString(info)) {
        api_invalid(req, "info", "The info field must be a string.");
        return -1;
    }
    ev->name = name->valuestring;
    ev->data = data->valuestring;
    ev->data_len = strlen(data->valuestring);
    ev->socket_id = cJSON_IsString(sid)
                        ? broadcast_except_sid(srv, sid->valuestring, ev->socket_id_buf,
                                               sizeof ev->socket_id_buf)
                        : NULL;
    ev->info = cJSON_IsString(info) ? info->valuestring : NULL;
    return 0;
}

static int api_channel_ok(struct server *srv, const char *name)
{
    return channel_name_validate(name, strlen(name), srv->cfg->channel_name_max) == CHANNEL_NAME_OK;
}

/* Delivers one event to one channel (skipped when it has no subscriber). */
static void api_deliver(struct server *srv, const struct api_event *ev, const char *channel,
                        const struct conn *except)
{
    struct channel *ch = channel_find(srv->channels, channel, strlen(channel));
    if (!ch && !srv->relay.fn)
        return;
    struct message_frame mf = {0};
    if (message_build_app_event(MESSAGE_FRAME_HEADROOM, ev->name, ev->data, ev->data_len, channel,
                                &mf) != MESSAGE_OK)
        return;
    struct frame *f = message_frame_adopt(&mf);
    if (f) {
        if (ch)
            broadcast_publish(srv, ch, f, except);
        /* The excluded socket may be on another node: relay its id even
         * when it is not here. */
        broadcast_relay(srv, channel, f, ev->socket_id);
        frame_unref(f);
    }
}

/* The answer to a publish request, sent once every claim of its events
 * (http_api_on_claim) has ended: `pending` counts the claims still open
 * plus one for the request itself until its answer is known. */
struct http_api_hold {
    struct http_req *req;
    unsigned pending;
    int failed;
    int status;
    char *body; /* malloc'd JSON; NULL: 500 */
    char *why;  /* the first refusal's reason (http_api_hold_refuse), or NULL */
};

static void hold_end(struct http_api_hold *h)
{
    if (--h->pending)
        return;
    if (h->failed && h->why) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "error", h->why);
        cJSON_AddStringToObject(e, "code", "unavailable");
        api_json(h->req, 503, e);
    } else if (h->failed) {
        api_raw(h->req, 503,
                "{\"error\":\"the event could not be stored for the channel's history; it was "
                "not delivered\"}");
    } else if (!h->body) {
        api_json(h->req, 500, NULL);
    } else {
        api_raw(h->req, h->status, h->body);
    }
    free(h->body);
    free(h->why);
    free(h);
}

void http_api_hold_release(struct http_api_hold *hold, int ok)
{
    if (!hold)
        return; /* a module's own event (http_api_publish): nobody waits */
    if (!ok)
        hold->failed = 1;
    hold_end(hold);
}

void http_api_hold_refuse(struct http_api_hold *hold, const char *why)
{
    if (!hold)
        return;
    if (!hold->why && why)
        hold->why = strdup(why);
    hold->failed = 1;
    hold_end(hold);
}

/* The request's own answer (body NULL: 500), sent when the claims allow. */
static void hold_answer(struct http_api_hold *h, int status, char *body)
{
    h->status = status;
    h->body = body;
    hold_end(h);
}

static void hold_answer_json(struct http_api_hold *h, int status, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    hold_answer(h, status, s);
}

/* Delivers one accepted event to one channel unless a claim hook takes it
 * (to store it first and deliver it itself), then runs the publish hooks
 * (http_api_on_publish), which see it whether or not it had subscribers. */
static void api_accept(struct server *srv, const struct api_event *ev, const char *channel,
                       const struct conn *except, struct http_api_hold *hold)
{
    int claimed = 0;
    for (size_t i = 0; i < srv->nclaim_hooks && !claimed; i++) {
        hold->pending++;
        claimed = srv->claim_hooks[i].fn(srv, channel, ev->name, ev->data, ev->data_len,
                                         ev->socket_id, hold, srv->claim_hooks[i].ud);
        if (!claimed)
            hold->pending--;
    }
    if (!claimed)
        api_deliver(srv, ev, channel, except);
    for (size_t i = 0; i < srv->npublish_hooks; i++)
        srv->publish_hooks[i].fn(srv, channel, ev->name, ev->data, ev->data_len, ev->socket_id,
                                 srv->publish_hooks[i].ud);
}

int http_api_publish(struct server *srv, const char *channel, const char *event, const char *data,
                     size_t data_len)
{
    for (size_t i = 0; i < srv->nclaim_hooks; i++)
        if (srv->claim_hooks[i].fn(srv, channel, event, data, data_len, NULL, NULL,
                                   srv->claim_hooks[i].ud))
            return 1;
    struct api_event ev = {.name = event, .data = data, .data_len = data_len};
    api_deliver(srv, &ev, channel, NULL);
    return 0;
}

static cJSON *api_parse_body(struct http_req *req)
{
    size_t len;
    const char *body = http_req_body(req, &len);
    cJSON *root = body && utf8_valid(body, len) ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        api_text(req, 400, "Bad request.");
        return NULL;
    }
    return root;
}

static void api_events(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    cJSON *root = api_parse_body(req);
    if (!root)
        return;
    struct api_event ev;
    if (api_event_fields(srv, req, root, &ev)) {
        cJSON_Delete(root);
        return;
    }
    const cJSON *chans = cJSON_GetObjectItemCaseSensitive(root, "channels");
    const cJSON *chan = cJSON_GetObjectItemCaseSensitive(root, "channel");
    const char *list[API_MAX_CHANNELS];
    size_t n = 0;
    if (cJSON_IsArray(chans)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, chans)
        {
            if (n >= API_MAX_CHANNELS) {
                api_invalid(req, "channels",
                            "The channels field must not have more than 100 items.");
                cJSON_Delete(root);
                return;
            }
            if (!cJSON_IsString(it) || !api_channel_ok(srv, it->valuestring)) {
                api_invalid(req, "channels", "The channels field contains an invalid channel.");
                cJSON_Delete(root);
                return;
            }
            list[n++] = it->valuestring;
        }
    } else if (cJSON_IsString(chan)) {
        if (!api_channel_ok(srv, chan->valuestring)) {
            api_invalid(req, "channel", "The channel field is invalid.");
            cJSON_Delete(root);
            return;
        }
        list[n++] = chan->valuestring;
    }
    if (!n) {
        api_invalid(req, "channels", "The channels field is required.");
        cJSON_Delete(root);
        return;
    }
    struct http_api_hold *hold = calloc(1, sizeof *hold);
    if (!hold) {
        api_json(req, 500, NULL);
        cJSON_Delete(root);
        return;
    }
    hold->req = req;
    hold->pending = 1;
    const struct conn *except = ev.socket_id ? conn_find(srv, ev.socket_id) : NULL;
    for (size_t i = 0; i < n; i++)
        api_accept(srv, &ev, list[i], except, hold);

    int users, subs;
    api_info_flags(ev.info, &users, &subs, NULL);
    if (!users && !subs) {
        hold_answer(hold, 200, strdup("{}"));
    } else if (!api_counts_ask(srv, hold, 0, list, n, &ev, 1)) {
        cJSON *out = cJSON_CreateObject();
        cJSON *co = out ? cJSON_AddObjectToObject(out, "channels") : NULL;
        for (size_t i = 0; co && i < n; i++) {
            cJSON *one = cJSON_AddObjectToObject(co, list[i]);
            if (one)
                api_channel_counts(srv, one, list[i], users, subs);
        }
        hold_answer_json(hold, 200, out);
    }
    cJSON_Delete(root);
}

/* ---- the cluster's counts in an events answer ---------------------------------- */

struct http_api_counts {
    struct http_api_hold *hold;
    int batch; /* {"batch":[{...}...]}, else {"channels":{name:{...}}} */
    size_t n;
    struct {
        char *name;
        int users, subs; /* what `info` asked for this channel */
    } ch[];
};

/* Asks the counts hook for the counts of `names` (n; evs[i]'s info for
 * channel i, or evs[0]'s for all when `one_info`). Returns 1 when the
 * answer is the hook's to finish, 0 for this node's counts. */
static int api_counts_ask(struct server *srv, struct http_api_hold *hold, int batch,
                          const char *const *names, size_t n, const struct api_event *evs,
                          int one_info)
{
    if (!srv->counts.fn || n == 0)
        return 0;
    struct http_api_counts *t = calloc(1, sizeof *t + n * sizeof t->ch[0]);
    if (!t)
        return 0;
    t->hold = hold;
    t->batch = batch;
    for (size_t i = 0; i < n; i++) {
        t->ch[i].name = strdup(names[i]);
        api_info_flags(evs[one_info ? 0 : i].info, &t->ch[i].users, &t->ch[i].subs, NULL);
        t->n = i + 1;
        if (!t->ch[i].name) {
            for (size_t k = 0; k < t->n; k++)
                free(t->ch[k].name);
            free(t);
            return 0;
        }
    }
    if (srv->counts.fn(srv, names, n, t, srv->counts.ud))
        return 1;
    for (size_t k = 0; k < t->n; k++)
        free(t->ch[k].name);
    free(t);
    return 0;
}

void http_api_counts_done(struct http_api_counts *t, const long long *subs, const long long *users)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *all = !out       ? NULL
                 : t->batch ? cJSON_AddArrayToObject(out, "batch")
                            : cJSON_AddObjectToObject(out, "channels");
    for (size_t i = 0; all && i < t->n; i++) {
        const char *name = t->ch[i].name;
        cJSON *one = cJSON_CreateObject();
        if (!one)
            break;
        /* As a lone server answers: user_count for presence channels. */
        if (subs && t->ch[i].users &&
            channel_kind_is_presence(channel_name_kind(name, strlen(name))))
            cJSON_AddNumberToObject(one, "user_count", (double)users[i]);
        if (subs && t->ch[i].subs)
            cJSON_AddNumberToObject(one, "subscription_count", (double)subs[i]);
        if (t->batch)
            cJSON_AddItemToArray(all, one);
        else if (!cJSON_GetObjectItemCaseSensitive(all, name))
            cJSON_AddItemToObject(all, name, one);
        else
            cJSON_Delete(one); /* a channel named twice: one member */
    }
    hold_answer_json(t->hold, 200, out);
    for (size_t k = 0; k < t->n; k++)
        free(t->ch[k].name);
    free(t);
}

int http_api_on_counts(struct server *srv, http_api_counts_fn fn, void *ud)
{
    if (!srv || !fn)
        return SERVER_EINVAL;
    if (srv->counts.fn)
        return SERVER_EFULL;
    srv->counts.fn = fn;
    srv->counts.ud = ud;
    return 0;
}

static void api_batch_events(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    cJSON *root = api_parse_body(req);
    if (!root)
        return;
    const cJSON *batch = cJSON_GetObjectItemCaseSensitive(root, "batch");
    if (!cJSON_IsArray(batch)) {
        api_invalid(req, "batch", "The batch field is required.");
        cJSON_Delete(root);
        return;
    }
    int count = cJSON_GetArraySize(batch);
    if (count > API_MAX_BATCH) {
        api_invalid(req, "batch", "The batch field must not have more than 10 items.");
        cJSON_Delete(root);
        return;
    }
    /* Validate everything before delivering anything. */
    struct api_event evs[API_MAX_BATCH];
    const char *chans[API_MAX_BATCH];
    int any_info = 0, i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, batch)
    {
        if (!cJSON_IsObject(it)) {
            api_invalid(req, "batch", "Each batch item must be an object.");
            cJSON_Delete(root);
            return;
        }
        if (api_event_fields(srv, req, it, &evs[i])) {
            cJSON_Delete(root);
            return;
        }
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(it, "channel");
        if (!cJSON_IsString(ch) || !api_channel_ok(srv, ch->valuestring)) {
            api_invalid(req, "channel", "The channel field is required.");
            cJSON_Delete(root);
            return;
        }
        chans[i] = ch->valuestring;
        any_info |= evs[i].info != NULL;
        i++;
    }
    struct http_api_hold *hold = calloc(1, sizeof *hold);
    if (!hold) {
        api_json(req, 500, NULL);
        cJSON_Delete(root);
        return;
    }
    hold->req = req;
    hold->pending = 1;
    for (int k = 0; k < i; k++) {
        const struct conn *except = evs[k].socket_id ? conn_find(srv, evs[k].socket_id) : NULL;
        api_accept(srv, &evs[k], chans[k], except, hold);
    }
    if (!any_info) {
        hold_answer(hold, 200, strdup("{\"batch\":{}}"));
    } else if (!api_counts_ask(srv, hold, 1, chans, (size_t)i, evs, 0)) {
        cJSON *out = cJSON_CreateObject();
        cJSON *arr = out ? cJSON_AddArrayToObject(out, "batch") : NULL;
        for (int k = 0; arr && k < i; k++) {
            cJSON *one = cJSON_CreateObject();
            int users, subs;
            api_info_flags(evs[k].info, &users, &subs, NULL);
            if (one) {
                api_channel_counts(srv, one, chans[k], users, subs);
                cJSON_AddItemToArray(arr, one);
            }
        }
        hold_answer_json(hold, 200, out);
    }
    cJSON_Delete(root);
}

static void api_channels(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const char *prefix = http_req_arg(req, "filter_by_prefix");
    int users, subs;
    api_info_flags(http_req_arg(req, "info"), &users, &subs, NULL);
    size_t plen = prefix ? strlen(prefix) : 0;
    if (srv->query.fn &&
        srv->query.fn(srv, req, HTTP_API_CHANNELS, prefix, users, subs, NULL, srv->query.ud))
        return; /* the cluster's answer */
    cJSON *out = cJSON_CreateObject();
    cJSON *co = out ? cJSON_AddObjectToObject(out, "channels") : NULL;
    size_t it = 0;
    struct channel *ch;
    while (co && (ch = channel_registry_next(srv->channels, &it))) {
        size_t nlen;
        const char *name = channel_get_name(ch, &nlen);
        if (plen && (nlen < plen || memcmp(name, prefix, plen) != 0))
            continue;
        cJSON *one = cJSON_AddObjectToObject(co, name);
        if (one)
            api_channel_counts(srv, one, name, users && channel_presence(ch), subs);
    }
    api_json(req, 200, out);
}

static void api_channel(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const char *name = http_req_param(req, 1);
    int users, subs, cache;
    api_info_flags(http_req_arg(req, "info"), &users, &subs, &cache);
    struct channel *ch = name ? channel_find(srv->channels, name, strlen(name)) : NULL;
    /* The counts are the cluster's; the cached event is this node's (every
     * node with subscribers on the channel caches the same last event). */
    if (name && srv->query.fn) {
        struct frame *f = cache && ch ? channel_cache(ch) : NULL;
        cJSON *parsed = f ? cJSON_ParseWithLength((const char *)frame_data(f), f->len) : NULL;
        char *cached = parsed ? cJSON_PrintUnformatted(parsed) : NULL; /* as answered below */
        cJSON_Delete(parsed);
        int taken =
            srv->query.fn(srv, req, HTTP_API_CHANNEL, name, users, subs, cached, srv->query.ud);
        free(cached);
        if (taken)
            return;
    }
    if (!ch) {
        api_raw(req, 200, "{\"occupied\":false}");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    if (out) {
        cJSON_AddBoolToObject(out, "occupied", 1);
        api_channel_counts(srv, out, name, users && channel_presence(ch), subs);
        struct frame *f = channel_cache(ch);
        if (cache && f) {
            cJSON *cached = cJSON_ParseWithLength((const char *)frame_data(f), f->len);
            if (cached)
                cJSON_AddItemToObject(out, "cache", cached);
        }
    }
    api_json(req, 200, out);
}

static void api_users(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const char *name = http_req_param(req, 1);
    size_t nlen = name ? strlen(name) : 0;
    struct channel *ch = name ? channel_find(srv->channels, name, nlen) : NULL;
    if (!name || !channel_kind_is_presence(channel_name_kind(name, nlen))) {
        api_raw(req, 400, "{}");
        return;
    }
    if (srv->query.fn && srv->query.fn(srv, req, HTTP_API_USERS, name, 1, 0, NULL, srv->query.ud))
        return;
    if (!ch || !channel_presence(ch)) {
        api_raw(req, 404, "{}");
        return;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = out ? cJSON_AddArrayToObject(out, "users") : NULL;
    size_t it = 0;
    struct presence_member *m;
    while (arr && (m = presence_next(channel_presence(ch), &it))) {
        cJSON *u = cJSON_CreateObject();
        if (u) {
            cJSON_AddStringToObject(u, "id", presence_member_id(m, NULL));
            cJSON_AddItemToArray(arr, u);
        }
    }
    api_json(req, 200, out);
}

static void api_connections(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    char buf[64];
    uint64_t n = srv->nconns;
    /* Other nodes' connections (cluster/), as they last reported them. */
    for (size_t i = 0; i < srv->nconnections_hooks; i++)
        n += srv->connections_hooks[i].fn(srv, srv->connections_hooks[i].ud);
    snprintf(buf, sizeof(buf), "{\"connections\":%llu}", (unsigned long long)n);
    api_raw(req, 200, buf);
}

/* Does connection `c` belong to user `uid` (signed in as it, or a presence
 * member with that id in any channel)? */
static int api_conn_is_user(const struct conn *c, const char *uid)
{
    if (c->signin_id && !strcmp(c->signin_id, uid))
        return 1;
    for (uint32_t i = 0; i < channel_set_count(&c->chans); i++) {
        const struct channel_sub *s = channel_set_find(&c->chans, channel_set_at(&c->chans, i));
        if (s && s->member && !strcmp(presence_member_id(s->member, NULL), uid))
            return 1;
    }
    return 0;
}

size_t http_api_terminate_user(struct server *srv, const char *uid)
{
    size_t n = 0;
    for (struct conn *c = srv->conns; uid && c; c = c->next) {
        if ((c->flags & (CONN_F_DEAD | CONN_F_CLOSING)) || !api_conn_is_user(c, uid))
            continue;
        conn_error(c, PUSHER_UNAUTHORIZED, "Connection terminated by the server",
                   PUSHER_UNAUTHORIZED);
        broadcast_leave_all(c);
        n++;
    }
    if (n)
        log_info(srv->log, "terminated %zu connection(s) of user %s", n, uid);
    return n;
}

static void api_terminate(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    const char *uid = http_req_param(req, 1);
    if (uid) {
        http_api_terminate_user(srv, uid);
        for (size_t i = 0; i < srv->nterminate_hooks; i++)
            srv->terminate_hooks[i].fn(srv, uid, srv->terminate_hooks[i].ud);
    }
    api_raw(req, 200, "{}");
}

int http_api_on_connections(struct server *srv, http_api_connections_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nconnections_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->connections_hooks[srv->nconnections_hooks++] = (struct http_api_connections_hook){fn, ud};
    return 0;
}

int http_api_on_query(struct server *srv, http_api_query_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->query.fn)
        return SERVER_EFULL;
    srv->query = (struct http_api_query_hook){fn, ud};
    return 0;
}

int http_api_on_terminate(struct server *srv, http_api_terminate_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nterminate_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->terminate_hooks[srv->nterminate_hooks++] = (struct http_api_terminate_hook){fn, ud};
    return 0;
}

/* {"health":"OK"} as Reverb answers, with the modules' members after it
 * (cluster/: this node, Redis). Always 200 while the server runs: a node
 * that lost Redis still serves its own connections. */
static void api_up(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    if (!srv->nhealth_hooks) {
        api_raw(req, 200, "{\"health\":\"OK\"}");
        return;
    }
    size_t cap = 64, len = 0;
    char *body = malloc(cap);
    if (!body) {
        api_text(req, 500, "Internal server error.");
        return;
    }
    len = (size_t)snprintf(body, cap, "{\"health\":\"OK\"");
    for (size_t i = 0; i < srv->nhealth_hooks; i++) {
        char *more = srv->health_hooks[i].fn(srv, srv->health_hooks[i].ud);
        size_t ml = more ? strlen(more) : 0;
        if (ml && len + ml + 3 > cap) {
            char *b = realloc(body, len + ml + 3);
            if (!b) {
                free(more);
                continue;
            }
            body = b;
            cap = len + ml + 3;
        }
        if (ml) {
            body[len++] = ',';
            memcpy(body + len, more, ml);
            len += ml;
        }
        free(more);
    }
    body[len++] = '}';
    body[len] = '\0';
    api_raw(req, 200, body);
    free(body);
}

int http_api_on_health(struct server *srv, http_api_health_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nhealth_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->health_hooks[srv->nhealth_hooks++] = (struct http_api_health_hook){fn, ud};
    return 0;
}

static void api_metrics(struct server *srv, struct http_req *req, void *ud)
{
    (void)ud;
    char *text = NULL;
    long n =
        metrics_render(&srv->metrics, srv->nconns, channel_registry_count(srv->channels), &text);
    if (n < 0) {
        api_text(req, 500, "Internal server error.");
        return;
    }
    /* The modules' own lines (webhook/), after the server's. */
    for (size_t i = 0; i < srv->nmetrics_hooks && text; i++) {
        char *more = srv->metrics_hooks[i].fn(srv, srv->metrics_hooks[i].ud);
        size_t ml = more ? strlen(more) : 0;
        char *both = ml ? realloc(text, (size_t)n + ml + 1) : text;
        if (both) {
            memcpy(both + n, more ? more : "", ml + 1);
            n += (long)ml;
        }
        text = both;
        free(more);
    }
    if (!text) {
        api_text(req, 500, "Internal server error.");
        return;
    }
    http_req_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, (size_t)n, NULL,
                     NULL);
    free(text);
}

int http_api_on_metrics(struct server *srv, http_api_metrics_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nmetrics_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->metrics_hooks[srv->nmetrics_hooks++] = (struct http_api_metrics_hook){fn, ud};
    return 0;
}

int http_api_on_claim(struct server *srv, http_api_claim_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->nclaim_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->claim_hooks[srv->nclaim_hooks++] = (struct http_api_claim_hook){fn, ud};
    return 0;
}

int http_api_on_publish(struct server *srv, http_api_publish_fn fn, void *ud)
{
    if (!fn)
        return SERVER_EINVAL;
    if (srv->npublish_hooks >= SERVER_MAX_HOOKS)
        return SERVER_EFULL;
    srv->publish_hooks[srv->npublish_hooks++] = (struct http_api_publish_hook){fn, ud};
    return 0;
}

int http_api_register(struct server *srv)
{
    const unsigned S = HTTP_ROUTE_APP | HTTP_ROUTE_SIGNED;
    int rc = 0;
    rc |= http_route(srv, "GET", "/up", 0, api_up, NULL);
    rc |= http_route(srv, "GET", "/metrics", 0, api_metrics, NULL);
    rc |= http_route(srv, "POST", "/apps/{app_id}/events", S, api_events, NULL);
    rc |= http_route(srv, "POST", "/apps/{app_id}/batch_events", S, api_batch_events, NULL);
    rc |= http_route(srv, "GET", "/apps/{app_id}/channels", S, api_channels, NULL);
    rc |= http_route(srv, "GET", "/apps/{app_id}/channels/{channel}", S, api_channel, NULL);
    rc |= http_route(srv, "GET", "/apps/{app_id}/channels/{channel}/users", S, api_users, NULL);
    rc |= http_route(srv, "GET", "/apps/{app_id}/connections", S, api_connections, NULL);
    rc |= http_route(srv, "POST", "/apps/{app_id}/users/{user_id}/terminate_connections", S,
                     api_terminate, NULL);
    return rc ? -1 : 0;
}
