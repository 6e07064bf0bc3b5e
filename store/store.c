/* store.c - the environment: open/close, options, epoch, stat, read handles,
 * error translation and map growth. */
#include "datafile.h"
#include "record.h"
#include "store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024ull)
#define MAP_SIZE_MIN (256ull * 1024ull)

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK:
        return "success";
    case STORE_EINVAL:
        return "invalid argument";
    case STORE_ENOMEM:
        return "out of memory";
    case STORE_ENOTFOUND:
        return "not found";
    case STORE_EFULL:
        return "storage full (map size limit reached)";
    case STORE_ENOSPC:
        return "no space left on device";
    case STORE_EIO:
        return "I/O error";
    case STORE_ECORRUPT:
        return "stored record is corrupt";
    case STORE_ECONFLICT:
        return "version conflict";
    case STORE_EBUSY:
        return "busy (queue full or no reader slot)";
    case STORE_ESHUTDOWN:
        return "writer is shutting down";
    case STORE_EFORMAT:
        return "unknown store format";
    case STORE_EPANIC:
        return "fatal storage error, reopen needed";
    case STORE_EOWNER:
        return "the client id belongs to another user";
    case STORE_ETRUNCATED:
        return "data file truncated: data.mdb ends before pages the store uses (restore the "
               "directory from a backup)";
    default:
        return "unknown error";
    }
}

int store__err(int rc, const char *dir)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return STORE_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case MDB_CURSOR_FULL:
        return STORE_EFULL;
    case MDB_READERS_FULL:
        return STORE_EBUSY;
    case MDB_PANIC:
        return STORE_EPANIC;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return STORE_ECORRUPT;
    case ENOSPC:
    case EDQUOT:
        return STORE_ENOSPC;
    case ENOMEM:
        return STORE_ENOMEM;
    case EINVAL:
        return STORE_EINVAL;
    default:
        break;
    }
    /* A short write on a full file system comes back from LMDB as EIO. */
    if (dir) {
        struct statvfs vfs;
        if (statvfs(dir, &vfs) == 0 && vfs.f_bavail == 0)
            return STORE_ENOSPC;
    }
    return STORE_EIO;
}

int store__doc_check(const char *doc)
{
    int n = record_id_check(doc, STORE_DOC_ID_MAX, 0);
    return n < 0 ? STORE_EINVAL : n;
}

int store__docstr_key(uint8_t *kb, const char *doc, const char *id, size_t id_max)
{
    int n = store__doc_check(doc);
    if (n < 0)
        return n;
    int in = record_id_check(id, id_max, 0);
    if (in < 0)
        return STORE_EINVAL;
    return (int)record_key_docstr(kb, doc, (size_t)n, id, (size_t)in);
}

void store_options_init(struct store_options *o)
{
    memset(o, 0, sizeof *o);
    o->map_size = 256 * MIB;
    o->map_size_max = 16384 * MIB;
    o->snapshot_interval = 500;
    o->retain_ops = 10000;
    o->max_readers = 126;
}

static uint64_t page_round(uint64_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t p = ps > 0 ? (uint64_t)ps : 4096;
    return (n + p - 1) / p * p;
}

const struct store_options *store_get_options(const store *s)
{
    return &s->opt;
}

/* fsync on a directory, so that entries created in it survive a crash. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return store__err(errno, NULL);
    int rc = fsync(fd) == 0 ? 0 : store__err(errno, dir);
    close(fd);
    return rc;
}

/* Opens the named databases and creates the format and epoch records of a
 * new store, or checks the format of an existing one. */
/* A read-only store (options.read_only): the tables are opened, never
 * created, in a read transaction; the format is checked, never upgraded. */
static int store_init_dbs_read_only(store *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store__err(rc, s->dir);
    static const char *names[] = {"meta", "docs",     "ops",    "snaps",  "seqs",
                                  "acl",  "activity", "outbox", "history"};
    MDB_dbi *dbis[] = {&s->meta, &s->docs,     &s->ops,    &s->snaps,  &s->seqs,
                       &s->acl,  &s->activity, &s->outbox, &s->history};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && rc == 0; i++)
        rc = mdb_dbi_open(txn, names[i], 0, dbis[i]);
    MDB_val k = {6, "format"}, v;
    uint32_t fmt = 0;
    if (rc == 0)
        rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == MDB_NOTFOUND ||
        (rc == 0 && (record_format_decode(v.mv_data, v.mv_size, &fmt) != 0 ||
                     fmt < RECORD_STORE_FORMAT_OLDEST || fmt > RECORD_STORE_FORMAT))) {
        /* Not a store, or one whose newer tables only a writer can add. */
        mdb_txn_abort(txn);
        return STORE_EFORMAT;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return store__err(rc, s->dir);
    }
    /* Commit, not abort: handles opened in an aborted txn are closed. */
    return store__err(mdb_txn_commit(txn), s->dir);
}

