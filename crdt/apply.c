/* apply.c - decoding, checking and applying updates (crdt_doc_apply).
 *
 * Three passes so that a refused update leaves the replica untouched:
 * decode and validate every field (with the reader of inspect.c); check
 * that every referenced id exists (in the replica or earlier in the update)
 * and count what applying needs; reserve all memory; then apply, which
 * cannot fail. A replica that holds no operation yet takes a shorter path
 * (see apply): insert origins are checked as they are applied, and on a
 * refusal the replica is emptied again and the three passes run. */
#include "crdt_int.h"
#include "format_int.h"

#include <stdlib.h>
#include <string.h>

/* An update may make the replica add at most this many runs (records,
 * id runs, tree runs) per byte of its length, plus a fixed allowance. Runs
 * are what cost memory beyond the 4 bytes per operation (bounded per
 * document by CRDT_DOC_OPS_MAX); characters are not counted, since a
 * legitimate state carries a deleted run of any length in a few bytes. A
 * run costs at least 2 bytes on the wire, so legitimate updates stay far
 * below this (a delete op is split into several records only where its
 * targets are not consecutive in the replica). */
#define RUNS_PER_BYTE 64u
#define RUNS_ALLOWANCE (1u << 20)

typedef struct uagent {
    const uint8_t *name;
    uint32_t len;
    uint32_t doc; /* doc agent index or CRDT_NONE */
    /* The agent's ops are order[pos .. pos + nops); bucket b of
     * upd->buckets[boff .. boff + nb) is the first of them whose seq is at
     * least seq0 + (b << shift) (see index_build). */
    uint32_t pos, nops, seq0, shift, boff, nb;
} uagent;

typedef struct upd {
    const crdt_allocator *alloc;
    uagent *agents;
    uint32_t nagents;
    crdt_uop *ops;
    uint32_t nops;
    uint32_t *order; /* op indexes sorted by (agent, seq) */
    uint64_t *keys;  /* per position in order[]: agent << 32 | seq */
    /* Position in order[] of upd_find's last hit, per kind of reference
     * (REF_*): left origins follow the ops being read, bounds and delete
     * targets each have their own locality, so one shared hint kept
     * missing. */
    uint32_t hit[3];
    uint32_t *buckets; /* per agent, see uagent */
    uint8_t *unpacked; /* a packed state's unpacked columns (ops point into them) */
} upd;

static void upd_free(upd *u)
{
    crdt__mem_free(u->alloc, u->agents);
    crdt__mem_free(u->alloc, u->ops);
    crdt__mem_free(u->alloc, u->order);
    crdt__mem_free(u->alloc, u->keys);
    crdt__mem_free(u->alloc, u->buckets);
    crdt__mem_free(u->alloc, u->unpacked);
}

/* Heap sort of indexes (of ops, or of agents) under an order given by
 * `less`: no recursion, no context-free qsort comparator needed. */
typedef bool (*upd_less)(const upd *u, uint32_t a, uint32_t b);

/* ops by (agent, seq) */
static bool op_less(const upd *u, uint32_t a, uint32_t b)
{
    const crdt_uop *x = &u->ops[a], *y = &u->ops[b];
    return x->ag != y->ag ? x->ag < y->ag : x->seq < y->seq;
}

/* agents by name */
static bool agent_less(const upd *u, uint32_t a, uint32_t b)
{
    const uagent *x = &u->agents[a], *y = &u->agents[b];
    return crdt__name_cmp(x->name, x->len, y->name, y->len) < 0;
}

static void sift(const upd *u, upd_less less, uint32_t *v, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && less(u, v[child], v[child + 1]))
            child++;
        if (!less(u, v[root], v[child]))
            return;
        uint32_t t = v[root];
        v[root] = v[child];
        v[child] = t;
        root = child;
    }
}

static void heap_sort(const upd *u, upd_less less, uint32_t *v, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(u, less, v, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t t = v[0];
        v[0] = v[end];
        v[end] = t;
        sift(u, less, v, 0, end);
    }
}

/* Agent names in one table must be distinct. Sorting keeps this
 * O(n log n): the table may hold one name per 2 bytes of the update, too
 * many to compare pairwise. */
static int agents_distinct(upd *u)
{
    if (u->nagents < 2)
        return CRDT_OK;
    uint32_t *v = crdt__mem_alloc(u->alloc, (size_t)u->nagents * sizeof(uint32_t));
    if (!v)
        return CRDT_ENOMEM;
    for (uint32_t i = 0; i < u->nagents; i++)
        v[i] = i;
    heap_sort(u, agent_less, v, u->nagents);
    int rc = CRDT_OK;
    for (uint32_t i = 1; i < u->nagents && rc == CRDT_OK; i++)
        if (!agent_less(u, v[i - 1], v[i]))
            rc = CRDT_EBADUPDATE;
    crdt__mem_free(u->alloc, v);
    return rc;
}

/* Bucket index of every agent's ops, so that upd_find needs a binary
 * search over a few ops instead of all of them: a full state references
 * ids all over its own ops. Each agent's seqs are split into at most twice
 * as many buckets as it has ops (shift grows until they fit), so the index
 * takes at most 2 nops + nagents entries whatever the seqs are. */
