/* The engine's open documents: the registry by id (common/hmap), the LRU
 * list that decides which idle ones to close, loading and reloading their
 * replicas. See engine_int.h. */
#include <stdlib.h>

#include "document.h"
#include "engine_int.h"

/* ---- the LRU list, most recently used first */

static void lru_unlink(sync_engine *e, struct doc *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        e->lru_head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        e->lru_tail = d->prev;
    d->prev = d->next = NULL;
}

static void lru_front(sync_engine *e, struct doc *d)
{
    if (e->lru_head == d)
        return;
    if (d->prev || d->next || e->lru_tail == d)
        lru_unlink(e, d);
    d->next = e->lru_head;
    if (e->lru_head)
        e->lru_head->prev = d;
    e->lru_head = d;
    if (!e->lru_tail)
        e->lru_tail = d;
}

static void pending_free(struct pending *p)
{
    if (!p)
        return;
    free(p->delta);
    free(p->content);
    free(p->more);
    free(p);
}

void engine__doc_list_free(struct plist *l)
{
    struct pending *p = l->head;
    while (p) {
        struct pending *n = p->next;
        pending_free(p);
        p = n;
    }
    l->head = l->tail = NULL;
}

static void doc_free(struct doc *d)
{
    size_t it = 0;
    struct seen *sn;
    while ((sn = hmap_next(&d->seen, &it, NULL, NULL)) != NULL)
        free(sn);
    hmap_deinit(&d->seen);
    engine__doc_list_free(&d->inflight);
    engine__doc_list_free(&d->queued);
    crdt_doc_free(d->crdt);
    free(d->marks);
    free(d);
}

void engine__doc_mark(struct doc *d, uint64_t version, uint64_t mark)
{
    if (mark > UINT32_MAX) /* beyond any document's cap: never */
        return;
    if (d->nmarks == 0 || version != d->marks_base + d->nmarks) {
        d->nmarks = 0;
        d->marks_base = version;
    } else if (d->nmarks == MARKS_MAX) {
        size_t keep = MARKS_MAX / 2;
        memmove(d->marks, d->marks + (MARKS_MAX - keep), keep * sizeof *d->marks);
        d->marks_base += MARKS_MAX - keep;
        d->nmarks = keep;
    }
    if (d->nmarks == d->marks_cap) {
        size_t ncap = d->marks_cap ? d->marks_cap * 2 : 64;
        uint32_t *n = realloc(d->marks, ncap * sizeof *n);
        if (!n) {
            d->nmarks = 0; /* merged catch-ups wait for the next version */
            return;
        }
        d->marks = n;
        d->marks_cap = ncap;
    }
    d->marks[d->nmarks++] = (uint32_t)mark;
}

void engine__doc_remove(sync_engine *e, struct doc *d)
{
    hmap_del(&e->docs, d->id, strlen(d->id));
    lru_unlink(e, d);
    doc_free(d);
}

int engine__doc_busy(const struct doc *d)
{
    return d->committing || d->queued.head || d->inflight.head;
}

void engine__doc_evict(sync_engine *e, const struct doc *keep)
{
    struct doc *d = e->lru_tail;
    size_t scanned = 0;
    while (hmap_count(&e->docs) > e->o.max_open_docs && d && scanned < 64) {
        struct doc *prev = d->prev;
        if (d != keep && !engine__doc_busy(d))
            engine__doc_remove(e, d);
        d = prev;
        scanned++;
    }
}

struct doc *engine__doc_get(sync_engine *e, const char *id, int *err)
{
    struct doc *d = hmap_get(&e->docs, id, strlen(id));
    if (d) {
        lru_front(e, d);
        return d;
    }
    d = calloc(1, sizeof *d);
    if (!d) {
        *err = DOCUMENT_ENOMEM;
        return NULL;
    }
    engine__copy_str(d->id, sizeof d->id, id);
    d->e = e;
    hmap_init(&d->seen);
    int rc = document_load(e->s, id, &d->crdt, &d->head, &d->snapshot_version, NULL, NULL);
    if (rc) {
        free(d);
        *err = rc;
        return NULL;
    }
    d->assigned = d->head;
    d->chain = ++e->chains;
    engine__doc_mark(d, d->head, crdt_doc_mark(d->crdt));
    if (hmap_put(&e->docs, d->id, strlen(d->id), d) != 0) {
        doc_free(d);
        *err = DOCUMENT_ENOMEM;
        return NULL;
    }
    lru_front(e, d);
    engine__doc_evict(e, d);
    return d;
}

/* Used to drop an applied change that must not stay (too large, a failed
 * replace) and after a failed batch. */
int engine__doc_reload(struct doc *d, int keep_pending)
{
    crdt_doc *fresh = NULL;
    uint64_t head = 0, snap = 0;
    if (document_load(d->e->s, d->id, &fresh, &head, &snap, NULL, NULL) != 0)
        return -1;
    uint64_t head_mark = crdt_doc_mark(fresh);
    if (keep_pending) {
        struct plist *lists[2] = {&d->inflight, &d->queued};
        for (int i = 0; i < 2; i++)
            for (struct pending *p = lists[i]->head; p; p = p->next)
                if (crdt_doc_apply(fresh, p->delta, p->delta_len, NULL) != CRDT_OK) {
                    crdt_doc_free(fresh);
                    return -1;
                }
    }
    crdt_doc_set_agent(fresh, DOCUMENT_AGENT, strlen(DOCUMENT_AGENT), CRDT_SEQ_AUTO);
    crdt_doc_free(d->crdt);
    d->crdt = fresh;
    d->head = head;
    d->snapshot_version = snap;
    d->snapshot_bytes = 0;
    d->op_bytes_since = 0;
    if (!keep_pending)
        d->assigned = head;
    /* Operations arrived in a new order: marks start again at the head (the
     * pending versions re-applied above get none, so later ones neither). */
    d->nmarks = 0;
    engine__doc_mark(d, head, head_mark);
    return 0;
}

void engine__doc_close_all(sync_engine *e)
{
    /* Every open document is on the LRU list. */
    struct doc *d = e->lru_head;
    while (d) {
        struct doc *n = d->next;
        doc_free(d);
        d = n;
    }
    e->lru_head = e->lru_tail = NULL;
    hmap_deinit(&e->docs);
}

int sync_engine_doc_close(sync_engine *e, const char *id)
{
    struct doc *d = hmap_get(&e->docs, id, strlen(id));
    if (!d)
        return 0;
    if (engine__doc_busy(d))
        return 1;
    engine__doc_remove(e, d);
    return 0;
}
