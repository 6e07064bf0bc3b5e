/* webhook_config: the webhooks of DOCSYNC_WEBHOOKS, parsed and checked.
 *
 * The setting is a JSON array in the shape soketi and Pusher's dashboard
 * use for an app's webhooks, one object per endpoint:
 *   {"url": "http://host:port/path",                    required
 *    "event_types": ["channel_occupied", ...],           required, non-empty
 *    "filter": {"channel_name_starts_with": "presence-", optional
 *               "channel_name_ends_with": ".1"},
 *    "headers": {"Authorization": "Bearer x"},           optional
 *    "batch_size": 100, "batch_ms": 50}                  optional
 * Event types: channel_occupied, channel_vacated, member_added,
 * member_removed, client_event, cache_miss (Pusher's) and document_updated
 * (ours). URLs are http:// or https:// (verified against the system's CA
 * store, see webhook_http.h). Pure: no I/O, no threads. */
#ifndef DOCSYNC_WEBHOOK_CONFIG_H
#define DOCSYNC_WEBHOOK_CONFIG_H

#include <stddef.h>

#define WEBHOOK_EV_OCCUPIED (1u << 0)
#define WEBHOOK_EV_VACATED (1u << 1)
#define WEBHOOK_EV_MEMBER_ADDED (1u << 2)
#define WEBHOOK_EV_MEMBER_REMOVED (1u << 3)
#define WEBHOOK_EV_CLIENT_EVENT (1u << 4)
#define WEBHOOK_EV_CACHE_MISS (1u << 5)
#define WEBHOOK_EV_DOCUMENT_UPDATED (1u << 6)

#define WEBHOOK_MAX 16              /* endpoints */
#define WEBHOOK_BATCH_SIZE_MAX 1000 /* events per request */
#define WEBHOOK_BATCH_MS_MAX 60000

struct webhook_target {
    char *url;      /* as configured (the outbox remembers requests by it) */
    char host[256]; /* from the URL; an IPv6 literal without its brackets */
    char port[8];
    int tls;                       /* https:// */
    char *path;                    /* "/..." with the query, if any */
    unsigned types;                /* WEBHOOK_EV_* wanted */
    char *starts_with, *ends_with; /* channel filters, NULL = none */
    char *headers;                 /* "Name: value\r\n" lines, "" = none */
    size_t batch_size;             /* events per request, default 100 */
    unsigned batch_ms;             /* wait this long for more events, default 50 */
};

struct webhook_config {
    struct webhook_target *t;
    size_t n;
};

/* The WEBHOOK_EV_* bit of an event name, 0 when unknown. */
unsigned webhook_event_bit(const char *name);

/* The Pusher name of one WEBHOOK_EV_* bit. */
const char *webhook_event_name(unsigned bit);

/* Parses `json` ("" or only blanks = no webhook) into *out. Returns 0, or -1
 * with a one-line message in err naming the webhook (by position) and the
 * field at fault; *out is then empty. */
int webhook_config_parse(const char *json, struct webhook_config *out, char *err, size_t errlen);

void webhook_config_free(struct webhook_config *c);

/* Whether target t wants an event of type `bit` on `channel`. */
int webhook_target_wants(const struct webhook_target *t, unsigned bit, const char *channel);

#endif
