#include "series.h"

#include <stdlib.h>
#include <string.h>

/* What is known of one (allocation site, type) group. */
struct group {
    uint64_t key;
    int64_t count, bytes;           /* at the mark being taken */
    int64_t prev_count, prev_bytes; /* at the previous mark of the series */
    int64_t base_count, base_bytes; /* at the series' baseline */
    uint64_t addr, size;            /* the last block counted: an example */
    uint32_t stack, type, tid;
    uint32_t grown;                 /* measured repetitions over which the count grew every time */
    struct sr_deltas per_run;       /* their deltas, while the group still grows */
    uint8_t api;
    uint8_t pad[7];
};

struct cached_hash {
    uint64_t key;
    uint64_t hash;
};

void sr_init(struct sr_state *s, struct jr_journal *j)
{
    memset(s, 0, sizeof *s);
    s->journal = j;
    tbl_init(&s->stacks, sizeof(struct cached_hash));
    tbl_init(&s->types, sizeof(struct cached_hash));
    tbl_init(&s->groups, sizeof(struct group));
}

/* Appends v; false when memory ran out (the list is unchanged). */
static bool push(struct sr_deltas *d, int64_t v)
{
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 4;
        int64_t *nv = realloc(d->v, cap * sizeof *nv);
        if (!nv)
            return false;
        d->v = nv;
        d->cap = cap;
    }
    d->v[d->n++] = v;
    return true;
}

/* Empties a list and frees its memory. */
static void drop(struct sr_deltas *d)
{
    free(d->v);
    *d = (struct sr_deltas){0};
}

/* FNV-1a, mixed: names and file names into the canonical keys. */
static uint64_t str_hash(struct jn_str s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.ptr[i]) * 0x100000001b3ull;
    return tbl_mix(h);
}

/* The hash of a stack's frames as they read: native pcs, and Python frames by file, function and
 * line. An unknown stack hashes by its id (it cannot merge with anything). */
static uint64_t frames_hash(const struct jr_journal *j, uint32_t id)
{
    struct jn_record r;
    if (!jr_stack(j, id, &r))
        return tbl_mix(0x5eed0000ull + id);
    uint64_t h = 0x9e3779b97f4a7c15ull, pc_state = 0;
    const uint8_t *p = r.u.stack.frames;
    struct jn_frame f;
    while (jn_stack_next(&p, r.u.stack.end, &pc_state, &f) == 1) {
        uint64_t x = f.pc;
        if (f.python) {
            struct jn_str file = {"", 0}, name = {"", 0};
            jr_code(j, f.code_id, &file, &name);
            x = str_hash(file) ^ (str_hash(name) << 1) ^ f.line;
        }
        h = tbl_mix(h ^ x) + 1;
    }
    return h;
}

/* The hash of a type's name; 0 for no type (id 0) or an unknown one. */
static uint64_t type_hash(const struct jr_journal *j, uint32_t id)
{
    struct jn_str name;
    if (!id || !jr_type(j, id, &name))
        return 0;
    return str_hash(name);
}

/* Looks a hash up in cache t (keyed by id + 1), computing it on first use with fn. */
static uint64_t cached(struct sr_state *s, struct tbl *t, uint32_t id,
                       uint64_t (*fn)(const struct jr_journal *j, uint32_t id))
{
    bool inserted;
    struct cached_hash *c = tbl_insert(t, (uint64_t)id + 1, &inserted);
    if (c && !inserted)
        return c->hash;
    uint64_t h = fn(s->journal, id);
    if (c)
        c->hash = h;
    return h;
}

void sr_mark_begin(struct sr_state *s)
{
    size_t pos = 0;
    struct group *g;
    while ((g = tbl_next(&s->groups, &pos)) != NULL)
        g->count = g->bytes = 0;
    s->live_now = 0;
}

void sr_mark_block(struct sr_state *s, uint32_t stack, uint32_t type, uint64_t addr, uint64_t size, uint32_t tid,
                   uint8_t api)
{
    enum jn_domain d = jn_api_domain(api);
    if (d == JN_DOMAIN_MEM || d == JN_DOMAIN_OBJ)
        s->live_now++;
    uint64_t key = tbl_mix(cached(s, &s->stacks, stack, frames_hash) ^ (cached(s, &s->types, type, type_hash) * 3));
    bool inserted;
    struct group *g = tbl_insert(&s->groups, key ? key : 1, &inserted);
    if (!g) {
        s->out_of_memory = true;
        return;
    }
    g->count++;
    g->bytes += (int64_t)size;
    g->addr = addr;
    g->size = size;
    g->stack = stack;
    g->type = type;
    g->tid = tid;
    g->api = api;
}

/* Ends the series under way, from its closing mark (whose counts are not the series': the growth
 * is measured up to the last measured mark, which `prev` holds). A complete one keeps what grew on every measured repetition; of an
 * incomplete one (the target stopped during a run) only the counters are kept: with fewer runs
 * than asked for, growth on "every" run means less, and the run that stopped may have left
 * anything behind. */
