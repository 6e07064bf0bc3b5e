/* sync_activity: what goes into the activity log and how auditors read it.
 *   - which events that apps publish through the HTTP API are logged, and
 *     their entry (below);
 *   - the server's own document activity: edits coalesced per (user,
 *     document) over a window (struct sync_feed), joins and leaves of a
 *     document's presence channel, as log entries and as the
 *     `App\Events\UserActivity` event broadcast on `private-activity`;
 *   - the audit filters (user, document, kind, time range) and the JSON line
 *     of an entry that exports carry, and its parser (offline checks).
 *
 * The rule: an event is logged when it is published on the channel
 * `private-activity` (SYNC_ACTIVITY_CHANNEL), or when its name ends with
 * `UserActivity` (SYNC_ACTIVITY_EVENT_SUFFIX, so Laravel's
 * `App\Events\UserActivity` on any channel). Its entry is
 *   {"kind":"app_event","channel":C,"event":E,"data":D}
 * where D is the event's data string exactly as published (a JSON string
 * holding the app's JSON text), so auditors see the bytes subscribers got.
 *
 * Pure: no I/O, no globals; thread-safe. */
#ifndef DOCSYNC_SYNC_ACTIVITY_H
#define DOCSYNC_SYNC_ACTIVITY_H

#include <stddef.h>
#include <stdint.h>

#include "common/jsonw.h"
#include "store.h"

#define SYNC_ACTIVITY_CHANNEL "private-activity"
#define SYNC_ACTIVITY_EVENT_SUFFIX "UserActivity"
#define SYNC_ACTIVITY_KIND_APP_EVENT "app_event"
#define SYNC_ACTIVITY_EVENT "App\\Events\\UserActivity" /* the server's own events */
#define SYNC_ACTIVITY_KIND_EDITED "document.edited"
#define SYNC_ACTIVITY_KIND_JOINED "document.joined"
#define SYNC_ACTIVITY_KIND_LEFT "document.left"

#define SYNC_ACTIVITY_ENOMEM (-1)
#define SYNC_ACTIVITY_EINVAL (-2)

/* 1 when an event named `event` published on `channel` is to be logged
 * (the rule above), else 0 (also for NULL arguments). */
int sync_activity_wanted(const char *channel, const char *event);

/* Builds the entry of one published event: a NUL-terminated JSON object
 * text in *out (malloc'd, the caller frees it), its length in *out_len.
 * `data` is `data_len` bytes of UTF-8 without NUL bytes. Returns 0,
 * SYNC_ACTIVITY_EINVAL (NULL argument, NUL byte in data) or
 * SYNC_ACTIVITY_ENOMEM. */
int sync_activity_app_event(const char *channel, const char *event, const char *data,
                            size_t data_len, char **out, size_t *out_len);

/* In cluster mode every entry names the node whose log holds it: `"node"`
 * is its first member (the node id: 1 to 63 of A-Za-z0-9._:-, nothing to
 * escape). Writes the JSON object text `obj` (len bytes, starting with
 * '{') into w with "node":node first; a lone server (node NULL or "")
 * writes it unchanged, so its entries stay as they always were. */
void sync_activity_stamp(const char *node, const char *obj, size_t len, struct jsonw *w);

/* ---- The server's own document activity ----
 *
 * Entries (JSON objects, one log entry each):
 *   {"kind":"document.edited","user":U,"documentId":D,"edits":N,
 *    "fromVersion":A,"toVersion":B,"firstTs":T1,"lastTs":T2}
 *       N versions of D committed for user U, A..B (the versions between
 *       may include other users' edits), the first at T1 and the last at T2
 *       (ms);
 *   {"kind":"document.joined"|"document.left","user":U,"documentId":D}
 *       U's first connection joined presence-document.D, or its last left.
 * The event broadcast for each on `private-activity` carries the shape apps
 * use for UserActivity, so one Echo listener shows both:
 *   {"user":{"id":U},"action":"edited document D"|"joined document D"|
 *    "left document D","timestamp":ISO-8601 UTC, ...the entry's members...,
 *    "offset":its offset in the activity log} */
struct sync_activity_doc {
    const char *kind; /* SYNC_ACTIVITY_KIND_EDITED, _JOINED or _LEFT */
    const char *user, *doc;
    uint64_t edits, from_version, to_version, first_ms, last_ms; /* edited only */
};

