/* audit_fill DIR N: appends N activity entries to the store in DIR (made if
 * missing), 10,000 per transaction, for bench/audit/run.sh. The payloads are
 * what the server writes: nine in ten an op's entry as the engine makes it
 * ({"kind":"document.updated",...}, ~130 bytes), one in ten an app's
 * UserActivity ({"kind":"app_event",...} with its data string, ~220 bytes),
 * users u0..u99, documents d0..d999, ts 1 ms apart. Prints what it wrote. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "store.h"

#define PER_COMMIT 10000

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: audit_fill DIR N\n");
        return 2;
    }
    uint64_t n = strtoull(argv[2], NULL, 10);
    struct store_options o;
    store_options_init(&o);
    o.map_size = 1ull << 30;
    store *s = NULL;
    int rc = store_open(argv[1], &o, &s);
    if (rc) {
        fprintf(stderr, "audit_fill: %s\n", store_strerror(rc));
        return 1;
    }
    uint64_t ts = 1764936000000ull, bytes = 0;
    for (uint64_t i = 0; i < n;) {
        store_batch *b = NULL;
        rc = store_batch_new(&b);
        for (uint64_t k = 0; rc == 0 && k < PER_COMMIT && i < n; k++, i++) {
            char p[512];
            int len;
            if (i % 10 == 9)
                len = snprintf(p, sizeof p,
                               "{\"kind\":\"app_event\",\"channel\":\"private-activity\","
                               "\"event\":\"App\\\\Events\\\\UserActivity\",\"data\":\"{\\\"user\\\":"
                               "{\\\"id\\\":%" PRIu64 ",\\\"name\\\":\\\"User %" PRIu64
                               "\\\"},\\\"action\\\":\\\"created a new post\\\","
                               "\\\"timestamp\\\":\\\"2026-12-05T12:00:00+00:00\\\"}\"}",
                               i % 100, i % 100);
            else
                len = snprintf(p, sizeof p,
                               "{\"kind\":\"document.updated\",\"documentId\":\"d%" PRIu64
                               "\",\"version\":%" PRIu64 ",\"user\":\"u%" PRIu64
                               "\",\"clientId\":\"c%" PRIu64 "\",\"seq\":%" PRIu64
                               ",\"bytes\":%" PRIu64 "}",
                               i % 1000, i / 1000 + 1, i % 100, i % 100, i / 100 + 1, 20 + i % 200);
            bytes += (uint64_t)len;
            rc = store_batch_activity_append(b, ts + i, p, (size_t)len);
        }
        if (rc == 0)
            rc = store_batch_commit(s, b, NULL);
        store_batch_free(b);
        if (rc) {
            fprintf(stderr, "audit_fill: %s\n", store_strerror(rc));
            return 1;
        }
    }
    printf("audit_fill: %" PRIu64 " entries, %" PRIu64 " payload bytes\n", n, bytes);
    store_close(s);
    return 0;
}
