/* metrics: counters and Prometheus text. */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof(*m));
}

void metrics_error(struct metrics *m, int code)
{
    for (size_t i = 0; i < m->nerrors; i++) {
        if (m->error_codes[i] == code) {
            m->error_counts[i]++;
            return;
        }
    }
    if (m->nerrors < METRICS_MAX_CODES) {
        m->error_codes[m->nerrors] = code;
        m->error_counts[m->nerrors++] = 1;
        return;
    }
    m->errors_other++;
}

void metrics_http(struct metrics *m, int status)
{
    m->http_requests++;
    for (size_t i = 0; i < m->nstatuses; i++) {
        if (m->statuses[i] == status) {
            m->status_counts[i]++;
            return;
        }
    }
    if (m->nstatuses < METRICS_MAX_STATUSES) {
        m->statuses[m->nstatuses] = status;
        m->status_counts[m->nstatuses++] = 1;
    }
}

uint64_t metrics_error_count(const struct metrics *m, int code)
{
    for (size_t i = 0; i < m->nerrors; i++) {
        if (m->error_codes[i] == code)
            return m->error_counts[i];
    }
    return 0;
}

struct mbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap * 2 + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void metric(struct mbuf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

long metrics_render(const struct metrics *m, size_t connections, size_t channels, char **out)
{
    struct mbuf b = {malloc(2048), 0, 2048, 0};
    if (!b.p)
        return -1;
    b.p[0] = '\0';
    metric(&b, "docsync_connections", "gauge", "Open WebSocket connections.", connections);
    metric(&b, "docsync_connections_total", "counter", "WebSocket connections accepted.",
           m->connections_total);
    metric(&b, "docsync_channels", "gauge", "Occupied channels.", channels);
    metric(&b, "docsync_messages_received_total", "counter", "WebSocket messages received.",
           m->messages_in);
    metric(&b, "docsync_bytes_received_total", "counter", "WebSocket payload bytes received.",
           m->bytes_in);
    metric(&b, "docsync_messages_sent_total", "counter", "WebSocket messages written.",
           m->messages_out);
    metric(&b, "docsync_bytes_sent_total", "counter", "WebSocket payload bytes written.",
           m->bytes_out);
    metric(&b, "docsync_socket_writes_total", "counter",
           "Writes of WebSocket messages to sockets: frames queued close together share one.",
           m->writes_out);
    metric(&b, "docsync_deliveries_total", "counter", "Frames queued to subscribers.",
           m->deliveries);
    metric(&b, "docsync_slow_consumer_disconnects_total", "counter",
           "Connections dropped because their send queue was full.", m->slow_disconnects);
    metric(&b, "docsync_tls_reloads_total", "counter",
           "TLS certificate reloads (SIGHUP) that took effect.", m->tls_reloads);
    metric(&b, "docsync_tls_reload_failures_total", "counter",
           "TLS certificate reloads refused (the previous certificate stayed).",
           m->tls_reload_failures);
    metric(&b, "docsync_ip_connections_refused_total", "counter",
           "Connections closed at accept: their IP was at DOCSYNC_IP_MAX_CONNECTIONS.",
           m->ip_conn_refused);
    metric(&b, "docsync_ip_connection_rate_refused_total", "counter",
           "Connections closed at accept: their IP was over DOCSYNC_IP_CONNECTIONS_PER_SECOND.",
           m->ip_rate_refused);
    metric(&b, "docsync_api_rate_limited_total", "counter",
           "HTTP API requests answered 429 (DOCSYNC_API_REQUESTS_PER_SECOND).",
           m->api_rate_limited);
    metric(&b, "docsync_socketio_polling_sessions", "gauge",
           "Socket.IO sessions on HTTP long-polling (not upgraded to a WebSocket).",
           m->sio_polling);
    metric(&b, "docsync_socketio_polling_refused_total", "counter",
           "Socket.IO handshakes answered 503: their IP was at DOCSYNC_SOCKETIO_IP_MAX_POLLING.",
           m->sio_polling_refused);
    metric(&b, "docsync_accept_shed_total", "counter",
           "Connections the kernel could not hand over for lack of descriptors (EMFILE).",
           m->accept_shed);
    mbuf_printf(&b, "# HELP docsync_errors_total Pusher errors and close codes sent, by code.\n"
                    "# TYPE docsync_errors_total counter\n");
    for (size_t i = 0; i < m->nerrors; i++)
        mbuf_printf(&b, "docsync_errors_total{code=\"%d\"} %" PRIu64 "\n", m->error_codes[i],
                    m->error_counts[i]);
    if (m->errors_other)
        mbuf_printf(&b, "docsync_errors_total{code=\"other\"} %" PRIu64 "\n", m->errors_other);
    mbuf_printf(&b, "# HELP docsync_http_requests_total HTTP responses, by status.\n"
                    "# TYPE docsync_http_requests_total counter\n");
    for (size_t i = 0; i < m->nstatuses; i++)
        mbuf_printf(&b, "docsync_http_requests_total{status=\"%d\"} %" PRIu64 "\n", m->statuses[i],
                    m->status_counts[i]);
    if (b.oom) {
        free(b.p);
        return -1;
    }
    *out = b.p;
    return (long)b.len;
}
