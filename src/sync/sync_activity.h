/* sync_activity: which events that apps publish through the HTTP API go
 * into the activity log, and the entry recorded for them.
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

#define SYNC_ACTIVITY_CHANNEL "private-activity"
#define SYNC_ACTIVITY_EVENT_SUFFIX "UserActivity"
#define SYNC_ACTIVITY_KIND_APP_EVENT "app_event"

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

#endif
