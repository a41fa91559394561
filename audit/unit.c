#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "cxu.h"
#include "flow.h"
#include "gctype.h"

struct names {
    char **v;
    int n, cap;
};

/* Add NAME once. */
static void names_add(struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = fnd_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = fnd_xstrdup(name);
}

/* Whether NAME is in S. */
static int names_has(const struct names *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return 1;
    return 0;
}

/* Visitor collecting names of functions referenced in an initializer. */
static enum CXChildVisitResult collect_refs(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    if (clang_getCursorKind(c) == CXCursor_DeclRefExpr
        && clang_getCursorKind(clang_getCursorReferenced(c)) == CXCursor_FunctionDecl) {
        char *n = cxu_take(clang_getCursorSpelling(c));
        names_add(data, n);
        free(n);
    }
    return CXChildVisit_Recurse;
}

/* tp_iternext functions may return NULL without an exception (exhaustion). */
static enum CXChildVisitResult collect_iternext(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    void **ctx = data;
    struct cxu_tu *u = ctx[0];
    struct names *iternext = ctx[1];
    CXCursor *v;
    unsigned n = cxu_children(c, &v);
    int slot = 0;
    if (n == 2 && clang_getCursorKind(c) == CXCursor_InitListExpr) {
        const char *m = cxu_macro_at(u, v[0]);
        slot = m && (strstr(m, "iternext") || strstr(m, "am_anext"));
    } else if (n == 2 && clang_getCursorKind(v[0]) == CXCursor_MemberRef) {
        char *f = cxu_take(clang_getCursorSpelling(v[0]));
        slot = strstr(f, "iternext") != NULL || strstr(f, "am_anext") != NULL;
        free(f);
    }
    if (slot) {
        CXCursor r = cxu_strip(v[1]);
        if (clang_getCursorKind(r) == CXCursor_DeclRefExpr) {
            char *name = cxu_take(clang_getCursorSpelling(r));
            names_add(iternext, name);
            free(name);
        }
    }
    free(v);
    return CXChildVisit_Recurse;
}

/* Functions Python calls directly: those placed in static tables (method
 * tables, type slots, getsets). Their NULL returns must carry an exception. */
static enum CXChildVisitResult collect_entries(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    if (clang_getCursorKind(c) == CXCursor_VarDecl) {
        CXCursor init = clang_Cursor_getVarDeclInitializer(c);
        if (!clang_Cursor_isNull(init))
            clang_visitChildren(init, collect_refs, data);
    }
    return CXChildVisit_Continue;
}

/* Whether S ends with SUFFIX. */
static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

struct walk {
    struct cxu_tu *u;
    const char *display;
    struct names *entries;
    struct names *iternext;
    struct fnd_list *out;
    const struct rlf_set *released;
    unsigned functions;
};

/* Visitor analysing each function defined in the main file. */
static enum CXChildVisitResult visit_function(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct walk *w = data;
    if (clang_getCursorKind(c) != CXCursor_FunctionDecl || !clang_isCursorDefinition(c)
        || !clang_Location_isFromMainFile(clang_getCursorLocation(c)))
        return CXChildVisit_Continue;
    char *name = cxu_take(clang_getCursorSpelling(c));
    struct flw_func fn = {
        .u = w->u, .fn = c, .file = w->display, .released = w->released,
        .entry_point = (names_has(w->entries, name) || ends_with(name, "_impl")
                        || strncmp(name, "PyInit_", 7) == 0)
                       && !names_has(w->iternext, name) && !ends_with(name, "next"),
    };
    free(name);
    if (flw_analyse(&fn, w->out) == 0)
        w->functions++;
    return CXChildVisit_Continue;
}

/* First error diagnostic of TU as text, or NULL when it parsed cleanly. */
static char *first_error(CXTranslationUnit tu)
{
    unsigned n = clang_getNumDiagnostics(tu);
    for (unsigned i = 0; i < n; i++) {
        CXDiagnostic d = clang_getDiagnostic(tu, i);
        enum CXDiagnosticSeverity sev = clang_getDiagnosticSeverity(d);
        char *msg = NULL;
        if (sev >= CXDiagnostic_Error)
            msg = cxu_take(clang_formatDiagnostic(d, CXDiagnostic_DisplaySourceLocation | CXDiagnostic_DisplayColumn));
        clang_disposeDiagnostic(d);
        if (msg)
            return msg;
    }
    return NULL;
}

void unit_check(CXIndex idx, const char *file, const char *display, const char *const *args,
                int nargs, struct fnd_list *out, struct unit_result *res)
{
    memset(res, 0, sizeof *res);
    CXTranslationUnit tu = NULL;
    enum CXErrorCode ec = clang_parseTranslationUnit2(
        idx, file, args, nargs, NULL, 0,
        CXTranslationUnit_DetailedPreprocessingRecord | CXTranslationUnit_KeepGoing, &tu);
    if (ec != CXError_Success || !tu) {
        res->error = fnd_xasprintf("libclang could not parse it (error %d)", (int)ec);
        return;
    }
    res->error = first_error(tu);
    if (res->error) {
        clang_disposeTranslationUnit(tu);
        return;
    }
    struct cxu_tu u;
    cxu_init(&u, tu, file);
    struct names entries = {0}, iternext = {0};
    CXCursor root = clang_getTranslationUnitCursor(tu);
    clang_visitChildren(root, collect_entries, &entries);
    void *ctx[2] = {&u, &iternext};
    clang_visitChildren(root, collect_iternext, ctx);
    struct rlf_set released;
    rlf_collect(&u, &released);
    struct walk w = {&u, display, &entries, &iternext, out, &released, 0};
    clang_visitChildren(root, visit_function, &w);
    rlf_free(&released);
    gct_check(&u, display, out);
    res->functions = w.functions;
    for (int i = 0; i < entries.n; i++)
        free(entries.v[i]);
    free(entries.v);
    for (int i = 0; i < iternext.n; i++)
        free(iternext.v[i]);
    free(iternext.v);
    cxu_fini(&u);
    clang_disposeTranslationUnit(tu);
}
