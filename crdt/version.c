/* version.c - sets of operation ids (crdt_version_*) and their encoding. */
#include "crdt_int.h"
#include "format_int.h"

#include <string.h>

int crdt_version_new(const crdt_allocator *alloc, crdt_version **out)
{
    if (!out || (alloc && (!alloc->malloc_fn || !alloc->realloc_fn || !alloc->free_fn)))
        return CRDT_EINVAL;
    crdt_version *v = crdt__mem_alloc(alloc, sizeof *v);
    if (!v)
        return CRDT_ENOMEM;
    memset(v, 0, sizeof *v);
    if (alloc)
        v->alloc = *alloc;
    *out = v;
    return CRDT_OK;
}

static void agents_free(const crdt_allocator *a, struct crdt_version_agent *ags, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        crdt__mem_free(a, ags[i].ranges);
    crdt__mem_free(a, ags);
}

void crdt_version_free(crdt_version *v)
{
    if (!v)
        return;
    crdt_allocator a = v->alloc;
    agents_free(&a, v->agents, v->nagents);
    crdt__mem_free(&a, v);
}

const struct crdt_version_agent *crdt__version_agent_find(const crdt_version *v, const char *name,
                                                          size_t len)
{
    uint32_t lo = 0, hi = v->nagents;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct crdt_version_agent *a = &v->agents[mid];
        int c = crdt__name_cmp(a->name, a->name_len, name, len);
        if (c == 0)
            return a;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool crdt__version_agent_has(const struct crdt_version_agent *va, uint32_t seq, uint32_t *run_end)
{
    uint32_t lo = va ? crdt__upper_bound(va->ranges, va->nranges, 2 * sizeof *va->ranges, seq) : 0;
    /* lo - 1 is the last range starting at or before seq */
    if (lo > 0 && seq < va->ranges[2 * (lo - 1) + 1]) {
        *run_end = va->ranges[2 * (lo - 1) + 1];
        return true;
    }
    *run_end = lo < (va ? va->nranges : 0) ? va->ranges[2 * lo] : UINT32_MAX;
    return false;
}

int crdt_version_contains(const crdt_version *v, const char *agent, size_t agent_len, uint64_t seq)
{
    if (!v || !agent || seq > CRDT_SEQ_MAX)
        return 0;
    uint32_t end;
    return crdt__version_agent_has(crdt__version_agent_find(v, agent, agent_len), (uint32_t)seq,
                                   &end);
}

uint64_t crdt_version_count(const crdt_version *v)
{
    uint64_t n = 0;
    for (uint32_t i = 0; v && i < v->nagents; i++)
        for (uint32_t k = 0; k < v->agents[i].nranges; k++)
            n += v->agents[i].ranges[2 * k + 1] - v->agents[i].ranges[2 * k];
    return n;
}

int crdt_doc_version(const crdt_doc *doc, crdt_version *out)
{
    if (!doc || !out)
        return CRDT_EINVAL;
    const crdt_allocator *a = &out->alloc;
    uint32_t n = 0;
    for (uint32_t i = 0; i < doc->nagents; i++)
        n += doc->agents[i].nruns > 0;
    struct crdt_version_agent *ags = crdt__mem_alloc(a, (size_t)n * sizeof *ags);
    if (!ags)
        return CRDT_ENOMEM;
    uint32_t k = 0;
    for (uint32_t oi = 0; oi < doc->nagents; oi++) {
        const crdt_agent *ag = &doc->agents[doc->agent_order[oi]];
        if (!ag->nruns)
            continue;
        struct crdt_version_agent *va = &ags[k];
        memset(va, 0, sizeof *va);
        va->name_len = ag->name_len;
        memcpy(va->name, ag->name, ag->name_len);
        va->ranges = crdt__mem_alloc(a, (size_t)ag->nruns * 2 * sizeof(uint32_t));
        if (!va->ranges) {
            agents_free(a, ags, k);
            return CRDT_ENOMEM;
        }
        k++;
        for (uint32_t r = 0; r < ag->nruns; r++) {
            uint32_t s = ag->runs[r].seq, e = s + ag->runs[r].len;
            if (va->nranges && va->ranges[2 * va->nranges - 1] == s) {
                va->ranges[2 * va->nranges - 1] = e;
            } else {
                va->ranges[2 * va->nranges] = s;
                va->ranges[2 * va->nranges + 1] = e;
                va->nranges++;
            }
        }
        va->cap = ag->nruns;
    }
    agents_free(a, out->agents, out->nagents);
    out->agents = ags;
    out->nagents = n;
    out->cap = n;
    return CRDT_OK;
}

int crdt_version_encode(const crdt_version *v, uint8_t **out, size_t *out_len)
{
    if (!v || !out || !out_len)
        return CRDT_EINVAL;
    crdt_wbuf w = {.alloc = &v->alloc};
    crdt__wbuf_byte(&w, CRDT_MAGIC_VERSION);
    crdt__wbuf_byte(&w, CRDT_FORMAT_VERSION);
    crdt__wbuf_varint(&w, v->nagents);
    for (uint32_t i = 0; i < v->nagents; i++) {
        const struct crdt_version_agent *a = &v->agents[i];
        crdt__wbuf_varint(&w, a->name_len);
        crdt__wbuf_bytes(&w, a->name, a->name_len);
        crdt__wbuf_varint(&w, a->nranges);
        uint32_t prev = 0;
        for (uint32_t k = 0; k < a->nranges; k++) {
            crdt__wbuf_varint(&w, a->ranges[2 * k] - prev);
            crdt__wbuf_varint(&w, a->ranges[2 * k + 1] - a->ranges[2 * k]);
            prev = a->ranges[2 * k + 1];
        }
    }
    if (w.err) {
        crdt__mem_free(w.alloc, w.p);
        return w.err;
    }
    *out = w.p;
    *out_len = w.len;
    return CRDT_OK;
}

int crdt_doc_encode_version(const crdt_doc *doc, uint8_t **out, size_t *out_len)
{
    if (!doc || !out || !out_len)
        return CRDT_EINVAL;
    crdt_version *v;
    int rc = crdt_version_new(doc->alloc.malloc_fn ? &doc->alloc : NULL, &v);
    if (rc)
        return rc;
    rc = crdt_doc_version(doc, v);
    if (rc == CRDT_OK)
        rc = crdt_version_encode(v, out, out_len);
    crdt_version_free(v);
    return rc;
}

static int decode_agents(crdt_rbuf *r, const crdt_allocator *a, struct crdt_version_agent *ags,
                         uint64_t n, uint32_t *done)
{
    for (uint64_t i = 0; i < n; i++) {
        struct crdt_version_agent *va = &ags[i];
        memset(va, 0, sizeof *va);
        uint64_t len, nr;
        const uint8_t *name;
        if (!crdt__rbuf_varint(r, &len) || len == 0 || len > CRDT_AGENT_MAX ||
            !crdt__rbuf_bytes(r, len, &name))
            return CRDT_EBADUPDATE;
        va->name_len = (uint8_t)len;
        memcpy(va->name, name, len);
        if (i > 0 && crdt__name_cmp(ags[i - 1].name, ags[i - 1].name_len, va->name, len) >= 0)
            return CRDT_EBADUPDATE; /* names must be sorted and unique */
        /* each range takes at least 2 bytes */
        if (!crdt__rbuf_varint(r, &nr) || nr == 0 || nr > (r->len - r->off) / 2)
            return CRDT_EBADUPDATE;
        va->ranges = crdt__mem_alloc(a, (size_t)nr * 2 * sizeof(uint32_t));
        if (!va->ranges)
            return CRDT_ENOMEM;
        (*done)++;
        uint64_t prev = 0;
        for (uint64_t k = 0; k < nr; k++) {
            uint64_t gap, rl;
            if (!crdt__rbuf_varint(r, &gap) || !crdt__rbuf_varint(r, &rl) || rl == 0 ||
                (k > 0 && gap == 0) || gap > CRDT_SEQ_MAX || rl > CRDT_SEQ_MAX ||
                prev + gap + rl > (uint64_t)CRDT_SEQ_MAX + 1)
                return CRDT_EBADUPDATE;
            va->ranges[2 * k] = (uint32_t)(prev + gap);
            va->ranges[2 * k + 1] = (uint32_t)(prev + gap + rl);
            prev += gap + rl;
        }
        va->nranges = va->cap = (uint32_t)nr;
    }
    return CRDT_OK;
}

int crdt_version_decode(crdt_version *v, const uint8_t *data, size_t len)
{
    if (!v || (!data && len))
        return CRDT_EINVAL;
    crdt_rbuf r = {data, len, 0};
    uint8_t magic, ver;
    uint64_t n;
    if (!crdt__rbuf_byte(&r, &magic) || magic != CRDT_MAGIC_VERSION || !crdt__rbuf_byte(&r, &ver))
        return CRDT_EBADUPDATE;
    if (ver != CRDT_FORMAT_VERSION)
        return CRDT_EVERSION;
    /* each agent takes at least 4 bytes */
    if (!crdt__rbuf_varint(&r, &n) || n > (r.len - r.off) / 4)
        return CRDT_EBADUPDATE;
    const crdt_allocator *a = &v->alloc;
    struct crdt_version_agent *ags = crdt__mem_alloc(a, (size_t)n * sizeof *ags);
    if (!ags)
        return CRDT_ENOMEM;
    uint32_t done = 0;
    int rc = decode_agents(&r, a, ags, n, &done);
    if (rc == CRDT_OK && r.off != r.len)
        rc = CRDT_EBADUPDATE;
    if (rc) {
        agents_free(a, ags, done);
        return rc;
    }
    agents_free(a, v->agents, v->nagents);
    v->agents = ags;
    v->nagents = v->cap = (uint32_t)n;
    return CRDT_OK;
}

int crdt_doc_covers(const crdt_doc *doc, const crdt_version *v, crdt_id *missing)
{
    if (!doc || !v)
        return CRDT_EINVAL;
    for (uint32_t i = 0; i < v->nagents; i++) {
        const struct crdt_version_agent *va = &v->agents[i];
        uint32_t ag;
        bool have_agent = crdt__agent_find(doc, va->name, va->name_len, &ag) == CRDT_OK;
        for (uint32_t k = 0; k < va->nranges; k++) {
            uint32_t s = va->ranges[2 * k], e = va->ranges[2 * k + 1];
            while (s < e) {
                uint32_t lv, got = have_agent ? crdt__agent_known(doc, ag, s, &lv) : 0;
                if (!got) {
                    if (missing) {
                        memset(missing, 0, sizeof *missing);
                        memcpy(missing->agent, va->name, va->name_len);
                        missing->agent_len = va->name_len;
                        missing->seq = s;
                    }
                    return CRDT_EMISSING;
                }
                s = got >= e - s ? e : s + got;
            }
        }
    }
    return CRDT_OK;
}