static int index_build(upd *u)
{
    uint64_t total = 0;
    uint32_t p = 0;
    for (uint32_t a = 0; a < u->nagents; a++) {
        uagent *ua = &u->agents[a];
        ua->pos = p;
        while (p < u->nops && u->keys[p] >> 32 == a)
            p++;
        ua->nops = p - ua->pos;
        ua->nb = ua->shift = ua->seq0 = 0;
        ua->boff = (uint32_t)total;
        if (!ua->nops)
            continue;
        ua->seq0 = (uint32_t)u->keys[ua->pos];
        uint32_t span = (uint32_t)u->keys[p - 1] - ua->seq0;
        while ((span >> ua->shift) >= 2 * (uint64_t)ua->nops)
            ua->shift++;
        ua->nb = (span >> ua->shift) + 1;
        total += ua->nb;
    }
    if (!total)
        return CRDT_OK;
    u->buckets = crdt__mem_alloc(u->alloc, (size_t)total * sizeof(uint32_t));
    if (!u->buckets)
        return CRDT_ENOMEM;
    for (uint32_t a = 0; a < u->nagents; a++) {
        const uagent *ua = &u->agents[a];
        /* one pass over the agent's sorted keys (their low half is the
         * seq): op q is the first of every bucket from the one after the
         * previous op's up to its own */
        uint32_t *bk = u->buckets + ua->boff, b = 0, end = ua->pos + ua->nops;
        for (uint32_t q = ua->pos; q < end; q++)
            for (uint32_t qb = ((uint32_t)u->keys[q] - ua->seq0) >> ua->shift; b <= qb; b++)
                bk[b] = q;
        for (; b < ua->nb; b++)
            bk[b] = end;
    }
    return CRDT_OK;
}

/* Opens the update for reading and reads its agent table into u (names
 * checked distinct, none mapped to the replica yet) and its op count: what
 * both the general path and a fresh replica's load start with. */
static int read_head(upd *u, const uint8_t *data, size_t len, crdt_upd_reader *rd)
{
    /* A packed state is read straight from its columns (ops point into
     * u->unpacked); rebuilding its version 1 bytes first cost a third of a
     * load. */
    int rc = crdt__is_packed(data, len) ? crdt__state_reader(u->alloc, data, len, rd, &u->unpacked)
                                        : crdt__upd_begin(rd, data, len);
    if (rc)
        return rc;
    u->agents = crdt__mem_alloc(u->alloc, (size_t)rd->nagents * sizeof(uagent));
    if (!u->agents)
        return CRDT_ENOMEM;
    u->nagents = rd->nagents;
    for (uint32_t i = 0; i < u->nagents; i++)
        u->agents[i].doc = CRDT_NONE;
    for (uint32_t i = 0; i < u->nagents; i++)
        if (!crdt__upd_agent(rd, &u->agents[i].name, &u->agents[i].len))
            return CRDT_EBADUPDATE;
    rc = agents_distinct(u);
    if (rc)
        return rc;
    return crdt__upd_nops(rd) ? CRDT_OK : CRDT_EBADUPDATE;
}

static int decode(upd *u, const uint8_t *data, size_t len)
{
    crdt_upd_reader rd;
    int rc = read_head(u, data, len, &rd);
    if (rc)
        return rc;
    u->ops = crdt__mem_alloc(u->alloc, (size_t)rd.nops * sizeof(crdt_uop));
    u->order = crdt__mem_alloc(u->alloc, (size_t)rd.nops * sizeof(uint32_t));
    u->keys = crdt__mem_alloc(u->alloc, (size_t)rd.nops * sizeof(uint64_t));
    if (!u->ops || !u->order || !u->keys)
        return CRDT_ENOMEM;
    u->nops = rd.nops;
    for (uint32_t i = 0; i < u->nops; i++)
        if (!crdt__upd_op(&rd, &u->ops[i]))
            return CRDT_EBADUPDATE;
    if (!crdt__upd_end(&rd))
        return CRDT_EBADUPDATE;
    bool sorted = true;
    for (uint32_t i = 0; i < u->nops; i++) {
        u->order[i] = i;
        if (i && op_less(u, i, i - 1))
            sorted = false;
    }
    if (!sorted) /* updates from one agent are already in order */
        heap_sort(u, op_less, u->order, u->nops);
    for (uint32_t i = 0; i < u->nops; i++) {
        const crdt_uop *o = &u->ops[u->order[i]];
        u->keys[i] = (uint64_t)o->ag << 32 | o->seq;
    }
    for (uint32_t i = 1; i < u->nops; i++) {
        const crdt_uop *a = &u->ops[u->order[i - 1]], *b = &u->ops[u->order[i]];
        if (a->ag == b->ag && (uint64_t)a->seq + a->len > b->seq)
            return CRDT_EBADUPDATE; /* the same id twice */
    }
    return index_build(u);
}

static bool op_holds(const upd *u, uint32_t pos, uint32_t ag, uint32_t seq)
{
    const crdt_uop *o = &u->ops[u->order[pos]];
    return o->ag == ag && seq - o->seq < o->len;
}

/* The update op holding id (ag, seq), or CRDT_NONE. References cluster
 * (an op's origins are mostly in the op found last or the next one), so
 * those two are tried before the binary search. */
enum { REF_LEFT, REF_RIGHT, REF_TARGET };

static uint32_t upd_find(upd *u, uint32_t ag, uint32_t seq, int ref)
{
    uint32_t *hit = &u->hit[ref];
    if (*hit < u->nops) {
        if (op_holds(u, *hit, ag, seq))
            return u->order[*hit];
        if (*hit + 1 < u->nops && op_holds(u, *hit + 1, ag, seq))
            return u->order[++*hit];
    }
    /* binary search over the compact keys of the ops that start in seq's
     * bucket; the op holding seq starts there or is the one before */
    const uagent *ua = &u->agents[ag];
    if (!ua->nops || seq < ua->seq0)
        return CRDT_NONE;
    uint32_t b = (seq - ua->seq0) >> ua->shift;
    size_t lo, hi;
    if (b >= ua->nb) {
        lo = hi = ua->pos + ua->nops;
    } else {
        lo = u->buckets[ua->boff + b];
        hi = b + 1 < ua->nb ? u->buckets[ua->boff + b + 1] : ua->pos + ua->nops;
    }
    uint64_t key = (uint64_t)ag << 32 | seq;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (u->keys[mid] <= key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || !op_holds(u, (uint32_t)lo - 1, ag, seq))
        return CRDT_NONE;
    *hit = (uint32_t)lo - 1;
    return u->order[lo - 1];
}

static void missing_fill(const upd *u, uint32_t ag, uint32_t seq, crdt_id *m)
{
    if (!m)
        return;
    memset(m, 0, sizeof *m);
    memcpy(m->agent, u->agents[ag].name, u->agents[ag].len);
    m->agent_len = u->agents[ag].len;
    m->seq = seq;
}

