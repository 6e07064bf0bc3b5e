/* doc.c - replica lifetime, local edits and reading (crdt_doc_*). */
#include "crdt_int.h"

#include <string.h>

int crdt_doc_new(const crdt_allocator *alloc, const char *agent, size_t agent_len, crdt_doc **out)
{
    if (!out || !agent || agent_len == 0 || agent_len > CRDT_AGENT_MAX)
        return CRDT_EINVAL;
    if (alloc && (!alloc->malloc_fn || !alloc->realloc_fn || !alloc->free_fn))
        return CRDT_EINVAL;
    crdt_doc *doc = crdt__mem_alloc(alloc, sizeof *doc);
    if (!doc)
        return CRDT_ENOMEM;
    memset(doc, 0, sizeof *doc);
    doc->scan_budget = UINT64_MAX;
    if (alloc)
        doc->alloc = *alloc;
    else
        doc->alloc = (crdt_allocator){0};
    int rc = crdt__tree_init(doc);
    if (rc == CRDT_OK)
        rc = crdt__agent_add(doc, agent, agent_len, &doc->me);
    if (rc) {
        crdt_doc_free(doc);
        return rc;
    }
    *out = doc;
    return CRDT_OK;
}

/* The allocator to pass to crdt__mem_* (NULL = libc). */
static const crdt_allocator *doc_alloc(const crdt_doc *doc)
{
    return doc->alloc.malloc_fn ? &doc->alloc : NULL;
}

void crdt_doc_free(crdt_doc *doc)
{
    if (!doc)
        return;
    const crdt_allocator *a = doc_alloc(doc);
    crdt_allocator copy = doc->alloc;
    if (a)
        a = &copy;
    for (uint32_t i = 0; i < doc->nagents; i++)
        crdt__mem_free(a, doc->agents[i].runs);
    crdt__mem_free(a, doc->agents);
    crdt__mem_free(a, doc->agent_order);
    crdt__mem_free(a, doc->spans);
    crdt__mem_free(a, doc->recs);
    crdt__mem_free(a, doc->lv_leaf);
    crdt__mem_free(a, doc->arena);
    crdt__mem_free(a, doc->leaves);
    crdt__mem_free(a, doc->inodes);
    crdt__mem_free(a, doc);
}

/* Highest known seq of an agent + 1 (0 when none). */
static uint32_t agent_seq_end(const crdt_doc *doc, uint32_t agent)
{
    const crdt_agent *ag = &doc->agents[agent];
    if (!ag->nruns)
        return 0;
    const crdt_agent_run *r = &ag->runs[ag->nruns - 1];
    return r->seq + r->len;
}

int crdt_doc_set_agent(crdt_doc *doc, const char *agent, size_t agent_len, uint64_t seq)
{
    if (!doc || !agent || agent_len == 0 || agent_len > CRDT_AGENT_MAX)
        return CRDT_EINVAL;
    if (seq != CRDT_SEQ_AUTO && seq > CRDT_SEQ_MAX)
        return CRDT_EINVAL;
    uint32_t idx;
    int rc = crdt__agent_add(doc, agent, agent_len, &idx);
    if (rc)
        return rc;
    doc->me = idx;
    doc->next_seq = seq == CRDT_SEQ_AUTO ? agent_seq_end(doc, idx) : (uint32_t)seq;
    return CRDT_OK;
}

uint64_t crdt_doc_next_seq(const crdt_doc *doc)
{
    return doc ? doc->next_seq : 0;
}

uint64_t crdt_doc_mark(const crdt_doc *doc)
{
    return doc ? doc->next_lv : 0;
}

size_t crdt_doc_length(const crdt_doc *doc)
{
    return doc ? doc->st.vis : 0;
}

size_t crdt_doc_byte_length(const crdt_doc *doc)
{
    return doc ? doc->st.bytes : 0;
}

size_t crdt_doc_utf16_length(const crdt_doc *doc)
{
    return doc ? doc->st.u16 : 0;
}

/* Check that `n` new local ops fit the limits and reuse no id, and reserve
 * the per-op tables. */