/* The log entry of `a` written into `w` (see above). */
void sync_activity_doc_entry(const struct sync_activity_doc *a, struct jsonw *w);

/* The broadcast event's data for the entry `entry` (entry_len bytes, as
 * sync_activity_doc_entry wrote it) committed at `offset` and `ts_ms`,
 * written into `w`. */
void sync_activity_doc_event(const char *entry, size_t entry_len, uint64_t offset, uint64_t ts_ms,
                             struct jsonw *w);

/* Edits waiting to be reported: one record per (user, document), opened by
 * its first edit and reported `window_ms` later with every edit that came
 * meanwhile. At most `max_open` records are open; an edit that would open
 * one more first reports the oldest. Single-threaded; no I/O. */
struct sync_feed;
typedef void (*sync_feed_emit_fn)(void *ctx, const struct sync_activity_doc *a);

/* A new feed in *out. Returns 0, SYNC_ACTIVITY_EINVAL (out NULL, max_open 0)
 * or SYNC_ACTIVITY_ENOMEM. */
int sync_feed_new(uint64_t window_ms, size_t max_open, struct sync_feed **out);

/* Frees the feed without reporting what it holds. NULL does nothing. */
void sync_feed_free(struct sync_feed *f);

/* Records that `user` committed `version` of `doc` at now_ms. Reports
 * through emit only when it must make room. Returns 0,
 * SYNC_ACTIVITY_EINVAL or SYNC_ACTIVITY_ENOMEM (the edit is not counted). */
int sync_feed_edit(struct sync_feed *f, const char *user, const char *doc, uint64_t version,
                   uint64_t now_ms, sync_feed_emit_fn emit, void *ctx);

/* Reports (through emit, oldest first) and closes the records whose window
 * ended by now_ms, and also, whatever their age, those of (user, doc) when
 * user is not NULL (doc NULL: all of the user's), or every record when
 * now_ms is UINT64_MAX. Returns how many were reported. */
size_t sync_feed_flush(struct sync_feed *f, uint64_t now_ms, const char *user, const char *doc,
                       sync_feed_emit_fn emit, void *ctx);

/* Open records. */
size_t sync_feed_open(const struct sync_feed *f);

/* ---- Reading the log: filters and the export line ---- */

/* What an auditor asks for; every member is optional (NULL or 0). */
struct sync_activity_filter {
    const char *user;     /* the entry's user: "user" (a string, a number, or
                             an object's "id"), in an app event's data too */
    const char *document; /* the entry's "documentId" (or an app event's) */
    const char *kind;     /* the entry's "kind" */
    uint64_t since_ms;    /* ts >= since_ms */
    uint64_t until_ms;    /* ts < until_ms (0: no bound) */
};

/* 1 when the filter is empty (every entry matches without being parsed). */
int sync_activity_filter_empty(const struct sync_activity_filter *f);

/* 1 when entry e matches every member of f, else 0 (also for a payload
 * that is not JSON when user, document or kind is asked for). */
int sync_activity_match(const struct sync_activity_filter *f, const struct store_activity *e);

/* Appends the export line of e to w, without the newline:
 *   {"offset":N,"ts":T,"prevHash":H0,"hash":H,"payload":P}
 * P is the payload's exact bytes as a JSON string when they are valid UTF-8,
 * else the member is "payloadBase64" with the bytes in base64, so that
 * hash = SHA-256(prevHash || u64le offset || u64le ts || payload bytes) can
 * be recomputed from the line alone. The same object is an entry of the
 * HTTP audit API. */
void sync_activity_line(const struct store_activity *e, struct jsonw *w);

/* One parsed export line; payload malloc'd (free with
 * sync_activity_line_clear). */
struct sync_activity_parsed {
    uint64_t offset, ts_ms;
    uint8_t prev_hash[STORE_HASH_LEN], hash[STORE_HASH_LEN];
    uint8_t *payload;
    size_t len;
};

/* Parses one export line (len bytes, no newline needed). Returns 0, or
 * SYNC_ACTIVITY_EINVAL (not such a line; *why says what, a static string)
 * or SYNC_ACTIVITY_ENOMEM. */
int sync_activity_line_parse(const char *line, size_t len, struct sync_activity_parsed *out,
                             const char **why);
void sync_activity_line_clear(struct sync_activity_parsed *p);

#endif
