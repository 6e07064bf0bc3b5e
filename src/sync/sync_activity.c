/* The activity log's entries, the server's document feed, audit filters and
 * export lines (see sync_activity.h). */
#include "sync_activity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/base64.h"
#include "common/hex.h"
#include "common/hmap.h"
#include "common/utf8.h"

#include <cjson/cJSON.h>

int sync_activity_wanted(const char *channel, const char *event)
{
    if (!channel || !event)
        return 0;
    if (strcmp(channel, SYNC_ACTIVITY_CHANNEL) == 0)
        return 1;
    size_t n = strlen(event), k = sizeof SYNC_ACTIVITY_EVENT_SUFFIX - 1;
    return n >= k && memcmp(event + n - k, SYNC_ACTIVITY_EVENT_SUFFIX, k) == 0;
}

int sync_activity_app_event(const char *channel, const char *event, const char *data,
                            size_t data_len, char **out, size_t *out_len)
{
    if (!channel || !event || !data || !out || !out_len || memchr(data, '\0', data_len))
        return SYNC_ACTIVITY_EINVAL;
    *out = NULL;
    *out_len = 0;
    char *d = malloc(data_len + 1);
    cJSON *o = cJSON_CreateObject();
    int ok = d && o;
    if (ok) {
        memcpy(d, data, data_len);
        d[data_len] = '\0';
        ok = cJSON_AddStringToObject(o, "kind", SYNC_ACTIVITY_KIND_APP_EVENT) &&
             cJSON_AddStringToObject(o, "channel", channel) &&
             cJSON_AddStringToObject(o, "event", event) && cJSON_AddStringToObject(o, "data", d);
    }
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    free(d);
    cJSON_Delete(o);
    if (!s)
        return SYNC_ACTIVITY_ENOMEM;
    *out = s;
    *out_len = strlen(s);
    return 0;
}

/* ---- The server's own document activity ---- */

void sync_activity_stamp(const char *node, const char *obj, size_t len, struct jsonw *w)
{
    if (!node || !*node || len < 2 || obj[0] != '{') {
        jsonw_raw(w, obj, len);
        return;
    }
    JSONW_LIT(w, "{\"node\":");
    jsonw_cstr(w, node);
    size_t i = 1;
    while (i < len && (obj[i] == ' ' || obj[i] == '\t' || obj[i] == '\n' || obj[i] == '\r'))
        i++;
    if (i < len && obj[i] != '}')
        JSONW_LIT(w, ",");
    jsonw_raw(w, obj + i, len - i);
}

void sync_activity_doc_entry(const struct sync_activity_doc *a, struct jsonw *w)
{
    JSONW_LIT(w, "{\"kind\":");
    jsonw_cstr(w, a->kind);
    JSONW_KEY(w, "user");
    jsonw_cstr(w, a->user);
    JSONW_KEY(w, "documentId");
    jsonw_cstr(w, a->doc);
    if (strcmp(a->kind, SYNC_ACTIVITY_KIND_EDITED) == 0) {
        JSONW_KEY(w, "edits");
        jsonw_u64(w, a->edits);
        JSONW_KEY(w, "fromVersion");
        jsonw_u64(w, a->from_version);
        JSONW_KEY(w, "toVersion");
        jsonw_u64(w, a->to_version);
        JSONW_KEY(w, "firstTs");
        jsonw_u64(w, a->first_ms);
        JSONW_KEY(w, "lastTs");
        jsonw_u64(w, a->last_ms);
    }
    JSONW_LIT(w, "}");
}

void sync_activity_doc_event(const char *entry, size_t entry_len, uint64_t offset, uint64_t ts_ms,
                             struct jsonw *w)
{
    cJSON *o = cJSON_ParseWithLength(entry, entry_len);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const cJSON *user = cJSON_GetObjectItemCaseSensitive(o, "user");
    const cJSON *doc = cJSON_GetObjectItemCaseSensitive(o, "documentId");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
    const char *verb = strcmp(k, SYNC_ACTIVITY_KIND_EDITED) == 0   ? "edited document "
                       : strcmp(k, SYNC_ACTIVITY_KIND_JOINED) == 0 ? "joined document "
                       : strcmp(k, SYNC_ACTIVITY_KIND_LEFT) == 0   ? "left document "
                                                                   : "";
    JSONW_LIT(w, "{\"user\":{\"id\":");
    jsonw_cstr(w, cJSON_IsString(user) ? user->valuestring : "");
    JSONW_LIT(w, "},\"action\":\"");
    jsonw_lit(w, verb);
    size_t at = w->len;
    jsonw_cstr(w, cJSON_IsString(doc) ? doc->valuestring : "");
    /* Join the escaped id to the verb: drop its opening quote. */
    if (!w->oom && w->len > at) {
        memmove(w->p + at, w->p + at + 1, w->len - at - 1);
        w->len--;
        w->p[w->len] = '\0';
    }
    time_t secs = (time_t)(ts_ms / 1000u);
    struct tm tm;
    char iso[96] = "";
    if (gmtime_r(&secs, &tm))
        snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(ts_ms % 1000u));
    JSONW_KEY(w, "timestamp");
    jsonw_cstr(w, iso);
    /* The entry's own members follow (its "user" is the object above),
     * then where it is in the log. */
    for (const cJSON *it = cJSON_IsObject(o) ? o->child : NULL; it; it = it->next) {
        if (!it->string || strcmp(it->string, "user") == 0)
            continue;
        char *v = cJSON_PrintUnformatted(it);
        if (!v) {
            w->oom = 1;
            break;
        }
        JSONW_LIT(w, ",");
        jsonw_cstr(w, it->string);
        JSONW_LIT(w, ":");
        jsonw_lit(w, v);
        free(v);
    }
    JSONW_KEY(w, "offset");
    jsonw_u64(w, offset);
    JSONW_LIT(w, "}");
    cJSON_Delete(o);
}

