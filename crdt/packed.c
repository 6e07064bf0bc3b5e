/* packed.c - the packed full state (format version 2, FORMAT.md "Packed
 * full state"): the ops of a version 1 update split into columns (headers,
 * ids, lengths, left origins, bounds, delete targets, text), references
 * written relative to the op's own seq, each column compressed by lzh.c.
 *
 * Packing reads a version 1 update with the reader of inspect.c. Reading
 * goes through that reader too, so version 2 adds no second interpretation
 * of an op: crdt__state_unpack rebuilds exactly the version 1 bytes (for
 * crdt_update_inspect), crdt__state_reader hands the reader the unpacked
 * columns, from which it takes the same fields with the same checks (for
 * apply, which saves the rebuild). The text of deleted characters is not in either
 * form (kind 1 ops carry none): merging needs only their ids and origins,
 * and a document's past text comes from the stored per-version updates,
 * which keep it. */
#include "crdt_int.h"
#include "format_int.h"

#include <string.h>

enum {
    COL_HDR = CRDT_COL_HDR,
    COL_IDS = CRDT_COL_IDS,
    COL_LENS = CRDT_COL_LENS,
    COL_LEFT = CRDT_COL_LEFT,
    COL_RIGHT = CRDT_COL_RIGHT,
    COL_TARGET = CRDT_COL_TARGET,
    COL_TEXT = CRDT_COL_TEXT,
    NCOLS = CRDT_NCOLS
};

/* Unpacked columns may hold at most this many bytes per byte of the packed
 * state: what a reader allocates stays proportional to its input. The
 * encoder keeps version 1 for a state that would pack tighter. */
#define PACK_RATIO_MAX 32u

enum { COL_STORED = 0, COL_LZH = 1 };

static uint64_t zigzag(int64_t v)
{
    return v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1 : (uint64_t)v << 1;
}

static void put_ref(crdt_wbuf *w, uint32_t ag, uint32_t seq, uint32_t base)
{
    crdt__wbuf_varint(w, ag);
    crdt__wbuf_varint(w, zigzag((int64_t)seq - (int64_t)base));
}

/* Column: varint n, then (n > 0) a mode byte and the stored bytes or
 * varint m and m bytes of lzh code, whichever is shorter. */
static int put_column(const crdt_allocator *a, crdt_wbuf *w, const crdt_wbuf *c)
{
    crdt__wbuf_varint(w, c->len);
    if (c->len == 0)
        return CRDT_OK;
    crdt_wbuf z = {.alloc = a};
    int rc = crdt__lzh_encode(a, c->p, c->len, &z);
    if (rc == CRDT_OK && z.len + 5 < c->len) {
        crdt__wbuf_byte(w, COL_LZH);
        crdt__wbuf_varint(w, z.len);
        crdt__wbuf_bytes(w, z.p, z.len);
    } else if (rc == CRDT_OK) {
        crdt__wbuf_byte(w, COL_STORED);
        crdt__wbuf_bytes(w, c->p, c->len);
    }
    crdt__mem_free(a, z.p);
    return rc ? rc : w->err;
}

/* Split the ops into columns; `table_end` gets the offset after the op
 * count (agent table and count are copied as they are). */
