/* tree.c - the document as a B-tree of runs (crdt__tree_*).
 *
 * Leaves hold up to CRDT_LEAF_MAX runs in document order and are chained by
 * `next`; inner nodes hold up to CRDT_NODE_MAX children with each child's
 * counts (visible code points, bytes, UTF-16 units, and all code points
 * including tombstones). Runs are never removed (deleted text stays as a
 * tombstone run), so nodes only split: every non-root node stays at least
 * half full, which bounds the nodes an operation can need
 * (crdt__tree_reserve). Nodes live in two pools addressed by index; pools
 * grow only in crdt__tree_reserve, so the mutating calls cannot fail. */
#include "crdt_int.h"

#include <string.h>

static crdt_stats run_stats(const crdt_run *r)
{
    crdt_stats s = {0, 0, 0, r->len};
    if (!r->del) {
        s.vis = r->len;
        s.bytes = r->byte_len;
        s.u16 = r->len + r->astral;
    }
    return s;
}

static void st_add(crdt_stats *a, crdt_stats b)
{
    a->vis += b.vis;
    a->bytes += b.bytes;
    a->u16 += b.u16;
    a->total += b.total;
}

/* a - b modulo 2^32: adding the result later is exact. */
static crdt_stats st_diff(crdt_stats a, crdt_stats b)
{
    return (crdt_stats){a.vis - b.vis, a.bytes - b.bytes, a.u16 - b.u16, a.total - b.total};
}

static crdt_stats leaf_stats(const crdt_leaf *l)
{
    crdt_stats s = {0, 0, 0, 0};
    for (uint32_t i = 0; i < l->n; i++)
        st_add(&s, run_stats(&l->runs[i]));
    return s;
}

static crdt_stats inode_stats(const crdt_inode *n)
{
    crdt_stats s = {0, 0, 0, 0};
    for (uint32_t i = 0; i < n->n; i++)
        st_add(&s, n->st[i]);
    return s;
}

/* Add `d` to the counts of `leaf` in every ancestor and in the document. */
static void propagate(crdt_doc *doc, uint32_t leaf, crdt_stats d)
{
    uint32_t slot = doc->leaves[leaf].slot;
    uint32_t p = doc->leaves[leaf].parent;
    while (p != CRDT_NONE) {
        crdt_inode *in = &doc->inodes[p];
        st_add(&in->st[slot], d);
        slot = in->slot;
        p = in->parent;
    }
    st_add(&doc->st, d);
}

/* Visible code points of a leaf, from its parent's counts. */
static uint32_t leaf_vis(const crdt_doc *doc, uint32_t leaf)
{
    const crdt_leaf *l = &doc->leaves[leaf];
    return l->parent == CRDT_NONE ? doc->st.vis : doc->inodes[l->parent].st[l->slot].vis;
}

int crdt__tree_init(crdt_doc *doc)
{
    int rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->leaves, &doc->leaves_cap, 1,
                               sizeof(crdt_leaf));
    if (rc)
        return rc;
    doc->nleaves = 1;
    doc->leaves[0].parent = CRDT_NONE;
    doc->leaves[0].next = CRDT_NONE;
    doc->leaves[0].slot = 0;
    doc->cache_ok = false;
    doc->leaves[0].n = 0;
    doc->root = 0;
    doc->height = 0;
    memset(&doc->st, 0, sizeof doc->st);
    return CRDT_OK;
}

/* Change a leaf's run count, keeping doc->excess up to date. */
static void leaf_set_n(crdt_doc *doc, crdt_leaf *l, uint32_t n)
{
    const uint32_t half = CRDT_LEAF_MAX / 2;
    doc->excess -= l->n > half ? l->n - half : 0;
    doc->excess += n > half ? n - half : 0;
    l->n = n;
}

int crdt__tree_reserve(crdt_doc *doc, uint32_t runs)
{
    /* Each run insertion splits at most one leaf, and that split at most
     * one inner node per level plus a new root (one more level): with that
     * much room free (a keystroke's usual case) the bound below is not
     * needed. */
    uint64_t h = (uint64_t)doc->height + runs + 1;
    if (doc->leaves_cap - doc->nleaves >= runs &&
        doc->inodes_cap - doc->ninodes >= (uint64_t)runs * h)
        return CRDT_OK;
    /* A leaf splits only when it holds LEAF_MAX - 1 or more runs, and both
     * halves then hold at most LEAF_MAX / 2: a split lowers `excess` by at
     * least LEAF_MAX / 2 - 1, while each of the `runs` run insertions raises
     * it by at most 2 (merging tombstones only lowers it). So the splits
     * are at most (excess + 2 runs) / (LEAF_MAX / 2 - 1). Inner nodes never
     * lose children, so they stay half full: inner nodes <= leaves /
     * (NODE_MAX / 2 - 1) + height + 1 (+ a new root). */
    uint64_t splits = ((uint64_t)doc->excess + 2u * (uint64_t)runs) / (CRDT_LEAF_MAX / 2 - 1) + 1;
    uint64_t leaves = (uint64_t)doc->nleaves + splits;
    uint64_t inodes = leaves / (CRDT_NODE_MAX / 2 - 1) + doc->height + 4;
    if (inodes < (uint64_t)doc->ninodes + 1)
        inodes = (uint64_t)doc->ninodes + 1;
    if (leaves > UINT32_MAX || inodes > UINT32_MAX)
        return CRDT_ELIMIT;
    int rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->leaves, &doc->leaves_cap, leaves,
                               sizeof(crdt_leaf));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(&doc->alloc, (void **)&doc->inodes, &doc->inodes_cap, inodes,
                               sizeof(crdt_inode));
    return rc;
}

