/* listload.c - a load into an empty replica without the tree, while no
 * insert is concurrent.
 *
 * An insert goes after its left origin, past the characters inserted
 * concurrently with it; with none, the character right after the left
 * origin is the insert's bound (what followed the origin when it was
 * typed). A state written by one author, or by authors who took turns, is
 * all such inserts. Loading one needs no position search: a doubly linked
 * list of runs, each found by LV through lv_leaf (which holds list nodes
 * while the list is in use), takes an insert in constant time plus the LVs
 * it points at a new node when it splits a run. The tree is then built from
 * the list in one pass (crdt__tree_build). The tree's own inserts split full
 * leaves, shift runs within them and update the counts of every ancestor:
 * that was about half of a load.
 *
 * An update that an encoder wrote sends the characters deleted by then as
 * deleted inserts, so its deletes find their targets deleted already and
 * change nothing. The list handles only that; a delete of a visible
 * character, like the first insert that finds another character than its
 * bound after its left origin (a concurrent one), ends list mode: the tree
 * is built from what the list holds and the rest of the update goes the
 * general way (crdt__integrate_insert, crdt__tree_delete_at), which the
 * result does not depend on.
 *
 * Runs split and extend by the tree's rules (crdt__run_split,
 * crdt__run_can_extend), so the list holds the runs the tree would, except
 * that the tree does not extend a run across a leaf boundary. */
#include "crdt_int.h"

typedef struct crdt_list {
    crdt_lnode *v;
    uint32_t n, cap; /* nodes (all in the list), allocated */
    uint32_t head;   /* first node, CRDT_NONE when empty */
} crdt_list;

int crdt__list_begin(crdt_doc *doc, uint32_t guess)
{
    crdt_list *l = crdt__mem_alloc(&doc->alloc, sizeof *l);
    if (!l)
        return CRDT_ENOMEM;
    *l = (crdt_list){.head = CRDT_NONE};
    if (crdt__mem_reserve(&doc->alloc, (void **)&l->v, &l->cap, guess ? guess : 1,
                          sizeof(crdt_lnode)) != CRDT_OK) {
        crdt__mem_free(&doc->alloc, l);
        return CRDT_ENOMEM;
    }
    doc->list = l;
    return CRDT_OK;
}

void crdt__list_end(crdt_doc *doc)
{
    if (!doc->list)
        return;
    crdt__mem_free(&doc->alloc, doc->list->v);
    crdt__mem_free(&doc->alloc, doc->list);
    doc->list = NULL;
}

static bool room(crdt_doc *doc, crdt_list *l, uint32_t nodes)
{
    return crdt__mem_reserve(&doc->alloc, (void **)&l->v, &l->cap, (size_t)l->n + nodes,
                             sizeof(crdt_lnode)) == CRDT_OK;
}

/* A new node holding r, linked after node `at` (CRDT_NONE: first). */
static uint32_t link_after(crdt_list *l, uint32_t at, crdt_run r)
{
    uint32_t y = l->n++;
    crdt_lnode *v = l->v;
    uint32_t nx = at == CRDT_NONE ? l->head : v[at].next;
    v[y] = (crdt_lnode){r, at, nx};
    if (at == CRDT_NONE)
        l->head = y;
    else
        v[at].next = y;
    if (nx != CRDT_NONE)
        v[nx].prev = y;
    return y;
}

/* Split node x's run at offset off (0 < off < len), its first part in
 * *head, its second in *tail. The shorter part moves to a new node, whose
 * LVs are pointed at it. Needs room for a node. */
static void split(crdt_doc *doc, crdt_list *l, uint32_t x, uint32_t off, uint32_t *head,
                  uint32_t *tail)
{
    crdt_run a, b;
    crdt__run_split(doc, &l->v[x].r, off, &a, &b);
    if (a.len <= b.len) {
        uint32_t y = link_after(l, l->v[x].prev, a);
        l->v[x].r = b;
        crdt__lv_fill(doc, a.lv, a.len, y);
        *head = y;
        *tail = x;
    } else {
        l->v[x].r = a;
        uint32_t y = link_after(l, x, b);
        crdt__lv_fill(doc, b.lv, b.len, y);
        *head = x;
        *tail = y;
    }
}

int crdt__list_insert(crdt_doc *doc, uint32_t left, uint32_t right, uint32_t lv, uint32_t n,
                      uint32_t byte_off, uint32_t byte_len, bool deleted)
{
    crdt_list *l = doc->list;
    /* the character after the left origin: node `at` holds the origin,
     * which ends its run unless off < its length */
    uint32_t at = CRDT_NONE, off = 0, after, nx;
    if (left == CRDT_NONE) {
        nx = l->head;
    } else {
        at = doc->lv_leaf[left];
        off = left - l->v[at].r.lv + 1;
        nx = l->v[at].next;
    }
    bool mid = at != CRDT_NONE && off < l->v[at].r.len; /* the origin is inside its run */
    if (mid)
        after = left + 1;
    else
        after = nx == CRDT_NONE ? CRDT_NONE : l->v[nx].r.lv;
    if (after != right)
        return 0;
    bool ascii = deleted || byte_len == n;
    if (!room(doc, l, 1 + (ascii ? 1 : n / CRDT_NONASCII_RUN_MAX + 1)))
        return -1;
    if (mid) {
        uint32_t tail;
        split(doc, l, at, off, &at, &tail);
    }
    /* crdt__doc_place's runs, extending the one before when allowed */
    while (n > 0) {
        crdt_run run = crdt__run_piece(doc, left, lv, n, byte_off, ascii, deleted);
        if (run.cont && at != CRDT_NONE && crdt__run_can_extend(&l->v[at].r, &run)) {
            crdt_run *r = &l->v[at].r;
            r->len += run.len;
            r->byte_len += run.byte_len;
            r->astral += run.astral;
        } else {
            at = link_after(l, at, run);
        }
        crdt__lv_fill_tail(doc, lv, run.len, at);
        left = lv + run.len - 1;
        lv += run.len;
        n -= run.len;
        byte_off += run.byte_len;
    }
    return 1;
}

int crdt__list_delete(crdt_doc *doc, uint32_t t, uint32_t n)
{
    crdt_list *l = doc->list;
    while (n > 0) {
        uint32_t x = doc->lv_leaf[t];
        if (x == CRDT_NONE)
            return -1;
        if (!l->v[x].r.del)
            return 0;
        uint32_t m = l->v[x].r.len - (t - l->v[x].r.lv);
        if (m > n)
            m = n;
        t += m;
        n -= m;
    }
    return 1;
}

int crdt__list_build(crdt_doc *doc)
{
    crdt_list *l = doc->list;
    int rc = crdt__tree_build(doc, l->v, l->head, l->n);
    crdt__list_end(doc);
    return rc;
}
