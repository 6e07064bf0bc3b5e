/* inspect.c - the one reader of the update format (FORMAT.md, "Update"),
 * shared by crdt_doc_apply (apply.c), and crdt_update_inspect, which reads
 * an update without applying it: which operation ids it introduces and how
 * many operations it adds.
 *
 * The reader walks the bytes once, checks every field it reads, and
 * allocates nothing: op counts and lengths are only compared with what
 * remains of the input, so a claimed count never sizes anything here. */
#include "crdt_int.h"
#include "format_int.h"

#include <stdlib.h>
#include <string.h>

int crdt__upd_begin(crdt_upd_reader *rd, const uint8_t *data, size_t len)
{
    *rd = (crdt_upd_reader){.r = {data, len, 0}};
    uint8_t magic, ver;
    uint64_t n;
    if (!crdt__rbuf_byte(&rd->r, &magic) || magic != CRDT_MAGIC_UPDATE ||
        !crdt__rbuf_byte(&rd->r, &ver))
        return CRDT_EBADUPDATE;
    if (ver != CRDT_FORMAT_VERSION)
        return CRDT_EVERSION;
    /* an agent takes at least 2 bytes */
    if (!crdt__rbuf_varint(&rd->r, &n) || n > (rd->r.len - rd->r.off) / 2 || n > UINT32_MAX)
        return CRDT_EBADUPDATE;
    rd->nagents = (uint32_t)n;
    return CRDT_OK;
}

bool crdt__upd_agent(crdt_upd_reader *rd, const uint8_t **name, uint32_t *len)
{
    uint64_t nl;
    if (rd->read_agents >= rd->nagents || !crdt__rbuf_varint(&rd->r, &nl) || nl == 0 ||
        nl > CRDT_AGENT_MAX || !crdt__rbuf_bytes(&rd->r, (size_t)nl, name))
        return false;
    *len = (uint32_t)nl;
    rd->read_agents++;
    return true;
}

bool crdt__upd_nops(crdt_upd_reader *rd)
{
    uint64_t n;
    /* an op takes at least 2 bytes (packed: a header byte of its own) */
    if (rd->read_agents != rd->nagents || !crdt__rbuf_varint(&rd->r, &n) ||
        n > (rd->packed ? rd->col[CRDT_COL_HDR].len : (rd->r.len - rd->r.off) / 2) ||
        n > UINT32_MAX)
        return false;
    rd->nops = (uint32_t)n;
    return true;
}

/* Where a field of kind `col` comes from: its column in a packed state,
 * else the update itself. */
static crdt_rbuf *src(crdt_upd_reader *rd, int col)
{
    return rd->packed ? &rd->col[col] : &rd->r;
}

static bool read_id_from(crdt_upd_reader *rd, crdt_rbuf *r, uint32_t *ag, uint32_t *seq)
{
    uint64_t a, s;
    if (!crdt__rbuf_varint(r, &a) || a >= rd->nagents || !crdt__rbuf_varint(r, &s) ||
        s > CRDT_SEQ_MAX)
        return false;
    *ag = (uint32_t)a;
    *seq = (uint32_t)s;
    return true;
}

static bool read_id(crdt_upd_reader *rd, uint32_t *ag, uint32_t *seq)
{
    return read_id_from(rd, &rd->r, ag, seq);
}

/* A reference (origin, bound or delete target) of the op whose seq is
 * `base`: an id, or in a packed state an agent index and the zigzag delta
 * of its seq to base (values outside 0 .. 2^32 - 1 are malformed, as the
 * rebuilt version 1 would carry no such seq). Inline: a state load reads
 * one or two per op, and the call cost about as much as the reading. */
static inline __attribute__((always_inline)) bool
read_ref(crdt_upd_reader *rd, int col, uint32_t base, uint32_t *ag, uint32_t *seq)
{
    if (!rd->packed)
        return read_id(rd, ag, seq);
    crdt_rbuf *r = &rd->col[col];
    uint64_t a, z;
    if (!crdt__rbuf_varint(r, &a) || a >= rd->nagents || !crdt__rbuf_varint(r, &z))
        return false;
    uint64_t mag = z >> 1, s;
    if (z & 1) {
        if (mag + 1 > base)
            return false;
        s = base - mag - 1;
    } else {
        if (mag > CRDT_SEQ_MAX - (uint64_t)base)
            return false;
        s = base + mag;
    }
    *ag = (uint32_t)a;
    *seq = (uint32_t)s;
    return true;
}

/* The UTF-8 text of an insert of len code points: a byte count and the
 * bytes, or in a packed state the next len code points of the text column
 * (their length from the lead bytes; validated below either way). */