static int local_reserve(crdt_doc *doc, size_t n, size_t bytes, uint32_t recs, uint32_t runs)
{
    if (n > CRDT_LV_MAX - doc->next_lv || n > (size_t)CRDT_SEQ_MAX - doc->next_seq ||
        bytes > UINT32_MAX - doc->arena_len)
        return CRDT_ELIMIT;
    if (crdt__agent_next_known(doc, doc->me, doc->next_seq) < doc->next_seq + n)
        return CRDT_EIDINUSE;
    const crdt_allocator *a = doc_alloc(doc);
    int rc = crdt__mem_reserve(a, (void **)&doc->lv_leaf, &doc->lv_leaf_cap, doc->next_lv + n,
                               sizeof(uint32_t));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->arena, &doc->arena_cap, doc->arena_len + bytes, 1);
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->recs, &doc->recs_cap, (size_t)doc->nrecs + recs,
                               sizeof(crdt_rec));
    if (rc == CRDT_OK)
        rc = crdt__agent_reserve(doc, doc->me, recs);
    if (rc == CRDT_OK)
        rc = crdt__tree_reserve(doc, runs);
    return rc;
}

/* LV of the character just before cursor c (which follows a visible char). */
static uint32_t lv_before(const crdt_doc *doc, crdt_cursor c)
{
    const crdt_leaf *l = &doc->leaves[c.leaf];
    if (c.off)
        return l->runs[c.i].lv + c.off - 1;
    const crdt_run *r = &l->runs[c.i - 1];
    return r->lv + r->len - 1;
}

/* Insert text [lv, lv+n) (bytes at arena[byte_off..], or a tombstone run
 * when text is NULL) before cursor *at, whose left origin is `left`, and
 * move *at to just after it. Splits long non-ASCII text into several runs. */
void crdt__doc_place(crdt_doc *doc, crdt_cursor *at, uint32_t left, uint32_t lv, uint32_t n,
                     uint32_t byte_off, uint32_t byte_len, bool deleted)
{
    crdt_cursor c = *at;
    bool ascii = deleted || byte_len == n;
    while (n > 0) {
        crdt_run run = crdt__run_piece(doc, left, lv, n, byte_off, ascii, deleted);
        if (run.cont && crdt__tree_try_extend(doc, c, &run)) {
            /* extended the run before c; c still points just after it */
        } else {
            c = crdt__tree_insert(doc, c, run);
        }
        left = lv + run.len - 1;
        lv += run.len;
        n -= run.len;
        byte_off += run.byte_len;
    }
    *at = c;
}

/* The common keystroke: one ASCII character typed right where the local
 * agent's previous insert ended. It extends the last entry of every table
 * it touches (record, id run, span, tree run), so it needs none of the
 * general path's searches and reservations, only room for one more LV and
 * byte. Returns false, having changed nothing, when any of that does not
 * hold; the general path then does the same edit. */
static bool type_next(crdt_doc *doc, size_t pos, uint8_t ch)
{
    if (ch >= 0x80 || !doc->nrecs || doc->next_lv >= doc->lv_leaf_cap ||
        doc->arena_len >= doc->arena_cap || doc->next_lv >= CRDT_LV_MAX ||
        doc->next_seq >= CRDT_SEQ_MAX)
        return false;
    crdt_rec *rec = &doc->recs[doc->nrecs - 1];
    crdt_agent *ag = &doc->agents[doc->me];
    if (rec->kind != CRDT_REC_INS || rec->lv + rec->len != doc->next_lv || !ag->nruns)
        return false;
    /* The previous LV is the local agent's last op (so the new id is free
     * and continues its run and the last span) and the last record's last
     * character (so the new one, whose left origin it is, joins that record
     * when its right origin is the record's). */
    crdt_agent_run *ar = &ag->runs[ag->nruns - 1];
    const crdt_span *sp = &doc->spans[doc->nspans - 1];
    if (ar->seq + ar->len != doc->next_seq || ar->lv + ar->len != doc->next_lv ||
        sp->agent != doc->me || sp->seq + (doc->next_lv - sp->lv) != doc->next_seq)
        return false;
    if (!crdt__tree_type_tail(doc, pos, rec->b))
        return false;
    doc->arena[doc->arena_len++] = ch;
    rec->len++;
    ar->len++;
    doc->next_lv++;
    doc->next_seq++;
    return true;
}

