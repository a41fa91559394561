/* The agent's side of `lifeline leaks`: the end of each repetition is
 * journaled as a MARK, with the interpreter's own counters, so that the cli
 * can tell what grows from one repetition to the next. Prefix: rep_. */
#ifndef LL_REPEAT_H
#define LL_REPEAT_H

#include <stdint.h>

/* Journals the end of repetition `index`. Called with the GIL held. */
void rep_mark(uint32_t index);

#endif