static bool read_text(crdt_upd_reader *rd, uint64_t len, uint64_t *nb, const uint8_t **text)
{
    if (!rd->packed)
        return crdt__rbuf_varint(&rd->r, nb) && *nb <= UINT32_MAX &&
               crdt__rbuf_bytes(&rd->r, (size_t)*nb, text);
    crdt_rbuf *t = &rd->col[CRDT_COL_TEXT];
    if (rd->text_ascii) { /* one byte per code point */
        if (len > t->len - t->off)
            return false;
        *nb = len;
        *text = t->p + t->off;
        t->off += (size_t)len;
        return true;
    }
    size_t at = t->off;
    uint64_t k = 0;
    /* ASCII eight code points at a time */
    uint64_t w;
    while (len - k >= 8 && t->len - at >= 8 &&
           (memcpy(&w, t->p + at, 8), !(w & 0x8080808080808080ull))) {
        at += 8;
        k += 8;
    }
    for (; k < len; k++) {
        if (at >= t->len)
            return false;
        uint8_t c = t->p[at];
        at += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    }
    if (at > t->len || at - t->off > UINT32_MAX)
        return false;
    *nb = at - t->off;
    *text = t->p + t->off;
    t->off = at;
    return true;
}

bool crdt__upd_op(crdt_upd_reader *rd, crdt_uop *op)
{
    uint8_t h;
    uint64_t len;
    if (rd->read_ops >= rd->nops || !crdt__rbuf_byte(src(rd, CRDT_COL_HDR), &h) || (h & 0x80))
        return false;
    op->kind = h & CRDT_OP_KIND_MASK;
    bool ins = op->kind == CRDT_KIND_INS || op->kind == CRDT_KIND_INS_DEL;
    if (!ins && (h & CRDT_OP_INS_FLAGS))
        return false;
    if ((h & CRDT_OP_LEFT_PREV) && (h & CRDT_OP_LEFT_NONE))
        return false;
    if ((h & CRDT_OP_RIGHT_NONE) && (h & CRDT_OP_RIGHT_SAME))
        return false;
    if ((h & CRDT_OP_RIGHT_SAME) && !rd->prev_ins)
        return false;
    if (h & CRDT_OP_SAME) {
        if (!rd->read_ops || rd->prev_end > CRDT_SEQ_MAX)
            return false;
        op->ag = rd->prev_ag;
        op->seq = rd->prev_end;
    } else if (!read_id_from(rd, src(rd, CRDT_COL_IDS), &op->ag, &op->seq)) {
        return false;
    }
    if (!crdt__rbuf_varint(src(rd, CRDT_COL_LENS), &len) || len == 0 ||
        len > (uint64_t)CRDT_SEQ_MAX + 1 - op->seq)
        return false;
    op->len = (uint32_t)len;
    op->lag = op->rag = op->tag = CRDT_NONE;
    op->lseq = op->rseq = op->tseq = 0;
    op->text = NULL;
    op->nbytes = 0;
    if (ins) {
        if (h & CRDT_OP_LEFT_PREV) {
            if (op->seq == 0)
                return false;
            op->lag = op->ag;
            op->lseq = op->seq - 1;
        } else if (!(h & CRDT_OP_LEFT_NONE) &&
                   !read_ref(rd, CRDT_COL_LEFT, op->seq, &op->lag, &op->lseq)) {
            return false;
        }
        if (h & CRDT_OP_RIGHT_SAME) {
            op->rag = rd->prev_rag;
            op->rseq = rd->prev_rseq;
        } else if (!(h & CRDT_OP_RIGHT_NONE) &&
                   !read_ref(rd, CRDT_COL_RIGHT, op->seq, &op->rag, &op->rseq)) {
            return false;
        }
        if (op->kind == CRDT_KIND_INS) {
            uint64_t nb;
            size_t cps;
            if (!read_text(rd, len, &nb, &op->text))
                return false;
            if (!(rd->packed && rd->text_ascii) &&
                (!crdt__utf8_validate(op->text, (size_t)nb, &cps, NULL) || cps != len))
                return false;
            op->nbytes = (uint32_t)nb;
        }
        rd->prev_rag = op->rag;
        rd->prev_rseq = op->rseq;
    } else if (!read_ref(rd, CRDT_COL_TARGET, op->seq, &op->tag, &op->tseq) ||
               len > (uint64_t)CRDT_SEQ_MAX + 1 - op->tseq) {
        return false;
    }
    rd->read_ops++;
    rd->prev_ins = ins;
    rd->prev_ag = op->ag;
    rd->prev_end = op->seq + op->len;
    return true;
}

bool crdt__upd_end(const crdt_upd_reader *rd)
{
    if (rd->read_ops != rd->nops || rd->r.off != rd->r.len)
        return false;
    if (rd->packed) /* every column used up exactly */
        for (int c = 0; c < CRDT_NCOLS; c++)
            if (rd->col[c].off != rd->col[c].len)
                return false;
    return true;
}

