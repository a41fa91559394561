#include "report.h"

#include <inttypes.h>
#include <string.h>

static void jstr(FILE *o, const char *s)
{
    if (!s) {
        fputs("null", o);
        return;
    }
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", o); break;
        case '\\': fputs("\\\\", o); break;
        case '\n': fputs("\\n", o); break;
        case '\t': fputs("\\t", o); break;
        case '\r': fputs("\\r", o); break;
        default:
            if (*p < 0x20)
                fprintf(o, "\\u%04x", *p);
            else
                fputc(*p, o);
        }
    }
    fputc('"', o);
}

static void jint_or_null(FILE *o, int64_t v, bool present)
{
    if (present)
        fprintf(o, "%" PRId64, v);
    else
        fputs("null", o);
}

/* A JSON array of integers. */
static void ints(FILE *o, const struct fd_ints *l)
{
    fputc('[', o);
    for (int i = 0; i < l->n; i++)
        fprintf(o, "%s%" PRId64, i ? ", " : "", l->v[i]);
    fputc(']', o);
}

static void frame(FILE *o, const struct fd_frame *f)
{
    fprintf(o, "{\"kind\": \"%s\", \"function\": ", f->python ? "python" : "native");
    jstr(o, f->function);
    fputs(", \"file\": ", o);
    jstr(o, f->file);
    fputs(", \"line\": ", o);
    jint_or_null(o, f->line, f->line > 0);
    if (!f->python) {
        fputs(", \"module\": ", o);
        jstr(o, f->module);
        fprintf(o, ", \"pc\": \"0x%" PRIx64 "\"", f->pc);
    }
    fputc('}', o);
}

static void stack(FILE *o, const struct fd_stack *s)
{
    fputc('[', o);
    for (int i = 0; i < s->n; i++) {
        if (i)
            fputs(", ", o);
        frame(o, &s->frames[i]);
    }
    fputc(']', o);
}

/* The block object; with_stacks adds state and the alloc/free stacks (as
 * `nearest_block` carries them). */
static void block(FILE *o, const struct fd_block *b, bool with_stacks)
{
    if (!b->present) {
        fputs("null", o);
        return;
    }
    fprintf(o, "{\"address\": \"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"domain\": ", b->address, b->size);
    jstr(o, b->domain);
    fputs(", \"type\": ", o);
    jstr(o, b->type);
    fprintf(o, ", \"offset\": %" PRId64, b->offset);
    if (with_stacks) {
        fputs(", \"state\": ", o);
        jstr(o, b->state);
        fputs(", \"alloc\": ", o);
        stack(o, &b->alloc);
        fputs(", \"free\": ", o);
        stack(o, &b->free);
    }
    fputc('}', o);
}

static void referrers(FILE *o, const struct fd_referrer *r, int64_t n)
{
    fputc('[', o);
    for (int64_t i = 0; i < n; i++) {
        fputs(i ? ", {\"type\": " : "{\"type\": ", o);
        jstr(o, r[i].type);
        fprintf(o, ", \"address\": \"0x%" PRIx64 "\", \"offset\": ", r[i].address);
        jint_or_null(o, r[i].offset, r[i].offset >= 0);
        fputs(", \"alloc\": ", o);
        stack(o, &r[i].alloc);
        fputc('}', o);
    }
    fputc(']', o);
}

static void details(FILE *o, const struct fd_finding *f)
{
    fputc('{', o);
    for (int i = 0; i < f->ndetails; i++) {
        const struct fd_detail *d = &f->details[i];
        fputs(i ? ", " : "", o);
        jstr(o, d->key);
        fputs(": ", o);
        switch (d->type) {
        case FD_STR: jstr(o, d->str); break;
        case FD_INT: fprintf(o, "%" PRId64, d->num); break;
        case FD_BLOCK: block(o, d->block, true); break;
        case FD_NULL: fputs("null", o); break;
        case FD_REFERRERS: referrers(o, d->referrers, d->num); break;
        case FD_INT_LIST: ints(o, &d->list); break;
        }
    }
    fputc('}', o);
}

