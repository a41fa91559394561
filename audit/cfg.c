#include "cfg.h"

#include <stdlib.h>
#include <string.h>

#include "finding.h"

struct label {
    char *name;
    int node;
};

struct builder {
    struct cfg *g;
    struct cxu_tu *u;
    int brk, cont;          /* current break / continue targets, -1 outside loops */
    int sw;                 /* node of the innermost switch, -1 outside */
    struct label *labels;
    int nlabels, caplabels;
    int failed;
};

/* Append a node; returns its index. The node array may move: never keep
 * pointers into it across calls. */
static int new_node(struct builder *b, enum cfg_kind kind, CXCursor cur, int s0, int s1)
{
    struct cfg *g = b->g;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->nodes = fnd_xrealloc(g->nodes, g->cap * sizeof *g->nodes);
    }
    struct cfg_node *nd = &g->nodes[g->n];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->cur = cur;
    nd->succ[0] = s0;
    nd->succ[1] = s1;
    nd->loop = -1;
    return g->n++;
}

static int build(struct builder *b, CXCursor s, int next);

/* Nodes testing C that continue at T when true and F when false; && || and !
 * are split into separate tests. */
static int build_cond(struct builder *b, CXCursor c, int t, int f)
{
    CXCursor s = cxu_strip(c);
    enum CXCursorKind k = clang_getCursorKind(s);
    if (k == CXCursor_BinaryOperator) {
        enum cxu_op op = cxu_op(b->u, s);
        if (op == OP_LAND || op == OP_LOR) {
            CXCursor l = cxu_child(s, 0), r = cxu_child(s, 1);
            int rn = build_cond(b, r, t, f);
            return op == OP_LAND ? build_cond(b, l, rn, f) : build_cond(b, l, t, rn);
        }
    } else if (k == CXCursor_UnaryOperator && cxu_op(b->u, s) == OP_NOT) {
        return build_cond(b, cxu_child(s, 0), f, t);
    }
    return new_node(b, CN_BRANCH, c, t, f);
}

/* Statements V[0..N) in order, continuing at NEXT. */
static int build_seq(struct builder *b, CXCursor *v, unsigned n, int next)
{
    for (unsigned i = n; i-- > 0;)
        next = build(b, v[i], next);
    return next;
}

/* An if statement continuing at NEXT. */
static int build_if(struct builder *b, CXCursor s, int next)
{
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    int r = next;
    if (n >= 2) {
        int t = build(b, v[1], next);
        int e = n >= 3 ? build(b, v[2], next) : next;
        r = build_cond(b, v[0], t, e);
    } else {
        b->failed = 1;
    }
    free(v);
    return r;
}

/* A no-op node marking a loop head (loop visits are counted per path). */
static int loop_head(struct builder *b)
{
    int h = new_node(b, CN_NOP, clang_getNullCursor(), -1, -1);
    b->g->nodes[h].loop = b->g->nloops++;
    return h;
}

/* Build BODY with the given break and continue targets. */
static int with_targets(struct builder *b, CXCursor body, int next, int brk, int cont)
{
    int ob = b->brk, oc = b->cont;
    b->brk = brk;
    b->cont = cont;
    int r = build(b, body, next);
    b->brk = ob;
    b->cont = oc;
    return r;
}

/* while (cond) body */
static int build_while(struct builder *b, CXCursor s, int next)
{
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    int head = loop_head(b);
    if (n < 2) {
        b->failed = 1;
        free(v);
        return next;
    }
    int body = with_targets(b, v[n - 1], head, next, head);
    int cond = build_cond(b, v[n - 2], body, next);   /* may move the node array */
    b->g->nodes[head].succ[0] = cond;
    free(v);
    return head;
}

