/* metrics: the server's counters and their Prometheus text rendering
 * (`GET /metrics`, text exposition format 0.0.4).
 *
 * Plain counters owned by the loop thread; gauges (connections, channels)
 * are passed in when rendering. Errors are counted per Pusher/WebSocket
 * code in a small fixed table (codes beyond its size are counted under
 * code "other"). Pure: no I/O.
 */
#ifndef DOCSYNC_METRICS_H
#define DOCSYNC_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_CODES 32
#define METRICS_MAX_STATUSES 16

struct metrics {
    uint64_t connections_total; /* WebSocket connections accepted */
    uint64_t messages_in;       /* WebSocket messages received */
    uint64_t bytes_in;
    uint64_t messages_out; /* WebSocket frames written */
    uint64_t bytes_out;
    uint64_t writes_out;       /* writes that carried them (several frames coalesce) */
    uint64_t tx_submits;       /* io_uring submissions that carried writes (txring.h) */
    uint64_t tx_uring;         /* 1 while writes go through io_uring */
    uint64_t deliveries;       /* frames queued by fan-out */
    uint64_t slow_disconnects; /* connections dropped for a full send queue */
    uint64_t http_requests;
    uint64_t tls_reloads;         /* SIGHUP certificate reloads done */
    uint64_t tls_reload_failures; /* ... refused (the previous certificate stayed) */
    uint64_t ip_conn_refused;     /* accepts refused: the IP's concurrent limit */
    uint64_t ip_rate_refused;     /* accepts refused: the IP's new-connections-per-second */
    uint64_t api_rate_limited;    /* HTTP API requests answered 429 */
    uint64_t accept_shed;         /* accept() failures for lack of descriptors (EMFILE/ENFILE) */
    uint64_t sio_polling;         /* gauge: Socket.IO sessions on long-polling now */
    uint64_t sio_polling_refused; /* handshakes refused: DOCSYNC_SOCKETIO_IP_MAX_POLLING */
    int error_codes[METRICS_MAX_CODES];
    uint64_t error_counts[METRICS_MAX_CODES];
    size_t nerrors;
    uint64_t errors_other;
    int statuses[METRICS_MAX_STATUSES];
    uint64_t status_counts[METRICS_MAX_STATUSES];
    size_t nstatuses;
};

/* Zeroes every counter. */
void metrics_init(struct metrics *m);

/* Counts one error (pusher:error code or close code). */
void metrics_error(struct metrics *m, int code);

/* Counts one HTTP response with `status`. */
void metrics_http(struct metrics *m, int status);

/* The count recorded for error `code` (0 when never seen). */
uint64_t metrics_error_count(const struct metrics *m, int code);

/* A growing text buffer for the lines of GET /metrics, so that no producer
 * guesses a buffer size: start with {0}, write with the functions below,
 * end with metrics_text_take (the malloc'd text, or NULL when memory ran
 * out; the buffer is empty again). */
struct metrics_text {
    char *p;
    size_t len, cap;
    int oom;
};
void metrics_text_printf(struct metrics_text *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* One counter or gauge with its HELP and TYPE lines. */
void metrics_text_add(struct metrics_text *b, const char *name, const char *type, const char *help,
                      uint64_t v);
char *metrics_text_take(struct metrics_text *b);

/* Renders the Prometheus text into a malloc'd NUL-terminated string (*out,
 * caller frees). `connections` and `channels` are the current gauges.
 * Returns its length, or -1 when out of memory. */
long metrics_render(const struct metrics *m, size_t connections, size_t channels, char **out);

#endif
