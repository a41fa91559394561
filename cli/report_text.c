#include "report.h"

#include <inttypes.h>
#include <string.h>

static void frame(FILE *o, int i, const struct fd_frame *f)
{
    const char *fn = f->function ? f->function : "??";
    if (f->python) {
        fprintf(o, "    #%-2d %s  %s:%d  [python]\n", i, fn, f->file ? f->file : "??", f->line);
        return;
    }
    fprintf(o, "    #%-2d %s", i, fn);
    if (f->file)
        fprintf(o, "  %s:%d", f->file, f->line);
    fprintf(o, "  [%s]\n", f->module ? f->module : "??");
}

/* The text report stops a stack here; the JSON report has every frame. */
#define TEXT_MAX_FRAMES 24

static void stack(FILE *o, const char *title, const struct fd_stack *s)
{
    if (!s->n) {
        fprintf(o, "  %s: (no stack recorded)\n", title);
        return;
    }
    fprintf(o, "  %s:\n", title);
    for (int i = 0; i < s->n && i < TEXT_MAX_FRAMES; i++)
        frame(o, i, &s->frames[i]);
    if (s->n > TEXT_MAX_FRAMES)
        fprintf(o, "    ... %d more frames (all of them are in the JSON report)\n", s->n - TEXT_MAX_FRAMES);
}

static const char *stack_title(const char *name)
{
    static const struct {
        const char *name, *title;
    } titles[] = {
        {"access", "stack of the access"}, {"alloc", "allocated at"}, {"free", "freed at"},
        {"borrow", "borrowed at"}, {"steal", "stolen at"},
        {"track", "tracked at"},
    };
    if (!name)
        return "stack";
    for (size_t i = 0; i < sizeof titles / sizeof *titles; i++)
        if (!strcmp(name, titles[i].name))
            return titles[i].title;
    return name;
}

static void block(FILE *o, const struct fd_block *b)
{
    if (!b->present)
        return;
    fprintf(o, "  block: 0x%" PRIx64 ", %" PRIu64 " bytes, %s domain, %s%s%s\n", b->address, b->size,
            b->domain, b->state ? b->state : "live", b->type ? ", type " : "", b->type ? b->type : "");
    if (b->alloc.name)
        stack(o, "block allocated at", &b->alloc);
    if (b->free.name)
        stack(o, "block freed at", &b->free);
}

/* Frames of each history event in the text timeline: enough to see the
 * extension's function and its caller. */
#define TIMELINE_FRAMES 4

/* One event of a timeline: what, the count it left, the C-API function of
 * a boundary event, then its innermost frames. */
static void timeline_event(FILE *o, int i, const struct fd_event *e)
{
    fprintf(o, "   %2d. %-7s", i + 1, e->event);
    if (e->refcnt >= 0)
        fprintf(o, " refcnt %" PRId64, e->refcnt);
    if (e->func)
        fprintf(o, " by %s()", e->func);
    if (e->site_file) {
        const char *slash = strrchr(e->site_file, '/');
        fprintf(o, " at %s:%d", slash ? slash + 1 : e->site_file, e->site_line);
    }
    fputc('\n', o);
    for (int k = 0; k < e->stack.n && k < TIMELINE_FRAMES; k++) {
        fputs("    ", o); /* under the event's line */
        frame(o, k, &e->stack.frames[k]);
    }
    if (!e->stack.n)
        fputs("        (no stack recorded)\n", o);
}

/* The history's unpaired changes, and whether the pairing can be trusted. */
static void balance(FILE *o, const struct fd_balance *b)
{
    if (!b->present || (!b->nunpaired && b->complete))
        return;
    fprintf(o, "  balance (%d pair%s of +1 and -1):\n", b->paired, b->paired == 1 ? "" : "s");
    for (int i = 0; i < b->nunpaired; i++) {
        const struct fd_unpaired *u = &b->unpaired[i];
        fprintf(o, "    %+d at %s has no matching %s (event %d)%s\n", u->delta, u->site ? u->site : "?",
                u->delta > 0 ? "-1" : "+1", u->event + 1,
                u->borrowed ? ": that function only borrowed the object" : "");
    }
    if (!b->complete)
        fputs("    (incomplete: some changes were not recorded, such as the interpreter's own without a hardware\n"
              "     watchpoint; the pairing is a guess)\n", o);
}

/* Events of a timeline printed in full; the JSON report has all of them. */
#define TIMELINE_MAX 40

void rpt_timeline(FILE *o, const struct fd_finding *f)
{
    block(o, &f->block);
    if (!f->nhistory) {
        fputs("  history: none recorded (no ownership event reached this block)\n", o);
        return;
    }
    fprintf(o, "  history (%d events, oldest first):\n", f->nhistory);
    if (f->history_dropped)
        fprintf(o, "       (%" PRIu64 " more ownership events were not kept)\n", f->history_dropped);
    int skip_from = f->nhistory > TIMELINE_MAX ? TIMELINE_MAX / 2 : f->nhistory;
    int skip_to = f->nhistory > TIMELINE_MAX ? f->nhistory - TIMELINE_MAX / 2 : f->nhistory;
    for (int i = 0; i < f->nhistory; i++) {
        if (i == skip_from && skip_to > skip_from)
            fprintf(o, "       ... %d events (in the JSON report)\n", skip_to - skip_from);
        if (i < skip_from || i >= skip_to)
            timeline_event(o, i, &f->history[i]);
    }
    balance(o, &f->balance);
}

/* Watched objects printed with their timeline; the JSON report has all. */
#define TEXT_WATCHED_MAX 20