int crdt_doc_insert(crdt_doc *doc, size_t pos, const char *utf8, size_t len)
{
    if (!doc || (!utf8 && len))
        return CRDT_EINVAL;
    if (len == 0)
        return CRDT_OK;
    if (len == 1 && type_next(doc, pos, (uint8_t)utf8[0]))
        return CRDT_OK;
    size_t n, astral;
    if (pos > doc->st.vis || !crdt__utf8_validate((const uint8_t *)utf8, len, &n, &astral))
        return CRDT_EINVAL;
    uint32_t runs = (uint32_t)(len == n ? 1 : n / CRDT_NONASCII_RUN_MAX + 1);
    int rc = local_reserve(doc, n, len, 1, runs);
    if (rc)
        return rc;
    crdt_cursor c = crdt__tree_cursor_vis(doc, pos);
    uint32_t left = pos == 0 ? CRDT_NONE : lv_before(doc, c);
    crdt_cursor rc_ = c;
    uint32_t right = crdt__tree_lv_at(doc, &rc_);
    uint32_t lv = doc->next_lv, off = doc->arena_len;
    if (len == 1) /* a keystroke: no call */
        doc->arena[off] = (uint8_t)utf8[0];
    else
        memcpy(doc->arena + off, utf8, len);
    doc->arena_len += (uint32_t)len;
    crdt__rec_add_insert(doc, lv, (uint32_t)n, left, right);
    crdt__agent_assign(doc, doc->me, doc->next_seq, lv, (uint32_t)n);
    doc->next_lv += (uint32_t)n;
    doc->next_seq += (uint32_t)n;
    crdt__doc_place(doc, &c, left, lv, (uint32_t)n, off, (uint32_t)len, false);
    crdt__tree_hint_set(doc, c, (uint32_t)(pos + n));
    return CRDT_OK;
}

/* Delete n visible characters from cursor c (all in its run) as ops of
 * the local agent; pos is their visible position. */
static void delete_piece(crdt_doc *doc, crdt_cursor c, uint32_t n, size_t pos)
{
    uint32_t lv = doc->next_lv;
    uint32_t target = doc->leaves[c.leaf].runs[c.i].lv + c.off;
    crdt__tree_hint_set(doc, crdt__tree_delete_at(doc, c, n), (uint32_t)pos);
    crdt__rec_add_delete(doc, lv, n, target, false);
    crdt__agent_assign(doc, doc->me, doc->next_seq, lv, n);
    for (uint32_t k = 0; k < n; k++)
        doc->lv_leaf[lv + k] = CRDT_NONE;
    doc->next_lv += n;
    doc->next_seq += n;
}

int crdt_doc_delete(crdt_doc *doc, size_t pos, size_t count)
{
    if (!doc || pos > doc->st.vis || count > doc->st.vis - pos)
        return CRDT_EINVAL;
    if (count == 0)
        return CRDT_OK;
    /* Count the runs touched first so that all memory is reserved before
     * anything changes. */
    uint32_t pieces = 0;
    size_t left = count;
    crdt_cursor c = crdt__tree_cursor_vis_at(doc, pos);
    if (count <= 8) { /* at most one piece per character: skip the count */
        pieces = (uint32_t)count;
        left = 0;
    }
    while (left > 0 && crdt__tree_norm(doc, &c)) {
        const crdt_run *r = &doc->leaves[c.leaf].runs[c.i];
        if (!r->del) {
            uint32_t k = r->len - c.off;
            left -= k < left ? k : left;
            pieces++;
        }
        c.i++;
        c.off = 0;
    }
    int rc = local_reserve(doc, count, 0, pieces, 2);
    if (rc)
        return rc;
    left = count;
    while (left > 0) {
        c = crdt__tree_cursor_vis_at(doc, pos);
        const crdt_run *r = &doc->leaves[c.leaf].runs[c.i];
        uint32_t k = r->len - c.off;
        if (k > left)
            k = (uint32_t)left;
        delete_piece(doc, c, k, pos);
        left -= k;
    }
    return CRDT_OK;
}

