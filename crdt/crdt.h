/* crdt.h - a collaborative plain-text CRDT in pure C11.
 *
 * WHAT IT IS
 *
 * A crdt_doc is one replica of a text document. Every replica has a replica
 * id ("agent"): a short byte string (1..CRDT_AGENT_MAX bytes) chosen by the
 * caller. Every inserted or deleted character is one operation with the id
 * (agent, seq), seq counting 0, 1, 2, ... per agent (the caller may choose the
 * first seq, see crdt_doc_set_agent()). Local edits are made at positions
 * counted in Unicode code points; the text is read as UTF-8.
 *
 * Replicas exchange updates: byte strings produced by crdt_doc_encode_*() and
 * consumed by crdt_doc_apply(). Applying is idempotent and commutes between
 * causally independent updates, so replicas that have applied the same set of
 * operations hold the same text, whatever the order of delivery.
 *
 * ORDERING RULE
 *
 * Concurrent insertions at the same place are ordered by the rule of the
 * Eg-walker reference / diamond-types (derived from Yjs' YATA, believed
 * equivalent to FugueMax). Every inserted character remembers its left
 * origin (the visible character just before it when it was typed, or the
 * document start) and its bound (the item, visible or tombstone, just after
 * the left origin at that time, or the document end); its right parent is
 * the bound if the bound has the same left origin, else the document end. A
 * remote insert is placed among the concurrent characters found between its
 * left origin and its bound by YATA's scan, comparing left origins and
 * right parents; exact ties are broken by (agent name bytewise, then seq).
 * We implement this rule because it never interleaves concurrently typed
 * runs (a word typed left to right stays whole, as does one typed right to
 * left), and because it is the rule the shared conformance vectors and
 * git-derived traces were generated with: all 1,000 dt-conformance
 * histories and git-makefile (with its original agent names and seqs)
 * replay to exactly diamond-types' text. Deleted characters stay as
 * tombstones in run-length encoded runs (adjacent tombstones of one typing
 * run merge into one); their text is dropped at once and never encoded.
 *
 * COST
 *
 * The document is a B-tree of runs with per-node counts and a cursor cache,
 * so local edits and the integration of a remote run cost O(log n) (plus
 * the number of concurrent runs scanned). Memory is about 4 bytes per
 * operation (an LV -> leaf index) plus the inserted text plus 20 bytes per
 * run. The full-state encoding carries each visible run's text, ids and
 * origins, and every delete run.
 *
 * AGENT NAMES MUST BE UNIQUE PER WRITER
 *
 * Ids are (agent, seq), so two replicas that edit concurrently under the
 * same agent name produce colliding ids and diverge: a replica skips an
 * operation whose id it already has. Give every editing session its own
 * agent name (e.g. a user id plus a random session suffix chosen by the
 * caller), and when a replica is rebuilt from a saved state and keeps its
 * name, continue with crdt_doc_set_agent(doc, name, len, CRDT_SEQ_AUTO).
 *
 * CAUSALITY
 *
 * An operation depends only on the ids it references: an insert on its two
 * origins, a delete on the character it deletes. An update that references
 * an id the replica lacks is refused with CRDT_EMISSING, naming the first
 * missing id, and the replica is left untouched. Operations already known
 * (same id) are skipped, which makes apply idempotent. A version
 * (crdt_version) is the set of ids a replica has, kept as runs of seqs per
 * agent; it can be encoded to bytes and sent to a peer, which answers with
 * crdt_doc_encode_since() (everything the version does not contain).
 *
 * WHAT IT DOES NOT DO
 *
 * No I/O, no clock, no randomness, no global state, no threads. It does not
 * authenticate updates nor check that a peer only uses its own agent name: a
 * peer can forge operations of any agent. Formatting, cursors and undo are
 * out of scope.
 *
 * MEMORY AND THREADS
 *
 * All memory comes from the allocator given to crdt_doc_new() or
 * crdt_version_new() (libc malloc/realloc/free when NULL), except the one
 * table crdt_update_inspect() may take from libc (it has no allocator).
 * Every call that allocates returns CRDT_ENOMEM when the allocator fails; a
 * document or version is then left exactly as it was before the call. Objects have no
 * shared state: distinct objects may be used from distinct threads; one
 * object must not be used by two threads at once (const calls may run
 * concurrently with each other).
 *
 * Byte buffers returned through `uint8_t **out` / `char **out` are allocated
 * with the allocator of the object that produced them and are owned by the
 * caller, who releases them with crdt_free_bytes() passing that same
 * allocator (or NULL if the object was created with NULL).
 *
 * LIMITS
 *
 * At most CRDT_DOC_OPS_MAX (2^26) operations and 2^32 - 1 bytes of
 * inserted text per document (CRDT_ELIMIT beyond, for local edits and
 * applied updates alike); seqs below 2^32 - 1. One update may make the
 * replica add at most 64 runs (operation records, tree runs, id runs) per
 * byte of its length plus 2^20 (CRDT_ELIMIT). Runs, not characters, are
 * counted: a deleted run of any length costs a few bytes on the wire and
 * one run in memory, plus the 4 bytes per operation bounded by
 * CRDT_DOC_OPS_MAX. So every state crdt_doc_encode_state produces is
 * accepted by a fresh replica, while what hostile bytes can make a replica
 * allocate stays bounded (a constant times `len`, plus 4 bytes per
 * operation up to CRDT_DOC_OPS_MAX). A caller that wants a tighter bound
 * per update reads its operation count first with crdt_update_inspect().
 *
 * The binary formats (updates, versions) are documented in crdt/FORMAT.md.
 */