static uint32_t run_in_leaf(const crdt_leaf *l, uint32_t lv)
{
    for (uint32_t i = 0; i < l->n; i++)
        if (lv - l->runs[i].lv < l->runs[i].len)
            return i;
    return l->n; /* unreachable when the indexes are consistent */
}

/* Characters before character lv, from its leaf up to the root: all of
 * them (tombstones counted), or only the visible ones. */
static uint32_t tree_pos(const crdt_doc *doc, uint32_t lv, bool visible)
{
    uint32_t leaf = doc->lv_leaf[lv];
    const crdt_leaf *l = &doc->leaves[leaf];
    uint32_t pos = 0;
    for (uint32_t i = 0; i < l->n; i++) {
        const crdt_run *r = &l->runs[i];
        uint32_t in_run = lv - r->lv < r->len ? lv - r->lv : r->len;
        if (!visible || !r->del)
            pos += in_run;
        if (in_run < r->len)
            break;
    }
    uint32_t slot = l->slot, p = l->parent;
    while (p != CRDT_NONE) {
        const crdt_inode *in = &doc->inodes[p];
        for (uint32_t i = 0; i < slot; i++)
            pos += visible ? in->st[i].vis : in->st[i].total;
        slot = in->slot;
        p = in->parent;
    }
    return pos;
}

uint32_t crdt__tree_pos(const crdt_doc *doc, uint32_t lv)
{
    return tree_pos(doc, lv, false);
}

uint32_t crdt__tree_vis_pos(const crdt_doc *doc, uint32_t lv)
{
    return tree_pos(doc, lv, true);
}

crdt_cursor crdt__tree_cursor_lv(const crdt_doc *doc, uint32_t lv)
{
    uint32_t leaf = doc->lv_leaf[lv];
    uint32_t i = run_in_leaf(&doc->leaves[leaf], lv);
    return (crdt_cursor){leaf, i, lv - doc->leaves[leaf].runs[i].lv};
}

crdt_cursor crdt__tree_cursor_lv_near(crdt_doc *doc, uint32_t lv)
{
    uint32_t leaf = doc->lv_leaf[lv];
    const crdt_leaf *l = &doc->leaves[leaf];
    /* Scan from the run before the one found last (when in this leaf) to
     * the leaf's end, then from its start: the run wanted is mostly that
     * one, the next or the one after. Any stale hint only costs time. */
    uint32_t n = l->n, from = 0, i;
    if (leaf == doc->near_leaf && doc->near_i - 1 < n)
        from = doc->near_i - 1;
    for (i = from; i < n; i++)
        if (lv - l->runs[i].lv < l->runs[i].len)
            goto found;
    for (i = 0; i < from; i++)
        if (lv - l->runs[i].lv < l->runs[i].len)
            goto found;
    return (crdt_cursor){leaf, n, 0}; /* unreachable when the indexes are consistent */
found:
    doc->near_leaf = leaf;
    doc->near_i = i;
    return (crdt_cursor){leaf, i, lv - l->runs[i].lv};
}

static uint32_t leftmost_leaf(const crdt_doc *doc)
{
    uint32_t node = doc->root;
    for (uint32_t h = doc->height; h > 0; h--)
        node = doc->inodes[node].child[0];
    return node;
}

/* The cursor for visible position pos found from the hint (see hint_* in
 * crdt_doc): with stick_left, right after visible character pos - 1 (pos >
 * 0), else at visible character pos. It walks the hinted leaf from the
 * hinted run towards pos and gives up (false: the caller descends from the
 * root) when pos is outside that leaf; both cursors are unique, so the
 * answer is the one the descent would give. */
