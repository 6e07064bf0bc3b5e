/* Raw LMDB access to a closed store, behind the store's back: what the
 * tests that damage records on purpose (activity, corrupt, verify) edit
 * with. Include after test.h (failures are counted with CHECK_EQ). */
#ifndef DOCSYNC_TESTS_STORE_RAW_LMDB_H
#define DOCSYNC_TESTS_STORE_RAW_LMDB_H

#include "test.h"

#include <lmdb.h>

/* Opens the environment in dir, a write transaction, and the table db
 * ("docs", "ops", "activity", ...). End with raw_close. */
static inline void raw_open(const char *dir, const char *db, MDB_env **env, MDB_txn **txn,
                            MDB_dbi *dbi)
{
    CHECK_EQ(mdb_env_create(env), 0);
    CHECK_EQ(mdb_env_set_maxdbs(*env, 8), 0);
    CHECK_EQ(mdb_env_open(*env, dir, 0, 0600), 0);
    CHECK_EQ(mdb_txn_begin(*env, NULL, 0, txn), 0);
    CHECK_EQ(mdb_dbi_open(*txn, db, 0, dbi), 0);
}

/* Commits the transaction and closes the environment. */
static inline void raw_close(MDB_env *env, MDB_txn *txn)
{
    CHECK_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

#endif
