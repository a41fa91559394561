#include "gctype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gtype {
    char *var;              /* the PyTypeObject / slots variable */
    CXCursor traverse, clear, dealloc;
    CXType object;          /* the instance struct pointer, CXType_Invalid if unknown */
    int gc_flag;
    char *slots_name;       /* for specs: the slots array they use */
};

struct gtypes {
    struct gtype *v;
    int n;
};

/* The function definition a slot value names, or a null cursor. */
static CXCursor func_def(CXCursor value)
{
    CXCursor s = cxu_strip(value);
    if (clang_getCursorKind(s) != CXCursor_DeclRefExpr)
        return clang_getNullCursor();
    CXCursor d = clang_getCursorDefinition(cxu_ref(s));
    if (clang_getCursorKind(d) != CXCursor_FunctionDecl)
        return clang_getNullCursor();
    return d;
}

/* The type named by a sizeof(T) initializer, as a pointer-free record type. */
static CXType sizeof_type(CXCursor value)
{
    CXType none = {CXType_Invalid, {0, 0}};
    CXCursor s = cxu_strip(value);
    if (clang_getCursorKind(s) != CXCursor_UnaryExpr)
        return none;
    CXCursor *v;
    unsigned n = cxu_children(s, &v);
    CXType t = none;
    for (unsigned i = 0; i < n; i++)
        if (clang_getCursorKind(v[i]) == CXCursor_TypeRef)
            t = clang_getCanonicalType(clang_getCursorType(v[i]));
    free(v);
    return t;
}

/* Record the slot named SLOT (tp_traverse, basicsize, flags, ...) of type T. */
static void set_slot(struct gtype *t, const char *slot, CXCursor value, struct cxu_tu *u)
{
    if (strcmp(slot, "tp_traverse") == 0)
        t->traverse = func_def(value);
    else if (strcmp(slot, "tp_clear") == 0)
        t->clear = func_def(value);
    else if (strcmp(slot, "tp_dealloc") == 0)
        t->dealloc = func_def(value);
    else if (strcmp(slot, "tp_basicsize") == 0 || strcmp(slot, "basicsize") == 0)
        t->object = sizeof_type(value);
    else if (strcmp(slot, "tp_flags") == 0 || strcmp(slot, "flags") == 0) {
        char *txt = cxu_text(u, value, 0);
        t->gc_flag = strstr(txt, "HAVE_GC") != NULL;
        free(txt);
    } else if (strcmp(slot, "slots") == 0) {
        CXCursor s = cxu_strip(value);
        if (clang_getCursorKind(s) == CXCursor_DeclRefExpr)
            t->slots_name = cxu_take(clang_getCursorSpelling(s));
    }
}

struct field_names {
    char **v;
    int n;
};

/* Field visitor collecting every field name in order. */
static enum CXVisitorResult add_field_name(CXCursor c, CXClientData data)
{
    struct field_names *f = data;
    f->v = realloc(f->v, (f->n + 1) * sizeof *f->v);
    f->v[f->n++] = cxu_take(clang_getCursorSpelling(c));
    return CXVisit_Continue;
}

/* Free a field name list. */
static void free_names(struct field_names *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
}

/* A struct initializer: designated (.name = value) or positional. */
static void read_struct_init(struct gtype *t, CXCursor init, CXType type, struct cxu_tu *u)
{
    struct field_names names = {0};
    clang_Type_visitFields(clang_getCanonicalType(type), add_field_name, &names);
    CXCursor *v;
    unsigned n = cxu_children(init, &v);
    for (unsigned i = 0; i < n; i++) {
        CXCursor *d;
        unsigned nd = cxu_children(v[i], &d);
        if (clang_getCursorKind(v[i]) == CXCursor_UnexposedExpr && nd == 2
            && clang_getCursorKind(d[0]) == CXCursor_MemberRef) {
            char *slot = cxu_take(clang_getCursorSpelling(d[0]));
            set_slot(t, slot, d[1], u);
            free(slot);
        } else if ((int)i < names.n) {
            set_slot(t, names.v[i], v[i], u);
        }
        free(d);
    }
    free(v);
    free_names(&names);
}