/* `key` is "user\0doc": one allocation, and the index's key. */
struct feed_rec {
    char *key;
    size_t key_len; /* without the final NUL */
    struct sync_activity_doc a;
    struct feed_rec *next; /* in order of opening: the oldest first */
};

/* Every edit looks its window up: by (user, document) in the index, not
 * along the list, which holds up to max_open windows. */
struct sync_feed {
    uint64_t window_ms;
    size_t max_open, n;
    struct feed_rec *head, *tail;
    struct hmap index; /* key -> struct feed_rec */
};

int sync_feed_new(uint64_t window_ms, size_t max_open, struct sync_feed **out)
{
    if (!out || max_open == 0)
        return SYNC_ACTIVITY_EINVAL;
    *out = calloc(1, sizeof **out);
    if (!*out)
        return SYNC_ACTIVITY_ENOMEM;
    (*out)->window_ms = window_ms;
    (*out)->max_open = max_open;
    hmap_init(&(*out)->index);
    return 0;
}

static void rec_free(struct feed_rec *r)
{
    free(r->key);
    free(r);
}

/* Takes r out of the index; the caller unlinks it from the list. */
static void rec_unindex(struct sync_feed *f, struct feed_rec *r)
{
    hmap_del(&f->index, r->key, r->key_len);
}

void sync_feed_free(struct sync_feed *f)
{
    if (!f)
        return;
    for (struct feed_rec *r = f->head, *next; r; r = next) {
        next = r->next;
        rec_free(r);
    }
    hmap_deinit(&f->index);
    free(f);
}

size_t sync_feed_open(const struct sync_feed *f)
{
    return f ? f->n : 0;
}

/* Reports and frees every record for which `due` holds, oldest first. */
static size_t feed_report(struct sync_feed *f, uint64_t now_ms, const char *user, const char *doc,
                          sync_feed_emit_fn emit, void *ctx)
{
    size_t n = 0;
    struct feed_rec **pp = &f->head, *prev = NULL;
    while (*pp) {
        struct feed_rec *r = *pp;
        int mine = user && strcmp(user, r->a.user) == 0 && (!doc || strcmp(doc, r->a.doc) == 0);
        /* A clock that went back leaves a record waiting (never negative). */
        int ended = now_ms >= r->a.first_ms && now_ms - r->a.first_ms >= f->window_ms;
        int due = now_ms == UINT64_MAX || mine || ended;
        if (!due) {
            prev = r;
            pp = &r->next;
            continue;
        }
        *pp = r->next;
        if (f->tail == r)
            f->tail = prev;
        f->n--;
        rec_unindex(f, r);
        if (emit)
            emit(ctx, &r->a);
        rec_free(r);
        n++;
    }
    return n;
}

size_t sync_feed_flush(struct sync_feed *f, uint64_t now_ms, const char *user, const char *doc,
                       sync_feed_emit_fn emit, void *ctx)
{
    return f ? feed_report(f, now_ms, user, doc, emit, ctx) : 0;
}

