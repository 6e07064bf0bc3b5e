/* Unit tests of the store's outbox (store.h, OUTBOX): messages recorded in
 * a batch come back by id and in id order after a reopen, with their bytes
 * and time; deletes (also of missing ids) and the count; a batch that fails
 * leaves no message behind; bad arguments are refused. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <stdint.h>

static int put(store *s, uint64_t id, uint64_t ts, const char *text)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_outbox_put(b, id, ts, text, strlen(text));
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

static int del(store *s, uint64_t id)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_outbox_delete(b, id);
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

struct seen {
    uint64_t ids[16];
    uint64_t ts[16];
    char text[16][32];
    size_t n;
};

static int collect(void *ctx, const struct store_outbox_entry *e)
{
    struct seen *c = ctx;
    if (c->n < 16) {
        c->ids[c->n] = e->id;
        c->ts[c->n] = e->created_ms;
        snprintf(c->text[c->n], sizeof c->text[0], "%.*s", (int)e->len, (const char *)e->data);
        c->n++;
    }
    return 0;
}

static uint64_t count(store *s)
{
    store_read *r;
    uint64_t n = UINT64_MAX;
    if (store_read_begin(s, &r) == 0) {
        if (store_outbox_count(r, &n) != 0)
            n = UINT64_MAX;
        store_read_end(r);
    }
    return n;
}

static void test_put_list_delete(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-outbox");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(count(s), 0);
    /* Ids above 255 check the big-endian key order (300 after 2). */
    CHECK_EQ(put(s, 300, 1000, "third"), 0);
    CHECK_EQ(put(s, 2, 1001, "second"), 0);
    CHECK_EQ(put(s, 1, 1002, "first"), 0);
    CHECK_EQ(put(s, 7, 1003, ""), 0);
    CHECK_EQ(count(s), 4);
    store_close(s);

    /* Everything is there after a reopen, in id order. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_read *r;
    CHECK_EQ(store_read_begin(s, &r), 0);
    struct seen all = {0};
    CHECK_EQ(store_outbox_list(r, 0, 0, collect, &all), 0);
    CHECK_EQ(all.n, 4);
    CHECK_EQ(all.ids[0], 1);
    CHECK_EQ(all.ids[1], 2);
    CHECK_EQ(all.ids[2], 7);
    CHECK_EQ(all.ids[3], 300);
    CHECK_STR_EQ(all.text[0], "first");
    CHECK_EQ(all.ts[0], 1002);
    CHECK_STR_EQ(all.text[2], "");
    CHECK_STR_EQ(all.text[3], "third");
    /* After an id, with a limit. */
    struct seen part = {0};
    CHECK_EQ(store_outbox_list(r, 2, 1, collect, &part), 0);
    CHECK_EQ(part.n, 1);
    CHECK_EQ(part.ids[0], 7);
    struct store_outbox_entry e;
    CHECK_EQ(store_outbox_get(r, 300, &e), 0);
    CHECK_EQ(e.len, 5);
    CHECK_MEM_EQ(e.data, "third", 5);
    CHECK_EQ(e.created_ms, 1000);
    CHECK_EQ(store_outbox_get(r, 3, &e), STORE_ENOTFOUND);
    store_read_end(r);

    /* Replacing keeps one message; deleting a missing id is fine. */
    CHECK_EQ(put(s, 2, 2000, "again"), 0);
    CHECK_EQ(count(s), 4);
    CHECK_EQ(del(s, 1), 0);
    CHECK_EQ(del(s, 1), 0);
    CHECK_EQ(del(s, 999), 0);
    CHECK_EQ(count(s), 3);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_outbox_get(r, 2, &e), 0);
    CHECK_EQ(e.created_ms, 2000);
    CHECK_MEM_EQ(e.data, "again", 5);
    store_read_end(r);

    /* A batch refused at commit records no outbox message of its own. */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_outbox_put(b, 50, 1, "lost", 4), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", 5, "u", NULL, 0, 1, "x", 1), 0); /* not head + 1 */
    CHECK_EQ(store_batch_commit(s, b, NULL), STORE_ECONFLICT);
    store_batch_free(b);
    CHECK_EQ(count(s), 3);
    store_close(s);
    tmp_store_rm(dir);
}

static void test_validation(void)
{
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_outbox_put(b, 0, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_outbox_put(b, 1, 1, NULL, 1), STORE_EINVAL);
    CHECK_EQ(store_batch_outbox_put(b, 1, 1, "x", STORE_OUTBOX_MAX + 1), STORE_EINVAL);
    CHECK_EQ(store_batch_outbox_put(NULL, 1, 1, "x", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_outbox_delete(b, 0), STORE_EINVAL);
    CHECK_EQ(store_batch_count(b), 0);
    store_batch_free(b);
    CHECK_EQ(store_outbox_list(NULL, 0, 0, collect, NULL), STORE_EINVAL);
}

int main(void)
{
    test_put_list_delete();
    test_validation();
    return TEST_RESULT();
}
