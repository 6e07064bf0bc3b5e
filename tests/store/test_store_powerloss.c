/* Simulated power loss at the store level (the ALICE method: rebuild the
 * disk images a crash could leave from a log of the writes). The probe
 * (this program run as "probe DIR LOG") interposes the calls LMDB uses to
 * write data.mdb (pwrite, writev, write, fsync, fdatasync) and logs every
 * write with its offset and bytes, every completed sync, and every
 * acknowledgement its writer callbacks give. The checker then builds disk
 * images as a power cut at a random point of that log would leave them:
 * everything up to the last completed sync, the O_DSYNC (meta page) writes,
 * and a random subset of the 4 KiB pieces written after the sync; nothing
 * after the cut. Each image must open, hold every op acknowledged before
 * the cut with no gap in its op log, and pass the activity chain check.
 * Seeded (STORE_TEST_SEED, default 1). Exits 77 when the interposition
 * does not take effect (e.g. a static libc). */
#define _GNU_SOURCE
#include "store.h"
#include "test.h"
#include "util.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PIECE 4096
#define IMAGES 40

/* ------------------------------------------------------------ probe side */

enum rec_type { REC_WRITE = 'W', REC_DSYNC_WRITE = 'D', REC_SYNC = 'S', REC_ACK = 'A' };

static int log_fd = -1;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static ssize_t (*real_write)(int, const void *, size_t);

static void log_raw(const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = real_write(log_fd, b, n);
        if (k <= 0)
            _exit(90);
        b += k;
        n -= (size_t)k;
    }
}

static void log_rec(uint8_t type, uint64_t off, const void *data, uint32_t len)
{
    if (log_fd < 0)
        return;
    pthread_mutex_lock(&log_mu);
    log_raw(&type, 1);
    log_raw(&off, 8);
    log_raw(&len, 4);
    if (len)
        log_raw(data, len);
    pthread_mutex_unlock(&log_mu);
}

static uint8_t write_type(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_DSYNC) ? REC_DSYNC_WRITE : REC_WRITE;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    ssize_t r = REAL(pwrite)(fd, buf, n, off);
    if (r > 0 && log_fd >= 0 && fd_is_data_mdb(fd))
        log_rec(write_type(fd), (uint64_t)off, buf, (uint32_t)r);
    return r;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    if (!real_write)
        real_write = REAL(write);
    int data = log_fd >= 0 && fd != log_fd && fd_is_data_mdb(fd);
    off_t off = data ? lseek(fd, 0, SEEK_CUR) : 0;
    ssize_t r = real_write(fd, buf, n);
    if (r > 0 && data)
        log_rec(write_type(fd), (uint64_t)off, buf, (uint32_t)r);
    return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    int data = log_fd >= 0 && fd_is_data_mdb(fd);
    off_t off = data ? lseek(fd, 0, SEEK_CUR) : 0;
    ssize_t r = REAL(writev)(fd, iov, cnt);
    if (r > 0 && data) {
        uint8_t t = write_type(fd);
        size_t left = (size_t)r;
        for (int i = 0; i < cnt && left; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            log_rec(t, (uint64_t)off, iov[i].iov_base, (uint32_t)n);
            off += (off_t)n;
            left -= n;
        }
    }
    return r;
}

int fdatasync(int fd)
{
    int r = REAL(fdatasync)(fd);
    if (r == 0 && log_fd >= 0 && fd_is_data_mdb(fd))
        log_rec(REC_SYNC, 0, NULL, 0);
    return r;
}

int fsync(int fd)
{
    int r = REAL(fsync)(fd);
    if (r == 0 && log_fd >= 0 && fd_is_data_mdb(fd))
        log_rec(REC_SYNC, 0, NULL, 0);
    return r;
}

static void acked(void *ctx, int status, const struct store_batch_result *res)
{
    (void)res;
    if (status != 0)
        _exit(91);
    log_rec(REC_ACK, (uint64_t)(uintptr_t)ctx, NULL, 0);
}

