/* The GC and reference-count invariants, checked inside the target where
 * the objects are (KFENCE's split: this detects, the cli's detect_gc.c
 * reports). Prefix: gck_.
 *
 * At the start of every collection, over the generations being collected:
 *  - gc-tracked-uninitialized: tp_traverse visits a field that still holds
 *    the new-memory pattern (never written since allocation);
 *  - gc-dangling-reference: tp_traverse visits a block that has been freed;
 *  - gc-untraversed-reference: a word of an extension's GC object points to
 *    a live GC object that its tp_traverse does not visit.
 * At full collections, at exit and on demand, the same over every tracked
 * object, and refcount-too-low: an object that live blocks reference more
 * often than its reference count says (a stored borrowed reference).
 *
 * Every entry point is called with the GIL held (on a free-threaded build:
 * by a thread attached to the interpreter, which runs the checks with the
 * world stopped) and outside the agent's guard; it enters the guard itself.
 * A free-threaded build has one generation: each collection checks every
 * tracked object, and only gc-untraversed-reference and refcount-too-low
 * (no object fill patterns there). */
#ifndef LL_GCCHECK_H
#define LL_GCCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Prepares the checks; needs pf_layout and capi. False when this
 * interpreter lacks what they need (they then do nothing). */
bool gck_init(void);

/* A collection of `generation` is about to start. */
void gck_collection(int generation);

/* The whole-heap checks (every tracked object, and reference counts).
 * Returns the number of problems found. */
size_t gck_whole_heap(void);

#endif
