/* The objects --watch chose (detect.h, dt_watched). */
#include <string.h>

#include "detect.h"
#include "history.h"

/* Why a WATCH record's object had no hardware watchpoint, NULL if it had one. */
static const char *no_hardware(uint32_t flags)
{
    if (flags & JN_WATCH_LATER)
        return "all 4 debug registers were watching objects chosen earlier, until one was freed";
    if (flags & JN_WATCH_HARDWARE)
        return NULL;
    if (flags & JN_WATCH_NO_SLOT)
        return "all 4 debug registers were watching objects chosen earlier";
    return "hardware watchpoints are not available";
}

/* One watched object into w. */
static void one(struct rs_ctx *rs, const struct rp_state *s, const struct rp_watch *rw, struct fd_watched *w)
{
    struct rp_history h;
    memset(w, 0, sizeof *w);
    uint32_t flags = rw->rec.u.watch.flags;
    w->spec = (int)rw->rec.u.watch.spec;
    w->hardware = (flags & JN_WATCH_HARDWARE) && !(flags & JN_WATCH_LATER);
    w->no_hardware = no_hardware(flags);
    w->hardware_from = -1;
    w->refcnt = rw->rec.u.watch.refcnt;
    dt_block(rs, &rw->block, rw->freed, rw->block.addr, &w->view.block);
    w->view.block.alloc.name = w->view.block.free.name = NULL; /* the timeline starts and ends with them */
    memset(&h, 0, sizeof h);
    if (!rp_history_of(s, &rw->block, rw->freed, &h)) {
        /* dropped from the freed ring: the watch's own list still has its events */
        h.addr = rw->block.addr;
        h.total = h.wtotal = rw->total;
        h.wev = rw->ev;
        h.whardware = w->hardware;
    }
    hs_attach(rs, &rw->block, rw->freed, &h, &w->view);
    if ((flags & JN_WATCH_LATER) && w->view.nhistory) {
        /* its history: alloc, the events before the WATCH record still kept, then the watch's own */
        uint64_t before = h.total - h.wtotal, first = h.total > RP_HIST_MAX ? h.total - RP_HIST_MAX : 0;
        uint64_t kept_before = before > first ? before - first : 0;
        w->hardware_from = (int)(1 + kept_before + rw->hardware_from);
    }
}

void dt_watched(struct fd_report *rep, const struct rp_state *s, struct rs_ctx *rs, const char *const *specs,
                int nspecs)
{
    if (!s->nwatches)
        return;
    rep->watched = arena_alloc(&rep->arena, (size_t)s->nwatches * sizeof *rep->watched);
    if (!rep->watched)
        return;
    for (int i = 0; i < s->nwatches; i++) {
        struct fd_watched *w = &rep->watched[rep->nwatched++];
        one(rs, s, &s->watches[i], w);
        w->spec_text = w->spec < nspecs ? specs[w->spec] : NULL;
        rep->watched_without_hardware += !w->hardware;
    }
    uint64_t waited = 0, later = 0;
    for (int i = 0; i < s->nwatches; i++) {
        uint32_t flags = s->watches[i].rec.u.watch.flags;
        waited += (flags & (JN_WATCH_NO_SLOT | JN_WATCH_LATER)) != 0;
        later += (flags & JN_WATCH_LATER) != 0;
    }
    if (waited)
        fd_note(rep, arena_printf(&rep->arena, "%llu of the %d objects --watch chose got no hardware watchpoint "
                                               "(4 debug registers, each watching one object in every thread, were "
                                               "taken by objects chosen earlier): only extensions built with "
                                               "`lifeline cflags` recorded their changes%s; narrow the SPEC with "
                                               "nth= and limit=", (unsigned long long)waited, s->nwatches,
                                  later ? arena_printf(&rep->arena, " until a register came free (%llu got one "
                                                                    "later)", (unsigned long long)later) : ""));
    if (s->watches_dropped)
        fd_note(rep, arena_printf(&rep->arena, "%llu more watched objects are not listed (at most %d are)",
                                  (unsigned long long)s->watches_dropped, RP_MAX_WATCHES));
}
