#include "finding.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[FK_COUNT] = {
    [FK_LEAK] = "leak",
    [FK_DECREF_BORROWED] = "decref-borrowed",
    [FK_DECREF_AFTER_STEAL] = "decref-after-steal",
    [FK_DOUBLE_FREE] = "double-free",
    [FK_BORROWED_AFTER_MUTATION] = "borrowed-after-mutation",
    [FK_STORE_BORROWED] = "store-borrowed",
    [FK_NULL_WITHOUT_EXCEPTION] = "null-without-exception",
    [FK_MISSING_NULL_CHECK] = "missing-null-check",
    [FK_ALLOCATOR_MISMATCH] = "allocator-mismatch",
    [FK_GC_UNTRAVERSED_REFERENCE] = "gc-untraversed-reference",
    [FK_GC_CLEAR_DANGLING] = "gc-clear-dangling",
    [FK_DEALLOC_WITHOUT_UNTRACK] = "dealloc-without-untrack",
    [FK_GC_TRACKED_UNINITIALIZED] = "gc-tracked-uninitialized",
    [FK_UNINITIALIZED_FIELD] = "uninitialized-field",
};

static const char *const kind_help[FK_COUNT] = {
    [FK_LEAK] = "a new reference is not released on some exit path",
    [FK_DECREF_BORROWED] = "a borrowed reference is released",
    [FK_DECREF_AFTER_STEAL] = "a reference is released after it was handed over (stolen or stored)",
    [FK_DOUBLE_FREE] = "a reference or block is released twice",
    [FK_BORROWED_AFTER_MUTATION] = "a borrowed reference is used after its container was changed or released",
    [FK_STORE_BORROWED] = "a borrowed reference is stored or handed to a stealing call without a new reference",
    [FK_NULL_WITHOUT_EXCEPTION] = "NULL is returned to Python without an exception set",
    [FK_MISSING_NULL_CHECK] = "a result that can be NULL is used without a check",
    [FK_ALLOCATOR_MISMATCH] = "memory is released by a different allocator family than the one that allocated it",
    [FK_GC_UNTRAVERSED_REFERENCE] = "an owned object field is never visited by tp_traverse",
    [FK_GC_CLEAR_DANGLING] = "tp_clear releases a field without setting it to NULL",
    [FK_DEALLOC_WITHOUT_UNTRACK] = "tp_dealloc of a GC type releases fields before PyObject_GC_UnTrack",
    [FK_GC_TRACKED_UNINITIALIZED] = "an object is tracked by the GC before all its object fields are set",
    [FK_UNINITIALIZED_FIELD] = "a new object is used or returned before all its object fields are set",
};

const char *fnd_kind_name(enum fnd_kind kind)
{
    return kind < FK_COUNT ? kind_names[kind] : "unknown";
}

const char *fnd_kind_help(enum fnd_kind kind)
{
    return kind < FK_COUNT ? kind_help[kind] : "";
}

const char *fnd_severity_name(enum fnd_severity sev)
{
    return sev == FS_ERROR ? "error" : "warning";
}

void *fnd_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("lifeline check: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *fnd_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fputs("lifeline check: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *fnd_xstrdup(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = fnd_xmalloc(n);
    memcpy(d, s ? s : "", n);
    return d;
}

char *fnd_xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out = NULL;
    va_start(ap, fmt);
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    if (!out) {
        fputs("lifeline check: out of memory\n", stderr);
        abort();
    }
    return out;
}

/* Equality of two nullable strings. */
static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Whether an equal finding (kind, file, line, variable) is in LIST. */
static int is_duplicate(const struct fnd_list *list, const struct finding *f)
{
    for (size_t i = 0; i < list->len; i++) {
        const struct finding *g = &list->items[i];
        if (g->kind == f->kind && g->line == f->line && same_str(g->file, f->file)
            && same_str(g->variable, f->variable))
            return 1;
    }
    return 0;
}

/* strdup that keeps NULL. */
static char *dup_or_null(const char *s)
{
    return s ? fnd_xstrdup(s) : NULL;
}

void fnd_add(struct fnd_list *list, const struct finding *f)
{
    if (is_duplicate(list, f))
        return;
    if (list->len == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->items = fnd_xrealloc(list->items, list->cap * sizeof *list->items);
    }
    struct finding *d = &list->items[list->len++];
    *d = *f;
    d->summary = fnd_xstrdup(f->summary);
    d->file = fnd_xstrdup(f->file);
    d->function = fnd_xstrdup(f->function);
    d->variable = dup_or_null(f->variable);
    d->api = dup_or_null(f->api);
    d->path = fnd_xmalloc((f->npath ? f->npath : 1) * sizeof *d->path);
    for (size_t i = 0; i < f->npath; i++) {
        d->path[i].file = fnd_xstrdup(f->path[i].file);
        d->path[i].line = f->path[i].line;
        d->path[i].text = fnd_xstrdup(f->path[i].text);
    }
}

void fnd_take(struct fnd_list *dst, struct fnd_list *src)
{
    for (size_t i = 0; i < src->len; i++) {
        if (dst->len == dst->cap) {
            dst->cap = dst->cap ? dst->cap * 2 : 16;
            dst->items = fnd_xrealloc(dst->items, dst->cap * sizeof *dst->items);
        }
        dst->items[dst->len++] = src->items[i];
    }
    free(src->items);
    src->items = NULL;
    src->len = src->cap = 0;
}

/* Output order: file, line, column, kind. */
static int cmp_finding(const void *pa, const void *pb)
{
    const struct finding *a = pa, *b = pb;
    int c = strcmp(a->file, b->file);
    if (c)
        return c;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    if (a->column != b->column)
        return a->column < b->column ? -1 : 1;
    return (int)a->kind - (int)b->kind;
}

void fnd_sort(struct fnd_list *list)
{
    if (list->len > 1)
        qsort(list->items, list->len, sizeof *list->items, cmp_finding);
}

void fnd_release(struct finding *f)
{
    free(f->summary);
    free(f->file);
    free(f->function);
    free(f->variable);
    free(f->api);
    for (size_t j = 0; j < f->npath; j++) {
        free(f->path[j].file);
        free(f->path[j].text);
    }
    free(f->path);
}

void fnd_free(struct fnd_list *list)
{
    for (size_t i = 0; i < list->len; i++)
        fnd_release(&list->items[i]);
    free(list->items);
    list->items = NULL;
    list->len = list->cap = 0;
}

size_t fnd_count(const struct fnd_list *list, enum fnd_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < list->len; i++)
        n += list->items[i].severity == sev;
    return n;
}