/* Copy the text of visible code points [pos, pos+count) to buf (when
 * non-NULL) and return the byte count. */
static size_t copy_text(const crdt_doc *doc, size_t pos, size_t count, char *buf)
{
    size_t out = 0;
    if (count == 0)
        return 0;
    crdt_cursor c = crdt__tree_cursor_vis_at_ro(doc, NULL, pos);
    while (count > 0 && crdt__tree_norm(doc, &c)) {
        const crdt_run *r = &doc->leaves[c.leaf].runs[c.i];
        if (!r->del) {
            const uint8_t *t = doc->arena + r->byte_off;
            size_t from = c.off == 0              ? 0
                          : r->byte_len == r->len ? c.off
                                                  : crdt__text_bytes(t, c.off);
            uint32_t k = r->len - c.off;
            size_t to;
            if (k > count) {
                k = (uint32_t)count;
                to = r->byte_len == r->len ? c.off + k : from + crdt__text_bytes(t + from, k);
            } else {
                to = r->byte_len;
            }
            if (buf)
                memcpy(buf + out, t + from, to - from);
            out += to - from;
            count -= k;
        }
        c.i++;
        c.off = 0;
    }
    return out;
}

int crdt_doc_read(const crdt_doc *doc, size_t pos, size_t count, char *buf, size_t cap,
                  size_t *out_len)
{
    if (!doc || !out_len || pos > doc->st.vis || count > doc->st.vis - pos || (!buf && cap))
        return CRDT_EINVAL;
    size_t need = copy_text(doc, pos, count, NULL);
    *out_len = need;
    if (need > cap)
        return CRDT_ERANGE;
    copy_text(doc, pos, count, buf);
    return CRDT_OK;
}

/* Bytes crdt_doc_text allocates past the text and its NUL: room for
 * copy_all's fixed-size copies. */
#define TEXT_SLACK 16

/* The whole text into buf (room for doc->st.bytes + TEXT_SLACK bytes):
 * copy_text(doc, 0, length, buf) without cursors, leaf by leaf along their
 * chain. A loaded document's runs are mostly short (half the visible ones
 * 8 bytes or less) and visible and deleted runs alternate, so every run is
 * copied the same way, without a test of which it is: a run of at most
 * TEXT_SLACK bytes, deleted ones included (no bytes), is one fixed-size
 * copy whose overshoot lands in the slack or under the next run's bytes.
 * The text of a freshly loaded state is read right after the load. */
static size_t copy_all(const crdt_doc *doc, char *buf)
{
    uint32_t leaf = doc->root;
    for (uint32_t h = doc->height; h > 0; h--)
        leaf = doc->inodes[leaf].child[0];
    size_t out = 0;
    const uint8_t *arena = doc->arena;
    uint32_t alen = doc->arena_len;
    for (; leaf != CRDT_NONE; leaf = doc->leaves[leaf].next) {
        const crdt_leaf *l = &doc->leaves[leaf];
        for (uint32_t i = 0; i < l->n; i++) {
            /* a deleted run has no bytes and an offset inside the arena */
            uint32_t bo = l->runs[i].byte_off, bl = l->runs[i].byte_len;
            if (bl <= TEXT_SLACK && bo <= alen && alen - bo >= TEXT_SLACK)
                memcpy(buf + out, arena + bo, TEXT_SLACK);
            else if (bl)
                memcpy(buf + out, arena + bo, bl);
            out += bl;
        }
    }
    return out;
}

int crdt_doc_text(const crdt_doc *doc, char **out, size_t *out_len)
{
    if (!doc || !out)
        return CRDT_EINVAL;
    char *s = crdt__mem_alloc(doc_alloc(doc), (size_t)doc->st.bytes + 1 + TEXT_SLACK);
    if (!s)
        return CRDT_ENOMEM;
    size_t n = copy_all(doc, s);
    s[n] = 0;
    *out = s;
    if (out_len)
        *out_len = n;
    return CRDT_OK;
}

