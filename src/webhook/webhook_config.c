/* webhook_config: see webhook_config.h. */
#include "webhook_config.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    unsigned bit;
} webhook_events[] = {
    {"channel_occupied", WEBHOOK_EV_OCCUPIED},
    {"channel_vacated", WEBHOOK_EV_VACATED},
    {"member_added", WEBHOOK_EV_MEMBER_ADDED},
    {"member_removed", WEBHOOK_EV_MEMBER_REMOVED},
    {"client_event", WEBHOOK_EV_CLIENT_EVENT},
    {"cache_miss", WEBHOOK_EV_CACHE_MISS},
    {"document_updated", WEBHOOK_EV_DOCUMENT_UPDATED},
};
#define WEBHOOK_NEVENTS (sizeof webhook_events / sizeof webhook_events[0])

unsigned webhook_event_bit(const char *name)
{
    for (size_t i = 0; i < WEBHOOK_NEVENTS; i++)
        if (strcmp(webhook_events[i].name, name) == 0)
            return webhook_events[i].bit;
    return 0;
}

const char *webhook_event_name(unsigned bit)
{
    for (size_t i = 0; i < WEBHOOK_NEVENTS; i++)
        if (webhook_events[i].bit == bit)
            return webhook_events[i].name;
    return "unknown";
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (!errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* http[s]://host[:port][/path]. Returns 0 or -1 (err). */
static int parse_url(struct webhook_target *t, size_t i, char *err, size_t errlen)
{
    const char *u = t->url;
    size_t skip;
    if (strncasecmp(u, "https://", 8) == 0) {
        t->tls = 1;
        skip = 8;
    } else if (strncasecmp(u, "http://", 7) == 0) {
        skip = 7;
    } else {
        fail(err, errlen,
             "DOCSYNC_WEBHOOKS[%zu].url: expected http[s]://host[:port]/path, got \"%s\"", i, u);
        return -1;
    }
    for (const char *p = u; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: spaces and control bytes not allowed", i);
            return -1;
        }
    const char *h = u + skip, *end = h + strcspn(h, "/?#");
    if (strchr(u, '#') || memchr(h, '@', (size_t)(end - h))) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: no fragment or user info allowed", i);
        return -1;
    }
    const char *hend, *pstart = NULL;
    if (*h == '[') {
        hend = memchr(h, ']', (size_t)(end - h));
        if (!hend) {
            fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: unterminated [IPv6] host", i);
            return -1;
        }
        if (hend + 1 < end) {
            if (hend[1] != ':')
                goto badhost;
            pstart = hend + 2;
        }
        h++;
    } else {
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend)
            pstart = hend + 1;
        else
            hend = end;
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof t->host)
        goto badhost;
    memcpy(t->host, h, hl);
    t->host[hl] = '\0';
    if (pstart) {
        size_t pl = (size_t)(end - pstart);
        unsigned long port = 0;
        for (size_t k = 0; k < pl; k++) {
            if (pstart[k] < '0' || pstart[k] > '9')
                goto badport;
            port = port * 10 + (unsigned long)(pstart[k] - '0');
            if (port > 65535)
                goto badport;
        }
        if (pl == 0 || port == 0)
            goto badport;
        snprintf(t->port, sizeof t->port, "%lu", port);
    } else {
        snprintf(t->port, sizeof t->port, t->tls ? "443" : "80");
    }
    if (*end == '/')
        t->path = strdup(end);
    else {
        t->path = malloc(strlen(end) + 2);
        if (t->path)
            snprintf(t->path, strlen(end) + 2, "/%s", end);
    }
    if (!t->path) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    return 0;
badhost:
    fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: bad host in \"%s\"", i, u);
    return -1;
badport:
    fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: bad port in \"%s\" (1..65535)", i, u);
    return -1;
}

/* Headers the request builds itself may not be given again. */
static int header_reserved(const char *name)
{
    static const char *own[] = {
        "host",         "content-type",       "content-length",   "connection",
        "x-pusher-key", "x-pusher-signature", "transfer-encoding"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcasecmp(name, own[i]) == 0)
            return 1;
    return 0;
}