/* Check that ids (ag, seq .. seq+n) all exist as inserts in the doc or in
 * ops before op `cur`. Counts the LV chunks they form in *chunks. */
static int check_range(const crdt_doc *doc, upd *u, int ref, uint32_t ag, uint32_t seq, uint32_t n,
                       uint32_t cur, crdt_id *missing, uint64_t *chunks)
{
    uint32_t dag = u->agents[ag].doc;
    while (n > 0) {
        uint32_t lv, k = dag == CRDT_NONE ? 0 : crdt__agent_known(doc, dag, seq, &lv);
        if (k) {
            if (k > n)
                k = n;
            /* every LV of the chunk must be an insert */
            for (uint32_t x = lv; x < lv + k;) {
                const crdt_rec *r = &doc->recs[crdt__rec_find(doc, x)];
                if (r->kind != CRDT_REC_INS)
                    return CRDT_EBADUPDATE;
                x = r->lv + r->len;
            }
        } else {
            uint32_t j = upd_find(u, ag, seq, ref);
            if (j == CRDT_NONE) {
                missing_fill(u, ag, seq, missing);
                return CRDT_EMISSING;
            }
            const crdt_uop *o = &u->ops[j];
            if (j >= cur || (o->kind != CRDT_KIND_INS && o->kind != CRDT_KIND_INS_DEL))
                return CRDT_EBADUPDATE;
            k = o->len - (seq - o->seq);
            if (k > n)
                k = n;
            /* the doc may know a later part of that op: stop at it */
            if (dag != CRDT_NONE) {
                uint32_t nk = crdt__agent_next_known(doc, dag, seq);
                if (nk - seq < k)
                    k = nk - seq;
            }
        }
        (*chunks)++;
        seq += k;
        n -= k;
    }
    return CRDT_OK;
}

/* Length of the unknown (to the doc) stretch of op ids from seq, or of the
 * known stretch (with consecutive LVs, *lv the first) when *known. */
static uint32_t piece(const crdt_doc *doc, uint32_t dag, uint32_t seq, uint32_t end, bool *known,
                      uint32_t *lv)
{
    if (dag == CRDT_NONE) {
        *known = false;
        *lv = CRDT_NONE;
        return end - seq;
    }
    return crdt__agent_piece(doc, dag, seq, end, known, lv);
}

typedef struct needs {
    uint64_t lvs, bytes, recs, runs;
    uint64_t max_runs;   /* bound on recs + runs (RUNS_PER_BYTE) */
    uint64_t *per_agent; /* pieces per update agent */
} needs;

/* Are LVs [lv, lv+k) all inserts (want_ins) or all deletes? An update
 * that repeats known ids must agree with what they are. */
static bool kinds_match(const crdt_doc *doc, uint32_t lv, uint32_t k, bool want_ins)
{
    for (uint32_t x = lv; x < lv + k;) {
        const crdt_rec *r = &doc->recs[crdt__rec_find(doc, x)];
        if ((r->kind == CRDT_REC_INS) != want_ins)
            return false;
        x = r->lv + r->len;
    }
    return true;
}

static int check(const crdt_doc *doc, upd *u, crdt_id *missing, needs *nd)
{
    for (uint32_t i = 0; i < u->nops; i++) {
        const crdt_uop *op = &u->ops[i];
        uint32_t dag = u->agents[op->ag].doc;
        uint32_t s = op->seq, end = op->seq + op->len;
        while (s < end) {
            bool known;
            uint32_t lv, k = piece(doc, dag, s, end, &known, &lv);
            bool ins = op->kind == CRDT_KIND_INS || op->kind == CRDT_KIND_INS_DEL;
            if (known && !kinds_match(doc, lv, k, ins))
                return CRDT_EBADUPDATE;
            if (!known) {
                uint32_t d = s - op->seq;
                uint64_t chunks = 0;
                int rc = CRDT_OK;
                if (op->kind == CRDT_KIND_INS || op->kind == CRDT_KIND_INS_DEL) {
                    if (d == 0 && op->lag != CRDT_NONE)
                        rc = check_range(doc, u, REF_LEFT, op->lag, op->lseq, 1, i, missing,
                                         &chunks);
                    if (rc == CRDT_OK && op->rag != CRDT_NONE)
                        rc = check_range(doc, u, REF_RIGHT, op->rag, op->rseq, 1, i, missing,
                                         &chunks);
                    nd->recs++;
                    nd->per_agent[op->ag]++;
                    nd->runs +=
                        op->kind == CRDT_KIND_INS && op->nbytes != op->len ? k / 128 + 2 : 1;
                } else {
                    uint32_t t =
                        op->kind == CRDT_KIND_DEL ? op->tseq + d : op->tseq + op->len - d - k;
                    rc = check_range(doc, u, REF_TARGET, op->tag, t, k, i, missing, &chunks);
                    nd->recs += chunks;
                    nd->per_agent[op->ag] += chunks;
                    nd->runs += chunks;
                }
                if (rc)
                    return rc;
                nd->lvs += k;
                if (nd->recs + nd->runs > nd->max_runs || nd->lvs > CRDT_LV_MAX)
                    return CRDT_ELIMIT;
            }
            s += k;
        }
        if (op->kind == CRDT_KIND_INS)
            nd->bytes += op->nbytes;
    }
    return CRDT_OK;
}

/* Undo agent additions of a failed apply. */
static void agents_rollback(crdt_doc *doc, uint32_t old_n)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < doc->nagents; i++)
        if (doc->agent_order[i] < old_n)
            doc->agent_order[w++] = doc->agent_order[i];
    for (uint32_t a = old_n; a < doc->nagents; a++)
        crdt__mem_free(&doc->alloc, doc->agents[a].runs);
    doc->nagents = old_n;
}