#ifndef DOCSYNC_CRDT_H
#define DOCSYNC_CRDT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

/* Return codes. Every int-returning call returns CRDT_OK (0) or one of these
 * negative codes. */
#define CRDT_OK 0
#define CRDT_ENOMEM (-1)     /* the allocator failed; the object is unchanged */
#define CRDT_EINVAL (-2)     /* bad argument: NULL, out of range, bad UTF-8 or agent name */
#define CRDT_EBADUPDATE (-3) /* malformed or inconsistent update/version bytes */
#define CRDT_EVERSION (-4)   /* bytes use a format version this build does not know */
#define CRDT_EMISSING (-5)   /* update needs an operation the replica lacks */
#define CRDT_ELIMIT (-6)     /* a documented size limit would be exceeded */
#define CRDT_EIDINUSE (-7)   /* a local edit would reuse an existing (agent, seq) id */
#define CRDT_ERANGE (-8)     /* the caller's output buffer is too small */
#define CRDT_ECOST (-9)      /* crdt_doc_apply_bounded: the merge ran past its budget */
#define CRDT_EORIGIN (-10)   /* crdt_doc_apply_bounded: an insert's origins contradict the
                                document (forged: no replica could have typed it) */

/* Longest agent name in bytes. */
#define CRDT_AGENT_MAX 64
/* Most operations one document may hold (local edits and applied updates
 * alike; CRDT_ELIMIT beyond). Each costs 4 bytes of memory whatever it is
 * (a tombstone or a delete included), so this also caps what an update can
 * make a replica allocate per operation it names. */
#define CRDT_DOC_OPS_MAX (1u << 26)

/* Pass as the seq of crdt_doc_set_agent() to continue after the highest seq
 * of that agent the replica knows (0 for a new agent). */
#define CRDT_SEQ_AUTO UINT64_MAX

/* A static, NUL-terminated English description of a return code. Never
 * NULL; unknown codes give "unknown error". */
const char *crdt_strerror(int err);

/* ------------------------------------------------------------- allocator */

/* Caller-supplied allocator. All three functions are required; they follow
 * the contracts of malloc/realloc/free (realloc_fn(ctx, NULL, n) allocates,
 * a failing realloc_fn leaves the block untouched, free_fn(ctx, NULL) does
 * nothing). `ctx` is passed back unchanged. The struct is copied by the
 * *_new() calls; `ctx` must outlive every object created with it. */
typedef struct crdt_allocator {
    void *(*malloc_fn)(void *ctx, size_t size);
    void *(*realloc_fn)(void *ctx, void *ptr, size_t size);
    void (*free_fn)(void *ctx, void *ptr);
    void *ctx;
} crdt_allocator;

/* Release a buffer returned by an encode/text call. `alloc` is the allocator
 * the producing object was created with (NULL for libc). NULL `p` is a
 * no-op. */
void crdt_free_bytes(const crdt_allocator *alloc, void *p);

/* ------------------------------------------------------------------- ids */

/* An operation id, used to report what an update is missing. `agent` is a
 * copy of the agent name, NUL-terminated for convenience (names may contain
 * NUL bytes: use agent_len). */
typedef struct crdt_id {
    char agent[CRDT_AGENT_MAX + 1];
    size_t agent_len;
    uint64_t seq;
} crdt_id;

/* -------------------------------------------------------------- versions */