static int parse_headers(struct webhook_target *t, const cJSON *hs, size_t i, char *err,
                         size_t errlen)
{
    size_t cap = 1, len = 0;
    char *out = calloc(1, 1);
    if (!out)
        goto oom;
    if (hs && !cJSON_IsObject(hs)) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].headers: expected an object of strings", i);
        free(out);
        return -1;
    }
    const cJSON *h;
    cJSON_ArrayForEach(h, hs)
    {
        const char *name = h->string;
        if (!cJSON_IsString(h) || !name || !*name) {
            fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].headers: expected an object of strings", i);
            free(out);
            return -1;
        }
        for (const char *p = name; *p; p++)
            if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= 'A' && *p <= 'Z'))) {
                fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].headers: bad header name \"%s\"", i, name);
                free(out);
                return -1;
            }
        if (header_reserved(name)) {
            fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].headers: %s is set by the server", i, name);
            free(out);
            return -1;
        }
        const char *v = h->valuestring;
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t') {
                fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].headers.%s: control bytes not allowed", i,
                     name);
                free(out);
                return -1;
            }
        size_t need = len + strlen(name) + strlen(v) + 5;
        if (need > cap) {
            char *bigger = realloc(out, need);
            if (!bigger) {
                free(out);
                goto oom;
            }
            out = bigger;
            cap = need;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s: %s\r\n", name, v);
    }
    t->headers = out;
    return 0;
oom:
    fail(err, errlen, "out of memory");
    return -1;
}

static int parse_filter(struct webhook_target *t, const cJSON *f, size_t i, char *err,
                        size_t errlen)
{
    if (!f)
        return 0;
    if (!cJSON_IsObject(f))
        goto bad;
    const cJSON *e;
    cJSON_ArrayForEach(e, f)
    {
        char **slot = NULL;
        if (strcmp(e->string, "channel_name_starts_with") == 0)
            slot = &t->starts_with;
        else if (strcmp(e->string, "channel_name_ends_with") == 0)
            slot = &t->ends_with;
        else {
            fail(err, errlen,
                 "DOCSYNC_WEBHOOKS[%zu].filter: unknown key \"%s\" (channel_name_starts_with, "
                 "channel_name_ends_with)",
                 i, e->string);
            return -1;
        }
        if (!cJSON_IsString(e))
            goto bad;
        if (!(*slot = strdup(e->valuestring))) {
            fail(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
bad:
    fail(err, errlen,
         "DOCSYNC_WEBHOOKS[%zu].filter: expected {\"channel_name_starts_with\": \"...\"}", i);
    return -1;
}

static int parse_uint(const cJSON *o, const char *key, unsigned long def, unsigned long min,
                      unsigned long max, unsigned long *out, size_t i, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)min || v->valuedouble > (double)max ||
        v->valuedouble != (double)(unsigned long)v->valuedouble) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].%s: expected a whole number %lu..%lu", i, key, min,
             max);
        return -1;
    }
    *out = (unsigned long)v->valuedouble;
    return 0;
}