static inline __attribute__((always_inline)) bool hint_find(crdt_doc *doc, uint32_t pos,
                                                            bool stick_left, crdt_cursor *out)
{
    if (!doc->hint_ok)
        return false;
    uint32_t leaf = doc->hint_leaf, i = doc->hint_i, p = doc->hint_pos;
    const crdt_leaf *l = &doc->leaves[leaf];
    if (i > l->n)
        return false;
    bool found = false;
    uint32_t d = 0;
    if (stick_left ? pos > p : pos >= p) {
        for (; i < l->n; i++) {
            const crdt_run *r = &l->runs[i];
            if (r->del)
                continue;
            d = pos - p;
            if (stick_left ? d <= r->len : d < r->len) {
                found = true;
                break;
            }
            p += r->len;
        }
    } else {
        while (i > 0) {
            const crdt_run *r = &l->runs[--i];
            if (r->del)
                continue;
            p -= r->len;
            if (stick_left ? pos > p : pos >= p) {
                d = pos - p;
                found = true;
                break;
            }
        }
    }
    if (!found)
        return false;
    *out = d == l->runs[i].len ? (crdt_cursor){leaf, i + 1, 0} : (crdt_cursor){leaf, i, d};
    /* the edit will change this leaf: a cached start of another leaf after
     * it would go stale */
    if (doc->cache_ok && doc->cache_leaf != leaf)
        doc->cache_ok = false;
    return true;
}

void crdt__tree_hint_set(crdt_doc *doc, crdt_cursor c, uint32_t pos)
{
    doc->hint_ok = true;
    doc->hint_leaf = c.leaf;
    doc->hint_i = c.i;
    doc->hint_pos = pos - c.off;
}

/* Descend to the leaf holding visible position pos (stick_left: the leaf
 * holding character pos - 1), leaving in *rem the offset inside it and
 * caching the leaf's start. */
static uint32_t descend_vis(const crdt_doc *doc, crdt_doc *cache, uint32_t pos, bool stick_left,
                            uint32_t *rem)
{
    if (cache && doc->cache_ok) {
        uint32_t start = doc->cache_start, v = leaf_vis(doc, doc->cache_leaf);
        if (stick_left ? pos > start && pos - start <= v : pos >= start && pos - start < v) {
            *rem = pos - start;
            return doc->cache_leaf;
        }
    }
    uint32_t r = pos, node = doc->root;
    for (uint32_t h = doc->height; h > 0; h--) {
        const crdt_inode *in = &doc->inodes[node];
        uint32_t i = 0;
        if (stick_left) {
            while (i + 1 < in->n && r > in->st[i].vis)
                r -= in->st[i++].vis;
        } else {
            while (i + 1 < in->n && r >= in->st[i].vis)
                r -= in->st[i++].vis;
        }
        node = in->child[i];
    }
    if (cache) {
        cache->cache_ok = true;
        cache->cache_leaf = node;
        cache->cache_start = pos - r;
    }
    *rem = r;
    return node;
}

void crdt__tree_cache_reset(crdt_doc *doc)
{
    doc->cache_ok = false;
    doc->hint_ok = false;
}

crdt_cursor crdt__tree_cursor_vis(crdt_doc *doc, size_t pos)
{
    if (pos == 0) {
        /* an edit here shifts every leaf: cache the first one */
        doc->cache_ok = true;
        doc->cache_leaf = leftmost_leaf(doc);
        doc->cache_start = 0;
        return (crdt_cursor){doc->cache_leaf, 0, 0};
    }
    crdt_cursor hc;
    if (hint_find(doc, (uint32_t)pos, true, &hc))
        return hc;
    uint32_t rem;
    uint32_t node = descend_vis(doc, doc, (uint32_t)pos, true, &rem);
    const crdt_leaf *l = &doc->leaves[node];
    for (uint32_t i = 0; i < l->n; i++) {
        const crdt_run *r = &l->runs[i];
        if (r->del)
            continue;
        if (rem <= r->len) {
            if (rem == r->len)
                return (crdt_cursor){node, i + 1, 0};
            return (crdt_cursor){node, i, rem};
        }
        rem -= r->len;
    }
    return (crdt_cursor){node, l->n, 0}; /* unreachable for pos <= length */
}

crdt_cursor crdt__tree_cursor_vis_at(crdt_doc *doc, size_t pos)
{
    crdt_cursor hc;
    if (hint_find(doc, (uint32_t)pos, false, &hc))
        return hc;
    return crdt__tree_cursor_vis_at_ro(doc, doc, pos);
}

crdt_cursor crdt__tree_cursor_vis_at_ro(const crdt_doc *doc, crdt_doc *cache, size_t pos)
{
    uint32_t rem;
    uint32_t node = descend_vis(doc, cache, (uint32_t)pos, false, &rem);
    const crdt_leaf *l = &doc->leaves[node];
    for (uint32_t i = 0; i < l->n; i++) {
        const crdt_run *r = &l->runs[i];
        if (r->del)
            continue;
        if (rem < r->len)
            return (crdt_cursor){node, i, rem};
        rem -= r->len;
    }
    return (crdt_cursor){node, l->n, 0}; /* unreachable for pos < length */
}

bool crdt__tree_norm(const crdt_doc *doc, crdt_cursor *c)
{
    while (c->i >= doc->leaves[c->leaf].n) {
        uint32_t next = doc->leaves[c->leaf].next;
        if (next == CRDT_NONE)
            return false;
        *c = (crdt_cursor){next, 0, 0};
    }
    return true;
}

