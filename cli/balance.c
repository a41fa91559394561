#include "balance.h"

#include <string.h>

/* An increment not paired yet. */
struct open_ref {
    int event;
    const char *fn; /* the function of its site, NULL unknown */
};

#define BL_MAX_OPEN 4096

/* The frame that stands for where event e happened (see balance.h). */
static const struct fd_frame *site_frame(const struct fd_event *e)
{
    const struct fd_stack *s = &e->stack;
    if (!s->n)
        return NULL;
    if (strcmp(e->event, "alloc") != 0)
        return &s->frames[0];
    const char *mod = s->frames[0].module;
    for (int i = 1; i < s->n; i++) {
        const struct fd_frame *f = &s->frames[i];
        if (f->python || !mod || !f->module || strcmp(f->module, mod) != 0)
            return f;
    }
    return &s->frames[0];
}

/* The function of event e's site, NULL when unknown. */
static const char *site_function(const struct fd_event *e)
{
    const struct fd_frame *f = site_frame(e);
    return f ? f->function : NULL;
}

const char *bl_site(struct arena *a, const struct fd_event *e)
{
    const struct fd_frame *f = site_frame(e);
    /* The frame's own line (debug information) first, else the macro's. */
    const char *path = f && f->file && f->line > 0 ? f->file : e->site_file;
    int line = f && f->file && f->line > 0 ? f->line : e->site_line;
    const char *slash = path ? strrchr(path, '/') : NULL;
    const char *file = slash ? slash + 1 : path;
    if (file && line > 0)
        return f && f->function ? arena_printf(a, "%s:%d (%s)", file, line, f->function)
                                : arena_printf(a, "%s:%d", file, line);
    if (!f)
        return NULL;
    if (f->function)
        return arena_printf(a, "%s()", f->function);
    return arena_printf(a, "0x%llx", (unsigned long long)f->pc);
}

/* True if two function names are known and equal. */
static bool same_fn(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* The pairing's working state. */
struct bl_state {
    struct open_ref open[BL_MAX_OPEN];
    int nopen;
    const char *borrowers[64]; /* functions that borrowed the object */
    int nborrowers;
    struct fd_unpaired *unpaired;
    int nunpaired, paired;
    int64_t count;             /* the running count, -1 unknown */
    bool complete;
};

/* Records an unpaired change. */
static void unpaired(struct arena *a, struct bl_state *st, const struct fd_event *ev, int i, int delta,
                     bool borrowed)
{
    st->unpaired[st->nunpaired++] = (struct fd_unpaired){delta, bl_site(a, &ev[i]), i, borrowed};
}

/* True if fn borrowed the object earlier. */
static bool borrowed_by(const struct bl_state *st, const char *fn)
{
    for (int i = 0; i < st->nborrowers; i++)
        if (same_fn(st->borrowers[i], fn))
            return true;
    return false;
}

/* Removes open reference k. */
static void close_ref(struct bl_state *st, int k)
{
    memmove(&st->open[k], &st->open[k + 1], (size_t)(st->nopen - k - 1) * sizeof st->open[0]);
    st->nopen--;
    st->paired++;
}

/* A -1 at event i, in function fn: pairs it by the rules of balance.h. */
static void decrement(struct arena *a, struct bl_state *st, const struct fd_event *ev, int i, const char *fn)
{
    for (int k = st->nopen - 1; k >= 0; k--) {
        if (same_fn(st->open[k].fn, fn)) {
            close_ref(st, k);
            return;
        }
    }
    if (borrowed_by(st, fn) || !st->nopen) {
        unpaired(a, st, ev, i, -1, borrowed_by(st, fn));
        return;
    }
    close_ref(st, 0);
}

/* A +1 at event i. */
static void increment(struct bl_state *st, int i, const char *fn)
{
    if (st->nopen < BL_MAX_OPEN)
        st->open[st->nopen++] = (struct open_ref){i, fn};
    else
        st->complete = false;
}

/* Checks the count event e leaves against the running one, which moved by delta. */
static void follow_count(struct bl_state *st, const struct fd_event *e, int delta)
{
    int64_t want = st->count >= 0 ? st->count + delta : -1;
    if (e->refcnt >= 0 && want >= 0 && e->refcnt != want)
        st->complete = false;
    if (e->refcnt >= 0 || !delta)
        st->count = e->refcnt >= 0 ? e->refcnt : st->count;
    else
        st->count = want;
}

/* One event. */
static void step(struct arena *a, struct bl_state *st, const struct fd_event *ev, int i)
{
    const struct fd_event *e = &ev[i];
    const char *fn = site_function(e);
    if (!strcmp(e->event, "alloc")) {
        increment(st, i, fn);
        st->count = 1;
    } else if (!strcmp(e->event, "incref")) {
        increment(st, i, fn);
        follow_count(st, e, +1);
    } else if (!strcmp(e->event, "decref")) {
        decrement(a, st, ev, i, fn);
        follow_count(st, e, -1);
    } else if (!strcmp(e->event, "steal")) {
        decrement(a, st, ev, i, fn);
        increment(st, i, NULL); /* the container's: paired by the oldest-first rule */
        follow_count(st, e, 0);
    } else if (!strcmp(e->event, "borrow")) {
        if (st->nborrowers < 64 && fn)
            st->borrowers[st->nborrowers++] = fn;
        follow_count(st, e, 0);
    } else if (strcmp(e->event, "free") != 0) {
        follow_count(st, e, 0);
    }
}

void bl_balance(struct arena *a, const struct fd_event *ev, int n, bool live, bool hardware,
                struct fd_balance *out)
{
    static struct bl_state st; /* large; the cli is single-threaded */
    memset(out, 0, sizeof *out);
    if (n <= 0 || strcmp(ev[0].event, "alloc") != 0)
        return;
    memset(&st, 0, sizeof st);
    st.complete = true;
    st.count = 1;
    st.unpaired = arena_alloc(a, (size_t)(n + BL_MAX_OPEN) * sizeof *st.unpaired);
    if (!st.unpaired)
        return;
    for (int i = 0; i < n; i++)
        step(a, &st, ev, i);
    if ((!live && st.count != 0) || (live && !hardware))
        st.complete = false;
    for (int k = 0; live && k < st.nopen; k++)
        unpaired(a, &st, ev, st.open[k].event, +1, false);
    *out = (struct fd_balance){.present = true, .complete = st.complete, .paired = st.paired,
                               .unpaired = st.unpaired, .nunpaired = st.nunpaired};
}
