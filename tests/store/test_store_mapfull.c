/* The LMDB map fills. Without room to grow, writes are refused with
 * STORE_EFULL, nothing is half-written, reads keep working, and writes
 * resume after a reopen with a larger map. With room, the map grows while
 * readers on other threads wait. In a writer group, a batch too big to fit
 * fails alone. */
#include "store.h"
#include "test.h"
#include "util.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024u

static uint8_t blob[64 * KIB];

static int put_op(store *s, const char *doc, uint64_t v, size_t len)
{
    blob[0] = (uint8_t)v;
    return commit_op_activity(s, doc, v, blob, len, "{}", 2);
}

static uint64_t head_of(store *s, const char *doc)
{
    store_read *r;
    struct store_doc_info d;
    uint64_t h = UINT64_MAX;
    if (store_read_begin(s, &r) == 0) {
        if (store_doc_get(r, doc, &d) == 0)
            h = d.head;
        store_read_end(r);
    }
    return h;
}

static void test_full_no_growth(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-mapfull");
    struct store_options o;
    store_options_init(&o);
    o.map_size = 512 * KIB;
    o.map_size_max = 512 * KIB;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    uint64_t v = 0;
    int err = 0;
    while (v < 1000) {
        err = put_op(s, "d", v + 1, 8 * KIB);
        if (err)
            break;
        v++;
    }
    CHECK_EQ(err, STORE_EFULL);
    CHECK(v > 10);
    printf("map full after %llu ops of 8 KiB\n", (unsigned long long)v);
    /* Nothing half-written: head, ops and activity agree. */
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, v);
    CHECK_EQ(st.activity, v);
    CHECK_EQ(head_of(s, "d"), v);
    /* Reads keep working. */
    store_read *r;
    struct store_op op;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_op_get(r, "d", v, &op), 0);
    CHECK_EQ(op.len, 8 * KIB);
    CHECK_EQ(op.data[0], (uint8_t)v);
    uint64_t bad;
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    store_read_end(r);
    /* Again: the store is not wedged (no MDB_BAD_TXN cascade). */
    CHECK_EQ(put_op(s, "d", v + 1, 8 * KIB), STORE_EFULL);
    CHECK_EQ(put_op(s, "d", v + 1, 8 * KIB), STORE_EFULL);
    CHECK_STR_EQ(store_strerror(STORE_EFULL), "storage full (map size limit reached)");
    store_close(s);

    /* Restart with a larger map: writes resume. */
    o.map_size = 2048 * KIB;
    o.map_size_max = 2048 * KIB;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    CHECK_EQ(head_of(s, "d"), v);
    CHECK_EQ(put_op(s, "d", v + 1, 8 * KIB), 0);
    CHECK_EQ(head_of(s, "d"), v + 1);
    store_close(s);
    tmp_store_rm(dir);
}

struct reader_arg {
    store *s;
    int started;
    int ok;
};

/* Holds a read handle (and a borrowed pointer) for a while. */
static void *reader_main(void *arg)
{
    struct reader_arg *ra = arg;
    store_read *r;
    struct store_op op;
    if (store_read_begin(ra->s, &r) != 0)
        return NULL;
    int err = store_op_get(r, "g", 1, &op);
    __atomic_store_n(&ra->started, 1, __ATOMIC_RELEASE);
    usleep(200 * 1000);
    /* The map cannot have moved under us. */
    ra->ok = err == 0 && op.len == 8 * KIB && op.data[0] == 1;
    store_read_end(r);
    return NULL;
}