static void end_series(struct sr_state *s, bool complete)
{
    size_t pos = 0;
    struct group *g;
    struct sr_series *cur = &s->series[s->nseries - 1];
    cur->complete = complete;
    while ((g = tbl_next(&s->groups, &pos)) != NULL) {
        if (!complete || !cur->runs || g->grown != cur->runs) {
            drop(&g->per_run);
            continue;
        }
        if (s->ngrowth == s->growth_cap) {
            uint32_t cap = s->growth_cap ? s->growth_cap * 2 : 16;
            struct sr_growth *ng = realloc(s->growth, cap * sizeof *ng);
            if (!ng) {
                s->out_of_memory = true;
                drop(&g->per_run);
                continue;
            }
            s->growth = ng;
            s->growth_cap = cap;
        }
        s->growth[s->ngrowth++] = (struct sr_growth){
            .series = s->nseries - 1, .stack = g->stack, .type = g->type, .tid = g->tid, .addr = g->addr,
            .size = g->size, .api = g->api, .count = g->prev_count - g->base_count,
            .bytes = g->prev_bytes - g->base_bytes, .per_run = g->per_run};
        g->per_run = (struct sr_deltas){0}; /* now the growth's */
    }
    s->in_series = false;
}

/* A zero mark: closes the series under way when it has measured runs; otherwise starts a series
 * when none is under way, or counts a warm-up; then moves the baseline here. */
static bool zero_mark(struct sr_state *s, const struct jn_record *r)
{
    if (s->in_series && s->series[s->nseries - 1].runs) {
        end_series(s, true);
        return true;
    }
    if (!s->in_series) {
        if (s->nseries == s->series_cap) {
            uint32_t cap = s->series_cap ? s->series_cap * 2 : 4;
            struct sr_series *ns = realloc(s->series, cap * sizeof *ns);
            if (!ns)
                return false;
            s->series = ns;
            s->series_cap = cap;
        }
        s->series[s->nseries++] = (struct sr_series){.refs_known = r->u.mark.total_refs >= 0};
        s->in_series = true;
    } else {
        s->series[s->nseries - 1].warmups++;
    }
    size_t pos = 0;
    struct group *g;
    while ((g = tbl_next(&s->groups, &pos)) != NULL) {
        g->base_count = g->prev_count = g->count;
        g->base_bytes = g->prev_bytes = g->bytes;
        g->grown = 0;
        drop(&g->per_run);
    }
    return true;
}

/* A measured mark: each group that grew on every measured repetition so far and grew again keeps
 * growing; the others are out of this series. */
static void measured_mark(struct sr_state *s, const struct jn_record *r)
{
    struct sr_series *cur = &s->series[s->nseries - 1];
    cur->runs++;
    bool ok = push(&cur->blocks, (int64_t)r->u.mark.total_blocks - s->prev_blocks) &&
              push(&cur->live, s->live_now - s->prev_live) &&
              (!cur->refs_known || push(&cur->refs, r->u.mark.total_refs - s->prev_refs));
    if (!ok)
        s->out_of_memory = true;
    size_t pos = 0;
    struct group *g;
    while ((g = tbl_next(&s->groups, &pos)) != NULL) {
        int64_t delta = g->count - g->prev_count;
        if (g->grown + 1 == cur->runs && delta >= 1 && push(&g->per_run, delta))
            g->grown++;
        else if (g->per_run.v)
            drop(&g->per_run);
        g->prev_count = g->count;
        g->prev_bytes = g->bytes;
    }
}

void sr_mark_end(struct sr_state *s, const struct jn_record *mark)
{
    if (mark->u.mark.index == 0) {
        if (!zero_mark(s, mark)) {
            s->out_of_memory = true;
            return;
        }
    } else if (s->in_series) {
        measured_mark(s, mark);
    } else {
        return;
    }
    s->prev_refs = mark->u.mark.total_refs;
    s->prev_blocks = (int64_t)mark->u.mark.total_blocks;
    s->prev_live = s->live_now;
}

void sr_finish(struct sr_state *s)
{
    if (s->in_series)
        end_series(s, false);
}

void sr_free(struct sr_state *s)
{
    size_t pos = 0;
    struct group *g;
    while ((g = tbl_next(&s->groups, &pos)) != NULL)
        drop(&g->per_run);
    for (uint32_t i = 0; i < s->ngrowth; i++)
        drop(&s->growth[i].per_run);
    for (uint32_t i = 0; i < s->nseries; i++) {
        drop(&s->series[i].refs);
        drop(&s->series[i].blocks);
        drop(&s->series[i].live);
    }
    free(s->growth);
    free(s->series);
    tbl_destroy(&s->stacks);
    tbl_destroy(&s->types);
    tbl_destroy(&s->groups);
    memset(s, 0, sizeof *s);
}
