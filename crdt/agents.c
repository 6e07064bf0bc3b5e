/* agents.c - the agent table: names, seq -> LV runs per agent (gaps
 * allowed, so one agent may edit on concurrent branches), and LV -> (agent,
 * seq) spans. */
#include "crdt_int.h"

#include <string.h>

/* Position in agent_order where `name` is or would be. */
static uint32_t order_search(const crdt_doc *doc, const char *name, size_t len, bool *found)
{
    uint32_t lo = 0, hi = doc->nagents;
    *found = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const crdt_agent *ag = &doc->agents[doc->agent_order[mid]];
        int c = crdt__name_cmp(ag->name, ag->name_len, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int crdt__agent_find(const crdt_doc *doc, const char *name, size_t len, uint32_t *idx)
{
    bool found;
    uint32_t at = order_search(doc, name, len, &found);
    if (!found)
        return CRDT_EMISSING;
    *idx = doc->agent_order[at];
    return CRDT_OK;
}

int crdt__agent_add(crdt_doc *doc, const char *name, size_t len, uint32_t *idx)
{
    if (len == 0 || len > CRDT_AGENT_MAX)
        return CRDT_EINVAL;
    bool found;
    uint32_t at = order_search(doc, name, len, &found);
    if (found) {
        *idx = doc->agent_order[at];
        return CRDT_OK;
    }
    int rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->agents, &doc->agents_cap,
                               (size_t)doc->nagents + 1, sizeof(crdt_agent));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->agent_order, &doc->order_cap,
                               (size_t)doc->nagents + 1, sizeof(uint32_t));
    if (rc)
        return rc;
    crdt_agent *ag = &doc->agents[doc->nagents];
    memset(ag, 0, sizeof *ag);
    ag->name_len = (uint8_t)len;
    memcpy(ag->name, name, len);
    memmove(&doc->agent_order[at + 1], &doc->agent_order[at],
            (doc->nagents - at) * sizeof(uint32_t));
    doc->agent_order[at] = doc->nagents;
    *idx = doc->nagents++;
    return CRDT_OK;
}

/* Index of the last run with run.seq <= seq, or UINT32_MAX. */
static uint32_t run_search(const crdt_agent *ag, uint32_t seq)
{
    /* Local edits and most remote ones concern the agent's newest run. */
    if (ag->nruns && ag->runs[ag->nruns - 1].seq <= seq)
        return ag->nruns - 1;
    uint32_t n = crdt__upper_bound(ag->runs, ag->nruns, sizeof *ag->runs, seq);
    return n == 0 ? UINT32_MAX : n - 1;
}

/* The agent's run that holds seq, or NULL when seq is unknown. */
static const crdt_agent_run *run_holding(const crdt_doc *doc, uint32_t agent, uint32_t seq)
{
    const crdt_agent *ag = &doc->agents[agent];
    uint32_t i = run_search(ag, seq);
    if (i == UINT32_MAX || seq - ag->runs[i].seq >= ag->runs[i].len)
        return NULL;
    return &ag->runs[i];
}

uint32_t crdt__agent_run_from(const crdt_doc *doc, uint32_t agent, uint32_t seq)
{
    const crdt_agent *ag = &doc->agents[agent];
    uint32_t i = run_search(ag, seq);
    if (i == UINT32_MAX)
        return 0;
    return seq - ag->runs[i].seq < ag->runs[i].len ? i : i + 1;
}

uint32_t crdt__agent_known(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t *lv)
{
    const crdt_agent_run *r = run_holding(doc, agent, seq);
    if (!r)
        return 0;
    *lv = r->lv + (seq - r->seq);
    return r->len - (seq - r->seq);
}

uint32_t crdt__agent_known_back(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t *lv)
{
    const crdt_agent_run *r = run_holding(doc, agent, seq);
    if (!r)
        return 0;
    *lv = r->lv + (seq - r->seq);
    return seq - r->seq + 1;
}

uint32_t crdt__agent_lv(const crdt_doc *doc, uint32_t agent, uint32_t seq)
{
    uint32_t lv;
    return crdt__agent_known(doc, agent, seq, &lv) ? lv : CRDT_NONE;
}

uint32_t crdt__agent_next_known(const crdt_doc *doc, uint32_t agent, uint32_t seq)
{
    const crdt_agent *ag = &doc->agents[agent];
    uint32_t i = run_search(ag, seq);
    if (i != UINT32_MAX && seq - ag->runs[i].seq < ag->runs[i].len)
        return seq;
    uint32_t j = i == UINT32_MAX ? 0 : i + 1;
    return j < ag->nruns ? ag->runs[j].seq : UINT32_MAX;
}

