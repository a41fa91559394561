/* The leak scan: which live blocks can no longer be reached from anything
 * the program can still use. A conservative mark phase in the spirit of
 * LeakSanitizer, made Python-aware. Roots are all of the process's private
 * writable memory that is not itself a recorded block (thread stacks and
 * registers, loaded objects' data, the interpreter's state, memory the agent
 * did not record such as the interpreter's frame stacks), minus the agent's
 * own memory. A pointer anywhere into a block reaches it, except a pointer
 * into a GC object's PyGC_Head: only the collector's lists point there, and
 * they link every tracked object whether anything owns it or not.
 * Unreached blocks are journaled as LEAK records, marked direct when no
 * other leaked block points to them (one block per unowned cycle is taken as
 * its root). Prefix: reach_. */
#ifndef LL_REACH_H
#define LL_REACH_H

#include <stddef.h>

/* Runs the scan and journals what leaked. The caller holds the GIL, or on
 * a free-threaded build runs Python: the scan stops the world (world.h).
 * Either way other Python threads are stopped; threads that never run
 * Python are not, and a block they free during the scan may be read after
 * its free. Returns the
 * number of leaked blocks, or 0 when the scan could not run (no memory for
 * its tables, or not recording). */
size_t reach_scan(void);

#endif
