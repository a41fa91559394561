#include "replay.h"

#include <stdlib.h>
#include <string.h>

/* Ownership events take a block's memory from 32 to 48 bytes: a fixed
 * size per live block, kept whether or not the boundary saw the block. */
struct rp_live {
    uint64_t addr;
    uint64_t size;
    uint32_t stack, tid;
    uint32_t type; /* 0 until a BLOCK_TYPE record names it */
    uint8_t api;
    uint8_t borrow_func, steal_func;
    uint8_t pad[1];
    uint32_t borrow_stack, borrow_tid, steal_stack, steal_tid;
};

/* A live block as the replay's users see it, ownership events included. */
static void from_live(const struct rp_live *l, struct rp_block *out)
{
    *out = (struct rp_block){.addr = l->addr, .size = l->size, .alloc_stack = l->stack,
                             .alloc_api = l->api, .alloc_tid = l->tid, .type = l->type,
                             .borrow_func = l->borrow_func, .borrow_stack = l->borrow_stack,
                             .borrow_tid = l->borrow_tid, .steal_func = l->steal_func,
                             .steal_stack = l->steal_stack, .steal_tid = l->steal_tid};
}

/* Moves the history of the live block at addr, if any, into the freed
 * ring. Returns its position + 1 there, 0 when it had none. */
static uint64_t retire_history(struct rp_state *s, uint64_t addr)
{
    struct rp_history *h = tbl_find(&s->hist_live, addr);
    if (!h)
        return 0;
    uint64_t pos = s->hist_freed_next++;
    tbl_remove(&s->hist_live, addr, &s->hist_freed[pos % RP_HIST_FREED]);
    return pos + 1;
}

/* The watch entry of the block whose history is h, NULL when not watched. */
static struct rp_watch *watch_of(struct rp_state *s, const struct rp_history *h)
{
    return h && h->watch && h->watch <= (uint32_t)s->nwatches ? &s->watches[h->watch - 1] : NULL;
}

static void remember_free(struct rp_state *s, const struct rp_live *l, const struct jn_record *r, uint32_t tid)
{
    struct rp_block *b = &s->freed[s->freed_next++ % RP_FREED_WINDOW];
    from_live(l, b);
    struct rp_watch *w = watch_of(s, tbl_find(&s->hist_live, l->addr));
    b->hist = retire_history(s, l->addr);
    b->free_stack = r->stack;
    b->free_api = r->api;
    b->free_tid = tid;
    if (r->type)
        b->type = r->type; /* named at the free; else as a mark named it */
    if (w) {
        w->block = *b;
        w->freed = true;
    }
}

static bool add_live(struct rp_state *s, uint64_t addr, uint64_t size, const struct jn_record *r, uint32_t tid)
{
    bool inserted;
    struct rp_live *l = tbl_insert(&s->live, addr, &inserted);
    if (!l)
        return false;
    /* An address handed out again without a recorded free (a free the
     * agent passed through) replaces the old block. */
    if (!inserted)
        s->live_bytes -= l->size;
    tbl_remove(&s->hist_live, addr, NULL); /* a new life starts a new history */
    memset(&l->size, 0, sizeof *l - sizeof l->addr); /* a new life: no ownership events yet */
    l->size = size;
    l->type = 0;
    l->stack = r->stack;
    l->tid = tid;
    l->api = r->api;
    s->allocations++;
    s->live_bytes += size;
    if (s->live_bytes > s->peak_live_bytes)
        s->peak_live_bytes = s->live_bytes;
    return true;
}

static void drop_live(struct rp_state *s, uint64_t addr, const struct jn_record *r, uint32_t tid)
{
    struct rp_live l;
    if (!tbl_remove(&s->live, addr, &l))
        return;
    s->live_bytes -= l.size;
    s->frees++;
    remember_free(s, &l, r, tid);
}

/* Keeps an error with a snapshot of its block: live (an overflow found at
 * free, a mismatched free) or recently freed (a double free, a write into
 * a quarantined block). */
