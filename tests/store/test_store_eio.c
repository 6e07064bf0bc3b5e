/* I/O errors injected under LMDB (this program interposes pwrite, writev,
 * fdatasync and fsync on data.mdb): a failed data write, a failed sync and
 * a failed meta-page write each refuse the commit with STORE_EIO, leave
 * nothing half-written, and the store keeps working; after the meta-page
 * failure LMDB flags the environment fatal (MDB_PANIC) and the store
 * reopens it by itself. Exits 77 when the interposition does not take
 * effect. */
#define _GNU_SOURCE
#include "store.h"
#include "test.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

enum fault { FAULT_NONE, FAULT_DATA_WRITE, FAULT_SYNC, FAULT_META_WRITE };

static volatile int fault = FAULT_NONE;
static volatile int intercepted;

static int is_dsync(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_DSYNC);
}

/* Consumes the fault if it applies to this call. */
static int take(int kind)
{
    return __atomic_compare_exchange_n(&fault, &kind, FAULT_NONE, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (fd_is_data_mdb(fd)) {
        intercepted++;
        if (take(is_dsync(fd) ? FAULT_META_WRITE : FAULT_DATA_WRITE)) {
            errno = EIO;
            return -1;
        }
    }
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (fd_is_data_mdb(fd)) {
        intercepted++;
        if (take(FAULT_DATA_WRITE)) {
            errno = EIO;
            return -1;
        }
    }
    return REAL(writev)(fd, iov, cnt);
}

int fdatasync(int fd)
{
    if (fd_is_data_mdb(fd) && take(FAULT_SYNC)) {
        errno = EIO;
        return -1;
    }
    return REAL(fdatasync)(fd);
}

int fsync(int fd)
{
    if (fd_is_data_mdb(fd) && take(FAULT_SYNC)) {
        errno = EIO;
        return -1;
    }
    return REAL(fsync)(fd);
}

static int put(store *s, const char *doc, uint64_t v)
{
    char payload[32];
    int pn = snprintf(payload, sizeof payload, "{\"v\":%llu}", (unsigned long long)v);
    return commit_op_activity(s, doc, v, "update", 6, payload, (size_t)pn);
}

static uint64_t head_of(store *s, const char *doc)
{
    store_read *r;
    struct store_doc_info d;
    uint64_t h = UINT64_MAX;
    if (store_read_begin(s, &r) == 0) {
        h = store_doc_get(r, doc, &d) == 0 ? d.head : 0;
        store_read_end(r);
    }
    return h;
}

static void check_consistent(store *s, uint64_t ops)
{
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, ops);
    CHECK_EQ(st.activity, ops);
    store_read *r;
    uint64_t bad;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    store_read_end(r);
}

struct res {
    int status[4];
};

struct job {
    struct res *r;
    int i;
};

static void done(void *ctx, int status, const struct store_batch_result *res)
{
    struct job *j = ctx;
    (void)res;
    j->r->status[j->i] = status;
}

int main(void)
{
    char dir[128];
    tmp_store_dir(dir, sizeof dir, "store-eio");
    store *s;
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(put(s, "d", 1), 0);
    if (intercepted == 0) {
        printf("SKIP: the write interposition did not take effect\n");
        store_close(s);
        tmp_store_rm(dir);
        return 77;
    }

    /* A data page write fails. */
    fault = FAULT_DATA_WRITE;
    CHECK_EQ(put(s, "d", 2), STORE_EIO);
    CHECK_EQ(fault, FAULT_NONE);
    CHECK_EQ(head_of(s, "d"), 1);
    check_consistent(s, 1);
    CHECK_EQ(put(s, "d", 2), 0);

    /* The data sync fails. */
    fault = FAULT_SYNC;
    CHECK_EQ(put(s, "d", 3), STORE_EIO);
    CHECK_EQ(fault, FAULT_NONE);
    CHECK_EQ(head_of(s, "d"), 2);
    CHECK_EQ(put(s, "d", 3), 0);

    /* The meta page write fails: LMDB marks the environment fatal. A read
     * reopens it (no write in progress), and so would the next write. */
    fault = FAULT_META_WRITE;
    CHECK_EQ(put(s, "d", 4), STORE_EIO);
    CHECK_EQ(fault, FAULT_NONE);
    CHECK_EQ(head_of(s, "d"), 3);
    check_consistent(s, 3);
    CHECK_EQ(put(s, "d", 4), 0);
    fault = FAULT_META_WRITE;
    CHECK_EQ(put(s, "d", 5), STORE_EIO);
    CHECK_EQ(put(s, "d", 5), 0); /* the write path reopens too */
    CHECK_EQ(head_of(s, "d"), 5);
    check_consistent(s, 5);

    /* Through the writer: each batch reports 0 only if it is committed. */
    store_writer *w;
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    struct res res;
    struct job jobs[4];
    const char *docs[4] = {"w0", "w1", "w2", "w3"};
    fault = FAULT_META_WRITE;
    for (int i = 0; i < 4; i++) {
        store_batch *b;
        jobs[i].r = &res;
        jobs[i].i = i;
        res.status[i] = 1;
        CHECK_EQ(store_batch_new(&b), 0);
        CHECK_EQ(store_batch_op_append(b, docs[i], 1, "u", "c", 1, 1, "x", 1), 0);
        CHECK_EQ(store_writer_submit(w, b, done, &jobs[i]), 0);
    }
    store_writer_flush(w);
    store_writer_free(w);
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        CHECK(res.status[i] == 0 || res.status[i] == STORE_EIO);
        failed += res.status[i] != 0;
        CHECK_EQ(head_of(s, docs[i]), res.status[i] == 0 ? 1 : 0);
    }
    CHECK(failed <= 1);
    store_close(s);

    /* Reopened from disk: the same state. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    CHECK_EQ(head_of(s, "d"), 5);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(head_of(s, docs[i]), res.status[i] == 0 ? 1 : 0);
    store_close(s);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
