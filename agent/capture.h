/* Captures the current call stack — native frames from libunwind with the
 * Python frames interleaved where the interpreter was evaluating them — and
 * interns it: each distinct stack is journaled once, events refer to it by
 * id. Prefix: cap_. */
#ifndef LL_CAPTURE_H
#define LL_CAPTURE_H

#include <stdint.h>

/* Frames kept per stack, innermost first; deeper stacks are cut. */
#define CAP_MAX_NATIVE 64
#define CAP_MAX_PYTHON 64

/* Returns the id of the calling thread's current stack, without the agent's
 * own frames; 0 if no stack could be taken. Call inside guard_enter. */
uint32_t cap_stack(void);

#endif