static void keep_error(struct rp_state *s, const struct jn_record *r)
{
    if (s->nerrors >= RP_MAX_ERRORS)
        return;
    struct rp_error *e = &s->errors[s->nerrors++];
    memset(e, 0, sizeof *e);
    e->rec = *r;
    e->known = rp_find(s, r->addr, 0, &e->block, &e->freed);
    if (e->known)
        rp_history_of(s, &e->block, e->freed, &e->history);
    if (r->u.error.other_addr && r->u.error.error != JN_ERR_REFCOUNT_LOW)
        e->other_known = rp_find(s, r->u.error.other_addr, 0, &e->other, &e->other_freed);
}

/* A REFERRER record: one more block holding a reference to the object of
 * the refcount-too-low error with the same seq. */
static void add_referrer(struct rp_state *s, const struct jn_record *r)
{
    for (int i = s->nerrors - 1; i >= 0; i--) {
        struct rp_error *e = &s->errors[i];
        if (e->rec.seq != r->seq)
            continue;
        if (e->nreferrers < RP_MAX_REFERRERS) {
            struct rp_referrer *x = &e->referrers[e->nreferrers++];
            bool freed;
            x->known = rp_find(s, r->addr, 0, &x->block, &freed);
            x->type = r->u.referrer.type;
            x->offset = r->u.referrer.offset;
            if (!x->known)
                x->block.addr = r->addr;
        }
        return;
    }
}

/* A LEAK record: the agent's scan found the block unreachable. It is
 * counted under its allocation stack, type and reachability. */
static bool add_leak(struct rp_state *s, const struct jn_record *r)
{
    const struct rp_live *l = tbl_find(&s->live, r->addr);
    if (!l) {
        s->leaks_unknown++;
        return true;
    }
    bool direct = (r->u.leak.flags & JN_LEAK_DIRECT) != 0;
    /* stack < 2^32, type < 2^31: distinct tuples give distinct keys, never 0 (the empty key) */
    uint64_t key = (((uint64_t)l->stack << 32) | ((uint64_t)(r->u.leak.type & 0x7fffffffu) << 1) | direct) + 1;
    bool inserted;
    if (s->leaks.count >= RP_MAX_LEAK_GROUPS && !tbl_find(&s->leaks, key)) {
        s->leaks_dropped++;
        return true;
    }
    struct rp_leak_group *g = tbl_insert(&s->leaks, key, &inserted);
    if (!g)
        return false;
    if (inserted) {
        *g = (struct rp_leak_group){.key = key, .alloc_stack = l->stack, .type = r->u.leak.type, .direct = direct,
                                    .api = l->api, .example_addr = l->addr, .example_size = l->size};
    }
    g->count++;
    g->bytes += l->size;
    return true;
}

/* Appends an ownership event to the history of the live block l; a block
 * without one gets none when RP_HIST_LIVE_MAX blocks have one. False if
 * memory ran out. */
static bool add_history(struct rp_state *s, const struct rp_live *l, const struct jn_record *r, uint32_t tid)
{
    bool inserted;
    if (s->hist_live.count >= RP_HIST_LIVE_MAX && !tbl_find(&s->hist_live, l->addr)) {
        s->hist_refused++;
        return true;
    }
    struct rp_history *h = tbl_insert(&s->hist_live, l->addr, &inserted);
    if (!h)
        return false;
    if (inserted)
        h->total = h->watch = 0;
    struct rp_hist_event e = {.refcnt = r->u.owner.refcnt, .stack = r->stack, .tid = tid,
                              .event = (uint8_t)r->u.owner.event, .func = r->u.owner.func};
    h->ev[h->total++ % RP_HIST_MAX] = e;
    struct rp_watch *w = watch_of(s, h);
    if (w && w->total++ < RP_WATCH_EVENTS)
        w->ev[w->total - 1] = e;
    return true;
}

/* A WATCH record: the live block's object is watched from here on. Its
 * history gets an entry even with no event yet, and its events from now on
 * are kept whole in the watch's own list. False if memory ran out. */
