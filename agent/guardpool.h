/* The guarded pool: a sample of small blocks, each placed alone on its own
 * page between inaccessible guard pages (the electric-fence / GWP-ASan
 * scheme). A read or write past such a block's end hits a guard page, and
 * any touch of it after its free hits its own page, protected again at the
 * free: the error is caught at the faulting access itself, with that
 * access's stack. Prefix: gp_.
 *
 * Each live block costs two memory mappings (vm.max_map_count), so the pool
 * is sized from what the system allows and says so when it runs out. */
#ifndef LL_GUARDPOOL_H
#define LL_GUARDPOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sets the pool up with `start` slots, and reserves room for it to double
 * whenever live blocks hold all of it but its quarantine, up to `max` slots
 * (both fewer if vm.max_map_count would not allow them, which is said).
 * False if nothing was reserved: then gp_alloc always returns NULL. */
bool gp_init(size_t start, size_t max);

/* True if gp_alloc can find a slot now or by growing the pool; a hint read
 * without the pool's lock, for callers that would rather not try. False
 * without a pool, and for a second after a slot could not be opened
 * (vm.max_map_count). */
bool gp_has_room(void);

/* The slots the pool has now. */
size_t gp_size(void);

/* Places a block of `size` bytes (at most a page) in a free slot, growing
 * the pool if it must, or returns NULL when there is none or the size does
 * not fit. The block is
 * 16-byte aligned; `zero` clears it, otherwise it holds the new-memory
 * pattern. */
void *gp_alloc(size_t size, bool zero, uint8_t api);

/* The pool's address range; set once by gp_init. */
extern uintptr_t gp_lo, gp_hi;

/* True if p lies in the pool's address range. */
static inline bool gp_contains(const void *p)
{
    return (uintptr_t)p - gp_lo < gp_hi - gp_lo;
}

/* Frees a pool block: checks the bytes around it within its page (an
 * overflow smaller than the alignment slack is only seen here) and makes
 * the page inaccessible until the slot is reused. Returns the offset of the
 * first damaged byte relative to the block (negative before it), or
 * INT64_MIN when intact. */
int64_t gp_free(void *p, size_t size);

/* Checks the bytes around a live pool block without freeing it; same
 * result as gp_free. */
int64_t gp_damaged(const void *p, size_t size);

/* A fault inside the pool: fills in what it means. Returns false if the
 * address is not the pool's. */
struct gp_fault {
    void *block;      /* the block the access belongs to */
    uint8_t api;      /* its allocating api */
    uint64_t size;
    int64_t offset;   /* of the access from the block's start */
    bool freed;       /* the block had been freed: a use after free */
};
bool gp_explain(uintptr_t addr, struct gp_fault *out);

/* Lets the access that faulted go on (keep_going): opens the page it hit
 * for good, and retires its slot. */
void gp_open(uintptr_t addr);

#endif
