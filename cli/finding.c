#include "finding.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[FD_KIND_COUNT] = {
    [FD_LEAK] = "leak",
    [FD_USE_AFTER_FREE] = "use-after-free",
    [FD_DOUBLE_FREE] = "double-free",
    [FD_INVALID_FREE] = "invalid-free",
    [FD_HEAP_BUFFER_OVERFLOW] = "heap-buffer-overflow",
    [FD_HEAP_BUFFER_UNDERFLOW] = "heap-buffer-underflow",
    [FD_UNINITIALIZED_FIELD] = "uninitialized-field",
    [FD_ALLOCATOR_MISMATCH] = "allocator-mismatch",
    [FD_GC_UNTRAVERSED_REFERENCE] = "gc-untraversed-reference",
    [FD_GC_DANGLING_REFERENCE] = "gc-dangling-reference",
    [FD_GC_TRACKED_UNINITIALIZED] = "gc-tracked-uninitialized",
    [FD_GC_FREED_WHILE_TRACKED] = "gc-freed-while-tracked",
    [FD_REFCOUNT_TOO_LOW] = "refcount-too-low",
    [FD_CRASH] = "crash",
};

const char *fd_kind_name(enum fd_kind k)
{
    return k < FD_KIND_COUNT ? kind_names[k] : "unknown";
}

struct fd_finding *fd_add(struct fd_report *r, enum fd_kind k)
{
    if (r->nfindings == r->cap) {
        int ncap = r->cap ? r->cap * 2 : 16;
        struct fd_finding *nf = realloc(r->findings, (size_t)ncap * sizeof *nf);
        if (!nf)
            abort();
        r->findings = nf;
        r->cap = ncap;
    }
    struct fd_finding *f = &r->findings[r->nfindings++];
    memset(f, 0, sizeof *f);
    f->kind = k;
    f->error = true;
    return f;
}

static struct fd_detail *new_detail(struct fd_finding *f, const char *key)
{
    if (f->ndetails >= FD_MAX_DETAILS)
        return NULL;
    struct fd_detail *d = &f->details[f->ndetails++];
    memset(d, 0, sizeof *d);
    d->key = key;
    return d;
}

void fd_detail_str(struct fd_finding *f, const char *key, const char *value)
{
    struct fd_detail *d = new_detail(f, key);
    if (d) {
        d->type = value ? FD_STR : FD_NULL;
        d->str = value;
    }
}

void fd_detail_int(struct fd_finding *f, const char *key, int64_t value)
{
    struct fd_detail *d = new_detail(f, key);
    if (d) {
        d->type = FD_INT;
        d->num = value;
    }
}

void fd_detail_block(struct fd_finding *f, const char *key, const struct fd_block *b)
{
    struct fd_detail *d = new_detail(f, key);
    if (d) {
        d->type = b && b->present ? FD_BLOCK : FD_NULL;
        d->block = b;
    }
}

void fd_detail_referrers(struct fd_finding *f, const char *key, const struct fd_referrer *r, int n)
{
    struct fd_detail *d = new_detail(f, key);
    if (d) {
        d->type = FD_REFERRERS;
        d->referrers = r;
        d->num = n;
    }
}

void fd_detail_ints(struct fd_finding *f, const char *key, const int64_t *v, int n)
{
    struct fd_detail *d = new_detail(f, key);
    if (d) {
        d->type = FD_INT_LIST;
        d->list = (struct fd_ints){v, n};
    }
}

void fd_note(struct fd_report *r, const char *text)
{
    if (r->nnotes == r->notes_cap) {
        int ncap = r->notes_cap ? r->notes_cap * 2 : 8;
        const char **nn = realloc(r->notes, (size_t)ncap * sizeof *nn);
        if (!nn)
            return;
        r->notes = nn;
        r->notes_cap = ncap;
    }
    r->notes[r->nnotes++] = text;
}

int fd_error_count(const struct fd_report *r)
{
    int n = 0;
    for (int i = 0; i < r->nfindings; i++)
        n += r->findings[i].error;
    return n;
}

bool fd_failed(const struct fd_report *r)
{
    for (int i = 0; i < r->nseries; i++)
        if (r->series[i].refs_leaked)
            return true;
    return fd_error_count(r) > 0;
}

void fd_report_free(struct fd_report *r)
{
    free(r->findings);
    free(r->notes);
    arena_free(&r->arena);
    memset(r, 0, sizeof *r);
}
