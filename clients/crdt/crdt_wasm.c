/* crdt_wasm.c - the WebAssembly boundary of libcrdt (crdt/crdt.h).
 *
 * Compiled only for wasm32-wasi (see CMakeLists.txt here) together with the crdt sources;
 * crdt.mjs is its only caller. Every export takes and returns 32-bit
 * integers so that JavaScript needs no BigInt: sizes and offsets fit in 32
 * bits on wasm32, and the CRDT keeps fewer than 2^32 operations.
 *
 * Results that are buffers are returned through `out`, a pointer to two
 * uint32 slots in linear memory that the caller owns: out[0] = address,
 * out[1] = byte length. The caller frees such a buffer with
 * crdt_wasm_free(). Calls that can fail return 0 or a negative CRDT_E* code.
 * Nothing here touches stdio, so the module imports nothing. */
#include "crdt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The exports are this file's interface, declared to JavaScript by crdt.mjs;
 * there is no C caller that a header would serve. */
#pragma clang diagnostic ignored "-Wmissing-prototypes"
#define EXPORT(name) __attribute__((export_name(#name)))

/* The C library's copies, for the library's own callers too (realloc moves a
 * growing array with memcpy). wasi-libc is built for plain wasm32, so its
 * memcpy is a loop of loads and stores, which the engine runs in its baseline
 * tier for most of a page's first edits: a tenth of the first replay of a long
 * trace. Built with -mbulk-memory, each body below is one memory.copy or
 * memory.fill instruction, not a call back into these functions. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    __builtin_memcpy(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    __builtin_memmove(dst, src, n);
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    __builtin_memset(dst, c, n);
    return dst;
}

EXPORT(crdt_wasm_alloc) void *crdt_wasm_alloc(size_t size)
{
    return malloc(size ? size : 1);
}

EXPORT(crdt_wasm_free) void crdt_wasm_free(void *p)
{
    free(p);
}

/* The static description of a code; read it as a NUL-terminated string. */
EXPORT(crdt_wasm_strerror) const char *crdt_wasm_strerror(int err)
{
    return crdt_strerror(err);
}

static void set_out(uint32_t *out, const void *p, size_t len)
{
    out[0] = (uint32_t)(uintptr_t)p;
    out[1] = (uint32_t)len;
}

/* A new document for `agent` in *out[0]. */
EXPORT(crdt_wasm_doc_new) int crdt_wasm_doc_new(const char *agent, size_t agent_len, uint32_t *out)
{
    crdt_doc *doc = NULL;
    int rc = crdt_doc_new(NULL, agent, agent_len, &doc);
    set_out(out, doc, 0);
    return rc;
}

EXPORT(crdt_wasm_doc_free) void crdt_wasm_doc_free(crdt_doc *doc)
{
    crdt_doc_free(doc);
}

/* crdt_doc_set_agent; seq < 0 means CRDT_SEQ_AUTO. */
EXPORT(crdt_wasm_set_agent)
int crdt_wasm_set_agent(crdt_doc *doc, const char *agent, size_t agent_len, double seq)
{
    uint64_t s = seq < 0 ? CRDT_SEQ_AUTO : (uint64_t)seq;
    return crdt_doc_set_agent(doc, agent, agent_len, s);
}

/* Insert UTF-8 text before code point `pos`. */
EXPORT(crdt_wasm_insert)
int crdt_wasm_insert(crdt_doc *doc, size_t pos, const char *utf8, size_t len)
{
    return crdt_doc_insert(doc, pos, utf8, len);
}

/* Delete `count` code points at code point `pos`. */
EXPORT(crdt_wasm_delete) int crdt_wasm_delete(crdt_doc *doc, size_t pos, size_t count)
{
    return crdt_doc_delete(doc, pos, count);
}

/* UTF-16 offset -> code point offset. While the visible text has no
 * character above U+FFFF (both lengths equal, O(1) to check) the two are the
 * same number, which spares a tree descent per edit in the common case. */
static int to_pos(const crdt_doc *doc, size_t off16, size_t *pos)
{
    if (crdt_doc_utf16_length(doc) == crdt_doc_length(doc)) {
        *pos = off16;
        return off16 <= crdt_doc_length(doc) ? CRDT_OK : CRDT_EINVAL;
    }
    return crdt_doc_utf16_to_pos(doc, off16, pos);
}

/* Insert UTF-8 text at UTF-16 offset `off16` (a JavaScript string index). */
EXPORT(crdt_wasm_insert_utf16)
int crdt_wasm_insert_utf16(crdt_doc *doc, size_t off16, const char *utf8, size_t len)
{
    size_t pos;
    int rc = to_pos(doc, off16, &pos);
    return rc ? rc : crdt_doc_insert(doc, pos, utf8, len);
}

/* One ASCII character (a keystroke) at UTF-16 offset `off16`, passed as a
 * number: the caller writes nothing into memory for it, which is most of a
 * keystroke's cost in JavaScript before the engine has optimised the
 * wrapper. */
