/* Whole-heap passes (the leak scan, the typing of live objects at a
 * repetition mark) read blocks other threads could free meanwhile. With the
 * GIL, the caller holding it is enough; a free-threaded interpreter runs its
 * threads in parallel, and only a stop-the-world holds them. Prefix: world_. */
#ifndef LL_WORLD_H
#define LL_WORLD_H

#include <stdbool.h>

/* Prepares world_stopped for this interpreter (free_threaded: the layout's
 * flag). Called once at start, before any hook. */
void world_init(bool free_threaded);

/* Runs fn(arg) with every other thread that runs Python stopped. The caller
 * is a thread running Python (attached to the interpreter), outside the
 * agent's guard. Threads that never run Python are never stopped. */
void world_stopped(void (*fn)(void *arg), void *arg);

#endif