static bool add_watch(struct rp_state *s, const struct jn_record *r)
{
    struct rp_live *l = tbl_find(&s->live, r->addr);
    bool inserted;
    if (!l)
        return true;
    if (!l->type)
        l->type = r->u.watch.type; /* the agent read it to choose the object */
    struct rp_watch *again = watch_of(s, tbl_find(&s->hist_live, r->addr));
    if (again && (r->u.watch.flags & JN_WATCH_LATER)) {
        /* a debug register came free for it: recorded by hardware from here on */
        again->rec.u.watch.flags = r->u.watch.flags;
        again->hardware_from = again->total;
        return true;
    }
    if (s->nwatches >= RP_MAX_WATCHES) {
        s->watches_dropped++;
        return true;
    }
    struct rp_history *h = tbl_insert(&s->hist_live, r->addr, &inserted);
    struct rp_hist_event *ev = malloc(RP_WATCH_EVENTS * sizeof *ev);
    if (!h || !ev) {
        free(ev);
        return false;
    }
    if (inserted)
        h->total = 0;
    struct rp_watch *w = &s->watches[s->nwatches++];
    *w = (struct rp_watch){.rec = *r, .ev = ev};
    from_live(l, &w->block);
    h->watch = (uint32_t)s->nwatches;
    return true;
}

/* Keeps the history of a live block, and its most recent borrow and
 * steal. Events on blocks not live (the agent journals only live ones,
 * but a block it never saw allocated is not in the table) are left out.
 * False if memory ran out. */
static bool note_owner(struct rp_state *s, const struct jn_record *r, uint32_t tid)
{
    struct rp_live *l = tbl_find(&s->live, r->addr);
    bool change = r->u.owner.event == JN_OWN_INCREF || r->u.owner.event == JN_OWN_DECREF;
    if (!l || (!change && r->u.owner.func >= JN_CAPI_COUNT))
        return true;
    if (!add_history(s, l, r, tid))
        return false;
    if (r->u.owner.event == JN_OWN_BORROW) {
        l->borrow_func = (uint8_t)r->u.owner.func;
        l->borrow_stack = r->stack;
        l->borrow_tid = tid;
    } else if (r->u.owner.event == JN_OWN_STEAL) {
        l->steal_func = (uint8_t)r->u.owner.func;
        l->steal_stack = r->stack;
        l->steal_tid = tid;
    } else if (r->u.owner.event == JN_OWN_NEW) {
        /* The object's life began here (its memory may be a free list's). */
        l->stack = r->stack;
        l->tid = tid;
    }
    return true;
}

/* A BLOCK_TYPE record: the agent read the type of a live object block. */
static void set_type(struct rp_state *s, const struct jn_record *r)
{
    struct rp_live *l = tbl_find(&s->live, r->addr);
    if (l)
        l->type = r->u.block_type.type;
}

/* A MARK record: counts every live block into the series. */
static void mark(struct rp_state *s, const struct jn_record *r)
{
    size_t pos = 0;
    struct rp_live *l;
    sr_mark_begin(&s->series);
    while ((l = tbl_next(&s->live, &pos)) != NULL)
        sr_mark_block(&s->series, l->stack, l->type, l->addr, l->size, l->tid, l->api);
    sr_mark_end(&s->series, r);
}

static bool on_event(void *arg, const struct jn_record *r, uint32_t tid)
{
    struct rp_state *s = arg;
    if (r->kind == JN_K_ERROR) {
        keep_error(s, r);
        return true;
    }
    if (r->kind == JN_K_BLOCK_TYPE) {
        set_type(s, r);
        return true;
    }
    if (r->kind == JN_K_MARK) {
        mark(s, r);
        return true;
    }
    if (r->kind == JN_K_LEAK)
        return add_leak(s, r);
    if (r->kind == JN_K_REFERRER) {
        add_referrer(s, r);
        return true;
    }
    if (r->kind == JN_K_OWNER)
        return note_owner(s, r, tid);
    if (r->kind == JN_K_WATCH)
        return add_watch(s, r);
    if (r->kind > JN_K_REALLOC)
        return true;
    s->events++;
    switch (r->kind) {
    case JN_K_ALLOC:
        return add_live(s, r->addr, r->size, r, tid);
    case JN_K_FREE:
    case JN_K_FREE_TYPED:
        drop_live(s, r->addr, r, tid);
        return true;
    case JN_K_REALLOC:
        /* A resize counts as the free of the old block and a new allocation. */
        drop_live(s, r->old_addr, r, tid);
        return add_live(s, r->addr, r->size, r, tid);
    default:
        return true;
    }
}