static int parse_one(struct webhook_target *t, const cJSON *o, size_t i, char *err, size_t errlen)
{
    if (!cJSON_IsObject(o)) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu]: expected an object", i);
        return -1;
    }
    static const char *known[] = {"url",     "event_types", "filter",
                                  "headers", "batch_size",  "batch_ms"};
    const cJSON *e;
    cJSON_ArrayForEach(e, o)
    {
        size_t k = 0;
        while (k < sizeof known / sizeof known[0] && strcmp(known[k], e->string) != 0)
            k++;
        if (k == sizeof known / sizeof known[0]) {
            fail(err, errlen,
                 "DOCSYNC_WEBHOOKS[%zu]: unknown key \"%s\" (url, event_types, filter, headers, "
                 "batch_size, batch_ms)",
                 i, e->string);
            return -1;
        }
    }
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(o, "url");
    if (!cJSON_IsString(url) || !*url->valuestring) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: required (a string)", i);
        return -1;
    }
    if (strlen(url->valuestring) > 2000) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS[%zu].url: longer than 2000 bytes", i);
        return -1;
    }
    if (!(t->url = strdup(url->valuestring))) {
        fail(err, errlen, "out of memory");
        return -1;
    }
    if (parse_url(t, i, err, errlen) != 0)
        return -1;
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(o, "event_types");
    if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) == 0) {
        fail(err, errlen,
             "DOCSYNC_WEBHOOKS[%zu].event_types: required, a non-empty array of event names", i);
        return -1;
    }
    cJSON_ArrayForEach(e, types)
    {
        unsigned bit = cJSON_IsString(e) ? webhook_event_bit(e->valuestring) : 0;
        if (!bit) {
            fail(err, errlen,
                 "DOCSYNC_WEBHOOKS[%zu].event_types: unknown event %s%s%s (channel_occupied, "
                 "channel_vacated, member_added, member_removed, client_event, cache_miss, "
                 "document_updated)",
                 i, cJSON_IsString(e) ? "\"" : "",
                 cJSON_IsString(e) ? e->valuestring : "(not a string)",
                 cJSON_IsString(e) ? "\"" : "");
            return -1;
        }
        t->types |= bit;
    }
    if (parse_filter(t, cJSON_GetObjectItemCaseSensitive(o, "filter"), i, err, errlen) != 0 ||
        parse_headers(t, cJSON_GetObjectItemCaseSensitive(o, "headers"), i, err, errlen) != 0)
        return -1;
    unsigned long bs, bms;
    if (parse_uint(o, "batch_size", 100, 1, WEBHOOK_BATCH_SIZE_MAX, &bs, i, err, errlen) != 0 ||
        parse_uint(o, "batch_ms", 50, 0, WEBHOOK_BATCH_MS_MAX, &bms, i, err, errlen) != 0)
        return -1;
    t->batch_size = bs;
    t->batch_ms = (unsigned)bms;
    return 0;
}

int webhook_config_parse(const char *json, struct webhook_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json || json[strspn(json, " \t\r\n")] == '\0')
        return 0;
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        fail(err, errlen, "DOCSYNC_WEBHOOKS: not valid JSON (expected an array of objects)");
        return -1;
    }
    int n = cJSON_IsArray(root) ? cJSON_GetArraySize(root) : -1;
    if (n < 0 || n > WEBHOOK_MAX) {
        fail(err, errlen,
             n < 0 ? "DOCSYNC_WEBHOOKS: expected a JSON array of objects"
                   : "DOCSYNC_WEBHOOKS: at most 16 webhooks");
        cJSON_Delete(root);
        return -1;
    }
    out->t = calloc((size_t)n + 1, sizeof *out->t);
    if (!out->t) {
        fail(err, errlen, "out of memory");
        cJSON_Delete(root);
        return -1;
    }
    const cJSON *o;
    int rc = 0;
    cJSON_ArrayForEach(o, root)
    {
        rc = parse_one(&out->t[out->n], o, out->n, err, errlen);
        out->n++;
        if (rc)
            break;
    }
    for (size_t i = 0; rc == 0 && i < out->n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->t[i].url, out->t[j].url) == 0) {
                fail(err, errlen,
                     "DOCSYNC_WEBHOOKS[%zu].url: same URL as webhook %zu (merge their "
                     "event_types)",
                     i, j);
                rc = -1;
                break;
            }
    cJSON_Delete(root);
    if (rc)
        webhook_config_free(out);
    return rc;
}

void webhook_config_free(struct webhook_config *c)
{
    for (size_t i = 0; c->t && i < c->n; i++) {
        free(c->t[i].url);
        free(c->t[i].path);
        free(c->t[i].starts_with);
        free(c->t[i].ends_with);
        free(c->t[i].headers);
    }
    free(c->t);
    c->t = NULL;
    c->n = 0;
}

int webhook_target_wants(const struct webhook_target *t, unsigned bit, const char *channel)
{
    if (!(t->types & bit))
        return 0;
    if (t->starts_with && strncmp(channel, t->starts_with, strlen(t->starts_with)) != 0)
        return 0;
    if (t->ends_with) {
        size_t cl = strlen(channel), el = strlen(t->ends_with);
        if (cl < el || memcmp(channel + cl - el, t->ends_with, el) != 0)
            return 0;
    }
    return 1;
}