static int split(const uint8_t *v1, size_t n, crdt_wbuf *col, size_t *table_end)
{
    crdt_upd_reader rd;
    int rc = crdt__upd_begin(&rd, v1, n);
    if (rc)
        return rc;
    for (uint32_t i = 0; i < rd.nagents; i++) {
        const uint8_t *name;
        uint32_t nl;
        if (!crdt__upd_agent(&rd, &name, &nl))
            return CRDT_EBADUPDATE;
    }
    if (!crdt__upd_nops(&rd))
        return CRDT_EBADUPDATE;
    *table_end = rd.r.off;
    for (uint32_t i = 0; i < rd.nops; i++) {
        uint8_t h = v1[rd.r.off];
        crdt_uop op;
        if (!crdt__upd_op(&rd, &op))
            return CRDT_EBADUPDATE;
        crdt__wbuf_byte(&col[COL_HDR], h);
        if (!(h & CRDT_OP_SAME)) {
            crdt__wbuf_varint(&col[COL_IDS], op.ag);
            crdt__wbuf_varint(&col[COL_IDS], op.seq);
        }
        crdt__wbuf_varint(&col[COL_LENS], op.len);
        if (op.kind == CRDT_KIND_DEL || op.kind == CRDT_KIND_DEL_REV) {
            put_ref(&col[COL_TARGET], op.tag, op.tseq, op.seq);
            continue;
        }
        if (!(h & (CRDT_OP_LEFT_PREV | CRDT_OP_LEFT_NONE)))
            put_ref(&col[COL_LEFT], op.lag, op.lseq, op.seq);
        if (!(h & (CRDT_OP_RIGHT_NONE | CRDT_OP_RIGHT_SAME)))
            put_ref(&col[COL_RIGHT], op.rag, op.rseq, op.seq);
        if (op.kind == CRDT_KIND_INS)
            crdt__wbuf_bytes(&col[COL_TEXT], op.text, op.nbytes);
    }
    return crdt__upd_end(&rd) ? CRDT_OK : CRDT_EBADUPDATE;
}

int crdt__state_pack(const crdt_allocator *a, const uint8_t *v1, size_t n, uint8_t **out,
                     size_t *out_len)
{
    *out = NULL;
    crdt_wbuf col[NCOLS], w = {.alloc = a};
    for (int c = 0; c < NCOLS; c++)
        col[c] = (crdt_wbuf){.alloc = a};
    size_t table_end = 0, total = 0;
    int rc = split(v1, n, col, &table_end);
    crdt__wbuf_byte(&w, CRDT_MAGIC_UPDATE);
    crdt__wbuf_byte(&w, CRDT_FORMAT_PACKED);
    if (rc == CRDT_OK)
        crdt__wbuf_bytes(&w, v1 + 2, table_end - 2);
    for (int c = 0; c < NCOLS; c++) {
        if (rc == CRDT_OK)
            rc = col[c].err ? col[c].err : put_column(a, &w, &col[c]);
        total += col[c].len;
        crdt__mem_free(a, col[c].p);
    }
    if (rc == CRDT_OK && w.err)
        rc = w.err;
    if (rc == CRDT_OK && w.len < n && total <= (uint64_t)PACK_RATIO_MAX * w.len) {
        *out = w.p;
        *out_len = w.len;
    } else {
        crdt__mem_free(a, w.p);
    }
    return rc;
}

/* ------------------------------------------------------------ unpack */

typedef struct ucol {
    uint64_t n;
    uint8_t mode;
    const uint8_t *p;
    size_t m;
} ucol;

/* Agent table and op count, checked as the update reader does. */
static bool read_table(crdt_rbuf *r, uint64_t *nops)
{
    uint64_t na, nl;
    const uint8_t *p;
    if (!crdt__rbuf_varint(r, &na) || na > (r->len - r->off) / 2)
        return false;
    for (uint64_t i = 0; i < na; i++)
        if (!crdt__rbuf_varint(r, &nl) || nl == 0 || nl > CRDT_AGENT_MAX ||
            !crdt__rbuf_bytes(r, (size_t)nl, &p))
            return false;
    return crdt__rbuf_varint(r, nops) && *nops <= UINT32_MAX;
}

static bool read_column(crdt_rbuf *r, ucol *c)
{
    uint64_t m;
    *c = (ucol){0};
    if (!crdt__rbuf_varint(r, &c->n))
        return false;
    if (c->n == 0)
        return true;
    if (!crdt__rbuf_byte(r, &c->mode))
        return false;
    if (c->mode == COL_STORED)
        m = c->n;
    else if (c->mode != COL_LZH || !crdt__rbuf_varint(r, &m))
        return false;
    if (m > r->len - r->off || !crdt__rbuf_bytes(r, (size_t)m, &c->p))
        return false;
    c->m = (size_t)m;
    return true;
}