uint32_t crdt__agent_piece(const crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t end,
                           bool *known, uint32_t *lv)
{
    /* crdt__agent_known, then crdt__agent_next_known, with one search */
    const crdt_agent *ag = &doc->agents[agent];
    uint32_t i = run_search(ag, seq);
    if (i != UINT32_MAX && seq - ag->runs[i].seq < ag->runs[i].len) {
        const crdt_agent_run *r = &ag->runs[i];
        uint32_t k = r->len - (seq - r->seq);
        *known = true;
        *lv = r->lv + (seq - r->seq);
        return k < end - seq ? k : end - seq;
    }
    *known = false;
    *lv = CRDT_NONE;
    uint32_t j = i == UINT32_MAX ? 0 : i + 1;
    uint32_t nk = j < ag->nruns ? ag->runs[j].seq : UINT32_MAX;
    return nk < end ? nk - seq : end - seq;
}

int crdt__agent_reserve(crdt_doc *doc, uint32_t agent, uint32_t n)
{
    crdt_agent *ag = &doc->agents[agent];
    int rc = crdt__mem_reserve(&doc->alloc, (void **)&ag->runs, &ag->cap, (size_t)ag->nruns + n,
                               sizeof(crdt_agent_run));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->spans, &doc->spans_cap,
                               (size_t)doc->nspans + n, sizeof(crdt_span));
    return rc;
}

void crdt__agent_assign(crdt_doc *doc, uint32_t agent, uint32_t seq, uint32_t lv, uint32_t len)
{
    crdt_agent *ag = &doc->agents[agent];
    /* seq -> lv runs: usually an append that extends the last run. */
    uint32_t i = run_search(ag, seq);
    crdt_agent_run *prev = i == UINT32_MAX ? NULL : &ag->runs[i];
    if (prev && prev->seq + prev->len == seq && prev->lv + prev->len == lv) {
        prev->len += len;
    } else {
        uint32_t at = i == UINT32_MAX ? 0 : i + 1;
        memmove(&ag->runs[at + 1], &ag->runs[at], (ag->nruns - at) * sizeof(crdt_agent_run));
        ag->runs[at] = (crdt_agent_run){seq, lv, len};
        ag->nruns++;
    }
    /* LVs are assigned in increasing order, so spans only ever append. */
    if (doc->nspans) {
        crdt_span *last = &doc->spans[doc->nspans - 1];
        if (last->agent == agent && last->seq + (lv - last->lv) == seq)
            return;
    }
    doc->spans[doc->nspans++] = (crdt_span){lv, agent, seq};
}

void crdt__span_id(const crdt_doc *doc, uint32_t lv, uint32_t *agent, uint32_t *seq,
                   uint32_t *run_left)
{
    uint32_t lo = crdt__upper_bound(doc->spans, doc->nspans, sizeof *doc->spans, lv);
    const crdt_span *s = &doc->spans[lo - 1];
    uint32_t end = lo < doc->nspans ? doc->spans[lo].lv : doc->next_lv;
    *agent = s->agent;
    *seq = s->seq + (lv - s->lv);
    if (run_left)
        *run_left = end - lv;
}

uint32_t crdt__span_start(const crdt_doc *doc, uint32_t lv)
{
    uint32_t lo = crdt__upper_bound(doc->spans, doc->nspans, sizeof *doc->spans, lv);
    return doc->spans[lo - 1].lv;
}

int crdt__id_cmp(const crdt_doc *doc, uint32_t lv_a, uint32_t lv_b)
{
    uint32_t aa, sa, ab, sb;
    crdt__span_id(doc, lv_a, &aa, &sa, NULL);
    crdt__span_id(doc, lv_b, &ab, &sb, NULL);
    if (aa != ab) {
        const crdt_agent *x = &doc->agents[aa], *y = &doc->agents[ab];
        return crdt__name_cmp(x->name, x->name_len, y->name, y->name_len);
    }
    return sa < sb ? -1 : sa > sb ? 1 : 0;
}

void crdt__id_fill(const crdt_doc *doc, uint32_t agent, uint32_t seq, crdt_id *id)
{
    if (!id)
        return;
    const crdt_agent *ag = &doc->agents[agent];
    memset(id, 0, sizeof *id);
    memcpy(id->agent, ag->name, ag->name_len);
    id->agent_len = ag->name_len;
    id->seq = seq;
}
