/* datafile.c - does data.mdb hold every page a reader can reach? See
 * datafile.h. Every read here is a pread: nothing but the meta pages is
 * read through LMDB's map before the check passes. */
#include "datafile.h"

#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* LMDB data format 1 with 64-bit page numbers: the page header (MDB_page),
 * the meta page (MDB_meta after the header), a database record (MDB_db)
 * and a node (MDB_node), as offsets in bytes. */
#define PAGEHDRSZ 16u
#define PAGE_PGNO 0
#define PAGE_FLAGS 10
#define PAGE_LOWER 12
#define PAGE_UPPER 14
#define PAGE_OVPAGES 12
#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define META_MAGIC 16
#define META_VERSION 20
#define META_FREE_DB 40 /* the free-page database's MDB_db */
#define META_LAST_PG 136
#define META_TXNID 144
#define META_END 152
#define DB_PSIZE 0 /* the free database's md_pad holds the page size */
#define DB_BRANCH 8
#define DB_LEAF 16
#define DB_OVERFLOW 24
#define DB_ROOT 40
#define NODEHDR 8u
#define F_BIGDATA 0x01u
#define MAGIC 0xBEEFC0DEu
#define DATA_VERSION 1u
#define NO_PAGE UINT64_MAX
#define MAX_DEPTH 32

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The walk over the free-page database. */
struct walk {
    int fd;
    uint64_t psize;
    uint64_t file_pages; /* whole pages in the file */
    uint64_t first;      /* the pages that must be free: first..first+count-1 */
    uint64_t count;
    uint8_t *seen; /* bitmap over those pages */
    uint64_t found;
    uint64_t budget; /* pages left to read: bounds the walk of a damaged tree */
};

/* Reads `len` bytes at `off`. A short read means the file ends there. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return STORE_EIO;
        if (n == 0)
            return STORE_ETRUNCATED;
        done += (size_t)n;
    }
    return 0;
}

/* Reads page `pgno` (npages long, only the first is read) into buf. */
static int read_page(struct walk *w, uint64_t pgno, uint64_t npages, uint8_t *buf)
{
    if (pgno >= w->file_pages || npages > w->file_pages - pgno)
        return STORE_ETRUNCATED;
    if (npages > w->budget)
        return STORE_ECORRUPT;
    w->budget -= npages;
    int rc = read_at(w->fd, buf, (size_t)w->psize, pgno * w->psize);
    if (rc)
        return rc;
    return get64(buf + PAGE_PGNO) == pgno ? 0 : STORE_ECORRUPT;
}

/* Marks the pages of one free list (a count, then that many page numbers,
 * all 64-bit) that fall in the range looked for. */
static int mark_list(struct walk *w, const uint8_t *data, uint64_t len)
{
    if (len < 8 || len % 8)
        return STORE_ECORRUPT;
    uint64_t n = get64(data);
    if (n > len / 8 - 1)
        return STORE_ECORRUPT;
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t pg = get64(data + 8 * i);
        if (pg < w->first || pg - w->first >= w->count)
            continue;
        uint64_t bit = pg - w->first;
        if (!(w->seen[bit / 8] & (1u << (bit % 8)))) {
            w->seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
            w->found++;
        }
    }
    return 0;
}

/* A free list too long for its leaf: in overflow pages from `pgno` on. */
static int read_overflow(struct walk *w, uint64_t pgno, uint64_t len)
{
    uint64_t npages = (PAGEHDRSZ + len + w->psize - 1) / w->psize;
    uint8_t *buf = malloc((size_t)(len > w->psize ? len : w->psize));
    if (!buf)
        return STORE_ENOMEM;
    int rc = read_page(w, pgno, npages, buf);
    if (rc == 0 && (!(get16(buf + PAGE_FLAGS) & P_OVERFLOW) || get32(buf + PAGE_OVPAGES) < npages))
        rc = STORE_ECORRUPT;
    if (rc == 0)
        rc = read_at(w->fd, buf, (size_t)len, pgno * w->psize + PAGEHDRSZ);
    if (rc == 0)
        rc = mark_list(w, buf, len);
    free(buf);
    return rc;
}

