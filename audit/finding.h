/* finding: the kinds of problems lifeline check reports, and a list of
 * findings. This is the only thing detection and output share. */
#ifndef LIFELINE_AUDIT_FINDING_H
#define LIFELINE_AUDIT_FINDING_H

#include <stddef.h>

enum fnd_kind {
    FK_LEAK,
    FK_DECREF_BORROWED,
    FK_DECREF_AFTER_STEAL,
    FK_DOUBLE_FREE,
    FK_BORROWED_AFTER_MUTATION,
    FK_STORE_BORROWED,
    FK_NULL_WITHOUT_EXCEPTION,
    FK_MISSING_NULL_CHECK,
    FK_ALLOCATOR_MISMATCH,
    FK_GC_UNTRAVERSED_REFERENCE,
    FK_GC_CLEAR_DANGLING,
    FK_DEALLOC_WITHOUT_UNTRACK,
    FK_GC_TRACKED_UNINITIALIZED,
    FK_UNINITIALIZED_FIELD,
    FK_COUNT
};

enum fnd_severity { FS_ERROR, FS_WARNING };

struct fnd_note {
    char *file;
    unsigned line;
    char *text;
};

struct finding {
    enum fnd_kind kind;
    enum fnd_severity severity;
    char *summary;
    char *file;
    unsigned line, column;
    char *function;
    struct fnd_note *path;
    size_t npath;
    char *variable;   /* may be NULL */
    char *api;        /* may be NULL */
};

struct fnd_list {
    struct finding *items;
    size_t len, cap;
};

/* The kind's name as printed in reports ("leak", "double-free", ...). */
const char *fnd_kind_name(enum fnd_kind kind);
/* One-line description of the kind, for SARIF rules and --help. */
const char *fnd_kind_help(enum fnd_kind kind);
const char *fnd_severity_name(enum fnd_severity sev);

/* Append a copy of F (strings and path are duplicated) unless an identical
 * kind/file/line/variable finding is already there. Aborts on out of memory. */
void fnd_add(struct fnd_list *list, const struct finding *f);
/* Move every finding of SRC to the end of DST, leaving SRC empty. */
void fnd_take(struct fnd_list *dst, struct fnd_list *src);
/* Order by file, line, column, kind so that output is stable. */
void fnd_sort(struct fnd_list *list);
void fnd_free(struct fnd_list *list);
/* Free the strings and path owned by one finding (not the finding itself). */
void fnd_release(struct finding *f);
size_t fnd_count(const struct fnd_list *list, enum fnd_severity sev);

/* malloc wrappers that abort: the tool has nothing useful to do without memory. */
void *fnd_xmalloc(size_t n);
void *fnd_xrealloc(void *p, size_t n);
char *fnd_xstrdup(const char *s);
/* printf into a fresh malloc'd string. */
char *fnd_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