static int probe(const char *dir, const char *logpath, uint64_t seed)
{
    real_write = REAL(write);
    log_fd = open(logpath, O_CREAT | O_TRUNC | O_WRONLY | O_APPEND, 0600);
    if (log_fd < 0)
        return 92;
    struct store_options o;
    store_options_init(&o);
    o.map_size = 8u << 20;
    o.retain_ops = 40;
    store *s;
    store_writer *w;
    if (store_open(dir, &o, &s) || store_writer_new(s, NULL, NULL, NULL, &w))
        return 93;
    uint64_t v = 0;
    uint8_t upd[700];
    for (int g = 0; g < 60; g++) {
        int n = 1 + (int)((seed + (uint64_t)g * 7919u) % 9);
        for (int i = 0; i < n; i++) {
            v++;
            memset(upd, (int)(v & 0xff), sizeof upd);
            store_batch *b;
            char payload[48];
            int pn = snprintf(payload, sizeof payload, "{\"v\":%llu}", (unsigned long long)v);
            if (store_batch_new(&b) ||
                store_batch_op_append(b, "doc", v, "u", "c", v, v, upd, 100 + (v * 37) % 600) ||
                store_batch_activity_append(b, v, payload, (size_t)pn) ||
                (v % 15 == 0 && store_batch_snapshot_put(b, "doc", v, v, upd, 300)) ||
                store_writer_submit(w, b, acked, (void *)(uintptr_t)v))
                return 94;
        }
        store_writer_flush(w);
    }
    store_writer_free(w);
    store_close(s);
    close(log_fd);
    return 0;
}

/* ------------------------------------------------------------ checker */

struct rec {
    uint8_t type;
    uint64_t off;
    uint32_t len;
    const uint8_t *data;
};

static uint64_t rng_s;

