#include "flow.h"

#include <stdarg.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apitab.h"
#include "cfg.h"

/* Budgets: past them a path is dropped, which can only hide findings. */
#define MAX_VALS 1500
#define MAX_LOOP_VISITS 2
#define MAX_MEMO 48
#define MAX_STEPS 60000
#define MAX_PATH_NOTES 12

enum vkind { VK_UNK, VK_OBJ, VK_MEM, VK_INT };
enum vref { R_NONE, R_NEW, R_BORROWED };
enum vnul { N_MAYBE, N_NULL, N_NONNULL };
enum exc { E_NONE, E_SET, E_MAYBE };
enum alloc { AL_NONE, AL_LIBC, AL_PYMEM, AL_RAW, AL_PYOBJ, AL_GC };

enum vflag {
    VF_ESCAPED = 1 << 0,    /* no longer tracked: ownership went somewhere unknown */
    VF_RELEASED = 1 << 1,   /* the owned reference was released */
    VF_STOLEN = 1 << 2,     /* a reference was handed to a stealing call */
    VF_STORED = 1 << 3,     /* a reference was stored in a struct field */
    VF_CAN_NULL = 1 << 4,   /* produced by a call documented to return NULL on failure */
    VF_INVALID = 1 << 5,    /* borrowed from a container that was changed or released */
    VF_PARSED = 1 << 6,     /* borrowed from argument parsing */
    VF_EXCINFO = 1 << 7,    /* exc_prev/exc_fail describe what failure means */
    VF_ERRQ = 1 << 8,       /* the result of PyErr_Occurred() */
    VF_CONST = 1 << 9,      /* cval is exact */
    VF_FRESH = 1 << 10,     /* PyObject_New / GC_New result: fields uninitialised */
    VF_ZERO_FAIL = 1 << 11, /* int result where 0 means failure (PyArg_Parse*) */
    VF_NEG_FAIL = 1 << 12,  /* int result where < 0 means failure */
    VF_FREED = 1 << 13,     /* raw memory was freed */
    VF_UNSURE = 1 << 14,    /* tested by a condition the analysis could not read */
    VF_PTR = 1 << 15,       /* the call returned a pointer: NULL means failure */
    VF_INMACRO = 1 << 16,   /* created inside a macro body */
    VF_SLOT = 1 << 17,      /* handed to a container slot by a SET_ITEM macro */
    VF_RANGE = 1 << 18,     /* lo..hi hold what earlier tests proved */
    VF_SIZED = 1 << 19,     /* a new container with cval slots (API_FACT_SIZE_ARG) */
};

struct note {
    struct note *prev;
    unsigned line;
    int val;                /* value the note is about, -1 for branch notes */
    const char *text;
};

struct val {
    int site;
    unsigned char kind, ref, nul, exc_prev, exc_fail, alloc;
    short owed;
    unsigned flags;
    int container;
    long long cval;
    const char *api;
    const char *var;
    unsigned line, col;
    unsigned evline, evcol;
    const char *evapi;
    const char *evwhat;
    struct note *birth;
    int sinfo;
    uint64_t unset;
    unsigned excgen;        /* state's excgen right after the call that made this value */
    long long lo, hi;       /* known range of an integer value (valid with VF_RANGE) */
    long long ne[4];        /* values it is known not to have (switch defaults, != tests) */
    unsigned char nne;
    uint64_t ckey;          /* set from a condition on untracked memory: its fact key (0: none) */
    uint64_t cfdeps, cvdeps; /* the fields and locals that condition reads */
    unsigned char cneg;     /* nonzero exactly when that condition is false */
    int guard;              /* >= 3: a value known non-NULL when this one is nonzero */
};

struct state {
    int *bind;
    unsigned char *loops;
    struct val *vals;
    int nvals, capvals;
    unsigned char exc;
    int nfacts;             /* outcomes of tests on "var->field", valid until a call or store */
    /* key: the tested text; fdeps/vdeps: bits of the fields and locals it reads (see fact_bit) */
    struct { uint64_t key, fdeps, vdeps; unsigned char nonzero; } facts[16];
    int dead;
    int blind;              /* a branch depended on memory the analysis does not follow */
    int ncond;              /* values with a condition key were made (see cond_value) */
    unsigned excgen;        /* bumped by every change of exc other than a call's outcome */
    struct note *notes;
};

struct var {
    CXCursor decl;
    unsigned hash;
    char *name;
    int trackable;          /* scalar local: its value can be followed */
};

struct sinfo {
    char *type;
    int nfields;
    char *fields[64];
};

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    char data[];
};

struct memo {
    uint64_t h[MAX_MEMO];
    int n;
};

struct fctx {
    const struct flw_func *fn;
    struct cxu_tu *u;
    struct cfg g;
    char *name;
    int returns_ptr;
    struct var *vars;
    int nvars;
    struct sinfo *sinfos;
    int nsinfo;
    struct arena_chunk *arena;
    struct memo *memo;
    int node;               /* node being evaluated: allocation site of new values */
    long steps;
    struct fnd_list *out;
    CXCursor body;
    unsigned end_line, end_col;
    int trace;              /* LIFELINE_AUDIT_TRACE names this function: print each step */
};

/* ---------- arena ---------- */

static void *arena_alloc(struct fctx *F, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!F->arena || F->arena->used + n > F->arena->cap) {
        size_t cap = n > 65536 ? n : 65536;
        struct arena_chunk *c = fnd_xmalloc(sizeof *c + cap);
        c->next = F->arena;
        c->used = 0;
        c->cap = cap;
        F->arena = c;
    }
    void *p = F->arena->data + F->arena->used;
    F->arena->used += n;
    return p;
}

/* Copy S into the function arena; freed with the arena when the function is done. */
static const char *arena_str(struct fctx *F, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = arena_alloc(F, n);
    memcpy(d, s, n);
    return d;
}

/* Free every arena chunk of the function. */
static void arena_free(struct fctx *F)
{
    while (F->arena) {
        struct arena_chunk *n = F->arena->next;
        free(F->arena);
        F->arena = n;
    }
}

/* ---------- states ---------- */

static struct state *state_new(struct fctx *F)
{
    struct state *S = fnd_xmalloc(sizeof *S);
    memset(S, 0, sizeof *S);
    S->bind = fnd_xmalloc((F->nvars + 1) * sizeof *S->bind);
    for (int i = 0; i < F->nvars; i++)
        S->bind[i] = -1;
    S->loops = calloc(F->g.nloops + 1, 1);
    S->capvals = 64;
    S->vals = fnd_xmalloc(S->capvals * sizeof *S->vals);
    return S;
}

/* Deep copy of S for the other side of a branch (notes are shared, they are immutable). */
static struct state *state_copy(struct fctx *F, const struct state *S)
{
    struct state *T = fnd_xmalloc(sizeof *T);
    *T = *S;
    T->bind = fnd_xmalloc((F->nvars + 1) * sizeof *T->bind);
    memcpy(T->bind, S->bind, F->nvars * sizeof *T->bind);
    T->loops = fnd_xmalloc(F->g.nloops + 1);
    memcpy(T->loops, S->loops, F->g.nloops + 1);
    T->capvals = S->nvals + 16;
    T->vals = fnd_xmalloc(T->capvals * sizeof *T->vals);
    memcpy(T->vals, S->vals, S->nvals * sizeof *T->vals);
    return T;
}

/* Free a state (NULL is fine). */
static void state_free(struct state *S)
{
    if (!S)
        return;
    free(S->bind);
    free(S->loops);
    free(S->vals);
    free(S);
}

/* Prepend a path note; VAL ties it to one value (-1: a branch, shown for every finding). */
static void add_note(struct fctx *F, struct state *S, unsigned line, int val, const char *text)
{
    struct note *n = arena_alloc(F, sizeof *n);
    n->prev = S->notes;
    n->line = line;
    n->val = val;
    n->text = arena_str(F, text);
    S->notes = n;
}

/* A new abstract value; returns -1 (untracked) when the state is too big. */
static int new_val(struct fctx *F, struct state *S, enum vkind kind)
{
    if (S->nvals >= MAX_VALS) {
        S->dead = 1;
        return -1;
    }
    if (S->nvals == S->capvals) {
        S->capvals *= 2;
        S->vals = fnd_xrealloc(S->vals, S->capvals * sizeof *S->vals);
    }
    struct val *v = &S->vals[S->nvals];
    memset(v, 0, sizeof *v);
    v->kind = kind;
    v->site = F->node;
    v->container = -1;
    v->sinfo = -1;
    return S->nvals++;
}

/* Values 0, 1 and 2 are the constants 0 (NULL), 1 and -1. */
static void init_consts(struct fctx *F, struct state *S)
{
    static const long long k[3] = {0, 1, -1};
    for (int i = 0; i < 3; i++) {
        int v = new_val(F, S, VK_INT);
        S->vals[v].flags = VF_CONST;
        S->vals[v].cval = k[i];
        S->vals[v].nul = k[i] ? N_NONNULL : N_NULL;
    }
}

/* Value index of the integer constant K (shared slots for 0, 1, -1); -1 when the state is full. */
static int const_val(struct fctx *F, struct state *S, long long k)
{
    if (k == 0)
        return 0;
    if (k == 1)
        return 1;
    if (k == -1)
        return 2;
    int v = new_val(F, S, VK_INT);
    if (v >= 0) {
        S->vals[v].flags = VF_CONST;
        S->vals[v].cval = k;
        S->vals[v].nul = N_NONNULL;
    }
    return v;
}

/* Whether V is a known integer constant. */
static int is_const(const struct state *S, int v)
{
    return v >= 0 && (S->vals[v].flags & VF_CONST);
}

/* Whether V is an object or memory block whose ownership is still being followed. */
static int tracked(const struct state *S, int v)
{
    return v >= 3 && (S->vals[v].kind == VK_OBJ || S->vals[v].kind == VK_MEM)
           && !(S->vals[v].flags & VF_ESCAPED);
}

/* ---------- variables ---------- */

static int var_index(struct fctx *F, CXCursor decl)
{
    unsigned h = clang_hashCursor(decl);
    for (int i = 0; i < F->nvars; i++)
        if (F->vars[i].hash == h && clang_equalCursors(F->vars[i].decl, decl))
            return i;
    return -1;
}

/* Whether T can be followed as a single value (pointer, integer, enum). */
static int scalar_type(CXType t)
{
    t = clang_getCanonicalType(t);
    switch (t.kind) {
    case CXType_Pointer: case CXType_Bool: case CXType_Char_U: case CXType_UChar:
    case CXType_UShort: case CXType_UInt: case CXType_ULong: case CXType_ULongLong:
    case CXType_Char_S: case CXType_SChar: case CXType_Short: case CXType_Int:
    case CXType_Long: case CXType_LongLong: case CXType_Enum:
        return 1;
    default:
        return 0;
    }
}

/* Register a local or parameter; only scalar non-static locals get values (trackable). */
static void add_var(struct fctx *F, CXCursor decl, int *cap)
{
    if (var_index(F, decl) >= 0)
        return;
    if (F->nvars == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        F->vars = fnd_xrealloc(F->vars, *cap * sizeof *F->vars);
    }
    struct var *v = &F->vars[F->nvars++];
    v->decl = decl;
    v->hash = clang_hashCursor(decl);
    v->name = cxu_take(clang_getCursorSpelling(decl));
    v->trackable = scalar_type(clang_getCursorType(decl))
                   && clang_Cursor_getStorageClass(decl) != CX_SC_Static
                   && clang_Cursor_getStorageClass(decl) != CX_SC_Extern;
}

struct var_acc {
    struct fctx *F;
    int cap;
};

/* Visitor: register every VarDecl and ParmDecl of the function. */
static enum CXChildVisitResult collect_vars(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct var_acc *a = data;
    enum CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_VarDecl || k == CXCursor_ParmDecl)
        add_var(a->F, c, &a->cap);
    return CXChildVisit_Recurse;
}

/* Local variable behind expression C (after casts), or -1. */
static int expr_var(struct fctx *F, CXCursor c)
{
    c = cxu_strip(c);
    if (clang_getCursorKind(c) != CXCursor_DeclRefExpr)
        return -1;
    int i = var_index(F, cxu_ref(c));
    return i >= 0 && F->vars[i].trackable ? i : -1;
}

/* ---------- struct field info for fresh objects ---------- */

struct field_acc {
    struct sinfo *s;
};

/* Field visitor of sinfo_for: keep the object pointer fields. */
static enum CXVisitorResult visit_field(CXCursor c, CXClientData data)
{
    struct field_acc *a = data;
    char *name = cxu_take(clang_getCursorSpelling(c));
    if (strcmp(name, "ob_base") != 0 && a->s->nfields < 64 && cxu_is_object_ptr(clang_getCursorType(c))) {
        a->s->fields[a->s->nfields++] = name;
        return CXVisit_Continue;
    }
    free(name);
    return CXVisit_Continue;
}