bool rp_begin(struct jr_journal *j, struct rp_state *s)
{
    memset(s, 0, sizeof *s);
    tbl_init(&s->live, sizeof(struct rp_live));
    tbl_init(&s->leaks, sizeof(struct rp_leak_group));
    tbl_init(&s->hist_live, sizeof(struct rp_history));
    sr_init(&s->series, j);
    s->freed = calloc(RP_FREED_WINDOW, sizeof *s->freed);
    s->hist_freed = calloc(RP_HIST_FREED, sizeof *s->hist_freed);
    s->watches = calloc(RP_MAX_WATCHES, sizeof *s->watches);
    return s->freed && s->hist_freed && s->watches;
}

uint64_t rp_follow(struct jr_journal *j, struct rp_state *s)
{
    return jr_follow(j, on_event, s);
}

void rp_end(struct jr_journal *j, struct rp_state *s)
{
    jr_replay(j, on_event, s);
    sr_finish(&s->series);
}

bool rp_run(struct jr_journal *j, struct rp_state *s)
{
    if (!rp_begin(j, s))
        return false;
    rp_end(j, s);
    return true;
}

void rp_free(struct rp_state *s)
{
    tbl_destroy(&s->live);
    tbl_destroy(&s->leaks);
    tbl_destroy(&s->hist_live);
    sr_free(&s->series);
    free(s->freed);
    s->freed = NULL;
    free(s->hist_freed);
    s->hist_freed = NULL;
    for (int i = 0; i < s->nwatches; i++)
        free(s->watches[i].ev);
    free(s->watches);
    s->watches = NULL;
}

bool rp_history_of(const struct rp_state *s, const struct rp_block *b, bool freed, struct rp_history *out)
{
    const struct rp_history *h = NULL;
    if (!freed)
        h = tbl_find(&s->hist_live, b->addr);
    else if (b->hist && s->hist_freed_next - (b->hist - 1) <= RP_HIST_FREED)
        h = &s->hist_freed[(b->hist - 1) % RP_HIST_FREED];
    if (h && h->addr == b->addr) {
        *out = *h;
        const struct rp_watch *w = h->watch && h->watch <= (uint32_t)s->nwatches ? &s->watches[h->watch - 1] : NULL;
        out->wev = w ? w->ev : NULL;
        out->wtotal = w ? w->total : 0;
        out->whardware = w && (w->rec.u.watch.flags & JN_WATCH_HARDWARE) && !(w->rec.u.watch.flags & JN_WATCH_LATER);
        return true;
    }
    memset(out, 0, sizeof *out);
    return false;
}

/* Distance from addr to the block [a, a+size): 0 inside. */
static uint64_t distance(uint64_t addr, uint64_t a, uint64_t size)
{
    if (addr < a)
        return a - addr;
    if (addr >= a + (size ? size : 1))
        return addr - (a + size) + 1;
    return 0;
}

bool rp_find(const struct rp_state *s, uint64_t addr, uint64_t slack, struct rp_block *out, bool *freed)
{
    const struct rp_live *exact = tbl_find(&s->live, addr);
    if (exact) { /* the common case: the address of a live block */
        from_live(exact, out);
        *freed = false;
        return true;
    }
    uint64_t best = slack + 1;
    size_t pos = 0;
    struct rp_live *l;
    while ((l = tbl_next(&s->live, &pos)) != NULL) {
        uint64_t d = distance(addr, l->addr, l->size);
        if (d < best) {
            best = d;
            from_live(l, out);
            *freed = false;
        }
    }
    if (best == 0)
        return true;
    uint64_t n = s->freed_next < RP_FREED_WINDOW ? s->freed_next : RP_FREED_WINDOW;
    for (uint64_t i = 0; i < n; i++) {
        /* Newest first: an address freed twice names its latest life. */
        const struct rp_block *b = &s->freed[(s->freed_next - 1 - i) % RP_FREED_WINDOW];
        uint64_t d = distance(addr, b->addr, b->size);
        if (d < best) {
            best = d;
            *out = *b;
            *freed = true;
            if (d == 0)
                break;
        }
    }
    return best <= slack;
}
