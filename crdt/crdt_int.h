/* crdt_int.h - internals shared by the files of libcrdt. Not installed.
 *
 * Naming: crdt_* is the public API of crdt.h; functions that are shared
 * between the library's files but are not part of that API are crdt__*
 * and declared here under the file that defines them; everything else is
 * static to its file.
 *
 * Vocabulary. Every operation (one inserted or deleted code point) a replica
 * holds has a local version (LV): its index in the order the replica
 * received it. LVs are dense (0 .. next_lv-1) and never reused, so every
 * per-operation table is an array or a sorted run list indexed by LV.
 *
 *   recs    records: runs of operations in LV order (inserts with their
 *           origins, deletes with their target), the source for encoding.
 *   agents  per agent name, runs mapping seq -> LV (gaps allowed); and
 *           spans[] mapping LV -> (agent, seq).
 *   tree    the document: a B-tree of runs of inserted characters in
 *           document order (tombstones included), with per-child counts
 *           so positions are found in O(log n); lv_leaf[lv] names the
 *           leaf holding the character inserted by LV `lv`.
 *   arena   the UTF-8 bytes of inserted text, append-only.
 */
#ifndef DOCSYNC_CRDT_INT_H
#define DOCSYNC_CRDT_INT_H

#include "crdt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CRDT_NONE UINT32_MAX         /* "no LV": document start/end origin */
#define CRDT_LV_MAX CRDT_DOC_OPS_MAX /* most LVs a document holds */
#define CRDT_SEQ_MAX (UINT32_MAX - 1u)

/* ------------------------------------------------------------ memory */

void *crdt__mem_alloc(const crdt_allocator *a, size_t size);
void *crdt__mem_realloc(const crdt_allocator *a, void *p, size_t size);
void crdt__mem_free(const crdt_allocator *a, void *p);
/* Grow *p (elements of `elem` bytes, capacity *cap) to hold at least `need`
 * elements. Returns CRDT_OK or CRDT_ENOMEM/CRDT_ELIMIT (nothing changed). */
int crdt__mem_grow(const crdt_allocator *a, void **p, uint32_t *cap, size_t need, size_t elem);
static inline int crdt__mem_reserve(const crdt_allocator *a, void **p, uint32_t *cap, size_t need,
                                    size_t elem)
{
    return need <= *cap ? CRDT_OK : crdt__mem_grow(a, p, cap, need, elem);
}

/* Gives back the room of *p beyond n elements and an eighth more, when that
 * is worth a realloc. Nothing changes when the realloc fails. */
void crdt__mem_trim(const crdt_allocator *a, void **p, uint32_t *cap, uint32_t n, size_t elem);

/* -------------------------------------------------------------- utf8 */

/* Validate UTF-8; on success store the number of code points and of
 * astral (> U+FFFF) code points. Returns false on invalid input. */
bool crdt__utf8_validate(const uint8_t *s, size_t len, size_t *cps, size_t *astral);
/* Byte offset of code point `k` in valid UTF-8 `s`. */
size_t crdt__utf8_offset(const uint8_t *s, size_t len, size_t k);
/* Astral code points among bytes s[0..len). */
uint32_t crdt__utf8_astral(const uint8_t *s, size_t len);
/* Byte length of the first n code points of a run segment's text. */
size_t crdt__text_bytes(const uint8_t *text, uint32_t n);

/* ------------------------------------------------------------- agents */

typedef struct crdt_agent_run {
    uint32_t seq, lv, len;
} crdt_agent_run;

typedef struct crdt_agent {
    uint8_t name_len;
    char name[CRDT_AGENT_MAX];
    crdt_agent_run *runs; /* sorted by seq, non-overlapping */
    uint32_t nruns, cap;
} crdt_agent;

typedef struct crdt_span {
    uint32_t lv, agent, seq;
} crdt_span;

/* ----------------------------------------------------------- records */

enum { CRDT_REC_INS = 0, CRDT_REC_DEL = 1, CRDT_REC_DEL_REV = 2 };