uint32_t crdt__tree_lv_at(const crdt_doc *doc, crdt_cursor *c)
{
    if (!crdt__tree_norm(doc, c))
        return CRDT_NONE;
    return doc->leaves[c->leaf].runs[c->i].lv + c->off;
}

static void set_parent(crdt_doc *doc, uint32_t node, bool is_leaf, uint32_t parent, uint32_t slot)
{
    if (is_leaf) {
        doc->leaves[node].parent = parent;
        doc->leaves[node].slot = slot;
    } else {
        doc->inodes[node].parent = parent;
        doc->inodes[node].slot = slot;
    }
}

/* Set parent and slot of children [from, n) of inode p. */
static void fix_children(crdt_doc *doc, uint32_t p, bool is_leaf, uint32_t from)
{
    const crdt_inode *in = &doc->inodes[p];
    for (uint32_t i = from; i < in->n; i++)
        set_parent(doc, in->child[i], is_leaf, p, i);
}

/* Make `newn` the sibling right after `node` (same level), or right before
 * it when `before`, splitting ancestors as needed. st_node/st_new are the
 * two nodes' counts. */
static void insert_sibling(crdt_doc *doc, uint32_t node, bool is_leaf, uint32_t newn, bool before,
                           crdt_stats st_node, crdt_stats st_new)
{
    uint32_t p = is_leaf ? doc->leaves[node].parent : doc->inodes[node].parent;
    uint32_t idx = is_leaf ? doc->leaves[node].slot : doc->inodes[node].slot;
    if (p == CRDT_NONE) {
        uint32_t r = doc->ninodes++;
        crdt_inode *root = &doc->inodes[r];
        root->parent = CRDT_NONE;
        root->slot = 0;
        root->n = 2;
        root->child[before] = node;
        root->child[!before] = newn;
        root->st[before] = st_node;
        root->st[!before] = st_new;
        set_parent(doc, node, is_leaf, r, before);
        set_parent(doc, newn, is_leaf, r, !before);
        doc->root = r;
        doc->height++;
        return;
    }
    uint32_t target = p, q = CRDT_NONE;
    if (doc->inodes[p].n == CRDT_NODE_MAX) {
        q = doc->ninodes++;
        crdt_inode *qn = &doc->inodes[q], *in = &doc->inodes[p];
        uint32_t half = CRDT_NODE_MAX / 2;
        qn->n = in->n - half;
        qn->parent = in->parent;
        memcpy(qn->child, in->child + half, qn->n * sizeof(uint32_t));
        memcpy(qn->st, in->st + half, qn->n * sizeof(crdt_stats));
        in->n = half;
        fix_children(doc, q, is_leaf, 0);
        if (idx >= half) {
            idx -= half;
            target = q;
        }
    }
    /* newn goes to slot `at`, node to at + 1 (before) or stays at at - 1 */
    crdt_inode *t = &doc->inodes[target];
    uint32_t at = before ? idx : idx + 1;
    memmove(t->child + at + 1, t->child + at, (t->n - at) * sizeof(uint32_t));
    memmove(t->st + at + 1, t->st + at, (t->n - at) * sizeof(crdt_stats));
    t->child[at] = newn;
    t->st[at] = st_new;
    t->st[before ? at + 1 : idx] = st_node;
    t->n++;
    fix_children(doc, target, is_leaf, at);
    if (q != CRDT_NONE) /* p was split: its other half goes after it */
        insert_sibling(doc, p, false, q, false, inode_stats(&doc->inodes[p]),
                       inode_stats(&doc->inodes[q]));
}

static void point_lvs(crdt_doc *doc, const crdt_run *r, uint32_t leaf)
{
    crdt__lv_fill(doc, r->lv, r->len, leaf);
}

/* point_lvs for a run that may end at next_lv (no LV after it has a leaf
 * yet): then in whole groups (crdt__lv_fill_tail). */
static void point_new_lvs(crdt_doc *doc, const crdt_run *r, uint32_t leaf)
{
    if (r->lv + r->len == doc->next_lv)
        crdt__lv_fill_tail(doc, r->lv, r->len, leaf);
    else
        point_lvs(doc, r, leaf);
}

/* The leaf before `leaf` in document order (CRDT_NONE for the first). */
static uint32_t prev_leaf(const crdt_doc *doc, uint32_t leaf)
{
    uint32_t slot = doc->leaves[leaf].slot, p = doc->leaves[leaf].parent, h = 1;
    while (p != CRDT_NONE && slot == 0) {
        slot = doc->inodes[p].slot;
        p = doc->inodes[p].parent;
        h++;
    }
    if (p == CRDT_NONE)
        return CRDT_NONE;
    /* the last leaf under the child before, at height h - 1 */
    uint32_t node = doc->inodes[p].child[slot - 1];
    for (; h > 1; h--)
        node = doc->inodes[node].child[doc->inodes[node].n - 1];
    return node;
}

