/* A store opened with options.read_only (what docsync-audit does beside a
 * running server): nothing is created or written, reads see what writers
 * committed, commits fail. */
#include <sys/stat.h>

#include "test.h"
#include "util.h"

static struct stat stat_of(const char *dir, const char *file)
{
    char p[512];
    struct stat st;
    memset(&st, 0, sizeof st);
    snprintf(p, sizeof p, "%s/%s", dir, file);
    CHECK_EQ(stat(p, &st), 0);
    return st;
}

int main(void)
{
    char buf[128];
    const char *dir = tmp_store_dir(buf, sizeof buf, "store-ro");
    struct store_options ro;
    store_options_init(&ro);
    ro.read_only = 1;
    store *s = NULL;

    /* No directory: nothing is made. */
    CHECK(store_open(dir, &ro, &s) != 0);
    CHECK(s == NULL);
    struct stat st;
    CHECK(stat(dir, &st) != 0);

    /* A store with two activity entries and an op, written by a writer. */
    CHECK_EQ(store_open(dir, NULL, &s), 0);
    store_batch *b = NULL;
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_op_append(b, "d", 1, "u", "c", 1, 10, "x", 1), 0);
    CHECK_EQ(store_batch_activity_append(b, 10, "{\"a\":1}", 7), 0);
    CHECK_EQ(store_batch_activity_append(b, 11, "{\"a\":2}", 7), 0);
    CHECK_EQ(store_batch_commit(s, b, NULL), 0);
    store_batch_free(b);
    store_close(s);
    s = NULL;
    struct stat before = stat_of(dir, "data.mdb");

    /* Read-only: reads work, the chain verifies, a commit fails, the data
     * file is untouched. */
    CHECK_EQ(store_open(dir, &ro, &s), 0);
    store_read *r = NULL;
    CHECK_EQ(store_read_begin(s, &r), 0);
    uint64_t head = 0, bad = 0;
    uint8_t h[STORE_HASH_LEN];
    CHECK_EQ(store_activity_head(r, &head, h), 0);
    CHECK_EQ(head, 2);
    CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, h, &bad), 0);
    struct store_doc_info info;
    CHECK_EQ(store_doc_get(r, "d", &info), 0);
    CHECK_EQ(info.head, 1);
    store_read_end(r);
    CHECK_EQ(store_batch_new(&b), 0);
    CHECK_EQ(store_batch_activity_append(b, 12, "{\"a\":3}", 7), 0);
    CHECK(store_batch_commit(s, b, NULL) != 0);
    store_batch_free(b);
    store_close(s);
    s = NULL;
    struct stat after = stat_of(dir, "data.mdb");
    CHECK_EQ(after.st_size, before.st_size);
    CHECK_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    CHECK_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);

    /* A directory that is not a store: refused, nothing made in it. */
    char other[600];
    snprintf(other, sizeof other, "%s-empty", dir);
    CHECK_EQ(mkdir(other, 0700), 0);
    CHECK(store_open(other, &ro, &s) != 0);
    CHECK(s == NULL);
    rmdir(other);

    tmp_store_rm(dir);
    TEST_RESULT();
}
