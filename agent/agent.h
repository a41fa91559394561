/* The agent's start-up and the one piece of state the hooks consult on every
 * call. Prefix: agent_. */
#ifndef LL_AGENT_H
#define LL_AGENT_H

#include <stdbool.h>

/* True while Python allocator hooks wait for the interpreter to finish
 * configuring its own allocators (PYTHONMALLOC, -X dev). */
extern volatile bool agent_pending;

void agent_poll_slow(void);

/* Called by the libc hooks: installs deferred Python hooks once possible. */
static inline void agent_poll(void)
{
    if (__builtin_expect(agent_pending, 0))
        agent_poll_slow();
}

void hl_init(void);
/* Routes the libc family through the heap layer in this process. */
void hl_activate(void);

#endif
