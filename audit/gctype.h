/* gctype: type-level checks of garbage-collector support (tp_traverse,
 * tp_clear, tp_dealloc) for the types a translation unit defines. */
#ifndef LIFELINE_AUDIT_GCTYPE_H
#define LIFELINE_AUDIT_GCTYPE_H

#include "cxu.h"
#include "finding.h"

/* Check every PyTypeObject / PyType_Slot / PyType_Spec defined in the main
 * file of U; findings are appended to OUT with FILE as their file name. */
void gct_check(struct cxu_tu *u, const char *file, struct fnd_list *out);

#endif
