/* metrics: counting by code/status and the Prometheus text rendering. */
#include <stdlib.h>
#include <string.h>

#include "server/metrics.h"
#include "test.h"

int main(void)
{
    struct metrics m;
    metrics_init(&m);
    metrics_error(&m, 4009);
    metrics_error(&m, 4009);
    metrics_error(&m, 1009);
    for (int i = 0; i < METRICS_MAX_CODES + 5; i++)
        metrics_error(&m, 5000 + i);
    CHECK_EQ(metrics_error_count(&m, 4009), 2);
    CHECK_EQ(metrics_error_count(&m, 1009), 1);
    CHECK_EQ(metrics_error_count(&m, 42), 0);
    metrics_http(&m, 200);
    metrics_http(&m, 401);
    metrics_http(&m, 200);
    m.messages_in = 7;
    char *text = NULL;
    long n = metrics_render(&m, 3, 2, &text);
    CHECK(n > 0 && text);
    CHECK(strstr(text, "docsync_connections 3\n") != NULL);
    CHECK(strstr(text, "docsync_channels 2\n") != NULL);
    CHECK(strstr(text, "docsync_messages_received_total 7\n") != NULL);
    CHECK(strstr(text, "docsync_errors_total{code=\"4009\"} 2\n") != NULL);
    CHECK(strstr(text, "docsync_errors_total{code=\"other\"} 7\n") != NULL);
    CHECK(strstr(text, "docsync_http_requests_total{status=\"200\"} 2\n") != NULL);
    CHECK(strstr(text, "# TYPE docsync_bytes_sent_total counter\n") != NULL);
    CHECK_EQ((long)strlen(text), n);
    free(text);
    return TEST_RESULT();
}