static int store_init_dbs(store *s, int maplock_held)
{
    MDB_txn *txn;
    if (s->opt.read_only)
        return store_init_dbs_read_only(s);
    /* With the map lock held (reopen), adopting a resized map would wait
     * on ourselves: a freshly opened environment needs no adoption. */
    int rc = maplock_held ? mdb_txn_begin(s->env, NULL, 0, &txn) : store__write_begin(s, &txn);
    if (rc)
        return store__err(rc, s->dir);
    static const char *names[] = {"meta", "docs",     "ops",    "snaps",  "seqs",
                                  "acl",  "activity", "outbox", "history"};
    MDB_dbi *dbis[] = {&s->meta, &s->docs,     &s->ops,    &s->snaps,  &s->seqs,
                       &s->acl,  &s->activity, &s->outbox, &s->history};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        rc = mdb_dbi_open(txn, names[i], MDB_CREATE, dbis[i]);
        if (rc)
            goto fail;
    }
    MDB_val k = {6, "format"}, v;
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        uint32_t fmt;
        if (record_format_decode(v.mv_data, v.mv_size, &fmt) != 0 ||
            fmt < RECORD_STORE_FORMAT_OLDEST || fmt > RECORD_STORE_FORMAT) {
            mdb_txn_abort(txn);
            return STORE_EFORMAT;
        }
        MDB_val ek = {5, "epoch"};
        struct store_epoch e;
        rc = mdb_get(txn, s->meta, &ek, &v);
        if (rc || record_epoch_decode(v.mv_data, v.mv_size, &e) != 0) {
            mdb_txn_abort(txn);
            return STORE_ECORRUPT;
        }
        if (fmt < RECORD_STORE_FORMAT) {
            /* An older store: its records all stay readable (see
             * RECORD_STORE_FORMAT); the new number keeps older builds,
             * which cannot read the newer records, from opening it. */
            uint8_t fb[RECORD_FORMAT_SIZE];
            record_format_encode(fb, RECORD_STORE_FORMAT);
            MDB_val fv = {sizeof fb, fb};
            rc = mdb_put(txn, s->meta, &k, &fv, 0);
            if (rc)
                goto fail;
        }
        /* Commit, not abort: handles opened in an aborted txn are closed. */
        return store__err(mdb_txn_commit(txn), s->dir);
    }
    if (rc != MDB_NOTFOUND)
        goto fail;
    uint8_t fbuf[RECORD_FORMAT_SIZE];
    record_format_encode(fbuf, RECORD_STORE_FORMAT);
    v.mv_size = sizeof fbuf;
    v.mv_data = fbuf;
    rc = mdb_put(txn, s->meta, &k, &v, 0);
    if (rc)
        goto fail;
    int err = 0;
    int r = store__epoch_apply_renew(s, txn, &err);
    if (r) {
        mdb_txn_abort(txn);
        return err ? store__err(err, s->dir) : r;
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        return store__err(rc, s->dir);
    /* A new store: make its file names durable too (LMDB syncs the files,
     * not the directory entries). */
    return sync_dir(s->dir);
fail:
    mdb_txn_abort(txn);
    return store__err(rc, s->dir);
}

/* Takes the map lock for writing, waiting at most MAPLOCK_WAIT_S seconds
 * for read handles to end: a handle left open by mistake must not stall
 * every write forever (the operation that needed the lock fails instead). */
#define MAPLOCK_WAIT_S 5
static void spare_drop(store *s);

static int maplock_wrlock(store *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += MAPLOCK_WAIT_S;
    int rc = pthread_rwlock_timedwrlock(&s->maplock, &ts);
    if (rc == 0)
        spare_drop(s); /* whoever holds the lock may resize or close the map */
    return rc;
}

/* The smallest data file LMDB writes holds two meta pages of at least this
 * many bytes each (its page size is the system's, 4 KiB or more). */
#define DATA_FILE_MIN (2u * 4096u)