static int walk_page(struct walk *w, uint64_t pgno, int depth)
{
    if (depth > MAX_DEPTH)
        return STORE_ECORRUPT;
    uint8_t *p = malloc((size_t)w->psize);
    if (!p)
        return STORE_ENOMEM;
    int rc = read_page(w, pgno, 1, p);
    unsigned flags = 0, lower = PAGEHDRSZ, upper = PAGEHDRSZ;
    if (rc == 0) {
        flags = get16(p + PAGE_FLAGS);
        lower = get16(p + PAGE_LOWER);
        upper = get16(p + PAGE_UPPER);
        if (!(flags & (P_BRANCH | P_LEAF)) || lower < PAGEHDRSZ || lower > upper ||
            upper > w->psize)
            rc = STORE_ECORRUPT;
    }
    unsigned nkeys = rc ? 0 : (lower - PAGEHDRSZ) / 2;
    for (unsigned i = 0; i < nkeys && rc == 0; i++) {
        uint64_t off = get16(p + PAGEHDRSZ + 2 * i);
        if (off < upper || off + NODEHDR > w->psize) {
            rc = STORE_ECORRUPT;
            break;
        }
        const uint8_t *node = p + off;
        uint64_t lo = get16(node), hi = get16(node + 2), nflags = get16(node + 4);
        uint64_t ksize = get16(node + 6), data = off + NODEHDR + ksize;
        if (data > w->psize) {
            rc = STORE_ECORRUPT;
        } else if (flags & P_BRANCH) {
            rc = walk_page(w, lo | hi << 16 | nflags << 32, depth + 1);
        } else if (nflags & F_BIGDATA) {
            rc = data + 8 > w->psize ? STORE_ECORRUPT
                                     : read_overflow(w, get64(p + data), lo | hi << 16);
        } else {
            uint64_t len = lo | hi << 16;
            rc = data + len > w->psize ? STORE_ECORRUPT : mark_list(w, p + data, len);
        }
    }
    free(p);
    return rc;
}

/* Whether this build can read the layout above. */
static int layout_known(void)
{
    const uint16_t one = 1;
    return sizeof(size_t) == 8 && *(const uint8_t *)&one == 1;
}

int store__data_file_check(MDB_env *env, uint64_t *file_bytes, uint64_t *used_bytes)
{
    MDB_stat st;
    MDB_envinfo info;
    mdb_filehandle_t fd;
    struct stat fs;
    if (mdb_env_stat(env, &st) != 0 || mdb_env_info(env, &info) != 0 ||
        mdb_env_get_fd(env, &fd) != 0 || st.ms_psize < META_END)
        return STORE_EIO;
    /* A read transaction keeps the pages of its snapshot from being reused
     * by a writer (another process) while they are read here. It reads
     * nothing but the meta pages. */
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        txn = NULL;
    uint64_t txnid = txn ? (uint64_t)mdb_txn_id(txn) : 0;
    int rc = fstat(fd, &fs) == 0 ? 0 : STORE_EIO;
    struct walk w = {.fd = fd, .psize = st.ms_psize};
    w.file_pages = rc ? 0 : (uint64_t)fs.st_size / w.psize;
    uint64_t last = info.me_last_pgno;
    uint8_t meta[2][META_END], *m = NULL;
    if (rc == 0 && layout_known() && read_at(fd, meta[0], META_END, 0) == 0 &&
        read_at(fd, meta[1], META_END, w.psize) == 0) {
        /* The meta page of the snapshot read (the newer one without one). */
        int pick = get64(meta[1] + META_TXNID) > get64(meta[0] + META_TXNID);
        for (int i = 0; txn && i < 2; i++)
            if (get64(meta[i] + META_TXNID) == txnid)
                pick = i;
        m = meta[pick];
        if (get32(m + META_MAGIC) != MAGIC || get32(m + META_VERSION) != DATA_VERSION ||
            get32(m + META_FREE_DB + DB_PSIZE) != w.psize)
            m = NULL;
        else
            last = get64(m + META_LAST_PG);
    }
    if (file_bytes)
        *file_bytes = rc ? 0 : (uint64_t)fs.st_size;
    if (used_bytes)
        *used_bytes = (last + 1) * w.psize;
    if (rc == 0 && last >= w.file_pages && m) {
        /* Pages from the end of the file on: all of them must be free. */
        uint64_t root = get64(m + META_FREE_DB + DB_ROOT);
        w.first = w.file_pages;
        w.count = last - w.file_pages + 1;
        w.budget = get64(m + META_FREE_DB + DB_BRANCH) + get64(m + META_FREE_DB + DB_LEAF) +
                   get64(m + META_FREE_DB + DB_OVERFLOW);
        if (w.budget > w.file_pages)
            w.budget = w.file_pages;
        /* The free-page database fills at most `budget` pages of 8-byte page
         * numbers: more missing pages than that cannot all be free. */
        if (root == NO_PAGE || w.count > w.budget * (w.psize / 8)) {
            rc = STORE_ETRUNCATED;
        } else if (!(w.seen = calloc((size_t)(w.count / 8 + 1), 1))) {
            rc = STORE_ENOMEM;
        } else {
            rc = walk_page(&w, root, 0);
            if (rc == 0 && w.found != w.count)
                rc = STORE_ETRUNCATED;
            free(w.seen);
        }
    }
    /* Without the layout, only a file reaching the last page is known to be
     * whole; a shorter one is taken as healthy (see datafile.h). */
    if (txn)
        mdb_txn_abort(txn);
    return rc;
}
