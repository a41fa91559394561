#include "table.h"

#include <string.h>

#include "os.h"

#define MIN_CAP 1024

void tbl_init(struct tbl *t, size_t entry_size)
{
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
    t->entry_size = entry_size;
}

static inline uint64_t *slot(const struct tbl *t, size_t i)
{
    return (uint64_t *)(t->slots + i * t->entry_size);
}

/* Where key's probe starts in a table of cap slots. */
static inline size_t home_in(uint64_t key, size_t cap)
{
    return (size_t)tbl_mix(key) & (cap - 1);
}

static inline size_t home(const struct tbl *t, uint64_t key)
{
    return home_in(key, t->cap);
}

void *tbl_find(const struct tbl *t, uint64_t key)
{
    if (!t->cap || !key)
        return NULL;
    for (size_t i = home(t, key);; i = (i + 1) & (t->cap - 1)) {
        uint64_t *s = slot(t, i);
        if (*s == key)
            return s;
        if (*s == 0)
            return NULL;
    }
}

void tbl_prefetch(const struct tbl *t, uint64_t key)
{
    size_t cap = __atomic_load_n(&t->cap, __ATOMIC_RELAXED);
    const uint8_t *slots = __atomic_load_n(&t->slots, __ATOMIC_RELAXED);
    if (cap)
        os_prefetch(slots + home_in(key, cap) * t->entry_size);
}

/* Places an entry known to be absent into a table with room for it. */
static void place(struct tbl *t, const uint64_t *entry)
{
    size_t i = home(t, *entry);
    while (*slot(t, i))
        i = (i + 1) & (t->cap - 1);
    memcpy(slot(t, i), entry, t->entry_size);
}

/* Doubles the table (or creates it). Returns false if memory ran out. */
static bool grow(struct tbl *t)
{
    size_t ncap = t->cap ? t->cap * 2 : MIN_CAP;
    uint8_t *nslots = os_map(ncap * t->entry_size);
    if (!nslots)
        return false;
    struct tbl old = *t;
    t->slots = nslots;
    t->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        uint64_t *s = slot(&old, i);
        if (*s)
            place(t, s);
    }
    os_unmap(old.slots, old.cap * old.entry_size);
    return true;
}

void *tbl_insert(struct tbl *t, uint64_t key, bool *inserted)
{
    if (!key)
        return NULL;
    void *e = tbl_find(t, key);
    if (e) {
        *inserted = false;
        return e;
    }
    /* Keep the load under 1/2: linear probing stays short there. */
    if ((t->count + 1) * 2 > t->cap && !grow(t))
        return NULL;
    size_t i = home(t, key);
    while (*slot(t, i))
        i = (i + 1) & (t->cap - 1);
    uint64_t *s = slot(t, i);
    memset(s, 0, t->entry_size);
    *s = key;
    t->count++;
    *inserted = true;
    return s;
}

bool tbl_remove(struct tbl *t, uint64_t key, void *out)
{
    uint64_t *s = tbl_find(t, key);
    if (!s)
        return false;
    if (out)
        memcpy(out, s, t->entry_size);
    size_t mask = t->cap - 1;
    size_t hole = (size_t)((uint8_t *)s - t->slots) / t->entry_size;
    /* Backward shift: pull later entries of the probe run into the hole
     * when their home position allows it. */
    for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
        uint64_t *n = slot(t, i);
        if (!*n)
            break;
        size_t h = home(t, *n);
        bool movable = (i > hole) ? (h <= hole || h > i) : (h <= hole && h > i);
        if (movable) {
            memcpy(slot(t, hole), n, t->entry_size);
            hole = i;
        }
    }
    *slot(t, hole) = 0;
    t->count--;
    return true;
}

void *tbl_next(const struct tbl *t, size_t *pos)
{
    while (*pos < t->cap) {
        uint64_t *s = slot(t, (*pos)++);
        if (*s)
            return s;
    }
    return NULL;
}

void tbl_destroy(struct tbl *t)
{
    os_unmap(t->slots, t->cap * t->entry_size);
    tbl_init(t, t->entry_size);
}