/* The `history` list: events in time order, refcnt null when unknown. */
static void history(FILE *o, const struct fd_finding *f)
{
    fputs(",\n     \"history\": [", o);
    for (int i = 0; i < f->nhistory; i++) {
        const struct fd_event *e = &f->history[i];
        fputs(i ? ",\n       {\"event\": " : "\n       {\"event\": ", o);
        jstr(o, e->event);
        fputs(", \"refcnt\": ", o);
        jint_or_null(o, e->refcnt, e->refcnt >= 0);
        if (e->func) {
            fputs(", \"func\": ", o);
            jstr(o, e->func);
        }
        if (e->site_file) {
            fputs(", \"site\": {\"file\": ", o);
            jstr(o, e->site_file);
            fprintf(o, ", \"line\": %d}", e->site_line);
        }
        fputs(", \"stack\": ", o);
        stack(o, &e->stack);
        fputc('}', o);
    }
    fputc(']', o);
}

/* The `balance` object: the pairing of the history's changes (cli/balance.h). */
static void balance(FILE *o, const struct fd_balance *b)
{
    fprintf(o, ",\n     \"balance\": {\"complete\": %s, \"paired\": %d, \"unpaired\": [",
            b->complete ? "true" : "false", b->paired);
    for (int i = 0; i < b->nunpaired; i++) {
        const struct fd_unpaired *u = &b->unpaired[i];
        fprintf(o, "%s{\"delta\": %d, \"site\": ", i ? ", " : "", u->delta);
        jstr(o, u->site);
        fprintf(o, ", \"event\": %d, \"borrowed\": %s}", u->event, u->borrowed ? "true" : "false");
    }
    fputs("]}", o);
}

static void finding(FILE *o, const struct fd_finding *f)
{
    fputs("    {\"kind\": ", o);
    jstr(o, fd_kind_name(f->kind));
    fprintf(o, ", \"severity\": \"%s\", \"summary\": ", f->error ? "error" : "warning");
    jstr(o, f->summary);
    if (f->tid) {
        fprintf(o, ",\n     \"thread\": {\"id\": %u, \"name\": ", f->tid);
        jstr(o, f->thread_name);
        fprintf(o, ", \"main\": %s},\n     \"block\": ", f->thread_main ? "true" : "false");
    } else {
        fprintf(o, ",\n     \"thread\": null,\n     \"block\": ");
    }
    block(o, &f->block, false);
    fputs(",\n     \"stacks\": {", o);
    for (int i = 0; i < f->nstacks; i++) {
        fputs(i ? ",\n       " : "\n       ", o);
        jstr(o, f->stacks[i].name);
        fputs(": ", o);
        stack(o, &f->stacks[i]);
    }
    fputs("},\n     \"details\": ", o);
    details(o, f);
    if (f->nhistory)
        history(o, f);
    if (f->balance.present)
        balance(o, &f->balance);
    fputc('}', o);
}

/* One object --watch chose: its SPEC, how it was watched, its block,
 * history and balance. */
static void watched_one(FILE *o, const struct fd_watched *w)
{
    fprintf(o, "    {\"spec_index\": %d, \"spec\": ", w->spec);
    jstr(o, w->spec_text);
    fprintf(o, ", \"hardware\": %s, \"no_hardware\": ", w->hardware ? "true" : "false");
    jstr(o, w->no_hardware);
    fputs(", \"hardware_from_event\": ", o);
    jint_or_null(o, w->hardware_from, w->hardware_from >= 0);
    fprintf(o, ", \"refcnt_when_chosen\": %" PRId64 ",\n     \"block\": ", w->refcnt);
    block(o, &w->view.block, false);
    fprintf(o, ", \"history_dropped\": %" PRIu64, w->view.history_dropped);
    if (w->view.nhistory)
        history(o, &w->view);
    if (w->view.balance.present)
        balance(o, &w->view.balance);
    fputc('}', o);
}

/* The top-level `watched` list (a field lifeline adds to report-v1). */
static void watched(FILE *o, const struct fd_report *r)
{
    fputs("  \"watched\": [", o);
    for (int i = 0; i < r->nwatched; i++) {
        fputs(i ? ",\n" : "\n", o);
        watched_one(o, &r->watched[i]);
    }
    fputs(r->nwatched ? "\n  ],\n" : "],\n", o);
}

