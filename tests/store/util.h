/* Helpers shared by the store tests: temporary store directories. */
#ifndef DOCSYNC_TESTS_STORE_UTIL_H
#define DOCSYNC_TESTS_STORE_UTIL_H

#include <dirent.h>
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

#endif
