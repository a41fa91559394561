/* `lifeline run --watch SPEC`: chooses the objects whose reference-count
 * changes are recorded (docs/design.md, "Reference-count histories").
 *
 * An object's type is only known once its allocation has returned and the
 * interpreter has filled its header. So an object-domain allocation is only
 * noted (per thread, the last one), and decided on at the thread's next
 * visit to the agent — its next allocation, free, or routed reference-count
 * change — when the header is set: its type (tp_name), its allocation stack
 * (whose site match was worked out when that stack was first interned) and
 * its address are compared with each SPEC in order, the matches counted for
 * nth= and limit=, and a chosen object gets a WATCH record, an entry in the
 * watched table and, when one is free, a hardware watchpoint. Objects that
 * come back from the interpreter's free lists are never allocated, so never
 * chosen. Prefix: wt_. */
#ifndef LL_WATCH_H
#define LL_WATCH_H

#include <stdbool.h>
#include <stdint.h>

/* protected by: set once by wt_init at start. True when --watch was given. */
extern bool wt_on;

/* Reads the SPECs from LIFELINE_WATCH (separated by ';', as the cli wrote
 * them) and prepares the selection and the hardware watchpoints. A SPEC
 * the agent cannot parse is skipped with a message (the cli checked them).
 * Returns wt_on. Call at start, after the boundary and before the hooks. */
bool wt_init(void);

/* After a block was recorded; stack is its allocation stack. Inside the guard. */
void wt_after_alloc(uint8_t api, uintptr_t block, uint64_t size, uint32_t stack);

/* Before a block is freed or moved by realloc: stops watching its object.
 * Inside the guard. */
void wt_before_free(uintptr_t block);

/* What lifeline_ref_event should do with a change of the object at o: */
enum wt_verdict {
    WT_SKIP,     /* not watched */
    WT_RECORD,   /* watched without a hardware watchpoint: record it (*block set) */
    WT_HARDWARE, /* a hardware watchpoint records it already */
};
/* increment: the change is an increment (already made), not a decrement
 * (still to come). Inside the guard. */
enum wt_verdict wt_ref_verdict(uintptr_t o, bool increment, uintptr_t *block);

/* Journals what the report should say at the end (traps that could not be
 * recorded, threads left unwatched). Inside the guard, at exit. */
void wt_finish(void);

#endif
