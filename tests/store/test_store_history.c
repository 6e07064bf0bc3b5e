/* Channel history in the store: events kept per channel in offset order,
 * read after an offset with a limit, bounds, trimming from the oldest, kept
 * across a reopen, channels kept apart (a channel whose name extends
 * another's is not part of it), the channels listed once each in pages
 * (cluster mode claims them again), and arguments beyond the limits
 * refused. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <string.h>

struct seen {
    uint64_t offs[64];
    char events[64][32];
    char users[64][32];
    char data[64][32];
    size_t n;
};

static int collect(void *ctx, const struct store_history_entry *e)
{
    struct seen *s = ctx;
    if (s->n >= 64)
        return 1;
    s->offs[s->n] = e->offset;
    snprintf(s->events[s->n], 32, "%.*s", (int)e->event_len, e->event);
    snprintf(s->users[s->n], 32, "%.*s", (int)e->user_len, e->user_id);
    snprintf(s->data[s->n], 32, "%.*s", (int)e->len, (const char *)e->data);
    s->n++;
    return 0;
}

static void append(store *s, const char *ch, uint64_t first, uint64_t n, const char *user)
{
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    for (uint64_t i = first; i < first + n; i++) {
        char data[32];
        snprintf(data, sizeof data, "{\"i\":%llu}", (unsigned long long)i);
        CHECK_EQ(
            store_batch_history_append(b, ch, i, 1000 + i, "NewMessage", user, data, strlen(data)),
            0);
    }
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
}

struct names {
    char v[8][32];
    size_t n;
    int stop_at; /* return this from the call numbered n (0: go on) */
    size_t stop_n;
};

static int name_each(void *ctx, const char *channel, size_t len)
{
    struct names *ns = ctx;
    CHECK_EQ(strlen(channel), len);
    if (ns->n < 8)
        snprintf(ns->v[ns->n], 32, "%s", channel);
    ns->n++;
    return ns->stop_at && ns->n == ns->stop_n ? ns->stop_at : 0;
}

static void bounds(store *s, const char *ch, uint64_t first, uint64_t last)
{
    store_read *r;
    uint64_t f = 99, l = 99;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_history_bounds(r, ch, &f, &l), 0);
    CHECK_EQ(f, first);
    CHECK_EQ(l, last);
    store_read_end(r);
}

/* A name one byte over the bound. */
static const char *big_name_of(void)
{
    static char big[STORE_HISTORY_CHANNEL_MAX + 2];
    memset(big, 'c', sizeof big - 1);
    big[sizeof big - 1] = 0;
    return big;
}