/* A set of operation ids (per agent, runs of seqs): what a replica has. */
typedef struct crdt_version crdt_version;

/* Create an empty version in *out. Returns CRDT_OK, CRDT_EINVAL (out NULL)
 * or CRDT_ENOMEM. Free with crdt_version_free(). */
int crdt_version_new(const crdt_allocator *alloc, crdt_version **out);

/* Free a version. NULL is a no-op. */
void crdt_version_free(crdt_version *v);

/* Encode `v` (FORMAT.md, "Version"). On success *out (caller-owned, see
 * crdt_free_bytes with v's allocator) holds *out_len bytes. Returns
 * CRDT_OK, CRDT_EINVAL (NULL argument) or CRDT_ENOMEM (nothing is
 * returned). */
int crdt_version_encode(const crdt_version *v, uint8_t **out, size_t *out_len);

/* Replace the contents of `v` with the decoded bytes. Untrusted input is
 * validated: CRDT_EBADUPDATE / CRDT_EVERSION on bad bytes, CRDT_ENOMEM; on
 * any error `v` is unchanged. */
int crdt_version_decode(crdt_version *v, const uint8_t *data, size_t len);

/* 1 if `v` contains the id (agent, seq), 0 if not (also for bad args). */
int crdt_version_contains(const crdt_version *v, const char *agent, size_t agent_len, uint64_t seq);

/* Number of operations the version contains (sum over agents). */
uint64_t crdt_version_count(const crdt_version *v);

/* ----------------------------------------------------------- documents */

/* One replica of a text document. */
typedef struct crdt_doc crdt_doc;

/* Create an empty document whose local edits use `agent` (agent_len bytes,
 * 1..CRDT_AGENT_MAX, any bytes) starting at seq 0. `alloc` may be NULL
 * (libc). Returns CRDT_OK with *out set, CRDT_EINVAL or CRDT_ENOMEM. */
int crdt_doc_new(const crdt_allocator *alloc, const char *agent, size_t agent_len, crdt_doc **out);

/* Free a document and everything it owns. NULL is a no-op. Buffers
 * previously returned to the caller stay valid (the caller owns them). */
void crdt_doc_free(crdt_doc *doc);

/* Change the agent used for later local edits, and the seq of the next
 * local operation (`seq`, or CRDT_SEQ_AUTO to continue after the highest seq
 * of that agent this replica knows). Used to replay histories with their
 * original (name, seq) ids. A later local edit fails with CRDT_EIDINUSE if
 * one of its ids is already known to the replica. Returns CRDT_OK,
 * CRDT_EINVAL (bad name, seq >= 2^32 - 1) or CRDT_ENOMEM. */
int crdt_doc_set_agent(crdt_doc *doc, const char *agent, size_t agent_len, uint64_t seq);

/* The seq the next local operation will get. */
uint64_t crdt_doc_next_seq(const crdt_doc *doc);

/* Insert `len` bytes of UTF-8 text `utf8` before code point `pos`
 * (0 <= pos <= crdt_doc_length()). Each code point becomes one operation of
 * the local agent. Returns CRDT_OK, CRDT_EINVAL (pos out of range, invalid
 * UTF-8 - overlong forms, surrogates and values above U+10FFFF are invalid),
 * CRDT_EIDINUSE, CRDT_ELIMIT or CRDT_ENOMEM; on error nothing changed.
 * Inserting zero bytes is a no-op. O(log n) plus the text length. */
int crdt_doc_insert(crdt_doc *doc, size_t pos, const char *utf8, size_t len);

/* Delete `count` code points starting at code point `pos`
 * (pos + count <= crdt_doc_length()). Each deleted code point becomes one
 * operation of the local agent. Same return codes as crdt_doc_insert.
 * O(log n) plus the number of runs touched. */
int crdt_doc_delete(crdt_doc *doc, size_t pos, size_t count);

/* Length of the visible text in code points, UTF-8 bytes and UTF-16 code
 * units. O(1). */
size_t crdt_doc_length(const crdt_doc *doc);

/* ANCHORS
 *
 * A position that stays on the text it points at while others edit (a
 * remote user's cursor or selection): the id of a character and a side.
 * CRDT_ANCHOR_BEFORE: just before that character; CRDT_ANCHOR_AFTER: just
 * after it. An id with agent_len 0 is the document's start (AFTER) or end
 * (BEFORE). When the character is deleted both sides resolve to the place
 * where it was. Anchors are plain data: they travel between replicas (as
 * agent name, seq and side) and resolve on any replica that has the
 * character. */
