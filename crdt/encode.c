/* encode.c - writing updates (crdt_doc_encode_*); layout in FORMAT.md. */
#include "crdt_int.h"

#include <string.h>

/* Op header bits (FORMAT.md). */
#define OP_KIND_MASK 0x03
#define OP_SAME 0x04
#define OP_LEFT_PREV 0x08
#define OP_LEFT_NONE 0x10
#define OP_RIGHT_NONE 0x20
#define OP_RIGHT_SAME 0x40

enum { KIND_INS = 0, KIND_INS_DEL = 1, KIND_DEL = 2, KIND_DEL_REV = 3 };

typedef struct enc {
    const crdt_doc *doc;
    crdt_wbuf agents, ops;
    uint64_t nops;
    uint32_t *amap; /* doc agent -> update agent index + 1 (0 = not yet) */
    uint32_t nua;
    bool prev;
    uint32_t prev_agent, prev_end; /* doc agent and seq end of the last op */
    bool prev_ins;
    uint32_t prev_right; /* right origin LV of the last insert op */
} enc;

static uint32_t ua_of(enc *e, uint32_t agent)
{
    if (!e->amap[agent]) {
        const crdt_agent *ag = &e->doc->agents[agent];
        crdt_wbuf_varint(&e->agents, ag->name_len);
        crdt_wbuf_bytes(&e->agents, ag->name, ag->name_len);
        e->amap[agent] = ++e->nua;
    }
    return e->amap[agent] - 1;
}

static void put_id(enc *e, uint32_t lv)
{
    uint32_t a, s;
    crdt_span_id(e->doc, lv, &a, &s, NULL);
    crdt_wbuf_varint(&e->ops, ua_of(e, a));
    crdt_wbuf_varint(&e->ops, s);
}

/* Write the op header fields common to all kinds; `h` already has kind and
 * kind-specific flags. */
static void put_head(enc *e, uint8_t h, uint32_t lv, uint32_t n)
{
    uint32_t a, s;
    crdt_span_id(e->doc, lv, &a, &s, NULL);
    bool same = e->prev && e->prev_agent == a && e->prev_end == s;
    crdt_wbuf_byte(&e->ops, h | (same ? OP_SAME : 0));
    if (!same) {
        crdt_wbuf_varint(&e->ops, ua_of(e, a));
        crdt_wbuf_varint(&e->ops, s);
    }
    crdt_wbuf_varint(&e->ops, n);
    e->prev = true;
    e->prev_agent = a;
    e->prev_end = s + n;
    e->nops++;
}

/* Insert ops [lv, lv+n) of record r, one per tree segment. */
static void emit_insert(enc *e, const crdt_rec *r, uint32_t lv, uint32_t n)
{
    const crdt_doc *doc = e->doc;
    while (n > 0) {
        bool del;
        const uint8_t *text;
        uint32_t k = crdt_tree_seg(doc, lv, &del, &text);
        if (k > n)
            k = n;
        uint32_t left = lv == r->lv ? r->a : lv - 1, right = r->b;
        uint8_t h = del ? KIND_INS_DEL : KIND_INS;
        bool left_prev = false;
        if (left == CRDT_NONE) {
            h |= OP_LEFT_NONE;
        } else {
            uint32_t la, ls, a, s;
            crdt_span_id(doc, left, &la, &ls, NULL);
            crdt_span_id(doc, lv, &a, &s, NULL);
            left_prev = la == a && ls + 1 == s;
            if (left_prev)
                h |= OP_LEFT_PREV;
        }
        if (right == CRDT_NONE)
            h |= OP_RIGHT_NONE;
        else if (e->prev_ins && e->prev_right == right)
            h |= OP_RIGHT_SAME;
        put_head(e, h, lv, k);
        if (left != CRDT_NONE && !left_prev)
            put_id(e, left);
        if (right != CRDT_NONE && !(h & OP_RIGHT_SAME))
            put_id(e, right);
        if (!del) {
            size_t nb = crdt_text_bytes(text, k);
            crdt_wbuf_varint(&e->ops, nb);
            crdt_wbuf_bytes(&e->ops, text, nb);
        }
        e->prev_ins = true;
        e->prev_right = right;
        lv += k;
        n -= k;
    }
}

/* Delete ops [lv, lv+n) of record r, split where the targets' ids stop
 * being consecutive. */