static int reserve(crdt_doc *doc, upd *u, const needs *nd)
{
    const crdt_allocator *a = &doc->alloc;
    if (nd->lvs > CRDT_LV_MAX - doc->next_lv || nd->bytes > UINT32_MAX - doc->arena_len ||
        nd->recs > UINT32_MAX - doc->nrecs)
        return CRDT_ELIMIT;
    uint32_t old_n = doc->nagents;
    int rc = crdt__mem_reserve(a, (void **)&doc->agents, &doc->agents_cap,
                               (size_t)doc->nagents + u->nagents, sizeof(crdt_agent));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->agent_order, &doc->order_cap,
                               (size_t)doc->nagents + u->nagents, sizeof(uint32_t));
    if (rc)
        return rc;
    for (uint32_t i = 0; i < u->nagents; i++) {
        if (u->agents[i].doc == CRDT_NONE && nd->per_agent[i]) {
            rc = crdt__agent_add(doc, (const char *)u->agents[i].name, u->agents[i].len,
                                 &u->agents[i].doc);
            if (rc)
                break;
        }
    }
    for (uint32_t i = 0; rc == CRDT_OK && i < u->nagents; i++) {
        if (!nd->per_agent[i])
            continue;
        crdt_agent *ag = &doc->agents[u->agents[i].doc];
        rc = crdt__mem_reserve(a, (void **)&ag->runs, &ag->cap, ag->nruns + nd->per_agent[i],
                               sizeof(crdt_agent_run));
    }
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->spans, &doc->spans_cap, doc->nspans + nd->recs,
                               sizeof(crdt_span));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->recs, &doc->recs_cap, doc->nrecs + nd->recs,
                               sizeof(crdt_rec));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->lv_leaf, &doc->lv_leaf_cap, doc->next_lv + nd->lvs,
                               sizeof(uint32_t));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->arena, &doc->arena_cap, doc->arena_len + nd->bytes,
                               1);
    if (rc == CRDT_OK)
        rc = nd->runs > UINT32_MAX ? CRDT_ELIMIT : crdt__tree_reserve(doc, (uint32_t)nd->runs);
    if (rc) {
        for (uint32_t i = 0; i < u->nagents; i++)
            if (u->agents[i].doc >= old_n && u->agents[i].doc != CRDT_NONE)
                u->agents[i].doc = CRDT_NONE;
        agents_rollback(doc, old_n);
    }
    return rc;
}

static uint32_t resolve(const crdt_doc *doc, const upd *u, uint32_t ag, uint32_t seq)
{
    if (ag == CRDT_NONE)
        return CRDT_NONE;
    return crdt__agent_lv(doc, u->agents[ag].doc, seq);
}

/* The UTF-16 offset of visible position pos (the tree is consistent between
 * the steps of commit, so the conversion cannot fail). */
static size_t utf16_at(const crdt_doc *doc, size_t pos)
{
    size_t off16 = 0;
    (void)crdt_doc_pos_to_utf16(doc, pos, &off16);
    return off16;
}

/* crdt_doc_apply_changes: visible characters [lv, lv + n) (n code points,
 * nb bytes at text) were just placed. Kept out of line (as report_delete):
 * the integration loop, which also loads whole states, stays as it was. */
static __attribute__((noinline, cold)) void
report_insert(const crdt_doc *doc, uint32_t lv, uint32_t n, const uint8_t *text, uint32_t nb)
{
    size_t pos = crdt__tree_vis_pos(doc, lv);
    crdt_change ch = {.pos = pos,
                      .pos16 = utf16_at(doc, pos),
                      .ins = n,
                      .ins16 = n + crdt__utf8_astral(text, nb),
                      .text = (const char *)text,
                      .text_len = nb};
    doc->change_fn(doc->change_ctx, &ch);
}

/* crdt_doc_apply_changes: visible characters [t, t + n) are about to be
 * deleted. */
static __attribute__((noinline, cold)) void report_delete(const crdt_doc *doc, uint32_t t,
                                                          uint32_t n)
{
    size_t pos = crdt__tree_vis_pos(doc, t), pos16 = utf16_at(doc, pos);
    crdt_change ch = {
        .pos = pos, .pos16 = pos16, .del = n, .del16 = utf16_at(doc, pos + n) - pos16};
    doc->change_fn(doc->change_ctx, &ch);
}

/* Mark target LVs [t, t+n) deleted, run by run. */
static void delete_lvs(crdt_doc *doc, uint32_t t, uint32_t n)
{
    while (n > 0) {
        /* one look-up of the run per piece, kept for the delete itself */
        crdt_cursor c = crdt__tree_cursor_lv_near(doc, t);
        const crdt_run *r = &doc->leaves[c.leaf].runs[c.i];
        uint32_t k = r->len - c.off;
        if (k > n)
            k = n;
        if (!r->del) {
            if (doc->change_fn)
                report_delete(doc, t, k); /* const: the cursor stays valid */
            crdt__tree_delete_at(doc, c, k);
        }
        t += k;
        n -= k;
    }
}

/* Id look-ups and assignments of integration. An agent's ops mostly come
 * in seq order, so these mostly concern its newest id run (and the newest
 * span): that case is answered inline, the rest by agents.c. */
static inline uint32_t agent_lv(const crdt_doc *doc, uint32_t dag, uint32_t seq)
{
    const crdt_agent *ag = &doc->agents[dag];
    if (ag->nruns) {
        const crdt_agent_run *r = &ag->runs[ag->nruns - 1];
        if (seq - r->seq < r->len)
            return r->lv + (seq - r->seq);
    }
    return crdt__agent_lv(doc, dag, seq);
}

static inline void agent_assign(crdt_doc *doc, uint32_t dag, uint32_t seq, uint32_t lv,
                                uint32_t len)
{
    crdt_agent *ag = &doc->agents[dag];
    if (ag->nruns && doc->nspans) {
        crdt_agent_run *r = &ag->runs[ag->nruns - 1];
        const crdt_span *sp = &doc->spans[doc->nspans - 1];
        if (r->seq + r->len == seq && r->lv + r->len == lv && sp->agent == dag &&
            sp->seq + (lv - sp->lv) == seq) {
            r->len += len; /* what crdt__agent_assign does then */
            return;
        }
    }
    crdt__agent_assign(doc, dag, seq, lv, len);
}

