/* Turns journaled stacks into report frames: native pcs symbolized offline
 * (inlined functions expanded), Python frames named from their code
 * records. Prefix: rs_. */
#ifndef LL_RESOLVE_H
#define LL_RESOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/journal.h"
#include "finding.h"
#include "jreader.h"

struct sym_table;

struct rs_ctx {
    struct jr_journal *journal;
    struct sym_table *sym;
    struct arena *arena;
};

/* Registers the journal's modules with a new symbolizer. False if the
 * symbolizer cannot be created. */
bool rs_init(struct rs_ctx *c, struct jr_journal *j, struct arena *a);
void rs_close(struct rs_ctx *c);

/* Resolves stack `id` into out (named `name`). An unknown id gives an empty
 * stack and false. */
bool rs_stack(struct rs_ctx *c, uint32_t id, const char *name, struct fd_stack *out);

/* Resolves the faulting thread's stack of a CRASH record. */
bool rs_crash_stack(struct rs_ctx *c, const struct jn_record *crash, struct fd_stack *out);

#endif
