/* Detection: turns what the journal says into findings. Each detector adds
 * findings of its kinds to the report; the writers in report_*.c print
 * them. Prefix: dt_. */
#ifndef LL_DETECT_H
#define LL_DETECT_H

#include "finding.h"
#include "jreader.h"
#include "replay.h"
#include "resolve.h"

/* Names the finding's thread from the journal's THREAD records. */
void dt_thread(struct fd_finding *f, struct jr_journal *j, struct arena *a, uint32_t tid);

/* Fills a report block from a replayed block, with its stacks resolved. */
void dt_block(struct rs_ctx *rs, const struct rp_block *b, bool freed, uint64_t access, struct fd_block *out);

/* Adds a `crash` finding if the target died of a fatal signal that the agent
 * saw: the faulting stack and the heap block the fault address falls in. */
void dt_crash(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs);

/* Adds a finding for each heap error the agent journaled (use after free,
 * double and invalid free, overflow, underflow, allocator mismatch). */
void dt_heap(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs);

/* Adds a `leak` finding for each group of blocks the agent's exit scan
 * found unreachable (same allocation stack, type and reachability). */
void dt_leaks(struct fd_report *rep, const struct rp_state *s, struct rs_ctx *rs);

/* Adds the finding for a GC or reference-count invariant the agent found
 * broken (gc-untraversed-reference, gc-dangling-reference, refcount-too-low,
 * gc-tracked-uninitialized found at a collection). */
void dt_gc_error(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e);

/* Adds to a finding about block b its most recent borrow and steal at the
 * C-API boundary, if the replay saw any: stacks `borrow` and `steal`,
 * details `borrowed_by` and `stolen_by` (the C-API function). free is the
 * block's free stack as the finding shows it (NULL when the block is live):
 * when the extension function that got the reference also released it,
 * the clause says so. Returns a clause for the finding's summary ("; the
 * extension borrowed it from PyList_GetItem() at widgets.c:130 and released
 * it at widgets.c:139"), "" when there was no such event. */
const char *dt_ownership(struct rs_ctx *rs, const struct rp_block *b, const struct fd_stack *free,
                         struct fd_finding *f);

/* Adds a `leak` finding for each allocation site and type whose live count grew on every measured
 * repetition of a series (MARK records, from `lifeline leaks` or `lifeline.leaks()`), and the
 * series' counters to the report. */
void dt_repeat(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs);

/* Lists the objects --watch chose (WATCH records) in the report, each with
 * its block, history and balance, and notes how many got no hardware
 * watchpoint and why. specs[i] is the text of SPEC i (nspecs of them; 0
 * when unknown). */
void dt_watched(struct fd_report *rep, const struct rp_state *s, struct rs_ctx *rs, const char *const *specs,
                int nspecs);
/* Appends stack `id` to the finding's stacks under `name` (nothing when
 * the finding has no room left). */
void dt_add_stack(struct rs_ctx *rs, struct fd_finding *f, uint32_t id, const char *name);

/* The name of type id `id` from the journal, in the arena; NULL for 0 or
 * an id the journal does not define. */
const char *dt_type_name(struct arena *a, struct jr_journal *j, uint32_t id);

/* The conventional name of a signal ("SIGSEGV"), or "signal N". */
const char *dt_signal_name(struct arena *a, int signo);

#endif