/* do body while (cond) */
static int build_do(struct builder *b, CXCursor s, int next)
{
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    if (n < 2) {
        b->failed = 1;
        free(v);
        return next;
    }
    int head = loop_head(b);
    int cond = build_cond(b, v[1], head, next);
    int body = with_targets(b, v[0], cond, next, cond);
    b->g->nodes[head].succ[0] = body;
    free(v);
    return head;
}

/* libclang omits absent for-clauses, so place each child by where it
 * starts relative to the two semicolons of the header. */
static void split_for(struct builder *b, CXCursor s, CXCursor *v, unsigned n, CXCursor part[4])
{
    for (int i = 0; i < 4; i++)
        part[i] = clang_getNullCursor();
    if (n == 0)
        return;
    part[3] = v[n - 1];
    if (n == 4) {
        part[0] = v[0], part[1] = v[1], part[2] = v[2];
        return;
    }
    CXToken *toks;
    unsigned nt;
    clang_tokenize(b->u->tu, clang_getCursorExtent(s), &toks, &nt);
    unsigned semi[2] = {0, 0}, ns = 0, close = 0;
    int depth = 0;
    for (unsigned i = 0; i < nt; i++) {
        CXString sp = clang_getTokenSpelling(b->u->tu, toks[i]);
        const char *t = clang_getCString(sp);
        CXFile f;
        unsigned line, col, off;
        clang_getFileLocation(clang_getTokenLocation(b->u->tu, toks[i]), &f, &line, &col, &off);
        if (strcmp(t, "(") == 0)
            depth++;
        else if (strcmp(t, ")") == 0 && --depth == 0 && !close)
            close = off;
        else if (strcmp(t, ";") == 0 && depth == 1 && ns < 2)
            semi[ns++] = off;
        clang_disposeString(sp);
        if (close)
            break;
    }
    clang_disposeTokens(b->u->tu, toks, nt);
    if (ns < 2 || !close) {
        b->failed = 1;
        return;
    }
    for (unsigned i = 0; i + 1 < n; i++) {
        unsigned off = cxu_file_offset(v[i]);
        int slot = off < semi[0] ? 0 : off < semi[1] ? 1 : off < close ? 2 : -1;
        if (slot < 0)
            b->failed = 1;
        else
            part[slot] = v[i];
    }
}

/* for (init; cond; inc) body, any clause may be missing */
static int build_for(struct builder *b, CXCursor s, int next)
{
    CXCursor *v, part[4];
    unsigned n = cxu_children(s, &v);
    split_for(b, s, v, n, part);
    free(v);
    int head = loop_head(b);
    int inc = clang_Cursor_isNull(part[2]) ? head : new_node(b, CN_STMT, part[2], head, -1);
    int body = clang_Cursor_isNull(part[3]) ? inc : with_targets(b, part[3], inc, next, inc);
    int cond = clang_Cursor_isNull(part[1]) ? body : build_cond(b, part[1], body, next);
    b->g->nodes[head].succ[0] = cond;
    return clang_Cursor_isNull(part[0]) ? head : build(b, part[0], head);
}

static void add_case(struct cfg_node *nd, int entry, long long value, int is_default);

/* A switch: one successor per case label (with its value) plus default. */
static int build_switch(struct builder *b, CXCursor s, int next)
{
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    if (n < 2) {
        b->failed = 1;
        free(v);
        return next;
    }
    int sw = new_node(b, CN_SWITCH, v[n - 2], -1, -1);
    int osw = b->sw, ob = b->brk;
    b->sw = sw;
    b->brk = next;
    build(b, v[n - 1], next);
    b->sw = osw;
    b->brk = ob;
    struct cfg_node *nd = &b->g->nodes[sw];
    int has_default = 0;
    for (int i = 0; i < nd->ncases; i++)
        has_default |= nd->case_default[i];
    if (!has_default)
        add_case(nd, next, 0, 1);
    free(v);
    return sw;
}

