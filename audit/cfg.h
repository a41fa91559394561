/* cfg: control-flow graph of one function body built from libclang cursors.
 * Conditions with && || ! are split into single tests so that the path
 * analysis can refine each operand. */
#ifndef LIFELINE_AUDIT_CFG_H
#define LIFELINE_AUDIT_CFG_H

#include <clang-c/Index.h>

#include "cxu.h"

enum cfg_kind {
    CN_STMT,    /* evaluate cur, go to succ[0] */
    CN_BRANCH,  /* evaluate cur as a condition: succ[0] when true, succ[1] when false */
    CN_SWITCH,  /* evaluate cur, go to any of cases[] */
    CN_RETURN,  /* cur is the ReturnStmt */
    CN_EXIT,    /* falling off the end of the function */
    CN_NOP      /* go to succ[0] */
};

struct cfg_node {
    enum cfg_kind kind;
    CXCursor cur;
    int succ[2];
    int *cases;
    long long *case_vals;   /* value of each case label */
    unsigned char *case_default; /* 1: default label or the implicit "no case matched" exit */
    int ncases;
    int loop;       /* index of the loop/label this node heads, or -1 */
    char *label;    /* pending goto target, resolved by cfg_build */
};

struct cfg {
    struct cfg_node *nodes;
    int n, cap;
    int entry;
    int nloops;
};

/* Build the graph of BODY (a CompoundStmt). Returns 0, or -1 when the body
 * uses something the graph cannot express (then the function is skipped). */
int cfg_build(struct cfg *g, struct cxu_tu *u, CXCursor body);
void cfg_free(struct cfg *g);

enum { CFG_CLEAR, CFG_SETREF };
/* Recognise the expansion of Py_CLEAR(op) (returns CFG_CLEAR) or
 * Py_SETREF/Py_XSETREF(op, op2) (CFG_SETREF, *xdecref set for the X form)
 * by the _py_tmp temporary they declare; -1 for any other do-while. The
 * operand cursors are stored through the non-NULL pointers. */
int cfg_refmacro(CXCursor s, CXCursor *op, CXCursor *op2, int *xdecref);

#endif