/* {Py_tp_traverse, fn} entries of a PyType_Slot array. */
static void read_slots(struct gtype *t, CXCursor init, struct cxu_tu *u)
{
    CXCursor *v;
    unsigned n = cxu_children(init, &v);
    for (unsigned i = 0; i < n; i++) {
        CXCursor *e;
        unsigned ne = cxu_children(v[i], &e);
        if (ne == 2) {
            const char *m = cxu_macro_at(u, e[0]);
            if (m && strncmp(m, "Py_", 3) == 0)
                set_slot(t, m + 3, e[1], u);
        }
        free(e);
    }
    free(v);
}

/* Canonical spelling of T. */
static char *type_name(CXType t)
{
    return cxu_take(clang_getTypeSpelling(clang_getCanonicalType(t)));
}

struct collect {
    struct cxu_tu *u;
    struct gtypes *types;
};

/* Visitor: every PyTypeObject, PyType_Slot[] and PyType_Spec defined here. */
static enum CXChildVisitResult collect_types(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct collect *col = data;
    if (clang_getCursorKind(c) != CXCursor_VarDecl || !clang_Location_isFromMainFile(clang_getCursorLocation(c)))
        return CXChildVisit_Continue;
    CXCursor init = clang_Cursor_getVarDeclInitializer(c);
    if (clang_Cursor_isNull(init) || clang_getCursorKind(init) != CXCursor_InitListExpr)
        return CXChildVisit_Continue;
    CXType vt = clang_getCursorType(c);
    char *tn = type_name(vt);
    struct gtype t;
    memset(&t, 0, sizeof t);
    t.object.kind = CXType_Invalid;
    t.traverse = t.clear = t.dealloc = clang_getNullCursor();
    int keep = 1;
    if (strcmp(tn, "struct _typeobject") == 0 || strcmp(tn, "PyTypeObject") == 0 || strcmp(tn, "PyType_Spec") == 0)
        read_struct_init(&t, init, vt, col->u);
    else if (strncmp(tn, "PyType_Slot [", 13) == 0 || strncmp(tn, "struct PyType_Slot [", 20) == 0 ||
             strstr(tn, "PyType_Slot["))
        read_slots(&t, init, col->u);
    else
        keep = 0;
    free(tn);
    if (!keep) {
        free(t.slots_name);
        return CXChildVisit_Continue;
    }
    t.var = cxu_take(clang_getCursorSpelling(c));
    struct gtypes *ts = col->types;
    ts->v = realloc(ts->v, (ts->n + 1) * sizeof *ts->v);
    ts->v[ts->n++] = t;
    return CXChildVisit_Continue;
}

/* Specs carry the instance size and flags for the slots array they name. */
static void merge_specs(struct gtypes *ts)
{
    for (int i = 0; i < ts->n; i++) {
        if (!ts->v[i].slots_name)
            continue;
        for (int j = 0; j < ts->n; j++) {
            if (j == i || strcmp(ts->v[j].var, ts->v[i].slots_name) != 0)
                continue;
            if (ts->v[j].object.kind == CXType_Invalid)
                ts->v[j].object = ts->v[i].object;
            ts->v[j].gc_flag |= ts->v[i].gc_flag;
        }
    }
}

/* ---------- body scans ---------- */

enum ev_kind { EV_RELEASE_DIRECT, EV_RELEASE_CLEARED, EV_ASSIGN, EV_UNTRACK, EV_CALL_SELF, EV_MEMBER,
               EV_CALL_CLEAR };

struct event {
    enum ev_kind kind;
    char *field;
    unsigned order, line, col;
    char *callee;
};

struct scan {
    struct cxu_tu *u;
    struct event *v;
    int n;
    unsigned order;
    CXCursor clear_fn;
};

/* Record an event of a scanned body in source order. */
static void add_event(struct scan *s, enum ev_kind k, const char *field, CXCursor at, const char *callee)
{
    s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
    struct event *e = &s->v[s->n++];
    e->kind = k;
    e->field = field ? strdup(field) : NULL;
    e->callee = callee ? strdup(callee) : NULL;
    e->order = s->order++;
    cxu_line_col(at, &e->line, &e->col);
}

