/* The engine's reply texts: acks (jsonw, the hot one), errors and history
 * (cJSON). See engine_int.h. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "engine_int.h"

static void add_u64(cJSON *o, const char *k, uint64_t v)
{
    cJSON_AddNumberToObject(o, k, (double)v);
}

/* Sends `body` (freed here; NULL = out of memory) as the text of `event`. */
static void reply_object(sync_engine *e, const struct sync_reply *to, const char *event,
                         cJSON *body)
{
    char *json = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    engine__reply_text(e, to, event, json);
    free(json);
}

void engine__reply_text(sync_engine *e, const struct sync_reply *to, const char *event,
                        const char *json)
{
    const char *text = json ? json : "{\"code\":\"internal\",\"message\":\"out of memory\"}";
    const char *ev = json ? event : "docsync:error";
    if (to->done)
        to->done(to->arg, ev, text);
    else if (to->socket_id[0] && e->io.send)
        e->io.send(e->io.ctx, to->socket_id, ev, to->channel[0] ? to->channel : NULL, text);
}

/* The members every reply starts with. */
static cJSON *body_for(const char *doc, const char *client, uint64_t seq, const char *request_id)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "documentId", doc);
    if (client && client[0]) {
        cJSON_AddStringToObject(o, "clientId", client);
        add_u64(o, "seq", seq);
    }
    if (request_id && request_id[0])
        cJSON_AddStringToObject(o, "requestId", request_id);
    return o;
}

void engine__reply_error(sync_engine *e, const struct sync_reply *to, const char *doc,
                         const char *client, uint64_t seq, const char *request_id, const char *code,
                         const char *message, const char *num_key, uint64_t num)
{
    cJSON *o = body_for(doc ? doc : "", client, seq, request_id);
    if (o) {
        cJSON_AddStringToObject(o, "code", code);
        cJSON_AddStringToObject(o, "message", message);
        if (num_key)
            add_u64(o, num_key, num);
    }
    reply_object(e, to, "docsync:error", o);
    e->st.refused++;
}

void sync_engine_reply_error(sync_engine *e, const struct sync_reply *reply,
                             const struct sync_request *req, const char *code, const char *message)
{
    engine__reply_error(e, reply, req ? req->doc : "", req ? req->client : NULL, req ? req->seq : 0,
                        req ? req->request_id : NULL, code, message, NULL, 0);
}

void engine__reply_ack(sync_engine *e, const struct waiter *w, const char *doc, uint64_t version)
{
    char buf[1024];
    struct jsonw j;
    jsonw_init(&j, buf, sizeof buf);
    JSONW_LIT(&j, "{\"documentId\":");
    jsonw_cstr(&j, doc);
    if (w->client[0]) {
        JSONW_KEY(&j, "clientId");
        jsonw_cstr(&j, w->client);
        JSONW_KEY(&j, "seq");
        jsonw_u64(&j, w->seq);
    }
    if (w->request_id[0]) {
        JSONW_KEY(&j, "requestId");
        jsonw_cstr(&j, w->request_id);
    }
    JSONW_KEY(&j, "version");
    if (version == VERSION_UNKNOWN)
        JSONW_LIT(&j, "null");
    else
        jsonw_u64(&j, version);
    JSONW_KEY(&j, "duplicate");
    jsonw_lit(&j, w->kind == WAIT_DUPLICATE ? "true" : "false");
    if (w->kind == WAIT_NOOP) {
        JSONW_KEY(&j, "applied");
        JSONW_LIT(&j, "false");
    }
    JSONW_LIT(&j, "}");
    engine__reply_text(e, &w->to, "docsync:ack", j.oom ? NULL : j.p);
    jsonw_free(&j);
    e->st.acked++;
}

void engine__reply_history(sync_engine *e, const struct sync_reply *to,
                           const struct sync_request *req, const char *text)
{
    cJSON *o = body_for(req->doc, NULL, 0, req->request_id);
    if (o) {
        add_u64(o, "version", req->version);
        cJSON_AddStringToObject(o, "content", text);
    }
    reply_object(e, to, "docsync:history", o);
}
