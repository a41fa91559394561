/* The agent's Python-level presence: once the interpreter is up, a pending
 * call (run by the main thread between two bytecodes, holding the GIL)
 * creates the `_lifeline` module, makes the pure-Python `lifeline` module
 * importable, and registers what must run inside the interpreter: the leak
 * scan at exit (an atexit callback) and the GC checks (a gc callback).
 * Prefix: boot_. */
#ifndef LL_BOOT_H
#define LL_BOOT_H

#include <stdbool.h>

/* Set once the pending call has been queued (or can never be). */
extern volatile bool boot_queued;

void boot_poll_slow(void);

/* Called from the object-domain hooks, outside the guard: queues the pending
 * call once the interpreter reports itself initialized. */
static inline void boot_poll(void)
{
    if (__builtin_expect(!boot_queued, 0))
        boot_poll_slow();
}

/* Prepares booting; false when this interpreter lacks the C API it needs
 * (boot_poll then does nothing). gc_checks: register the GC checks;
 * leak_scan: the leak scan at exit. */
bool boot_init(bool gc_checks, bool leak_scan);

#endif
