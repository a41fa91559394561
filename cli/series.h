/* The repetitions of `lifeline leaks` and `lifeline.leaks()` as the journal shows them: the live
 * heap at each MARK, grouped by allocation site and type, and the groups whose live count grew on
 * every measured repetition of a series (regrtest's rule: every delta >= 1).
 *
 * The replay calls sr_mark_begin, sr_mark_block for each live block, and sr_mark_end at each MARK
 * record; detect_repeat.c turns the result into findings. A group is keyed on the allocation stack
 * as its frames read -- native pcs, and Python frames by file, function and line -- rather than on
 * the stack's id, because each run of a script compiles new code objects, which the agent gives new
 * ids; and on the type's name rather than its id, because a class a script defines is a new type
 * each run. Memory: one entry per group seen live at a mark, and the per-run deltas of the groups
 * still growing. Prefix: sr_. */
#ifndef LL_SERIES_H
#define LL_SERIES_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/journal.h"
#include "../core/table.h"
#include "jreader.h"

/* A list of per-run numbers. */
struct sr_deltas {
    int64_t *v;
    uint32_t n, cap;
};

/* One series: a baseline (after the warm-ups) and the measured repetitions after it. */
struct sr_series {
    uint32_t warmups, runs;
    bool complete;              /* closed by its final zero mark: the target did not stop inside it */
    bool refs_known;            /* a debug build: MARK records carry sys.gettotalrefcount() */
    struct sr_deltas refs;      /* sys.gettotalrefcount() deltas, when refs_known */
    struct sr_deltas blocks;    /* sys.getallocatedblocks() deltas, as the MARK records carry them */
    struct sr_deltas live;      /* deltas of the live mem- and obj-domain blocks the journal shows */
};

/* A group that grew on every measured repetition of its series. The block fields describe the last
 * block counted in it at the series' last mark: an example of what grew. */
struct sr_growth {
    uint32_t series;
    uint32_t stack, type, tid;
    uint64_t addr, size;
    uint8_t api;
    int64_t count, bytes;       /* growth from the baseline to the last mark */
    struct sr_deltas per_run;   /* the count's delta over each measured repetition */
};

struct sr_state {
    struct jr_journal *journal;
    struct tbl stacks;          /* stack id + 1 -> canonical hash */
    struct tbl types;           /* type id + 1 -> hash of the name */
    struct tbl groups;          /* canonical key -> group */
    bool in_series;             /* a zero mark was seen, and no measured mark after a later zero mark */
    int64_t prev_refs, prev_blocks, live_now, prev_live;
    struct sr_series *series;
    uint32_t nseries, series_cap;
    struct sr_growth *growth;
    uint32_t ngrowth, growth_cap;
    bool out_of_memory;         /* something could not be counted: the results are incomplete */
};

/* Prepares an empty state reading stacks and types from j. */
void sr_init(struct sr_state *s, struct jr_journal *j);
/* A MARK record begins: every group's count goes back to zero. */
void sr_mark_begin(struct sr_state *s);
/* Counts one live block at the mark being taken. */
void sr_mark_block(struct sr_state *s, uint32_t stack, uint32_t type, uint64_t addr, uint64_t size, uint32_t tid,
                   uint8_t api);
/* Ends the mark. The marks of a series (agent/repeat.h): a zero mark starts it, one more after each
 * warm-up, k > 0 after measured repetition k, and a zero mark closes it. A measured mark outside a
 * series is ignored. */
void sr_mark_end(struct sr_state *s, const struct jn_record *mark);
/* The journal ended: a series still under way ends, incomplete. */
void sr_finish(struct sr_state *s);
void sr_free(struct sr_state *s);

#endif
