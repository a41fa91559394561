/* Explains a crash: on a fatal signal, journals the faulting thread's native
 * and Python stacks and the fault address, then lets the signal kill the
 * process as it would have. Prefix: crash_. */
#ifndef LL_CRASH_H
#define LL_CRASH_H

/* Installs handlers for SIGSEGV, SIGBUS, SIGABRT, SIGFPE and SIGILL. */
void crash_install(void);

/* Makes the handlers step aside: lifeline itself is ending the target. */
void crash_disarm(void);

#endif