/* Field name when C is a member access, else NULL (malloc'd). */
static char *member_of(CXCursor c)
{
    CXCursor s = cxu_strip(c);
    if (clang_getCursorKind(s) != CXCursor_MemberRefExpr)
        return NULL;
    return cxu_take(clang_getCursorSpelling(s));
}

/* Whether N is one of the release primitives. */
static int is_decref(const char *n)
{
    return strcmp(n, "Py_DECREF") == 0 || strcmp(n, "_Py_DECREF") == 0 || strcmp(n, "Py_XDECREF") == 0
           || strcmp(n, "_Py_XDECREF") == 0 || strcmp(n, "Py_DecRef") == 0;
}

/* Calls whose effect on the object's fields is unknown: functions of this
 * file and calls through pointers other than the visit callback. */
static int is_helper_call(CXCursor call, const char *name)
{
    CXCursor ref = clang_getCursorReferenced(call);
    if (clang_getCursorKind(ref) == CXCursor_FunctionDecl)
        return clang_Location_isFromMainFile(clang_getCursorLocation(ref));
    return !name || strcmp(name, "visit") != 0;
}

/* Visitor recording releases, untracks, assignments and member uses. */
static enum CXChildVisitResult scan_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct scan *s = data;
    enum CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_CallExpr) {
        char *name = cxu_callee(c);
        int nargs = clang_Cursor_getNumArguments(c);
        if (name && is_decref(name) && nargs > 0) {
            char *f = member_of(clang_Cursor_getArgument(c, nargs - 1));
            if (f)
                add_event(s, EV_RELEASE_DIRECT, f, c, name);
            free(f);
        } else if (name && (strcmp(name, "PyObject_GC_UnTrack") == 0 || strcmp(name, "_PyObject_GC_UNTRACK") == 0)) {
            add_event(s, EV_UNTRACK, NULL, c, name);
        } else if (name && !clang_Cursor_isNull(s->clear_fn)) {
            char *cn = cxu_take(clang_getCursorSpelling(s->clear_fn));
            if (strcmp(cn, name) == 0)
                add_event(s, EV_CALL_CLEAR, NULL, c, name);
            free(cn);
        }
        if (is_helper_call(c, name)) {
            /* a helper that receives the object may visit or release anything */
            for (int i = 0; i < nargs; i++) {
                CXCursor a = cxu_strip(clang_Cursor_getArgument(c, i));
                if (clang_getCursorKind(a) == CXCursor_DeclRefExpr
                    && clang_getCursorKind(cxu_ref(a)) == CXCursor_ParmDecl) {
                    add_event(s, EV_CALL_SELF, NULL, c, name);
                    break;
                }
            }
        }
        free(name);
    } else if (k == CXCursor_VarDecl) {
        /* Py_CLEAR / Py_SETREF copy the field into _py_tmp before releasing it */
        CXCursor init = clang_Cursor_getVarDeclInitializer(c);
        char *vn = cxu_take(clang_getCursorSpelling(c));
        if (!clang_Cursor_isNull(init) && strcmp(vn, "_py_tmp") == 0) {
            char *f = member_of(init);
            if (f)
                add_event(s, EV_RELEASE_CLEARED, f, c, NULL);
            free(f);
        }
        free(vn);
    } else if (k == CXCursor_BinaryOperator && cxu_op(s->u, c) == OP_ASSIGN) {
        char *f = member_of(cxu_child(c, 0));
        if (f)
            add_event(s, EV_ASSIGN, f, c, NULL);
        free(f);
    } else if (k == CXCursor_MemberRefExpr) {
        char *f = cxu_take(clang_getCursorSpelling(c));
        add_event(s, EV_MEMBER, f, c, NULL);
        free(f);
    }
    return CXChildVisit_Recurse;
}

/* Scan the body of FN (which may be a null cursor). */
static void scan_fn(struct scan *s, struct cxu_tu *u, CXCursor fn, CXCursor clear_fn)
{
    memset(s, 0, sizeof *s);
    s->u = u;
    s->clear_fn = clear_fn;
    if (!clang_Cursor_isNull(fn))
        clang_visitChildren(fn, scan_visit, s);
}

/* Free a scan. */
static void scan_free(struct scan *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->v[i].field);
        free(s->v[i].callee);
    }
    free(s->v);
}

