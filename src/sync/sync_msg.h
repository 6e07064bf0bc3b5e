/* sync_msg: the requests of the document sync protocol (see
 * clients/PROTOCOL-sync.md), parsed from their JSON payload. The same
 * parser serves the WebSocket events (`docsync:submit` ...) and the HTTP API
 * bodies/queries, so both paths enforce the same limits.
 *
 * Pure: no I/O, no globals; thread-safe. Input is untrusted: every field is
 * type-checked and bounded, and the first problem is reported as a short
 * English phrase naming the field. */
#ifndef DOCSYNC_SYNC_MSG_H
#define DOCSYNC_SYNC_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define SYNC_DOC_ID_MAX 128    /* characters of a document id */
#define SYNC_CLIENT_ID_MAX 64  /* characters of a client id */
#define SYNC_REQUEST_ID_MAX 64 /* characters of an optional request id */
#define SYNC_EPOCH_MAX 32      /* hex characters of an epoch */

#define SYNC_MSG_EINVAL (-1)  /* a field is missing, of the wrong type or out of range */
#define SYNC_MSG_ETOOBIG (-2) /* update or content over the caller's limit */
#define SYNC_MSG_ENOMEM (-3)

enum sync_op {
    SYNC_OP_SUBMIT = 0,  /* docsync:submit  {documentId, clientId, seq, update} */
    SYNC_OP_REPLACE = 1, /* docsync:replace {documentId, baseVersion, content, clientId?, seq?} */
    SYNC_OP_CATCHUP = 2, /* docsync:catchup {documentId, epoch?, version} */
    SYNC_OP_HISTORY = 3, /* docsync:history {documentId, version} */
};

/* A parsed request. Strings are NUL-terminated; `update` and `content` are
 * heap copies owned by the struct (sync_msg_clear frees them). */
struct sync_request {
    enum sync_op op;
    char doc[SYNC_DOC_ID_MAX + 1];
    char client[SYNC_CLIENT_ID_MAX + 1]; /* "" when absent (replace only) */
    uint64_t seq;                        /* submit: >= 1; replace: 0 when absent */
    uint8_t *update;                     /* submit: decoded bytes */
    size_t update_len;
    char *content; /* replace: the whole new text (UTF-8), NUL-terminated */
    size_t content_len;
    uint64_t base_version;          /* replace */
    uint64_t version;               /* catchup: last version seen; history: wanted version */
    char epoch[SYNC_EPOCH_MAX + 1]; /* catchup: "" when absent */
    int merge;                      /* catchup: `merge: true`, one merged update is welcome */
    char request_id[SYNC_REQUEST_ID_MAX + 1]; /* optional `requestId`, echoed; "" */
};

/* The operation (an enum sync_op) of a WebSocket event name
 * ("docsync:submit" ...), or -1 for any other name and for NULL. */
int sync_msg_op_from_event(const char *event);

/* The event name of an operation ("docsync:submit" ...; a static string,
 * "docsync:?" for a value outside enum sync_op). */
const char *sync_msg_op_event(enum sync_op op);

/* 1 when `id` is a valid document id: 1..SYNC_DOC_ID_MAX characters of
 * [A-Za-z0-9_-=@,.;] (the Pusher channel-name set, so that
 * `presence-document.{id}` is a valid channel). */
int sync_msg_doc_id_valid(const char *id);

/* 1 when `id` is a valid client id: 1..SYNC_CLIENT_ID_MAX characters of
 * [A-Za-z0-9_-.:@]. */
int sync_msg_client_id_valid(const char *id);

/* Copies only the requestId and documentId of a request's data into *out
 * (each left "" when absent or invalid), to answer a request refused before
 * it is read (rate limit) so that the client can match the answer. */
void sync_msg_ids(const cJSON *data, struct sync_request *out);

/* Parses the payload `data` (a JSON object, borrowed) of request `op` into
 * *out, which then owns copies of what it needs. `max_update` bounds the
 * decoded update bytes and `max_content` the content bytes (0 = no extra
 * limit beyond what fits in memory). Returns 0 (and *why = NULL), or
 * SYNC_MSG_E* with *why a static phrase naming the field and *out cleared
 * but for op, doc and request_id when they were valid (so the refusal can
 * be correlated). `why` may be NULL. Call sync_msg_clear() either way. */
int sync_msg_parse(enum sync_op op, const cJSON *data, size_t max_update, size_t max_content,
                   struct sync_request *out, const char **why);

/* The commonest request read straight from its WebSocket message, without
 * building a JSON tree. Takes exactly the form clients write (JSON.stringify
 * of pusher-js's send_event), with no whitespace:
 *
 *   {"event":"docsync:submit","data":{"documentId":"...","clientId":"...",
 *    "seq":N,"update":"...","requestId":N or "..."}}
 *
 * the two top-level members and the data members in any order, requestId
 * optional, each member once. Returns 1 with *out filled as sync_msg_parse
 * fills it (call sync_msg_clear). Returns 0, *out cleared, for every other
 * message, including every invalid one: escapes, whitespace, other members,
 * a seq written as a string or a fraction, values sync_msg_parse refuses.
 * The caller then takes the general path, which answers them all.
 *
 * For every message it takes, message_parse (with a size limit of at least
 * len and a depth limit of at least 2) accepts it as event "docsync:submit"
 * with no channel, and sync_msg_parse gives the same request from its data;
 * the fuzz target submit_frame checks exactly that. `max_update` is
 * sync_msg_parse's. */
int sync_msg_submit_frame(const char *buf, size_t len, size_t max_update, struct sync_request *out);

/* Frees what the request owns and zeroes it; safe on a cleared struct. */
void sync_msg_clear(struct sync_request *r);

#endif