/* Ensure leaf *leaf has room for `extra` more runs, splitting it in two if
 * not; *i (a run index or insertion index) follows its run. Of the two
 * halves (by runs) the one with fewer characters moves to the new leaf:
 * lv_leaf is rewritten for each character moved, scattered over the LVs
 * of the leaf's runs (a good part of a state load's splits was these
 * writes' cache misses). */
static void make_room(crdt_doc *doc, uint32_t *leaf, uint32_t *i, uint32_t extra)
{
    crdt_leaf *l = &doc->leaves[*leaf];
    if (l->n + extra <= CRDT_LEAF_MAX)
        return;
    uint32_t rn = doc->nleaves++;
    crdt_leaf *r = &doc->leaves[rn];
    l = &doc->leaves[*leaf];
    uint32_t n = l->n, half = n / 2;
    crdt_stats lo = {0, 0, 0, 0};
    for (uint32_t k = 0; k < half; k++)
        st_add(&lo, run_stats(&l->runs[k]));
    /* the second half's: the leaf's counts, kept by its parent (or the
     * document, for the root), less the first half's */
    crdt_stats hi =
        st_diff(l->parent == CRDT_NONE ? doc->st : doc->inodes[l->parent].st[l->slot], lo);
    bool before = lo.total < hi.total; /* move the first half: rn goes before */
    uint32_t from = before ? 0 : half;
    r->n = 0;
    leaf_set_n(doc, r, before ? half : n - half);
    memcpy(r->runs, l->runs + from, r->n * sizeof(crdt_run));
    if (before)
        memmove(l->runs, l->runs + half, (n - half) * sizeof(crdt_run));
    leaf_set_n(doc, l, n - r->n);
    if (before) {
        uint32_t prev = prev_leaf(doc, *leaf);
        if (prev != CRDT_NONE)
            doc->leaves[prev].next = rn;
        r->next = *leaf;
    } else {
        r->next = l->next;
        l->next = rn;
    }
    r->parent = l->parent;
    r->slot = l->slot; /* both fixed by insert_sibling */
    doc->cache_ok = false;
    doc->hint_ok = false;
    for (uint32_t k = 0; k < r->n; k++)
        point_lvs(doc, &r->runs[k], rn);
    insert_sibling(doc, *leaf, true, rn, before, before ? hi : lo, before ? lo : hi);
    bool right = *i >= half; /* *i is in the second half */
    if (right)
        *i -= half;
    if (right != before) /* in the half that moved */
        *leaf = rn;
}

/* The UTF-8 bytes of the first k characters of visible run r, and in
 * *astral (when not NULL) how many of them are above U+FFFF. */
static uint32_t run_prefix(const crdt_doc *doc, const crdt_run *r, uint32_t k, uint32_t *astral)
{
    const uint8_t *text = doc->arena + r->byte_off;
    uint32_t bytes = r->byte_len == r->len ? k : (uint32_t)crdt__utf8_offset(text, r->byte_len, k);
    if (astral)
        *astral = r->astral ? crdt__utf8_astral(text, bytes) : 0;
    return bytes;
}

void crdt__run_split(const crdt_doc *doc, const crdt_run *r, uint32_t off, crdt_run *a, crdt_run *b)
{
    crdt_run x = *r;
    *a = x;
    *b = x;
    a->len = off;
    b->len = x.len - off;
    b->lv = x.lv + off;
    b->cont = 1; /* inside a run, each character follows the one before */
    if (!x.del) {
        uint32_t astral, bo = run_prefix(doc, &x, off, &astral);
        a->byte_len = bo;
        a->astral = astral;
        b->byte_off = x.byte_off + bo;
        b->byte_len = x.byte_len - bo;
        b->astral = x.astral - astral;
    }
}

/* Split run i of leaf at offset off (0 < off < len); needs one free slot.
 * Counts do not change. */
static void split_run(crdt_doc *doc, crdt_leaf *l, uint32_t i, uint32_t off)
{
    crdt_run a, b;
    crdt__run_split(doc, &l->runs[i], off, &a, &b);
    memmove(l->runs + i + 2, l->runs + i + 1, (l->n - i - 1) * sizeof(crdt_run));
    leaf_set_n(doc, l, l->n + 1);
    l->runs[i] = a;
    l->runs[i + 1] = b;
}

crdt_cursor crdt__tree_insert(crdt_doc *doc, crdt_cursor c, crdt_run run)
{
    uint32_t leaf = c.leaf, i = c.i;
    make_room(doc, &leaf, &i, c.off ? 2 : 1);
    crdt_leaf *l = &doc->leaves[leaf];
    if (c.off) {
        split_run(doc, l, i, c.off);
        i++;
        doc->nruns++;
    }
    memmove(l->runs + i + 1, l->runs + i, (l->n - i) * sizeof(crdt_run));
    l->runs[i] = run;
    leaf_set_n(doc, l, l->n + 1);
    doc->nruns++;
    point_new_lvs(doc, &run, leaf);
    propagate(doc, leaf, run_stats(&run));
    return (crdt_cursor){leaf, i + 1, 0};
}