EXPORT(crdt_wasm_insert_ascii_utf16)
int crdt_wasm_insert_ascii_utf16(crdt_doc *doc, size_t off16, int ch)
{
    if (ch < 0 || ch >= 0x80)
        return CRDT_EINVAL;
    char c = (char)ch;
    size_t pos;
    int rc = to_pos(doc, off16, &pos);
    return rc ? rc : crdt_doc_insert(doc, pos, &c, 1);
}

/* Delete the UTF-16 range [off16, off16 + count16). Both ends must fall on
 * code point boundaries. */
EXPORT(crdt_wasm_delete_utf16)
int crdt_wasm_delete_utf16(crdt_doc *doc, size_t off16, size_t count16)
{
    size_t start, end;
    int rc = to_pos(doc, off16, &start);
    if (rc == 0) {
        rc = off16 + count16 < off16 ? CRDT_EINVAL : to_pos(doc, off16 + count16, &end);
    }
    return rc ? rc : crdt_doc_delete(doc, start, end - start);
}

/* Lengths: 0 = code points, 1 = UTF-8 bytes, 2 = UTF-16 units. */
EXPORT(crdt_wasm_length) size_t crdt_wasm_length(const crdt_doc *doc, int unit)
{
    switch (unit) {
    case 0:
        return crdt_doc_length(doc);
    case 1:
        return crdt_doc_byte_length(doc);
    default:
        return crdt_doc_utf16_length(doc);
    }
}

/* The UTF-8 text in out (caller frees out[0]). */
EXPORT(crdt_wasm_text) int crdt_wasm_text(const crdt_doc *doc, uint32_t *out)
{
    char *p = NULL;
    size_t len = 0;
    int rc = crdt_doc_text(doc, &p, &len);
    set_out(out, p, len);
    return rc;
}

/* Copy the UTF-8 text into buf (cap bytes); out[1] = bytes needed. Avoids a
 * malloc per read when the caller keeps a buffer. */
EXPORT(crdt_wasm_read) int crdt_wasm_read(const crdt_doc *doc, char *buf, size_t cap, uint32_t *out)
{
    size_t len = 0;
    int rc = crdt_doc_read(doc, 0, crdt_doc_length(doc), buf, cap, &len);
    set_out(out, buf, len);
    return rc;
}

EXPORT(crdt_wasm_utf16_to_pos)
int crdt_wasm_utf16_to_pos(const crdt_doc *doc, size_t off16, uint32_t *out)
{
    size_t pos = 0;
    int rc = crdt_doc_utf16_to_pos(doc, off16, &pos);
    set_out(out, NULL, pos);
    return rc;
}

EXPORT(crdt_wasm_pos_to_utf16)
int crdt_wasm_pos_to_utf16(const crdt_doc *doc, size_t pos, uint32_t *out)
{
    size_t off16 = 0;
    int rc = crdt_doc_pos_to_utf16(doc, pos, &off16);
    set_out(out, NULL, off16);
    return rc;
}

/* Encodings, each a caller-owned buffer in out: 0 = full state,
 * 1 = version. */
EXPORT(crdt_wasm_encode) int crdt_wasm_encode(const crdt_doc *doc, int what, uint32_t *out)
{
    uint8_t *p = NULL;
    size_t len = 0;
    int rc =
        what == 0 ? crdt_doc_encode_state(doc, &p, &len) : crdt_doc_encode_version(doc, &p, &len);
    set_out(out, p, len);
    return rc;
}

/* Everything the encoded version `vbytes` lacks (a delta) in out. */
EXPORT(crdt_wasm_encode_since)
int crdt_wasm_encode_since(const crdt_doc *doc, const uint8_t *vbytes, size_t vlen, uint32_t *out)
{
    crdt_version *v = NULL;
    uint8_t *p = NULL;
    size_t len = 0;
    int rc = crdt_version_new(NULL, &v);
    if (rc == 0) {
        rc = crdt_version_decode(v, vbytes, vlen);
    }
    if (rc == 0) {
        rc = crdt_doc_encode_since(doc, v, &p, &len);
    }
    crdt_version_free(v);
    set_out(out, p, len);
    return rc;
}

/* crdt_doc_mark; fits in 32 bits (fewer than 2^32 operations). */
EXPORT(crdt_wasm_mark) uint32_t crdt_wasm_mark(const crdt_doc *doc)
{
    return (uint32_t)crdt_doc_mark(doc);
}

EXPORT(crdt_wasm_encode_since_mark)
int crdt_wasm_encode_since_mark(const crdt_doc *doc, uint32_t mark, uint32_t *out)
{
    uint8_t *p = NULL;
    size_t len = 0;
    int rc = crdt_doc_encode_since_mark(doc, mark, &p, &len);
    set_out(out, p, len);
    return rc;
}

/* Apply an update. On CRDT_EMISSING, `missing` (CRDT_AGENT_MAX + 16 bytes of
 * the caller's, may be NULL) receives the agent name length (uint32), the
 * seq (uint32; seqs are below 2^32 - 1) and the name bytes. */