static void target(FILE *o, const struct fd_target *t)
{
    fputs("  \"target\": {\n    \"argv\": [", o);
    for (int i = 0; i < t->argc; i++) {
        fputs(i ? ", " : "", o);
        jstr(o, t->argv[i]);
    }
    fprintf(o, "],\n    \"pid\": %u,\n    \"python\": ", t->pid);
    if (t->python_seen) {
        fputs("{\"version\": ", o);
        jstr(o, t->py_version);
        fprintf(o, ", \"debug_build\": %s, \"executable\": ", t->debug_build ? "true" : "false");
        jstr(o, t->executable);
        fputc('}', o);
    } else {
        fputs("null", o);
    }
    fputs(",\n    \"exit\": {\"status\": ", o);
    jint_or_null(o, t->exit_status, !t->signal);
    fputs(", \"signal\": ", o);
    jstr(o, t->signal);
    fputs("}\n  },\n", o);
}

/* One series of repetitions: the counters regrtest -R shows. */
static void series(FILE *o, const struct fd_series *s)
{
    fprintf(o, "{\"warmups\": %d, \"runs\": %d, \"complete\": %s, \"refcount_deltas\": ", s->warmups, s->runs,
            s->complete ? "true" : "false");
    if (s->refs_known)
        ints(o, &s->refs);
    else
        fputs("null", o);
    fputs(", \"block_deltas\": ", o);
    ints(o, &s->blocks);
    fputs(", \"allocated_blocks_deltas\": ", o);
    ints(o, &s->allocated);
    fprintf(o, ", \"refcount_leaked\": %s", s->refs_leaked ? "true" : "false");
}

/* "repetitions": the first series, with the later ones (several lifeline.leaks() calls) in
 * "later_series". */
static void repetitions(FILE *o, const struct fd_report *r)
{
    if (!r->nseries)
        return;
    fputs("  \"repetitions\": ", o);
    series(o, &r->series[0]);
    if (r->nseries > 1) {
        fputs(", \"later_series\": [", o);
        for (int i = 1; i < r->nseries; i++) {
            fputs(i > 1 ? ", " : "", o);
            series(o, &r->series[i]);
            fputc('}', o);
        }
        fputc(']', o);
    }
    fputs("},\n", o);
}

bool rpt_json(FILE *o, const struct fd_report *r)
{
    fputs("{\n  \"schema\": \"lifeline-report/1\",\n", o);
    fputs("  \"tool\": {\"name\": \"lifeline\", \"version\": \"" LIFELINE_VERSION "\"},\n", o);
    target(o, &r->target);
    fputs("  \"findings\": [", o);
    for (int i = 0; i < r->nfindings; i++) {
        fputs(i ? ",\n" : "\n", o);
        finding(o, &r->findings[i]);
    }
    fputs(r->nfindings ? "\n  ],\n" : "],\n", o);
    repetitions(o, r);
    if (r->nwatched)
        watched(o, r);
    fprintf(o, "  \"stats\": {\"allocations\": %" PRIu64 ", \"frees\": %" PRIu64
               ", \"peak_live_bytes\": %" PRIu64 ", \"events\": %" PRIu64,
            r->stats.allocations, r->stats.frees, r->stats.peak_live_bytes, r->stats.events);
    if (r->stats.target_max_rss_kb)
        fprintf(o, ", \"target_max_rss_kb\": %ld, \"target_cpu_seconds\": %.3f", r->stats.target_max_rss_kb,
                (double)r->stats.target_cpu_ms / 1000.0);
    if (r->nwatched)
        fprintf(o, ", \"watched\": %d, \"watched_without_hardware\": %" PRIu64, r->nwatched,
                r->watched_without_hardware);
    fputs("},\n", o);
    fputs("  \"notes\": [", o);
    for (int i = 0; i < r->nnotes; i++) {
        fputs(i ? ", " : "", o);
        jstr(o, r->notes[i]);
    }
    fputs("]\n}\n", o);
    fflush(o);
    return !ferror(o);
}
