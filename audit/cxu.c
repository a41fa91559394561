#include "cxu.h"

#include <stdlib.h>
#include <string.h>

#include "finding.h"

struct cxu_opslot {
    CXCursor c;
    unsigned hash;
    int used;
    enum cxu_op op;
};

char *cxu_take(CXString s)
{
    const char *p = clang_getCString(s);
    char *d = fnd_xstrdup(p ? p : "");
    clang_disposeString(s);
    return d;
}

struct kids {
    CXCursor *v;
    unsigned n, cap;
};

/* Visitor appending each child cursor. */
static enum CXChildVisitResult collect_kid(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct kids *k = data;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 8;
        k->v = fnd_xrealloc(k->v, k->cap * sizeof *k->v);
    }
    k->v[k->n++] = c;
    return CXChildVisit_Continue;
}

unsigned cxu_children(CXCursor c, CXCursor **out)
{
    struct kids k = {0};
    clang_visitChildren(c, collect_kid, &k);
    *out = k.v;
    return k.n;
}

CXCursor cxu_child(CXCursor c, unsigned n)
{
    CXCursor *v, r = clang_getNullCursor();
    unsigned cnt = cxu_children(c, &v);
    if (n < cnt)
        r = v[n];
    free(v);
    return r;
}

CXCursor cxu_strip(CXCursor c)
{
    for (;;) {
        enum CXCursorKind k = clang_getCursorKind(c);
        if (k != CXCursor_UnexposedExpr && k != CXCursor_ParenExpr && k != CXCursor_CStyleCastExpr)
            return c;
        CXCursor *v;
        unsigned n = cxu_children(c, &v);
        CXCursor next = clang_getNullCursor();
        for (unsigned i = n; i-- > 0;) {
            if (clang_isExpression(clang_getCursorKind(v[i]))) {
                next = v[i];
                break;
            }
        }
        /* an UnexposedExpr with several operands is a real expression (e.g. a GNU extension) */
        int keep = clang_Cursor_isNull(next) || (k == CXCursor_UnexposedExpr && n > 1);
        free(v);
        if (keep)
            return c;
        c = next;
    }
}

void cxu_line_col(CXCursor c, unsigned *line, unsigned *col)
{
    CXFile f;
    unsigned off;
    clang_getExpansionLocation(clang_getCursorLocation(c), &f, line, col, &off);
}

unsigned cxu_line(CXCursor c)
{
    unsigned line, col;
    cxu_line_col(c, &line, &col);
    return line;
}

unsigned cxu_file_offset(CXCursor c)
{
    CXFile f;
    unsigned line, col, off;
    clang_getFileLocation(clang_getCursorLocation(c), &f, &line, &col, &off);
    return off;
}

/* Whether L is spelled somewhere else than where it is expanded. */
static int loc_in_macro(CXSourceLocation l)
{
    CXFile f1, f2;
    unsigned l1, c1, o1, l2, c2, o2;
    clang_getExpansionLocation(l, &f1, &l1, &c1, &o1);
    clang_getSpellingLocation(l, &f2, &l2, &c2, &o2);
    return o1 != o2 || !clang_File_isEqual(f1, f2);
}

int cxu_in_macro(CXCursor c)
{
    return loc_in_macro(clang_getCursorLocation(c));
}