/* Struct info index for a pointer type T, or -1 if it has no object fields. */
static int sinfo_for(struct fctx *F, CXType t)
{
    t = clang_getCanonicalType(t);
    if (t.kind != CXType_Pointer)
        return -1;
    CXType rec = clang_getCanonicalType(clang_getPointeeType(t));
    if (rec.kind != CXType_Record)
        return -1;
    CXCursor first = clang_getTypeDeclaration(rec);
    CXCursor *kids;
    unsigned nk = cxu_children(first, &kids);
    char *f0 = nk ? cxu_take(clang_getCursorSpelling(kids[0])) : fnd_xstrdup("");
    int has_head = strcmp(f0, "ob_base") == 0;
    free(f0);
    free(kids);
    if (!has_head)
        return -1;   /* PyObject itself: its header is set by the allocator */
    char *name = cxu_take(clang_getTypeSpelling(rec));
    for (int i = 0; i < F->nsinfo; i++) {
        if (strcmp(F->sinfos[i].type, name) == 0) {
            free(name);
            return F->sinfos[i].nfields ? i : -1;
        }
    }
    F->sinfos = fnd_xrealloc(F->sinfos, (F->nsinfo + 1) * sizeof *F->sinfos);
    struct sinfo *s = &F->sinfos[F->nsinfo];
    memset(s, 0, sizeof *s);
    s->type = name;
    struct field_acc a = {s};
    clang_Type_visitFields(rec, visit_field, &a);
    F->nsinfo++;
    return s->nfields ? F->nsinfo - 1 : -1;
}

/* Position of field NAME in S, or -1. */
static int field_index(const struct sinfo *s, const char *name)
{
    for (int i = 0; i < s->nfields; i++)
        if (strcmp(s->fields[i], name) == 0)
            return i;
    return -1;
}

/* ---------- reporting ---------- */

static void report(struct fctx *F, struct state *S, enum fnd_kind kind, enum fnd_severity sev,
                   unsigned line, unsigned col, int v, const char *api, const char *last_note,
                   const char *fmt, ...) __attribute__((format(printf, 10, 11)));

/* Record a finding at LINE:COL. The path is built from the notes back to V's birth (branch
 * notes and notes about V only), ending with LAST_NOTE at the finding's line. */
static void report(struct fctx *F, struct state *S, enum fnd_kind kind, enum fnd_severity sev,
                   unsigned line, unsigned col, int v, const char *api, const char *last_note,
                   const char *fmt, ...)
{
    char *summary = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&summary, fmt, ap) < 0)
        summary = NULL;
    va_end(ap);
    if (!summary)
        return;
    struct note *stop = v >= 0 ? S->vals[v].birth : NULL;
    struct note *picked[MAX_PATH_NOTES];
    int np = 0;
    for (struct note *n = S->notes; n && np < MAX_PATH_NOTES - 1; n = n->prev) {
        if (n->val < 0 || n->val == v)
            picked[np++] = n;
        if (n == stop)
            break;
    }
    if (v < 0)
        np = np > 4 ? 4 : np;
    struct fnd_note path[MAX_PATH_NOTES + 1];
    size_t k = 0;
    for (int i = np; i-- > 0;) {
        path[k].file = (char *)F->fn->file;
        path[k].line = picked[i]->line;
        path[k].text = (char *)picked[i]->text;
        k++;
    }
    if (last_note) {
        path[k].file = (char *)F->fn->file;
        path[k].line = line;
        path[k].text = (char *)last_note;
        k++;
    }
    struct finding f = {
        .kind = kind, .severity = sev, .summary = summary, .file = (char *)F->fn->file,
        .line = line, .column = col, .function = F->name, .path = path, .npath = k,
        .variable = v >= 0 ? (char *)S->vals[v].var : NULL, .api = (char *)api,
    };
    fnd_add(F->out, &f);
    free(summary);
}

/* Display name of value V: its first variable, or "the result". */
static const char *vname(const struct state *S, int v)
{
    return S->vals[v].var ? S->vals[v].var : "the result";
}

/* Line and column where C appears in the file. */
static void cursor_pos(CXCursor c, unsigned *line, unsigned *col)
{
    cxu_line_col(c, line, col);
}

/* Whether NAME is one of the NULL-terminated LIST. */
static int name_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

static const char *const INCREFS[] = {"Py_INCREF", "_Py_INCREF", NULL};
static const char *const XINCREFS[] = {"Py_XINCREF", "_Py_XINCREF", "Py_IncRef", NULL};
static const char *const DECREFS[] = {"Py_DECREF", "_Py_DECREF", NULL};
static const char *const XDECREFS[] = {"Py_XDECREF", "_Py_XDECREF", "Py_DecRef", NULL};
static const char *const NEWREFS[] = {"Py_NewRef", "_Py_NewRef", "Py_XNewRef", "_Py_XNewRef", NULL};
static const char *const DEREFS[] = {
    "Py_TYPE", "_Py_TYPE", "Py_SIZE", "_Py_SIZE", "Py_REFCNT", "_Py_REFCNT", "Py_SET_TYPE",
    "Py_SET_SIZE", "Py_SET_REFCNT", "Py_IS_TYPE", "_Py_IS_TYPE", NULL};
static const char *const NORETURN[] = {
    "abort", "exit", "_exit", "Py_FatalError", "_Py_FatalErrorFunc", "__assert_fail",
    "Py_Exit", "_Py_FatalErrorFormat", "Py_UNREACHABLE", "__builtin_unreachable", NULL};
static const char *const ERR_CLEAR[] = {
    "PyErr_Clear", "PyErr_Fetch", "PyErr_Print", "PyErr_PrintEx", "PyErr_WriteUnraisable",
    "_PyErr_WriteUnraisableMsg", "PyErr_GetRaisedException", "_PyErr_Clear", NULL};
static const char *const MUTATORS[] = {
    "PyList_SetItem", "PyList_SetSlice", "PyDict_SetItem", "PyDict_SetItemString",
    "PyDict_DelItem", "PyDict_DelItemString", "PyDict_Clear", "PyObject_SetItem",
    "PyObject_DelItem", "PySequence_SetItem", "PySequence_DelItem", "PySequence_SetSlice",
    "PySequence_DelSlice", "_PyDict_SetItem_KnownHash", "_PyDict_DelItem_KnownHash",
    "PyDict_Update", "PyDict_Merge", "PyObject_DelItemString", NULL};
static const char *const CONTAINER_GETTERS[] = {
    "PyList_GetItem", "PyList_GET_ITEM", "PyDict_GetItem", "PyDict_GetItemString",
    "PyDict_GetItemWithError", "_PyDict_GetItemWithError", "_PyDict_GetItemIdWithError",
    "PyTuple_GetItem", "PyTuple_GET_ITEM", "PySequence_Fast_GET_ITEM", "_PyDict_GetItem_KnownHash",
    "PyDict_GetItemRef", NULL};
/* Callees that accept NULL arguments: passing a maybe-NULL value is fine. */
static const char *const NULL_OK_PREFIX[] = {
    "Py_X", "PyErr_", "_PyErr_", "Py_BuildValue", "_Py_BuildValue", "Py_VaBuildValue", "PyArg_",
    "_PyArg_", "PyException_", "PyMem_", "PyObject_Free", "PyObject_GC_Del", "PyObject_CallFunction",
    "PyObject_CallMethod", "_PyObject_CallFunction", "_PyObject_CallMethod", "Py_Is",
    "PyModule_Add", NULL};

/* Whether NAME starts with one of the NULL-terminated prefixes in LIST. */
static int has_prefix_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strncmp(name, *list, strlen(*list)) == 0)
            return 1;
    return 0;
}

/* ---------- ownership events ---------- */

static void escape(struct state *S, int v)
{
    if (v >= 3)
        S->vals[v].flags |= VF_ESCAPED;
}

/* Values borrowed from container C become unusable once C changes. */
static void invalidate_borrowed(struct state *S, int c, unsigned line, const char *why)
{
    if (c < 3)
        return;
    for (int i = 3; i < S->nvals; i++) {
        struct val *w = &S->vals[i];
        if (w->container == c && w->owed <= 0 && w->ref == R_BORROWED && !(w->flags & VF_ESCAPED)) {
            w->flags |= VF_INVALID;
            w->evline = line;
            w->evwhat = why;
        }
    }
}

/* A use of V at CUR: reports borrowed-after-mutation once. */
static void use_val(struct fctx *F, struct state *S, int v, CXCursor cur)
{
    if (!tracked(S, v) || !(S->vals[v].flags & VF_INVALID))
        return;
    unsigned line, col;
    cursor_pos(cur, &line, &col);
    struct val *w = &S->vals[v];
    char note[256];
    snprintf(note, sizeof note, "'%s' is used after %s", vname(S, v), w->evwhat ? w->evwhat : "its container changed");
    report(F, S, FK_BORROWED_AFTER_MUTATION, FS_ERROR, line, col, v, w->api, note,
           "borrowed reference from %s() in '%s' is used after %s (line %u)", w->api ? w->api : "?",
           vname(S, v), w->evwhat ? w->evwhat : "its container changed", w->evline);
    escape(S, v);
}

/* A dereference of V: also reports a missing NULL check. */
static void deref_val(struct fctx *F, struct state *S, int v, CXCursor cur)
{
    use_val(F, S, v, cur);
    if (!tracked(S, v))
        return;
    struct val *w = &S->vals[v];
    if (w->nul == N_MAYBE && (w->flags & VF_CAN_NULL) && w->ref == R_NEW && w->var
        && !(w->flags & VF_UNSURE)) {
        unsigned line, col;
        cursor_pos(cur, &line, &col);
        char note[256];
        snprintf(note, sizeof note, "'%s' is used while it may be NULL", vname(S, v));
        report(F, S, FK_MISSING_NULL_CHECK, FS_ERROR, line, col, v, w->api, note,
               "result of %s() in '%s' may be NULL and is used without a check", w->api, vname(S, v));
        w->nul = N_NONNULL;
    }
}

/* Py_INCREF (X=0) or Py_XINCREF (X=1) of V at CUR: one more reference owed. */
static void incref(struct fctx *F, struct state *S, int v, int x, CXCursor cur)
{
    if (!tracked(S, v) || S->vals[v].kind != VK_OBJ)
        return;
    if (!x)
        deref_val(F, S, v, cur);
    else
        use_val(F, S, v, cur);
    if (!tracked(S, v) || S->vals[v].nul == N_NULL)
        return;
    S->vals[v].owed++;
}

/* Report KIND if fresh object V still has unset object fields when it is WHAT. */
static void check_fields_before(struct fctx *F, struct state *S, int v, CXCursor cur,
                                enum fnd_kind kind, const char *what);

/* Py_DECREF/Py_XDECREF (X) of V at CUR by API: reports decref-borrowed,
 * decref-after-steal and double-free when nothing is owed; V is untracked after a report. */
static void release(struct fctx *F, struct state *S, int v, int x, CXCursor cur, const char *api)
{
    if (!tracked(S, v) || S->vals[v].kind != VK_OBJ)
        return;
    struct val *w = &S->vals[v];
    if (w->nul == N_NULL)
        return;
    if (!x)
        deref_val(F, S, v, cur);
    else
        use_val(F, S, v, cur);
    if (!tracked(S, v))
        return;
    unsigned line, col;
    cursor_pos(cur, &line, &col);
    char note[256];
    if (w->owed > 0) {
        if (w->owed == 1 && (w->flags & VF_FRESH))
            check_fields_before(F, S, v, cur, FK_UNINITIALIZED_FIELD, "released (its tp_dealloc reads every field)");
        w->owed--;
        if (w->owed == 0) {
            w->flags |= VF_RELEASED;
            w->evline = line;
            w->evapi = api;
            invalidate_borrowed(S, v, line, "its container was released");
        }
        snprintf(note, sizeof note, "'%s' is released", vname(S, v));
        add_note(F, S, line, v, note);
        return;
    }
    if (w->flags & VF_SLOT) {
        /* code often takes a slot's reference back (replace-then-release): stay silent */
    } else if (w->flags & VF_STORED) {
        /* the field may not own it (back pointers, caches): stay silent */
    } else if (w->ref == R_NEW && (w->flags & VF_STOLEN)) {
        snprintf(note, sizeof note, "'%s' is released although the reference was handed over", vname(S, v));
        report(F, S, FK_DECREF_AFTER_STEAL, FS_ERROR, line, col, v, w->evapi, note,
               "reference in '%s' was handed to %s (line %u) and is released again by %s()",
               vname(S, v), w->evwhat ? w->evwhat : "a stealing call", w->evline, api);
    } else if (w->ref == R_NEW && (w->flags & VF_RELEASED)) {
        snprintf(note, sizeof note, "'%s' is released a second time", vname(S, v));
        report(F, S, FK_DOUBLE_FREE, FS_ERROR, line, col, v, w->api, note,
               "reference in '%s' from %s() is released twice (first at line %u)", vname(S, v),
               w->api, w->evline);
    } else if (w->ref == R_BORROWED) {
        snprintf(note, sizeof note, "'%s' is released but this function does not own it", vname(S, v));
        report(F, S, FK_DECREF_BORROWED, FS_ERROR, line, col, v, w->api, note,
               "%s() releases '%s', a borrowed reference from %s()", api, vname(S, v), w->api);
    }
    escape(S, v);
}

/* Filling slot(s) of container C: items borrowed from C (moved inside it)
 * and references earlier handed to C may now be owned by this function. */
static void slot_refill(struct state *S, int c)
{
    for (int i = 3; i < S->nvals; i++) {
        struct val *w = &S->vals[i];
        int unknown_owner = w->container < 0 && w->ref == R_BORROWED && w->api
                            && name_in(w->api, CONTAINER_GETTERS);
        if ((c >= 3 && w->container == c) || (c < 3 && unknown_owner))
            escape(S, i);
    }
}