/* crdt__agent_known (back: crdt__agent_known_back) of doc agent dag. */
static inline uint32_t agent_known(const crdt_doc *doc, uint32_t dag, uint32_t seq, bool back,
                                   uint32_t *lv)
{
    const crdt_agent *ag = &doc->agents[dag];
    if (ag->nruns) {
        const crdt_agent_run *r = &ag->runs[ag->nruns - 1];
        if (seq - r->seq < r->len) {
            *lv = r->lv + (seq - r->seq);
            return back ? seq - r->seq + 1 : r->len - (seq - r->seq);
        }
    }
    return back ? crdt__agent_known_back(doc, dag, seq, lv) : crdt__agent_known(doc, dag, seq, lv);
}

/* Whether the ids [seq, seq + len) of doc agent dag are all unknown. */
static inline bool agent_ids_new(const crdt_doc *doc, uint32_t dag, uint32_t seq, uint32_t len)
{
    const crdt_agent *ag = &doc->agents[dag];
    if (!ag->nruns || (uint64_t)ag->runs[ag->nruns - 1].seq + ag->runs[ag->nruns - 1].len <= seq)
        return true; /* every known id is below seq */
    bool known;
    uint32_t lv;
    return crdt__agent_piece(doc, dag, seq, seq + len, &known, &lv) == len && !known;
}

/* The fresh path's check of an insert's reference (ag, seq), which the
 * general path makes in check: every op before this one is integrated, so the reference
 * is valid iff the replica now knows it as an inserted character (a delete
 * has no leaf). An agent the update gives no op has no replica index. */
static inline __attribute__((always_inline)) bool ref_ok(const crdt_doc *doc, const upd *u,
                                                         uint32_t ag, uint32_t seq, uint32_t *lv)
{
    if (ag == CRDT_NONE) {
        *lv = CRDT_NONE;
        return true;
    }
    uint32_t dag = u->agents[ag].doc;
    *lv = dag == CRDT_NONE ? CRDT_NONE : agent_lv(doc, dag, seq);
    return *lv != CRDT_NONE && doc->lv_leaf[*lv] != CRDT_NONE;
}

/* Returns false, having changed nothing, when `verify` (the fresh path,
 * which check did not see) and an origin or bound is not a known insert;
 * also when the fresh path's list (listload.c) runs out of memory, which
 * ends that path anyway. */
static bool apply_insert(crdt_doc *doc, const upd *u, const crdt_uop *op, uint32_t s, uint32_t k,
                         bool verify)
{
    uint32_t dag = u->agents[op->ag].doc, d = s - op->seq, left, right;
    if (verify) {
        if (d == 0 ? !ref_ok(doc, u, op->lag, op->lseq, &left)
                   : (left = agent_lv(doc, dag, s - 1)) == CRDT_NONE)
            return false;
        if (!ref_ok(doc, u, op->rag, op->rseq, &right))
            return false;
    } else {
        left = d == 0 ? resolve(doc, u, op->lag, op->lseq) : crdt__agent_lv(doc, dag, s - 1);
        right = resolve(doc, u, op->rag, op->rseq);
    }
    uint32_t lv = doc->next_lv, off = doc->arena_len, nb = 0;
    bool deleted = op->kind == CRDT_KIND_INS_DEL;
    if (!deleted && op->nbytes == op->len) { /* ASCII: bytes are code points */
        nb = k;
        memcpy(doc->arena + off, op->text + d, nb);
        doc->arena_len += nb;
    } else if (!deleted) {
        size_t from = d ? crdt__utf8_offset(op->text, op->nbytes, d) : 0;
        nb = (uint32_t)crdt__utf8_offset(op->text + from, op->nbytes - from, k);
        memcpy(doc->arena + off, op->text + from, nb);
        doc->arena_len += nb;
    }
    agent_assign(doc, dag, s, lv, k);
    crdt__rec_add_insert(doc, lv, k, left, right);
    doc->next_lv += k;
    if (doc->list) {
        int placed = crdt__list_insert(doc, left, right, lv, k, off, nb, deleted);
        if (placed > 0)
            return true;
        /* concurrent: the rest goes into the tree */
        if (placed < 0 || crdt__list_build(doc) != CRDT_OK)
            return false;
    }
    crdt__integrate_insert(doc, left, right, lv, k, off, nb, deleted);
    if (doc->change_fn && !deleted)
        report_insert(doc, lv, k, doc->arena + off, nb);
    return true;
}

static void apply_delete(crdt_doc *doc, const upd *u, const crdt_uop *op, uint32_t s, uint32_t k)
{
    uint32_t dag = u->agents[op->ag].doc, tdag = u->agents[op->tag].doc, d = s - op->seq;
    bool rev = op->kind == CRDT_KIND_DEL_REV;
    /* forward: op s+j deletes tseq+d+j; reverse: deletes tseq+len-1-d-j */
    uint32_t j = 0;
    while (j < k) {
        uint32_t lv_t, c;
        if (!rev) {
            c = crdt__agent_known(doc, tdag, op->tseq + d + j, &lv_t);
        } else {
            c = crdt__agent_known_back(doc, tdag, op->tseq + op->len - 1 - d - j, &lv_t);
            lv_t = lv_t - (c < k - j ? c : k - j) + 1;
        }
        if (c > k - j)
            c = k - j;
        uint32_t lv = doc->next_lv;
        crdt__agent_assign(doc, dag, s + j, lv, c);
        crdt__rec_add_delete(doc, lv, c, lv_t, rev);
        for (uint32_t x = 0; x < c; x++)
            doc->lv_leaf[lv + x] = CRDT_NONE;
        doc->next_lv += c;
        delete_lvs(doc, lv_t, c);
        j += c;
    }
}

/* Integrates the checked update; stops early (the replica then holds a
 * state to discard) when an insert's scan ran out of doc->scan_budget. */
