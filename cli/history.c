/* Object histories in findings and `lifeline history` (history.h). */
#include "history.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "detect.h"
#include "jreader.h"
#include "report.h"

/* The report name of an OWNER event. */
static const char *event_name(unsigned ev)
{
    static const char *const names[] = {
        [JN_OWN_BORROW] = "borrow", [JN_OWN_STEAL] = "steal",   [JN_OWN_TRACK] = "track",
        [JN_OWN_UNTRACK] = "untrack", [JN_OWN_INCREF] = "incref", [JN_OWN_DECREF] = "decref",
        [JN_OWN_NEW] = "new",
    };
    return ev <= JN_OWN_LAST && names[ev] ? names[ev] : "?";
}

/* True for a frame of include/lifeline_refs.h's own helpers or of
 * CPython's inline reference-count functions (object.h), inlined into the
 * code that changed the count: the change's site is the frame that called
 * them. A hardware watchpoint's stack starts at the exact instruction, in
 * the inlined Py_INCREF itself. */
static bool header_frame(const struct fd_frame *fr)
{
    static const char *const inlines[] = {"Py_INCREF", "Py_DECREF", "Py_XINCREF", "Py_XDECREF", "_Py_INCREF",
                                          "_Py_DECREF", "_Py_XINCREF", "_Py_XDECREF", "Py_NewRef", "Py_XNewRef",
                                          "_Py_NewRef", "_Py_XNewRef", "Py_SET_REFCNT", "_Py_SET_REFCNT"};
    if (fr->python || !fr->function)
        return false;
    if (!strncmp(fr->function, "lifeline_", 9))
        return true;
    for (size_t i = 0; i < sizeof inlines / sizeof *inlines; i++)
        if (!strcmp(fr->function, inlines[i]))
            return true;
    return false;
}

/* Fills one history event with a resolved stack that starts at the
 * extension's own code. */
static void put_event(struct rs_ctx *rs, struct fd_event *e, const char *name, int64_t refcnt, const char *func,
                      uint32_t stack)
{
    *e = (struct fd_event){.event = name, .refcnt = refcnt, .func = func};
    rs_stack(rs, stack, name, &e->stack);
    while (e->stack.n > 1 && header_frame(&e->stack.frames[0])) {
        e->stack.frames++;
        e->stack.n--;
    }
}

/* Fills one history event from a replayed ownership event: a boundary
 * event names its C-API function, an incref or decref its macro's file and
 * line when the journal has them. */
static void put_owner_event(struct rs_ctx *rs, struct fd_event *e, const struct rp_hist_event *x)
{
    bool change = x->event == JN_OWN_INCREF || x->event == JN_OWN_DECREF;
    put_event(rs, e, event_name(x->event), x->refcnt, change ? NULL : jn_capi_name(x->func), x->stack);
    struct jn_str file;
    uint32_t line;
    if (change && x->func && jr_site(rs->journal, x->func, &file, &line)) {
        e->site_file = arena_strndup(rs->arena, file.ptr, file.len);
        e->site_line = (int)line;
    }
}

/* The events of h to show, oldest first, into ev (from index n on):
 * those before the watch still in the ring, then the watch's own list.
 * Returns the new n; *dropped gets the events not kept. */
static int kept_events(struct rs_ctx *rs, const struct rp_history *h, struct fd_event *ev, int n, uint64_t *dropped)
{
    uint64_t before = h->wev ? h->total - h->wtotal : h->total; /* events before the WATCH record */
    uint64_t first = h->total > RP_HIST_MAX ? h->total - RP_HIST_MAX : 0;
    for (uint64_t i = first; i < before; i++) {
        put_owner_event(rs, &ev[n++], &h->ev[i % RP_HIST_MAX]);
    }
    uint64_t wkept = h->wev ? (h->wtotal < RP_WATCH_EVENTS ? h->wtotal : RP_WATCH_EVENTS) : 0;
    for (uint64_t i = 0; i < wkept; i++) {
        put_owner_event(rs, &ev[n++], &h->wev[i]);
    }
    *dropped = (before > first ? first : before) + (h->wev ? h->wtotal - wkept : 0);
    return n;
}

