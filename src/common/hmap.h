/* hmap: an open-addressing hash map from byte-string keys to pointers.
 *
 * Keys are hashed with xxHash (XXH3 64-bit) and probed linearly; deletion
 * shifts the following entries back, so there are no tombstones and a map
 * that shrinks to zero is as fast as a new one. The map does not copy keys:
 * the caller keeps the key bytes alive (usually inside the value) for as
 * long as the entry is in the map.
 *
 * The struct is public so that owners can embed it (no extra allocation per
 * channel or per presence roster); treat its fields as private. Not
 * thread-safe: the event-loop thread owns every map.
 */
#ifndef DOCSYNC_HMAP_H
#define DOCSYNC_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define HMAP_ENOMEM (-1)
#define HMAP_EEXIST (-2)

struct hmap_entry {
    uint64_t hash;   /* 0 marks an empty slot (real hashes are forced non-zero) */
    const char *key; /* borrowed */
    size_t len;
    void *val;
};

struct hmap {
    struct hmap_entry *slots; /* NULL until the first put */
    size_t cap;               /* power of two, or 0 */
    size_t count;
};

/* Initialises an empty map (no allocation). */
void hmap_init(struct hmap *m);

/* Frees the slot array; the values are the caller's. */
void hmap_deinit(struct hmap *m);

/* The hash used by the map (XXH3 64, never 0). */
uint64_t hmap_hash(const void *key, size_t len);

/* The value stored under `key`, or NULL. */
void *hmap_get(const struct hmap *m, const void *key, size_t len);

/* Inserts `val` under `key` (borrowed: it must stay valid and unchanged
 * while the entry exists). Returns 0, HMAP_EEXIST when the key is present
 * (nothing changed), or HMAP_ENOMEM. */
int hmap_put(struct hmap *m, const void *key, size_t len, void *val);

/* Removes `key` and returns its value, or NULL when absent. */
void *hmap_del(struct hmap *m, const void *key, size_t len);

/* Number of entries. */
size_t hmap_count(const struct hmap *m);

/* Iteration: start with *iter = 0; each call returns the next value (and
 * its key through the optional out-parameters) or NULL at the end. The map
 * must not be modified during an iteration. */
void *hmap_next(const struct hmap *m, size_t *iter, const char **key, size_t *len);

#endif