/* V is handed to API, which steals it; INTO is the container it goes to (-1 if none). */
static void steal(struct fctx *F, struct state *S, int v, const char *api, CXCursor cur, int into)
{
    if (!tracked(S, v) || S->vals[v].kind != VK_OBJ)
        return;
    struct val *w = &S->vals[v];
    use_val(F, S, v, cur);
    if (!tracked(S, v) || w->nul == N_NULL)
        return;
    unsigned line, col;
    cursor_pos(cur, &line, &col);
    char note[256];
    if (w->owed > 0) {
        w->owed--;
        w->flags |= VF_STOLEN;
        w->evline = line;
        w->evapi = api;
        char what[128];
        snprintf(what, sizeof what, "%s()", api);
        w->evwhat = arena_str(F, what);
        snprintf(note, sizeof note, "%s() steals the reference in '%s'", api, vname(S, v));
        add_note(F, S, line, v, note);
        return;
    }
    /* items moved between slots of one container are fine: only report a
     * borrowed reference whose owner is known to differ from the target */
    int moved = w->api && name_in(w->api, CONTAINER_GETTERS)
                && (w->container < 0 || into < 0 || w->container == into);
    if (w->ref == R_BORROWED && !moved && !strstr(api, "SET_ITEM")) {
        snprintf(note, sizeof note, "%s() steals a reference this function does not own", api);
        report(F, S, FK_STORE_BORROWED, FS_ERROR, line, col, v, api, note,
               "borrowed reference from %s() in '%s' is given to %s(), which steals it", w->api,
               vname(S, v), api);
    }
    escape(S, v);
}

/* Ownership of V moves into the struct field FIELD described by WHAT. A
 * borrowed reference stored in a field the file never releases is not
 * followed further: such a field does not own what it holds. */
static void store_field(struct fctx *F, struct state *S, int v, const char *field, const char *what,
                        CXCursor cur)
{
    if (!tracked(S, v) || S->vals[v].kind != VK_OBJ)
        return;
    struct val *w = &S->vals[v];
    if (w->owed <= 0 && w->ref == R_BORROWED && F->fn->released && !rlf_has(F->fn->released, field)) {
        escape(S, v);
        return;
    }
    use_val(F, S, v, cur);
    if (!tracked(S, v) || w->nul == N_NULL)
        return;
    unsigned line, col;
    cursor_pos(cur, &line, &col);
    if (w->owed > 0 || w->ref == R_BORROWED) {
        w->owed--;
        w->flags |= VF_STORED;
        w->evline = line;
        w->evcol = col;
        w->evapi = NULL;
        w->evwhat = arena_str(F, what);
        char note[256];
        snprintf(note, sizeof note, "'%s' is stored in %s", vname(S, v), what);
        add_note(F, S, line, v, note);
        return;
    }
    escape(S, v);
}

/* Report KIND if fresh object V still has unset object fields when it is WHAT. */
static void check_fields_before(struct fctx *F, struct state *S, int v, CXCursor cur,
                                enum fnd_kind kind, const char *what)
{
    struct val *w = &S->vals[v];
    if (!(w->flags & VF_FRESH) || w->sinfo < 0 || !w->unset || w->nul == N_NULL)
        return;
    const struct sinfo *si = &F->sinfos[w->sinfo];
    int first = __builtin_ctzll(w->unset);
    unsigned line, col;
    cursor_pos(cur, &line, &col);
    char note[256];
    snprintf(note, sizeof note, "'%s' is %s while field '%s' is unset", vname(S, v), what, si->fields[first]);
    report(F, S, kind, FS_ERROR, line, col, v, w->api, note,
           "'%s' from %s() is %s before its field '%s' is set", vname(S, v), w->api, what, si->fields[first]);
    w->unset = 0;
}

/* ---------- calls ---------- */

static enum alloc alloc_family(const char *n, int *is_free)
{
    static const struct { const char *name; enum alloc fam; int free; } tab[] = {
        {"malloc", AL_LIBC, 0}, {"calloc", AL_LIBC, 0}, {"realloc", AL_LIBC, 0},
        {"strdup", AL_LIBC, 0}, {"strndup", AL_LIBC, 0}, {"free", AL_LIBC, 1},
        {"PyMem_Malloc", AL_PYMEM, 0}, {"PyMem_Calloc", AL_PYMEM, 0}, {"PyMem_Realloc", AL_PYMEM, 0},
        {"PyMem_Free", AL_PYMEM, 1}, {"PyMem_RawMalloc", AL_RAW, 0}, {"PyMem_RawCalloc", AL_RAW, 0},
        {"PyMem_RawRealloc", AL_RAW, 0}, {"PyMem_RawFree", AL_RAW, 1},
        {"PyObject_Malloc", AL_PYOBJ, 0}, {"PyObject_Calloc", AL_PYOBJ, 0},
        {"PyObject_Realloc", AL_PYOBJ, 0}, {"PyObject_Free", AL_PYOBJ, 1},
        {"PyObject_GC_Del", AL_GC, 1},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        if (strcmp(n, tab[i].name) == 0) {
            *is_free = tab[i].free;
            return tab[i].fam;
        }
    }
    return AL_NONE;
}

/* Human name of an allocator family for messages. */
static const char *alloc_name(enum alloc a)
{
    switch (a) {
    case AL_LIBC: return "malloc()/free()";
    case AL_PYMEM: return "PyMem_Malloc()/PyMem_Free()";
    case AL_RAW: return "PyMem_RawMalloc()/PyMem_RawFree()";
    case AL_PYOBJ: return "PyObject_Malloc()/PyObject_Free()";
    case AL_GC: return "PyObject_GC_New()/PyObject_GC_Del()";
    default: return "?";
    }
}

static int ev(struct fctx *F, struct state *S, CXCursor c);

/* Change the exception state for a reason other than a call's tested outcome. */
static void set_exc(struct state *S, unsigned char e)
{
    S->exc = e;
    S->excgen++;
}

/* A result that tells, when tested, whether the call failed. Call it after
 * the call's own effect on the exception state. */
static void set_excinfo(struct state *S, int r, unsigned char before, unsigned char on_fail)
{
    if (r < 3)
        return;
    S->vals[r].excgen = S->excgen + 1;
    S->vals[r].flags |= VF_EXCINFO;
    S->vals[r].exc_prev = before;
    S->vals[r].exc_fail = on_fail;
}

/* A fresh value for the result of CALL to API (may be NULL until tested). */
static int new_result(struct fctx *F, struct state *S, CXCursor call, enum vkind kind, const char *api)
{
    int r = new_val(F, S, kind);
    if (r >= 0) {
        cursor_pos(call, &S->vals[r].line, &S->vals[r].col);
        S->vals[r].api = api;
        S->vals[r].nul = N_MAYBE;
        if (clang_getCanonicalType(clang_getCursorType(call)).kind == CXType_Pointer)
            S->vals[r].flags |= VF_PTR;
        if (cxu_in_macro(call))
            S->vals[r].flags |= VF_INMACRO;
    }
    return r;
}

/* Address-of-local arguments: the callee may write them. */
static int addr_var(struct fctx *F, CXCursor arg)
{
    CXCursor s = cxu_strip(arg);
    if (clang_getCursorKind(s) != CXCursor_UnaryOperator || cxu_op(F->u, s) != OP_ADDR)
        return -1;
    return expr_var(F, cxu_child(s, 0));
}

/* The format string literal of a Py_BuildValue-like call at or after FROM. */
static char *format_arg(CXCursor call, int from, int *pos)
{
    int n = clang_Cursor_getNumArguments(call);
    for (int i = from; i < n && i <= from + 2; i++) {
        CXCursor a = cxu_strip(clang_Cursor_getArgument(call, i));
        if (clang_getCursorKind(a) == CXCursor_StringLiteral) {
            *pos = i;
            return cxu_take(clang_getCursorSpelling(a));
        }
    }
    return NULL;
}

/* Walk a Py_BuildValue format: call FN(unit, first_arg_index) per unit. Returns args used. */
static int walk_build_format(const char *fmt, int first, int *steal_idx, int maxsteal, int *nsteal)
{
    int arg = first;
    *nsteal = 0;
    for (const char *p = fmt; *p; p++) {
        char ch = *p;
        if (strchr("\"()[]{}:, \t", ch))
            continue;
        if (ch == 'N' && *nsteal < maxsteal)
            steal_idx[(*nsteal)++] = arg;
        if (p[1] == '#' || p[1] == '&') {
            arg += 2;
            p++;
        } else {
            arg++;
        }
    }
    return arg;
}

/* PyArg_ParseTuple-style format: mark which output args receive borrowed objects. */
static void parse_format_outputs(const char *fmt, int first, int n, char *borrowed)
{
    int arg = first;
    for (const char *p = fmt; *p && arg < n; p++) {
        char ch = *p;
        if (ch == ':' || ch == ';')
            break;
        if (strchr("\"()|$ ", ch))
            continue;
        if (ch == 'O' && p[1] == '!') {
            borrowed[arg + 1] = 1;
            arg += 2;
            p++;
        } else if (ch == 'O' && p[1] == '&') {
            arg += 2;
            p++;
        } else if (ch == 'O' || ch == 'S' || ch == 'U' || ch == 'Y') {
            borrowed[arg] = 1;
            arg++;
        } else if (p[1] == '#') {
            arg += 2;
            p++;
        } else if (p[1] == '*' || p[1] == '&') {
            arg++;
            p++;
        } else if (ch == 'e') {
            arg += (p[2] == '#') ? 3 : 2;
            p += (p[2] == '#') ? 2 : 1;
        } else {
            arg++;
        }
    }
}

static void bind(struct fctx *F, struct state *S, int var, int v, CXCursor where);

/* VAR receives a borrowed reference through an out-pointer of CALL. */
static void bind_borrowed_output(struct fctx *F, struct state *S, int var, const char *api,
                                 int container, CXCursor call, unsigned flags)
{
    int r = new_result(F, S, call, VK_OBJ, api);
    if (r < 0)
        return;
    S->vals[r].ref = R_BORROWED;
    S->vals[r].nul = N_NONNULL;
    S->vals[r].flags |= flags;
    S->vals[r].container = container;
    bind(F, S, var, r, call);
}

/* Callees that cannot raise a Python exception: C library functions. */
static int decl_is_system(CXCursor call)
{
    CXCursor ref = clang_getCursorReferenced(call);
    if (clang_Cursor_isNull(ref) || clang_getCursorKind(ref) != CXCursor_FunctionDecl)
        return 0;
    CXSourceLocation l = clang_getCursorLocation(ref);
    if (clang_Location_isFromMainFile(l))
        return 0;
    if (!clang_Location_isInSystemHeader(l))
        return 0;
    CXFile f;
    unsigned line, col, off;
    clang_getSpellingLocation(l, &f, &line, &col, &off);
    char *fn = cxu_take(clang_getFileName(f));
    int py = strstr(fn, "python") != NULL || strstr(fn, "Python") != NULL || strstr(fn, "Include") != NULL;
    free(fn);
    return !py;
}

/* Whether CALL never returns (abort, Py_FatalError, noreturn attribute). */
static int callee_noreturn(CXCursor call, const char *name)
{
    if (name && name_in(name, NORETURN))
        return 1;
    CXCursor ref = clang_getCursorReferenced(call);
    if (clang_Cursor_isNull(ref))
        return 0;
    char *t = cxu_take(clang_getTypeSpelling(clang_getCursorType(ref)));
    int nr = strstr(t, "noreturn") != NULL;
    free(t);
    return nr;
}

/* malloc/PyMem/PyObject allocator or free call: family checks, double free. */
static int ev_alloc_call(struct fctx *F, struct state *S, CXCursor call, const char *name,
                         int *argv, int nargs, enum alloc fam, int is_free)
{
    if (is_free) {
        int v = nargs ? argv[0] : -1;
        if (!tracked(S, v))
            return -1;
        struct val *w = &S->vals[v];
        unsigned line, col;
        cursor_pos(call, &line, &col);
        if (w->alloc != AL_NONE && w->alloc != fam) {
            char note[256];
            snprintf(note, sizeof note, "'%s' is released with %s()", vname(S, v), name);
            report(F, S, FK_ALLOCATOR_MISMATCH, FS_ERROR, line, col, v, name, note,
                   "'%s' was allocated by %s() but is released with %s() (%s family expected)",
                   vname(S, v), w->api, name, alloc_name(w->alloc));
            escape(S, v);
            return -1;
        }
        if (w->kind == VK_MEM) {
            if (w->flags & VF_FREED) {
                char note[256];
                snprintf(note, sizeof note, "'%s' is freed a second time", vname(S, v));
                report(F, S, FK_DOUBLE_FREE, FS_ERROR, line, col, v, name, note,
                       "memory in '%s' from %s() is freed twice (first at line %u)", vname(S, v),
                       w->api, w->evline);
                escape(S, v);
            } else {
                w->flags |= VF_FREED;
                w->evline = line;
            }
        } else {
            escape(S, v);
        }
        return -1;
    }
    if (strstr(name, "realloc") || strstr(name, "Realloc")) {
        int old = nargs ? argv[0] : -1;
        if (tracked(S, old) && S->vals[old].alloc != AL_NONE && S->vals[old].alloc != fam) {
            unsigned line, col;
            cursor_pos(call, &line, &col);
            report(F, S, FK_ALLOCATOR_MISMATCH, FS_ERROR, line, col, old, name, NULL,
                   "'%s' was allocated by %s() but is resized with %s()", vname(S, old),
                   S->vals[old].api, name);
        }
        escape(S, old);
    }
    int r = new_result(F, S, call, VK_MEM, name);
    if (r >= 0)
        S->vals[r].alloc = fam;
    return r;
}