bool crdt__tree_try_extend(crdt_doc *doc, crdt_cursor c, const crdt_run *run)
{
    if (c.off != 0 || c.i == 0)
        return false;
    crdt_leaf *l = &doc->leaves[c.leaf];
    crdt_run *r = &l->runs[c.i - 1];
    if (!crdt__run_can_extend(r, run))
        return false;
    r->len += run->len;
    r->byte_len += run->byte_len;
    r->astral += run->astral;
    point_new_lvs(doc, run, c.leaf);
    propagate(doc, c.leaf, run_stats(run));
    return true;
}

bool crdt__tree_type_tail(crdt_doc *doc, size_t pos, uint32_t right)
{
    if (!doc->hint_ok || pos != doc->hint_pos || doc->hint_i == 0)
        return false;
    uint32_t leaf = doc->hint_leaf;
    crdt_leaf *l = &doc->leaves[leaf];
    if (doc->hint_i > l->n)
        return false;
    crdt_run *r = &l->runs[doc->hint_i - 1];
    if (r->del || r->lv + r->len != doc->next_lv || r->byte_len != r->len ||
        r->byte_off + r->byte_len != doc->arena_len || r->len >= (1u << 31) - 1)
        return false;
    crdt_cursor c = {leaf, doc->hint_i, 0};
    if (crdt__tree_lv_at(doc, &c) != right)
        return false;
    r->len++;
    r->byte_len++;
    doc->lv_leaf[doc->next_lv] = leaf;
    propagate(doc, leaf, (crdt_stats){1, 1, 1, 1});
    /* leaves after this one start one character later */
    if (doc->cache_ok && doc->cache_leaf != leaf)
        doc->cache_ok = false;
    doc->hint_pos++;
    return true;
}

/* Merge run i+1 into run i if both are deleted, their LVs follow each
 * other and run i+1's first character has run i's last as left origin (so
 * that every non-first character of a run keeps the previous one as left
 * origin, which crdt__integrate_insert relies on). */
static bool merge_tombstones(crdt_doc *doc, crdt_leaf *l, uint32_t i)
{
    crdt_run *a = &l->runs[i], *b = &l->runs[i + 1];
    if (!a->del || !b->del || !b->cont || a->lv + a->len != b->lv ||
        (uint64_t)a->len + b->len >= (1u << 31))
        return false;
    a->len += b->len;
    memmove(l->runs + i + 1, l->runs + i + 2, (l->n - i - 2) * sizeof(crdt_run));
    leaf_set_n(doc, l, l->n - 1);
    return true;
}

/* Visible run r (whose counts were `before`) gave `len` characters to the
 * tombstone beside it in the same leaf: the counts up the tree change by the
 * visible ones only (the characters stay in the leaf). */
static void moved_into_tombstone(crdt_doc *doc, uint32_t leaf, const crdt_run *r, crdt_stats before,
                                 uint32_t len)
{
    crdt_stats d = st_diff(run_stats(r), before);
    d.total += len;
    propagate(doc, leaf, d);
}

/* Delete the end of visible run i, from offset off (0 < off < len), when the
 * run after it is a tombstone that those characters continue (a backspace
 * after another). Splitting run i and merging its deleted part into that
 * tombstone would shift the rest of the leaf right and back; moving the
 * boundary between the two runs leaves the same runs. False, changing
 * nothing, when that is not the case. */
static bool delete_into_next(crdt_doc *doc, uint32_t leaf, uint32_t i, uint32_t off)
{
    crdt_leaf *l = &doc->leaves[leaf];
    crdt_run *r = &l->runs[i];
    if (r->del || i + 1 >= l->n)
        return false;
    crdt_run *t = &l->runs[i + 1];
    uint32_t len = r->len - off;
    if (!t->del || !t->cont || r->lv + r->len != t->lv || (uint64_t)t->len + len >= (1u << 31))
        return false;
    crdt_stats before = run_stats(r);
    uint32_t astral, bo = run_prefix(doc, r, off, &astral);
    /* what split_run gives the deleted part: inside a run, each character
     * follows the one before */
    t->lv = r->lv + off;
    t->len += len;
    t->byte_off = r->byte_off + bo;
    t->cont = 1;
    r->len = off;
    r->byte_len = bo;
    r->astral = astral;
    moved_into_tombstone(doc, leaf, r, before, len);
    return true;
}

/* The same at the other end (a forward delete after another): delete the
 * first `len` characters of visible run i (0 < len < its length) when the
 * run before it is a tombstone that they continue. */
