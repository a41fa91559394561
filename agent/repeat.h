/* The agent's side of `lifeline leaks`: the end of each repetition is
 * journaled as a MARK, with the interpreter's own counters, so that the cli
 * can tell what grows from one repetition to the next. Prefix: rep_. */
#ifndef LL_REPEAT_H
#define LL_REPEAT_H

#include <stddef.h>
#include <stdint.h>

/* Journals a MARK: the heap as it stands between two repetitions of
 * `lifeline leaks` or `lifeline.leaks()`. A series of marks is: 0 before the
 * first repetition, 0 after each warm-up, k after measured repetition k
 * (k = 1..M), and a final 0 that closes the series (a series without it
 * stopped early). Before the MARK, every live object block not
 * typed yet gets a BLOCK_TYPE record, so that the cli can count the live
 * objects of each type at each mark. Called with the GIL held; does nothing
 * when this process is not recording. */
void rep_mark(uint32_t index);

/* The live blocks of the mem and obj domains that the agent knows now:
 * what sys.getallocatedblocks() would count without the quarantine, which
 * holds freed blocks back. One pass over the live table; 0 when this
 * thread is inside the agent. */
size_t rep_live_blocks(void);

#endif
