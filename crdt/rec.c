/* rec.c - the operation records of a replica in LV order (crdt__rec_*):
 * the source for encoding and for the origins of inserted characters. */
#include "crdt_int.h"

uint32_t crdt__rec_find(const crdt_doc *doc, uint32_t lv)
{
    /* Recent LVs first: merging a backspace's tombstone asks for the origin
     * of a character typed a few records ago. */
    for (uint32_t k = doc->nrecs, stop = k > 4 ? k - 4 : 0; k > stop; k--)
        if (doc->recs[k - 1].lv <= lv)
            return k - 1;
    return crdt__upper_bound(doc->recs, doc->nrecs, sizeof *doc->recs, lv) - 1;
}

void crdt__rec_origins(const crdt_doc *doc, uint32_t lv, uint32_t *left, uint32_t *right)
{
    const crdt_rec *r = &doc->recs[crdt__rec_find(doc, lv)];
    *left = lv == r->lv ? r->a : lv - 1;
    *right = r->b;
}

bool crdt__rec_is_insert(const crdt_doc *doc, uint32_t lv)
{
    if (lv >= doc->next_lv)
        return false;
    return doc->recs[crdt__rec_find(doc, lv)].kind == CRDT_REC_INS;
}

/* Append insert record [lv, lv+len) with origins (left, right), extending
 * the last record when it continues it. Capacity must be reserved. */
void crdt__rec_add_insert(crdt_doc *doc, uint32_t lv, uint32_t len, uint32_t left, uint32_t right)
{
    if (doc->nrecs) {
        crdt_rec *r = &doc->recs[doc->nrecs - 1];
        if (r->kind == CRDT_REC_INS && r->lv + r->len == lv && left == lv - 1 && r->b == right) {
            r->len += len;
            return;
        }
    }
    doc->recs[doc->nrecs++] = (crdt_rec){lv, len, left, right, CRDT_REC_INS};
}

/* Append delete record: ops [lv, lv+len) delete targets [t, t+len), in
 * reverse order when `rev`. Merges runs of forward deletes and of
 * backspaces. Capacity must be reserved. */
void crdt__rec_add_delete(crdt_doc *doc, uint32_t lv, uint32_t len, uint32_t t, bool rev)
{
    if (len == 1)
        rev = false;
    if (doc->nrecs) {
        crdt_rec *r = &doc->recs[doc->nrecs - 1];
        if (r->kind != CRDT_REC_INS && r->lv + r->len == lv) {
            if (!rev && (r->kind == CRDT_REC_DEL || r->len == 1) && r->a + r->len == t) {
                r->kind = CRDT_REC_DEL;
                r->len += len;
                return;
            }
            if ((rev || len == 1) && (r->kind == CRDT_REC_DEL_REV || r->len == 1) &&
                t + len == r->a) {
                r->kind = CRDT_REC_DEL_REV;
                r->a = t;
                r->len += len;
                return;
            }
        }
    }
    doc->recs[doc->nrecs++] =
        (crdt_rec){lv, len, t, CRDT_NONE, rev ? CRDT_REC_DEL_REV : CRDT_REC_DEL};
}