/* An object --watch chose, with its timeline. */
static void watched(FILE *o, const struct fd_watched *w)
{
    fprintf(o, "lifeline: watched: %s%s%s object 0x%" PRIx64 " chosen by %s: ", w->view.block.type ? "'" : "",
            w->view.block.type ? w->view.block.type : "an", w->view.block.type ? "'" : "",
            w->view.block.address, w->spec_text ? w->spec_text : "a --watch SPEC");
    if (w->hardware)
        fputs("every change recorded by a hardware watchpoint\n", o);
    else if (w->hardware_from >= 0)
        fprintf(o, "a hardware watchpoint from event %d on (%s); before, changes from extensions built with "
                   "`lifeline cflags` only\n", w->hardware_from + 1, w->no_hardware);
    else
        fprintf(o, "no hardware watchpoint (%s): changes from extensions built with `lifeline cflags` only\n",
                w->no_hardware ? w->no_hardware : "?");
    rpt_timeline(o, &w->view);
    fputc('\n', o);
}

/* The referrers of a refcount-too-low finding, each with where it was
 * allocated (its innermost frames). */
static void referrer_list(FILE *o, const struct fd_finding *f)
{
    for (int d = 0; d < f->ndetails; d++) {
        if (f->details[d].type != FD_REFERRERS)
            continue;
        for (int64_t i = 0; i < f->details[d].num; i++) {
            const struct fd_referrer *r = &f->details[d].referrers[i];
            fprintf(o, "  referenced from: 0x%" PRIx64 " (%s)", r->address, r->type ? r->type : "not an object");
            if (r->offset >= 0)
                fprintf(o, " at offset %" PRId64, r->offset);
            fputc('\n', o);
            if (r->alloc.n)
                stack(o, "    allocated at", &r->alloc);
        }
    }
}

static void finding(FILE *o, const struct fd_finding *f)
{
    fprintf(o, "lifeline: %s: %s\n", fd_kind_name(f->kind), f->summary ? f->summary : "");
    if (f->tid) /* 0: a finding about the heap, not about one thread's action (a leak) */
        fprintf(o, "  thread: %u (%s%s)\n", f->tid, f->thread_name ? f->thread_name : "?",
                f->thread_main ? ", main" : "");
    for (int i = 0; i < f->nstacks; i++)
        stack(o, stack_title(f->stacks[i].name), &f->stacks[i]);
    if (f->nhistory) {
        rpt_timeline(o, f);
    } else {
        block(o, &f->block);
    }
    referrer_list(o, f);
    fputc('\n', o);
}

/* Prints a list as "[1, 1, 1]". */
static void ints(FILE *o, const struct fd_ints *l)
{
    fputc('[', o);
    for (int i = 0; i < l->n; i++)
        fprintf(o, "%s%" PRId64, i ? ", " : "", l->v[i]);
    fputc(']', o);
}

/* The sum of a list (regrtest's "sum="). */
static int64_t sum(const struct fd_ints *l)
{
    int64_t s = 0;
    for (int i = 0; i < l->n; i++)
        s += l->v[i];
    return s;
}

/* regrtest's rule: every delta >= 1, and at least one. */
static bool all_grew(const struct fd_ints *l)
{
    for (int i = 0; i < l->n; i++)
        if (l->v[i] < 1)
            return false;
    return l->n > 0;
}

/* regrtest's line, "leaked [1, 1, 1] references, sum=3", for counters that grew on every run. */
static void leaked_line(FILE *o, const struct fd_ints *l, const char *what)
{
    fputs("lifeline: leaked ", o);
    ints(o, l);
    fprintf(o, " %s, sum=%" PRId64 "\n", what, sum(l));
}

/* A series of repetitions: its counters, then regrtest's lines for those that leaked. */
static void series(FILE *o, const struct fd_series *s)
{
    fprintf(o, "lifeline: repetitions: %d warm-up and %d measured run%s; deltas per run: references ", s->warmups,
            s->runs, s->runs == 1 ? "" : "s");
    if (s->refs_known)
        ints(o, &s->refs);
    else
        fputs("(not counted on a release build)", o);
    fputs(", memory blocks ", o);
    ints(o, &s->blocks);
    fputc('\n', o);
    if (s->refs_known && all_grew(&s->refs))
        leaked_line(o, &s->refs, "references");
    if (all_grew(&s->blocks))
        leaked_line(o, &s->blocks, "memory blocks");
}

void rpt_text(FILE *o, const struct fd_report *r)
{
    for (int i = 0; i < r->nnotes; i++)
        fprintf(o, "lifeline: note: %s\n", r->notes[i]);
    for (int i = 0; i < r->nfindings; i++)
        finding(o, &r->findings[i]);
    for (int i = 0; i < r->nseries; i++)
        series(o, &r->series[i]);
    for (int i = 0; i < r->nwatched && i < TEXT_WATCHED_MAX; i++)
        watched(o, &r->watched[i]);
    if (r->nwatched > TEXT_WATCHED_MAX)
        fprintf(o, "lifeline: watched: %d more objects (their timelines are in the JSON report)\n\n",
                r->nwatched - TEXT_WATCHED_MAX);
    int errors = fd_error_count(r);
    fprintf(o, "lifeline: summary: %d error%s, %d warning%s; %" PRIu64 " allocations, %" PRIu64
               " frees, peak %" PRIu64 " bytes live\n",
            errors, errors == 1 ? "" : "s", r->nfindings - errors, r->nfindings - errors == 1 ? "" : "s",
            r->stats.allocations, r->stats.frees, r->stats.peak_live_bytes);
    fflush(o);
}