/* A run of operations [lv, lv + len). Inserts: character lv + k has left
 * origin `a` for k = 0 and lv + k - 1 otherwise, right origin `b` for all
 * k (its text lives in the tree run holding it). Deletes: lv + k deletes
 * a + k (DEL) or a + len - 1 - k (DEL_REV). */
typedef struct crdt_rec {
    uint32_t lv, len, a, b;
    uint32_t kind;
} crdt_rec;

/* ------------------------------------------------------------ search */

/* Sorted tables whose elements start with their uint32_t sort key: the
 * records and spans (by lv), an agent's runs (by seq) and a version's
 * ranges (pairs [start, end), by start). */
_Static_assert(offsetof(crdt_rec, lv) == 0, "crdt_rec sorts by its first member");
_Static_assert(offsetof(crdt_span, lv) == 0, "crdt_span sorts by its first member");
_Static_assert(offsetof(crdt_agent_run, seq) == 0, "crdt_agent_run sorts by its first member");

/* In such a table (n elements of `size` bytes at `base`, sorted by key),
 * the number of elements whose key is <= key: the index of the first
 * element with a larger key, or n. The last element with a key <= key,
 * the one that may hold `key`, is the result - 1 (none when 0). */
static inline uint32_t crdt__upper_bound(const void *base, uint32_t n, size_t size, uint32_t key)
{
    const unsigned char *p = base;
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (*(const uint32_t *)(const void *)(p + (size_t)mid * size) <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Order of agent names: bytewise, a name before every longer name it
 * begins. Returns <0, 0 or >0 like memcmp. */
int crdt__name_cmp(const void *a, size_t alen, const void *b, size_t blen);

/* -------------------------------------------------------------- tree */

#define CRDT_LEAF_MAX 32
#define CRDT_NODE_MAX 16
/* Code points per run of non-ASCII text: bounds the UTF-8 scan of a split. */
#define CRDT_NONASCII_RUN_MAX 128

typedef struct crdt_stats {
    uint32_t vis;   /* visible code points */
    uint32_t bytes; /* visible UTF-8 bytes */
    uint32_t u16;   /* visible UTF-16 units */
    uint32_t total; /* code points including tombstones */
} crdt_stats;

/* Characters [lv, lv + len) of one insert record, consecutive in the
 * document, all deleted or all visible. Visible runs have their text at
 * arena[byte_off .. byte_off + byte_len) with `astral` 4-byte code points;
 * deleted runs keep no text (byte_len = astral = 0). `cont`: the left
 * origin of character lv is lv - 1 (so merging this run into a run ending
 * at lv - 1 needs no look-up of its record). */
typedef struct crdt_run {
    uint32_t lv;
    uint32_t len : 31;
    uint32_t del : 1;
    uint32_t byte_off, byte_len;
    uint32_t astral : 31;
    uint32_t cont : 1;
} crdt_run;

typedef struct crdt_leaf {
    uint32_t parent; /* inode index, CRDT_NONE for the root */
    uint32_t slot;   /* index among the parent's children */
    uint32_t next;   /* next leaf in document order or CRDT_NONE */
    uint32_t n;
    crdt_run runs[CRDT_LEAF_MAX];
} crdt_leaf;

typedef struct crdt_inode {
    uint32_t parent;
    uint32_t slot;
    uint32_t n;
    uint32_t child[CRDT_NODE_MAX]; /* leaf or inode indexes, per height */
    crdt_stats st[CRDT_NODE_MAX];
} crdt_inode;

/* A place in the document: before character `off` of run `i` of `leaf`
 * (off < len), or at the end of a leaf (i == n, off == 0). */
typedef struct crdt_cursor {
    uint32_t leaf, i, off;
} crdt_cursor;

/* --------------------------------------------------------------- doc */

struct crdt_doc {
    crdt_allocator alloc;

    /* local agent */
    uint32_t me;       /* index in agents[] */
    uint32_t next_seq; /* seq of the next local op */

    crdt_agent *agents;
    uint32_t nagents, agents_cap;
    uint32_t *agent_order; /* agent indexes sorted by name */
    uint32_t order_cap;

    crdt_span *spans;
    uint32_t nspans, spans_cap;

    crdt_rec *recs;
    uint32_t nrecs, recs_cap;

    uint32_t next_lv;
    uint32_t *lv_leaf; /* per LV: leaf of the character (inserts only) */
    uint32_t lv_leaf_cap;

    uint8_t *arena;
    uint32_t arena_len, arena_cap;

    crdt_leaf *leaves;
    uint32_t nleaves, leaves_cap;
    crdt_inode *inodes;
    uint32_t ninodes, inodes_cap;
    uint32_t root;   /* leaf index when height == 0, else inode index */
    uint32_t height; /* 0: root is a leaf */
    crdt_stats st;   /* whole document */
    uint32_t nruns;  /* runs in the tree */
    uint32_t excess; /* sum over leaves of max(0, runs - LEAF_MAX / 2) */

    /* Cursor cache for local edits: leaf of the last descent by visible
     * position and the visible count before it. Valid until a leaf splits
     * or an update is applied. */
    uint32_t cache_leaf, cache_start;
    bool cache_ok;

    /* Where the last local edit ended (the idea of diamond-types' cursor
     * cache): run hint_i of leaf hint_leaf (or the leaf's end when hint_i is
     * its run count) comes after hint_pos visible characters. Keystrokes
     * land at or next to the previous one, so the next edit finds its run
     * a step or two from here, without a descent from the root or a scan of
     * the leaf from its first run. Set by each local edit when it is done;
     * cleared by anything else that changes the tree. */
    uint32_t hint_leaf, hint_i, hint_pos;
    bool hint_ok;

    /* The run crdt__tree_cursor_lv_near found last (leaf, index): while
     * an update is integrated, the origins and delete targets of
     * consecutive ops mostly lie in that run or next to it, so this saves
     * most scans of a leaf's runs. Only a hint: it is checked before use
     * and never needs resetting. */
    uint32_t near_leaf, near_i;

    /* Runs the integration of remote inserts may still scan during the
     * current crdt_doc_apply_bounded (UINT64_MAX: unbounded); over_budget
     * is set when a scan ran out and placed its insert early. */
    uint64_t scan_budget;
    bool over_budget;
    /* crdt_doc_apply_bounded: check_origins asks integration to verify
     * that an insert's origins are consistent with the document (see
     * crdt_doc_apply_bounded in crdt.h); bad_origins is set, and apply
     * stops, when one is not. */
    bool check_origins, bad_origins;
    uint64_t scanned; /* runs scanned by integration, ever (crdt_doc_scanned) */
    /* crdt_doc_apply_changes: where the update being integrated reports its
     * visible changes (NULL otherwise). */
    crdt_change_fn change_fn;
    void *change_ctx;
    /* While a load into an empty replica places its inserts in a list of
     * runs instead of the tree (listload.c); NULL otherwise. lv_leaf then
     * holds list nodes, not leaves. */
    struct crdt_list *list;
};

/* Sets lv_leaf[lv .. lv + n) to `v` (the leaf, or during a load the list
 * node, that now holds those characters). */
static inline void crdt__lv_fill(crdt_doc *doc, uint32_t lv, uint32_t n, uint32_t v)
{
    uint32_t *p = doc->lv_leaf + lv; /* a local: the stores cannot alias doc */
    for (uint32_t k = 0; k < n; k++)
        p[k] = v;
}

/* Sets lv_leaf[lv .. lv + n) to `v`, for LVs at the end of the assigned
 * ones (no LV from lv + n on has a leaf yet): in whole groups of 16 entries
 * when the array has room, since what a group writes past lv + n is written
 * again when those LVs are assigned. Most runs and deletes of a state load
 * take one group, so the loop's end is predictable, where an exact fill's
 * vector and scalar tails were not. */
static inline void crdt__lv_fill_tail(crdt_doc *doc, uint32_t lv, uint32_t n, uint32_t v)
{
    enum { GROUP = 16 };
    uint32_t *p = doc->lv_leaf + lv; /* a local: the stores cannot alias doc */
    if ((uint64_t)lv + n + GROUP <= doc->lv_leaf_cap) {
        uint32_t g[GROUP];
        for (uint32_t k = 0; k < GROUP; k++)
            g[k] = v;
        for (uint32_t k = 0; k < n; k += GROUP)
            memcpy(p + k, g, sizeof g);
    } else {
        for (uint32_t k = 0; k < n; k++)
            p[k] = v;
    }
}

/* doc.c */
/* Moves *at to just after the placed characters. (Through a pointer: GCC
 * returned the 12-byte cursor by storing its fields one by one and loading
 * them back as one 8-byte word, a store-forwarding stall on every insert
 * of a state load.) */
void crdt__doc_place(crdt_doc *doc, crdt_cursor *at, uint32_t left, uint32_t lv, uint32_t n,
                     uint32_t byte_off, uint32_t byte_len, bool deleted);

/* integrate.c: place remote insert [lv, lv+n) with origins left/right. */
void crdt__integrate_insert(crdt_doc *doc, uint32_t left, uint32_t right, uint32_t lv, uint32_t n,
                            uint32_t byte_off, uint32_t byte_len, bool deleted);

/* agents.c */
int crdt__agent_find(const crdt_doc *doc, const char *name, size_t len, uint32_t *idx);
int crdt__agent_add(crdt_doc *doc, const char *name, size_t len, uint32_t *idx);
/* LV of (agent, seq) or CRDT_NONE. */
uint32_t crdt__agent_lv(const crdt_doc *doc, uint32_t agent, uint32_t seq);
/* Length of the run of known seqs starting at `seq` with consecutive LVs
 * (0 if seq unknown); *lv gets the LV of seq. */
uint32_t crdt__agent_known(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t *lv);
/* Length of the run of known seqs ending at `seq` (going down) with
 * consecutive LVs (0 if unknown); *lv gets the LV of seq. */
uint32_t crdt__agent_known_back(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t *lv);
/* Index of the first of the agent's runs that ends after `seq` (nruns if
 * none). */
uint32_t crdt__agent_run_from(const crdt_doc *doc, uint32_t agent, uint32_t seq);
/* First known seq >= seq (UINT32_MAX if none). */
uint32_t crdt__agent_next_known(const crdt_doc *doc, uint32_t agent, uint32_t seq);
/* For seqs [seq, end) (seq < end): the length of the stretch from seq that
 * is known with consecutive LVs (*known = true, *lv the LV of seq) or all
 * unknown (*known = false). */
uint32_t crdt__agent_piece(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t end,
                           bool *known, uint32_t *lv);
/* (agent, seq) of an LV and how many following LVs continue that run. */
void crdt__span_id(const crdt_doc *doc, uint32_t lv, uint32_t *agent, uint32_t *seq,
                   uint32_t *run_left);
/* Record ops [lv, lv+len) as (agent, seq..). Capacity must be reserved. */
void crdt__agent_assign(crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t lv, uint32_t len);
/* Ensure room for `n` more assignments. */
int crdt__agent_reserve(crdt_doc *doc, uint32_t agent, uint32_t n);
/* First LV of the span holding lv (ids are contiguous from there to lv). */
uint32_t crdt__span_start(const crdt_doc *doc, uint32_t lv);
/* Compare ids (agent names bytewise, then seq). */
int crdt__id_cmp(const crdt_doc *doc, uint32_t lv_a, uint32_t lv_b);

/* rec.c */
/* Index of the record containing lv (lv < next_lv). */
uint32_t crdt__rec_find(const crdt_doc *doc, uint32_t lv);
/* Left and right origin of inserted character lv. */
void crdt__rec_origins(const crdt_doc *doc, uint32_t lv, uint32_t *left, uint32_t *right);
/* Whether lv is a known operation that inserted a character. */
bool crdt__rec_is_insert(const crdt_doc *doc, uint32_t lv);
/* Append an insert record [lv, lv+len) with origins (left, right), merged
 * into the last record when it continues it. Capacity must be reserved. */
void crdt__rec_add_insert(crdt_doc *doc, uint32_t lv, uint32_t len, uint32_t left, uint32_t right);
/* Append a delete record: ops [lv, lv+len) delete targets [t, t+len), in
 * reverse order when `rev`. Capacity must be reserved. */
void crdt__rec_add_delete(crdt_doc *doc, uint32_t lv, uint32_t len, uint32_t t, bool rev);

/* tree.c */
int crdt__tree_init(crdt_doc *doc);
/* Reserve nodes for `runs` run insertions. */
int crdt__tree_reserve(crdt_doc *doc, uint32_t runs);
/* Full-order position (tombstones counted) of character lv. */
uint32_t crdt__tree_pos(const crdt_doc *doc, uint32_t lv);
/* Visible characters before character lv (deleted or not): its visible
 * position, or where it would be. */
uint32_t crdt__tree_vis_pos(const crdt_doc *doc, uint32_t lv);
/* Cursor at character lv (before it). */
crdt_cursor crdt__tree_cursor_lv(const crdt_doc *doc, uint32_t lv);
/* The same, scanning the leaf from the run before the one the previous
 * call found (near_* in crdt_doc). */
crdt_cursor crdt__tree_cursor_lv_near(crdt_doc *doc, uint32_t lv);
/* Cursor after `pos` visible characters, placed right after the visible
 * character pos - 1 (before any tombstones that follow it). */
crdt_cursor crdt__tree_cursor_vis(crdt_doc *doc, size_t pos);
/* Cursor before visible character pos (pos < length). */
crdt_cursor crdt__tree_cursor_vis_at(crdt_doc *doc, size_t pos);
/* The same without touching the cache when `cache` is NULL (const paths). */
crdt_cursor crdt__tree_cursor_vis_at_ro(const crdt_doc *doc, crdt_doc *cache, size_t pos);
/* Forget the cursor cache (any change not made through a local edit). */
void crdt__tree_cache_reset(crdt_doc *doc);
/* LV of the character at the cursor, or CRDT_NONE at the document end
 * (*c is normalized first, see crdt__tree_norm). */
uint32_t crdt__tree_lv_at(const crdt_doc *doc, crdt_cursor *c);
/* Normalize: move an end-of-leaf cursor to the next leaf start. Returns
 * false at the end of the document. */
bool crdt__tree_norm(const crdt_doc *doc, crdt_cursor *c);
/* Whether `run`, whose left origin is the last character of run r, can
 * join r (the tree's and the list's rule): LVs and text contiguous, both
 * visible or both deleted, non-ASCII text within CRDT_NONASCII_RUN_MAX. */
static inline bool crdt__run_can_extend(const crdt_run *r, const crdt_run *run)
{
    if (r->del != run->del || r->lv + r->len != run->lv ||
        (!r->del && r->byte_off + r->byte_len != run->byte_off))
        return false;
    bool ascii = r->byte_len == r->len && run->byte_len == run->len;
    if (!ascii && r->len + run->len > CRDT_NONASCII_RUN_MAX)
        return false;
    return (uint64_t)r->len + run->len < (1u << 31);
}
/* The first run of the n characters [lv, lv + n) that crdt__doc_place
 * (or a load's list) places after `left`, their text (when not deleted)
 * at arena[byte_off ..): all n when ascii or deleted, else at most
 * CRDT_NONASCII_RUN_MAX, with their bytes and 4-byte code points counted. */
static inline crdt_run crdt__run_piece(const crdt_doc *doc, uint32_t left, uint32_t lv, uint32_t n,
                                       uint32_t byte_off, bool ascii, bool deleted)
{
    uint32_t k = ascii || n <= CRDT_NONASCII_RUN_MAX ? n : CRDT_NONASCII_RUN_MAX;
    uint32_t kb = deleted ? 0 : ascii ? k : (uint32_t)crdt__text_bytes(doc->arena + byte_off, k);
    return (crdt_run){.lv = lv,
                      .len = k,
                      .del = deleted,
                      .byte_off = deleted ? 0 : byte_off,
                      .byte_len = kb,
                      .astral = deleted || ascii ? 0 : crdt__utf8_astral(doc->arena + byte_off, kb),
                      .cont = left != CRDT_NONE && left == lv - 1};
}
/* Run r cut at offset off (0 < off < len) into a and b. */
void crdt__run_split(const crdt_doc *doc, const crdt_run *r, uint32_t off, crdt_run *a,
                     crdt_run *b);

/* A node of the load list (listload.c): a run and its neighbours. */
typedef struct crdt_lnode {
    crdt_run r;
    uint32_t prev, next;
} crdt_lnode;
/* Build the tree of an empty replica from `nruns` runs in document order:
 * the list from node `head` through `next`. The runs are spread evenly over
 * leaves of about CRDT_BUILD_FILL runs: room for a quarter more before a
 * leaf splits, as after random inserts. */
#define CRDT_BUILD_FILL (CRDT_LEAF_MAX * 3 / 4)
int crdt__tree_build(crdt_doc *doc, const crdt_lnode *v, uint32_t head, uint32_t nruns);

/* listload.c: a load into an empty replica places its inserts in a list
 * while none is concurrent. crdt__list_begin starts one (room for about
 * `guess` runs); crdt__list_insert places an insert (1), finds it
 * concurrent and changes nothing (0) or runs out of memory (-1);
 * crdt__list_delete checks a delete of LVs [t, t + n): all deleted
 * characters already, so nothing to do (1), one visible, for the tree to
 * delete (0), or one not an inserted character (-1); crdt__list_build turns
 * the list into the tree; crdt__list_end frees it (both end list mode). */
int crdt__list_begin(crdt_doc *doc, uint32_t guess);
int crdt__list_insert(crdt_doc *doc, uint32_t left, uint32_t right, uint32_t lv, uint32_t n,
                      uint32_t byte_off, uint32_t byte_len, bool deleted);
int crdt__list_delete(crdt_doc *doc, uint32_t t, uint32_t n);
int crdt__list_build(crdt_doc *doc);
void crdt__list_end(crdt_doc *doc);

/* Insert a run before cursor `c`; returns the cursor just after it. Needs
 * reserved capacity (crdt__tree_reserve; cannot fail). */
crdt_cursor crdt__tree_insert(crdt_doc *doc, crdt_cursor c, crdt_run run);
/* Extend the run that ends just before cursor `c` with `run` if that keeps
 * runs valid (lv and text contiguous, both visible, and `run`'s left origin
 * is the run's last character). */
bool crdt__tree_try_extend(crdt_doc *doc, crdt_cursor c, const crdt_run *run);
/* The tree's part of a keystroke typed where the last local insert ended
 * (crdt_doc_insert's fast path): when the hint says that visible position
 * pos is right after the run of LV next_lv - 1, that run is visible ASCII
 * text ending at arena_len, and the character after it is `right`, grow
 * the run by one character (LV next_lv, byte arena_len) and return true;
 * otherwise change nothing and return false. Needs lv_leaf room for
 * next_lv. */
bool crdt__tree_type_tail(crdt_doc *doc, size_t pos, uint32_t right);
/* Mark the characters [c.off, c.off + len) of the visible run at cursor c
 * deleted, merging the result with deleted neighbours. Returns the cursor
 * just after them (after the tombstone run that now holds them). Needs
 * reserved capacity. */
crdt_cursor crdt__tree_delete_at(crdt_doc *doc, crdt_cursor c, uint32_t len);
/* Remember cursor c, after `pos` visible characters, as where the last
 * local edit ended (see hint_* in crdt_doc). */
void crdt__tree_hint_set(crdt_doc *doc, crdt_cursor c, uint32_t pos);
/* Characters from lv to the end of its run, whether they are deleted, and
 * (visible) a pointer to their text. */
uint32_t crdt__tree_seg(const crdt_doc *doc, uint32_t lv, bool *deleted, const uint8_t **text);
int crdt__tree_check(const crdt_doc *doc);

/* ------------------------------------------------------------ codec */

typedef struct crdt_wbuf {
    const crdt_allocator *alloc;
    uint8_t *p;
    size_t len, cap;
    int err;
} crdt_wbuf;

void crdt__wbuf_byte(crdt_wbuf *w, uint8_t b);
void crdt__wbuf_varint(crdt_wbuf *w, uint64_t v);
void crdt__wbuf_bytes(crdt_wbuf *w, const void *p, size_t n);

typedef struct crdt_rbuf {
    const uint8_t *p;
    size_t len, off;
} crdt_rbuf;

static inline bool crdt__rbuf_byte(crdt_rbuf *r, uint8_t *b)
{
    if (r->off >= r->len)
        return false;
    *b = r->p[r->off++];
    return true;
}
bool crdt__rbuf_varint_long(crdt_rbuf *r, uint64_t *v);
/* Most varints of an update are one byte (agent indexes, lengths, seq
 * deltas): those are read inline (always: left to the compiler, a state
 * load made a call per varint), the rest out of line, with the same
 * checks. */
static inline __attribute__((always_inline)) bool crdt__rbuf_varint(crdt_rbuf *r, uint64_t *v)
{
    if (r->off < r->len && r->p[r->off] < 0x80) {
        *v = r->p[r->off++];
        return true;
    }
    return crdt__rbuf_varint_long(r, v);
}
bool crdt__rbuf_bytes(crdt_rbuf *r, size_t n, const uint8_t **p);

/* inspect.c: the update reader (FORMAT.md, "Update"), used by apply.c and
 * crdt_update_inspect. It allocates nothing and checks every field it
 * reads; what it cannot check without memory (agent names distinct, no id
 * twice) is apply.c's. Use: crdt__upd_begin, crdt__upd_agent `nagents`
 * times, crdt__upd_nops, crdt__upd_op `nops` times, crdt__upd_end. A copy of
 * the reader resumes reading from where the original was. */

/* One op of an update, its optional fields resolved. */
typedef struct crdt_uop {
    uint8_t kind; /* CRDT_KIND_* of format_int.h */
    uint32_t ag, seq, len;
    uint32_t lag, lseq;  /* left origin, lag = CRDT_NONE for the start */
    uint32_t rag, rseq;  /* right origin (bound), rag = CRDT_NONE for the end */
    uint32_t tag, tseq;  /* delete target */
    const uint8_t *text; /* kind CRDT_KIND_INS: nbytes of valid UTF-8, len code points */
    uint32_t nbytes;
} crdt_uop;

/* The columns of a packed state (FORMAT.md, "Packed full state"). */
enum {
    CRDT_COL_HDR,
    CRDT_COL_IDS,
    CRDT_COL_LENS,
    CRDT_COL_LEFT,
    CRDT_COL_RIGHT,
    CRDT_COL_TARGET,
    CRDT_COL_TEXT,
    CRDT_NCOLS
};

typedef struct crdt_upd_reader {
    crdt_rbuf r;
    /* A packed state read in place (crdt__state_reader): the op fields come
     * from the unpacked columns instead of r, references relative to the
     * op's seq, text byte counts from the code points. */
    bool packed;
    bool text_ascii; /* packed: the text column is all ASCII */
    crdt_rbuf col[CRDT_NCOLS];
    uint32_t nagents, read_agents; /* agent table size, names read */
    uint32_t nops, read_ops;       /* ops announced, ops read */
    /* the previous op, for the SAME and RIGHT_SAME flags */
    bool prev_ins;
    uint32_t prev_ag, prev_end, prev_rag, prev_rseq;
} crdt_upd_reader;

/* Magic, format version and agent count (at most one per 2 bytes left).
 * Returns CRDT_OK, CRDT_EBADUPDATE or CRDT_EVERSION. */
int crdt__upd_begin(crdt_upd_reader *rd, const uint8_t *data, size_t len);
/* The next agent name (*name points into the input). False if malformed. */
bool crdt__upd_agent(crdt_upd_reader *rd, const uint8_t **name, uint32_t *len);
/* After the agent table: the op count (at most one per 2 bytes left). */
bool crdt__upd_nops(crdt_upd_reader *rd);
/* The next op, every field validated (agent indexes in the table, seqs and
 * lengths in range, text valid UTF-8 of exactly len code points). */
bool crdt__upd_op(crdt_upd_reader *rd, crdt_uop *op);
/* After the last op: whether the input ends there. */
bool crdt__upd_end(const crdt_upd_reader *rd);

/* version.c */
struct crdt_version_agent {
    uint8_t name_len;
    char name[CRDT_AGENT_MAX];
    uint32_t nranges, cap;
    uint32_t *ranges; /* pairs [start, end) sorted */
};

struct crdt_version {
    crdt_allocator alloc;
    struct crdt_version_agent *agents; /* sorted by name */
    uint32_t nagents, cap;
};

/* Find the agent entry in v (NULL if none). */
const struct crdt_version_agent *crdt__version_agent_find(const crdt_version *v, const char *name,
                                                          size_t len);
/* Whether the agent's ranges (va may be NULL) contain seq; *run_end gets
 * the end of the containing range, or else the start of the next range
 * (UINT32_MAX if none): the seqs up to *run_end share the answer. */
bool crdt__version_agent_has(const struct crdt_version_agent *va, uint32_t seq, uint32_t *run_end);

/* lzh.c: the column coder of packed states. Encode appends the code of
 * p[0..n) to w (w->err on failure); decode fills exactly out[0..n) from
 * in[0..in_len), which it must use up exactly (CRDT_EBADUPDATE otherwise). */
int crdt__lzh_encode(const crdt_allocator *a, const uint8_t *p, size_t n, crdt_wbuf *w);
int crdt__lzh_decode(const uint8_t *in, size_t in_len, uint8_t *out, size_t n);

/* packed.c. Pack a version 1 full state: *out gets the version 2 bytes, or
 * NULL when they would not be shorter (keep version 1). Unpack a version 2
 * state into the version 1 bytes it was packed from (CRDT_EBADUPDATE,
 * CRDT_ELIMIT or CRDT_ENOMEM otherwise). */
int crdt__state_pack(const crdt_allocator *a, const uint8_t *v1, size_t n, uint8_t **out,
                     size_t *out_len);
int crdt__state_unpack(const crdt_allocator *a, const uint8_t *data, size_t len, uint8_t **out,
                       size_t *out_len);
/* Start reading a packed state with the update reader, straight from its
 * columns (what apply does: no version 1 bytes are rebuilt). *cols gets
 * the unpacked columns, which the ops read point into; free them after
 * the last use of those ops. The same checks and results as reading
 * crdt__state_unpack's output with crdt__upd_begin. */
int crdt__state_reader(const crdt_allocator *a, const uint8_t *data, size_t len,
                       crdt_upd_reader *rd, uint8_t **cols);
/* Whether update bytes are a packed state. */
static inline bool crdt__is_packed(const uint8_t *data, size_t len)
{
    return len >= 2 && data[0] == 0xD5 && data[1] == 2;
}

/* encode.c */
int crdt__encode_lv_range(const crdt_doc *doc, uint32_t from, const crdt_version *skip,
                          uint8_t **out, size_t *out_len);

void crdt__id_fill(const crdt_doc *doc, uint32_t agent, uint32_t seq, crdt_id *id);

#endif
