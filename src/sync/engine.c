/* The document sync engine's entry points: creation, the dispatch of a
 * request by operation and role, access lists, counters. The work is done
 * in engine_write.c, engine_commit.c and engine_read.c (see engine_int.h);
 * the API is sync_engine.h. */
#include <stdio.h>
#include <stdlib.h>

#include "auth/auth_rules.h"
#include "engine_int.h"

void sync_engine_handle(sync_engine *e, const struct sync_request *req, const char *user, int role,
                        const struct sync_reply *reply)
{
    switch (req->op) {
    case SYNC_OP_SUBMIT:
    case SYNC_OP_REPLACE:
        if (role < AUTH_ROLE_EDITOR) {
            char msg[200];
            snprintf(msg, sizeof msg, "user %.128s is a %s of this document and may not edit it",
                     user, auth_role_name(role));
            sync_engine_reply_error(e, reply, req, "forbidden", msg);
            return;
        }
        engine__write(e, req, user, reply);
        return;
    case SYNC_OP_CATCHUP:
        if (role < AUTH_ROLE_VIEWER) {
            sync_engine_reply_error(e, reply, req, "forbidden", "no access to this document");
            return;
        }
        engine__read_catchup(e, req, reply);
        return;
    case SYNC_OP_HISTORY:
        if (role < AUTH_ROLE_VIEWER) {
            sync_engine_reply_error(e, reply, req, "forbidden", "no access to this document");
            return;
        }
        engine__read_history(e, req, reply);
        return;
    }
    sync_engine_reply_error(e, reply, req, "invalid", "unknown operation");
}

/* What the access list of a document holds: anything, and the role of "*". */
struct acl_any {
    int any;
    int star;
};

static int acl_seen(void *ctx, const char *user, size_t user_len, enum store_role role)
{
    struct acl_any *a = ctx;
    a->any = 1;
    if (user_len == 1 && user[0] == '*')
        a->star = (int)role;
    return 0;
}

int sync_engine_acl_fn(void *store_ptr, const char *doc, const char *user)
{
    store *s = store_ptr;
    store_read *r = NULL;
    if (store_read_begin(s, &r) != 0)
        return -100;
    enum store_role role = STORE_ROLE_NONE;
    int rc = store_acl_get(r, doc, user, &role);
    if (rc == 0 && role != STORE_ROLE_NONE) {
        store_read_end(r);
        return (int)role;
    }
    struct acl_any a = {0, 0};
    rc = store_acl_list(r, doc, acl_seen, &a);
    store_read_end(r);
    if (rc != 0)
        return -100;
    if (!a.any)
        return AUTH_ACL_ABSENT;
    return a.star;
}

int sync_engine_new(store *s, store_writer *w, const struct sync_engine_options *o,
                    const struct sync_engine_io *io, sync_engine **out)
{
    *out = NULL;
    sync_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (o)
        e->o = *o;
    if (!e->o.doc_max_bytes)
        e->o.doc_max_bytes = 1u << 20;
    if (!e->o.snapshot_every)
        e->o.snapshot_every = 100;
    if (!e->o.max_open_docs)
        e->o.max_open_docs = 10000;
    if (!e->o.content_max)
        e->o.content_max = 16384;
    if (!e->o.catchup_max_bytes)
        e->o.catchup_max_bytes = 256u * 1024u;
    if (!e->o.catchup_max_frame)
        e->o.catchup_max_frame = 2 * e->o.catchup_max_bytes + 64u * 1024u;
    if (!e->o.seq_scan)
        e->o.seq_scan = 10000;
    e->s = s;
    e->w = w;
    if (!e->o.history_queue)
        e->o.history_queue = 16;
    if (io)
        e->io = *io;
    hmap_init(&e->docs);
    if (e->o.wake && reader_new(s, e->o.history_queue, e->o.wake, e->o.wake_arg, &e->reader) != 0) {
        free(e);
        return -1;
    }
    *out = e;
    return 0;
}

void sync_engine_free(sync_engine *e)
{
    if (!e)
        return;
    reader_free(e->reader);
    engine__doc_close_all(e);
    free(e);
}

void sync_engine_stats_get(const sync_engine *e, struct sync_engine_stats *out)
{
    *out = e->st;
    out->open_docs = hmap_count(&e->docs);
}

size_t sync_engine_pending(const sync_engine *e)
{
    size_t n = 0;
    for (const struct doc *d = e->lru_head; d; d = d->next)
        n += engine__doc_busy(d) ? 1 : 0;
    return n;
}