#define CRDT_ANCHOR_BEFORE 0
#define CRDT_ANCHOR_AFTER 1
typedef struct crdt_anchor {
    crdt_id id;
    int side;
} crdt_anchor;

/* The anchor of visible position `pos` (code points, 0..length). assoc >= 0
 * binds it to the character after pos (BEFORE it): text inserted later at
 * that place goes before the anchor, which moves right with it, as a caret
 * after typing; assoc < 0 binds it to the character before pos (AFTER it):
 * text inserted there goes after the anchor. At the document's end (assoc
 * >= 0) or start (assoc < 0) it is that end. Returns CRDT_OK or CRDT_EINVAL
 * (pos beyond the length). O(log n). */
int crdt_doc_anchor(crdt_doc *doc, size_t pos, int assoc, crdt_anchor *out);

/* The visible position an anchor points at now, into *pos. Returns CRDT_OK,
 * CRDT_EMISSING (this replica does not have the character yet: apply the
 * update that brings it), or CRDT_EINVAL (a bad side, or an id that names a
 * deletion). O(log n). */
int crdt_doc_anchor_pos(const crdt_doc *doc, const crdt_anchor *a, size_t *pos);
size_t crdt_doc_byte_length(const crdt_doc *doc);
size_t crdt_doc_utf16_length(const crdt_doc *doc);

/* Copy the UTF-8 text of code points [pos, pos + count) into buf (cap bytes;
 * not NUL-terminated) and store the byte count in *out_len. Returns CRDT_OK,
 * CRDT_EINVAL (range outside the text) or CRDT_ERANGE (cap too small; then
 * *out_len is the size needed and buf is unspecified). */
int crdt_doc_read(const crdt_doc *doc, size_t pos, size_t count, char *buf, size_t cap,
                  size_t *out_len);

/* The whole text as a new NUL-terminated UTF-8 string (caller-owned, free
 * with crdt_free_bytes); *out_len (may be NULL) gets its length without the
 * NUL. Returns CRDT_OK, CRDT_EINVAL or CRDT_ENOMEM. */
int crdt_doc_text(const crdt_doc *doc, char **out, size_t *out_len);

/* Convert a UTF-16 code unit offset in the visible text (what JavaScript
 * string indexes count) to a code point offset, and back. Offsets equal to
 * the length are valid. Returns CRDT_OK or CRDT_EINVAL (offset past the end,
 * or a UTF-16 offset that falls inside a surrogate pair). O(log n). */
int crdt_doc_utf16_to_pos(const crdt_doc *doc, size_t utf16_off, size_t *pos);
int crdt_doc_pos_to_utf16(const crdt_doc *doc, size_t pos, size_t *utf16_off);

/* ------------------------------------------------------------- updates */

/* Fill `out` (replacing its contents) with the set of ids this replica has.
 * Returns CRDT_OK, CRDT_EINVAL or CRDT_ENOMEM (out unchanged). */
int crdt_doc_version(const crdt_doc *doc, crdt_version *out);

/* Encode the version of the replica (same bytes as crdt_doc_version +
 * crdt_version_encode). Canonical: replicas holding the same set of ids
 * encode byte-identical versions. Caller-owned *out, doc's allocator.
 * Returns CRDT_OK, CRDT_EINVAL or CRDT_ENOMEM. */
int crdt_doc_encode_version(const crdt_doc *doc, uint8_t **out, size_t *out_len);

/* Encode the full state: an update that brings an empty replica to this
 * one's state. Text of deleted characters is omitted; a state that packs
 * shorter is written packed (format version 2: compressed columns, see
 * FORMAT.md "Packed full state"; about 2.6 x smaller for prose). Canonical: replicas
 * holding the same operations encode byte-identical states, whatever order
 * the operations reached them in (native and WebAssembly builds alike), and
 * a replica loaded from a state encodes that same state again. This holds
 * when every agent's seqs follow causality (one writer per agent name, see
 * above); for a replica holding forged ids that do not, the state is still
 * valid but follows arrival order. O(operation runs log n). Caller-owned
 * *out, doc's allocator. Returns CRDT_OK, CRDT_EINVAL or CRDT_ENOMEM. */
int crdt_doc_encode_state(const crdt_doc *doc, uint8_t **out, size_t *out_len);