/* For an mdb_env_open that failed with MDB_INVALID: a data file too short
 * to hold both meta pages was cut, rather than never an LMDB file. */
static int invalid_or_truncated(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size < DATA_FILE_MIN)
        return STORE_ETRUNCATED;
    return STORE_ECORRUPT;
}

/* Creates and opens s->env in s->dir with a map of map_size bytes, checks
 * the data file's size, and clears stale reader slots. On failure s->env is
 * NULL. */
static int env_open(store *s, uint64_t map_size)
{
    int rc = mdb_env_create(&s->env);
    if (rc) {
        s->env = NULL;
        return store__err(rc, NULL);
    }
    rc = mdb_env_set_maxdbs(s->env, 16);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(s->env, s->opt.max_readers);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, map_size);
    /* MDB_NOTLS: read handles are not tied to threads, so a thread may hold
     * several and a handle may move between threads. Default sync flags. */
    if (rc == 0)
        rc = mdb_env_open(s->env, s->dir, MDB_NOTLS | (s->opt.read_only ? MDB_RDONLY : 0), 0600);
    int err = rc == MDB_INVALID ? invalid_or_truncated(s->dir) : store__err(rc, s->dir);
    if (err == 0) /* before any page but the meta pages is read */
        err = store__data_file_check(s->env, NULL, NULL);
    if (err) {
        mdb_env_close(s->env);
        s->env = NULL;
        return err;
    }
    int dead = 0;
    mdb_reader_check(s->env, &dead);
    return 0;
}

int store__reopen_locked(store *s)
{
    if (maplock_wrlock(s) != 0)
        return STORE_EPANIC;
    uint64_t size = s->opt.map_size;
    MDB_envinfo info;
    if (s->env && mdb_env_info(s->env, &info) == 0 && info.me_mapsize > size)
        size = info.me_mapsize;
    if (s->env)
        mdb_env_close(s->env);
    int err = env_open(s, size);
    if (err == 0)
        err = store_init_dbs(s, 1);
    if (err && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
    pthread_rwlock_unlock(&s->maplock);
    return err;
}

int store_open(const char *dir, const struct store_options *o, store **out)
{
    if (!dir || !*dir || !out)
        return STORE_EINVAL;
    *out = NULL;
    struct store_options opt;
    store_options_init(&opt);
    if (o) {
        opt = *o;
        struct store_options def;
        store_options_init(&def);
        if (!opt.map_size)
            opt.map_size = def.map_size;
        if (!opt.map_size_max)
            opt.map_size_max = def.map_size_max;
        if (!opt.max_readers)
            opt.max_readers = def.max_readers;
    }
    if (opt.map_size < MAP_SIZE_MIN)
        return STORE_EINVAL;
    opt.map_size = page_round(opt.map_size);
    if (opt.map_size_max < opt.map_size)
        opt.map_size_max = opt.map_size;
    if (opt.read_only) {
        struct stat st;
        if (stat(dir, &st) != 0)
            return store__err(errno, NULL);
    } else if (mkdir(dir, 0700) == 0) {
        /* Make the new directory's own entry durable. */
        char *parent = strdup(dir), *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash && slash != parent)
            *slash = '\0';
        if (parent && slash)
            sync_dir(slash == parent ? "/" : parent);
        else if (parent)
            sync_dir(".");
        free(parent);
    } else if (errno != EEXIST) {
        return store__err(errno, NULL);
    }

    store *s = calloc(1, sizeof *s);
    if (!s)
        return STORE_ENOMEM;
    s->opt = opt;
    s->dir = strdup(dir);
    if (!s->dir) {
        free(s);
        return STORE_ENOMEM;
    }
    if (pthread_rwlock_init(&s->maplock, NULL) != 0) {
        free(s->dir);
        free(s);
        return STORE_ENOMEM;
    }
    pthread_mutex_init(&s->write_mu, NULL);
    int err = env_open(s, opt.map_size);
    if (err == 0)
        err = store_init_dbs(s, 0);
    if (err) {
        store_close(s);
        return err;
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->opt.map_size) {
        /* An existing file larger than the configured map keeps its size. */
        s->opt.map_size = info.me_mapsize;
        if (s->opt.map_size_max < s->opt.map_size)
            s->opt.map_size_max = s->opt.map_size;
    }
    *out = s;
    return 0;
}