/* Whether the scan holds an event of kind K (for FIELD when given). */
static int has_event(const struct scan *s, enum ev_kind k, const char *field)
{
    for (int i = 0; i < s->n; i++)
        if (s->v[i].kind == k && (!field || (s->v[i].field && strcmp(s->v[i].field, field) == 0)))
            return 1;
    return 0;
}

/* ---------- checks ---------- */

static void emit(struct fnd_list *out, enum fnd_kind kind, enum fnd_severity sev, const char *file,
                 unsigned line, unsigned col, const char *fn, const char *field, const char *note,
                 char *summary)
{
    struct fnd_note n = {(char *)file, line, (char *)note};
    struct finding f = {
        .kind = kind, .severity = sev, .summary = summary, .file = (char *)file, .line = line,
        .column = col, .function = (char *)fn, .path = &n, .npath = note ? 1 : 0,
        .variable = (char *)field, .api = NULL,
    };
    fnd_add(out, &f);
    free(summary);
}

/* Name of function FN (malloc'd). */
static char *fn_name(CXCursor fn)
{
    return cxu_take(clang_getCursorSpelling(fn));
}

struct objfield {
    char *name;
    unsigned line, col;
    int in_main;
};

struct objfields {
    struct objfield v[128];
    int n;
};

/* Field visitor keeping object pointer fields with their positions. */
static enum CXVisitorResult add_objfield(CXCursor c, CXClientData data)
{
    struct objfields *o = data;
    char *name = cxu_take(clang_getCursorSpelling(c));
    if (o->n < 128 && strcmp(name, "ob_base") != 0 && cxu_is_object_ptr(clang_getCursorType(c))) {
        struct objfield *f = &o->v[o->n++];
        f->name = name;
        cxu_line_col(c, &f->line, &f->col);
        f->in_main = clang_Location_isFromMainFile(clang_getCursorLocation(c));
        return CXVisit_Continue;
    }
    free(name);
    return CXVisit_Continue;
}

/* Field names only ever assigned str/bytes/number objects, directly or
 * copied from another such field: such objects cannot be part of a
 * reference cycle, so tp_traverse may skip them. */
struct atom_srcs {
    char *v[4];     /* fields copied into this one ("p->a = q->b") */
    int n;
};

struct atomic_scan {
    struct cxu_tu *u;
    char **names;
    int *other, *atomic;
    struct atom_srcs *srcs;
    int n;
};

/* Whether a call to N returns a str, bytes or number object. */
static int atomic_callee(const char *n)
{
    static const char *const prefixes[] = {"PyUnicode_", "_PyUnicode_", "PyBytes_", "_PyBytes_",
                                           "PyLong_", "_PyLong_", "PyFloat_", "PyBool_", NULL};
    for (const char *const *p = prefixes; *p; p++)
        if (strncmp(n, *p, strlen(*p)) == 0)
            return 1;
    return 0;
}

/* Index of FIELD's entry, added when new (out of memory aborts). */
static int atom_entry(struct atomic_scan *a, const char *field)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], field) == 0)
            return i;
    a->names = fnd_xrealloc(a->names, (a->n + 1) * sizeof *a->names);
    a->other = fnd_xrealloc(a->other, (a->n + 1) * sizeof *a->other);
    a->atomic = fnd_xrealloc(a->atomic, (a->n + 1) * sizeof *a->atomic);
    a->srcs = fnd_xrealloc(a->srcs, (a->n + 1) * sizeof *a->srcs);
    a->names[a->n] = fnd_xstrdup(field);
    a->other[a->n] = a->atomic[a->n] = 0;
    a->srcs[a->n].n = 0;
    return a->n++;
}

/* Count one assignment to FIELD as atomic, a copy of another field, or other. */
static void note_assignment(struct atomic_scan *a, const char *field, CXCursor rhs)
{
    CXCursor r = cxu_strip(rhs);
    enum CXCursorKind k = clang_getCursorKind(r);
    if (k == CXCursor_IntegerLiteral)
        return;   /* NULL */
    int atomic = 0;
    char *src = member_of(r);
    if (k == CXCursor_CallExpr) {
        char *n = cxu_callee(r);
        atomic = n && atomic_callee(n);
        free(n);
    } else if (k == CXCursor_StringLiteral) {
        atomic = 1;
    }
    int i = atom_entry(a, field);
    if (atomic)
        a->atomic[i]++;
    else if (src && a->srcs[i].n < 4)
        a->srcs[i].v[a->srcs[i].n++] = fnd_xstrdup(src);
    else
        a->other[i]++;
    free(src);
}