/* Order macro expansions by file offset. */
static int cmp_macro(const void *a, const void *b)
{
    const struct cxu_macro *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

struct macro_acc {
    struct cxu_tu *u;
    unsigned cap;
};

/* Visitor recording the macro expansions written in the main file. */
static enum CXChildVisitResult collect_macro(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct macro_acc *acc = data;
    struct cxu_tu *u = acc->u;
    if (clang_getCursorKind(c) != CXCursor_MacroExpansion)
        return CXChildVisit_Continue;
    CXFile f;
    unsigned line, col, off;
    clang_getSpellingLocation(clang_getCursorLocation(c), &f, &line, &col, &off);
    if (!clang_File_isEqual(f, u->main_file))
        return CXChildVisit_Continue;
    if (u->nmacros == acc->cap) {
        acc->cap = acc->cap ? acc->cap * 2 : 256;
        u->macros = fnd_xrealloc(u->macros, acc->cap * sizeof *u->macros);
    }
    u->macros[u->nmacros].offset = off;
    u->macros[u->nmacros].cursor = c;
    u->macros[u->nmacros].ops = 0;
    u->macros[u->nmacros].ops_known = 0;
    u->macros[u->nmacros].name = cxu_take(clang_getCursorSpelling(c));
    u->nmacros++;
    return CXChildVisit_Continue;
}

void cxu_init(struct cxu_tu *u, CXTranslationUnit tu, const char *main_name)
{
    memset(u, 0, sizeof *u);
    u->tu = tu;
    u->main_name = fnd_xstrdup(main_name);
    u->main_file = clang_getFile(tu, main_name);
    struct macro_acc acc = {u, 0};
    clang_visitChildren(clang_getTranslationUnitCursor(tu), collect_macro, &acc);
    if (u->nmacros)
        qsort(u->macros, u->nmacros, sizeof *u->macros, cmp_macro);
}

void cxu_fini(struct cxu_tu *u)
{
    for (unsigned i = 0; i < u->nmacros; i++)
        free((char *)u->macros[i].name);
    free(u->macros);
    free(u->ops);
    free(u->main_name);
    memset(u, 0, sizeof *u);
}

CXCursor cxu_macro_cursor_at(const struct cxu_tu *u, CXCursor c)
{
    if (!u->nmacros)
        return clang_getNullCursor();
    struct cxu_macro key = {cxu_file_offset(c), NULL, clang_getNullCursor(), 0, 0};
    struct cxu_macro *m = bsearch(&key, u->macros, u->nmacros, sizeof *u->macros, cmp_macro);
    return m ? m->cursor : clang_getNullCursor();
}

const char *cxu_macro_at(const struct cxu_tu *u, CXCursor c)
{
    if (!u->nmacros)
        return NULL;
    struct cxu_macro key = {cxu_file_offset(c), NULL, clang_getNullCursor(), 0, 0};
    struct cxu_macro *m = bsearch(&key, u->macros, u->nmacros, sizeof *u->macros, cmp_macro);
    return m ? m->name : NULL;
}

/* Operator spelled at the start of T. */
static enum cxu_op op_from_text(const char *t)
{
    static const struct { const char *s; enum cxu_op op; } tab[] = {
        {"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"&&", OP_LAND},
        {"||", OP_LOR}, {"++", OP_INC}, {"--", OP_DEC}, {"<<", OP_OTHER}, {">>", OP_OTHER},
        {"=", OP_ASSIGN}, {"<", OP_LT}, {">", OP_GT}, {",", OP_COMMA}, {"&", OP_ADDR},
        {"*", OP_DEREF}, {"!", OP_NOT}, {"-", OP_NEG},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        size_t n = strlen(tab[i].s);
        if (strncmp(t, tab[i].s, n) == 0)
            return tab[i].op;
    }
    return OP_OTHER;
}

/* File offset of L as written (macro arguments map to their text). */
static unsigned file_off(CXSourceLocation l, CXFile *f)
{
    unsigned line, col, off;
    clang_getFileLocation(l, f, &line, &col, &off);
    return off;
}

/* Tokens of the main file between offsets A (inclusive) and B (exclusive):
 * the operator is the last (binary) or first (unary) of them. */
static enum cxu_op op_between(struct cxu_tu *u, CXFile f, unsigned a, unsigned b, int last)
{
    CXSourceRange r = clang_getRange(clang_getLocationForOffset(u->tu, f, a),
                                     clang_getLocationForOffset(u->tu, f, b));
    CXToken *toks;
    unsigned n;
    clang_tokenize(u->tu, r, &toks, &n);
    enum cxu_op op = OP_OTHER;
    int found = 0;
    for (unsigned i = 0; i < n; i++) {
        CXFile tf;
        unsigned off = file_off(clang_getTokenLocation(u->tu, toks[i]), &tf);
        if (off >= b)
            break;
        if (clang_getTokenKind(toks[i]) != CXToken_Punctuation) {
            if (!last && !found)
                break;
            continue;
        }
        char *t = cxu_take(clang_getTokenSpelling(u->tu, toks[i]));
        if (last || !found) {
            op = op_from_text(t);
            found = 1;
        }
        free(t);
        if (!last)
            break;
    }
    clang_disposeTokens(u->tu, toks, n);
    return op;
}

/* Binary operator tokens written in the body of the macro expanded at C. */
static unsigned macro_ops(struct cxu_tu *u, CXCursor c)
{
    CXFile f;
    unsigned line, col, off;
    /* the expansion location is the start of the outermost macro call */
    clang_getExpansionLocation(clang_getCursorLocation(c), &f, &line, &col, &off);
    struct cxu_macro key = {off, NULL, clang_getNullCursor(), 0, 0};
    struct cxu_macro *m = bsearch(&key, u->macros, u->nmacros, sizeof *u->macros, cmp_macro);
    if (!m)
        return 0;
    if (m->ops_known)
        return m->ops;
    m->ops_known = 1;
    CXCursor def = clang_getCursorReferenced(m->cursor);
    if (clang_Cursor_isNull(def))
        return 0;
    CXToken *toks;
    unsigned n;
    clang_tokenize(u->tu, clang_getCursorExtent(def), &toks, &n);
    for (unsigned i = 1; i < n; i++) {
        if (clang_getTokenKind(toks[i]) != CXToken_Punctuation)
            continue;
        char *t = cxu_take(clang_getTokenSpelling(u->tu, toks[i]));
        enum cxu_op op = op_from_text(t);
        static const char *const arith[] = {"+", "/", "%", "|", "^", "<<", ">>", "+=", "-=", "|=",
                                            "&=", "*=", "/=", "?", NULL};
        for (const char *const *a = arith; *a; a++)
            if (strcmp(t, *a) == 0)
                op = OP_OTHER, m->ops |= 1u << 31;
        if (op != OP_OTHER)
            m->ops |= 1u << op;
        free(t);
    }
    clang_disposeTokens(u->tu, toks, n);
    return m->ops;
}

/* Where expression C begins: libclang reports a member access at the
 * member name, so walk down to its base. */
static CXSourceLocation begin_loc(CXCursor c)
{
    CXFile f1, f2;
    unsigned l1, c1, o1, o2;
    CXSourceLocation here = clang_getCursorLocation(c);
    clang_getExpansionLocation(here, &f1, &l1, &c1, &o1);
    o2 = file_off(here, &f2);
    if (o1 == o2 && clang_File_isEqual(f1, f2))   /* plain file text: the extent is exact */
        return clang_getRangeStart(clang_getCursorExtent(c));
    for (;;) {
        enum CXCursorKind k = clang_getCursorKind(c);
        if (k != CXCursor_MemberRefExpr && k != CXCursor_UnexposedExpr && k != CXCursor_ArraySubscriptExpr
            && k != CXCursor_CallExpr)
            break;
        CXCursor base = cxu_child(c, 0);
        if (clang_Cursor_isNull(base))
            break;
        c = base;
    }
    return clang_getCursorLocation(c);
}

/* Whether A and B are the same type after typedefs. */
static int same_type(CXType a, CXType b)
{
    return clang_equalTypes(clang_getCanonicalType(a), clang_getCanonicalType(b));
}

/* Inside a macro body the file text shows only the macro call: infer the
 * operator from the macro definition when a single candidate fits the types. */
static enum cxu_op op_in_macro(struct cxu_tu *u, CXCursor c, CXCursor lhs, CXCursor rhs)
{
    unsigned mask = macro_ops(u, c);
    if (!mask)
        return OP_OTHER;
    static const enum cxu_op cmp[] = {OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LAND, OP_LOR};
    int ncmp = 0;
    enum cxu_op only = OP_OTHER;
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
        if (mask & (1u << cmp[i]))
            ncmp++, only = cmp[i];
    int has_assign = (mask & (1u << OP_ASSIGN)) != 0, arith = (mask & (1u << 31)) != 0;
    CXType rt = clang_getCanonicalType(clang_getCursorType(c));
    CXType lt = clang_getCanonicalType(clang_getCursorType(lhs));
    if (rt.kind == CXType_Pointer) {
        /* only an assignment (or pointer arithmetic) yields the pointer */
        return has_assign && !arith && same_type(rt, lt) ? OP_ASSIGN : OP_OTHER;
    }
    CXType rht = clang_getCanonicalType(clang_getCursorType(rhs));
    if ((lt.kind == CXType_Pointer) != (rht.kind == CXType_Pointer)) {
        /* pointer with integer: only && or || accept such operands */
        int land = (mask & (1u << OP_LAND)) != 0, lor = (mask & (1u << OP_LOR)) != 0;
        return land && !lor ? OP_LAND : lor && !land ? OP_LOR : OP_OTHER;
    }
    if (lt.kind == CXType_Pointer)   /* int result from pointer operands: a comparison */
        return ncmp == 1 ? only : OP_OTHER;
    if (has_assign && ncmp == 0 && !arith && same_type(rt, lt))
        return OP_ASSIGN;
    if (!has_assign && ncmp == 1)
        return only;
    return OP_OTHER;
}

/* Whether T is a bracket that opens (+1) or closes (-1) a nesting level, else 0. */
static int bracket_depth(const char *t)
{
    if (strcmp(t, "(") == 0 || strcmp(t, "[") == 0)
        return 1;
    if (strcmp(t, ")") == 0 || strcmp(t, "]") == 0)
        return -1;
    return 0;
}

/* The binary operator after an operand whose text starts at TOKS[0]: the
 * first punctuation outside brackets other than member access. Only a
 * comparison or a logical operator is returned; anything else (a prefix or
 * arithmetic operator, a closing bracket or comma of a macro call) gives
 * OP_OTHER, as does running out of tokens. */
static enum cxu_op op_after_operand(struct cxu_tu *u, CXToken *toks, unsigned n)
{
    int depth = 0;
    for (unsigned i = 0; i < n; i++) {
        if (clang_getTokenKind(toks[i]) != CXToken_Punctuation)
            continue;
        char *t = cxu_take(clang_getTokenSpelling(u->tu, toks[i]));
        int d = bracket_depth(t);
        int skip = d || depth || strcmp(t, "->") == 0 || strcmp(t, ".") == 0;
        enum cxu_op op = skip ? OP_OTHER : op_from_text(t);
        free(t);
        depth += d;
        if (depth < 0)
            return OP_OTHER;
        if (!skip)
            return op >= OP_EQ && op <= OP_LOR ? op : OP_OTHER;
    }
    return OP_OTHER;
}

/* Where L is spelled (for a macro body: in the #define text), as a file and
 * offset. libclang 14's clang_getSpellingLocation answers the expansion
 * instead, but its tokenizer lexes from the spelling, so the first token of
 * the empty range at L carries it. Returns 0 when L has no spelling in a file. */
static int spelled_at(struct cxu_tu *u, CXSourceLocation l, CXFile *f, unsigned *off)
{
    CXToken *toks;
    unsigned n, line, col;
    clang_tokenize(u->tu, clang_getRange(l, l), &toks, &n);
    *f = NULL;
    if (n)
        clang_getFileLocation(clang_getTokenLocation(u->tu, toks[0]), f, &line, &col, off);
    clang_disposeTokens(u->tu, toks, n);
    return *f != NULL;
}

/* Whether C, under implicit conversions, is itself a binary or conditional
 * expression: then the text after its first token is not its end. */
static int compound_operand(CXCursor c)
{
    while (clang_getCursorKind(c) == CXCursor_UnexposedExpr && !clang_Cursor_isNull(cxu_child(c, 0)))
        c = cxu_child(c, 0);
    enum CXCursorKind k = clang_getCursorKind(c);
    return k == CXCursor_BinaryOperator || k == CXCursor_CompoundAssignOperator
           || k == CXCursor_ConditionalOperator;
}

/* Inside a macro body the operator of a comparison with left operand LHS
 * is read from the #define text that follows LHS's spelling, so that the
 * == and != tests of one macro are told apart. OP_OTHER when LHS is a
 * compound expression, is spelled nowhere readable, or the text there does
 * not continue with a comparison or logical operator. */
static enum cxu_op op_spelled(struct cxu_tu *u, CXCursor lhs)
{
    CXFile f;
    unsigned off;
    size_t size = 0;
    if (compound_operand(lhs) || !spelled_at(u, clang_getRangeStart(clang_getCursorExtent(lhs)), &f, &off)
        || !clang_getFileContents(u->tu, f, &size) || off >= size)
        return OP_OTHER;
    unsigned end = size - off > 400 ? off + 400 : (unsigned)size;
    CXSourceRange r = clang_getRange(clang_getLocationForOffset(u->tu, f, off),
                                     clang_getLocationForOffset(u->tu, f, end));
    CXToken *toks;
    unsigned n;
    clang_tokenize(u->tu, r, &toks, &n);
    enum cxu_op op = op_after_operand(u, toks, n);
    clang_disposeTokens(u->tu, toks, n);
    return op;
}

/* The operator of a Binary/UnaryOperator, uncached. */
static enum cxu_op op_compute(struct cxu_tu *u, CXCursor c)
{
    int binary = clang_getCursorKind(c) == CXCursor_BinaryOperator;
    CXCursor first = cxu_child(c, 0);
    if (clang_Cursor_isNull(first))
        return OP_OTHER;
    CXFile f1, f2;
    if (binary) {
        CXCursor rhs = cxu_child(c, 1);
        if (clang_Cursor_isNull(rhs))
            return OP_OTHER;
        unsigned a = file_off(begin_loc(first), &f1);
        unsigned b = file_off(begin_loc(rhs), &f2);
        if (clang_File_isEqual(f1, f2) && a < b)
            return op_between(u, f1, a, b, 1);
        enum cxu_op op = op_spelled(u, first);
        return op != OP_OTHER ? op : op_in_macro(u, c, first, rhs);
    }
    unsigned a = file_off(clang_getCursorLocation(c), &f1);
    unsigned b = file_off(clang_getCursorLocation(first), &f2);
    if (clang_File_isEqual(f1, f2) && a < b)
        return op_between(u, f1, a, b, 0);
    if (cxu_in_macro(c)) {
        /* inside a macro body the types tell the prefix operators apart */
        CXType rt = clang_getCanonicalType(clang_getCursorType(c));
        CXType ot = clang_getCanonicalType(clang_getCursorType(first));
        if (rt.kind == CXType_Pointer && same_type(clang_getPointeeType(rt), ot))
            return OP_ADDR;
        if (ot.kind == CXType_Pointer && same_type(clang_getPointeeType(ot), rt))
            return OP_DEREF;
        if (ot.kind == CXType_Pointer && rt.kind == CXType_Int)
            return OP_NOT;
        unsigned mask = macro_ops(u, c);
        if (rt.kind == CXType_Int && (mask & (1u << OP_NOT)) && !(mask & ((1u << OP_NEG) | (1u << OP_INC) | (1u << OP_DEC))))
            return OP_NOT;
        return OP_OTHER;
    }
    {
        /* postfix: the operator follows the operand */
        CXSourceRange ext = clang_getCursorExtent(first);
        unsigned e = file_off(clang_getRangeEnd(ext), &f2);
        unsigned ce = file_off(clang_getRangeEnd(clang_getCursorExtent(c)), &f1);
        if (clang_File_isEqual(f1, f2) && e < ce)
            return op_between(u, f1, e, ce, 0);
    }
    return OP_OTHER;
}

enum cxu_op cxu_op(struct cxu_tu *u, CXCursor c)
{
    if (u->ops_len * 2 >= u->ops_cap) {
        unsigned ncap = u->ops_cap ? u->ops_cap * 2 : 1024;
        struct cxu_opslot *n = calloc(ncap, sizeof *n);
        if (!n)
            return op_compute(u, c);
        for (unsigned i = 0; i < u->ops_cap; i++) {
            if (!u->ops[i].used)
                continue;
            unsigned j = u->ops[i].hash & (ncap - 1);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = u->ops[i];
        }
        free(u->ops);
        u->ops = n;
        u->ops_cap = ncap;
    }
    unsigned h = clang_hashCursor(c);
    unsigned j = h & (u->ops_cap - 1);
    while (u->ops[j].used) {
        if (u->ops[j].hash == h && clang_equalCursors(u->ops[j].c, c))
            return u->ops[j].op;
        j = (j + 1) & (u->ops_cap - 1);
    }
    enum cxu_op op = op_compute(u, c);
    u->ops[j].used = 1;
    u->ops[j].c = c;
    u->ops[j].hash = h;
    u->ops[j].op = op;
    u->ops_len++;
    return op;
}

char *cxu_text(const struct cxu_tu *u, CXCursor c, unsigned max)
{
    CXToken *toks;
    unsigned n;
    clang_tokenize(u->tu, clang_getCursorExtent(c), &toks, &n);
    if (n) {
        /* a cursor from a macro body tokenizes as the #define text: not what the user wrote here */
        CXFile f1, f2;
        unsigned l1, c1, o1, l2, c2, o2;
        clang_getExpansionLocation(clang_getCursorLocation(c), &f1, &l1, &c1, &o1);
        clang_getFileLocation(clang_getTokenLocation(u->tu, toks[0]), &f2, &l2, &c2, &o2);
        if (!clang_File_isEqual(f1, f2) || l1 != l2) {
            clang_disposeTokens(u->tu, toks, n);
            return fnd_xstrdup("");
        }
    }
    size_t cap = 64, len = 0;
    char *out = fnd_xmalloc(cap);
    out[0] = 0;
    for (unsigned i = 0; i < n; i++) {
        char *t = cxu_take(clang_getTokenSpelling(u->tu, toks[i]));
        size_t tl = strlen(t);
        int glue = len == 0 || out[len - 1] == '(' || out[len - 1] == '[' || out[len - 1] == '!'
                   || strcmp(t, ")") == 0 || strcmp(t, "]") == 0 || strcmp(t, ",") == 0
                   || strcmp(t, "(") == 0 || strcmp(t, "->") == 0 || strcmp(t, ".") == 0
                   || (len >= 2 && strcmp(out + len - 2, "->") == 0)
                   || (len >= 1 && out[len - 1] == '.');
        if (len + tl + 2 > cap) {
            cap = (len + tl + 2) * 2;
            out = fnd_xrealloc(out, cap);
        }
        if (!glue)
            out[len++] = ' ';
        memcpy(out + len, t, tl + 1);
        len += tl;
        free(t);
    }
    clang_disposeTokens(u->tu, toks, n);
    if (max && len > max) {
        strcpy(out + max - 3, "...");
    }
    return out;
}

char *cxu_callee(CXCursor call)
{
    CXCursor ref = clang_getCursorReferenced(call);
    if (clang_Cursor_isNull(ref) || clang_getCursorKind(ref) != CXCursor_FunctionDecl) {
        /* calls through a struct member keep the member's name, e.g. tp_alloc */
        CXCursor callee = cxu_strip(cxu_child(call, 0));
        enum CXCursorKind k = clang_getCursorKind(callee);
        if (k == CXCursor_MemberRefExpr || k == CXCursor_DeclRefExpr)
            return cxu_take(clang_getCursorSpelling(callee));
        return NULL;
    }
    return cxu_take(clang_getCursorSpelling(ref));
}

CXCursor cxu_ref(CXCursor c)
{
    return clang_getCursorReferenced(c);
}

int cxu_is_object_ptr(CXType t)
{
    t = clang_getCanonicalType(t);
    if (t.kind != CXType_Pointer)
        return 0;
    CXType p = clang_getCanonicalType(clang_getPointeeType(t));
    if (p.kind != CXType_Record)
        return 0;
    char *name = cxu_take(clang_getTypeSpelling(p));
    int yes = strcmp(name, "struct _object") == 0 || strcmp(name, "PyObject") == 0;
    free(name);
    if (yes)
        return 1;
    CXCursor decl = clang_getTypeDeclaration(p);
    CXCursor first = cxu_child(decl, 0);
    if (clang_getCursorKind(first) != CXCursor_FieldDecl)
        return 0;
    char *fname = cxu_take(clang_getCursorSpelling(first));
    yes = strcmp(fname, "ob_base") == 0;
    free(fname);
    return yes;
}