static void commit(crdt_doc *doc, const upd *u)
{
    crdt__tree_cache_reset(doc);
    for (uint32_t i = 0; i < u->nops && !doc->over_budget && !doc->bad_origins; i++) {
        const crdt_uop *op = &u->ops[i];
        uint32_t dag = u->agents[op->ag].doc;
        uint32_t s = op->seq, end = op->seq + op->len;
        while (s < end) {
            bool known;
            uint32_t lv, k = piece(doc, dag, s, end, &known, &lv);
            if (!known) {
                if (op->kind == CRDT_KIND_INS || op->kind == CRDT_KIND_INS_DEL)
                    (void)apply_insert(doc, u, op, s, k, false);
                else
                    apply_delete(doc, u, op, s, k);
            }
            s += k;
            if (doc->over_budget || doc->bad_origins)
                break;
        }
    }
}

static int apply(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                 uint64_t max_scan, bool bounded);

int crdt_doc_apply(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing)
{
    return apply(doc, data, len, missing, UINT64_MAX, false);
}

int crdt_doc_apply_changes(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                           crdt_change_fn fn, void *ctx)
{
    if (!doc)
        return CRDT_EINVAL;
    doc->change_fn = fn;
    doc->change_ctx = ctx;
    int rc = apply(doc, data, len, missing, UINT64_MAX, false);
    doc->change_fn = NULL;
    doc->change_ctx = NULL;
    return rc;
}

uint64_t crdt_doc_scanned(const crdt_doc *doc)
{
    return doc ? doc->scanned : 0;
}

int crdt_doc_apply_bounded(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                           uint64_t max_scan)
{
    return apply(doc, data, len, missing, max_scan, true);
}

/* Check, reserve and commit a decoded update (see apply). */
static int check_commit(crdt_doc *doc, upd *u, needs *nd, crdt_id *missing, uint64_t max_scan,
                        bool bounded)
{
    int rc = check(doc, u, missing, nd);
    if (rc == CRDT_OK)
        rc = reserve(doc, u, nd);
    if (rc)
        return rc;
    doc->scan_budget = max_scan;
    doc->over_budget = false;
    doc->check_origins = bounded;
    doc->bad_origins = false;
    commit(doc, u);
    crdt__tree_cache_reset(doc);
    if (doc->over_budget)
        rc = CRDT_ECOST;
    else if (doc->bad_origins)
        rc = CRDT_EORIGIN;
    doc->scan_budget = UINT64_MAX;
    doc->over_budget = false;
    doc->check_origins = doc->bad_origins = false;
    return rc;
}

/* Put a replica that held no operation (next_lv was 0) back as it was
 * before the fresh path's commit: no operation, no text, an empty tree,
 * the agents it had (with no ids, as before) and none of the update's.
 * Capacities stay as reserved. */
static void fresh_rollback(crdt_doc *doc, upd *u, uint32_t old_n, uint64_t old_scanned)
{
    for (uint32_t i = 0; i < u->nagents; i++)
        if (u->agents[i].doc != CRDT_NONE && u->agents[i].doc >= old_n)
            u->agents[i].doc = CRDT_NONE;
    agents_rollback(doc, old_n);
    for (uint32_t a = 0; a < doc->nagents; a++)
        doc->agents[a].nruns = 0;
    doc->nspans = doc->nrecs = doc->next_lv = doc->arena_len = 0;
    doc->ninodes = doc->nruns = doc->excess = 0;
    doc->hint_ok = false;
    (void)crdt__tree_init(doc); /* cannot fail: leaf 0 is always allocated */
    doc->scanned = old_scanned;
}

/* ------------------------------------------------------ the fresh path
 *
 * Into a replica that holds no operation (loading a stored state, a new
 * subscriber's first sync) an update is integrated op by op as it is read:
 * no table of its ops, no sorting or index of their ids, no check pass.
 * Every op before the current one is then in the replica, so each check
 * the general path makes in advance is made when the op is integrated,
 * against the replica: the op's ids are all new, its origins and bound are
 * known inserts (apply_insert with verify), its delete targets are known
 * inserts, and the counts that the limits bound (records, runs, LVs) are
 * those the general path's check adds up. Memory is reserved per op,
 * growing geometrically (after a first guess from a packed state's
 * columns). Whenever anything fails - reading, a check, a limit, memory,
 * the scan budget, an origin contradicting the document - the replica is
 * emptied again and the general path runs from the start, so results,
 * error codes and *missing are exactly the general path's. */

/* fresh_room's reservations when something is short. */
static __attribute__((noinline)) bool fresh_grow(crdt_doc *doc, crdt_agent *ag, uint32_t lvs,
                                                 uint32_t bytes, uint32_t runs)
{
    const crdt_allocator *a = &doc->alloc;
    return crdt__mem_reserve(a, (void **)&ag->runs, &ag->cap, (size_t)ag->nruns + 1,
                             sizeof(crdt_agent_run)) == CRDT_OK &&
           crdt__mem_reserve(a, (void **)&doc->spans, &doc->spans_cap, (size_t)doc->nspans + 1,
                             sizeof(crdt_span)) == CRDT_OK &&
           crdt__mem_reserve(a, (void **)&doc->recs, &doc->recs_cap, (size_t)doc->nrecs + 1,
                             sizeof(crdt_rec)) == CRDT_OK &&
           crdt__mem_reserve(a, (void **)&doc->lv_leaf, &doc->lv_leaf_cap,
                             (size_t)doc->next_lv + lvs, sizeof(uint32_t)) == CRDT_OK &&
           crdt__mem_reserve(a, (void **)&doc->arena, &doc->arena_cap,
                             (size_t)doc->arena_len + bytes, 1) == CRDT_OK &&
           crdt__tree_reserve(doc, runs) == CRDT_OK;
}

/* Count one op piece (one record and `runs` runs, `lvs` LVs) against the
 * update's limits as check does, and make room for it: `lvs` LVs, `bytes`
 * of text, a record, a span, an id run of doc agent dag and `runs` tree
 * runs. False when a limit is reached or memory runs out. Inline, with one
 * test for the usual case that all is there (presized). */