static bool delete_into_prev(crdt_doc *doc, uint32_t leaf, uint32_t i, uint32_t len)
{
    crdt_leaf *l = &doc->leaves[leaf];
    crdt_run *r = &l->runs[i];
    if (r->del || i == 0 || !r->cont)
        return false;
    crdt_run *t = &l->runs[i - 1];
    if (!t->del || t->lv + t->len != r->lv || (uint64_t)t->len + len >= (1u << 31))
        return false;
    crdt_stats before = run_stats(r);
    uint32_t astral, bo = run_prefix(doc, r, len, &astral);
    t->len += len;
    r->lv += len;
    r->len -= len;
    r->byte_off += bo;
    r->byte_len -= bo;
    r->astral -= astral;
    r->cont = 1; /* its first character now follows the last deleted one */
    moved_into_tombstone(doc, leaf, r, before, len);
    return true;
}

crdt_cursor crdt__tree_delete_at(crdt_doc *doc, crdt_cursor c, uint32_t len)
{
    uint32_t leaf = c.leaf, i = c.i, off = c.off;
    const crdt_run *r0 = &doc->leaves[leaf].runs[i];
    if (off > 0 && off + len == r0->len && delete_into_next(doc, leaf, i, off))
        return (crdt_cursor){leaf, i + 2, 0};
    if (off == 0 && len < r0->len && delete_into_prev(doc, leaf, i, len))
        return (crdt_cursor){leaf, i, 0};
    uint32_t extra = (off > 0) + (off + len < r0->len);
    make_room(doc, &leaf, &i, extra);
    crdt_leaf *l = &doc->leaves[leaf];
    if (off > 0) {
        split_run(doc, l, i, off);
        i++;
        doc->nruns++;
    }
    if (len < l->runs[i].len) {
        split_run(doc, l, i, len);
        doc->nruns++;
    }
    crdt_run *r = &l->runs[i];
    crdt_stats before = run_stats(r);
    r->del = 1;
    r->byte_len = 0;
    r->astral = 0;
    propagate(doc, leaf, st_diff(run_stats(r), before));
    /* Tombstones carry no text: fold them into deleted neighbours so that
     * runs of backspaces or a deleted selection cost one run. */
    if (i + 1 < l->n && merge_tombstones(doc, l, i))
        doc->nruns--;
    if (i > 0 && merge_tombstones(doc, l, i - 1)) {
        doc->nruns--;
        i--;
    }
    return (crdt_cursor){leaf, i + 1, 0};
}

uint32_t crdt__tree_seg(const crdt_doc *doc, uint32_t lv, bool *deleted, const uint8_t **text)
{
    const crdt_leaf *l = &doc->leaves[doc->lv_leaf[lv]];
    const crdt_run *r = &l->runs[run_in_leaf(l, lv)];
    *deleted = r->del;
    *text = NULL;
    if (!r->del) {
        *text = doc->arena + r->byte_off + run_prefix(doc, r, lv - r->lv, NULL);
    }
    return r->len - (lv - r->lv);
}

size_t crdt__text_bytes(const uint8_t *text, uint32_t n)
{
    return crdt__utf8_offset(text, SIZE_MAX, n);
}

/* ------------------------------------------------------------ building */

int crdt__tree_build(crdt_doc *doc, const crdt_lnode *v, uint32_t head, uint32_t nruns)
{
    const crdt_allocator *a = &doc->alloc;
    uint32_t nleaves = nruns ? (nruns + CRDT_BUILD_FILL - 1) / CRDT_BUILD_FILL : 1, ninodes = 0;
    for (uint32_t m = nleaves; m > 1;) {
        m = (m + CRDT_NODE_MAX - 1) / CRDT_NODE_MAX;
        ninodes += m;
    }
    int rc =
        crdt__mem_reserve(a, (void **)&doc->leaves, &doc->leaves_cap, nleaves, sizeof(crdt_leaf));
    if (rc == CRDT_OK)
        rc = crdt__mem_reserve(a, (void **)&doc->inodes, &doc->inodes_cap, ninodes,
                               sizeof(crdt_inode));
    crdt_stats *st = rc ? NULL : crdt__mem_alloc(a, (size_t)nleaves * sizeof(crdt_stats));
    if (!st)
        return rc ? rc : CRDT_ENOMEM;
    /* Leaves: the runs spread evenly, each leaf's LVs pointed at it. */
    doc->excess = 0;
    for (uint32_t i = 0, node = head; i < nleaves; i++) {
        crdt_leaf *l = &doc->leaves[i];
        uint32_t n = nruns / nleaves + (i < nruns % nleaves);
        l->parent = CRDT_NONE;
        l->slot = 0;
        l->next = i + 1 < nleaves ? i + 1 : CRDT_NONE;
        l->n = 0;
        leaf_set_n(doc, l, n);
        for (uint32_t k = 0; k < n; k++, node = v[node].next) {
            l->runs[k] = v[node].r;
            point_lvs(doc, &l->runs[k], i);
        }
        st[i] = leaf_stats(l);
    }
    /* Inner nodes, a level at a time over the one below ([c0, c0 + cnt)),
     * children spread evenly: all but a root at least half full. */
    uint32_t c0 = 0, cnt = nleaves, height = 0;
    doc->ninodes = 0;
    while (cnt > 1) {
        uint32_t p0 = doc->ninodes, np = (cnt + CRDT_NODE_MAX - 1) / CRDT_NODE_MAX;
        for (uint32_t j = 0, c = c0; j < np; j++) {
            crdt_inode *in = &doc->inodes[doc->ninodes++];
            in->parent = CRDT_NONE;
            in->slot = 0;
            in->n = cnt / np + (j < cnt % np);
            for (uint32_t k = 0; k < in->n; k++, c++) {
                in->child[k] = c;
                if (height == 0) {
                    in->st[k] = st[c];
                    doc->leaves[c].parent = p0 + j;
                    doc->leaves[c].slot = k;
                } else {
                    in->st[k] = inode_stats(&doc->inodes[c]);
                    doc->inodes[c].parent = p0 + j;
                    doc->inodes[c].slot = k;
                }
            }
        }
        c0 = p0;
        cnt = np;
        height++;
    }
    doc->st = height ? inode_stats(&doc->inodes[c0]) : st[0];
    crdt__mem_free(a, st);
    doc->nleaves = nleaves;
    doc->root = c0;
    doc->height = height;
    doc->nruns = nruns;
    doc->cache_ok = false;
    doc->hint_ok = false;
    doc->near_leaf = doc->near_i = 0;
    return CRDT_OK;
}