EXPORT(crdt_wasm_apply)
int crdt_wasm_apply(crdt_doc *doc, const uint8_t *data, size_t len, uint8_t *missing)
{
    crdt_id id;
    /* crdt_doc_apply_changes without a callback is crdt_doc_apply; one entry
     * for both exports keeps the integration loop in one function, which the
     * browser's baseline wasm code runs faster than split into calls. */
    int rc = crdt_doc_apply_changes(doc, data, len, &id, NULL, NULL);
    if (rc == CRDT_EMISSING && missing) {
        uint32_t head[2] = {(uint32_t)id.agent_len, (uint32_t)id.seq};
        memcpy(missing, head, sizeof head);
        memcpy(missing + sizeof head, id.agent, id.agent_len);
    }
    return rc;
}

/* The visible changes of crdt_wasm_apply_changes, as the caller reads them:
 * a uint32 count, then per change uint32 pos16, del16 and nbytes, then the
 * nbytes of inserted UTF-8 text. Past CHANGES_MAX bytes (a large catch-up)
 * or without memory the list is dropped: the caller reads the whole text. */
#define CHANGES_MAX ((size_t)1 << 20)

typedef struct changes {
    uint8_t *p;
    size_t len, cap;
    uint32_t count;
    int dropped;
} changes;

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof v); /* wasm32 is little-endian */
}

static void on_change(void *ctx, const crdt_change *c)
{
    changes *b = ctx;
    size_t need = 12 + c->text_len;
    if (b->dropped)
        return;
    if (need > CHANGES_MAX - b->len) {
        b->dropped = 1;
        return;
    }
    if (b->len + need > b->cap) {
        size_t cap = 2 * (b->len + need);
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->dropped = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *w = b->p + b->len;
    put_u32(w, (uint32_t)c->pos16);
    put_u32(w + 4, (uint32_t)c->del16);
    put_u32(w + 8, (uint32_t)c->text_len);
    if (c->text_len)
        memcpy(w + 12, c->text, c->text_len);
    b->len += need;
    b->count++;
}

/* crdt_wasm_apply that also reports the visible changes it made (crdt.h,
 * crdt_doc_apply_changes): on success out holds the list described above
 * (caller frees out[0]), or out[0] = 0 when it was dropped. */
EXPORT(crdt_wasm_apply_changes)
int crdt_wasm_apply_changes(crdt_doc *doc, const uint8_t *data, size_t len, uint8_t *missing,
                            uint32_t *out)
{
    changes b = {.p = malloc(64), .len = 4, .cap = 64};
    b.dropped = b.p == NULL;
    crdt_id id;
    int rc = crdt_doc_apply_changes(doc, data, len, &id, on_change, &b);
    if (rc == CRDT_EMISSING && missing) {
        uint32_t head[2] = {(uint32_t)id.agent_len, (uint32_t)id.seq};
        memcpy(missing, head, sizeof head);
        memcpy(missing + sizeof head, id.agent, id.agent_len);
    }
    if (rc != CRDT_OK || b.dropped) {
        free(b.p);
        set_out(out, NULL, 0);
        return rc;
    }
    put_u32(b.p, b.count);
    set_out(out, b.p, b.len);
    return rc;
}

/* The anchor of UTF-16 offset off16 (crdt.h, ANCHORS) into `out`:
 * [u32 agent_len][u32 seq][u32 side][agent bytes]. */
EXPORT(crdt_wasm_anchor)
int crdt_wasm_anchor(crdt_doc *doc, size_t off16, int assoc, uint8_t *out)
{
    size_t pos = 0;
    crdt_anchor a;
    int rc = crdt_doc_utf16_to_pos(doc, off16, &pos);
    if (rc == CRDT_OK)
        rc = crdt_doc_anchor(doc, pos, assoc, &a);
    if (rc == CRDT_OK) {
        uint32_t head[3] = {(uint32_t)a.id.agent_len, (uint32_t)a.id.seq, (uint32_t)a.side};
        memcpy(out, head, sizeof head);
        memcpy(out + sizeof head, a.id.agent, a.id.agent_len);
    }
    return rc;
}

/* The UTF-16 offset an anchor points at now, in out[1]. */
EXPORT(crdt_wasm_anchor_pos)
int crdt_wasm_anchor_pos(const crdt_doc *doc, const char *agent, size_t agent_len, double seq,
                         int side, uint32_t *out)
{
    crdt_anchor a;
    memset(&a, 0, sizeof a);
    if (agent_len > CRDT_AGENT_MAX || !(seq >= 0 && seq < 4294967295.0))
        return CRDT_EINVAL;
    memcpy(a.id.agent, agent, agent_len);
    a.id.agent_len = agent_len;
    a.id.seq = (uint64_t)seq;
    a.side = side;
    size_t pos = 0, off16 = 0;
    int rc = crdt_doc_anchor_pos(doc, &a, &pos);
    if (rc == CRDT_OK)
        rc = crdt_doc_pos_to_utf16(doc, pos, &off16);
    set_out(out, NULL, off16);
    return rc;
}

EXPORT(crdt_wasm_check) int crdt_wasm_check(const crdt_doc *doc)
{
    return crdt_doc_check(doc);
}
