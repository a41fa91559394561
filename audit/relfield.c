#include "relfield.h"

#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "finding.h"

/* Add NAME once. */
static void rlf_add(struct rlf_set *s, const char *name)
{
    if (rlf_has(s, name))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = fnd_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = fnd_xstrdup(name);
}

int rlf_has(const struct rlf_set *s, const char *field)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], field) == 0)
            return 1;
    return 0;
}

void rlf_free(struct rlf_set *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Record the field OP names, when it is a member access. */
static void rlf_add_operand(struct rlf_set *s, CXCursor op)
{
    op = cxu_strip(op);
    if (clang_getCursorKind(op) != CXCursor_MemberRefExpr)
        return;
    char *f = cxu_take(clang_getCursorSpelling(op));
    rlf_add(s, f);
    free(f);
}

/* Whether NAME is a release of one reference: the refcount primitives
 * (the headers' inline functions and the exported ones). */
static int rlf_is_release(const char *name)
{
    static const char *const rel[] = {"Py_DECREF", "_Py_DECREF", "Py_XDECREF", "_Py_XDECREF",
                                      "Py_DecRef", NULL};
    for (const char *const *r = rel; *r; r++)
        if (strcmp(name, *r) == 0)
            return 1;
    return 0;
}

/* Visitor of rlf_collect: releases by call, and Py_CLEAR/Py_SETREF expansions. */
static enum CXChildVisitResult rlf_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct rlf_set *s = data;
    enum CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_CallExpr) {
        char *name = cxu_callee(c);
        int n = clang_Cursor_getNumArguments(c);
        if (name && n > 0 && rlf_is_release(name))
            rlf_add_operand(s, clang_Cursor_getArgument(c, n - 1));
        free(name);
    } else if (k == CXCursor_DoStmt) {
        CXCursor op, op2;
        int x;
        if (cfg_refmacro(c, &op, &op2, &x) >= 0)
            rlf_add_operand(s, op);
    }
    return CXChildVisit_Recurse;
}

/* Visitor over the top level: the function definitions of the main file. */
static enum CXChildVisitResult rlf_visit_top(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    if (clang_getCursorKind(c) == CXCursor_FunctionDecl && clang_isCursorDefinition(c)
        && clang_Location_isFromMainFile(clang_getCursorLocation(c)))
        clang_visitChildren(c, rlf_visit, data);
    return CXChildVisit_Continue;
}

void rlf_collect(struct cxu_tu *u, struct rlf_set *out)
{
    memset(out, 0, sizeof *out);
    clang_visitChildren(clang_getTranslationUnitCursor(u->tu), rlf_visit_top, out);
}
