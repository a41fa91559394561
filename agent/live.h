/* The agent's table of live blocks it has recorded: address -> size and
 * allocation interface, kept in a shadow of the address space (see
 * live.c). It lets a free be matched to its allocation (frees
 * of blocks the agent never saw pass through unrecorded) and lets type
 * detection confirm that a pointer is the start of a live object.
 * Thread-safe. Prefix: live_. */
#ifndef LL_LIVE_H
#define LL_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct live_info {
    uint64_t size;
    uint8_t api;
    bool guarded; /* surrounded by redzones (see heap.c) */
    bool typed;   /* its Python type was journaled, or it holds no object (see repeat.c) */
};

/* Records a block, not typed yet. Returns false if the table could not grow (the block is
 * then treated as unknown). */
bool live_add(uintptr_t addr, uint64_t size, uint8_t api, bool guarded);
/* Like live_add, for one of few blocks spread one to a page (the guarded
 * pool's): kept where the memory it takes does not grow with the address
 * range such blocks span. */
bool live_add_sparse(uintptr_t addr, uint64_t size, uint8_t api);
/* Forgets a block, returning what was known; false if it was not known. */
bool live_remove(uintptr_t addr, struct live_info *out);
/* Starts loading addr's word in the shadow (or its hash-table slot, for an
 * address the shadow cannot hold), so that a live_add or live_remove of it a
 * little later does not wait for memory: in a table of every live block it
 * is a cache miss of its own. Nothing for a range whose chunk could not be
 * reserved. No lock. */
void live_prefetch(uintptr_t addr);
/* Looks a block up without changing the table. */
bool live_find(uintptr_t addr, struct live_info *out);
/* Calls fn for each live block: first those of the shadow, chunk by chunk
 * (each in address order), then those of the table, stripe by stripe with
 * that stripe locked: fn must not call back into this module. Blocks added
 * or removed by other threads meanwhile may be seen or not. */
void live_each(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg);

/* Marks a live block as typed, so that live_each_untyped skips it until
 * the address is handed out again. Does nothing for an unknown block. */
void live_set_typed(uintptr_t addr);
/* Like live_each, for the blocks not marked typed only. */
void live_each_untyped(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg);

/* Number of blocks known; approximate while other threads change it. As
 * costly as live_each: a walk, not a counter (a shared counter would cost
 * every allocation an atomic add). */
size_t live_count(void);

#endif