/* Encode every operation this replica has that `since` does not contain (a
 * delta; `since` NULL = the full state, the same bytes as
 * crdt_doc_encode_state). A replica whose version is `since` can apply it
 * without CRDT_EMISSING. Ids in `since` the replica does not have are
 * ignored. Deltas follow arrival order (not canonical). Cost: a binary
 * search per range of `since` per agent plus O(runs sent x log n), not a
 * walk of the whole history. Caller-owned *out, doc's allocator. Returns
 * CRDT_OK, CRDT_EINVAL or CRDT_ENOMEM. */
int crdt_doc_encode_since(const crdt_doc *doc, const crdt_version *since, uint8_t **out,
                          size_t *out_len);

/* A mark: the count of operations the replica holds. Operations are kept
 * in the order they reached the replica, so the operations added after a
 * mark was taken (by local edits or crdt_doc_apply) are exactly those at or
 * after the mark. Comparing marks before and after crdt_doc_apply tells
 * whether the update brought anything new. */
uint64_t crdt_doc_mark(const crdt_doc *doc);

/* Encode the operations added since `mark` (a value of crdt_doc_mark()),
 * e.g. the update produced by the last local transaction, to be sent as one
 * message. Cost proportional to what was added, not to the document.
 * Caller-owned *out, doc's allocator. Returns CRDT_OK, CRDT_EINVAL (also
 * when mark is larger than crdt_doc_mark()) or CRDT_ENOMEM. */
int crdt_doc_encode_since_mark(const crdt_doc *doc, uint64_t mark, uint8_t **out, size_t *out_len);

/* Apply an update (bytes from any crdt_doc_encode_* call of any replica).
 * Known operations are skipped; new ones are integrated. Returns:
 *   CRDT_OK          applied (possibly nothing new);
 *   CRDT_EMISSING    the update references an operation this replica lacks;
 *                    `missing` (may be NULL) receives its id; the replica is
 *                    untouched; apply that operation's update first;
 *   CRDT_EBADUPDATE / CRDT_EVERSION  malformed bytes (all fields are
 *                    validated; hostile input never crashes or overreads,
 *                    and what it makes the replica allocate is bounded, see
 *                    LIMITS);
 *   CRDT_ELIMIT, CRDT_ENOMEM, CRDT_EINVAL.
 * On any error the replica is unchanged. */
int crdt_doc_apply(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing);

/* A visible change made by crdt_doc_apply_changes: either an insertion
 * (del == 0: `text`, text_len UTF-8 bytes, ins code points, ins16 UTF-16
 * units) or a deletion (ins == 0, text NULL: del code points, del16 UTF-16
 * units). pos and pos16 place it in the visible text as it is once the
 * changes reported before it are made: replaying the changes in the order
 * they come, each at its position, turns the text before the call into the
 * text after it. */
typedef struct crdt_change {
    size_t pos, pos16;
    size_t del, del16;
    size_t ins, ins16;
    const char *text; /* valid during the call only */
    size_t text_len;
} crdt_change;

/* Called once per visible change, while the update is being integrated:
 * it must not call into the document. */
typedef void (*crdt_change_fn)(void *ctx, const crdt_change *change);

/* crdt_doc_apply, reporting what it changed in the visible text to fn
 * (which may be NULL) so that an editor showing the text can make exactly
 * those changes instead of rebuilding and comparing the whole text: one
 * call per inserted piece and per deleted piece that was visible;
 * characters the update inserts already deleted, and deletions of
 * characters already deleted, are not reported. Nothing is reported when the
 * update is refused (the replica is unchanged). Same results as
 * crdt_doc_apply; costs O(log n) more per change reported. */
int crdt_doc_apply_changes(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                           crdt_change_fn fn, void *ctx);

/* crdt_doc_apply with a bound on its time for those who apply updates from
 * untrusted peers. Placing a remote insert scans the runs inserted
 * concurrently at the same place (COST), so K inserts that share an origin
 * cost about K^2 / 2 steps, whatever their size. This counts the runs
 * scanned and stops once more than max_scan were needed, returning
 * CRDT_ECOST. Then, and only then, the replica is left holding part of the
 * update, possibly not in the order other replicas would give it: it is
 * memory-safe and may be freed or encoded, but must not be kept; load it
 * again from its last good state.
 *
 * It also refuses inserts whose origins no replica could have produced,
 * with CRDT_EORIGIN and the same contract as CRDT_ECOST (discard the
 * replica). An insert goes between its left origin L and its bound B, which
 * its author saw adjacent; the author knew B's own left origin and L's own
 * bound (an op is only made after the ops it names), so B's left origin
 * cannot lie strictly between L and B, nor L's bound. A forged insert that
 * breaks this would be placed differently depending on the order replicas
 * receive the ops, so a document reloaded from its full state would show
 * another text than the replica that applied it. Checked where integration
 * already looks at those positions (only when something lies between L and
 * B), so legitimate updates pay nothing more. crdt_doc_apply does not check
 * it: states a replica wrote itself load as before.
 *
 * Every other result is as crdt_doc_apply's (on other errors the replica is
 * unchanged). With max_scan proportional to
 * the update's length (a server uses 64 per byte plus a constant) the whole
 * call is O(len log n). */