int main(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-history");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    bounds(s, "private-chat.1", 0, 0);
    append(s, "private-chat.1", 1, 10, NULL);
    append(s, "private-chat.10", 1, 3, "u7"); /* extends the name of the first */
    append(s, "private-chat.", 1, 2, NULL);
    bounds(s, "private-chat.1", 1, 10);
    bounds(s, "private-chat.10", 1, 3);
    bounds(s, "private-chat.", 1, 2);

    store_read *r;
    struct seen sn = {0};
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_history_read(r, "private-chat.1", 7, 0, collect, &sn), 0);
    CHECK_EQ(sn.n, 3);
    CHECK_EQ(sn.offs[0], 8);
    CHECK_EQ(sn.offs[2], 10);
    CHECK_STR_EQ(sn.events[0], "NewMessage");
    CHECK_STR_EQ(sn.data[1], "{\"i\":9}");
    CHECK_STR_EQ(sn.users[0], "");
    memset(&sn, 0, sizeof sn);
    CHECK_EQ(store_history_read(r, "private-chat.10", 0, 2, collect, &sn), 0);
    CHECK_EQ(sn.n, 2);
    CHECK_STR_EQ(sn.users[1], "u7");
    memset(&sn, 0, sizeof sn);
    CHECK_EQ(store_history_read(r, "private-chat.1", 10, 0, collect, &sn), 0);
    CHECK_EQ(sn.n, 0);
    CHECK_EQ(store_history_read(r, "private-chat.1", UINT64_MAX, 0, collect, &sn), 0);
    CHECK_EQ(sn.n, 0);
    store_read_end(r);

    /* trim the oldest 6: 7..10 stay, the other channels untouched */
    store_batch *b;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_history_trim(b, "private-chat.1", 6), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    bounds(s, "private-chat.1", 7, 10);
    bounds(s, "private-chat.10", 1, 3);
    /* one event deleted: the others stay, a missing one is fine */
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_history_delete(b, "private-chat.10", 2), 0);
    CHECK_EQ(store_batch_history_delete(b, "private-chat.10", 99), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    memset(&sn, 0, sizeof sn);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_history_read(r, "private-chat.10", 0, 0, collect, &sn), 0);
    CHECK_EQ(sn.n, 2);
    CHECK_EQ(sn.offs[0], 1);
    CHECK_EQ(sn.offs[1], 3);
    store_read_end(r);

    /* kept across a reopen */
    store_close(s);
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    bounds(s, "private-chat.1", 7, 10);
    memset(&sn, 0, sizeof sn);
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_history_read(r, "private-chat.1", 0, 0, collect, &sn), 0);
    CHECK_EQ(sn.n, 4);
    CHECK_EQ(sn.offs[0], 7);
    store_read_end(r);

    /* every channel once, in key order (the length byte first), in pages */
    append(s, "#inbox.7", 1, 1, NULL);
    struct names ns = {0};
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_history_channels(r, "", 0, name_each, &ns), 0);
    CHECK_EQ(ns.n, 4);
    CHECK_STR_EQ(ns.v[0], "#inbox.7");
    CHECK_STR_EQ(ns.v[1], "private-chat.");
    CHECK_STR_EQ(ns.v[2], "private-chat.1");
    CHECK_STR_EQ(ns.v[3], "private-chat.10");
    memset(&ns, 0, sizeof ns);
    CHECK_EQ(store_history_channels(r, "", 2, name_each, &ns), 0);
    CHECK_EQ(ns.n, 2);
    CHECK_STR_EQ(ns.v[1], "private-chat.");
    memset(&ns, 0, sizeof ns);
    CHECK_EQ(store_history_channels(r, "private-chat.", 2, name_each, &ns), 0);
    CHECK_EQ(ns.n, 2);
    CHECK_STR_EQ(ns.v[0], "private-chat.1");
    CHECK_STR_EQ(ns.v[1], "private-chat.10");
    memset(&ns, 0, sizeof ns);
    CHECK_EQ(store_history_channels(r, "private-chat.10", 2, name_each, &ns), 0);
    CHECK_EQ(ns.n, 0);
    /* a name that is not there: from the next one after it */
    CHECK_EQ(store_history_channels(r, "private-chat.0", 0, name_each, &ns), 0);
    CHECK_EQ(ns.n, 2);
    CHECK_STR_EQ(ns.v[0], "private-chat.1");
    /* fn stops the walk: positive gives 0, negative is returned */
    memset(&ns, 0, sizeof ns);
    ns.stop_at = 1;
    ns.stop_n = 1;
    CHECK_EQ(store_history_channels(r, "", 0, name_each, &ns), 0);
    CHECK_EQ(ns.n, 1);
    memset(&ns, 0, sizeof ns);
    ns.stop_at = -7;
    ns.stop_n = 2;
    CHECK_EQ(store_history_channels(r, "", 0, name_each, &ns), -7);
    CHECK_EQ(ns.n, 2);
    CHECK_EQ(store_history_channels(r, "a\nb", 0, name_each, &ns), STORE_EINVAL);
    CHECK_EQ(store_history_channels(r, big_name_of(), 0, name_each, &ns), STORE_EINVAL);
    store_read_end(r);

    /* limits */
    char big_name[STORE_HISTORY_CHANNEL_MAX + 2];
    memset(big_name, 'c', sizeof big_name - 1);
    big_name[sizeof big_name - 1] = 0;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_history_append(b, big_name, 1, 1, "e", NULL, "1", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_history_append(b, "c", 0, 1, "e", NULL, "1", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_history_append(b, "c", 1, 1, "", NULL, "1", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_history_append(b, "c", 1, 1, "e\n", NULL, "1", 1), STORE_EINVAL);
    CHECK_EQ(store_batch_history_append(b, "c", 1, 1, "e", NULL, NULL, 5), STORE_EINVAL);
    CHECK_EQ(store_batch_history_append(b, "c", 1, 1, "e", NULL, "x", STORE_HISTORY_DATA_MAX + 1),
             STORE_EINVAL);
    CHECK_EQ(store_batch_history_trim(b, "c", 0), STORE_EINVAL);
    CHECK_EQ(store_batch_history_delete(b, "c", 0), STORE_EINVAL);
    store_batch_free(b);
    store_close(s);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