/* ------------------------------------------------------------ inspect */

/* Agent tables up to this many names are indexed on the stack; a larger
 * one (only when fn is given) takes a size_t per name from libc. */
#define INSPECT_STACK_AGENTS 256

typedef struct inspect_run {
    bool open;
    uint32_t ag, seq;
    uint64_t count;
} inspect_run;

/* Call fn for the pending run (if any). */
static int flush(const crdt_upd_reader *rd, const size_t *name_off, const inspect_run *run,
                 crdt_update_agent_fn fn, void *ctx)
{
    if (!run->open)
        return 0;
    /* a name's offset points at its length byte (1..64: one varint byte) */
    const uint8_t *p = rd->r.p + name_off[run->ag];
    return fn(ctx, (const char *)(p + 1), p[0], run->seq, run->count);
}

/* The second walk: report the runs of op ids, joining an op to the one
 * before it when its ids continue that op's ids. The framing is known to be
 * valid, so the reader cannot fail here. */
static int report(const crdt_upd_reader *at_ops, const size_t *name_off, crdt_update_agent_fn fn,
                  void *ctx)
{
    crdt_upd_reader rd = *at_ops;
    inspect_run run = {false, 0, 0, 0};
    crdt_uop op;
    while (rd.read_ops < rd.nops) {
        if (!crdt__upd_op(&rd, &op))
            return CRDT_EBADUPDATE; /* unreachable: the first walk read it */
        if (run.open && op.ag == run.ag && (uint64_t)op.seq == run.seq + run.count) {
            run.count += op.len;
            continue;
        }
        int rc = flush(&rd, name_off, &run, fn, ctx);
        if (rc)
            return rc;
        run = (inspect_run){true, op.ag, op.seq, op.len};
    }
    return flush(&rd, name_off, &run, fn, ctx);
}

static int inspect(const uint8_t *data, size_t len, crdt_update_agent_fn fn, void *ctx,
                   uint64_t *ops);

int crdt_update_inspect(const uint8_t *data, size_t len, crdt_update_agent_fn fn, void *ctx,
                        uint64_t *ops)
{
    if (ops)
        *ops = 0;
    if (!data && len)
        return CRDT_EBADUPDATE;
    if (!crdt__is_packed(data, len))
        return inspect(data, len, fn, ctx, ops);
    /* a packed state: read the version 1 bytes it unpacks to (libc memory,
     * at most a constant times len) */
    uint8_t *v1;
    size_t n;
    int rc = crdt__state_unpack(NULL, data, len, &v1, &n);
    if (rc == CRDT_OK) {
        rc = inspect(v1, n, fn, ctx, ops);
        free(v1);
    }
    return rc;
}

static int inspect(const uint8_t *data, size_t len, crdt_update_agent_fn fn, void *ctx,
                   uint64_t *ops)
{
    crdt_upd_reader rd;
    int rc = crdt__upd_begin(&rd, data, len);
    if (rc)
        return rc;
    size_t stack_off[INSPECT_STACK_AGENTS], *name_off = stack_off;
    if (fn && rd.nagents > INSPECT_STACK_AGENTS) {
        name_off = malloc((size_t)rd.nagents * sizeof *name_off);
        if (!name_off)
            return CRDT_ENOMEM;
    }
    for (uint32_t i = 0; i < rd.nagents; i++) {
        const uint8_t *name;
        uint32_t nl;
        size_t off = rd.r.off;
        if (!crdt__upd_agent(&rd, &name, &nl)) {
            rc = CRDT_EBADUPDATE;
            break;
        }
        if (fn)
            name_off[i] = off;
    }
    /* First walk: validate every op and count the operations. */
    uint64_t total = 0;
    crdt_upd_reader at_ops;
    if (rc == CRDT_OK && !crdt__upd_nops(&rd))
        rc = CRDT_EBADUPDATE;
    if (rc == CRDT_OK) {
        at_ops = rd;
        crdt_uop op;
        while (rd.read_ops < rd.nops) {
            if (!crdt__upd_op(&rd, &op)) {
                rc = CRDT_EBADUPDATE;
                break;
            }
            total += op.len; /* below nops * 2^32: no overflow */
        }
        if (rc == CRDT_OK && !crdt__upd_end(&rd))
            rc = CRDT_EBADUPDATE;
    }
    if (rc == CRDT_OK) {
        if (ops)
            *ops = total;
        if (total > CRDT_DOC_OPS_MAX)
            rc = CRDT_ELIMIT;
        else if (fn)
            rc = report(&at_ops, name_off, fn, ctx);
    }
    if (name_off != stack_off)
        free(name_off);
    return rc;
}