int sync_feed_edit(struct sync_feed *f, const char *user, const char *doc, uint64_t version,
                   uint64_t now_ms, sync_feed_emit_fn emit, void *ctx)
{
    if (!f || !user || !doc)
        return SYNC_ACTIVITY_EINVAL;
    size_t ul = strlen(user), dl = strlen(doc);
    char sbuf[256];
    char *key = ul + 1 + dl + 1 <= sizeof sbuf ? sbuf : malloc(ul + 1 + dl + 1);
    if (!key)
        return SYNC_ACTIVITY_ENOMEM;
    memcpy(key, user, ul + 1);
    memcpy(key + ul + 1, doc, dl + 1);
    struct feed_rec *r = hmap_get(&f->index, key, ul + 1 + dl);
    if (key == sbuf && !r) {
        /* a new window keeps its key */
        key = malloc(ul + 1 + dl + 1);
        if (!key)
            return SYNC_ACTIVITY_ENOMEM;
        memcpy(key, sbuf, ul + 1 + dl + 1);
    }
    if (r) {
        if (key != sbuf)
            free(key);
        r->a.edits++;
        if (version < r->a.from_version)
            r->a.from_version = version;
        if (version > r->a.to_version)
            r->a.to_version = version;
        r->a.last_ms = now_ms;
        return 0;
    }
    if (f->n >= f->max_open && f->head) {
        /* Make room: the oldest is reported early. */
        struct feed_rec *old = f->head;
        f->head = old->next;
        if (!f->head)
            f->tail = NULL;
        f->n--;
        rec_unindex(f, old);
        if (emit)
            emit(ctx, &old->a);
        rec_free(old);
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        free(key);
        return SYNC_ACTIVITY_ENOMEM;
    }
    r->key = key;
    r->key_len = ul + 1 + dl;
    if (hmap_put(&f->index, r->key, r->key_len, r) != 0) {
        rec_free(r);
        return SYNC_ACTIVITY_ENOMEM;
    }
    r->a = (struct sync_activity_doc){.kind = SYNC_ACTIVITY_KIND_EDITED,
                                      .user = r->key,
                                      .doc = r->key + ul + 1,
                                      .edits = 1,
                                      .from_version = version,
                                      .to_version = version,
                                      .first_ms = now_ms,
                                      .last_ms = now_ms};
    if (f->tail)
        f->tail->next = r;
    else
        f->head = r;
    f->tail = r;
    f->n++;
    return 0;
}

/* ---- Reading the log ---- */

int sync_activity_filter_empty(const struct sync_activity_filter *f)
{
    return !f || (!f->user && !f->document && !f->kind && !f->since_ms && !f->until_ms);
}

/* 1 when `v` names user u: a string equal to it, an integer whose decimal
 * form is it, or an object whose "id" does. */
static int user_is(const cJSON *v, const char *u)
{
    if (cJSON_IsObject(v))
        v = cJSON_GetObjectItemCaseSensitive(v, "id");
    if (cJSON_IsString(v))
        return strcmp(v->valuestring, u) == 0;
    if (cJSON_IsNumber(v)) {
        char b[32];
        double d = v->valuedouble;
        /* Only integers a long long holds (the cast of anything else is
         * undefined). */
        if (!(d > -9.2e18 && d < 9.2e18) || d != (double)(long long)d)
            return 0;
        snprintf(b, sizeof b, "%lld", (long long)d);
        return strcmp(b, u) == 0;
    }
    return 0;
}

static int str_is(const cJSON *v, const char *s)
{
    return cJSON_IsString(v) && strcmp(v->valuestring, s) == 0;
}

int sync_activity_match(const struct sync_activity_filter *f, const struct store_activity *e)
{
    if (!e)
        return 0;
    if (!f)
        return 1;
    if (e->ts_ms < f->since_ms || (f->until_ms && e->ts_ms >= f->until_ms))
        return 0;
    if (!f->user && !f->document && !f->kind)
        return 1;
    cJSON *o = cJSON_ParseWithLength((const char *)e->payload, e->len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return 0;
    }
    int ok = 1;
    if (f->kind)
        ok = str_is(cJSON_GetObjectItemCaseSensitive(o, "kind"), f->kind);
    /* An app event's own fields are in its data, a JSON text. */
    cJSON *data = NULL;
    if (ok && (f->user || f->document) &&
        str_is(cJSON_GetObjectItemCaseSensitive(o, "kind"), SYNC_ACTIVITY_KIND_APP_EVENT)) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
        if (cJSON_IsString(d))
            data = cJSON_Parse(d->valuestring);
    }
    const cJSON *where = cJSON_IsObject(data) ? data : o;
    if (ok && f->user)
        ok = user_is(cJSON_GetObjectItemCaseSensitive(where, "user"), f->user);
    if (ok && f->document)
        ok = str_is(cJSON_GetObjectItemCaseSensitive(where, "documentId"), f->document);
    cJSON_Delete(data);
    cJSON_Delete(o);
    return ok;
}

/* 1 when the payload goes out as a JSON string: valid UTF-8 without a NUL
 * byte. Payloads are nearly always ASCII, checked eight bytes at a time
 * before the full UTF-8 check (an export's cost is mostly here). */
static int text_payload(const uint8_t *p, size_t n)
{
    size_t i = 0;
    uint64_t high = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        high |= x;
    }
    for (; i < n; i++)
        high |= p[i];
    if (memchr(p, 0, n))
        return 0;
    return (high & 0x8080808080808080ull) == 0 || utf8_valid(p, n);
}