typedef struct rebuild {
    crdt_rbuf col[NCOLS];
    crdt_wbuf *w;
} rebuild;

static bool copy_varint(rebuild *b, int c, uint64_t *v)
{
    if (!crdt__rbuf_varint(&b->col[c], v))
        return false;
    crdt__wbuf_varint(b->w, *v);
    return true;
}

/* (agent index, zigzag seq delta) -> (agent index, seq). */
static bool copy_ref(rebuild *b, int c, uint64_t base)
{
    uint64_t ag, z;
    if (!copy_varint(b, c, &ag) || !crdt__rbuf_varint(&b->col[c], &z))
        return false;
    uint64_t mag = z >> 1;
    if (z & 1 ? mag + 1 > base : base + mag > UINT32_MAX)
        return false;
    crdt__wbuf_varint(b->w, z & 1 ? base - mag - 1 : base + mag);
    return true;
}

/* The next `cps` code points of the text column, as varint nbytes and
 * bytes (only lead bytes are read here; the update reader validates). */
static bool copy_text(rebuild *b, uint64_t cps)
{
    crdt_rbuf *t = &b->col[COL_TEXT];
    size_t start = t->off, at = t->off;
    for (uint64_t k = 0; k < cps; k++) {
        if (at >= t->len)
            return false;
        uint8_t c = t->p[at];
        at += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    }
    if (at > t->len)
        return false;
    t->off = at;
    crdt__wbuf_varint(b->w, at - start);
    crdt__wbuf_bytes(b->w, t->p + start, at - start);
    return true;
}

static bool rebuild_ops(rebuild *b, uint64_t nops)
{
    uint64_t prev_end = 0, v;
    for (uint64_t i = 0; i < nops; i++) {
        uint8_t h;
        uint64_t seq = prev_end, len;
        if (!crdt__rbuf_byte(&b->col[COL_HDR], &h))
            return false;
        crdt__wbuf_byte(b->w, h);
        if (!(h & CRDT_OP_SAME) && (!copy_varint(b, COL_IDS, &v) || !copy_varint(b, COL_IDS, &seq)))
            return false;
        if (!copy_varint(b, COL_LENS, &len) || seq > UINT32_MAX || len > UINT32_MAX)
            return false;
        uint8_t kind = h & CRDT_OP_KIND_MASK;
        if (kind == CRDT_KIND_DEL || kind == CRDT_KIND_DEL_REV) {
            if (!copy_ref(b, COL_TARGET, seq))
                return false;
        } else {
            if (!(h & (CRDT_OP_LEFT_PREV | CRDT_OP_LEFT_NONE)) && !copy_ref(b, COL_LEFT, seq))
                return false;
            if (!(h & (CRDT_OP_RIGHT_NONE | CRDT_OP_RIGHT_SAME)) && !copy_ref(b, COL_RIGHT, seq))
                return false;
            if (kind == CRDT_KIND_INS && !copy_text(b, len))
                return false;
        }
        prev_end = seq + len;
    }
    for (int c = 0; c < NCOLS; c++)
        if (b->col[c].off != b->col[c].len)
            return false;
    return true;
}

/* Agent table, column headers and the columns unpacked into *buf (one
 * allocation); col[k] reads column k. *table_end: where the agent table's
 * op count ends. */
