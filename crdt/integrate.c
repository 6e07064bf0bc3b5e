/* integrate.c - placing a remote insert among concurrent ones
 * (crdt__integrate_insert), with the rule of the Eg-walker reference /
 * diamond-types (Yjs-derived, equivalent to FugueMax).
 *
 * The new characters go between their left origin L and their bound B (the
 * item right after L when they were typed). Characters already between L and
 * B are exactly those inserted concurrently (the author saw L and B
 * adjacent). The right parent RP is B if B's own left origin is L, else the
 * document end. Scanning the concurrent characters left to right, for each
 * `other` with left origin oL and right parent oRP:
 *   - oL before L: `other` belongs to an enclosing insertion: stop here;
 *   - oL == L and oRP == RP: a true tie: the smaller (agent, seq) goes
 *     first; if ours is larger, move past `other`;
 *   - oL == L and oRP before RP: `other` may precede us or not, depending
 *     on what follows: keep scanning without moving the insert point;
 *   - oL == L and oRP after RP: `other` goes first: move past it;
 *   - oL after L: `other` hangs off something we passed: move past it
 *     only if not in the undecided state above.
 * Only the first character of a tree run needs the test: the others have
 * the previous character as left origin, which lies after L ("oL after L").
 *
 * The scan is what makes integration cost more than O(log n): K inserts
 * that share an origin scan about K^2 / 2 runs. Each run scanned spends one
 * unit of doc->scan_budget; when it runs out the insert is placed where the
 * scan stands (a well-formed tree, but not the order other replicas
 * compute) and doc->over_budget tells apply to stop and the caller to
 * discard the replica. */
#include "crdt_int.h"

/* Position used for comparisons of an item's right side: its right
 * origin ("bound") when that item was the left origin's right sibling
 * (same left origin), else the document end. This is the Fugue "right
 * parent" rule of the Eg-walker reference. */
static int64_t right_parent_pos(const crdt_doc *doc, uint32_t left, uint32_t bound)
{
    if (bound == CRDT_NONE)
        return doc->st.total;
    uint32_t bl, br;
    crdt__rec_origins(doc, bound, &bl, &br);
    return bl == left ? (int64_t)crdt__tree_pos(doc, bound) : (int64_t)doc->st.total;
}

/* Whether an insert between left (at left_idx) and its bound right (at
 * bound_idx) could have been typed: its author knew the bound's left origin
 * and the left origin's own bound, so neither lies strictly between them. */
static bool origins_consistent(const crdt_doc *doc, uint32_t left, uint32_t right, int64_t left_idx,
                               int64_t bound_idx)
{
    uint32_t ol, orr;
    if (right != CRDT_NONE) {
        crdt__rec_origins(doc, right, &ol, &orr);
        if (ol != CRDT_NONE && (int64_t)crdt__tree_pos(doc, ol) > left_idx)
            return false;
    }
    if (left != CRDT_NONE) {
        crdt__rec_origins(doc, left, &ol, &orr);
        if (orr != CRDT_NONE && (int64_t)crdt__tree_pos(doc, orr) < bound_idx)
            return false;
    }
    return true;
}

void crdt__integrate_insert(crdt_doc *doc, uint32_t left, uint32_t right, uint32_t lv, uint32_t n,
                            uint32_t byte_off, uint32_t byte_len, bool deleted)
{
    crdt_cursor c;
    if (left == CRDT_NONE) {
        c = crdt__tree_cursor_vis(doc, 0);
    } else {
        c = crdt__tree_cursor_lv_near(doc, left);
        c.off++;
        if (c.off == doc->leaves[c.leaf].runs[c.i].len) {
            c.i++;
            c.off = 0;
        }
    }
    crdt_cursor probe = c;
    uint32_t first = crdt__tree_lv_at(doc, &probe);
    if (first != right) {
        /* Concurrent inserts sit between the left origin and the bound:
         * scan them. */
        int64_t left_idx = left == CRDT_NONE ? -1 : (int64_t)crdt__tree_pos(doc, left);
        int64_t bound_idx =
            right == CRDT_NONE ? (int64_t)doc->st.total : (int64_t)crdt__tree_pos(doc, right);
        int64_t right_idx = right_parent_pos(doc, left, right);
        if (doc->check_origins && !origins_consistent(doc, left, right, left_idx, bound_idx))
            doc->bad_origins = true;
        int64_t scan_idx = left_idx + 1;
        bool scanning = false;
        crdt_cursor cur = c;
        while (scan_idx < bound_idx && crdt__tree_norm(doc, &cur)) {
            if (doc->scan_budget == 0) {
                doc->over_budget = true;
                break;
            }
            doc->scan_budget--;
            doc->scanned++;
            const crdt_run *o = &doc->leaves[cur.leaf].runs[cur.i];
            uint32_t olv = o->lv + cur.off, oleft, oright;
            crdt__rec_origins(doc, olv, &oleft, &oright);
            int64_t oleft_idx = oleft == CRDT_NONE ? -1 : (int64_t)crdt__tree_pos(doc, oleft);
            if (oleft_idx < left_idx)
                break;
            if (oleft_idx == left_idx) {
                int64_t oright_idx = right_parent_pos(doc, oleft, oright);
                if (oright_idx == right_idx && crdt__id_cmp(doc, lv, olv) < 0)
                    break;
                scanning = oright_idx < right_idx;
            }
            /* The rest of this run follows its first character. */
            uint32_t step = o->len - cur.off;
            if ((int64_t)step > bound_idx - scan_idx) {
                /* Cannot happen with consistent origins; stay exact anyway. */
                step = (uint32_t)(bound_idx - scan_idx);
                cur.off += step;
            } else {
                cur.i++;
                cur.off = 0;
            }
            scan_idx += step;
            if (!scanning)
                c = cur;
        }
    }
    crdt__doc_place(doc, &c, left, lv, n, byte_off, byte_len, deleted);
    /* The next op's origin or delete target is mostly what was just placed
     * or next to it: start crdt__tree_cursor_lv_near's scan there. */
    doc->near_leaf = c.leaf;
    doc->near_i = c.i - 1;
}