static uint32_t rnd(uint32_t n)
{
    rng_s = rng_s * 6364136223846793005ull + 1442695040888963407ull;
    return n ? (uint32_t)((rng_s >> 33) % n) : 0;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static size_t parse(const uint8_t *buf, size_t len, struct rec *recs, size_t max)
{
    size_t n = 0, pos = 0;
    while (pos + 13 <= len && n < max) {
        struct rec *r = &recs[n];
        r->type = buf[pos];
        memcpy(&r->off, buf + pos + 1, 8);
        memcpy(&r->len, buf + pos + 9, 4);
        pos += 13;
        if (r->len > len - pos)
            break;
        r->data = buf + pos;
        pos += r->len;
        n++;
    }
    return n;
}

static void put_bytes(uint8_t **img, size_t *size, uint64_t off, const uint8_t *p, size_t n)
{
    if (off + n > *size) {
        uint8_t *g = realloc(*img, off + n);
        if (!g)
            abort();
        memset(g + *size, 0, off + n - *size);
        *img = g;
        *size = off + n;
    }
    memcpy(*img + off, p, n);
}

static int count_op(void *ctx, const struct store_op *op)
{
    uint64_t *expect = ctx;
    if (op->version != *expect || op->len != 100 + (op->version * 37) % 600 ||
        op->data[0] != (uint8_t)(op->version & 0xff))
        return -1000;
    (*expect)++;
    return 0;
}

/* Builds the image for a cut before record `cut` and checks it. */
static void check_cut(const struct rec *recs, size_t cut, const char *base)
{
    size_t last_sync = 0;
    int any_sync = 0;
    uint64_t acked = 0;
    for (size_t i = 0; i < cut; i++) {
        if (recs[i].type == REC_SYNC) {
            last_sync = i;
            any_sync = 1;
        }
        if (recs[i].type == REC_ACK && recs[i].off > acked)
            acked = recs[i].off;
    }
    uint8_t *img = NULL;
    size_t size = 0;
    unsigned dropped = 0;
    for (size_t i = 0; i < cut; i++) {
        const struct rec *r = &recs[i];
        if (r->type == REC_DSYNC_WRITE || (r->type == REC_WRITE && any_sync && i < last_sync)) {
            put_bytes(&img, &size, r->off, r->data, r->len);
        } else if (r->type == REC_WRITE) {
            /* Not yet synced: each 4 KiB piece may or may not be on disk. */
            for (uint32_t p = 0; p < r->len; p += PIECE) {
                uint32_t n = r->len - p < PIECE ? r->len - p : PIECE;
                if (rnd(2))
                    put_bytes(&img, &size, r->off + p, r->data + p, n);
                else
                    dropped++;
            }
        }
    }
    char dir[256], path[300];
    snprintf(dir, sizeof dir, "%s-img", base);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        if (size)
            CHECK_EQ(fwrite(img, 1, size, f), size);
        fclose(f);
    }
    free(img);

    store *s;
    int err = store_open(dir, NULL, &s);
    CHECK_EQ(err, 0);
    if (!err) {
        store_read *r;
        struct store_doc_info d;
        memset(&d, 0, sizeof d);
        CHECK_EQ(store_read_begin(s, &r), 0);
        err = store_doc_get(r, "doc", &d);
        CHECK(err == 0 || (err == STORE_ENOTFOUND && acked == 0));
        CHECK(d.head >= acked);
        uint64_t expect = d.trunc_version + 1, bad = 0, off = 0;
        CHECK_EQ(store_ops_after(r, "doc", d.trunc_version, UINT64_MAX, 0, count_op, &expect, NULL),
                 0);
        CHECK_EQ(expect, d.head + 1);
        uint8_t hash[STORE_HASH_LEN];
        CHECK_EQ(store_activity_head(r, &off, hash), 0);
        CHECK_EQ(off, d.head);
        CHECK_EQ(store_activity_verify(r, 1, UINT64_MAX, NULL, &bad), 0);
        store_read_end(r);
        store_close(s);
        if (test_failures)
            fprintf(stderr, "cut at record %zu: acked %llu, head %llu, %u pieces dropped\n", cut,
                    (unsigned long long)acked, (unsigned long long)d.head, dropped);
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *env = getenv("STORE_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : 1;
    if (argc == 4 && strcmp(argv[1], "probe") == 0)
        return probe(argv[2], argv[3], seed);

    char dir[128], logpath[160], self[512];
    tmp_store_dir(dir, sizeof dir, "store-powerloss");
    snprintf(logpath, sizeof logpath, "%s.log", dir);
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sn <= 0)
        return 2;
    self[sn] = '\0';
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "probe", dir, logpath, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    size_t len = 0;
    uint8_t *buf = read_all(logpath, &len);
    CHECK(buf != NULL);
    size_t max = len / 13 + 1;
    struct rec *recs = calloc(max, sizeof *recs);
    size_t n = buf && recs ? parse(buf, len, recs, max) : 0;
    size_t syncs = 0, acks = 0, writes = 0, first_ack = n;
    for (size_t i = 0; i < n; i++) {
        syncs += recs[i].type == REC_SYNC;
        writes += recs[i].type == REC_WRITE || recs[i].type == REC_DSYNC_WRITE;
        if (recs[i].type == REC_ACK && acks++ == 0)
            first_ack = i;
    }
    if (n && syncs == 0) {
        printf("SKIP: the write interposition did not take effect\n");
        free(recs);
        free(buf);
        unlink(logpath);
        tmp_store_rm(dir);
        return 77;
    }
    CHECK(acks > 100);
    printf("log: %zu records (%zu writes, %zu syncs, %zu acks)\n", n, writes, syncs, acks);
    rng_s = seed;
    /* Cuts anywhere after the first acknowledgement (before it the store
     * was never durably created), plus the very end. */
    for (int i = 0; i < IMAGES && !test_failures && first_ack < n; i++) {
        size_t cut = i == IMAGES - 1 ? n : first_ack + 1 + rnd((uint32_t)(n - first_ack));
        check_cut(recs, cut, dir);
    }
    if (test_failures)
        fprintf(stderr, "STORE_TEST_SEED=%llu\n", (unsigned long long)seed);
    free(recs);
    free(buf);
    unlink(logpath);
    tmp_store_rm(dir);
    return TEST_RESULT();
}
