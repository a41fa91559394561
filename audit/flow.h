/* flow: path-sensitive ownership analysis of one function.
 *
 * Every path through the function's control-flow graph is walked with an
 * abstract state: which abstract object each local variable holds, how many
 * references the function owes on each object, whether a pointer may be
 * NULL, and whether a Python exception is known to be set. Paths are
 * bounded (loops run at most twice, identical states are merged), and
 * anything the model does not understand makes the objects involved
 * untracked, so uncertainty gives silence rather than a report. */
#ifndef LIFELINE_AUDIT_FLOW_H
#define LIFELINE_AUDIT_FLOW_H

#include <clang-c/Index.h>

#include "cxu.h"
#include "finding.h"
#include "relfield.h"

struct flw_func {
    struct cxu_tu *u;
    CXCursor fn;            /* the FunctionDecl (a definition) */
    const char *file;       /* file name as given by the user */
    int entry_point;        /* called by Python: method table, slot, *_impl */
    const struct rlf_set *released; /* fields the file releases; NULL: every field owns */
};

/* Analyse FN and append its findings to OUT. Returns 0 when analysed, -1
 * when the function was skipped (unsupported construct or budget exceeded
 * before any path completed). Never prints. */
int flw_analyse(const struct flw_func *fn, struct fnd_list *out);

#endif