/* PyObject_New-like allocation: a new reference, fields unset when FRESH. */
static int ev_object_new(struct fctx *F, struct state *S, CXCursor call, const char *name, int fresh,
                         enum alloc fam)
{
    unsigned char before = S->exc;
    int r = new_result(F, S, call, VK_OBJ, name);
    if (r < 0)
        return r;
    struct val *w = &S->vals[r];
    w->ref = R_NEW;
    w->owed = 1;
    w->flags |= VF_CAN_NULL | (fresh ? VF_FRESH : 0);
    w->alloc = fam;
    set_excinfo(S, r, before, E_SET);
    set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
    return r;
}

/* Py_BuildValue-style call: the values given to "N" units are stolen. When the
 * format cannot be matched to the arguments every object argument is untracked. */
static void ev_buildvalue(struct fctx *F, struct state *S, CXCursor call, const char *name, int *argv,
                          int nargs, int fmt_from)
{
    int pos;
    char *fmt = format_arg(call, fmt_from, &pos);
    if (!fmt) {
        for (int i = 0; i < nargs; i++)
            escape(S, argv[i]);
        return;
    }
    int idx[32], ns;
    int used = walk_build_format(fmt, pos + 1, idx, 32, &ns);
    free(fmt);
    if (used != nargs) {
        /* the format and the arguments disagree: do not guess */
        for (int i = 0; i < nargs; i++)
            escape(S, argv[i]);
        return;
    }
    for (int i = 0; i < ns; i++)
        if (idx[i] < nargs)
            steal(F, S, argv[idx[i]], name, call, -1);
}

/* PyArg_Parse* family: bind the output variables (borrowed for O/S/U/Y units). */
static void ev_argparse(struct fctx *F, struct state *S, CXCursor call, const char *name, int nargs)
{
    char borrowed[64] = {0};
    int unpack = strstr(name, "UnpackTuple") || strstr(name, "UnpackStack")
                 || strstr(name, "UnpackKeywords");
    if (unpack) {
        for (int i = 0; i < nargs && i < 64; i++)
            borrowed[i] = 1;
    } else {
        int pos;
        char *fmt = format_arg(call, 1, &pos);
        if (fmt) {
            int first = pos + 1;
            if (strstr(name, "Keywords"))
                first++;   /* the keyword-name list follows the format */
            parse_format_outputs(fmt, first, nargs < 64 ? nargs : 64, borrowed);
            free(fmt);
        }
    }
    for (int i = 0; i < nargs && i < 64; i++) {
        CXCursor a = clang_Cursor_getArgument(call, i);
        int var = addr_var(F, a);
        if (var < 0)
            continue;
        if (borrowed[i] && cxu_is_object_ptr(clang_getCursorType(F->vars[var].decl)))
            bind_borrowed_output(F, S, var, name, -1, call, VF_PARSED);
        else
            bind(F, S, var, -1, call);
    }
}

/* A call to a documented C API function: argument uses, steals, container
 * changes, out-pointers and the result with its failure semantics. */
/* Whether a slot setter (container, index, item) cannot fail: the container
 * is a new one this function still solely owns, made with a known number
 * of slots (API_FACT_SIZE_ARG), and the index is a constant inside it. */
static int slot_in_range(const struct state *S, const int *argv, int nargs)
{
    if (nargs != 3 || !tracked(S, argv[0]) || !is_const(S, argv[1]))
        return 0;
    const struct val *c = &S->vals[argv[0]];
    long long i = S->vals[argv[1]].cval;
    return (c->flags & VF_SIZED) && c->ref == R_NEW && c->owed == 1 && i >= 0 && i < c->cval;
}

static int ev_api_call(struct fctx *F, struct state *S, CXCursor call, const char *name,
                       const struct api_entry *api, int *argv, int nargs)
{
    int stolen[16] = {0};
    for (int i = 0; i < nargs && i < 16; i++)
        stolen[i] = (api->steals >> i) & 1;
    int size_arg;
    unsigned facts = api_facts(name, &size_arg);
    int null_ok = has_prefix_in(name, NULL_OK_PREFIX) || strstr(name, "ObjArgs") != NULL
                  || (facts & API_FACT_NULL_FALSE);
    int sure = (facts & API_FACT_SLOT_SET) && slot_in_range(S, argv, nargs);
    for (int i = 0; i < nargs; i++) {
        if (!tracked(S, argv[i]))
            continue;
        if (!null_ok && !stolen[i])
            deref_val(F, S, argv[i], call);
        else
            use_val(F, S, argv[i], call);
    }
    int slot_macro = strstr(name, "SET_ITEM") != NULL;
    if (slot_macro && nargs > 0)
        slot_refill(S, argv[0]);
    for (int i = 0; i < nargs && i < 16; i++) {
        if (!stolen[i])
            continue;
        if (slot_macro && tracked(S, argv[i]) && S->vals[argv[i]].owed > 0) {
            steal(F, S, argv[i], name, call, argv[0]);
            S->vals[argv[i]].flags |= VF_SLOT;
            S->vals[argv[i]].container = nargs > 0 ? argv[0] : -1;
        } else if (api->flags & API_STEAL_ON_SUCCESS)
            escape(S, argv[i]);   /* steals only on success: outcome unknown here */
        else
            steal(F, S, argv[i], name, call, nargs > 0 ? argv[0] : -1);
    }
    if (name_in(name, MUTATORS) && nargs > 0) {
        char why[128];
        snprintf(why, sizeof why, "%s() changed its container", name);
        invalidate_borrowed(S, argv[0], cxu_line(call), arena_str(F, why));
    }
    for (int i = 0; i < nargs; i++) {
        int var = addr_var(F, clang_Cursor_getArgument(call, i));
        if (var >= 0) {
            escape(S, S->bind[var]);   /* e.g. _PyBytes_Resize(&obj, n) replaces it */
            bind(F, S, var, -1, call);
        }
    }
    /* an object passed where the API expects a plain pointer (void *arg) is kept by the callee */
    CXCursor decl = clang_getCursorReferenced(call);
    int nparams = clang_Cursor_isNull(decl) ? -1 : clang_Cursor_getNumArguments(decl);
    for (int i = 0; i < nargs; i++) {
        if (!tracked(S, argv[i]) || S->vals[argv[i]].kind != VK_OBJ)
            continue;
        if (i >= nparams || !cxu_is_object_ptr(clang_getCursorType(clang_Cursor_getArgument(decl, i))))
            if (!(nparams >= 0 && i >= nparams && strstr(name, "ObjArgs")))
                escape(S, argv[i]);
    }
    if (sure)
        return const_val(F, S, 0);
    unsigned char before = S->exc;
    /* by C API convention a failing call leaves an exception set */
    int sets = (api->flags & API_SETS_EXC) != 0 && !(api->flags & API_NO_FAIL);
    if (api->ret == API_RET_NULL) {
        set_exc(S, E_SET);
        return 0;
    }
    int r;
    if (api->ret == API_RET_NEW || api->ret == API_RET_BORROWED) {
        r = new_result(F, S, call, VK_OBJ, name);
        if (r < 0)
            return r;
        struct val *w = &S->vals[r];
        w->ref = api->ret == API_RET_NEW ? R_NEW : R_BORROWED;
        w->owed = api->ret == API_RET_NEW;
        if (api->flags & API_CAN_NULL)
            w->flags |= VF_CAN_NULL;
        else
            w->nul = N_NONNULL;
        int size = size_arg >= 0 && size_arg < nargs && is_const(S, argv[size_arg])
                   ? (int)S->vals[argv[size_arg]].cval : -1;
        if ((facts & API_FACT_SIZE_ARG) && size >= 0) {
            w->flags |= VF_SIZED;
            w->cval = size;
        }
        if ((facts & API_FACT_ZERO_NO_FAIL) && size == 0) {
            w->flags &= ~VF_CAN_NULL;
            w->nul = N_NONNULL;
            return r;
        }
        if (api->ret == API_RET_BORROWED && name_in(name, CONTAINER_GETTERS) && nargs > 0)
            w->container = argv[0];
    } else {
        r = new_result(F, S, call, (api->flags & API_RET_INT) ? VK_INT : VK_UNK, name);
        if (r < 0)
            return r;
        if (api->flags & API_NEG_FAIL)
            S->vals[r].flags |= VF_NEG_FAIL;
        if ((facts & API_FACT_NULL_FALSE) && nargs > 0 && argv[0] >= 3)
            S->vals[r].guard = argv[0];
        if ((api->flags & API_NO_FAIL) && (strstr(name, "_GET_SIZE") || strstr(name, "_GET_LENGTH"))) {
            S->vals[r].flags |= VF_RANGE;   /* an unchecked size is never negative */
            S->vals[r].lo = 0;
            S->vals[r].hi = LLONG_MAX;
        }
    }
    if (sets) {
        set_excinfo(S, r, before, E_SET);
        set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
    }
    return r;
}

/* A call to anything else: object arguments stop being followed (the callee
 * may keep or release them) and the exception state becomes "maybe". */
static int ev_unknown_call(struct fctx *F, struct state *S, CXCursor call, const char *name,
                           int *argv, int nargs)
{
    int sys = decl_is_system(call);
    int steals = name && (strstr(name, "Steal") || strstr(name, "steal"));
    for (int i = 0; i < nargs; i++) {
        int v = argv[i];
        if (!tracked(S, v))
            continue;
        use_val(F, S, v, call);
        if (!tracked(S, v))
            continue;
        S->vals[v].unset = 0;   /* a helper may initialise the fields */
        /* A helper may keep or release a reference the caller owns: stop
         * following it. A borrowed one stays borrowed whatever the helper
         * does with it: the caller still may not release it. */
        int borrowed = S->vals[v].ref == R_BORROWED && S->vals[v].owed <= 0;
        if ((steals || !sys) && !(borrowed && !steals))
            escape(S, v);
    }
    for (int i = 0; i < nargs; i++) {
        int var = addr_var(F, clang_Cursor_getArgument(call, i));
        if (var >= 0) {
            escape(S, S->bind[var]);
            bind(F, S, var, -1, call);
        }
    }
    unsigned char before = S->exc;
    int r = new_result(F, S, call, VK_UNK, name);
    if (!sys) {
        set_excinfo(S, r, before, E_MAYBE);
        set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
    }
    return r;
}

/* "var->field" for a member access on a local variable, else NULL (malloc'd). */
static char *member_text(CXCursor m)
{
    m = cxu_strip(m);
    if (clang_getCursorKind(m) != CXCursor_MemberRefExpr)
        return NULL;
    CXCursor base = cxu_strip(cxu_child(m, 0));
    if (clang_getCursorKind(base) != CXCursor_DeclRefExpr)
        return NULL;
    char *b = cxu_take(clang_getCursorSpelling(base));
    char *f = cxu_take(clang_getCursorSpelling(m));
    char *t = fnd_xasprintf("%s->%s", b, f);
    free(b);
    free(f);
    return t;
}

/* Hash of a member expression's text, the key of a remembered test outcome. */
static uint64_t text_key(const char *t)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *t; t++)
        h = (h ^ (unsigned char)*t) * 1099511628211ULL;
    return h;
}

/* Drop every remembered "var->field" test outcome. */
static void forget_facts(struct state *S)
{
    S->nfacts = 0;
}

/* The dependency bit of a field text hashed to KEY, or of local number KEY. */
static uint64_t fact_bit(uint64_t key)
{
    return 1ULL << (key % 64);
}

/* Values set from a condition reading the fields FBIT or locals VBIT no
 * longer stand for what that condition's text now means. */
static void forget_cond_values(struct state *S, uint64_t fbit, uint64_t vbit)
{
    if (!S->ncond)
        return;
    for (int i = 3; i < S->nvals; i++)
        if ((S->vals[i].cfdeps & fbit) || (S->vals[i].cvdeps & vbit))
            S->vals[i].ckey = 0;
}

/* Drop the remembered outcomes that read the field hashed to KEY (after a
 * store to it); a false match only forgets more. */
static void forget_fact(struct state *S, uint64_t key)
{
    for (int i = 0; i < S->nfacts; i++)
        if (S->facts[i].key == key || (S->facts[i].fdeps & fact_bit(key)))
            S->facts[i--] = S->facts[--S->nfacts];
    forget_cond_values(S, fact_bit(key), 0);
}

/* Drop the remembered outcomes that read local VAR (it gets a new value). */
static void forget_var_facts(struct state *S, int var)
{
    for (int i = 0; i < S->nfacts; i++)
        if (S->facts[i].vdeps & fact_bit((uint64_t)var))
            S->facts[i--] = S->facts[--S->nfacts];
    forget_cond_values(S, 0, fact_bit((uint64_t)var));
}

/* The test with fact key KEY (reading the fields and locals FDEPS, VDEPS) has outcome NONZERO:
 * consistent with what this path already learned (returns 0 when not), and
 * remembered. Facts survive calls: a helper that changes the field only
 * makes the analysis skip a path. */
static int key_fact(struct state *S, uint64_t key, uint64_t fdeps, uint64_t vdeps, int nonzero)
{
    for (int i = 0; i < S->nfacts; i++)
        if (S->facts[i].key == key)
            return S->facts[i].nonzero == nonzero;
    if (S->nfacts < 16) {
        S->facts[S->nfacts].key = key;
        S->facts[S->nfacts].fdeps = fdeps;
        S->facts[S->nfacts].vdeps = vdeps;
        S->facts[S->nfacts].nonzero = (unsigned char)nonzero;
        S->nfacts++;
    }
    return 1;
}

