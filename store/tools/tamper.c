/* docsync-store-tamper - TEST ONLY: damages a store on purpose, so that
 * tests can prove the damage is detected (by docsync-verify, in
 * tests/store/test_store_verify.c). Never run it on data you care about.
 *
 *   docsync-store-tamper DIR flip-activity OFFSET [INDEX]
 *       flips one bit of byte INDEX (default: the last byte) of the stored
 *       activity entry OFFSET;
 *   docsync-store-tamper DIR drop-activity-tail N
 *       deletes the last N activity entries (a truncated tail);
 *   docsync-store-tamper DIR drop-op DOC VERSION
 *       deletes one op-log entry (a gap).
 *
 * Works on the raw LMDB environment (names and key layouts of store.h).
 * Exit 0 when done, 1 when the entry does not exist, 2 on usage errors. */
#include "record.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: docsync-store-tamper DIR flip-activity OFFSET [INDEX]\n"
                    "       docsync-store-tamper DIR drop-activity-tail N\n"
                    "       docsync-store-tamper DIR drop-op DOC VERSION\n");
    return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    const char *dir = argv[1], *cmd = argv[2];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 8) || mdb_env_open(env, dir, 0, 0600)) {
        fprintf(stderr, "docsync-store-tamper: cannot open %s\n", dir);
        return 2;
    }
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    int status = 0;
    if (rc)
        goto fail;
    if (strcmp(cmd, "flip-activity") == 0) {
        uint64_t off, index = UINT64_MAX;
        if (parse_u64(argv[3], &off) || (argc > 4 && parse_u64(argv[4], &index)))
            goto usage;
        if ((rc = mdb_dbi_open(txn, "activity", 0, &dbi)))
            goto fail;
        uint8_t kb[8];
        MDB_val k = {record_key_offset(kb, off), kb}, v;
        if ((rc = mdb_get(txn, dbi, &k, &v)))
            goto fail;
        uint8_t *copy = malloc(v.mv_size ? v.mv_size : 1);
        if (!copy) {
            rc = ENOMEM;
            goto fail;
        }
        memcpy(copy, v.mv_data, v.mv_size);
        if (index == UINT64_MAX)
            index = v.mv_size - 1;
        if (index >= v.mv_size) {
            free(copy);
            goto usage;
        }
        copy[index] ^= 0x01;
        v.mv_data = copy;
        rc = mdb_put(txn, dbi, &k, &v, 0);
        free(copy);
        if (rc)
            goto fail;
    } else if (strcmp(cmd, "drop-activity-tail") == 0) {
        uint64_t n;
        if (parse_u64(argv[3], &n))
            goto usage;
        if ((rc = mdb_dbi_open(txn, "activity", 0, &dbi)))
            goto fail;
        MDB_cursor *c;
        if ((rc = mdb_cursor_open(txn, dbi, &c)))
            goto fail;
        MDB_val k, v;
        for (uint64_t i = 0; i < n; i++) {
            rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
            if (rc == 0)
                rc = mdb_cursor_del(c, 0);
            if (rc)
                break;
        }
        mdb_cursor_close(c);
        if (rc)
            goto fail;
    } else if (strcmp(cmd, "drop-op") == 0 && argc == 5) {
        uint64_t ver;
        int dl = record_id_check(argv[3], STORE_DOC_ID_MAX, 0);
        if (dl < 0 || parse_u64(argv[4], &ver))
            goto usage;
        if ((rc = mdb_dbi_open(txn, "ops", 0, &dbi)))
            goto fail;
        uint8_t kb[RECORD_KEY_MAX];
        MDB_val k = {record_key_docver(kb, argv[3], (size_t)dl, ver), kb};
        if ((rc = mdb_del(txn, dbi, &k, NULL)))
            goto fail;
    } else {
        goto usage;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail;
    mdb_env_close(env);
    return 0;
usage:
    status = usage();
    goto out;
fail:
    fprintf(stderr, "docsync-store-tamper: %s\n", mdb_strerror(rc));
    status = rc == MDB_NOTFOUND ? 1 : 2;
out:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return status;
}
