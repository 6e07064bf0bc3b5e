/* Fuzz target for what an auditor's tools read from outside the store: an
 * export line (sync_activity_line_parse, as `docsync-audit verify --file`
 * reads files it is handed) and an entry's payload under the audit filters
 * (sync_activity_match, which parses every payload the log holds, app data
 * included). The first byte selects:
 *   even  the rest is one export line;
 *   odd   the rest is a payload, matched against a few filters.
 * Invariants checked: a line that parses is written back by
 * sync_activity_line and parses again to the same offset, time, hashes and
 * payload bytes; a filter's answer is 0 or 1 and an empty filter matches. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/sync_activity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (data[0] % 2 == 0) {
        struct sync_activity_parsed p;
        const char *why = NULL;
        if (sync_activity_line_parse(text, len, &p, &why) != 0) {
            if (!why)
                abort();
            return 0;
        }
        struct store_activity e = {
            .offset = p.offset, .ts_ms = p.ts_ms, .payload = p.payload, .len = p.len};
        memcpy(e.prev_hash, p.prev_hash, STORE_HASH_LEN);
        memcpy(e.hash, p.hash, STORE_HASH_LEN);
        struct jsonw w;
        jsonw_init(&w, NULL, 256);
        sync_activity_line(&e, &w);
        struct sync_activity_parsed q;
        if (w.oom || sync_activity_line_parse(w.p, w.len, &q, &why) != 0)
            abort();
        if (q.offset != p.offset || q.ts_ms != p.ts_ms || q.len != p.len ||
            memcmp(q.payload, p.payload, p.len) != 0 ||
            memcmp(q.prev_hash, p.prev_hash, STORE_HASH_LEN) != 0 ||
            memcmp(q.hash, p.hash, STORE_HASH_LEN) != 0)
            abort();
        sync_activity_line_clear(&q);
        sync_activity_line_clear(&p);
        jsonw_free(&w);
        return 0;
    }
    struct store_activity e = {
        .offset = 1, .ts_ms = 1000, .payload = (const uint8_t *)text, .len = len};
    static const struct sync_activity_filter filters[] = {
        {0},
        {.user = "7"},
        {.document = "42"},
        {.kind = "app_event"},
        {.user = "7",
         .document = "42",
         .kind = "document.updated",
         .since_ms = 1,
         .until_ms = 2000},
    };
    for (size_t i = 0; i < sizeof filters / sizeof filters[0]; i++) {
        int m = sync_activity_match(&filters[i], &e);
        if (m != 0 && m != 1)
            abort();
        if (i == 0 && m != 1)
            abort();
    }
    return 0;
}