/* What the path learned about the test with fact KEY: 1 nonzero, 0 zero, -1 nothing. */
static int known_fact(const struct state *S, uint64_t key)
{
    for (int i = 0; i < S->nfacts; i++)
        if (S->facts[i].key == key)
            return S->facts[i].nonzero;
    return -1;
}

/* A test of "var->field" against zero: see key_fact. */
static int member_fact(struct state *S, CXCursor m, int nonzero)
{
    char *t = member_text(m);
    if (!t)
        return 1;
    uint64_t key = text_key(t);
    free(t);
    return key_fact(S, key, fact_bit(key), 0, nonzero);
}

/* Whether unary operator C takes an address (its type points to its
 * operand's): how "&" reads inside a macro body such as Py_None, where the
 * operator text is not at hand. */
static int address_of(CXCursor c)
{
    CXType rt = clang_getCanonicalType(clang_getCursorType(c));
    CXType ot = clang_getCanonicalType(clang_getCursorType(cxu_child(c, 0)));
    return rt.kind == CXType_Pointer && clang_equalTypes(clang_getCanonicalType(clang_getPointeeType(rt)), ot);
}

struct pure_acc {
    struct fctx *F;
    uint64_t fdeps, vdeps;
    int impure;
};

/* Visitor of cond_key: a side-effect-free operand reads only locals, fields,
 * addresses and constants; their names go into the dependency bits. */
static enum CXChildVisitResult pure_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    struct pure_acc *a = data;
    enum CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_MemberRefExpr) {
        char *t = member_text(c);
        if (t)
            a->fdeps |= fact_bit(text_key(t));
        free(t);
    } else if (k == CXCursor_DeclRefExpr) {
        int var = expr_var(a->F, c);
        if (var >= 0)
            a->vdeps |= fact_bit((uint64_t)var);
    } else if (k == CXCursor_UnaryOperator) {
        enum cxu_op op = cxu_op(a->F->u, c);
        a->impure |= op != OP_ADDR && op != OP_DEREF && op != OP_NOT && op != OP_NEG && !address_of(c);
    } else if (k != CXCursor_ParenExpr && k != CXCursor_UnexposedExpr && k != CXCursor_CStyleCastExpr
               && k != CXCursor_IntegerLiteral && k != CXCursor_CharacterLiteral) {
        a->impure = 1;
    }
    return a->impure ? CXChildVisit_Break : CXChildVisit_Recurse;
}

/* Fact key of COND, an == or != test of side-effect-free operands written
 * in the file (not a macro body): the key of its text read as "==", so
 * that "a != b" and "a == b" share it; *NEG is set when COND is true
 * exactly when that text is false, DEPS[0] and DEPS[1] to the fields and
 * locals it reads. Returns 0 for any other condition. */
static uint64_t cond_key(struct fctx *F, CXCursor cond, int *neg, uint64_t deps[2])
{
    CXCursor c = cxu_strip(cond);
    if (clang_getCursorKind(c) != CXCursor_BinaryOperator || cxu_in_macro(c))
        return 0;
    enum cxu_op op = cxu_op(F->u, c);
    if (op != OP_EQ && op != OP_NE)
        return 0;
    struct pure_acc acc = {F, 0, 0, 0};
    clang_visitChildren(c, pure_visit, &acc);
    char *t = cxu_text(F->u, c, 200);
    char *ne = strstr(t, " != ");
    if (ne)
        memcpy(ne, " == ", 4);
    uint64_t key = acc.impure || !*t || (ne && strstr(ne + 4, " != ")) ? 0 : text_key(t);
    free(t);
    *neg = op == OP_NE;
    deps[0] = acc.fdeps;
    deps[1] = acc.vdeps;
    return key;
}

/* The int a condition on untracked memory evaluates to, remembered with
 * the condition's fact key so that later tests of the local it lands in and
 * of the condition itself agree. The constant when the path already knows
 * the outcome; -1 when COND has no fact key. */
static int cond_value(struct fctx *F, struct state *S, CXCursor cond)
{
    int neg;
    uint64_t deps[2];
    uint64_t key = cond_key(F, cond, &neg, deps);
    if (!key)
        return -1;
    int known = known_fact(S, key);
    if (known >= 0)
        return const_val(F, S, known != neg);
    int v = new_val(F, S, VK_INT);
    if (v >= 0) {
        S->vals[v].ckey = key;
        S->vals[v].cfdeps = deps[0];
        S->vals[v].cvdeps = deps[1];
        S->vals[v].cneg = (unsigned char)neg;
        S->ncond = 1;
        S->vals[v].nul = N_MAYBE;
    }
    return v;
}

/* A test of COND with outcome TRUTH where its operands are untracked:
 * consistent with the path's facts (returns 0 when not), and remembered. */
static int cond_fact(struct fctx *F, struct state *S, CXCursor cond, int truth)
{
    int neg;
    uint64_t deps[2];
    uint64_t key = cond_key(F, cond, &neg, deps);
    return key ? key_fact(S, key, deps[0], deps[1], truth != neg) : 1;
}

/* Py_INCREF(self->x) right after "self->x = v": the new reference is v's. */
static void incref_field(struct fctx *F, struct state *S, CXCursor arg)
{
    char *t = member_text(arg);
    if (!t)
        return;
    for (int i = 3; i < S->nvals; i++) {
        struct val *w = &S->vals[i];
        if ((w->flags & VF_STORED) && !(w->flags & VF_ESCAPED) && w->evwhat && strcmp(w->evwhat, t) == 0) {
            w->owed++;
            break;
        }
    }
    free(t);
}

/* Evaluate a call expression; returns the value of its result or -1. */
static int ev_call(struct fctx *F, struct state *S, CXCursor call)
{
    char *name = cxu_callee(call);
    int nargs = clang_Cursor_getNumArguments(call);
    if (nargs < 0)
        nargs = 0;
    int *argv = fnd_xmalloc((nargs + 1) * sizeof *argv);
    for (int i = 0; i < nargs; i++) {
        CXCursor a = clang_Cursor_getArgument(call, i);
        argv[i] = addr_var(F, a) >= 0 ? -1 : ev(F, S, a);
    }
    int r = -1;
    const char *iname = name ? arena_str(F, name) : "(indirect call)";
    const char *shown = cxu_macro_at(F->u, call);
    if (name && shown && strcmp(shown, name) != 0 && (strncmp(shown, "Py", 2) == 0)
        && strstr(name, shown + 2))
        iname = arena_str(F, shown);   /* e.g. PyObject_New for _PyObject_New */
    int last = nargs ? argv[nargs - 1] : -1;
    int is_free = 0;
    enum alloc fam = name ? alloc_family(name, &is_free) : AL_NONE;
    const struct api_entry *api = name ? api_lookup(name) : NULL;
    if (S->dead) {
        r = -1;
    } else if (callee_noreturn(call, name)) {
        S->dead = 1;
    } else if (!name) {
        r = ev_unknown_call(F, S, call, NULL, argv, nargs);
    } else if (name_in(name, INCREFS) || name_in(name, XINCREFS)) {
        if (last < 0 && nargs > 0)
            incref_field(F, S, clang_Cursor_getArgument(call, nargs - 1));
        incref(F, S, last, name_in(name, XINCREFS), call);
    } else if (name_in(name, DECREFS) || name_in(name, XDECREFS)) {
        release(F, S, last, name_in(name, XDECREFS), call, name[0] == '_' ? name + 1 : name);
    } else if (name_in(name, NEWREFS)) {
        incref(F, S, last, name[1] == 'X' || name[2] == 'X', call);
        r = last;
    } else if (name_in(name, DEREFS)) {
        if (nargs)
            deref_val(F, S, argv[0], call);
    } else if (strcmp(name, "PyErr_Occurred") == 0) {
        r = new_result(F, S, call, VK_INT, iname);
        if (r >= 0)
            S->vals[r].flags |= VF_ERRQ;
    } else if (name_in(name, ERR_CLEAR)) {
        set_exc(S, E_NONE);
        for (int i = 0; i < nargs; i++) {
            int var = addr_var(F, clang_Cursor_getArgument(call, i));
            if (var >= 0)
                bind(F, S, var, -1, call);
        }
    } else if (fam != AL_NONE) {
        r = ev_alloc_call(F, S, call, iname, argv, nargs, fam, is_free);
    } else if (strcmp(name, "_PyObject_New") == 0 || strcmp(name, "_PyObject_NewVar") == 0) {
        r = ev_object_new(F, S, call, iname, 1, AL_PYOBJ);
    } else if (strcmp(name, "_PyObject_GC_New") == 0 || strcmp(name, "_PyObject_GC_NewVar") == 0) {
        r = ev_object_new(F, S, call, iname, 1, AL_GC);
    } else if (strcmp(name, "tp_alloc") == 0 || strcmp(name, "PyType_GenericAlloc") == 0) {
        r = ev_object_new(F, S, call, iname, 0, AL_NONE);
    } else if (strcmp(name, "PyObject_GC_Track") == 0 || strcmp(name, "_PyObject_GC_TRACK") == 0) {
        if (tracked(S, last))
            check_fields_before(F, S, last, call, FK_GC_TRACKED_UNINITIALIZED, "tracked by the GC");
    } else if (strncmp(name, "PyArg_", 6) == 0 || strncmp(name, "_PyArg_", 7) == 0) {
        unsigned char before = S->exc;
        ev_argparse(F, S, call, iname, nargs);
        r = new_result(F, S, call, VK_INT, iname);
        if (r >= 0 && !strstr(name, "NoKeywords") && !strstr(name, "NoPositional")
            && !strstr(name, "BadArgument"))
            S->vals[r].flags |= VF_ZERO_FAIL;
        set_excinfo(S, r, before, E_SET);
        set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
    } else if (strcmp(name, "PyDict_Next") == 0 && nargs == 4) {
        for (int i = 2; i < 4; i++) {
            int var = addr_var(F, clang_Cursor_getArgument(call, i));
            if (var >= 0)
                bind_borrowed_output(F, S, var, iname, argv[0], call, 0);
        }
        int var = addr_var(F, clang_Cursor_getArgument(call, 1));
        if (var >= 0)
            bind(F, S, var, -1, call);
        r = new_result(F, S, call, VK_INT, iname);
    } else if (strstr(name, "BuildValue") || strncmp(name, "PyObject_CallFunction", 21) == 0
               || strncmp(name, "_PyObject_CallFunction", 22) == 0
               || strncmp(name, "PyObject_CallMethod", 19) == 0
               || strncmp(name, "_PyObject_CallMethod", 20) == 0) {
        int from = strstr(name, "BuildValue") ? 0 : strstr(name, "CallMethod") ? 2 : 1;
        if (strstr(name, "ObjArgs")) {
            for (int i = 0; i < nargs; i++)
                use_val(F, S, argv[i], call);
        } else {
            ev_buildvalue(F, S, call, iname, argv, nargs, from);
        }
        unsigned char before = S->exc;
        r = new_result(F, S, call, VK_OBJ, iname);
        if (r >= 0) {
            S->vals[r].ref = R_NEW;
            S->vals[r].owed = 1;
            S->vals[r].flags |= VF_CAN_NULL;
            set_excinfo(S, r, before, E_SET);
            set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
        }
    } else if (api) {
        if (strncmp(name, "PyErr_", 6) == 0 && api->ret != API_RET_NULL
            && (strncmp(name, "PyErr_Set", 9) == 0 || strncmp(name, "PyErr_Format", 12) == 0
                || strcmp(name, "PyErr_NoMemory") == 0 || strncmp(name, "PyErr_Bad", 9) == 0)) {
            ev_api_call(F, S, call, name, api, argv, nargs);
            set_exc(S, E_SET);
            r = -1;
        } else if (strcmp(name, "PyErr_Restore") == 0) {
            ev_api_call(F, S, call, name, api, argv, nargs);
            set_exc(S, E_MAYBE);
        } else {
            r = ev_api_call(F, S, call, iname, api, argv, nargs);
        }
    } else if (strncmp(name, "_PyErr_Set", 10) == 0 || strncmp(name, "_PyErr_Format", 13) == 0
               || strcmp(name, "_PyErr_BadInternalCall") == 0) {
        set_exc(S, E_SET);
    } else {
        r = ev_unknown_call(F, S, call, iname, argv, nargs);
    }
    free(argv);
    free(name);
    return r;
}

/* ---------- expressions ---------- */

static void bind(struct fctx *F, struct state *S, int var, int v, CXCursor where)
{
    if (var < 0)
        return;
    forget_var_facts(S, var);
    if (v < 0) {
        v = new_val(F, S, VK_UNK);
        if (v < 0)
            return;
    }
    S->bind[var] = v;
    struct val *w = &S->vals[v];
    if (v < 3 || w->var)
        return;
    w->var = F->vars[var].name;
    if (w->kind != VK_OBJ && w->kind != VK_MEM)
        return;
    if ((w->flags & VF_FRESH) && w->sinfo < 0) {
        w->sinfo = sinfo_for(F, clang_getCursorType(F->vars[var].decl));
        if (w->sinfo >= 0) {
            int n = F->sinfos[w->sinfo].nfields;
            w->unset = n >= 64 ? ~0ULL : ((1ULL << n) - 1);
        } else {
            w->flags &= ~VF_FRESH;
        }
    }
    if (!w->api || (w->kind == VK_OBJ && w->ref == R_NONE))
        return;
    char note[256];
    if (w->kind == VK_MEM)
        snprintf(note, sizeof note, "'%s' receives memory from %s()", w->var, w->api);
    else if (w->ref == R_NEW)
        snprintf(note, sizeof note, "'%s' receives a new reference", w->var);
    else
        snprintf(note, sizeof note, "'%s' receives a borrowed reference from %s()", w->var, w->api);
    add_note(F, S, cxu_line(where), v, note);
    w->birth = S->notes;
}

