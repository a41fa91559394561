/* The agent's side of `lifeline leaks`: the end of each repetition is
 * journaled as a MARK, with the interpreter's own counters, so that the cli
 * can tell what grows from one repetition to the next. Prefix: rep_. */
#ifndef LL_REPEAT_H
#define LL_REPEAT_H

#include <stdint.h>

/* Journals a MARK: the heap as it stands between two repetitions of
 * `lifeline leaks` or `lifeline.leaks()`. Index 0 is the state before the
 * next measured repetition (a series starts, or a warm-up ended); index k > 0
 * ends measured repetition k. Before the MARK, every live object block not
 * typed yet gets a BLOCK_TYPE record, so that the cli can count the live
 * objects of each type at each mark. Called with the GIL held; does nothing
 * when this process is not recording. */
void rep_mark(uint32_t index);

#endif
