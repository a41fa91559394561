/* Repetitions (`lifeline leaks -R W:M`, `lifeline.leaks()`): the replay counted the live blocks of
 * each allocation site and type at each MARK (series.c); this reports, as `leak` findings, the ones
 * that grew on every measured repetition, and the interpreter's own counters of each series. */
#include "detect.h"

#include <stdlib.h>
#include <string.h>

/* Copies a list of deltas into the report's arena. */
static struct fd_ints copy_ints(struct arena *a, const struct sr_deltas *d)
{
    int64_t *v = arena_alloc(a, (d->n ? d->n : 1) * sizeof *v);
    if (d->n)
        memcpy(v, d->v, d->n * sizeof *v);
    return (struct fd_ints){v, (int)d->n};
}

/* regrtest's rule: every delta >= 1 (and at least one delta). */
static bool all_grew(const struct sr_deltas *d)
{
    for (uint32_t i = 0; i < d->n; i++)
        if (d->v[i] < 1)
            return false;
    return d->n > 0;
}

/* "[1, 1, 1]" */
static const char *list_text(struct arena *a, const struct sr_deltas *d)
{
    const char *s = "[";
    for (uint32_t i = 0; i < d->n; i++)
        s = arena_printf(a, "%s%s%lld", s, i ? ", " : "", (long long)d->v[i]);
    return arena_printf(a, "%s]", s);
}

/* The types CPython 3.11 recycles through free lists: a new object of these may take the block of
 * one that died, so the block's allocation stack can be another object's. */
static bool recycled_type(const char *name)
{
    static const char *const names[] = {"float", "tuple", "list", "dict", "slice", "Context",
                                        "async_generator_asend", "async_generator_wrapped_value"};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i]))
            return true;
    return false;
}

/* The finding's one-line summary: what grew, per run, in all. */
static void summarize(struct arena *a, struct fd_finding *f, const struct sr_growth *g, uint32_t runs)
{
    const char *what = f->block.type ? arena_printf(a, "'%s' objects", f->block.type)
                                     : arena_printf(a, "blocks (%s domain)", f->block.domain);
    f->summary = arena_printf(a, "%s allocated here grew on every measured run: %s, %lld more (%lld bytes) after "
                                 "%u run%s", what, list_text(a, &g->per_run), (long long)g->count,
                              (long long)g->bytes, runs, runs == 1 ? "" : "s");
    if (recycled_type(f->block.type))
        f->summary = arena_printf(a, "%s; the interpreter recycles '%s' objects through a free list, so the leaked "
                                     "ones may have been made elsewhere, in memory first allocated here",
                                  f->summary, f->block.type);
}

/* The `leak` finding of one group: its example block, its allocation stack, the counts. */
static void one_growth(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct sr_state *s,
                       const struct sr_growth *g)
{
    struct fd_finding *f = fd_add(rep, FD_LEAK);
    /* No stack in the block: it goes in `stacks`. */
    struct rp_block b = {.addr = g->addr, .size = g->size, .alloc_api = g->api, .alloc_tid = g->tid,
                         .type = g->type};
    dt_thread(f, j, &rep->arena, g->tid);
    dt_block(rs, &b, false, g->addr, &f->block);
    f->block.alloc = (struct fd_stack){0};
    f->stacks[f->nstacks++] = (struct fd_stack){0};
    rs_stack(rs, g->stack, "alloc", &f->stacks[0]);
    fd_detail_int(f, "count", g->count);
    fd_detail_int(f, "bytes", g->bytes);
    struct fd_ints per_run = copy_ints(&rep->arena, &g->per_run);
    fd_detail_ints(f, "per_run", per_run.v, per_run.n);
    if (recycled_type(f->block.type))
        fd_detail_str(f, "recycled", "free-list");
    if (s->nseries > 1)
        fd_detail_int(f, "series", g->series);
    summarize(&rep->arena, f, g, s->series[g->series].runs);
}

/* The report's copy of a series' counters; an incomplete series gets a note, and its references
 * do not fail the run. */
static void add_series(struct fd_report *rep, const struct sr_series *in, struct fd_series *out)
{
    *out = (struct fd_series){
        .warmups = (int)in->warmups, .runs = (int)in->runs, .complete = in->complete,
        .refs_known = in->refs_known,
        .refs = copy_ints(&rep->arena, &in->refs), .blocks = copy_ints(&rep->arena, &in->live),
        .allocated = copy_ints(&rep->arena, &in->blocks),
        .refs_leaked = in->complete && in->refs_known && all_grew(&in->refs)};
    if (!in->complete)
        fd_note(rep, arena_printf(&rep->arena, "the repetitions stopped after %u measured run%s, before their end: "
                                               "what grew in them is not reported", in->runs,
                                  in->runs == 1 ? "" : "s"));
}

/* Report order: by series, then what grew most first. */
static int by_growth(const void *a, const void *b)
{
    const struct sr_growth *x = *(const struct sr_growth *const *)a, *y = *(const struct sr_growth *const *)b;
    if (x->series != y->series)
        return x->series < y->series ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void dt_repeat(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs)
{
    const struct sr_state *sr = &s->series;
    if (!sr->nseries)
        return;
    rep->series = arena_alloc(&rep->arena, sr->nseries * sizeof *rep->series);
    rep->nseries = (int)sr->nseries;
    for (uint32_t i = 0; i < sr->nseries; i++)
        add_series(rep, &sr->series[i], &rep->series[i]);
    const struct sr_growth **order = arena_alloc(&rep->arena, (sr->ngrowth + 1) * sizeof *order);
    for (uint32_t i = 0; i < sr->ngrowth; i++)
        order[i] = &sr->growth[i];
    qsort(order, sr->ngrowth, sizeof *order, by_growth);
    for (uint32_t i = 0; i < sr->ngrowth; i++)
        one_growth(rep, j, rs, sr, order[i]);
    if (sr->out_of_memory)
        fd_note(rep, "memory ran out while counting the repetitions: some growth may not be reported");
}
