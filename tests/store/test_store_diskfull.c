/* The disk fills. The store lives on a 2 MiB tmpfs mounted for the
 * test (skipped, exit 77, when mounting is not possible). A commit that
 * does not fit is refused (STORE_ENOSPC, or STORE_EIO), the store stays
 * usable, reads keep working, and writes resume once space is freed; after
 * a reopen everything acknowledged is there and the activity chain
 * verifies. */
#define _GNU_SOURCE
#include "store.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#define KIB 1024u
#define SKIP 77

static uint8_t blob[16 * KIB];

static int put_op(store *s, uint64_t v)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    blob[0] = (uint8_t)v;
    int err = store_batch_op_append(b, "doc", v, "u", "c", v, v, blob, sizeof blob);
    if (!err)
        err = store_batch_activity_append(b, v, "{\"op\":1}", 8);
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

static void check_store(store *s, uint64_t head)
{
    store_read *r;
    struct store_doc_info d;
    struct store_op op;
    uint64_t bad = 0;
    CHECK_EQ(store_read_begin(s, &r), 0);
    CHECK_EQ(store_doc_get(r, "doc", &d), 0);
    CHECK_EQ(d.head, head);
    CHECK_EQ(store_op_get(r, "doc", head, &op), 0);
    CHECK_EQ(op.len, sizeof blob);
    CHECK_EQ(op.data[0], (uint8_t)head);
    CHECK_EQ(store_op_get(r, "doc", 1, &op), 0);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
    store_read_end(r);
    struct store_stat st;
    CHECK_EQ(store_stat(s, &st), 0);
    CHECK_EQ(st.ops, head);
    CHECK_EQ(st.activity, head);
}

struct res {
    int status;
    int calls;
};

static void done(void *ctx, int status, const struct store_batch_result *r)
{
    struct res *res = ctx;
    (void)r;
    res->status = status;
    res->calls++;
}

static int writer_op(store *s, uint64_t v)
{
    store_writer *w;
    struct res res = {0};
    CHECK_EQ(store_writer_new(s, NULL, NULL, NULL, &w), 0);
    store_batch *b;
    blob[0] = (uint8_t)v;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "doc", v, "u", "c", v, v, blob, sizeof blob), 0);
    CHECK_EQ(store_batch_activity_append(b, v, "{\"op\":1}", 8), 0);
    CHECK_EQ(store_writer_submit(w, b, done, &res), 0);
    store_writer_flush(w);
    store_writer_free(w);
    CHECK_EQ(res.calls, 1);
    return res.status;
}

int main(void)
{
    char mnt[] = "/tmp/store-diskfull-XXXXXX";
    if (!mkdtemp(mnt)) {
        perror("mkdtemp");
        return 1;
    }
    /* A private mount namespace makes the tmpfs vanish with this process,
     * even if it crashes; without one, the mount is removed at the end. */
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=2m,mode=0700") != 0) {
        printf("SKIP: cannot mount a tmpfs here (%s); disk-full test not run\n", strerror(errno));
        rmdir(mnt);
        return SKIP;
    }
    char dir[128], ballast[128];
    snprintf(dir, sizeof dir, "%s/db", mnt);
    snprintf(ballast, sizeof ballast, "%s/ballast", mnt);
    /* 512 KiB to free later. */
    int fd = open(ballast, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    static uint8_t zeros[64 * KIB];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(write(fd, zeros, sizeof zeros), (long long)sizeof zeros);
    close(fd);

    struct store_options o;
    store_options_init(&o);
    o.map_size = 64u * KIB * KIB; /* far larger than the file system */
    store *s;
    CHECK_EQ(store_open(dir, &o, &s), 0);
    uint64_t v = 0;
    int err = 0;
    while (v < 1000 && (err = put_op(s, v + 1)) == 0)
        v++;
    printf("disk full after %llu ops of 16 KiB: %s\n", (unsigned long long)v, store_strerror(err));
    CHECK(err == STORE_ENOSPC || err == STORE_EIO);
    CHECK(v > 10 && v < 1000);

    /* Refused again, store usable, reads work, nothing half-written. */
    err = put_op(s, v + 1);
    CHECK(err == STORE_ENOSPC || err == STORE_EIO);
    err = writer_op(s, v + 1);
    CHECK(err == STORE_ENOSPC || err == STORE_EIO);
    check_store(s, v);

    /* Space returns: writes resume. */
    CHECK_EQ(unlink(ballast), 0);
    CHECK_EQ(put_op(s, v + 1), 0);
    v++;
    CHECK_EQ(writer_op(s, v + 1), 0);
    v++;
    check_store(s, v);
    store_close(s);

    /* Restart: every acknowledged op is there, chain intact. */
    CHECK_EQ(store_open(dir, &o, &s), 0);
    check_store(s, v);
    store_close(s);

    char path[160];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
    if (umount2(mnt, MNT_DETACH) != 0)
        perror("umount2");
    rmdir(mnt);
    return TEST_RESULT();
}