static inline __attribute__((always_inline)) bool
fresh_room(crdt_doc *doc, needs *nd, uint32_t dag, uint32_t lvs, uint32_t bytes, uint32_t runs)
{
    crdt_agent *ag = &doc->agents[dag];
    nd->recs++;
    nd->runs += runs;
    nd->lvs += lvs;
    if (nd->recs + nd->runs > nd->max_runs || nd->lvs > CRDT_LV_MAX)
        return false;
    /* crdt__tree_reserve's own test for enough room */
    uint64_t h = (uint64_t)doc->height + runs + 1;
    if (ag->nruns < ag->cap && doc->nspans < doc->spans_cap && doc->nrecs < doc->recs_cap &&
        (uint64_t)doc->next_lv + lvs <= doc->lv_leaf_cap &&
        (uint64_t)doc->arena_len + bytes <= doc->arena_cap &&
        doc->leaves_cap - doc->nleaves >= runs && doc->inodes_cap - doc->ninodes >= runs * h)
        return true;
    return fresh_grow(doc, ag, lvs, bytes, runs);
}

/* A first reservation for a packed state (of len bytes), from its
 * columns: one record, span and tree run per op, the LVs its lengths add up
 * to, its text. Only a guess (fresh_room grows what is short); it spares
 * the copies of growing from nothing. Nothing is checked yet, so what it
 * reserves stays proportional to len: LVs only up to RUNS_PER_BYTE per
 * byte (a legitimate state may carry more, in long deleted runs, and then
 * grows as its ops are integrated). */
static void fresh_presize(crdt_doc *doc, const crdt_upd_reader *rd, size_t len)
{
    const crdt_allocator *a = &doc->alloc;
    crdt_rbuf lens = rd->col[CRDT_COL_LENS]; /* a copy: the reader's stays at its start */
    uint64_t lvs = 0, v;
    while (lvs <= CRDT_LV_MAX && crdt__rbuf_varint(&lens, &v))
        lvs += v <= CRDT_LV_MAX ? v : (uint64_t)CRDT_LV_MAX + 1; /* no wrap */
    if (lvs <= CRDT_LV_MAX && lvs <= (uint64_t)len * RUNS_PER_BYTE)
        (void)crdt__mem_reserve(a, (void **)&doc->lv_leaf, &doc->lv_leaf_cap, (size_t)lvs,
                                sizeof(uint32_t));
    (void)crdt__mem_reserve(a, (void **)&doc->arena, &doc->arena_cap, rd->col[CRDT_COL_TEXT].len,
                            1);
    (void)crdt__mem_reserve(a, (void **)&doc->recs, &doc->recs_cap, rd->nops, sizeof(crdt_rec));
    (void)crdt__mem_reserve(a, (void **)&doc->spans, &doc->spans_cap, rd->nops, sizeof(crdt_span));
    (void)crdt__tree_reserve(doc, rd->nops);
}

/* The fresh path's part of a delete whose ids are all new: apply_delete
 * with check's accounting and checks, the targets verified against the
 * replica (known ids, then inserted characters: a delete has no leaf). */
static bool fresh_delete(crdt_doc *doc, const upd *u, needs *nd, const crdt_uop *op)
{
    uint32_t dag = u->agents[op->ag].doc, tdag = u->agents[op->tag].doc, k = op->len;
    bool rev = op->kind == CRDT_KIND_DEL_REV;
    for (uint32_t j = 0; j < k;) {
        uint32_t lv_t, c;
        if (!rev)
            c = agent_known(doc, tdag, op->tseq + j, false, &lv_t);
        else
            c = agent_known(doc, tdag, op->tseq + k - 1 - j, true, &lv_t);
        if (c == 0)
            return false;
        if (c > k - j)
            c = k - j;
        if (rev)
            lv_t = lv_t - c + 1;
        if (!fresh_room(doc, nd, dag, c, 0, 1))
            return false;
        uint32_t lv = doc->next_lv;
        agent_assign(doc, dag, op->seq + j, lv, c);
        crdt__rec_add_delete(doc, lv, c, lv_t, rev);
        crdt__lv_fill_tail(doc, lv, c, CRDT_NONE); /* lv is next_lv: a delete has no leaf */
        doc->next_lv += c;
        if (doc->list) {
            int done = crdt__list_delete(doc, lv_t, c);
            if (done < 0)
                return false;
            if (done > 0) {
                j += c;
                continue;
            }
            /* a visible target: the tree deletes it */
            if (crdt__list_build(doc) != CRDT_OK)
                return false;
        }
        /* delete_lvs, each piece's first target checked: the rest of the
         * piece shares its tree run, so it is inserted too */
        for (uint32_t t = lv_t, n = c; n > 0;) {
            if (doc->lv_leaf[t] == CRDT_NONE)
                return false;
            crdt_cursor cur = crdt__tree_cursor_lv_near(doc, t);
            const crdt_run *r = &doc->leaves[cur.leaf].runs[cur.i];
            uint32_t m = r->len - cur.off < n ? r->len - cur.off : n;
            if (!r->del)
                crdt__tree_delete_at(doc, cur, m);
            t += m;
            n -= m;
        }
        j += c;
    }
    return true;
}

/* Reads and integrates the update into a replica with no operation (see
 * above). CRDT_OK when it is loaded; anything else means "start over on the
 * general path" (the caller empties the replica first). */