/* Add a case successor to switch node ND. */
static void add_case(struct cfg_node *nd, int entry, long long value, int is_default)
{
    nd->cases = fnd_xrealloc(nd->cases, (nd->ncases + 1) * sizeof *nd->cases);
    nd->case_vals = fnd_xrealloc(nd->case_vals, (nd->ncases + 1) * sizeof *nd->case_vals);
    nd->case_default = fnd_xrealloc(nd->case_default, nd->ncases + 1);
    nd->cases[nd->ncases] = entry;
    nd->case_vals[nd->ncases] = value;
    nd->case_default[nd->ncases] = (unsigned char)is_default;
    nd->ncases++;
}

/* Record a case entry with its label value (a non-constant label counts as a default). */
static int build_case(struct builder *b, CXCursor s, int next, int is_default)
{
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    int entry = n ? build(b, v[n - 1], next) : next;
    long long value = 0;
    if (!is_default && n >= 2) {
        CXEvalResult r = clang_Cursor_Evaluate(v[0]);
        if (r && clang_EvalResult_getKind(r) == CXEval_Int)
            value = clang_EvalResult_getAsLongLong(r);
        else
            is_default = 1;
        if (r)
            clang_EvalResult_dispose(r);
    }
    free(v);
    if (b->sw < 0) {
        b->failed = 1;
        return entry;
    }
    add_case(&b->g->nodes[b->sw], entry, value, is_default);
    return entry;
}

/* A label: a counted node so that backward gotos terminate. */
static int build_label(struct builder *b, CXCursor s, int next)
{
    CXCursor sub = cxu_child(s, 0);
    int head = new_node(b, CN_NOP, clang_getNullCursor(), -1, -1);
    b->g->nodes[head].loop = b->g->nloops++;
    int entry = clang_Cursor_isNull(sub) ? next : build(b, sub, next);
    b->g->nodes[head].succ[0] = entry;
    if (b->nlabels == b->caplabels) {
        b->caplabels = b->caplabels ? b->caplabels * 2 : 8;
        b->labels = fnd_xrealloc(b->labels, b->caplabels * sizeof *b->labels);
    }
    b->labels[b->nlabels].name = cxu_take(clang_getCursorSpelling(s));
    b->labels[b->nlabels].node = head;
    b->nlabels++;
    return head;
}

/* A goto: resolved to its label once the whole body is built. */
static int build_goto(struct builder *b, CXCursor s)
{
    int nd = new_node(b, CN_NOP, s, -1, -1);
    CXCursor ref = cxu_child(s, 0);
    b->g->nodes[nd].label = cxu_take(clang_getCursorSpelling(ref));
    return nd;
}

/* A break/continue target; outside a loop the function cannot be modelled. */
static int jump(struct builder *b, int target)
{
    if (target < 0) {
        b->failed = 1;
        return new_node(b, CN_EXIT, clang_getNullCursor(), -1, -1);
    }
    return target;
}

/* Whether STMT declares Py_CLEAR/Py_SETREF's _py_tmp; stores its initializer. */
static int is_tmp_decl(CXCursor stmt, CXCursor *init)
{
    if (clang_getCursorKind(stmt) != CXCursor_DeclStmt)
        return 0;
    CXCursor d = cxu_child(stmt, 0);
    if (clang_getCursorKind(d) != CXCursor_VarDecl)
        return 0;
    char *name = cxu_take(clang_getCursorSpelling(d));
    int yes = strcmp(name, "_py_tmp") == 0;
    free(name);
    if (yes)
        *init = clang_Cursor_getVarDeclInitializer(d);
    return yes && !clang_Cursor_isNull(*init);
}