void sync_activity_line(const struct store_activity *e, struct jsonw *w)
{
    char h[2 * STORE_HASH_LEN + 1]; /* hex_encode writes a NUL */
    JSONW_LIT(w, "{\"offset\":");
    jsonw_u64(w, e->offset);
    JSONW_KEY(w, "ts");
    jsonw_u64(w, e->ts_ms);
    JSONW_LIT(w, ",\"prevHash\":\"");
    hex_encode(e->prev_hash, STORE_HASH_LEN, h);
    jsonw_raw(w, h, 2 * STORE_HASH_LEN);
    JSONW_LIT(w, "\",\"hash\":\"");
    hex_encode(e->hash, STORE_HASH_LEN, h);
    jsonw_raw(w, h, 2 * STORE_HASH_LEN);
    /* A NUL byte would be valid UTF-8 but is where cJSON ends a decoded
     * string: such payloads go as base64 too. */
    if (text_payload(e->payload, e->len)) {
        JSONW_LIT(w, "\",\"payload\":");
        jsonw_str(w, (const char *)e->payload, e->len);
    } else {
        JSONW_LIT(w, "\",\"payloadBase64\":\"");
        size_t n = base64_encoded_len(e->len, 0), got = 0;
        if (jsonw_room(w, n + 1) == 0 &&
            base64_encode(e->payload, e->len, 0, w->p + w->len, n + 1, &got) == 0)
            w->len += got;
        JSONW_LIT(w, "\"");
    }
    JSONW_LIT(w, "}");
}

static int hex32(const cJSON *v, uint8_t out[STORE_HASH_LEN])
{
    if (!cJSON_IsString(v) || strlen(v->valuestring) != 2 * STORE_HASH_LEN)
        return -1;
    for (int i = 0; i < STORE_HASH_LEN; i++) {
        unsigned b = 0;
        for (int k = 0; k < 2; k++) {
            char c = v->valuestring[2 * i + k];
            unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                         : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                                                : 16u;
            if (d > 15)
                return -1;
            b = b * 16 + d;
        }
        out[i] = (uint8_t)b;
    }
    return 0;
}

/* A non-negative integer member below 2^53 (what JSON numbers hold exactly). */
static int u53(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740991.0 ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

int sync_activity_line_parse(const char *line, size_t len, struct sync_activity_parsed *out,
                             const char **why)
{
    static const char *ignored;
    if (!why)
        why = &ignored;
    if (!line || !out)
        return SYNC_ACTIVITY_EINVAL;
    memset(out, 0, sizeof *out);
    cJSON *o = cJSON_ParseWithLength(line, len);
    int rc = SYNC_ACTIVITY_EINVAL;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "payload");
    const cJSON *p64 = cJSON_GetObjectItemCaseSensitive(o, "payloadBase64");
    if (!cJSON_IsObject(o))
        *why = "not a JSON object";
    else if (u53(cJSON_GetObjectItemCaseSensitive(o, "offset"), &out->offset) || !out->offset)
        *why = "offset is not a positive integer";
    else if (u53(cJSON_GetObjectItemCaseSensitive(o, "ts"), &out->ts_ms))
        *why = "ts is not a non-negative integer";
    else if (hex32(cJSON_GetObjectItemCaseSensitive(o, "prevHash"), out->prev_hash))
        *why = "prevHash is not 64 lowercase hex digits";
    else if (hex32(cJSON_GetObjectItemCaseSensitive(o, "hash"), out->hash))
        *why = "hash is not 64 lowercase hex digits";
    else if (cJSON_IsString(p)) {
        /* Payloads holding a NUL byte are written as base64 (see
         * sync_activity_line), so the decoded string is the whole payload. */
        const char *raw = cJSON_GetStringValue(p);
        size_t n = strlen(raw);
        out->payload = malloc(n + 1);
        if (!out->payload) {
            rc = SYNC_ACTIVITY_ENOMEM;
        } else {
            memcpy(out->payload, raw, n);
            out->len = n;
            rc = 0;
        }
    } else if (cJSON_IsString(p64)) {
        size_t n = strlen(p64->valuestring), got = 0;
        out->payload = malloc(base64_decoded_max(n) + 1);
        if (!out->payload)
            rc = SYNC_ACTIVITY_ENOMEM;
        else if (base64_decode(p64->valuestring, n, 0, out->payload, base64_decoded_max(n) + 1,
                               &got) != 0)
            *why = "payloadBase64 is not base64";
        else {
            out->len = got;
            rc = 0;
        }
    } else {
        *why = "payload is missing";
    }
    cJSON_Delete(o);
    if (rc)
        sync_activity_line_clear(out);
    return rc;
}

void sync_activity_line_clear(struct sync_activity_parsed *p)
{
    if (!p)
        return;
    free(p->payload);
    p->payload = NULL;
    p->len = 0;
}