/* Evaluate C only for its effects on variables: everything it touches becomes untracked. */
static enum CXChildVisitResult opaque_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    void **ctx = data;
    struct fctx *F = ctx[0];
    struct state *S = ctx[1];
    if (clang_getCursorKind(c) == CXCursor_DeclRefExpr) {
        int var = expr_var(F, c);
        if (var >= 0) {
            escape(S, S->bind[var]);
            S->bind[var] = -1;
            forget_var_facts(S, var);
        }
    } else if (clang_getCursorKind(c) == CXCursor_CallExpr) {
        set_exc(S, S->exc == E_NONE ? E_MAYBE : S->exc);
    }
    return CXChildVisit_Recurse;
}

/* Evaluate C only for its effects on variables: everything it touches becomes untracked. */
static void opaque(struct fctx *F, struct state *S, CXCursor c)
{
    void *ctx[2] = {F, S};
    if (clang_getCursorKind(c) == CXCursor_DeclRefExpr)
        opaque_visit(c, c, ctx);
    clang_visitChildren(c, opaque_visit, ctx);
}

/* Integer or character literal as a constant value, -1 if it does not evaluate. */
static int ev_literal(struct fctx *F, struct state *S, CXCursor c)
{
    CXEvalResult r = clang_Cursor_Evaluate(c);
    int v = -1;
    if (r) {
        if (clang_EvalResult_getKind(r) == CXEval_Int)
            v = const_val(F, S, clang_EvalResult_getAsLongLong(r));
        clang_EvalResult_dispose(r);
    }
    return v;
}

/* The field expression on the left of an assignment, e.g. "self->x". */
static void describe_target(struct fctx *F, CXCursor lhs, char *buf, size_t n)
{
    (void)F;
    char *t = member_text(lhs);
    snprintf(buf, n, "%s", t ? t : "a struct field");
    free(t);
}

static int assign_to(struct fctx *F, struct state *S, CXCursor lhs, int r, CXCursor e);

/* An assignment expression: evaluate the right side and store it. */
static int ev_assign(struct fctx *F, struct state *S, CXCursor e)
{
    CXCursor lhs = cxu_child(e, 0), rhs = cxu_child(e, 1);
    int r = ev(F, S, rhs);
    return assign_to(F, S, lhs, r, e);
}

/* Store value R into the place LHS denotes; E is the whole assignment. */
static int assign_to(struct fctx *F, struct state *S, CXCursor lhs, int r, CXCursor e)
{
    CXCursor l = cxu_strip(lhs);
    enum CXCursorKind k = clang_getCursorKind(l);
    if (k == CXCursor_DeclRefExpr) {
        int var = expr_var(F, l);
        if (var >= 0) {
            bind(F, S, var, r, e);
        } else {
            escape(S, r);   /* globals, static locals, aggregates */
        }
        return r;
    }
    if (k == CXCursor_MemberRefExpr) {
        char *mt = member_text(l);
        if (mt) {
            forget_fact(S, text_key(mt));
            if (r >= 0 && S->vals[r].nul != N_MAYBE)   /* the field now tests as its new value */
                key_fact(S, text_key(mt), fact_bit(text_key(mt)), 0, S->vals[r].nul == N_NONNULL);
            free(mt);
        } else {
            forget_facts(S);
        }
        CXCursor base = cxu_child(l, 0);
        int b = clang_Cursor_isNull(base) ? -1 : ev(F, S, base);
        int arrow = !clang_Cursor_isNull(base)
                    && clang_getCanonicalType(clang_getCursorType(base)).kind == CXType_Pointer;
        if (b >= 3 && (S->vals[b].flags & VF_FRESH) && S->vals[b].sinfo >= 0) {
            char *fname = cxu_take(clang_getCursorSpelling(l));
            int fi = field_index(&F->sinfos[S->vals[b].sinfo], fname);
            if (fi >= 0)
                S->vals[b].unset &= ~(1ULL << fi);
            free(fname);
        }
        if (arrow) {
            deref_val(F, S, b, l);
            char what[128];
            describe_target(F, l, what, sizeof what);
            char *fname = cxu_take(clang_getCursorSpelling(l));
            store_field(F, S, r, fname, what, e);
            free(fname);
        } else {
            escape(S, r);
        }
        return r;
    }
    if (k == CXCursor_ArraySubscriptExpr) {
        CXCursor base = cxu_strip(cxu_child(l, 0));
        ev(F, S, cxu_child(l, 1));
        if (clang_getCursorKind(base) == CXCursor_MemberRefExpr) {
            char *fname = cxu_take(clang_getCursorSpelling(base));
            int is_items = strcmp(fname, "ob_item") == 0;
            free(fname);
            int b = ev(F, S, cxu_child(base, 0));
            deref_val(F, S, b, l);
            const char *macro = cxu_macro_at(F->u, e);
            if (is_items && macro && strstr(macro, "SET_ITEM")) {
                steal(F, S, r, arena_str(F, macro), e, -1);
                return r;
            }
        } else {
            deref_val(F, S, ev(F, S, base), l);
        }
        escape(S, r);
        return r;
    }
    if (k == CXCursor_UnaryOperator && cxu_op(F->u, l) == OP_DEREF) {
        deref_val(F, S, ev(F, S, cxu_child(l, 0)), l);
        escape(S, r);
        return r;
    }
    opaque(F, S, lhs);
    escape(S, r);
    return r;
}

/* API macros such as PyTuple_GET_ITEM expand to field reads: recognise the
 * outermost expression of their expansion and give it the API's meaning. */
static int ev_macro_api(struct fctx *F, struct state *S, CXCursor c, const char *macro)
{
    const struct api_entry *api = api_lookup(macro);
    if (!api || api->ret != API_RET_BORROWED)
        return -2;
    enum CXCursorKind k = clang_getCursorKind(c);
    if (k == CXCursor_CallExpr || k == CXCursor_DeclRefExpr)
        return -2;
    /* the container is the first macro argument, usually a plain variable */
    int container = -1;
    CXToken *toks;
    unsigned nt;
    clang_tokenize(F->u->tu, clang_getCursorExtent(cxu_macro_cursor_at(F->u, c)), &toks, &nt);
    if (nt >= 3) {
        char *t2 = cxu_take(clang_getTokenSpelling(F->u->tu, toks[2]));
        char *t3 = nt >= 4 ? cxu_take(clang_getTokenSpelling(F->u->tu, toks[3])) : fnd_xstrdup("");
        if (strcmp(t3, ",") == 0) {
            for (int i = 0; i < F->nvars; i++)
                if (F->vars[i].trackable && strcmp(F->vars[i].name, t2) == 0)
                    container = S->bind[i];
        }
        free(t2);
        free(t3);
    }
    clang_disposeTokens(F->u->tu, toks, nt);
    /* the arguments of these accessors are plain expressions without effects */
    int r = new_result(F, S, c, VK_OBJ, arena_str(F, macro));
    if (r < 0)
        return r;
    S->vals[r].ref = R_BORROWED;
    S->vals[r].nul = N_MAYBE;
    if (name_in(macro, CONTAINER_GETTERS))
        S->vals[r].container = container;
    return r;
}

/* Evaluate expression C in state S; returns the value index of its result,
 * or -1 when the result is not followed. Never fails: unknown constructs are opaque. */
static int ev(struct fctx *F, struct state *S, CXCursor c)
{
    if (S->dead || clang_Cursor_isNull(c))
        return -1;
    enum CXCursorKind k = clang_getCursorKind(c);
    const char *macro = cxu_macro_at(F->u, c);
    if (macro && (k == CXCursor_ParenExpr || k == CXCursor_ArraySubscriptExpr || k == CXCursor_UnexposedExpr)) {
        int r = ev_macro_api(F, S, c, macro);
        if (r != -2)
            return r;
    }
    CXCursor *v;
    unsigned n;
    int r = -1;
    switch (k) {
    case CXCursor_UnexposedExpr:
    case CXCursor_ParenExpr:
    case CXCursor_CStyleCastExpr:
        n = cxu_children(c, &v);
        if (n == 1 || (k == CXCursor_CStyleCastExpr && n == 2)) {
            r = ev(F, S, v[n - 1]);
        } else {
            opaque(F, S, c);
        }
        free(v);
        return r;
    case CXCursor_IntegerLiteral:
    case CXCursor_CharacterLiteral:
        return ev_literal(F, S, c);
    case CXCursor_StringLiteral:
    case CXCursor_FloatingLiteral:
    case CXCursor_UnaryExpr:       /* sizeof/alignof: operand not evaluated */
    case CXCursor_CXXNullPtrLiteralExpr:
        return -1;
    case CXCursor_DeclRefExpr: {
        CXCursor d = cxu_ref(c);
        if (clang_getCursorKind(d) == CXCursor_EnumConstantDecl)
            return const_val(F, S, clang_getEnumConstantDeclValue(d));
        int var = expr_var(F, c);
        return var >= 0 ? S->bind[var] : -1;
    }
    case CXCursor_CallExpr:
        return ev_call(F, S, c);
    case CXCursor_BinaryOperator: {
        enum cxu_op op = cxu_op(F->u, c);
        if (op == OP_ASSIGN)
            return ev_assign(F, S, c);
        if (op == OP_OTHER && cxu_in_macro(c)) {
            /* an operator hidden in a macro body: it may be && or || */
            opaque(F, S, c);
            return -1;
        }
        int a = ev(F, S, cxu_child(c, 0));
        if (op == OP_COMMA)
            return ev(F, S, cxu_child(c, 1));
        if (op == OP_LAND || op == OP_LOR) {
            opaque(F, S, cxu_child(c, 1));
            return -1;
        }
        int b = ev(F, S, cxu_child(c, 1));
        if (is_const(S, a) && is_const(S, b)) {
            long long x = S->vals[a].cval, y = S->vals[b].cval;
            switch (op) {
            case OP_EQ: return const_val(F, S, x == y);
            case OP_NE: return const_val(F, S, x != y);
            case OP_LT: return const_val(F, S, x < y);
            case OP_GT: return const_val(F, S, x > y);
            case OP_LE: return const_val(F, S, x <= y);
            case OP_GE: return const_val(F, S, x >= y);
            default: break;
            }
        }
        if ((op == OP_EQ || op == OP_NE) && a < 0 && b < 0)
            return cond_value(F, S, c);
        return -1;
    }
    case CXCursor_CompoundAssignOperator: {
        ev(F, S, cxu_child(c, 1));
        CXCursor l = cxu_child(c, 0);
        int var = expr_var(F, l);
        if (var >= 0)
            bind(F, S, var, -1, c);
        else
            ev(F, S, l);
        return -1;
    }
    case CXCursor_UnaryOperator: {
        enum cxu_op op = cxu_op(F->u, c);
        CXCursor sub = cxu_child(c, 0);
        if (op == OP_ADDR) {
            CXCursor s = cxu_strip(sub);
            if (clang_getCursorKind(s) == CXCursor_MemberRefExpr) {
                int b = ev(F, S, cxu_child(s, 0));
                if (b >= 3)
                    S->vals[b].unset = 0;
                return -1;
            }
            opaque(F, S, sub);
            return -1;
        }
        if (op == OP_INC || op == OP_DEC) {
            int var = expr_var(F, sub);
            if (var >= 0)
                bind(F, S, var, -1, c);
            else
                ev(F, S, sub);
            return -1;
        }
        int a = ev(F, S, sub);
        if (op == OP_DEREF)
            deref_val(F, S, a, c);
        if (op == OP_NOT && is_const(S, a))
            return const_val(F, S, !S->vals[a].cval);
        if (op == OP_NEG && is_const(S, a))
            return const_val(F, S, -S->vals[a].cval);
        return -1;
    }
    case CXCursor_MemberRefExpr: {
        CXCursor base = cxu_child(c, 0);
        if (clang_Cursor_isNull(base))
            return -1;
        int b = ev(F, S, base);
        if (clang_getCanonicalType(clang_getCursorType(base)).kind == CXType_Pointer)
            deref_val(F, S, b, c);
        return -1;
    }
    case CXCursor_ArraySubscriptExpr: {
        int b = ev(F, S, cxu_child(c, 0));
        ev(F, S, cxu_child(c, 1));
        deref_val(F, S, b, c);
        return -1;
    }
    case CXCursor_ConditionalOperator: {
        n = cxu_children(c, &v);
        if (n == 3) {
            int t = ev(F, S, v[0]);
            if (t >= 0 && S->vals[t].nul != N_MAYBE) {
                r = ev(F, S, S->vals[t].nul == N_NONNULL ? v[1] : v[2]);
            } else {
                opaque(F, S, v[1]);
                opaque(F, S, v[2]);
            }
        } else {
            opaque(F, S, c);
        }
        free(v);
        return r;
    }
    case CXCursor_InitListExpr:
        n = cxu_children(c, &v);
        for (unsigned i = 0; i < n; i++)
            escape(S, ev(F, S, v[i]));
        free(v);
        return -1;
    default:
        opaque(F, S, c);
        return -1;
    }
}