static void test_growth(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-mapfull");
    struct store_options o;
    store_options_init(&o);
    o.map_size = 512 * KIB;
    o.map_size_max = 4096 * KIB;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    CHECK_EQ(put_op(s, "g", 1, 8 * KIB), 0);
    struct reader_arg ra = {.s = s};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, reader_main, &ra), 0);
    while (!__atomic_load_n(&ra.started, __ATOMIC_ACQUIRE))
        usleep(1000);
    /* 1.5 MiB more: needs growth while the reader holds its handle. */
    uint64_t v = 1;
    for (; v < 192; v++)
        CHECK_EQ(put_op(s, "g", v + 1, 8 * KIB), 0);
    pthread_join(th, NULL);
    CHECK_EQ(ra.ok, 1);
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK(st.map_size > 512 * KIB);
    CHECK(st.map_size <= 4096 * KIB);
    /* Up to the limit, then EFULL. */
    int err = 0;
    while (v < 2000 && (err = put_op(s, "g", v + 1, 8 * KIB)) == 0)
        v++;
    CHECK_EQ(err, STORE_EFULL);
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.map_size, 4096 * KIB);
    CHECK_EQ(head_of(s, "g"), v);
    printf("grew to %llu bytes, full after %llu ops\n", (unsigned long long)st.map_size,
           (unsigned long long)v);
    store_close(s);
    tmp_store_rm(dir);
}

struct res {
    int status[4];
    int n;
};

static void done(void *ctx, int status, const struct store_batch_result *r)
{
    struct res *res = ctx;
    (void)r;
    if (res->n < 4)
        res->status[res->n] = status;
    res->n++;
}

static void test_writer_oversized_batch(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-mapfull");
    struct store_options o;
    store_options_init(&o);
    o.map_size = 512 * KIB;
    o.map_size_max = 512 * KIB;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct res res = {0};
    /* small, too big for the whole map, small */
    const char *docs[] = {"a", "b", "c"};
    size_t sizes[] = {1 * KIB, 0, 1 * KIB};
    for (int i = 0; i < 3; i++) {
        store_batch *b;
        CHECK_EQ(store_batch_new(&b), 0);
        if (sizes[i]) {
            CHECK_EQ(store_batch_op_append(b, docs[i], 1, "u", "c", 1, 1, blob, sizes[i]), 0);
        } else {
            for (uint64_t v = 1; v <= 12; v++)
                CHECK_EQ(store_batch_op_append(b, docs[i], v, "u", "c", v, 1, blob, sizeof blob),
                         0);
        }
        CHECK_EQ(store_writer_submit(w, b, done, &res), 0);
    }
    CHECK_EQ(store_writer_flush(w), 3);
    CHECK_EQ(res.status[0], 0);
    CHECK_EQ(res.status[1], STORE_EFULL);
    CHECK_EQ(res.status[2], 0);
    CHECK_EQ(head_of(s, "a"), 1);
    CHECK_EQ(head_of(s, "b"), UINT64_MAX);
    CHECK_EQ(head_of(s, "c"), 1);
    store_writer_free(w);
    store_close(s);
    tmp_store_rm(dir);
}

/* Another process (docsync-admin beside the server, say) grows the map:
 * this process adopts the new size on its next transaction. */
static void test_grown_by_other_process(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-mapfull");
    struct store_options o;
    store_options_init(&o);
    o.map_size = 512 * KIB;
    o.map_size_max = 512 * KIB;
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    CHECK_EQ(put_op(s, "p", 1, 8 * KIB), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* Not the parent's env: a fresh one in this process. */
        struct store_options big;
        store_options_init(&big);
        big.map_size = 4096 * KIB;
        big.map_size_max = 4096 * KIB;
        store *cs;
        if (store_open(dir, &big, &cs) != 0)
            _exit(1);
        for (uint64_t v = 2; v <= 150; v++)
            if (put_op(cs, "p", v, 8 * KIB) != 0)
                _exit(2);
        store_close(cs);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(head_of(s, "p"), 150);
    store_read *r;
    struct store_op op;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_op_get(r, "p", 150, &op), 0);
    CHECK_EQ(op.data[0], 150);
    store_read_end(r);
    CHECK_EQ(put_op(s, "p", 151, 8 * KIB), 0);
    struct store_stat sst;
    CHECK_EQ(store_stat(s, &sst), 0);
    CHECK(sst.map_size >= 4096 * KIB);
    store_close(s);
    tmp_store_rm(dir);
}

int main(void)
{
    test_full_no_growth();
    test_growth();
    test_writer_oversized_batch();
    test_grown_by_other_process();
    return TEST_RESULT();
}
