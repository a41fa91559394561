/* The loaded ELF objects: recorded in the journal so that the cli can
 * symbolize offline, and kept as ranges so that the agent can tell whether a
 * pointer lies in some object's writable data (where static type objects
 * live) or in its own code. Prefix: mod_. */
#ifndef LL_MODULES_H
#define LL_MODULES_H

#include <stdbool.h>
#include <stdint.h>

/* Journals every loaded object not journaled yet and refreshes the ranges.
 * Call at start and after each dlopen; thread-safe. */
void mod_scan(void);
/* A number that changes after each mod_scan: an object loaded by a dlopen
 * in progress is complete once it has changed. */
unsigned mod_generation(void);
/* True if p lies inside a writable segment of a loaded object. */
bool mod_in_data(uintptr_t p);
/* The object (its lowest address) whose writable data holds p, or 0. */
uintptr_t mod_owner(uintptr_t p);
/* The address range of the agent library itself, code and data. */
void mod_agent_range(uintptr_t *start, uintptr_t *end);
/* True if pc lies in the agent library's own code. */
bool mod_in_agent(uintptr_t pc);

#endif
