/* integrate.c - placing a remote insert among concurrent ones
 * (crdt_integrate_insert), with the diamond-types / Eg-walker "yjsmod" rule.
 *
 * The new characters go between their left origin L and right origin R.
 * Characters already between L and R are exactly those inserted
 * concurrently (the author saw L and R adjacent). Scanning them left to
 * right, for each `other` with origins (oL, oR):
 *   - oL before L: `other` belongs to an enclosing insertion: stop here;
 *   - oL == L and oR before R: `other` may precede us or not, depending on
 *     what follows: keep scanning without moving the insert point;
 *   - oL == L and oR == R: a true tie: the smaller (agent, seq) goes first;
 *   - oL == L and oR after R: `other` goes first: move past it;
 *   - oL after L: `other` hangs off something we passed: move past it
 *     only if not in the undecided state above.
 * Only the first character of a tree run needs the test: the others have
 * the previous character as left origin, which lies after L ("oL after L"). */
#include "crdt_int.h"

void crdt_integrate_insert(crdt_doc *doc, uint32_t left, uint32_t right, uint32_t lv,
                           uint32_t n, uint32_t byte_off, uint32_t byte_len, bool deleted)
{
    crdt_cursor c;
    if (left == CRDT_NONE) {
        c = crdt_tree_cursor_vis(doc, 0);
    } else {
        c = crdt_tree_cursor_lv(doc, left);
        c.off++;
        if (c.off == doc->leaves[c.leaf].runs[c.i].len) {
            c.i++;
            c.off = 0;
        }
    }
    crdt_cursor probe = c;
    uint32_t first = crdt_tree_lv_at(doc, &probe);
    if (first != right) {
        /* Concurrent inserts sit between the origins: scan them. */
        int64_t left_idx = left == CRDT_NONE ? -1 : (int64_t)crdt_tree_pos(doc, left);
        int64_t right_idx = right == CRDT_NONE ? (int64_t)doc->st.total
                                               : (int64_t)crdt_tree_pos(doc, right);
        int64_t scan_idx = left_idx + 1;
        bool scanning = false;
        crdt_cursor cur = c;
        while (scan_idx < right_idx && crdt_tree_norm(doc, &cur)) {
            const crdt_run *o = &doc->leaves[cur.leaf].runs[cur.i];
            uint32_t olv = o->lv + cur.off, oleft, oright;
            crdt_rec_origins(doc, olv, &oleft, &oright);
            int64_t oleft_idx = oleft == CRDT_NONE ? -1 : (int64_t)crdt_tree_pos(doc, oleft);
            if (oleft_idx < left_idx)
                break;
            if (oleft_idx == left_idx) {
                int64_t oright_idx = oright == CRDT_NONE ? (int64_t)doc->st.total
                                                         : (int64_t)crdt_tree_pos(doc, oright);
                if (oright_idx < right_idx) {
                    scanning = true;
                } else if (oright_idx == right_idx) {
                    if (crdt_id_cmp(doc, lv, olv) < 0)
                        break;
                    scanning = false;
                } else {
                    scanning = false;
                }
            }
            /* The rest of this run follows its first character. */
            uint32_t step = o->len - cur.off;
            if ((int64_t)step > right_idx - scan_idx) {
                /* Cannot happen with consistent origins; stay exact anyway. */
                step = (uint32_t)(right_idx - scan_idx);
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
    crdt_doc_place(doc, c, left, lv, n, byte_off, byte_len, deleted);
}
