/* Helpers shared by the store tests: temporary store directories, the
 * data file test of the tests that interpose LMDB's writes, and a one-op
 * commit. */
#ifndef DOCSYNC_TESTS_STORE_UTIL_H
#define DOCSYNC_TESTS_STORE_UTIL_H

#include "store.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes a fresh directory /tmp/<tag>-XXXXXX into buf (>= 64 bytes) and
 * returns a path inside it for the store ("<dir>/db", created by
 * store_open). */
static inline const char *tmp_store_dir(char *buf, size_t size, const char *tag)
{
    char tmpl[64];
    snprintf(tmpl, sizeof tmpl, "/tmp/%s-XXXXXX", tag);
    if (!mkdtemp(tmpl)) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(buf, size, "%s/db", tmpl);
    return buf;
}

/* Removes the files in dir, dir itself, and its parent (made by
 * tmp_store_dir). */
static inline void tmp_store_rm(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
    char parent[512];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        rmdir(parent);
    }
}

/* Whether fd is open on a data.mdb file (read from /proc/self/fd): the
 * file whose writes and syncs the eio and powerloss tests act on. */
static inline int fd_is_data_mdb(int fd)
{
    char link[64], path[512];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 9)
        return 0;
    path[n] = '\0';
    return strcmp(path + n - 9, "/data.mdb") == 0;
}

/* Commits one batch: op v of doc (user "u", client "c", seq v, ts_ms v)
 * carrying data[0..len), and an activity entry (ts_ms v) carrying
 * act[0..act_len). Returns 0, the STORE_E* code of the first call that
 * failed, or -100 when the batch could not be made. */
static inline int commit_op_activity(store *s, const char *doc, uint64_t v, const void *data,
                                     size_t len, const char *act, size_t act_len)
{
    store_batch *b;
    if (store_batch_new(&b))
        return -100;
    int err = store_batch_op_append(b, doc, v, "u", "c", v, v, data, len);
    if (!err)
        err = store_batch_activity_append(b, v, act, act_len);
    if (!err)
        err = store_batch_commit(s, b, NULL);
    store_batch_free(b);
    return err;
}

#endif
