/* Hardware watchpoints on reference counts (perf_event_open breakpoints,
 * PERF_TYPE_BREAKPOINT / HW_BREAKPOINT_W, 8 bytes): every write to a watched
 * object's ob_refcnt, by any code in any thread (the interpreter's own
 * Py_INCREF included), traps into a SIGTRAP handler that journals an INCREF
 * or DECREF OWNER record with the new count and the stack of the write.
 *
 * A thread has four debug registers, and a watched object must be watched in
 * every thread: so at most HW_SLOTS objects at once. Each slot opens one
 * event per count word (one; two on a free-threaded build, whose count is
 * split in ob_ref_local and ob_ref_shared: then two objects fill a thread's
 * registers) and per thread existing when it is armed (pid = the thread's id), with
 * inherit and inherit_thread, so that threads those threads create later get
 * it too; closing the events (at the object's free) frees the slot in every
 * thread. Needs Linux 5.13 (sigtrap, remove_on_exec, inherit_thread) on
 * x86-64. Prefix: hw_. */
#ifndef LL_HWWATCH_H
#define LL_HWWATCH_H

#include <stdbool.h>
#include <stdint.h>

#define HW_SLOTS 4

/* Probes perf_event_open with a breakpoint on a variable of the agent and
 * installs the SIGTRAP handler. Returns false, after a note in the journal
 * naming the reason (the errno, and what it usually means:
 * perf_event_paranoid, seccomp, no breakpoint support), which the report
 * prints once, when hardware watchpoints cannot be used; then hw_arm
 * always fails. */
bool hw_init(void);

/* Watches the reference count of the object at obj (in block) in every
 * thread. Call inside the guard. Returns the slot, or -1 when every slot
 * is taken (or this thread's debug registers are: a debugger's) or
 * hardware watchpoints are not available. */
int hw_arm(uintptr_t obj, uintptr_t block);

/* Stops watching slot (from hw_arm) in every thread; before the object's
 * memory is freed or rewritten. Call inside the guard. */
void hw_disarm(int slot);

/* Traps that came while their thread was inside the agent (not recorded). */
uint64_t hw_missed(void);

/* Threads an arming could not cover (beyond 256, or whose registers were
 * full): their changes of that object are not recorded. */
uint64_t hw_uncovered(void);

#endif