int crdt_doc_apply_bounded(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                           uint64_t max_scan);

/* The runs scanned while integrating remote inserts over the replica's
 * life: the unit of crdt_doc_apply_bounded's max_scan (for tests and
 * metrics). */
uint64_t crdt_doc_scanned(const crdt_doc *doc);

/* Called by crdt_update_inspect() once per run of new operation ids an update carries: `count`
 * consecutive seqs from `seq_first` of agent `agent` (agent_len bytes, not NUL-terminated, valid
 * for the call). A non-zero return stops the walk; crdt_update_inspect returns it. */
typedef int (*crdt_update_agent_fn)(void *ctx, const char *agent, size_t agent_len,
                                    uint64_t seq_first, uint64_t count);

/* Reads an update (bytes of any crdt_doc_encode_* call) without applying it: validates its
 * framing and calls fn (may be NULL) for every run of operation ids it introduces, and stores the
 * total number of operations in *ops (may be NULL). Time O(len), no allocation beyond a constant
 * (or O(len) at most). Returns CRDT_OK, CRDT_EBADUPDATE, CRDT_EVERSION, CRDT_ELIMIT (more than
 * CRDT_DOC_OPS_MAX ops), CRDT_ENOMEM (see Memory below), or fn's non-zero value. An update that
 * inspects fine may still be refused by crdt_doc_apply (missing dependencies, inconsistent
 * content).
 *
 * In detail:
 *  - *ops is the sum of the lengths of the update's insert and delete ops, known ids included: what
 *    crdt_doc_apply adds (crdt_doc_mark() growth) to a replica that has none of its ids. It is set
 *    on CRDT_OK, CRDT_ELIMIT and fn's stop, and is 0 otherwise.
 *  - fn is called only once the whole update has been read and found well framed and within
 *    CRDT_DOC_OPS_MAX: never for bytes that end up refused. Calls follow the order of the ops in
 *    the update; consecutive ops whose ids continue each other make one call. The counts of all
 *    calls add up to *ops. The same agent may come in several calls.
 *  - What only memory proportional to the update could check is left to crdt_doc_apply, which
 *    refuses it with CRDT_EBADUPDATE: an agent table naming one agent twice (fn then gets that name
 *    from both entries) and an id carried twice (fn then gets overlapping runs, and *ops counts it
 *    twice). Neither lowers the count: *ops is never less than what applying the bytes can add.
 *  - Memory: none with fn NULL or an agent table of at most 256 names; otherwise one table of
 *    offsets (a size_t per name, at most 4 * len bytes) from libc malloc (there is no allocator
 *    argument), and CRDT_ENOMEM if that fails. A packed full state (format version 2) is first
 *    unpacked into libc memory: at most 32 * len bytes of columns (more is CRDT_ELIMIT) and the
 *    version 1 bytes rebuilt from them, released before returning. Time: two reads of the bytes
 *    (after unpacking) plus fn's calls.
 *  - NULL data gives CRDT_EBADUPDATE, like any truncated update. A pure function of its arguments:
 *    safe from any thread, concurrently with any other call. */
int crdt_update_inspect(const uint8_t *data, size_t len, crdt_update_agent_fn fn, void *ctx,
                        uint64_t *ops);

/* 0 if the replica contains every id of `v`, else CRDT_EMISSING with the
 * first id it lacks in *missing (may be NULL). CRDT_EINVAL on NULL args. */
int crdt_doc_covers(const crdt_doc *doc, const crdt_version *v, crdt_id *missing);

/* ------------------------------------------------------------- testing */

/* Check every internal invariant (tree counts, run bounds, indexes). Returns
 * CRDT_OK, or CRDT_EINVAL if something is inconsistent (a bug). O(n);
 * meant for tests. */
int crdt_doc_check(const crdt_doc *doc);

#ifdef __cplusplus
}
#endif

#endif
