/* Histories of objects: a block's allocation, the ownership events the
 * replay kept for it (increfs and decrefs from extensions built with
 * `lifeline cflags`, borrows, steals, tracks, untracks at the C-API
 * boundary) and its free, as report events; and `lifeline history`, which
 * prints one block's timeline from a kept journal. Prefix: hs_. */
#ifndef LL_HISTORY_H
#define LL_HISTORY_H

#include <stdbool.h>

#include "finding.h"
#include "replay.h"
#include "resolve.h"

/* Gives finding f the history of block b (freed or live, as rp_find
 * returned it) from h: nothing when h holds no event, since then the
 * object was not watched and the alloc and free stacks say it all. */
void hs_attach(struct rs_ctx *rs, const struct rp_block *b, bool freed, const struct rp_history *h,
               struct fd_finding *f);

/* A clause for a use-after-free or double-free summary naming the decref
 * that released the object ("; the last reference was dropped by Py_DECREF
 * in drop_twice() at zoo_refs.c:40"), "" when the history has none. */
const char *hs_release_clause(struct arena *a, const struct fd_finding *f);

/* A clause for a summary naming the first unpaired change of the
 * finding's balance ("; +1 at zoo_refs.c:103 (remember) has no matching
 * -1"), "" when every change is paired or there is no history. */
const char *hs_balance_clause(struct arena *a, const struct fd_finding *f);

/* `lifeline history JOURNAL ADDR`: prints the timeline of the block
 * holding ADDR (live at the journal's end, or among the recently freed).
 * Returns 0, 1 when no such block is known, 2 when the journal cannot be
 * read or ADDR is not a number. */
int hs_command(const char *journal, const char *addr);

#endif