int store_inspect(const char *dir, struct store_files *out)
{
    if (!dir || !*dir || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    int lock_file = stat(path, &st) == 0;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) != 0) {
        out->traces = lock_file;
        return errno == ENOENT || errno == ENOTDIR ? 0 : store__err(errno, NULL);
    }
    out->data_bytes = (uint64_t)st.st_size;
    if (st.st_size == 0) {
        out->traces = 1;
        return 0;
    }
    out->store = 1;
    MDB_env *env;
    int rc = mdb_env_create(&env);
    if (rc)
        return store__err(rc, NULL);
    /* Read-only, and with the lock file only when there is one (a server
     * may have the store open: its reader table then protects the pages
     * read): nothing is created or changed. */
    rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS | (lock_file ? 0 : MDB_NOLOCK), 0600);
    int err = rc == MDB_INVALID ? invalid_or_truncated(dir) : store__err(rc, NULL);
    if (err == 0)
        err = store__data_file_check(env, &out->data_bytes, &out->used_bytes);
    mdb_env_close(env);
    return err;
}

void store_close(store *s)
{
    if (!s)
        return;
    spare_drop(s);
    if (s->env)
        mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->maplock);
    pthread_mutex_destroy(&s->write_mu);
    free(s->dir);
    free(s);
}

int store__grow_locked(store *s)
{
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) != 0)
        return STORE_EIO;
    uint64_t cur = info.me_mapsize;
    if (cur >= s->opt.map_size_max)
        return STORE_EFULL;
    uint64_t next = cur * 2;
    if (next > s->opt.map_size_max || next < cur)
        next = s->opt.map_size_max;
    next = page_round(next);
    /* Wait for read handles to end: resizing remaps the file. */
    if (maplock_wrlock(s) != 0)
        return STORE_EFULL;
    int rc = mdb_env_set_mapsize(s->env, next);
    pthread_rwlock_unlock(&s->maplock);
    return rc ? STORE_EFULL : 0;
}

/* Adopts a map size grown by another process (MDB_MAP_RESIZED), waiting
 * for this process's read handles to end. */
static int adopt_mapsize(store *s)
{
    if (maplock_wrlock(s) != 0)
        return STORE_EIO;
    int rc = mdb_env_set_mapsize(s->env, 0);
    pthread_rwlock_unlock(&s->maplock);
    return rc ? STORE_EIO : 0;
}

int store__write_begin(store *s, MDB_txn **txn)
{
    if (!s->env)
        return MDB_PANIC; /* a reopen after MDB_PANIC failed */
    int rc = mdb_txn_begin(s->env, NULL, 0, txn);
    if (rc == MDB_MAP_RESIZED && adopt_mapsize(s) == 0)
        rc = mdb_txn_begin(s->env, NULL, 0, txn);
    return rc;
}

/* ---------------------------------------------------------------- epoch */

int store__epoch_apply_renew(store *s, MDB_txn *txn, int *mdb_rc)
{
    struct store_epoch e;
    if (RAND_bytes(e.bytes, sizeof e.bytes) != 1)
        return STORE_EIO;
    uint8_t buf[RECORD_EPOCH_SIZE];
    record_epoch_encode(buf, &e);
    MDB_val k = {5, "epoch"}, v = {sizeof buf, buf};
    int rc = mdb_put(txn, s->meta, &k, &v, 0);
    if (rc) {
        *mdb_rc = rc;
        return STORE_EIO;
    }
    return 0;
}

