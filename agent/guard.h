/* Reentrancy guard for the agent's hooks. While a thread is inside the
 * agent, every allocation it causes (libunwind, the dynamic loader, the
 * interpreter's own nested allocators) passes straight through unrecorded,
 * so the agent never records itself and never recurses. Prefix: guard_. */
#ifndef LL_GUARD_H
#define LL_GUARD_H

#include <stdbool.h>

#define AGENT_TLS __thread __attribute__((tls_model("initial-exec")))

extern AGENT_TLS int guard_depth;

/* Enters the agent; false if this thread is already inside it. */
static inline bool guard_enter(void)
{
    if (guard_depth)
        return false;
    guard_depth = 1;
    return true;
}

static inline void guard_leave(void)
{
    guard_depth = 0;
}

#endif
