/* anchor.c - positions that follow the text they point at (crdt.h,
 * ANCHORS): the id of a character and a side, turned back into a visible
 * position on any replica that has that character. */
#include "crdt_int.h"

#include <string.h>

/* Whether the character `lv` is visible. */
static int visible(const crdt_doc *doc, uint32_t lv)
{
    bool del;
    const uint8_t *text;
    (void)crdt__tree_seg(doc, lv, &del, &text);
    return !del;
}

int crdt_doc_anchor(crdt_doc *doc, size_t pos, int assoc, crdt_anchor *out)
{
    if (!doc || !out || pos > doc->st.vis)
        return CRDT_EINVAL;
    memset(out, 0, sizeof *out);
    if (assoc >= 0) {
        if (pos == doc->st.vis) {
            out->side = CRDT_ANCHOR_BEFORE; /* the document's end */
            return CRDT_OK;
        }
        out->side = CRDT_ANCHOR_BEFORE;
    } else {
        if (pos == 0) {
            out->side = CRDT_ANCHOR_AFTER; /* the document's start */
            return CRDT_OK;
        }
        out->side = CRDT_ANCHOR_AFTER;
        pos--;
    }
    /* the character at visible position pos */
    crdt_cursor c = crdt__tree_cursor_vis_at(doc, pos);
    uint32_t lv = crdt__tree_lv_at(doc, &c);
    if (lv == CRDT_NONE)
        return CRDT_EINVAL; /* cannot happen with pos < length */
    uint32_t agent, seq;
    crdt__span_id(doc, lv, &agent, &seq, NULL);
    crdt__id_fill(doc, agent, seq, &out->id);
    return CRDT_OK;
}

int crdt_doc_anchor_pos(const crdt_doc *doc, const crdt_anchor *a, size_t *pos)
{
    if (!doc || !a || !pos || (a->side != CRDT_ANCHOR_BEFORE && a->side != CRDT_ANCHOR_AFTER) ||
        a->id.agent_len > CRDT_AGENT_MAX)
        return CRDT_EINVAL;
    if (a->id.agent_len == 0) {
        *pos = a->side == CRDT_ANCHOR_AFTER ? 0 : doc->st.vis;
        return CRDT_OK;
    }
    uint32_t agent, lv = CRDT_NONE;
    if (a->id.seq < UINT32_MAX &&
        crdt__agent_find(doc, a->id.agent, a->id.agent_len, &agent) == CRDT_OK)
        lv = crdt__agent_lv(doc, agent, (uint32_t)a->id.seq);
    if (lv == CRDT_NONE || lv >= doc->next_lv)
        return CRDT_EMISSING;
    if (doc->lv_leaf[lv] == CRDT_NONE)
        return CRDT_EINVAL; /* the id of a deletion, not of a character */
    uint32_t p = crdt__tree_vis_pos(doc, lv);
    if (a->side == CRDT_ANCHOR_AFTER && visible(doc, lv))
        p++;
    *pos = p;
    return CRDT_OK;
}
