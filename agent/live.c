#include "live.h"

#include "../core/table.h"
#include "spin.h"

/* Striped so that threads allocating without the GIL rarely contend. */
#define STRIPES 64

struct live_entry {
    uint64_t addr;
    uint64_t meta; /* size << 16 | typed << 9 | guarded << 8 | api */
};

struct stripe {
    int lock;
    struct tbl table; /* protected by lock */
} __attribute__((aligned(64)));

static struct stripe stripes[STRIPES];
static bool live_ready; /* protected by: set once under stripe 0's lock */

static struct stripe *stripe_of(uintptr_t addr)
{
    return &stripes[(tbl_mix(addr) >> 58) & (STRIPES - 1)];
}

static void ensure_ready(void)
{
    if (__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        return;
    spin_lock(&stripes[0].lock);
    if (!live_ready) {
        for (int i = 0; i < STRIPES; i++)
            tbl_init(&stripes[i].table, sizeof(struct live_entry));
        __atomic_store_n(&live_ready, true, __ATOMIC_RELEASE);
    }
    spin_unlock(&stripes[0].lock);
}

bool live_add(uintptr_t addr, uint64_t size, uint8_t api, bool guarded)
{
    ensure_ready();
    struct stripe *s = stripe_of(addr);
    bool inserted;
    spin_lock(&s->lock);
    struct live_entry *e = tbl_insert(&s->table, addr, &inserted);
    if (e)
        e->meta = size << 16 | (uint64_t)guarded << 8 | api;
    spin_unlock(&s->lock);
    return e != NULL;
}

static void unpack(const struct live_entry *e, struct live_info *out)
{
    if (out) {
        out->size = e->meta >> 16;
        out->api = (uint8_t)e->meta;
        out->guarded = (e->meta >> 8) & 1;
        out->typed = (e->meta >> 9) & 1;
    }
}

bool live_remove(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    struct stripe *s = stripe_of(addr);
    struct live_entry e;
    spin_lock(&s->lock);
    bool found = tbl_remove(&s->table, addr, &e);
    spin_unlock(&s->lock);
    if (found)
        unpack(&e, out);
    return found;
}

void live_prefetch(uintptr_t addr)
{
    if (__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        tbl_prefetch(&stripe_of(addr)->table, addr);
}

bool live_find(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    struct stripe *s = stripe_of(addr);
    spin_lock(&s->lock);
    struct live_entry *e = tbl_find(&s->table, addr);
    if (e)
        unpack(e, out);
    spin_unlock(&s->lock);
    return e != NULL;
}

size_t live_count(void)
{
    size_t n = 0;
    for (int i = 0; i < STRIPES; i++)
        n += __atomic_load_n(&stripes[i].table.count, __ATOMIC_RELAXED);
    return n;
}

void live_set_typed(uintptr_t addr)
{
    ensure_ready();
    struct stripe *s = stripe_of(addr);
    spin_lock(&s->lock);
    struct live_entry *e = tbl_find(&s->table, addr);
    if (e)
        e->meta |= 1u << 9;
    spin_unlock(&s->lock);
}

/* The walk of live_each and live_each_untyped; `skip_typed` picks which. */
static void each(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg, bool skip_typed)
{
    ensure_ready();
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &stripes[i];
        size_t pos = 0;
        struct live_entry *e;
        spin_lock(&s->lock);
        while ((e = tbl_next(&s->table, &pos)) != NULL) {
            struct live_info li;
            unpack(e, &li);
            if (!skip_typed || !li.typed)
                fn(e->addr, &li, arg);
        }
        spin_unlock(&s->lock);
    }
}

void live_each(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg)
{
    each(fn, arg, false);
}

void live_each_untyped(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg)
{
    each(fn, arg, true);
}
