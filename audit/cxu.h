/* cxu: small helpers over libclang cursors shared by the analyses. */
#ifndef LIFELINE_AUDIT_CXU_H
#define LIFELINE_AUDIT_CXU_H

#include <clang-c/Index.h>

enum cxu_op {
    OP_OTHER, OP_ASSIGN, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LAND, OP_LOR,
    OP_COMMA, OP_ADDR, OP_DEREF, OP_NOT, OP_NEG, OP_INC, OP_DEC
};

struct cxu_macro {
    unsigned offset;   /* file offset of the macro name in the main file */
    const char *name;  /* owned by the macro table */
    CXCursor cursor;   /* the MacroExpansion */
    unsigned ops;      /* operators in its definition (bit per enum cxu_op), see macro_ops */
    int ops_known;
};

/* Per translation unit state: operator cache and the macro expansions of the main file. */
struct cxu_tu {
    CXTranslationUnit tu;
    CXFile main_file;
    char *main_name;
    struct cxu_macro *macros;
    unsigned nmacros;
    struct cxu_opslot *ops;
    unsigned ops_cap, ops_len;
};

/* Fill U for TU: collects macro expansions; never fails (out of memory aborts). */
void cxu_init(struct cxu_tu *u, CXTranslationUnit tu, const char *main_name);
void cxu_fini(struct cxu_tu *u);

/* Copy a CXString into malloc'd memory and dispose of it. */
char *cxu_take(CXString s);
/* Skip parentheses, implicit and explicit casts. */
CXCursor cxu_strip(CXCursor c);
/* Children of C in a malloc'd array (caller frees); returns the count. */
unsigned cxu_children(CXCursor c, CXCursor **out);
/* The Nth child, or a null cursor. */
CXCursor cxu_child(CXCursor c, unsigned n);
/* Line and column where C appears in the main file (macro uses map to the invocation). */
void cxu_line_col(CXCursor c, unsigned *line, unsigned *col);
unsigned cxu_line(CXCursor c);
/* File offset as written (macro arguments map to where they are written). */
unsigned cxu_file_offset(CXCursor c);
/* Whether C's location comes from a macro body rather than the file text. */
int cxu_in_macro(CXCursor c);
/* Operator of a BinaryOperator or UnaryOperator cursor (cached per cursor). */
enum cxu_op cxu_op(struct cxu_tu *u, CXCursor c);
/* Name of the macro whose expansion starts at C's file offset, or NULL. */
const char *cxu_macro_at(const struct cxu_tu *u, CXCursor c);
/* The MacroExpansion cursor starting at C's file offset, or a null cursor. */
CXCursor cxu_macro_cursor_at(const struct cxu_tu *u, CXCursor c);
/* Source text of C's extent joined from tokens (malloc'd); "" when unavailable. */
char *cxu_text(const struct cxu_tu *u, CXCursor c, unsigned max);
/* The called function's name; for calls through a pointer the name of the
 * member or variable holding it (tp_alloc, visit); NULL when there is none. */
char *cxu_callee(CXCursor call);
/* The member name C (casts and parentheses skipped) accesses, malloc'd;
 * NULL when C is not a member access. */
char *cxu_member_name(CXCursor c);
/* Whether the function NAME releases one reference of its (last) argument:
 * the refcount primitives, as the headers' inline functions and as the
 * exported ones. */
int cxu_is_release(const char *name);
/* The referenced declaration of a DeclRefExpr/MemberRefExpr. */
CXCursor cxu_ref(CXCursor c);
/* Whether T is a pointer to a Python object (PyObject or a struct whose
 * first member is ob_base / a PyObject_HEAD). */
int cxu_is_object_ptr(CXType t);

#endif