static int columns_open(const crdt_allocator *a, const uint8_t *data, size_t len, size_t *table_end,
                        uint64_t *nops, uint8_t **buf, crdt_rbuf *col)
{
    crdt_rbuf r = {data, len, 2};
    ucol c[NCOLS];
    uint64_t total = 0;
    *buf = NULL;
    if (len < 2 || !read_table(&r, nops))
        return CRDT_EBADUPDATE;
    *table_end = r.off;
    for (int k = 0; k < NCOLS; k++) {
        if (!read_column(&r, &c[k]))
            return CRDT_EBADUPDATE;
        total += c[k].n;
    }
    if (r.off != len)
        return CRDT_EBADUPDATE;
    if (total > (uint64_t)PACK_RATIO_MAX * len)
        return CRDT_ELIMIT;
    *buf = crdt__mem_alloc(a, total ? (size_t)total : 1);
    if (!*buf)
        return CRDT_ENOMEM;
    size_t at = 0;
    int rc = CRDT_OK;
    for (int k = 0; k < NCOLS && rc == CRDT_OK; k++) {
        if (c[k].mode == COL_LZH)
            rc = crdt__lzh_decode(c[k].p, c[k].m, *buf + at, (size_t)c[k].n);
        else if (c[k].n)
            memcpy(*buf + at, c[k].p, (size_t)c[k].n);
        col[k] = (crdt_rbuf){*buf + at, (size_t)c[k].n, 0};
        at += (size_t)c[k].n;
    }
    /* every op has a header byte, so nops is bounded */
    if (rc == CRDT_OK && *nops > c[COL_HDR].n)
        rc = CRDT_EBADUPDATE;
    if (rc) {
        crdt__mem_free(a, *buf);
        *buf = NULL;
    }
    return rc;
}

int crdt__state_unpack(const crdt_allocator *a, const uint8_t *data, size_t len, uint8_t **out,
                       size_t *out_len)
{
    rebuild b;
    uint8_t *buf;
    size_t table_end;
    uint64_t nops;
    int rc = columns_open(a, data, len, &table_end, &nops, &buf, b.col);
    if (rc)
        return rc;
    size_t total = 0;
    for (int k = 0; k < NCOLS; k++)
        total += b.col[k].len;
    crdt_wbuf w = {.alloc = a};
    b.w = &w;
    /* Room for the usual case at once (no copies while growing): the
     * columns, plus per op a text byte count and references that grow from
     * deltas to seqs. */
    w.cap = table_end + total + 8 * (size_t)nops;
    w.p = crdt__mem_alloc(a, w.cap);
    if (!w.p)
        rc = CRDT_ENOMEM;
    if (rc == CRDT_OK) {
        crdt__wbuf_byte(&w, CRDT_MAGIC_UPDATE);
        crdt__wbuf_byte(&w, CRDT_FORMAT_VERSION);
        crdt__wbuf_bytes(&w, data + 2, table_end - 2);
        if (!rebuild_ops(&b, nops))
            rc = CRDT_EBADUPDATE;
        else if (w.err)
            rc = w.err;
    }
    crdt__mem_free(a, buf);
    if (rc) {
        crdt__mem_free(a, w.p);
        return rc;
    }
    *out = w.p;
    *out_len = w.len;
    return CRDT_OK;
}

int crdt__state_reader(const crdt_allocator *a, const uint8_t *data, size_t len,
                       crdt_upd_reader *rd, uint8_t **cols)
{
    size_t table_end;
    uint64_t nops;
    *rd = (crdt_upd_reader){.packed = true};
    int rc = columns_open(a, data, len, &table_end, &nops, cols, rd->col);
    if (rc)
        return rc;
    /* The agent table and op count are read from the state itself, as the
     * version 1 reader reads them (crdt__upd_begin, crdt__upd_nops). */
    rd->r = (crdt_rbuf){data, table_end, 2};
    uint64_t n;
    if (!crdt__rbuf_varint(&rd->r, &n) || n > (rd->r.len - rd->r.off) / 2 || n > UINT32_MAX) {
        crdt__mem_free(a, *cols);
        *cols = NULL;
        return CRDT_EBADUPDATE;
    }
    rd->nagents = (uint32_t)n;
    /* An all-ASCII text column (the usual one) spares every insert a walk
     * over its code points and a UTF-8 validation (see read_text). */
    const crdt_rbuf *t = &rd->col[CRDT_COL_TEXT];
    uint64_t w, hi = 0;
    size_t i = 0;
    for (; t->len - i >= 8; i += 8) {
        memcpy(&w, t->p + i, 8);
        hi |= w;
    }
    for (; i < t->len; i++)
        hi |= t->p[i];
    rd->text_ascii = !(hi & 0x8080808080808080ull);
    return CRDT_OK;
}
