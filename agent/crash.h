/* Explains a crash: on a fatal signal, journals the faulting thread's native
 * and Python stacks and the fault address, then lets the signal kill the
 * process as it would have. Prefix: crash_. */
#ifndef LL_CRASH_H
#define LL_CRASH_H

#include <stdbool.h>

/* Installs handlers for SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL. */
void crash_install(void);

/* Makes the handlers step aside: lifeline itself is ending the target. */
void crash_disarm(void);

/* Runs fn(arg) with this thread's fatal signals turned into an early
 * return: for calling the program's code on memory that may not hold what
 * it should (a tp_traverse over fields never written). Returns false when
 * fn faulted; whatever fn was doing then is abandoned. Not nestable. */
bool crash_probe(void (*fn)(void *arg), void *arg);

#endif