/* Walk down by UTF-16 units (to_pos) or by code points (!to_pos). */
static int convert(const crdt_doc *doc, size_t in, bool from_u16, size_t *out)
{
    if (!doc || !out)
        return CRDT_EINVAL;
    size_t limit = from_u16 ? doc->st.u16 : doc->st.vis;
    if (in > limit)
        return CRDT_EINVAL;
    if (in == limit) {
        *out = from_u16 ? doc->st.vis : doc->st.u16;
        return CRDT_OK;
    }
    size_t rem = in, acc = 0;
    uint32_t node = doc->root;
    for (uint32_t h = doc->height; h > 0; h--) {
        const crdt_inode *p = &doc->inodes[node];
        uint32_t i = 0;
        for (; i + 1 < p->n; i++) {
            size_t step = from_u16 ? p->st[i].u16 : p->st[i].vis;
            if (rem < step)
                break;
            rem -= step;
            acc += from_u16 ? p->st[i].vis : p->st[i].u16;
        }
        node = p->child[i];
    }
    const crdt_leaf *l = &doc->leaves[node];
    for (uint32_t i = 0; i < l->n; i++) {
        const crdt_run *r = &l->runs[i];
        if (r->del)
            continue;
        size_t step = from_u16 ? r->len + r->astral : r->len;
        if (rem >= step) {
            rem -= step;
            acc += from_u16 ? r->len : r->len + r->astral;
            continue;
        }
        /* Inside this run: walk its code points. */
        const uint8_t *t = doc->arena + r->byte_off;
        size_t b = 0;
        while (rem > 0) {
            bool wide = t[b] >= 0xF0;
            size_t units = wide ? 2 : 1;
            if (from_u16) {
                if (rem < units)
                    return CRDT_EINVAL; /* inside a surrogate pair */
                rem -= units;
                acc += 1;
            } else {
                rem -= 1;
                acc += units;
            }
            b += crdt__text_bytes(t + b, 1);
        }
        *out = acc;
        return CRDT_OK;
    }
    return CRDT_EINVAL;
}

int crdt_doc_utf16_to_pos(const crdt_doc *doc, size_t utf16_off, size_t *pos)
{
    return convert(doc, utf16_off, true, pos);
}

int crdt_doc_pos_to_utf16(const crdt_doc *doc, size_t pos, size_t *utf16_off)
{
    return convert(doc, pos, false, utf16_off);
}

int crdt_doc_check(const crdt_doc *doc)
{
    if (!doc)
        return CRDT_EINVAL;
    int rc = crdt__tree_check(doc);
    if (rc)
        return rc;
    /* records tile [0, next_lv) */
    uint32_t lv = 0;
    for (uint32_t i = 0; i < doc->nrecs; i++) {
        const crdt_rec *r = &doc->recs[i];
        if (r->lv != lv || r->len == 0)
            return CRDT_EINVAL;
        if (r->kind == CRDT_REC_INS) {
            if ((r->a != CRDT_NONE && r->a >= r->lv) || (r->b != CRDT_NONE && r->b >= r->lv))
                return CRDT_EINVAL;
        } else if (r->a + (uint64_t)r->len > r->lv) {
            return CRDT_EINVAL;
        }
        lv += r->len;
    }
    if (lv != doc->next_lv)
        return CRDT_EINVAL;
    /* spans tile [0, next_lv) and agree with the agents' runs */
    if (doc->next_lv && (doc->nspans == 0 || doc->spans[0].lv != 0))
        return CRDT_EINVAL;
    uint64_t total = 0;
    for (uint32_t a = 0; a < doc->nagents; a++) {
        const crdt_agent *ag = &doc->agents[a];
        for (uint32_t i = 0; i < ag->nruns; i++) {
            const crdt_agent_run *r = &ag->runs[i];
            if (i && r->seq < ag->runs[i - 1].seq + ag->runs[i - 1].len)
                return CRDT_EINVAL;
            for (uint32_t k = 0; k < r->len; k += r->len - 1 ? r->len - 1 : 1) {
                uint32_t ag2, seq2;
                crdt__span_id(doc, r->lv + k, &ag2, &seq2, NULL);
                if (ag2 != a || seq2 != r->seq + k)
                    return CRDT_EINVAL;
            }
            total += r->len;
        }
    }
    if (total != doc->next_lv)
        return CRDT_EINVAL;
    return CRDT_OK;
}
