/* A test-and-test-and-set spinlock. The agent's critical sections are a few
 * hundred instructions and must not call into libc (pthread mutexes may
 * allocate on some paths and are not async-signal-safe). Prefix: spin_.
 *
 * A held lock holds the epoch of the process image its holder runs in, not
 * just 1. A child of fork() has only the forking thread, so a lock another
 * thread held at the fork would never be released there: the child's
 * handler (spin_after_fork_in_child) starts a new epoch, and a lock still
 * marked with an older one is free to take. What it guarded may have been
 * left half changed: the child stops recording, and stops using the
 * quarantine and the guarded pool (docs/design.md, "Which process is
 * traced"); a half-changed table is better than a child that spins
 * forever on its first free. */
#ifndef LL_SPIN_H
#define LL_SPIN_H

#include <stdbool.h>

/* protected by: written only by spin_after_fork_in_child, while the child
 * has one thread; read relaxed. Starts at 1: 0 is a free lock. */
extern int spin_epoch;

static inline void spin_lock(int *l)
{
    int mine = __atomic_load_n(&spin_epoch, __ATOMIC_RELAXED);
    for (;;) {
        int seen = __atomic_load_n(l, __ATOMIC_RELAXED);
        if (seen != mine) {
            if (__atomic_compare_exchange_n(l, &seen, mine, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
        } else {
            __builtin_ia32_pause();
        }
    }
}

static inline bool spin_trylock(int *l)
{
    int mine = __atomic_load_n(&spin_epoch, __ATOMIC_RELAXED);
    int seen = __atomic_load_n(l, __ATOMIC_RELAXED);
    return seen != mine && __atomic_compare_exchange_n(l, &seen, mine, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static inline void spin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* Called first in the agent's fork handler in the child: every lock held
 * at the fork (by threads the child does not have) becomes free. */
void spin_after_fork_in_child(void);

#endif