int store__read_epoch(store_read *r, struct store_epoch *out)
{
    MDB_val k = {5, "epoch"}, v;
    int rc = mdb_get(r->txn, r->s->meta, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? STORE_ECORRUPT : store__err(rc, NULL);
    return record_epoch_decode(v.mv_data, v.mv_size, out);
}

int store_epoch_get(store *s, struct store_epoch *out)
{
    if (!s || !out)
        return STORE_EINVAL;
    store_read *r;
    int err = store_read_begin(s, &r);
    if (err)
        return err;
    err = store__read_epoch(r, out);
    store_read_end(r);
    return err;
}

void store_epoch_format(const struct store_epoch *e, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < STORE_EPOCH_LEN; i++) {
        out[2 * i] = hex[e->bytes[i] >> 4];
        out[2 * i + 1] = hex[e->bytes[i] & 15];
    }
    out[STORE_EPOCH_HEX_LEN] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int store_epoch_parse(const char *hex, size_t len, struct store_epoch *out)
{
    if (!hex || !out || len != STORE_EPOCH_HEX_LEN)
        return STORE_EINVAL;
    for (int i = 0; i < STORE_EPOCH_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return STORE_EINVAL;
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---------------------------------------------------------------- reads */

/* Aborts the spare read handle's transaction (map lock held for writing,
 * or the store closing). */
static void spare_drop(store *s)
{
    store_read *r = atomic_exchange(&s->spare, NULL);
    if (r) {
        mdb_txn_abort(r->txn);
        free(r);
    }
}

int store_read_begin(store *s, store_read **out)
{
    if (!s || !out)
        return STORE_EINVAL;
    *out = NULL;
    if (pthread_rwlock_rdlock(&s->maplock) != 0)
        return STORE_EBUSY;
    store_read *r = atomic_exchange(&s->spare, NULL);
    if (r) {
        if (mdb_txn_renew(r->txn) == 0) {
            *out = r;
            return 0;
        }
        /* Whatever kept it from renewing, a fresh begin below meets it. */
        mdb_txn_abort(r->txn);
    } else if (!(r = malloc(sizeof *r))) {
        pthread_rwlock_unlock(&s->maplock);
        return STORE_ENOMEM;
    }
    r->s = s;
    if (!s->env) {
        pthread_rwlock_unlock(&s->maplock);
        free(r);
        return STORE_EPANIC;
    }
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    if (rc == MDB_PANIC && pthread_mutex_trylock(&s->write_mu) == 0) {
        /* No write in progress: reopen now rather than wait for the next
         * write to do it (never block the caller on a commit). */
        pthread_rwlock_unlock(&s->maplock);
        int err = store__reopen_locked(s);
        pthread_mutex_unlock(&s->write_mu);
        if (err || pthread_rwlock_rdlock(&s->maplock) != 0) {
            free(r);
            return STORE_EPANIC;
        }
        rc = s->env ? mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn) : MDB_PANIC;
    }
    if (rc == MDB_MAP_RESIZED) {
        /* Another process grew the map: adopt its size, then retry. */
        pthread_rwlock_unlock(&s->maplock);
        if (adopt_mapsize(s) != 0 || pthread_rwlock_rdlock(&s->maplock) != 0) {
            free(r);
            return STORE_EIO;
        }
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r->txn);
    }
    if (rc) {
        pthread_rwlock_unlock(&s->maplock);
        free(r);
        return store__err(rc, NULL);
    }
    *out = r;
    return 0;
}

void store_read_end(store_read *r)
{
    if (!r)
        return;
    store *s = r->s;
    mdb_txn_reset(r->txn);
    store_read *old = atomic_exchange(&s->spare, r);
    if (old) {
        mdb_txn_abort(old->txn);
        free(old);
    }
    pthread_rwlock_unlock(&s->maplock);
}

int store_stat(store *s, struct store_stat *out)
{
    if (!s || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    store_read *r;
    int err = store_read_begin(s, &r);
    if (err)
        return err;
    MDB_dbi dbis[] = {s->docs, s->ops, s->snaps, s->seqs, s->acl, s->activity};
    uint64_t *counts[] = {&out->docs, &out->ops,  &out->snapshots,
                          &out->seqs, &out->acls, &out->activity};
    for (size_t i = 0; i < 6 && !err; i++) {
        MDB_stat st;
        int rc = mdb_stat(r->txn, dbis[i], &st);
        if (rc)
            err = store__err(rc, NULL);
        else
            *counts[i] = st.ms_entries;
    }
    MDB_envinfo info;
    MDB_stat est;
    if (!err && mdb_env_info(s->env, &info) == 0 && mdb_env_stat(s->env, &est) == 0) {
        out->map_size = info.me_mapsize;
        out->map_used = ((uint64_t)info.me_last_pgno + 1) * est.ms_psize;
    }
    if (!err) {
        uint8_t hash[STORE_HASH_LEN];
        err = store_activity_head(r, &out->activity_head, hash);
    }
    if (!err)
        err = store__read_epoch(r, &out->epoch);
    store_read_end(r);
    return err;
}

int store_snapshot_due(const store *s, const struct store_doc_info *d)
{
    if (!s || !d || s->opt.snapshot_interval == 0)
        return 0;
    return d->head - d->snapshot_version >= s->opt.snapshot_interval;
}

int store__err_is_env(int err)
{
    return err == STORE_EFULL || err == STORE_ENOSPC || err == STORE_EIO || err == STORE_EPANIC ||
           err == STORE_ENOMEM || err == STORE_EBUSY;
}