static void emit_delete(enc *e, const crdt_rec *r, uint32_t lv, uint32_t n)
{
    const crdt_doc *doc = e->doc;
    uint32_t j = 0;
    while (j < n) {
        uint32_t k, target;
        if (r->kind == CRDT_REC_DEL) {
            uint32_t t = r->a + (lv + j - r->lv), left;
            uint32_t a, s;
            crdt_span_id(doc, t, &a, &s, &left);
            k = n - j < left ? n - j : left;
            target = t;
        } else {
            uint32_t top = r->a + r->len - 1 - (lv + j - r->lv);
            uint32_t start = crdt_span_start(doc, top);
            k = top - start + 1;
            if (k > n - j)
                k = n - j;
            target = top - k + 1;
        }
        put_head(e, r->kind == CRDT_REC_DEL || k == 1 ? KIND_DEL : KIND_DEL_REV, lv + j, k);
        put_id(e, target);
        e->prev_ins = false;
        j += k;
    }
}

static void emit(enc *e, const crdt_rec *r, uint32_t lv, uint32_t n)
{
    if (r->kind == CRDT_REC_INS)
        emit_insert(e, r, lv, n);
    else
        emit_delete(e, r, lv, n);
}

/* Emit ops [lv, lv+n) (one agent, consecutive seqs from seq) that `skip`
 * does not contain. */
static void emit_filtered(enc *e, const crdt_rec *r, uint32_t lv, uint32_t n, uint32_t agent,
                          uint32_t seq, const crdt_version *skip)
{
    if (!skip) {
        emit(e, r, lv, n);
        return;
    }
    const crdt_agent *ag = &e->doc->agents[agent];
    const struct crdt_version_agent *va = crdt_version_agent_find(skip, ag->name, ag->name_len);
    uint32_t s = seq, end_seq = seq + n;
    while (s < end_seq) {
        uint32_t stop;
        bool has = crdt_version_agent_has(va, s, &stop);
        if (stop > end_seq)
            stop = end_seq;
        if (!has)
            emit(e, r, lv + (s - seq), stop - s);
        s = stop;
    }
}

int crdt_encode_lv_range(const crdt_doc *doc, uint32_t from, const crdt_version *skip,
                         uint8_t **out, size_t *out_len)
{
    const crdt_allocator *a = &doc->alloc;
    enc e = {.doc = doc, .agents = {.alloc = a}, .ops = {.alloc = a}};
    e.amap = crdt_mem_alloc(a, (size_t)doc->nagents * sizeof(uint32_t));
    if (!e.amap)
        return CRDT_ENOMEM;
    memset(e.amap, 0, (size_t)doc->nagents * sizeof(uint32_t));
    if (from < doc->next_lv) {
        for (uint32_t ri = crdt_rec_find(doc, from); ri < doc->nrecs; ri++) {
            const crdt_rec *r = &doc->recs[ri];
            uint32_t lo = r->lv > from ? r->lv : from, hi = r->lv + r->len;
            while (lo < hi) {
                uint32_t ag, seq, left;
                crdt_span_id(doc, lo, &ag, &seq, &left);
                uint32_t k = hi - lo < left ? hi - lo : left;
                emit_filtered(&e, r, lo, k, ag, seq, skip);
                lo += k;
            }
            if (e.ops.err || e.agents.err)
                break;
        }
    }
    crdt_wbuf w = {.alloc = a};
    crdt_wbuf_byte(&w, CRDT_MAGIC_UPDATE);
    crdt_wbuf_byte(&w, CRDT_FORMAT_VERSION);
    crdt_wbuf_varint(&w, e.nua);
    crdt_wbuf_bytes(&w, e.agents.p, e.agents.len);
    crdt_wbuf_varint(&w, e.nops);
    crdt_wbuf_bytes(&w, e.ops.p, e.ops.len);
    int rc = e.ops.err ? e.ops.err : e.agents.err ? e.agents.err : w.err;
    crdt_mem_free(a, e.amap);
    crdt_mem_free(a, e.agents.p);
    crdt_mem_free(a, e.ops.p);
    if (rc) {
        crdt_mem_free(a, w.p);
        return rc;
    }
    *out = w.p;
    *out_len = w.len;
    return CRDT_OK;
}

int crdt_doc_encode_since(const crdt_doc *doc, const crdt_version *since, uint8_t **out,
                          size_t *out_len)
{
    if (!doc || !out || !out_len)
        return CRDT_EINVAL;
    return crdt_encode_lv_range(doc, 0, since, out, out_len);
}

int crdt_doc_encode_state(const crdt_doc *doc, uint8_t **out, size_t *out_len)
{
    return crdt_doc_encode_since(doc, NULL, out, out_len);
}

int crdt_doc_encode_since_mark(const crdt_doc *doc, uint64_t mark, uint8_t **out,
                               size_t *out_len)
{
    if (!doc || !out || !out_len || mark > doc->next_lv)
        return CRDT_EINVAL;
    return crdt_encode_lv_range(doc, (uint32_t)mark, NULL, out, out_len);
}