static int load_fresh(crdt_doc *doc, upd *u, needs *nd, const uint8_t *data, size_t len,
                      uint64_t max_scan, bool bounded)
{
    crdt_upd_reader rd;
    bool packed = crdt__is_packed(data, len);
    int rc = read_head(u, data, len, &rd);
    /* every agent of the table, in table order as reserve adds them (one
     * that ends up with no op sends the update to the general path, which
     * does not add it) */
    uint32_t old_n = doc->nagents;
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->agents, &doc->agents_cap,
                               (size_t)doc->nagents + u->nagents, sizeof(crdt_agent));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->agent_order, &doc->order_cap,
                               (size_t)doc->nagents + u->nagents, sizeof(uint32_t));
    for (uint32_t i = 0; rc == CRDT_OK && i < u->nagents; i++) {
        const char *name = (const char *)u->agents[i].name;
        if (crdt__agent_find(doc, name, u->agents[i].len, &u->agents[i].doc) != CRDT_OK)
            rc = crdt__agent_add(doc, name, u->agents[i].len, &u->agents[i].doc);
    }
    if (rc)
        return rc;
    if (packed)
        fresh_presize(doc, &rd, len);
    /* runs go into a list until an insert is concurrent (listload.c);
     * without one, into the tree from the start. Room for a run per op,
     * at most one per byte of the update (a packed state may announce 32
     * ops per byte): a guess, the list grows as it needs. */
    (void)crdt__list_begin(doc, (uint32_t)(rd.nops < len ? rd.nops : len) + 16);
    crdt__tree_cache_reset(doc);
    doc->scan_budget = max_scan;
    doc->over_budget = false;
    doc->check_origins = bounded;
    doc->bad_origins = false;
    bool ok = true;
    for (uint32_t i = 0; ok && i < rd.nops; i++) {
        crdt_uop op;
        if (!crdt__upd_op(&rd, &op) || !agent_ids_new(doc, u->agents[op.ag].doc, op.seq, op.len)) {
            ok = false; /* malformed, or an id twice */
        } else if (op.kind == CRDT_KIND_INS || op.kind == CRDT_KIND_INS_DEL) {
            uint32_t runs = op.kind == CRDT_KIND_INS && op.nbytes != op.len ? op.len / 128 + 2 : 1;
            ok = fresh_room(doc, nd, u->agents[op.ag].doc, op.len, op.nbytes, runs) &&
                 apply_insert(doc, u, &op, op.seq, op.len, true);
        } else {
            ok = fresh_delete(doc, u, nd, &op);
        }
        if (doc->over_budget || doc->bad_origins)
            ok = false;
    }
    ok = ok && crdt__upd_end(&rd);
    if (ok && doc->list)
        ok = crdt__list_build(doc) == CRDT_OK;
    crdt__list_end(doc);
    for (uint32_t i = 0; ok && i < u->nagents; i++)
        if (u->agents[i].doc >= old_n && !doc->agents[u->agents[i].doc].nruns)
            ok = false;
    crdt__tree_cache_reset(doc);
    doc->scan_budget = UINT64_MAX;
    doc->over_budget = false;
    doc->check_origins = doc->bad_origins = false;
    return ok ? CRDT_OK : CRDT_EBADUPDATE;
}

/* A load reserved room for the worst case of the whole state before it
 * changed anything (so that it could not fail half-way): a leaf for every
 * possible split, a span and an id run for every record. The state's real
 * shape needs far less (automerge-paper: 599 leaves of 3,063 reserved, one
 * span of 23,361), and a loaded replica is kept, often for long. Each such
 * table keeps an eighth of room (keystrokes find it there) and gives back
 * the rest. */
static void trim_after_load(crdt_doc *doc)
{
    const crdt_allocator *a = &doc->alloc;
    for (uint32_t i = 0; i < doc->nagents; i++) {
        crdt_agent *ag = &doc->agents[i];
        crdt__mem_trim(a, (void **)&ag->runs, &ag->cap, ag->nruns, sizeof(crdt_agent_run));
    }
    crdt__mem_trim(a, (void **)&doc->spans, &doc->spans_cap, doc->nspans, sizeof(crdt_span));
    crdt__mem_trim(a, (void **)&doc->recs, &doc->recs_cap, doc->nrecs, sizeof(crdt_rec));
    crdt__mem_trim(a, (void **)&doc->leaves, &doc->leaves_cap, doc->nleaves, sizeof(crdt_leaf));
    crdt__mem_trim(a, (void **)&doc->inodes, &doc->inodes_cap, doc->ninodes, sizeof(crdt_inode));
}

/* crdt_doc_apply (bounded = false) and crdt_doc_apply_bounded: the fresh
 * path (above) into a replica that holds no operation, else, or when the
 * fresh path gives up, decode, check, reserve and commit. Not with a change
 * callback, which would report changes that are undone. */
static int apply(crdt_doc *doc, const uint8_t *data, size_t len, crdt_id *missing,
                 uint64_t max_scan, bool bounded)
{
    if (!doc || (!data && len))
        return CRDT_EINVAL;
    uint64_t max_runs = (uint64_t)len * RUNS_PER_BYTE + RUNS_ALLOWANCE;
    if (doc->next_lv == 0 && !doc->change_fn) {
        upd f = {.alloc = &doc->alloc};
        needs fnd = {.max_runs = max_runs};
        uint32_t old_n = doc->nagents;
        uint64_t old_scanned = doc->scanned;
        int rc = load_fresh(doc, &f, &fnd, data, len, max_scan, bounded);
        if (rc != CRDT_OK)
            fresh_rollback(doc, &f, old_n, old_scanned);
        upd_free(&f);
        if (rc == CRDT_OK) {
            trim_after_load(doc);
            return CRDT_OK;
        }
    }
    upd u = {.alloc = &doc->alloc};
    needs nd = {.max_runs = max_runs};
    int rc = decode(&u, data, len);
    if (rc == CRDT_OK) {
        for (uint32_t i = 0; i < u.nagents; i++)
            if (crdt__agent_find(doc, (const char *)u.agents[i].name, u.agents[i].len,
                                 &u.agents[i].doc) != CRDT_OK)
                u.agents[i].doc = CRDT_NONE;
        nd.per_agent = crdt__mem_alloc(&doc->alloc, (size_t)u.nagents * sizeof(uint64_t));
        if (!nd.per_agent)
            rc = CRDT_ENOMEM;
        else
            memset(nd.per_agent, 0, (size_t)u.nagents * sizeof(uint64_t));
    }
    if (rc == CRDT_OK)
        rc = check_commit(doc, &u, &nd, missing, max_scan, bounded);
    crdt__mem_free(&doc->alloc, nd.per_agent);
    upd_free(&u);
    return rc;
}
