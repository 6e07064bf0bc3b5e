/* fsyncprobe: how long this machine's disk takes to make a write durable, right now, measured
 * the way LMDB commits: the pages written and fdatasync'd, then the meta page written through a
 * second descriptor opened O_DSYNC. Durable-edit figures (acks, DocumentUpdated) can never beat
 * that floor, and on a shared VM it moves by an order of magnitude from hour to hour, so the sync
 * benchmarks print it beside their figures. Never a test.
 *
 * usage: fsyncprobe [dir] [commits]   (default /var/tmp, 1000) */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    printf("%s: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms\n", what, v[n / 2],
           v[n * 9 / 10], v[n * 99 / 100], v[n - 1]);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/var/tmp";
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (n < 10 || n > 1000000) {
        fprintf(stderr, "usage: fsyncprobe [dir] [commits (10-1000000)]\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fsyncprobe-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    int mfd = open(path, O_WRONLY | O_DSYNC);
    unlink(path);
    if (mfd < 0) {
        perror("O_DSYNC");
        return 1;
    }
    static char page[8192];
    memset(page, 0x5a, sizeof page);
    double *data = malloc((size_t)n * sizeof *data), *commit = malloc((size_t)n * sizeof *commit);
    if (!data || !commit)
        return 1;
    for (int i = 0; i < n; i++) {
        /* Pages in a 1 MiB window past the two meta pages, as a growing database's are. */
        off_t at = 8192 + (off_t)(i % 128) * (off_t)sizeof page;
        double t0 = now_ms();
        if (pwrite(fd, page, sizeof page, at) != (ssize_t)sizeof page || fdatasync(fd) != 0) {
            perror("write");
            return 1;
        }
        double t1 = now_ms();
        if (pwrite(mfd, page, 4096, (off_t)(i % 2) * 4096) != 4096) {
            perror("meta");
            return 1;
        }
        double t2 = now_ms();
        data[i] = t1 - t0;
        commit[i] = t2 - t0;
    }
    printf("# %s: %d commits of 8 KiB\n", dir, n);
    report("fdatasync of the pages", data, n);
    report("whole commit (pages + O_DSYNC meta page)", commit, n);
    printf("RESULT fsync_p50_ms=%.3f fsync_p99_ms=%.3f commit_p50_ms=%.3f commit_p99_ms=%.3f\n",
           data[n / 2], data[n * 99 / 100], commit[n / 2], commit[n * 99 / 100]);
    close(mfd);
    close(fd);
    free(data);
    free(commit);
    return 0;
}
