/* An open-addressing hash table from non-zero 64-bit keys to fixed-size
 * entries, in memory from os_map so that the agent can use it inside its
 * allocator hooks. Not thread-safe: callers lock (see "protected by" at each
 * use). Prefix: tbl_.
 *
 * Every entry starts with its uint64_t key; key 0 marks an empty slot, so 0
 * cannot be stored. Deletion shifts entries back (no tombstones), so a table
 * under constant churn never degrades. */
#ifndef LL_TABLE_H
#define LL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tbl {
    uint8_t *slots;
    size_t cap;        /* a power of two */
    size_t count;
    size_t entry_size; /* bytes per slot, key included, a multiple of 8 */
};

/* Prepares an empty table; memory comes on first insert. */
void tbl_init(struct tbl *t, size_t entry_size);
/* Returns the entry with this key, or NULL. */
void *tbl_find(const struct tbl *t, uint64_t key);
/* Returns the entry with this key, inserting a zeroed one (key set) if there
 * was none; *inserted says which. Returns NULL if the table had to grow and
 * memory ran out (the table is unchanged then). */
void *tbl_insert(struct tbl *t, uint64_t key, bool *inserted);
/* Removes the entry with this key, copying it to *out first when out is not
 * NULL. Returns false if the key was not there. */
bool tbl_remove(struct tbl *t, uint64_t key, void *out);
/* Starts loading the cache line where key's probe begins, so that a later
 * find, insert or remove of key waits less for memory. Safe without the
 * table's lock: a table growing meanwhile only makes it load a useless line
 * (a prefetch never faults). */
void tbl_prefetch(const struct tbl *t, uint64_t key);
/* Iterates: start with *pos = 0; returns each entry once, then NULL. The
 * table must not change during the walk. */
void *tbl_next(const struct tbl *t, size_t *pos);
/* Frees the table's memory; the table is empty and usable afterwards. */
void tbl_destroy(struct tbl *t);

/* A 64-bit mix good enough for addresses and for hashing stacks. */
static inline uint64_t tbl_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

#endif
