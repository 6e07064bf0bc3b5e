/* datafile.h - internal: does data.mdb hold every page a reader can reach?
 *
 * LMDB reads pages through a map of data.mdb; a page beyond the end of the
 * file is not an error there but a SIGBUS that kills the process. A file
 * cut short (a partial copy or restore) must therefore be found before any
 * page but the two meta pages is read through the map, which is right after
 * mdb_env_open (it reads the meta pages with pread).
 *
 * The meta page's last page number is not enough: a healthy file may end
 * before it, when the pages at the end were allocated and freed again in
 * one transaction and never written. Those pages are listed in the
 * free-page database, so the check is: every page from the end of the file
 * to the last page is free. The free-page database is read with pread, so
 * a file cut inside it is found too, without a fault.
 *
 * The layout read here is LMDB's data format 1 (the 0.9 series) on a 64-bit
 * little-endian machine; the meta page's magic, version and page size are
 * checked against it. Elsewhere only the fast path (no page beyond the end)
 * is decided, and a shorter file is assumed healthy. */
#ifndef DOCSYNC_STORE_DATAFILE_H
#define DOCSYNC_STORE_DATAFILE_H

#include <lmdb.h>
#include <stdint.h>

/* Checks the data file of `env`, just opened (nothing but the meta pages
 * read through the map yet). Opens and ends a read transaction of its own,
 * so that the pages it reads are not reused under it. Fills *file_bytes
 * (the size of data.mdb) and *used_bytes (the bytes up to the last page of
 * the snapshot checked); either may be NULL. Returns 0, STORE_ETRUNCATED,
 * STORE_ECORRUPT (the free-page database is damaged where it must be read),
 * STORE_EIO or STORE_ENOMEM. */
int store__data_file_check(MDB_env *env, uint64_t *file_bytes, uint64_t *used_bytes);

#endif
