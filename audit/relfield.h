/* relfield: the struct fields a file releases somewhere. A field the file
 * never releases (Py_DECREF, Py_XDECREF, Py_CLEAR, Py_SETREF of p->field)
 * does not own the reference it holds: storing a borrowed reference there
 * is deliberate (an iterator's current item, a back pointer). */
#ifndef LIFELINE_AUDIT_RELFIELD_H
#define LIFELINE_AUDIT_RELFIELD_H

#include "cxu.h"

struct rlf_set {
    char **v;
    int n, cap;
};

/* Fill OUT with the names of the fields released in the function bodies of
 * U's main file. Never fails (out of memory aborts). */
void rlf_collect(struct cxu_tu *u, struct rlf_set *out);
/* Whether FIELD is among them. */
int rlf_has(const struct rlf_set *s, const char *field);
void rlf_free(struct rlf_set *s);

#endif