/* Visitor over the whole file for assignments to fields. */
static enum CXChildVisitResult atomic_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct atomic_scan *a = data;
    if (clang_getCursorKind(c) == CXCursor_BinaryOperator && cxu_op(a->u, c) == OP_ASSIGN) {
        char *f = member_of(cxu_child(c, 0));
        if (f)
            note_assignment(a, f, cxu_child(c, 1));
        free(f);
    }
    return CXChildVisit_Recurse;
}

/* Whether FIELD is only ever assigned atomic objects or copies of fields
 * that are; DEPTH bounds the chain of copies (a cycle of copies is not atomic). */
static int atomic_field_depth(const struct atomic_scan *a, const char *field, int depth)
{
    if (depth > 4)
        return 0;
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->names[i], field) != 0)
            continue;
        if (a->other[i] || (!a->atomic[i] && !a->srcs[i].n))
            return 0;
        for (int j = 0; j < a->srcs[i].n; j++)
            if (!atomic_field_depth(a, a->srcs[i].v[j], depth + 1))
                return 0;
        return 1;
    }
    return 0;
}

/* Whether FIELD is only ever assigned atomic objects (see atomic_scan). */
static int atomic_field(const struct atomic_scan *a, const char *field)
{
    return atomic_field_depth(a, field, 0);
}

/* gc-untraversed-reference: fields released by tp_clear/tp_dealloc that tp_traverse
 * never mentions (skipped when tp_traverse hands the object to a helper). */
static void check_traverse(const struct gtype *t, struct cxu_tu *u, const char *file, struct fnd_list *out,
                           const struct atomic_scan *atoms)
{
    if (clang_Cursor_isNull(t->traverse) || t->object.kind != CXType_Record)
        return;
    struct scan tr, cl, de;
    scan_fn(&tr, u, t->traverse, clang_getNullCursor());
    if (has_event(&tr, EV_CALL_SELF, NULL)) {
        scan_free(&tr);
        return;
    }
    scan_fn(&cl, u, t->clear, clang_getNullCursor());
    scan_fn(&de, u, t->dealloc, clang_getNullCursor());
    struct objfields of = {0};
    clang_Type_visitFields(t->object, add_objfield, &of);
    char *tname = fn_name(t->traverse);
    for (int i = 0; i < of.n; i++) {
        const char *f = of.v[i].name;
        int owned = has_event(&cl, EV_RELEASE_DIRECT, f) || has_event(&cl, EV_RELEASE_CLEARED, f)
                    || has_event(&de, EV_RELEASE_DIRECT, f) || has_event(&de, EV_RELEASE_CLEARED, f);
        if (!owned || has_event(&tr, EV_MEMBER, f) || atomic_field(atoms, f))
            continue;
        unsigned line, col;
        if (of.v[i].in_main) {
            line = of.v[i].line;
            col = of.v[i].col;
        } else {
            cxu_line_col(t->traverse, &line, &col);
        }
        char note[256];
        snprintf(note, sizeof note, "%s() never visits '%s'", tname, f);
        emit(out, FK_GC_UNTRAVERSED_REFERENCE, FS_WARNING, file, line, col, tname, f, note,
             fnd_xasprintf("field '%s' holds an owned reference that %s() does not visit", f, tname));
    }
    for (int i = 0; i < of.n; i++)
        free(of.v[i].name);
    free(tname);
    scan_free(&tr);
    scan_free(&cl);
    scan_free(&de);
}

