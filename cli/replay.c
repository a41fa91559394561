#include "replay.h"

#include <stdlib.h>
#include <string.h>

struct rp_live {
    uint64_t addr;
    uint64_t size;
    uint32_t stack, tid;
    uint32_t type; /* 0 until a BLOCK_TYPE record names it */
    uint8_t api;
    uint8_t pad[3];
};

static void remember_free(struct rp_state *s, const struct rp_live *l, const struct jn_record *r, uint32_t tid)
{
    struct rp_block *b = &s->freed[s->freed_next++ % RP_FREED_WINDOW];
    *b = (struct rp_block){
        .addr = l->addr, .size = l->size,
        .alloc_stack = l->stack, .alloc_api = l->api, .alloc_tid = l->tid,
        .free_stack = r->stack, .free_api = r->api, .free_tid = tid, .type = r->type,
    };
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

bool rp_run(struct jr_journal *j, struct rp_state *s)
{
    memset(s, 0, sizeof *s);
    tbl_init(&s->live, sizeof(struct rp_live));
    sr_init(&s->series, j);
    s->freed = calloc(RP_FREED_WINDOW, sizeof *s->freed);
    if (!s->freed)
        return false;
    jr_replay(j, on_event, s);
    sr_finish(&s->series);
    return true;
}

void rp_free(struct rp_state *s)
{
    tbl_destroy(&s->live);
    sr_free(&s->series);
    free(s->freed);
    s->freed = NULL;
}

static void from_live(const struct rp_live *l, struct rp_block *out)
{
    *out = (struct rp_block){.addr = l->addr, .size = l->size, .alloc_stack = l->stack,
                             .alloc_api = l->api, .alloc_tid = l->tid, .type = l->type};
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
