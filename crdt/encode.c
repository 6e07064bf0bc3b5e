/* encode.c - writing updates (crdt_doc_encode_*); layout in FORMAT.md. */
#include "crdt_int.h"
#include "format_int.h"

#include <stdlib.h>
#include <string.h>

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
        crdt__wbuf_varint(&e->agents, ag->name_len);
        crdt__wbuf_bytes(&e->agents, ag->name, ag->name_len);
        e->amap[agent] = ++e->nua;
    }
    return e->amap[agent] - 1;
}

static void put_id(enc *e, uint32_t lv)
{
    uint32_t a, s;
    crdt__span_id(e->doc, lv, &a, &s, NULL);
    crdt__wbuf_varint(&e->ops, ua_of(e, a));
    crdt__wbuf_varint(&e->ops, s);
}

/* Write the op header fields common to all kinds for ops (a, s .. s+n);
 * `h` already has kind and kind-specific flags. */
static void put_head_id(enc *e, uint8_t h, uint32_t a, uint32_t s, uint32_t n)
{
    bool same = e->prev && e->prev_agent == a && e->prev_end == s;
    crdt__wbuf_byte(&e->ops, h | (same ? CRDT_OP_SAME : 0));
    if (!same) {
        crdt__wbuf_varint(&e->ops, ua_of(e, a));
        crdt__wbuf_varint(&e->ops, s);
    }
    crdt__wbuf_varint(&e->ops, n);
    e->prev = true;
    e->prev_agent = a;
    e->prev_end = s + n;
    e->nops++;
}

static void put_head(enc *e, uint8_t h, uint32_t lv, uint32_t n)
{
    uint32_t a, s;
    crdt__span_id(e->doc, lv, &a, &s, NULL);
    put_head_id(e, h, a, s, n);
}

