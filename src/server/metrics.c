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

void metrics_text_printf(struct metrics_text *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    if (!b->p) {
        b->p = malloc(1024);
        if (!b->p) {
            b->oom = 1;
            return;
        }
        b->cap = 1024;
        b->len = 0;
    }
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

void metrics_text_add(struct metrics_text *b, const char *name, const char *type, const char *help,
                      uint64_t v)
{
    metrics_text_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type,
                        name, v);
}

char *metrics_text_take(struct metrics_text *b)
{
    char *p = b->oom ? NULL : b->p;
    if (b->oom)
        free(b->p);
    *b = (struct metrics_text){0};
    return p;
}

long metrics_render(const struct metrics *m, size_t connections, size_t channels, char **out)
{
    struct metrics_text b = {0};
    metrics_text_add(&b, "docsync_connections", "gauge", "Open WebSocket connections.",
                     connections);
    metrics_text_add(&b, "docsync_connections_total", "counter", "WebSocket connections accepted.",
                     m->connections_total);
    metrics_text_add(&b, "docsync_channels", "gauge", "Occupied channels.", channels);
    metrics_text_add(&b, "docsync_messages_received_total", "counter",
                     "WebSocket messages received.", m->messages_in);
    metrics_text_add(&b, "docsync_bytes_received_total", "counter",
                     "WebSocket payload bytes received.", m->bytes_in);
    metrics_text_add(&b, "docsync_messages_sent_total", "counter", "WebSocket messages written.",
                     m->messages_out);
    metrics_text_add(&b, "docsync_bytes_sent_total", "counter", "WebSocket payload bytes written.",
                     m->bytes_out);
    metrics_text_add(
        &b, "docsync_socket_writes_total", "counter",
        "Writes of WebSocket messages to sockets: frames queued close together share one.",
        m->writes_out);
    metrics_text_add(&b, "docsync_io_uring", "gauge",
                     "1 while socket writes go through io_uring, many to a system call.",
                     m->tx_uring);
    metrics_text_add(&b, "docsync_io_uring_submissions_total", "counter",
                     "io_uring system calls that carried socket writes.", m->tx_submits);
    metrics_text_add(&b, "docsync_deliveries_total", "counter", "Frames queued to subscribers.",
                     m->deliveries);
    metrics_text_add(&b, "docsync_slow_consumer_disconnects_total", "counter",
                     "Connections dropped because their send queue was full.", m->slow_disconnects);
    metrics_text_add(&b, "docsync_tls_reloads_total", "counter",
                     "TLS certificate reloads (SIGHUP) that took effect.", m->tls_reloads);
    metrics_text_add(&b, "docsync_tls_reload_failures_total", "counter",
                     "TLS certificate reloads refused (the previous certificate stayed).",
                     m->tls_reload_failures);
    metrics_text_add(&b, "docsync_ip_connections_refused_total", "counter",
                     "Connections closed at accept: their IP was at DOCSYNC_IP_MAX_CONNECTIONS.",
                     m->ip_conn_refused);
    metrics_text_add(
        &b, "docsync_ip_connection_rate_refused_total", "counter",
        "Connections closed at accept: their IP was over DOCSYNC_IP_CONNECTIONS_PER_SECOND.",
        m->ip_rate_refused);
    metrics_text_add(&b, "docsync_api_rate_limited_total", "counter",
                     "HTTP API requests answered 429 (DOCSYNC_API_REQUESTS_PER_SECOND).",
                     m->api_rate_limited);
    metrics_text_add(&b, "docsync_socketio_polling_sessions", "gauge",
                     "Socket.IO sessions on HTTP long-polling (not upgraded to a WebSocket).",
                     m->sio_polling);
    metrics_text_add(
        &b, "docsync_socketio_polling_refused_total", "counter",
        "Socket.IO handshakes answered 503: their IP was at DOCSYNC_SOCKETIO_IP_MAX_POLLING.",
        m->sio_polling_refused);
    metrics_text_add(&b, "docsync_accept_shed_total", "counter",
                     "Connections the kernel could not hand over for lack of descriptors (EMFILE).",
                     m->accept_shed);
    metrics_text_printf(&b,
                        "# HELP docsync_errors_total Pusher errors and close codes sent, by code.\n"
                        "# TYPE docsync_errors_total counter\n");
    for (size_t i = 0; i < m->nerrors; i++)
        metrics_text_printf(&b, "docsync_errors_total{code=\"%d\"} %" PRIu64 "\n",
                            m->error_codes[i], m->error_counts[i]);
    if (m->errors_other)
        metrics_text_printf(&b, "docsync_errors_total{code=\"other\"} %" PRIu64 "\n",
                            m->errors_other);
    metrics_text_printf(&b, "# HELP docsync_http_requests_total HTTP responses, by status.\n"
                            "# TYPE docsync_http_requests_total counter\n");
    for (size_t i = 0; i < m->nstatuses; i++)
        metrics_text_printf(&b, "docsync_http_requests_total{status=\"%d\"} %" PRIu64 "\n",
                            m->statuses[i], m->status_counts[i]);
    size_t len = b.len;
    *out = metrics_text_take(&b);
    return *out ? (long)len : -1;
}
