#include "live.h"

#include "../core/journal.h"
#include "../core/os.h"
#include "../core/table.h"
#include "spin.h"

/* Two stores. Nearly every block (16-byte aligned, under 16 MiB) has its
 * word in a shadow of the address space, as ASan keeps its shadow: one
 * 32-bit word for every 16 bytes, at a place computed from the address.
 * Finding a block is one load: no hash, no probe, no lock, and the words of
 * blocks that lie near each other share cache lines, where a hash table
 * scatters them over all its memory. With a hash table alone, its cache
 * misses cost the journal-only mode as much as the stack capture
 * (docs/performance.md). The shadow is reserved, not committed: only its
 * pages that hold a block's word take memory, at most a quarter of the
 * pages blocks start in.
 *
 * The other blocks (unaligned, huge, above the shadow's reach, or all of
 * them when the shadow cannot be reserved) go to a hash table, striped so
 * that threads allocating without the GIL rarely contend.
 *
 * A block's word is written by the thread that allocates or frees it, and
 * the allocator hands an address to one owner at a time, so the shadow
 * needs no lock; two threads freeing one block at the same instant may
 * both find it live, where the locked table let only one. */

#define ADDR_BITS 47 /* user addresses on x86-64 and aarch64 with 4-level page tables */
#define GRANULE_SHIFT 4
#define SHADOW_BYTES ((size_t)sizeof(uint32_t) << (ADDR_BITS - GRANULE_SHIFT)) /* 32 TiB, reserved */

/* A block's word: live, typed, guarded, its api and its size. */
#define W_LIVE (1u << 31)
#define W_TYPED (1u << 30)
#define W_GUARDED (1u << 29)
#define W_API_SHIFT 24
#define W_API_MASK 0x1fu
#define W_SIZE_MAX ((1u << W_API_SHIFT) - 1)
_Static_assert(JN_API_COUNT <= W_API_MASK + 1, "an api must fit in a shadow word");

/* The walks visit only the regions (64 KiB of address space, 16 KiB of
 * shadow) where a block was ever added: a bit per region, and a summary bit
 * per 2^15 regions (a 4 KiB page of region bits) to find those. */
#define REGION_SHIFT 16
#define REGION_WORDS (1u << (REGION_SHIFT - GRANULE_SHIFT))
#define REGIONS ((uint64_t)1 << (ADDR_BITS - REGION_SHIFT))
#define GROUP_SHIFT 15
#define SUMMARY_WORDS (REGIONS >> GROUP_SHIFT >> 6)

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
/* protected by: atomic adds; the blocks in the stripes' tables, so that a
 * block the shadow does not know looks there only when some block is */
static size_t table_blocks;
/* protected by: set once under stripe 0's lock before live_ready */
static bool live_ready;
static uint32_t *shadow;      /* NULL: every block goes to the table */
static uint64_t *region_bits; /* a bit per region, set atomically */
/* protected by: atomic bit sets */
static uint64_t summary[SUMMARY_WORDS];