void hs_attach(struct rs_ctx *rs, const struct rp_block *b, bool freed, const struct rp_history *h,
               struct fd_finding *f)
{
    if (!h || (!h->total && !h->wev))
        return;
    struct fd_event *ev = arena_alloc(rs->arena, (RP_HIST_MAX + RP_WATCH_EVENTS + 2) * sizeof *ev);
    if (!ev)
        return;
    int n = 0;
    put_event(rs, &ev[n++], "alloc", -1, NULL, b->alloc_stack);
    n = kept_events(rs, h, ev, n, &f->history_dropped);
    if (freed)
        put_event(rs, &ev[n++], "free", 0, NULL, b->free_stack);
    f->history = ev;
    f->nhistory = n;
    bl_balance(rs->arena, ev, n, !freed, h->whardware, &f->balance);
}

const char *hs_balance_clause(struct arena *a, const struct fd_finding *f)
{
    const struct fd_balance *bl = &f->balance;
    if (!bl->present || !bl->nunpaired)
        return "";
    const struct fd_unpaired *u = &bl->unpaired[0];
    const char *more = bl->nunpaired > 1 ? arena_printf(a, " (and %d more unpaired)", bl->nunpaired - 1) : "";
    if (u->delta > 0)
        return arena_printf(a, "; +1 at %s has no matching -1%s", u->site ? u->site : "?", more);
    return arena_printf(a, "; -1 at %s has no matching +1%s%s", u->site ? u->site : "?",
                        u->borrowed ? " (that function only borrowed the object)" : "", more);
}

/* The innermost frame of s with a name that is not the header's own
 * inlined helper: the extension's line that changed the count. */
static const struct fd_frame *site_frame(const struct fd_stack *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->frames[i].function && !header_frame(&s->frames[i]))
            return &s->frames[i];
    return NULL;
}

const char *hs_release_clause(struct arena *a, const struct fd_finding *f)
{
    for (int i = f->nhistory - 1; i >= 0; i--) {
        const struct fd_event *e = &f->history[i];
        if (strcmp(e->event, "decref") != 0 || e->refcnt != 0)
            continue;
        const struct fd_frame *fr = site_frame(&e->stack);
        const char *file = fr && fr->file && fr->line > 0 ? fr->file : e->site_file;
        int line = fr && fr->file && fr->line > 0 ? fr->line : e->site_line;
        if (!fr && !file)
            return "";
        const char *slash = file ? strrchr(file, '/') : NULL;
        const char *in = fr ? arena_printf(a, " in %s()", fr->function) : "";
        if (!file)
            return arena_printf(a, "; its last reference was dropped by a decref%s", in);
        return arena_printf(a, "; its last reference was dropped by a decref%s at %s:%d", in,
                            slash ? slash + 1 : file, line);
    }
    return "";
}

/* Parses ADDR (hex with 0x, or decimal). False when it is not a number. */
static bool parse_addr(const char *s, uint64_t *out)
{
    char *end;
    *out = strtoull(s, &end, 0);
    return *s && !*end;
}

/* Prints the timeline of the block holding addr from a replayed journal.
 * Returns hs_command's status. */
static int print_block(struct jr_journal *j, const struct rp_state *st, uint64_t addr)
{
    struct rp_block b;
    bool freed;
    if (!rp_find(st, addr, 0, &b, &freed)) {
        fprintf(stderr, "lifeline: no live or recently freed block holds 0x%" PRIx64 "\n", addr);
        return 1;
    }
    struct fd_report rep = {0};
    struct rs_ctx rs = {0};
    if (!rs_init(&rs, j, &rep.arena)) {
        fputs("lifeline: out of memory while reading the journal\n", stderr);
        return 2;
    }
    struct fd_finding f = {0};
    struct rp_history h;
    rp_history_of(st, &b, freed, &h);
    dt_block(&rs, &b, freed, addr, &f.block);
    if (h.total)
        f.block.alloc.name = f.block.free.name = NULL; /* the timeline starts and ends with them */
    hs_attach(&rs, &b, freed, &h, &f);
    rpt_timeline(stdout, &f);
    rs_close(&rs);
    fd_report_free(&rep);
    return 0;
}

int hs_command(const char *journal, const char *addr_text)
{
    uint64_t addr;
    if (!parse_addr(addr_text, &addr)) {
        fprintf(stderr, "lifeline: '%s' is not an address\n", addr_text);
        return 2;
    }
    const char *why = NULL;
    struct jr_journal *j = jr_open(journal, &why);
    if (!j) {
        fprintf(stderr, "lifeline: cannot read the journal '%s': %s\n", journal, why);
        return 2;
    }
    struct rp_state st;
    int rc = 2;
    if (rp_run(j, &st))
        rc = print_block(j, &st, addr);
    else
        fputs("lifeline: out of memory while reading the journal\n", stderr);
    rp_free(&st);
    jr_close(j);
    return rc;
}