/* ---------- statements ---------- */

static void ev_decl(struct fctx *F, struct state *S, CXCursor d)
{
    int var = var_index(F, d);
    CXCursor init = clang_Cursor_getVarDeclInitializer(d);
    int r = clang_Cursor_isNull(init) ? -1 : ev(F, S, init);
    if (var >= 0 && F->vars[var].trackable)
        bind(F, S, var, r, d);
    else
        escape(S, r);
}

/* New references created by the current node and bound nowhere leak right here. */
static void check_orphans(struct fctx *F, struct state *S, int first, CXCursor stmt)
{
    for (int i = first > 3 ? first : 3; i < S->nvals; i++) {
        struct val *w = &S->vals[i];
        if (w->kind != VK_OBJ || w->ref != R_NEW || w->owed <= 0 || (w->flags & VF_ESCAPED)
            || w->nul == N_NULL || w->var)
            continue;
        int bound = 0;
        for (int k = 0; k < F->nvars && !bound; k++)
            bound = S->bind[k] == i;
        /* inside a macro body the store that keeps it may be invisible */
        if (bound || cxu_in_macro(stmt) || (w->flags & VF_INMACRO))
            continue;
        report(F, S, FK_LEAK, FS_ERROR, w->line, w->col, i, w->api, "the new reference is dropped here",
               "new reference from %s() is never released", w->api);
        escape(S, i);
    }
}

/* Py_CLEAR(op) and Py_SETREF/Py_XSETREF(op, op2) as single steps. */
static void ev_refmacro(struct fctx *F, struct state *S, CXCursor s)
{
    CXCursor op = clang_getNullCursor(), op2 = clang_getNullCursor();
    int x = 1;
    int kind = cfg_refmacro(s, &op, &op2, &x);
    int old = ev(F, S, op);
    if (kind == CFG_CLEAR) {
        int var = expr_var(F, op);
        if (var >= 0)
            S->bind[var] = 0;
        release(F, S, old, 1, s, "Py_CLEAR");
    } else {
        int nv = ev(F, S, op2);
        assign_to(F, S, op, nv, s);
        release(F, S, old, x, s, x ? "Py_XSETREF" : "Py_SETREF");
    }
}

/* Execute one statement node (declaration, expression, Py_CLEAR/Py_SETREF step). */
static void ev_stmt(struct fctx *F, struct state *S, CXCursor s)
{
    int first = S->nvals;
    if (clang_getCursorKind(s) == CXCursor_DoStmt) {
        ev_refmacro(F, S, s);
    } else if (clang_getCursorKind(s) == CXCursor_DeclStmt) {
        CXCursor *v;
        unsigned n = cxu_children(s, &v);
        for (unsigned i = 0; i < n; i++)
            if (clang_getCursorKind(v[i]) == CXCursor_VarDecl)
                ev_decl(F, S, v[i]);
        free(v);
    } else if (clang_isExpression(clang_getCursorKind(s))) {
        ev(F, S, s);
    } else {
        opaque(F, S, s);
    }
    if (!S->dead)
        check_orphans(F, S, first, s);
}

/* ---------- conditions ---------- */

static void set_nul(struct state *S, int v, enum vnul nul)
{
    if (v >= 3 && !(S->vals[v].flags & VF_CONST))
        S->vals[v].nul = nul;
}

/* Apply "the call behind V failed / succeeded" to the exception state. */
static void apply_outcome(struct state *S, int v, int failed)
{
    if (v < 3 || !(S->vals[v].flags & VF_EXCINFO))
        return;
    if (failed < 0)
        return;
    /* only while nothing else changed the exception state since that call */
    if (S->vals[v].excgen != S->excgen)
        return;
    S->exc = failed ? S->vals[v].exc_fail : S->vals[v].exc_prev;
}

/* V tested for truth (nonzero / non-NULL) with outcome TRUTH. Returns 0 when infeasible. */
static int refine_truth(struct state *S, int v, int truth)
{
    if (v < 0)
        return 1;
    struct val *w = &S->vals[v];
    if (w->flags & VF_CONST)
        return (w->cval != 0) == truth;
    if (w->nul == N_NULL && truth)
        return 0;
    if (w->nul == N_NONNULL && !truth)
        return 0;
    if (w->ckey && !key_fact(S, w->ckey, w->cfdeps, w->cvdeps, truth != w->cneg))
        return 0;
    if (truth && w->guard >= 3 && !refine_truth(S, w->guard, 1))
        return 0;
    if (w->flags & VF_ERRQ) {
        set_exc(S, truth ? E_SET : E_NONE);
        set_nul(S, v, truth ? N_NONNULL : N_NULL);
        return 1;
    }
    int failed = -1;
    if (w->kind == VK_OBJ || w->kind == VK_MEM || (w->kind == VK_UNK && !(w->flags & VF_NEG_FAIL)))
        failed = !truth;
    if (w->flags & VF_ZERO_FAIL)
        failed = !truth;
    else if (w->kind == VK_INT)
        failed = truth ? -1 : 0;
    if (w->kind == VK_UNK && (w->flags & VF_EXCINFO) && !(w->flags & VF_PTR))
        failed = -1;   /* an int from an unknown callee: which value means failure is unknown */
    apply_outcome(S, v, failed);
    set_nul(S, v, truth ? N_NONNULL : N_NULL);
    return 1;
}

/* Integer range bookkeeping so that correlated tests (n > 1 ... n == 1)
 * prune impossible paths. Returns 0 when the outcome contradicts the range. */
static int refine_range(struct state *S, int v, enum cxu_op op, long long k, int truth)
{
    struct val *w = &S->vals[v];
    if (w->kind == VK_OBJ || w->kind == VK_MEM || (w->flags & VF_PTR) || k == LLONG_MIN || k == LLONG_MAX)
        return 1;
    if (!truth) {
        static const enum cxu_op neg[] = {
            [OP_EQ] = OP_NE, [OP_NE] = OP_EQ, [OP_LT] = OP_GE, [OP_LE] = OP_GT, [OP_GT] = OP_LE, [OP_GE] = OP_LT};
        op = neg[op];
    }
    long long lo = (w->flags & VF_RANGE) ? w->lo : LLONG_MIN, hi = (w->flags & VF_RANGE) ? w->hi : LLONG_MAX;
    switch (op) {
    case OP_EQ:
        if (k < lo || k > hi)
            return 0;
        for (int i = 0; i < w->nne; i++)
            if (w->ne[i] == k)
                return 0;
        lo = hi = k;
        break;
    case OP_NE:
        if (lo == k && hi == k)
            return 0;
        if (lo == k)
            lo++;
        else if (hi == k)
            hi--;
        else if (w->nne < 4)
            w->ne[w->nne++] = k;
        break;
    case OP_LT: if (k - 1 < hi) hi = k - 1; break;
    case OP_LE: if (k < hi) hi = k; break;
    case OP_GT: if (k + 1 > lo) lo = k + 1; break;
    case OP_GE: if (k > lo) lo = k; break;
    default: return 1;
    }
    if (lo > hi)
        return 0;
    w->flags |= VF_RANGE;
    w->lo = lo;
    w->hi = hi;
    if (lo > 0 || hi < 0)
        set_nul(S, v, N_NONNULL);
    return 1;
}

/* V compared with constant K by OP, outcome TRUTH. Returns 0 when infeasible. */
static int refine_cmp(struct state *S, int v, enum cxu_op op, long long k, int truth)
{
    if (v < 0)
        return 1;
    struct val *w = &S->vals[v];
    if (!(w->flags & VF_CONST) && !refine_range(S, v, op, k, truth))
        return 0;
    if (w->flags & VF_CONST) {
        long long x = w->cval;
        int res = op == OP_EQ ? x == k : op == OP_NE ? x != k : op == OP_LT ? x < k
                : op == OP_LE ? x <= k : op == OP_GT ? x > k : x >= k;
        return res == truth;
    }
    if (op == OP_EQ || op == OP_NE) {
        int eq = (op == OP_EQ) == truth;
        if (k == 0)
            return refine_truth(S, v, !eq);
        if (k == -1 && (w->flags & VF_EXCINFO) && w->kind != VK_UNK)
            apply_outcome(S, v, eq ? 1 : -1);
        if (eq)
            set_nul(S, v, N_NONNULL);
        return 1;
    }
    /* ordered comparisons: "< 0" and ">= 0" split failure from success */
    int negative = -1;
    if (k == 0 && (op == OP_LT || op == OP_GE))
        negative = (op == OP_LT) == truth;
    else if (k == -1 && (op == OP_LE || op == OP_GT))
        negative = (op == OP_LE) == truth;
    if (negative >= 0 && w->kind == VK_INT && (w->flags & VF_EXCINFO))
        apply_outcome(S, v, negative ? 1 : (w->flags & VF_NEG_FAIL) ? 0 : -1);
    if (negative == 1)
        set_nul(S, v, N_NONNULL);
    if (w->kind == VK_UNK && (w->flags & VF_EXCINFO) && negative == 0 && truth >= 0)
        apply_outcome(S, v, 0);
    return 1;
}

/* Visitor for mark_unsure: flag the values of the variables a test mentions. */
static enum CXChildVisitResult unsure_visit(CXCursor c, CXCursor parent, CXClientData data)
{
    (void)parent;
    void **ctx = data;
    struct fctx *F = ctx[0];
    struct state *S = ctx[1];
    if (clang_getCursorKind(c) == CXCursor_DeclRefExpr) {
        int var = expr_var(F, c);
        if (var >= 0 && S->bind[var] >= 3)
            S->vals[S->bind[var]].flags |= VF_UNSURE;
    }
    return CXChildVisit_Recurse;
}

/* A test the analysis cannot read: the values it mentions may have been
 * checked for NULL, so they no longer produce NULL-related reports. */
static void mark_unsure(struct fctx *F, struct state *S, CXCursor cond)
{
    void *ctx[2] = {F, S};
    unsure_visit(cond, cond, ctx);
    clang_visitChildren(cond, unsure_visit, ctx);
}

/* COND compares two non-constant values A and B for (in)equality and the path
 * takes the side where they are EQUAL (1) or differ (0). One value bound to
 * two locals is always equal to itself, so the other side is infeasible
 * (returns 0). Two different values may still be one object: when only one
 * of them is owned, on the equal side the code may release the owned
 * reference through the borrowed name (or the reverse), so neither is
 * followed any further. Two owned references stay owed whatever their
 * identity. A known NULL never equals a known non-NULL pointer. */
static int refine_alias(struct fctx *F, struct state *S, CXCursor cond, int a, int b, int equal)
{
    if (a == b)
        return equal;
    unsigned char na = S->vals[a].nul, nb = S->vals[b].nul;
    if (equal && na != N_MAYBE && nb != N_MAYBE && na != nb)
        return 0;
    if (!equal) {
        mark_unsure(F, S, cond);
        return 1;
    }
    if (S->vals[a].owed > 0 && S->vals[b].owed > 0)
        return 1;
    escape(S, a);
    escape(S, b);
    return 1;
}

/* Assume COND has outcome TRUTH: evaluate it, narrow values and the exception
 * state. Returns 0 when that outcome is impossible on this path. */
static int refine(struct fctx *F, struct state *S, CXCursor cond, int truth)
{
    CXCursor c = cxu_strip(cond);
    if (clang_getCursorKind(c) == CXCursor_BinaryOperator) {
        enum cxu_op op = cxu_op(F->u, c);
        if (op >= OP_EQ && op <= OP_GE) {
            int a = ev(F, S, cxu_child(c, 0));
            int b = ev(F, S, cxu_child(c, 1));
            if (S->dead)
                return 0;
            static const enum cxu_op swap[] = {
                [OP_EQ] = OP_EQ, [OP_NE] = OP_NE, [OP_LT] = OP_GT,
                [OP_LE] = OP_GE, [OP_GT] = OP_LT, [OP_GE] = OP_LE};
            if ((op == OP_EQ || op == OP_NE) && is_const(S, b) && S->vals[b].cval == 0 && a < 0)
                return member_fact(S, cxu_child(c, 0), (op == OP_NE) == truth);
            if ((op == OP_EQ || op == OP_NE) && is_const(S, a) && S->vals[a].cval == 0 && b < 0)
                return member_fact(S, cxu_child(c, 1), (op == OP_NE) == truth);
            if (is_const(S, b))
                return refine_cmp(S, a, op, S->vals[b].cval, truth);
            if (is_const(S, a))
                return refine_cmp(S, b, swap[op], S->vals[a].cval, truth);
            if ((op == OP_EQ || op == OP_NE) && a >= 0 && b >= 0)
                return refine_alias(F, S, cond, a, b, (op == OP_EQ) == truth);
            int ok = a < 0 && b < 0 ? cond_fact(F, S, cond, truth) : 1;
            mark_unsure(F, S, cond);
            if (a < 0 || b < 0)
                S->blind = 1;
            return ok;
        }
    }
    int v = ev(F, S, cond);
    if (S->dead)
        return 0;
    if (v < 0 && clang_getCursorKind(cxu_strip(cond)) == CXCursor_MemberRefExpr)
        return member_fact(S, cond, truth);
    if (v < 0) {
        mark_unsure(F, S, cond);
        S->blind = 1;
    }
    return refine_truth(S, v, truth);
}

