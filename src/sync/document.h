/* document: one document's server-side CRDT replica, loaded from the store.
 *
 * The server holds one crdt_doc per open document (its own replica, agent
 * DOCUMENT_AGENT for whole-content writes). This module loads it from the
 * store (newest snapshot + the ops after it), rebuilds the text at an older
 * version (history), applies remote updates and turns a whole-content write
 * into CRDT edits (common prefix/suffix diff). It knows nothing of
 * connections, version assignment or batches: see sync_engine.h.
 *
 * Loop thread only (or any single thread): a read handle is opened and
 * closed inside each call that reads the store. */
#ifndef DOCSYNC_DOCUMENT_H
#define DOCSYNC_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "crdt.h"
#include "store.h"

#define DOCUMENT_AGENT "docsync-server" /* agent of whole-content writes */

#define DOCUMENT_ESTORE (-1)       /* a store read failed (see *store_rc) */
#define DOCUMENT_ECORRUPT (-2)     /* stored ops/snapshot do not apply */
#define DOCUMENT_ENOTRETAINED (-3) /* the version is older than the retained ops */
#define DOCUMENT_ENOTFOUND (-4)    /* the version is beyond the head */
#define DOCUMENT_ENOMEM (-5)
#define DOCUMENT_EINVAL (-6) /* e.g. content is not valid UTF-8 */

/* Loads doc `id` from the store into a new replica *out (the caller frees
 * it with crdt_doc_free), with its head version in *head (0 and an empty
 * replica for an unknown document), and snapshot/trunc versions in
 * *snapshot_version / *trunc_version (may be NULL). Returns 0, or
 * DOCUMENT_ESTORE, DOCUMENT_ECORRUPT or DOCUMENT_ENOMEM with *out NULL;
 * *store_rc (may be NULL) gets the store code on DOCUMENT_ESTORE. */
int document_load(store *s, const char *id, crdt_doc **out, uint64_t *head,
                  uint64_t *snapshot_version, uint64_t *trunc_version, int *store_rc);

/* Rebuilds the text of doc `id` at `version` (0 = empty). Returns 0 with a
 * malloc'd NUL-terminated *text the caller frees (length *len),
 * DOCUMENT_ENOTFOUND (version > head), DOCUMENT_ENOTRETAINED (no snapshot
 * at or below the version and the ops before it were dropped; *oldest, when
 * `oldest` is not NULL, gets the oldest version that can be rebuilt), or
 * another DOCUMENT_E*; *text is NULL on error. */
int document_text_at(store *s, const char *id, uint64_t version, char **text, size_t *len,
                     uint64_t *oldest);

/* Applies the edits turning the replica's text into `content[0..len)` as
 * local operations of DOCUMENT_AGENT (an insert and a delete at most,
 * around the common prefix and suffix). Returns 0, DOCUMENT_EINVAL (content
 * is not valid UTF-8; the replica is unchanged) or DOCUMENT_ENOMEM (the
 * replica may hold the insert without the delete: compare crdt_doc_mark()
 * and reload it). */
int document_replace(crdt_doc *doc, const char *content, size_t len);

/* A static description of a DOCUMENT_E* code (never NULL). */
const char *document_strerror(int code);

#endif
