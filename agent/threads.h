/* The end of a thread. The agent maps some memory for one thread alone
 * (stack memos, learned frame sizes, a type memo); it is given back when
 * the thread ends, so that a program that starts thousands of threads
 * neither leaks it nor runs into vm.max_map_count. Prefix: thr_. */
#ifndef LL_THREADS_H
#define LL_THREADS_H

#include <stdbool.h>
#include <stddef.h>

/* Creates the thread-end hook. Call once, before any hook is installed.
 * False when pthread refused a key: per-thread memory is then kept until
 * the process ends, as if the threads never ended. */
bool thr_init(void);

/* Asks for the thread-end hook in the calling thread; call after mapping
 * per-thread memory. Cheap after the first call in a thread. Does nothing
 * in the agent's signal handlers (cap_in_signal): memory a thread maps
 * only there is kept until the process ends. */
void thr_arm(void);

/* Gives back one piece of a thread's memory: clears the thread's pointer
 * *slot first, so that a signal arriving in between maps afresh rather
 * than touching what is gone, then unmaps size bytes. Does nothing when
 * *slot is NULL. */
void thr_unmap(void **slot, size_t size);

#endif