/* Insert ops [lv, lv+n) of record r, one per tree segment. */
static void emit_insert(enc *e, const crdt_rec *r, uint32_t lv, uint32_t n)
{
    const crdt_doc *doc = e->doc;
    while (n > 0) {
        bool del;
        const uint8_t *text;
        uint32_t k = crdt__tree_seg(doc, lv, &del, &text);
        if (k > n)
            k = n;
        uint32_t left = lv == r->lv ? r->a : lv - 1, right = r->b;
        uint8_t h = del ? CRDT_KIND_INS_DEL : CRDT_KIND_INS;
        bool left_prev = false;
        if (left == CRDT_NONE) {
            h |= CRDT_OP_LEFT_NONE;
        } else {
            uint32_t la, ls, a, s;
            crdt__span_id(doc, left, &la, &ls, NULL);
            crdt__span_id(doc, lv, &a, &s, NULL);
            left_prev = la == a && ls + 1 == s;
            if (left_prev)
                h |= CRDT_OP_LEFT_PREV;
        }
        if (right == CRDT_NONE)
            h |= CRDT_OP_RIGHT_NONE;
        else if (e->prev_ins && e->prev_right == right)
            h |= CRDT_OP_RIGHT_SAME;
        put_head(e, h, lv, k);
        if (left != CRDT_NONE && !left_prev)
            put_id(e, left);
        if (right != CRDT_NONE && !(h & CRDT_OP_RIGHT_SAME))
            put_id(e, right);
        if (!del) {
            size_t nb = crdt__text_bytes(text, k);
            crdt__wbuf_varint(&e->ops, nb);
            crdt__wbuf_bytes(&e->ops, text, nb);
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
            crdt__span_id(doc, t, &a, &s, &left);
            k = n - j < left ? n - j : left;
            target = t;
        } else {
            uint32_t top = r->a + r->len - 1 - (lv + j - r->lv);
            uint32_t start = crdt__span_start(doc, top);
            k = top - start + 1;
            if (k > n - j)
                k = n - j;
            target = top - k + 1;
        }
        put_head(e, r->kind == CRDT_REC_DEL || k == 1 ? CRDT_KIND_DEL : CRDT_KIND_DEL_REV, lv + j,
                 k);
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
    const struct crdt_version_agent *va = crdt__version_agent_find(skip, ag->name, ag->name_len);
    uint32_t s = seq, end_seq = seq + n;
    while (s < end_seq) {
        uint32_t stop;
        bool has = crdt__version_agent_has(va, s, &stop);
        if (stop > end_seq)
            stop = end_seq;
        if (!has)
            emit(e, r, lv + (s - seq), stop - s);
        s = stop;
    }
}

static int enc_init(enc *e, const crdt_doc *doc)
{
    const crdt_allocator *a = &doc->alloc;
    *e = (enc){.doc = doc, .agents = {.alloc = a}, .ops = {.alloc = a}};
    e->amap = crdt__mem_alloc(a, (size_t)doc->nagents * sizeof(uint32_t) + 1);
    if (!e->amap)
        return CRDT_ENOMEM;
    memset(e->amap, 0, (size_t)doc->nagents * sizeof(uint32_t));
    return CRDT_OK;
}

/* Assemble the update from e's tables and release them. */
static int enc_finish(enc *e, uint8_t **out, size_t *out_len)
{
    const crdt_allocator *a = &e->doc->alloc;
    crdt_wbuf w = {.alloc = a};
    crdt__wbuf_byte(&w, CRDT_MAGIC_UPDATE);
    crdt__wbuf_byte(&w, CRDT_FORMAT_VERSION);
    crdt__wbuf_varint(&w, e->nua);
    crdt__wbuf_bytes(&w, e->agents.p, e->agents.len);
    crdt__wbuf_varint(&w, e->nops);
    crdt__wbuf_bytes(&w, e->ops.p, e->ops.len);
    int rc = e->ops.err ? e->ops.err : e->agents.err ? e->agents.err : w.err;
    crdt__mem_free(a, e->amap);
    crdt__mem_free(a, e->agents.p);
    crdt__mem_free(a, e->ops.p);
    if (rc) {
        crdt__mem_free(a, w.p);
        return rc;
    }
    *out = w.p;
    *out_len = w.len;
    return CRDT_OK;
}

int crdt__encode_lv_range(const crdt_doc *doc, uint32_t from, const crdt_version *skip,
                          uint8_t **out, size_t *out_len)
{
    enc e;
    int rc = enc_init(&e, doc);
    if (rc)
        return rc;
    if (from < doc->next_lv) {
        for (uint32_t ri = crdt__rec_find(doc, from); ri < doc->nrecs; ri++) {
            const crdt_rec *r = &doc->recs[ri];
            uint32_t lo = r->lv > from ? r->lv : from, hi = r->lv + r->len;
            while (lo < hi) {
                uint32_t ag, seq, left;
                crdt__span_id(doc, lo, &ag, &seq, &left);
                uint32_t k = hi - lo < left ? hi - lo : left;
                emit_filtered(&e, r, lo, k, ag, seq, skip);
                lo += k;
            }
            if (e.ops.err || e.agents.err)
                break;
        }
    }
    return enc_finish(&e, out, out_len);
}

/* ------------------------------------------------- canonical full state
 *
 * crdt_doc_encode_state must give the same bytes on every replica holding
 * the same operations, whatever order they arrived in, while records,
 * tree runs and LVs follow arrival. So the state is built from ids only:
 *
 * 1. Runs. Per agent, in seq order, operations are grouped greedily into
 *    maximal runs by a rule that only looks at ids and at whether a
 *    character is deleted now: an insert continues the run when it has the
 *    same kind (visible / deleted), its left origin is the agent's
 *    previous seq and its bound is the run's bound; a delete continues it
 *    when its target is the previous target plus or minus one, in the
 *    run's direction (set by the run's second op).
 * 2. Order. Ops must come after the ops they reference, so runs are
 *    emitted by a topological sort that always takes the agent with the
 *    smallest name (bytewise) whose next run is ready (its origins or
 *    targets already emitted) and emits that agent's runs while they stay
 *    ready. An agent's seqs follow causality, so a run only waits for runs
 *    that can come first. If the ids a replica holds do not (forged
 *    histories), the encoder falls back to arrival order (CANON_FALLBACK).
 *
 * The agent table then lists agents in order of first use, and every op
 * field follows from the run sequence, so the bytes depend only on the set
 * of operations and on which characters are deleted. */

#define CANON_FALLBACK 1

typedef struct crun {
    uint32_t seq, len;
    uint8_t kind;            /* CRDT_KIND_INS, CRDT_KIND_INS_DEL or CRDT_KIND_DEL */
    int8_t dir;              /* deletes: +1 forward, -1 reverse, 0 one op */
    uint32_t xa, xs, ya, ys; /* inserts: left origin (xa = CRDT_NONE: start) and
                               bound (ya = CRDT_NONE: end) of the first op;
                               deletes: (xa, xs) target of the first op */
} crun;

typedef struct canon {
    const crdt_doc *doc;
    crun *runs;
    uint32_t nruns, cap;
    uint32_t *start;          /* per rank (agent_order index): first run, [n] = nruns */
    uint32_t *head;           /* per rank: next run to emit */
    uint32_t *rank;           /* per doc agent: its rank */
    uint32_t *heap, nheap;    /* ranks ready to emit, min-heap */
    uint32_t *wfirst, *wnext; /* per rank: ranks blocked on it (lists) */
    int err;
} canon;

static crun *canon_new_run(canon *c)
{
    if (c->err)
        return NULL;
    int rc = crdt__mem_reserve(&c->doc->alloc, (void **)&c->runs, &c->cap, (size_t)c->nruns + 1,
                               sizeof(crun));
    if (rc) {
        c->err = rc;
        return NULL;
    }
    return &c->runs[c->nruns++];
}

/* Insert ops (agent, seq .. seq+n) of one kind with left origin `left` for
 * the first (then each the previous) and bound `right` (LVs). */
static void canon_insert(canon *c, uint32_t from, uint32_t agent, uint32_t seq, uint32_t n,
                         uint8_t kind, uint32_t left, uint32_t right)
{
    uint32_t xa = CRDT_NONE, xs = 0, ya = CRDT_NONE, ys = 0;
    if (left != CRDT_NONE)
        crdt__span_id(c->doc, left, &xa, &xs, NULL);
    if (right != CRDT_NONE)
        crdt__span_id(c->doc, right, &ya, &ys, NULL);
    if (c->nruns > from) {
        crun *p = &c->runs[c->nruns - 1];
        if (p->kind == kind && p->seq + p->len == seq && xa == agent && xs + 1 == seq &&
            p->ya == ya && p->ys == ys) {
            p->len += n;
            return;
        }
    }
    crun *r = canon_new_run(c);
    if (r)
        *r = (crun){seq, n, kind, 0, xa, xs, ya, ys};
}

/* Delete ops (seq .. seq+n) whose targets are (ta, ts), (ta, ts + dir),
 * ... (dir +1 or -1; unused when n == 1). Same grouping as one op at a
 * time: the first op may join the previous run, the others follow it when
 * the directions agree, else they start a run. */
static void canon_delete(canon *c, uint32_t from, uint32_t seq, uint32_t n, uint32_t ta,
                         uint32_t ts, int8_t dir)
{
    if (c->nruns > from) {
        crun *p = &c->runs[c->nruns - 1];
        if (p->kind == CRDT_KIND_DEL && p->seq + p->len == seq && p->xa == ta) {
            uint32_t last = p->dir < 0 ? p->xs - (p->len - 1) : p->xs + (p->len - 1);
            int8_t d = ts == last + 1 ? 1 : (last > 0 && ts == last - 1) ? -1 : 0;
            if (d && (p->dir == 0 || p->dir == d)) {
                p->dir = d;
                p->len++;
                seq++;
                n--;
                ts = dir < 0 ? ts - 1 : ts + 1;
                if (n > 0 && dir == p->dir) {
                    p->len += n;
                    return;
                }
            }
        }
    }
    if (n == 0)
        return;
    crun *r = canon_new_run(c);
    if (r)
        *r = (crun){seq, n, CRDT_KIND_DEL, n > 1 ? dir : 0, ta, ts, CRDT_NONE, 0};
}

/* Build the runs of doc agent `agent` (ops [lv, lv + len) = seqs from seq). */
static void canon_piece(canon *c, uint32_t from, uint32_t agent, uint32_t seq, uint32_t lv,
                        uint32_t len)
{
    const crdt_doc *doc = c->doc;
    uint32_t end = lv + len, ri = crdt__rec_find(doc, lv);
    while (lv < end && !c->err) {
        while (doc->recs[ri].lv + doc->recs[ri].len <= lv) /* LVs only grow */
            ri++;
        const crdt_rec *r = &doc->recs[ri];
        uint32_t k = (r->lv + r->len < end ? r->lv + r->len : end) - lv;
        if (r->kind == CRDT_REC_INS) {
            bool del;
            const uint8_t *text;
            uint32_t kd = crdt__tree_seg(doc, lv, &del, &text);
            if (kd < k)
                k = kd;
            canon_insert(c, from, agent, seq, k, del ? CRDT_KIND_INS_DEL : CRDT_KIND_INS,
                         lv == r->lv ? r->a : lv - 1, r->b);
        } else {
            for (uint32_t j = 0; j < k && !c->err;) {
                uint32_t m, ta, ts, left;
                int8_t dir;
                if (r->kind == CRDT_REC_DEL) {
                    uint32_t t = r->a + (lv + j - r->lv);
                    crdt__span_id(doc, t, &ta, &ts, &left);
                    m = k - j < left ? k - j : left;
                    dir = 1;
                } else {
                    uint32_t top = r->a + r->len - 1 - (lv + j - r->lv);
                    m = top - crdt__span_start(doc, top) + 1;
                    if (m > k - j)
                        m = k - j;
                    crdt__span_id(doc, top, &ta, &ts, NULL);
                    dir = -1;
                }
                canon_delete(c, from, seq + j, m, ta, ts, dir);
                j += m;
            }
        }
        lv += k;
        seq += k;
    }
}

/* Whether (agent, seq) is emitted (every id of a rank before its head is). */
static bool canon_emitted(const canon *c, uint32_t agent, uint32_t seq)
{
    uint32_t q = c->rank[agent], h = c->head[q];
    return h == c->start[q + 1] || c->runs[h].seq > seq;
}

/* CRDT_NONE if run `r` is ready, else the rank it waits for. */
static uint32_t canon_blocker(const canon *c, const crun *r)
{
    if (r->kind == CRDT_KIND_DEL) {
        uint32_t top = r->dir < 0 ? r->xs : r->xs + (r->len - 1);
        return canon_emitted(c, r->xa, top) ? CRDT_NONE : c->rank[r->xa];
    }
    if (r->xa != CRDT_NONE && !canon_emitted(c, r->xa, r->xs))
        return c->rank[r->xa];
    if (r->ya != CRDT_NONE && !canon_emitted(c, r->ya, r->ys))
        return c->rank[r->ya];
    return CRDT_NONE;
}

static void heap_push(canon *c, uint32_t q)
{
    uint32_t i = c->nheap++;
    while (i > 0 && c->heap[(i - 1) / 2] > q) {
        c->heap[i] = c->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->heap[i] = q;
}

static uint32_t heap_pop(canon *c)
{
    uint32_t top = c->heap[0], x = c->heap[--c->nheap], i = 0;
    for (;;) {
        uint32_t ch = 2 * i + 1;
        if (ch >= c->nheap)
            break;
        if (ch + 1 < c->nheap && c->heap[ch + 1] < c->heap[ch])
            ch++;
        if (c->heap[ch] >= x)
            break;
        c->heap[i] = c->heap[ch];
        i = ch;
    }
    if (c->nheap)
        c->heap[i] = x;
    return top;
}

/* Queue rank q (not done): ready -> heap, else on its blocker's list. */
static void canon_queue(canon *c, uint32_t q)
{
    uint32_t b = canon_blocker(c, &c->runs[c->head[q]]);
    if (b == CRDT_NONE) {
        heap_push(c, q);
    } else {
        c->wnext[q] = c->wfirst[b];
        c->wfirst[b] = q;
    }
}

/* Text bytes of insert ops (agent, seq .. seq+n), all visible: written to
 * w, or only counted (w NULL). */
static size_t canon_text(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t n,
                         crdt_wbuf *w)
{
    size_t total = 0;
    while (n > 0) {
        uint32_t lv, k = crdt__agent_known(doc, agent, seq, &lv);
        if (k > n)
            k = n;
        for (uint32_t x = lv; x < lv + k;) {
            bool del;
            const uint8_t *text;
            uint32_t kd = crdt__tree_seg(doc, x, &del, &text);
            if (kd > lv + k - x)
                kd = lv + k - x;
            size_t nb = crdt__text_bytes(text, kd);
            if (w)
                crdt__wbuf_bytes(w, text, nb);
            total += nb;
            x += kd;
        }
        seq += k;
        n -= k;
    }
    return total;
}

static void put_idv(enc *e, uint32_t agent, uint32_t seq)
{
    crdt__wbuf_varint(&e->ops, ua_of(e, agent));
    crdt__wbuf_varint(&e->ops, seq);
}

static void canon_emit(enc *e, uint32_t agent, const crun *r)
{
    const crdt_doc *doc = e->doc;
    if (r->kind == CRDT_KIND_DEL) {
        uint32_t low = r->dir < 0 ? r->xs - (r->len - 1) : r->xs;
        put_head_id(e, r->dir < 0 ? CRDT_KIND_DEL_REV : CRDT_KIND_DEL, agent, r->seq, r->len);
        put_idv(e, r->xa, low);
        e->prev_ins = false;
        return;
    }
    uint32_t right = r->ya == CRDT_NONE ? CRDT_NONE : crdt__agent_lv(doc, r->ya, r->ys);
    uint8_t h = r->kind;
    bool left_prev = r->xa == agent && r->xs + 1 == r->seq;
    if (r->xa == CRDT_NONE)
        h |= CRDT_OP_LEFT_NONE;
    else if (left_prev)
        h |= CRDT_OP_LEFT_PREV;
    if (right == CRDT_NONE)
        h |= CRDT_OP_RIGHT_NONE;
    else if (e->prev_ins && e->prev_right == right)
        h |= CRDT_OP_RIGHT_SAME;
    put_head_id(e, h, agent, r->seq, r->len);
    if (r->xa != CRDT_NONE && !left_prev)
        put_idv(e, r->xa, r->xs);
    if (right != CRDT_NONE && !(h & CRDT_OP_RIGHT_SAME))
        put_idv(e, r->ya, r->ys);
    if (r->kind == CRDT_KIND_INS) {
        crdt__wbuf_varint(&e->ops, canon_text(doc, agent, r->seq, r->len, NULL));
        canon_text(doc, agent, r->seq, r->len, &e->ops);
    }
    e->prev_ins = true;
    e->prev_right = right;
}

static void canon_free(canon *c)
{
    const crdt_allocator *a = &c->doc->alloc;
    crdt__mem_free(a, c->runs);
    crdt__mem_free(a, c->start);
}

/* The canonical full state, or CANON_FALLBACK (nothing allocated). */
static int encode_canonical(const crdt_doc *doc, uint8_t **out, size_t *out_len)
{
    const crdt_allocator *a = &doc->alloc;
    uint32_t n = doc->nagents;
    canon c = {.doc = doc};
    /* start[n + 1], head, rank, heap, wfirst, wnext: one block */
    c.start = crdt__mem_alloc(a, ((size_t)n * 6 + 1) * sizeof(uint32_t));
    if (!c.start)
        return CRDT_ENOMEM;
    c.head = c.start + n + 1;
    c.rank = c.head + n;
    c.heap = c.rank + n;
    c.wfirst = c.heap + n;
    c.wnext = c.wfirst + n;
    for (uint32_t q = 0; q < n && !c.err; q++) {
        uint32_t agent = doc->agent_order[q];
        const crdt_agent *ag = &doc->agents[agent];
        c.rank[agent] = q;
        c.start[q] = c.head[q] = c.nruns;
        c.wfirst[q] = CRDT_NONE;
        for (uint32_t i = 0; i < ag->nruns && !c.err; i++)
            canon_piece(&c, c.start[q], agent, ag->runs[i].seq, ag->runs[i].lv, ag->runs[i].len);
    }
    if (c.err) {
        int rc = c.err;
        canon_free(&c);
        return rc;
    }
    c.start[n] = c.nruns;
    for (uint32_t q = 0; q < n; q++)
        if (c.start[q] < c.start[q + 1])
            canon_queue(&c, q);
    enc e;
    int rc = enc_init(&e, doc);
    if (rc) {
        canon_free(&c);
        return rc;
    }
    uint32_t emitted = 0;
    while (c.nheap > 0) {
        uint32_t q = heap_pop(&c), agent = doc->agent_order[q], end = c.start[q + 1];
        do {
            canon_emit(&e, agent, &c.runs[c.head[q]]);
            c.head[q]++;
            emitted++;
        } while (c.head[q] < end && canon_blocker(&c, &c.runs[c.head[q]]) == CRDT_NONE);
        if (c.head[q] < end)
            canon_queue(&c, q); /* blocked: waits on another rank (or itself) */
        uint32_t w = c.wfirst[q];
        c.wfirst[q] = CRDT_NONE;
        while (w != CRDT_NONE) {
            uint32_t next = c.wnext[w];
            if (w != q || c.head[q] >= end)
                canon_queue(&c, w);
            else { /* q blocked on itself: forged ids */
                c.wnext[w] = c.wfirst[q];
                c.wfirst[q] = w;
            }
            w = next;
        }
        if (e.ops.err || e.agents.err)
            break;
    }
    bool complete = emitted == c.nruns;
    canon_free(&c);
    if (!complete && !e.ops.err && !e.agents.err) {
        e.ops.err = CANON_FALLBACK; /* enc_finish frees everything */
        uint8_t *p;
        size_t pl;
        (void)enc_finish(&e, &p, &pl);
        return CANON_FALLBACK;
    }
    return enc_finish(&e, out, out_len);
}

/* ------------------------------------------------ delta since a version
 *
 * The ops `since` lacks are found from the agents' seq -> LV runs, one
 * binary search per gap of `since` per agent, then emitted in LV order (the
 * order they reached the replica, which is causal): the cost follows the
 * version's size and what is sent, not the length of the op log. The bytes
 * are those a walk of the whole log would give (same pieces, same order). */

typedef struct lvrange {
    uint32_t lv, len;
} lvrange;

typedef struct lvset {
    const crdt_allocator *alloc;
    lvrange *v;
    uint32_t n, cap;
    int err;
} lvset;

static void lvset_add(lvset *s, uint32_t lv, uint32_t len)
{
    if (s->err)
        return;
    int rc =
        crdt__mem_reserve(s->alloc, (void **)&s->v, &s->cap, (size_t)s->n + 1, sizeof(lvrange));
    if (rc) {
        s->err = rc;
        return;
    }
    s->v[s->n++] = (lvrange){lv, len};
}

static int lvrange_cmp(const void *a, const void *b)
{
    uint32_t x = ((const lvrange *)a)->lv, y = ((const lvrange *)b)->lv;
    return x < y ? -1 : x > y;
}

/* Add the LVs of the agent's ops with seqs in [gs, ge). */
static void missing_gap(const crdt_doc *doc, uint32_t agent, uint32_t gs, uint32_t ge, lvset *s)
{
    const crdt_agent *ag = &doc->agents[agent];
    for (uint32_t i = crdt__agent_run_from(doc, agent, gs); i < ag->nruns; i++) {
        const crdt_agent_run *r = &ag->runs[i];
        if (r->seq >= ge)
            break;
        uint32_t lo = r->seq > gs ? r->seq : gs;
        uint32_t hi = r->seq + r->len < ge ? r->seq + r->len : ge;
        lvset_add(s, r->lv + (lo - r->seq), hi - lo);
    }
}

static int encode_missing(const crdt_doc *doc, const crdt_version *since, uint8_t **out,
                          size_t *out_len)
{
    lvset s = {.alloc = &doc->alloc};
    for (uint32_t a = 0; a < doc->nagents && !s.err; a++) {
        const crdt_agent *ag = &doc->agents[a];
        if (!ag->nruns)
            continue;
        const struct crdt_version_agent *va =
            crdt__version_agent_find(since, ag->name, ag->name_len);
        uint32_t nr = va ? va->nranges : 0;
        for (uint32_t k = 0; k <= nr; k++) {
            uint32_t gs = k == 0 ? 0 : va->ranges[2 * k - 1];
            uint32_t ge = k < nr ? va->ranges[2 * k] : UINT32_MAX;
            if (gs < ge)
                missing_gap(doc, a, gs, ge, &s);
        }
    }
    enc e;
    int rc = s.err ? s.err : enc_init(&e, doc);
    if (rc) {
        crdt__mem_free(s.alloc, s.v);
        return rc;
    }
    if (s.n > 1)
        qsort(s.v, s.n, sizeof(lvrange), lvrange_cmp);
    for (uint32_t i = 0; i < s.n && !e.ops.err && !e.agents.err; i++) {
        uint32_t lo = s.v[i].lv, hi = lo + s.v[i].len;
        for (uint32_t ri = crdt__rec_find(doc, lo); lo < hi; ri++) {
            const crdt_rec *r = &doc->recs[ri];
            uint32_t k = (r->lv + r->len < hi ? r->lv + r->len : hi) - lo;
            emit(&e, r, lo, k);
            lo += k;
        }
    }
    crdt__mem_free(s.alloc, s.v);
    return enc_finish(&e, out, out_len);
}

/* A full state goes out packed (format version 2) when that is shorter. */
static int pack_state(const crdt_doc *doc, uint8_t **out, size_t *out_len)
{
    uint8_t *p;
    size_t n;
    int rc = crdt__state_pack(&doc->alloc, *out, *out_len, &p, &n);
    if (rc) {
        crdt__mem_free(&doc->alloc, *out);
        *out = NULL;
        return rc;
    }
    if (p) {
        crdt__mem_free(&doc->alloc, *out);
        *out = p;
        *out_len = n;
    }
    return CRDT_OK;
}

int crdt_doc_encode_since(const crdt_doc *doc, const crdt_version *since, uint8_t **out,
                          size_t *out_len)
{
    if (!doc || !out || !out_len)
        return CRDT_EINVAL;
    if (!since) {
        int rc = encode_canonical(doc, out, out_len);
        if (rc == CANON_FALLBACK)
            rc = crdt__encode_lv_range(doc, 0, NULL, out, out_len);
        return rc ? rc : pack_state(doc, out, out_len);
    }
    return encode_missing(doc, since, out, out_len);
}

int crdt_doc_encode_state(const crdt_doc *doc, uint8_t **out, size_t *out_len)
{
    return crdt_doc_encode_since(doc, NULL, out, out_len);
}

int crdt_doc_encode_since_mark(const crdt_doc *doc, uint64_t mark, uint8_t **out, size_t *out_len)
{
    if (!doc || !out || !out_len || mark > doc->next_lv)
        return CRDT_EINVAL;
    return crdt__encode_lv_range(doc, (uint32_t)mark, NULL, out, out_len);
}