/* ---------- exits ---------- */

static int is_null_val(const struct state *S, int v)
{
    return v >= 0 && S->vals[v].nul == N_NULL;
}

/* Checks at a return (RET: the returned expression, AT: the statement or the
 * body for falling off the end): null-without-exception, leaks, stores of borrowed references. */
static void check_exit(struct fctx *F, struct state *S, CXCursor ret, CXCursor at)
{
    int rv = clang_Cursor_isNull(ret) ? -1 : ev(F, S, ret);
    if (S->dead)
        return;
    unsigned line, col;
    if (clang_getCursorKind(at) == CXCursor_CompoundStmt) {
        line = F->end_line;
        col = F->end_col;
    } else {
        cursor_pos(at, &line, &col);
    }
    char what[96];
    if (clang_Cursor_isNull(ret)) {
        snprintf(what, sizeof what, clang_getCursorKind(at) == CXCursor_ReturnStmt
                 ? "when returning" : "at the end of the function");
    } else {
        char *t = cxu_in_macro(at) ? fnd_xstrdup("") : cxu_text(F->u, at, 0);
        size_t n = strlen(t);
        if (n && t[n - 1] == ';')
            t[--n] = 0;
        char *paren = strchr(t, '(');
        if (n > 40 && paren && paren - t < 36)
            strcpy(paren, "(...)");   /* long calls: name the callee only */
        else if (n > 40)
            strcpy(t + 37, "...");
        if (strncmp(t, "return ", 7) == 0)
            snprintf(what, sizeof what, "when returning %s", t + 7);
        else if (*t)
            snprintf(what, sizeof what, "at %s", t);
        else
            snprintf(what, sizeof what, "at %s", cxu_macro_at(F->u, at) ? cxu_macro_at(F->u, at) : "the return");
        free(t);
    }
    if (F->returns_ptr && F->fn->entry_point && is_null_val(S, rv) && S->exc == E_NONE && !S->blind) {
        report(F, S, FK_NULL_WITHOUT_EXCEPTION, FS_ERROR, line, col, -1, NULL,
               "NULL is returned with no exception set",
               "'%s' returns NULL without setting an exception", F->name);
    }
    if (tracked(S, rv) && S->vals[rv].kind == VK_OBJ) {
        use_val(F, S, rv, at);
        if (tracked(S, rv)) {
            check_fields_before(F, S, rv, at, FK_UNINITIALIZED_FIELD, "returned");
            if (S->vals[rv].owed > 0)
                S->vals[rv].owed--;
            if (S->vals[rv].owed <= 0)
                escape(S, rv);
        }
    }
    for (int i = 3; i < S->nvals; i++) {
        struct val *w = &S->vals[i];
        if (w->kind != VK_OBJ || (w->flags & VF_ESCAPED) || !w->var)
            continue;   /* never named: it went somewhere the analysis cannot see */
        if (w->owed > 0 && w->nul != N_NULL && (w->ref == R_NEW || w->ref == R_BORROWED)
            && !(w->nul == N_MAYBE && (w->flags & VF_UNSURE))) {
            char note[160];
            snprintf(note, sizeof note, "returning without releasing '%s'", vname(S, i));
            if (w->ref == R_NEW)
                report(F, S, FK_LEAK, FS_ERROR, line, col, i, w->api, note,
                       "new reference from %s() in '%s' is not released %s", w->api, vname(S, i), what);
            else
                report(F, S, FK_LEAK, FS_ERROR, line, col, i, w->api, note,
                       "reference added to '%s' (borrowed from %s()) is not released %s", vname(S, i),
                       w->api, what);
        } else if (w->owed < 0 && (w->flags & VF_STORED) && w->ref == R_BORROWED) {
            char note[256];
            snprintf(note, sizeof note, "'%s' is stored without a new reference", vname(S, i));
            report(F, S, FK_STORE_BORROWED, FS_ERROR, w->evline, w->evcol, i, w->api, note,
                   "borrowed reference from %s() in '%s' is stored in %s without Py_INCREF()",
                   w->api, vname(S, i), w->evwhat ? w->evwhat : "a field");
        }
    }
}

/* ---------- driver ---------- */

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

/* Hash of what matters about value V for merging identical states. */
static uint64_t val_hash(const struct state *S, int v)
{
    if (v < 0)
        return 0x51;
    const struct val *w = &S->vals[v];
    uint64_t h = mix(w->site, w->kind);
    h = mix(h, w->ref | w->nul << 4 | (uint64_t)(w->owed + 8) << 8 | (uint64_t)w->flags << 16);
    h = mix(h, (uint64_t)w->cval);
    h = mix(h, w->unset);
    if (w->flags & VF_RANGE)
        h = mix(h, (uint64_t)w->lo * 31 + (uint64_t)w->hi);
    for (int i = 0; i < w->nne; i++)
        h = mix(h, (uint64_t)w->ne[i]);
    return mix(h, w->ckey + w->cneg);
}

/* Hash of a state for the per-node memo (bindings, owed values, exc, loops, facts). */
static uint64_t state_hash(const struct fctx *F, const struct state *S)
{
    uint64_t h = mix(S->exc, F->g.nloops);
    for (int i = 0; i < F->nvars; i++)
        h = mix(h, val_hash(S, S->bind[i]));
    uint64_t free_vals = 0;
    for (int i = 3; i < S->nvals; i++)
        if (S->vals[i].owed && !(S->vals[i].flags & VF_ESCAPED))
            free_vals += val_hash(S, i);
    h = mix(h, free_vals);
    for (int i = 0; i < F->g.nloops; i++)
        h = mix(h, S->loops[i]);
    uint64_t facts = 0;
    for (int i = 0; i < S->nfacts; i++)
        facts += S->facts[i].key * (S->facts[i].nonzero ? 3 : 5);
    return mix(h, facts);
}

/* Whether STATE at NODE was seen before (or the node has seen too many). */
static int memo_seen(struct fctx *F, int node, const struct state *S)
{
    struct memo *m = &F->memo[node];
    uint64_t h = state_hash(F, S);
    for (int i = 0; i < m->n; i++)
        if (m->h[i] == h)
            return 1;
    if (m->n == MAX_MEMO)
        return 1;
    m->h[m->n++] = h;
    return 0;
}

struct work {
    int node;
    struct state *S;
};

struct stack {
    struct work *v;
    int n, cap;
};

/* Queue NODE with state S (a negative node ends the path). */
static void push(struct stack *st, int node, struct state *S)
{
    if (node < 0) {
        state_free(S);
        return;
    }
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->v = fnd_xrealloc(st->v, st->cap * sizeof *st->v);
    }
    st->v[st->n].node = node;
    st->v[st->n].S = S;
    st->n++;
}

/* Path note for taking the TRUTH side of COND; conditions written inside a
 * macro body are named by the macro (or left out when there is none). */
static void branch_note(struct fctx *F, struct state *S, CXCursor cond, int truth)
{
    char *t = cxu_in_macro(cond) ? fnd_xstrdup("") : cxu_text(F->u, cond, 80);
    if (!*t) {
        const char *m = cxu_macro_at(F->u, cond);
        free(t);
        if (!m || cxu_in_macro(cond))
            return;
        t = fnd_xasprintf("%s(...)", m);
    }
    char note[160];
    if (truth)
        snprintf(note, sizeof note, "taking the branch where %s", t);
    else
        snprintf(note, sizeof note, "taking the branch where %s is false", t);
    add_note(F, S, cxu_line(cond), -1, note);
    free(t);
}

static int refine_cmp(struct state *S, int v, enum cxu_op op, long long k, int truth);

/* Process one node with one state: evaluate it and queue the successor states. */
static void step(struct fctx *F, struct stack *st, int node, struct state *S)
{
    const struct cfg_node *nd = &F->g.nodes[node];
    F->node = node;
    if (F->trace)
        fprintf(stderr, "trace %s: node %d kind %d line %u exc %d blind %d\n", F->name, node, nd->kind,
                clang_Cursor_isNull(nd->cur) ? 0 : cxu_line(nd->cur), S->exc, S->blind);
    if (nd->loop >= 0) {
        if (S->loops[nd->loop] >= MAX_LOOP_VISITS) {
            state_free(S);
            return;
        }
        S->loops[nd->loop]++;
    }
    if (memo_seen(F, node, S)) {
        state_free(S);
        return;
    }
    switch (nd->kind) {
    case CN_NOP:
        push(st, nd->succ[0], S);
        return;
    case CN_STMT:
        ev_stmt(F, S, nd->cur);
        if (S->dead)
            state_free(S);
        else
            push(st, nd->succ[0], S);
        return;
    case CN_RETURN:
    case CN_EXIT:
        if (nd->kind == CN_RETURN)
            check_exit(F, S, cxu_child(nd->cur, 0), nd->cur);
        else
            check_exit(F, S, clang_getNullCursor(), F->body);
        state_free(S);
        return;
    case CN_SWITCH: {
        int first = S->nvals;
        int d = ev(F, S, nd->cur);
        if (S->dead) {
            state_free(S);
            return;
        }
        check_orphans(F, S, first, nd->cur);
        /* each case learns the discriminant's value; default learns it is none of them */
        for (int i = 0; i < nd->ncases; i++) {
            struct state *T = state_copy(F, S);
            int ok = 1;
            if (d >= 0 && !nd->case_default[i]) {
                ok = refine_cmp(T, d, OP_EQ, nd->case_vals[i], 1);
            } else if (d >= 0) {
                for (int j = 0; j < nd->ncases && ok; j++)
                    if (!nd->case_default[j])
                        ok = refine_cmp(T, d, OP_EQ, nd->case_vals[j], 0);
            }
            if (ok)
                push(st, nd->cases[i], T);
            else
                state_free(T);
        }
        state_free(S);
        return;
    }
    case CN_BRANCH: {
        struct state *T = state_copy(F, S);
        int first = S->nvals;
        int ok_t = refine(F, S, nd->cur, 1);
        int ok_f = refine(F, T, nd->cur, 0);
        if (ok_t && !S->dead) {
            check_orphans(F, S, first, nd->cur);
            branch_note(F, S, nd->cur, 1);
            push(st, nd->succ[0], S);
        } else {
            state_free(S);
        }
        if (ok_f && !T->dead) {
            check_orphans(F, T, first, nd->cur);
            branch_note(F, T, nd->cur, 0);
            push(st, nd->succ[1], T);
        } else {
            state_free(T);
        }
        return;
    }
    }
}

/* Give every parameter an unknown value so that tests on it are remembered. */
static void bind_params(struct fctx *F, struct state *S)
{
    int n = clang_Cursor_getNumArguments(F->fn->fn);
    for (int i = 0; i < n; i++) {
        int var = var_index(F, clang_Cursor_getArgument(F->fn->fn, i));
        if (var >= 0)
            bind(F, S, var, -1, F->fn->fn);
    }
}

int flw_analyse(const struct flw_func *fn, struct fnd_list *out)
{
    struct fctx F;
    memset(&F, 0, sizeof F);
    F.fn = fn;
    F.u = fn->u;
    F.out = out;
    F.name = cxu_take(clang_getCursorSpelling(fn->fn));
    const char *trace = getenv("LIFELINE_AUDIT_TRACE");
    F.trace = trace && strcmp(trace, F.name) == 0;
    CXType rt = clang_getCanonicalType(clang_getResultType(clang_getCursorType(fn->fn)));
    F.returns_ptr = rt.kind == CXType_Pointer;
    CXCursor body = clang_getNullCursor();
    CXCursor *kids;
    unsigned nk = cxu_children(fn->fn, &kids);
    for (unsigned i = 0; i < nk; i++)
        if (clang_getCursorKind(kids[i]) == CXCursor_CompoundStmt)
            body = kids[i];
    free(kids);
    int rc = -1;
    F.body = body;
    if (!clang_Cursor_isNull(body)) {
        CXFile f;
        unsigned off;
        clang_getExpansionLocation(clang_getRangeEnd(clang_getCursorExtent(body)), &f, &F.end_line,
                                   &F.end_col, &off);
        if (F.end_col > 1)
            F.end_col--;
    }
    if (clang_Cursor_isNull(body) || cfg_build(&F.g, F.u, body) < 0)
        goto done;
    struct var_acc acc = {&F, 0};
    clang_visitChildren(fn->fn, collect_vars, &acc);
    F.memo = calloc(F.g.n, sizeof *F.memo);
    if (!F.memo)
        goto done;
    struct state *S = state_new(&F);
    init_consts(&F, S);
    F.node = F.g.entry;
    bind_params(&F, S);
    struct stack st = {0};
    push(&st, F.g.entry, S);
    while (st.n > 0) {
        struct work w = st.v[--st.n];
        if (++F.steps > MAX_STEPS) {
            state_free(w.S);
            continue;
        }
        step(&F, &st, w.node, w.S);
    }
    free(st.v);
    rc = 0;
done:
    cfg_free(&F.g);
    free(F.memo);
    for (int i = 0; i < F.nvars; i++)
        free(F.vars[i].name);
    free(F.vars);
    for (int i = 0; i < F.nsinfo; i++) {
        free(F.sinfos[i].type);
        for (int j = 0; j < F.sinfos[i].nfields; j++)
            free(F.sinfos[i].fields[j]);
    }
    free(F.sinfos);
    arena_free(&F);
    free(F.name);
    return rc;
}
