/* Balance of a reference-count history: pairs each recorded decrement with
 * an increment and names the ones left without a partner ("+1 at
 * zoo_refs.c:103 (remember) has no matching -1"). Pure: works on the
 * resolved events of a history. Prefix: bl_.
 *
 * The rules, in time order:
 *   - the allocation is a +1 (the new reference), at the first frame of its
 *     stack outside the allocating module (the extension's or Python's line
 *     that made the object);
 *   - an incref is a +1 at its site; a steal moves one reference into the
 *     container: the -1 of the stealer (paired as a decref), then a +1 at
 *     the steal's site that the container's eventual release pairs with;
 *   - a decref pairs with the most recent open +1 made in the same function
 *     (a function that takes and drops its own reference); failing that, if
 *     that function borrowed the object (a borrow event) and owns no +1, the
 *     -1 is unpaired: it releases a borrowed reference; failing that, it
 *     pairs with the oldest open +1 (a reference handed up and released by
 *     the caller); with no open +1 at all it is unpaired;
 *   - at the end, the open +1s of a leaked (live) object are unpaired; those
 *     of a freed object mean decrements were not recorded.
 * The history is complete when every recorded count follows from the one
 * before (1 after the allocation, one more after an incref, one less after
 * a decref) and either a freed object's last count is 0 or a hardware
 * watchpoint recorded the changes of every code (changes made after the
 * last recorded one could be missing otherwise: a live object's history
 * without one is never complete); when it is not, the pairing is a guess. */
#ifndef LL_BALANCE_H
#define LL_BALANCE_H

#include <stdbool.h>

#include "arena.h"
#include "finding.h"

/* The site label of event e ("zoo_refs.c:103 (remember)", a function, or
 * a pc), in the arena; NULL when its stack is empty. */
const char *bl_site(struct arena *a, const struct fd_event *e);

/* Pairs the n events of a history (as hs_attach builds them: alloc first,
 * free last when freed) into *out, in the arena. live: the object is
 * leaked or alive at the end; hardware: a hardware watchpoint recorded its
 * changes. */
void bl_balance(struct arena *a, const struct fd_event *ev, int n, bool live, bool hardware,
                struct fd_balance *out);

#endif