/* ------------------------------------------------------------ checking */

static int check_node(const crdt_doc *doc, uint32_t node, uint32_t h, uint32_t parent,
                      crdt_stats *out, uint32_t *leaf_seq, uint32_t *nleaves, uint32_t *nruns)
{
    if (h == 0) {
        if (node >= doc->nleaves)
            return CRDT_EINVAL;
        const crdt_leaf *l = &doc->leaves[node];
        if (l->parent != parent || l->n > CRDT_LEAF_MAX ||
            (parent != CRDT_NONE && doc->inodes[parent].child[l->slot] != node))
            return CRDT_EINVAL;
        if (*leaf_seq != node) /* leaves must chain in document order */
            return CRDT_EINVAL;
        *leaf_seq = l->next;
        (*nleaves)++;
        for (uint32_t i = 0; i < l->n; i++) {
            const crdt_run *r = &l->runs[i];
            if (r->len == 0 || (uint64_t)r->lv + r->len > doc->next_lv)
                return CRDT_EINVAL;
            for (uint32_t k = 0; k < r->len; k++)
                if (doc->lv_leaf[r->lv + k] != node)
                    return CRDT_EINVAL;
            if (!r->del) {
                size_t cps, astral;
                if ((uint64_t)r->byte_off + r->byte_len > doc->arena_len ||
                    !crdt__utf8_validate(doc->arena + r->byte_off, r->byte_len, &cps, &astral) ||
                    cps != r->len || astral != r->astral)
                    return CRDT_EINVAL;
            } else if (r->byte_len || r->astral) {
                return CRDT_EINVAL;
            }
            if (!crdt__rec_is_insert(doc, r->lv))
                return CRDT_EINVAL;
            uint32_t left, right;
            crdt__rec_origins(doc, r->lv, &left, &right);
            if (r->cont != (left != CRDT_NONE && left == r->lv - 1))
                return CRDT_EINVAL;
        }
        *nruns += l->n;
        *out = leaf_stats(l);
        return CRDT_OK;
    }
    if (node >= doc->ninodes)
        return CRDT_EINVAL;
    const crdt_inode *in = &doc->inodes[node];
    if (in->parent != parent || in->n < 1 || in->n > CRDT_NODE_MAX ||
        (parent != CRDT_NONE && doc->inodes[parent].child[in->slot] != node))
        return CRDT_EINVAL;
    crdt_stats sum = {0, 0, 0, 0};
    for (uint32_t i = 0; i < in->n; i++) {
        crdt_stats s;
        int rc = check_node(doc, in->child[i], h - 1, node, &s, leaf_seq, nleaves, nruns);
        if (rc)
            return rc;
        if (memcmp(&s, &in->st[i], sizeof s) != 0)
            return CRDT_EINVAL;
        st_add(&sum, s);
    }
    *out = sum;
    return CRDT_OK;
}

int crdt__tree_check(const crdt_doc *doc)
{
    crdt_stats s;
    uint32_t leaf_seq = leftmost_leaf(doc), nleaves = 0, nruns = 0;
    int rc = check_node(doc, doc->root, doc->height, CRDT_NONE, &s, &leaf_seq, &nleaves, &nruns);
    if (rc)
        return rc;
    uint32_t excess = 0;
    for (uint32_t i = 0; i < doc->nleaves; i++)
        excess += doc->leaves[i].n > CRDT_LEAF_MAX / 2 ? doc->leaves[i].n - CRDT_LEAF_MAX / 2 : 0;
    if (leaf_seq != CRDT_NONE || nleaves != doc->nleaves || nruns != doc->nruns ||
        excess != doc->excess || memcmp(&s, &doc->st, sizeof s) != 0)
        return CRDT_EINVAL;
    return CRDT_OK;
}