/* gc-clear-dangling: releases in tp_clear not followed by a store to the field. */
static void check_clear(const struct gtype *t, struct cxu_tu *u, const char *file, struct fnd_list *out)
{
    if (clang_Cursor_isNull(t->clear))
        return;
    struct scan s;
    scan_fn(&s, u, t->clear, clang_getNullCursor());
    char *name = fn_name(t->clear);
    for (int i = 0; i < s.n; i++) {
        const struct event *e = &s.v[i];
        if (e->kind != EV_RELEASE_DIRECT)
            continue;
        int reset = 0;
        for (int j = 0; j < s.n && !reset; j++)
            reset = s.v[j].kind == EV_ASSIGN && s.v[j].order > e->order && strcmp(s.v[j].field, e->field) == 0;
        if (reset)
            continue;
        emit(out, FK_GC_CLEAR_DANGLING, FS_ERROR, file, e->line, e->col, name, e->field,
             "the field keeps pointing at the released object; use Py_CLEAR()",
             fnd_xasprintf("%s() releases field '%s' with %s() but leaves it pointing at the object",
                           name, e->field, e->callee));
    }
    free(name);
    scan_free(&s);
}

/* dealloc-without-untrack: a release in tp_dealloc of a GC type before the untrack. */
static void check_dealloc(const struct gtype *t, struct cxu_tu *u, const char *file, struct fnd_list *out)
{
    if (clang_Cursor_isNull(t->dealloc) || (!t->gc_flag && clang_Cursor_isNull(t->traverse)))
        return;
    struct scan s;
    scan_fn(&s, u, t->dealloc, t->clear);
    unsigned untrack = ~0u;
    for (int i = 0; i < s.n; i++)
        if (s.v[i].kind == EV_UNTRACK && s.v[i].order < untrack)
            untrack = s.v[i].order;
    const struct event *first = NULL;
    for (int i = 0; i < s.n && !first; i++) {
        enum ev_kind k = s.v[i].kind;
        if ((k == EV_RELEASE_DIRECT || k == EV_RELEASE_CLEARED || k == EV_CALL_CLEAR) && s.v[i].order < untrack)
            first = &s.v[i];
    }
    if (first) {
        char *name = fn_name(t->dealloc);
        const char *what = first->field ? first->field : first->callee;
        emit(out, FK_DEALLOC_WITHOUT_UNTRACK, FS_ERROR, file, first->line, first->col, name, first->field,
             untrack == ~0u ? "PyObject_GC_UnTrack() is never called" : "PyObject_GC_UnTrack() comes later",
             fnd_xasprintf("%s() of a GC type releases %s'%s' while the object is still tracked",
                           name, first->field ? "field " : "via ", what));
        free(name);
    }
    scan_free(&s);
}

/* Fall back to the traverse function's first parameter for the instance type. */
static void guess_object(struct gtype *t)
{
    if (t->object.kind == CXType_Record || clang_Cursor_isNull(t->traverse))
        return;
    CXCursor p = clang_Cursor_getArgument(t->traverse, 0);
    CXType pt = clang_getCanonicalType(clang_getCursorType(p));
    if (pt.kind == CXType_Pointer && cxu_is_object_ptr(pt)) {
        CXType rec = clang_getCanonicalType(clang_getPointeeType(pt));
        char *n = type_name(rec);
        if (strcmp(n, "struct _object") != 0)
            t->object = rec;
        free(n);
    }
}

void gct_check(struct cxu_tu *u, const char *file, struct fnd_list *out)
{
    struct gtypes ts = {0};
    struct collect col = {u, &ts};
    clang_visitChildren(clang_getTranslationUnitCursor(u->tu), collect_types, &col);
    merge_specs(&ts);
    struct atomic_scan atoms = {u, NULL, NULL, NULL, NULL, 0};
    if (ts.n)
        clang_visitChildren(clang_getTranslationUnitCursor(u->tu), atomic_visit, &atoms);
    for (int i = 0; i < ts.n; i++) {
        struct gtype *t = &ts.v[i];
        if (t->slots_name)
            continue;   /* specs only carry data for their slots array */
        guess_object(t);
        check_traverse(t, u, file, out, &atoms);
        check_clear(t, u, file, out);
        check_dealloc(t, u, file, out);
    }
    for (int i = 0; i < atoms.n; i++) {
        free(atoms.names[i]);
        for (int j = 0; j < atoms.srcs[i].n; j++)
            free(atoms.srcs[i].v[j]);
    }
    free(atoms.names);
    free(atoms.srcs);
    free(atoms.other);
    free(atoms.atomic);
    for (int i = 0; i < ts.n; i++) {
        free(ts.v[i].var);
        free(ts.v[i].slots_name);
    }
    free(ts.v);
}