int cfg_refmacro(CXCursor s, CXCursor *op, CXCursor *op2, int *xdecref)
{
    CXCursor body = cxu_child(s, 0), *v, init;
    if (clang_getCursorKind(body) != CXCursor_CompoundStmt)
        return -1;
    unsigned n = cxu_children(body, &v);
    int kind = -1;
    if (n >= 2 && is_tmp_decl(v[0], &init)) {
        if (op)
            *op = cxu_strip(init);
        enum CXCursorKind k1 = clang_getCursorKind(v[1]);
        if (n == 2 && k1 == CXCursor_IfStmt) {
            kind = CFG_CLEAR;
        } else if (n == 3 && k1 == CXCursor_BinaryOperator && clang_getCursorKind(v[2]) == CXCursor_CallExpr) {
            kind = CFG_SETREF;
            if (op2)
                *op2 = cxu_strip(cxu_child(v[1], 1));
            if (xdecref) {
                char *callee = cxu_callee(v[2]);
                *xdecref = callee && strstr(callee, "XDECREF") != NULL;
                free(callee);
            }
        }
    }
    free(v);
    return kind;
}

/* Nodes for statement S continuing at NEXT; returns the entry node. */
static int build(struct builder *b, CXCursor s, int next)
{
    CXCursor *v;
    unsigned n;
    int r;
    switch (clang_getCursorKind(s)) {
    case CXCursor_CompoundStmt:
        n = cxu_children(s, &v);
        r = build_seq(b, v, n, next);
        free(v);
        return r;
    case CXCursor_IfStmt: return build_if(b, s, next);
    case CXCursor_WhileStmt: return build_while(b, s, next);
    case CXCursor_DoStmt:
        /* Py_CLEAR / Py_SETREF / Py_XSETREF: evaluated as one step by the analysis */
        if (cfg_refmacro(s, NULL, NULL, NULL) >= 0)
            return new_node(b, CN_STMT, s, next, -1);
        return build_do(b, s, next);
    case CXCursor_ForStmt: return build_for(b, s, next);
    case CXCursor_SwitchStmt: return build_switch(b, s, next);
    case CXCursor_CaseStmt: return build_case(b, s, next, 0);
    case CXCursor_DefaultStmt: return build_case(b, s, next, 1);
    case CXCursor_LabelStmt: return build_label(b, s, next);
    case CXCursor_GotoStmt: return build_goto(b, s);
    case CXCursor_BreakStmt: return jump(b, b->brk);
    case CXCursor_ContinueStmt: return jump(b, b->cont);
    case CXCursor_NullStmt: return next;
    case CXCursor_ReturnStmt:
        return new_node(b, CN_RETURN, s, -1, -1);
    case CXCursor_IndirectGotoStmt:
        b->failed = 1;
        return next;
    default:
        return new_node(b, CN_STMT, s, next, -1);
    }
}

/* Point every goto at its label; -1 when a label is missing. */
static int resolve_gotos(struct builder *b)
{
    for (int i = 0; i < b->g->n; i++) {
        struct cfg_node *nd = &b->g->nodes[i];
        if (!nd->label)
            continue;
        int found = -1;
        for (int j = 0; j < b->nlabels && found < 0; j++)
            if (strcmp(b->labels[j].name, nd->label) == 0)
                found = b->labels[j].node;
        if (found < 0)
            return -1;
        nd->succ[0] = found;
    }
    return 0;
}

int cfg_build(struct cfg *g, struct cxu_tu *u, CXCursor body)
{
    memset(g, 0, sizeof *g);
    struct builder b = {.g = g, .u = u, .brk = -1, .cont = -1, .sw = -1};
    int exit_node = new_node(&b, CN_EXIT, clang_getNullCursor(), -1, -1);
    g->entry = build(&b, body, exit_node);
    int rc = b.failed ? -1 : resolve_gotos(&b);
    for (int i = 0; i < b.nlabels; i++)
        free(b.labels[i].name);
    free(b.labels);
    return rc;
}

void cfg_free(struct cfg *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->nodes[i].cases);
        free(g->nodes[i].case_vals);
        free(g->nodes[i].case_default);
        free(g->nodes[i].label);
    }
    free(g->nodes);
    memset(g, 0, sizeof *g);
}