static void ensure_ready(void)
{
    if (__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        return;
    spin_lock(&stripes[0].lock);
    if (!live_ready) {
        for (int i = 0; i < STRIPES; i++)
            tbl_init(&stripes[i].table, sizeof(struct live_entry));
        uint32_t *s = os_reserve(SHADOW_BYTES);
        uint64_t *r = os_reserve(REGIONS / 8);
        if (s && r) {
            shadow = s;
            region_bits = r;
        } else {
            os_unmap(s, SHADOW_BYTES);
            os_unmap(r, REGIONS / 8);
        }
        __atomic_store_n(&live_ready, true, __ATOMIC_RELEASE);
    }
    spin_unlock(&stripes[0].lock);
}

/* ---- the shadow ---- */

/* True when addr's word can be in the shadow. */
static inline bool shadowed(uintptr_t addr)
{
    return shadow && !(addr & ((1u << GRANULE_SHIFT) - 1)) && !(addr >> ADDR_BITS);
}

static inline uint32_t *word_of(uintptr_t addr)
{
    return shadow + (addr >> GRANULE_SHIFT);
}

static inline uint32_t load_word(const uint32_t *w)
{
    return __atomic_load_n(w, __ATOMIC_RELAXED);
}

static void unpack_word(uint32_t v, struct live_info *out)
{
    if (out) {
        out->size = v & W_SIZE_MAX;
        out->api = (uint8_t)((v >> W_API_SHIFT) & W_API_MASK);
        out->guarded = (v & W_GUARDED) != 0;
        out->typed = (v & W_TYPED) != 0;
    }
}

/* Marks addr's region as one the walks must visit. */
static inline void mark_region(uintptr_t addr)
{
    uint64_t region = addr >> REGION_SHIFT, bit = 1ull << (region & 63);
    uint64_t *w = &region_bits[region >> 6];
    if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
        return;
    uint64_t group = region >> GROUP_SHIFT;
    __atomic_fetch_or(&summary[group >> 6], 1ull << (group & 63), __ATOMIC_RELAXED);
    __atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

/* ---- the table ---- */

static struct stripe *stripe_of(uintptr_t addr)
{
    return &stripes[(tbl_mix(addr) >> 58) & (STRIPES - 1)];
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

static bool table_add(uintptr_t addr, uint64_t size, uint8_t api, bool guarded)
{
    struct stripe *s = stripe_of(addr);
    bool inserted;
    spin_lock(&s->lock);
    struct live_entry *e = tbl_insert(&s->table, addr, &inserted);
    if (e)
        e->meta = size << 16 | (uint64_t)guarded << 8 | api;
    spin_unlock(&s->lock);
    if (e && inserted)
        __atomic_add_fetch(&table_blocks, 1, __ATOMIC_RELAXED);
    return e != NULL;
}

static bool table_remove(uintptr_t addr, struct live_info *out)
{
    if (shadow && !__atomic_load_n(&table_blocks, __ATOMIC_RELAXED))
        return false;
    struct stripe *s = stripe_of(addr);
    struct live_entry e;
    spin_lock(&s->lock);
    bool found = tbl_remove(&s->table, addr, &e);
    spin_unlock(&s->lock);
    if (found) {
        __atomic_sub_fetch(&table_blocks, 1, __ATOMIC_RELAXED);
        unpack(&e, out);
    }
    return found;
}

/* ---- the interface ---- */

/* Adds a block to the table. */
static bool add_to_table(uintptr_t addr, uint64_t size, uint8_t api, bool guarded)
{
    /* Where a block was never seen freed: its word must not hide the
     * table's entry. */
    if (shadowed(addr) && load_word(word_of(addr)))
        __atomic_store_n(word_of(addr), 0, __ATOMIC_RELAXED);
    return table_add(addr, size, api, guarded);
}

bool live_add(uintptr_t addr, uint64_t size, uint8_t api, bool guarded)
{
    ensure_ready();
    if (!shadowed(addr) || size > W_SIZE_MAX)
        return add_to_table(addr, size, api, guarded);
    mark_region(addr);
    __atomic_store_n(word_of(addr), W_LIVE | (guarded ? W_GUARDED : 0) | (uint32_t)api << W_API_SHIFT | (uint32_t)size,
                     __ATOMIC_RELAXED);
    return true;
}

/* One block per page would commit a page of shadow per 16 KiB of the
 * range they span: the guarded pool's 4096 pages and more took 8 MiB. */
bool live_add_sparse(uintptr_t addr, uint64_t size, uint8_t api)
{
    ensure_ready();
    return add_to_table(addr, size, api, false);
}

bool live_remove(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    if (shadowed(addr)) {
        uint32_t *w = word_of(addr);
        uint32_t v = load_word(w);
        if (v & W_LIVE) {
            __atomic_store_n(w, 0, __ATOMIC_RELAXED);
            unpack_word(v, out);
            return true;
        }
    }
    return table_remove(addr, out);
}

void live_prefetch(uintptr_t addr)
{
    if (!__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        return;
    if (shadowed(addr))
        os_prefetch(word_of(addr));
    else
        tbl_prefetch(&stripe_of(addr)->table, addr);
}

bool live_find(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    if (shadowed(addr)) {
        uint32_t v = load_word(word_of(addr));
        if (v & W_LIVE) {
            unpack_word(v, out);
            return true;
        }
        if (!__atomic_load_n(&table_blocks, __ATOMIC_RELAXED))
            return false;
    }
    struct stripe *s = stripe_of(addr);
    spin_lock(&s->lock);
    struct live_entry *e = tbl_find(&s->table, addr);
    if (e)
        unpack(e, out);
    spin_unlock(&s->lock);
    return e != NULL;
}

void live_set_typed(uintptr_t addr)
{
    ensure_ready();
    if (shadowed(addr)) {
        uint32_t *w = word_of(addr);
        uint32_t v = load_word(w);
        while (v & W_LIVE)
            if (__atomic_compare_exchange_n(w, &v, v | W_TYPED, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                return;
    }
    struct stripe *s = stripe_of(addr);
    spin_lock(&s->lock);
    struct live_entry *e = tbl_find(&s->table, addr);
    if (e)
        e->meta |= 1u << 9;
    spin_unlock(&s->lock);
}

/* The walks of live_each, live_each_untyped and live_count. */

struct walk {
    void (*fn)(uintptr_t addr, const struct live_info *li, void *arg);
    void *arg;
    bool skip_typed;
    size_t count;
};

static void visit(struct walk *wk, uintptr_t addr, const struct live_info *li)
{
    if (wk->skip_typed && li->typed)
        return;
    wk->count++;
    if (wk->fn)
        wk->fn(addr, li, wk->arg);
}

static void walk_region(struct walk *wk, uint64_t region)
{
    uintptr_t base = (uintptr_t)region << REGION_SHIFT;
    const uint32_t *w = word_of(base);
    for (uint32_t i = 0; i < REGION_WORDS; i++) {
        uint32_t v = load_word(&w[i]);
        if (v & W_LIVE) {
            struct live_info li;
            unpack_word(v, &li);
            visit(wk, base + ((uintptr_t)i << GRANULE_SHIFT), &li);
        }
    }
}

static void walk_group(struct walk *wk, uint64_t group)
{
    const uint64_t *bits = &region_bits[(group << GROUP_SHIFT) >> 6];
    for (uint32_t i = 0; i < (1u << GROUP_SHIFT) / 64; i++)
        for (uint64_t b = __atomic_load_n(&bits[i], __ATOMIC_RELAXED); b; b &= b - 1)
            walk_region(wk, (group << GROUP_SHIFT) + i * 64 + (uint64_t)__builtin_ctzll(b));
}

static void walk_all(struct walk *wk)
{
    ensure_ready();
    if (shadow)
        for (uint32_t i = 0; i < SUMMARY_WORDS; i++)
            for (uint64_t b = __atomic_load_n(&summary[i], __ATOMIC_RELAXED); b; b &= b - 1)
                walk_group(wk, (uint64_t)i * 64 + (uint64_t)__builtin_ctzll(b));
    for (int i = 0; i < STRIPES; i++) {
        struct stripe *s = &stripes[i];
        size_t pos = 0;
        struct live_entry *e;
        spin_lock(&s->lock);
        while ((e = tbl_next(&s->table, &pos)) != NULL) {
            struct live_info li;
            unpack(e, &li);
            visit(wk, e->addr, &li);
        }
        spin_unlock(&s->lock);
    }
}

void live_each(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg)
{
    struct walk wk = {fn, arg, false, 0};
    walk_all(&wk);
}

void live_each_untyped(void (*fn)(uintptr_t addr, const struct live_info *li, void *arg), void *arg)
{
    struct walk wk = {fn, arg, true, 0};
    walk_all(&wk);
}

size_t live_count(void)
{
    struct walk wk = {NULL, NULL, false, 0};
    walk_all(&wk);
    return wk.count;
}
