/* A snapshot of the live blocks, sorted by address, that answers "which
 * block holds this address" in a few nanoseconds: the index the leak scan
 * and the GC checks look every candidate pointer up in. Taken from the live
 * table at one moment; blocks allocated or freed afterwards are not in it.
 * Its memory comes from os_map, never from the hooked allocators.
 * Prefix: hs_. */
#ifndef LL_HEAPSNAP_H
#define LL_HEAPSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hs_block {
    uint64_t addr, size;
    uint8_t api;
    uint8_t layout;   /* HS_LAYOUT_*: what the block holds, found on demand */
    uint8_t gc_off;   /* offset of the PyGC_Head in the block, for GC objects */
    uint8_t obj_off;  /* offset of the object in the block, for objects */
    uint32_t type;    /* type id of the object, 0 when not an object */
};

/* HS_LAYOUT_DEAD: an object whose reference count is zero, kept on one of
 * the interpreter's free lists; its fields are stale. */
enum { HS_LAYOUT_UNKNOWN, HS_LAYOUT_PLAIN, HS_LAYOUT_OBJECT, HS_LAYOUT_GC_OBJECT, HS_LAYOUT_DEAD };

struct hs_page;

struct hs_snapshot {
    struct hs_block *blocks; /* sorted by addr; blocks never overlap */
    size_t n;
    uint64_t lo, hi;         /* every block lies in [lo, hi) */
    struct hs_page *pages;   /* page number -> the small blocks overlapping it */
    size_t npages_cap;
    uint32_t *big;           /* indices of the blocks too big for the page hash, in address order */
    size_t nbig;
    size_t blocks_bytes, pages_bytes, big_bytes;
};

/* Takes a snapshot of the live table. Returns false when memory for it
 * could not be mapped (nothing to release then). Blocks of size 0 are left
 * out: nothing can point into them. */
bool hs_take(struct hs_snapshot *s);
void hs_release(struct hs_snapshot *s);

/* The index of the block whose [addr, addr+size) holds p, or -1. */
static inline bool hs_maybe(const struct hs_snapshot *s, uint64_t p)
{
    return p - s->lo < s->hi - s->lo;
}
long hs_find_slow(const struct hs_snapshot *s, uint64_t p);
static inline long hs_find(const struct hs_snapshot *s, uint64_t p)
{
    return hs_maybe(s, p) ? hs_find_slow(s, p) : -1;
}

/* True if w points into the PyGC_Head of block b (whose layout is known):
 * only the collector's lists point there, never an owner. */
static inline bool hs_in_gc_head(const struct hs_block *b, uint64_t w)
{
    return b->layout == HS_LAYOUT_GC_OBJECT && w - (b->addr + b->gc_off) < 16;
}

/* Fills the layout fields of block i (the object and GC header offsets,
 * the type) on first use; needs the block to be live and readable. */
void hs_layout(struct hs_snapshot *s, size_t i);

#endif
