/* A test-and-test-and-set spinlock. The agent's critical sections are a few
 * hundred instructions and must not call into libc (pthread mutexes may
 * allocate on some paths and are not async-signal-safe). Prefix: spin_. */
#ifndef LL_SPIN_H
#define LL_SPIN_H

#include <stdbool.h>

static inline void spin_lock(int *l)
{
    while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(l, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
}

static inline bool spin_trylock(int *l)
{
    return !__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);
}

static inline void spin_unlock(int *l)
{
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

#endif
