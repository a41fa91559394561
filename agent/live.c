#include "live.h"

#include "../core/journal.h"
#include "../core/os.h"
#include "../core/table.h"
#include "spin.h"

/* Two stores. Nearly every block (16-byte aligned, under 16 MiB) has its
 * word in a shadow of the address space, as ASan keeps its shadow: one
 * 32-bit word for every 16 bytes, at a place computed from the address.
 * Finding a block is two loads (its range's chunk, then its word): no hash,
 * no probe, no lock, and the words of blocks that lie near each other share
 * cache lines, where a hash table scatters them over all its memory. With a
 * hash table alone, its cache misses cost the journal-only mode about as
 * much as the interpreter's own work (docs/performance.md).
 *
 * The shadow comes in chunks, one for each 64 MiB of address space where a
 * block was added, reserved and not committed: only the pages that hold a
 * block's word take memory, a quarter of the pages blocks start in where
 * blocks lie close together (pymalloc's pools), up to a page per block for
 * blocks 16 KiB or more apart (hence the pool's blocks in the table).
 * A shadow of the whole address space at once (32 TiB of address space, as
 * ASan reserves) would leave a program that limits its own address space
 * (RLIMIT_AS, RLIMIT_DATA) unable to map anything more.
 *
 * The other blocks (unaligned, huge, beyond the shadow's reach, in a range
 * whose chunk cannot be reserved, all of them when the directory cannot
 * be, and the guarded pool's) go to a hash table, striped so that threads
 * allocating without the GIL rarely contend. A word is 0 (no block known
 * to start there), a live block's, or W_IN_TABLE for a huge block, which
 * the table holds; a pool block's word stays 0, and a lookup that finds 0
 * asks the table only inside the range the pool's blocks span. So a
 * lookup that misses in a range with a chunk takes no lock either.
 *
 * A block's word is written by the thread that allocates or frees it, and
 * the allocator hands an address to one owner at a time, so the shadow
 * needs no lock; a free takes the word with a compare-and-swap, so that of
 * two threads freeing one block at once only one finds it live. */

/* x86-64's user addresses with 4-level page tables; on aarch64 (48 bits)
 * the blocks above go to the table. */
#define ADDR_BITS 47
#define GRANULE_SHIFT 4

/* A block's word: live, typed, guarded, its api and its size. */
#define W_LIVE (1u << 31)
#define W_TYPED (1u << 30)
#define W_GUARDED (1u << 29)
#define W_API_SHIFT 24
#define W_API_MASK 0x1fu
#define W_SIZE_MAX ((1u << W_API_SHIFT) - 1)
#define W_IN_TABLE W_TYPED /* without W_LIVE: the block starting here is in the table */
_Static_assert(JN_API_COUNT <= W_API_MASK + 1, "an api must fit in a shadow word");

/* A chunk shadows 64 MiB of address space with 16 MiB of words, after a
 * page of header. The walks visit only its regions (64 KiB of address
 * space, 16 KiB of words) where a block was ever added. */
#define CHUNK_SHIFT 26
#define CHUNK_MASK (((uintptr_t)1 << CHUNK_SHIFT) - 1)
#define CHUNK_HEADER 4096
#define CHUNK_BYTES (CHUNK_HEADER + ((size_t)sizeof(uint32_t) << (CHUNK_SHIFT - GRANULE_SHIFT)))
#define DIRECTORY_BYTES (sizeof(struct chunk *) << (ADDR_BITS - CHUNK_SHIFT)) /* 16 MiB, reserved */
#define MAX_CHUNKS 4096 /* 256 GiB of address range: os_map's registry must keep room for the rest */
#define REGION_SHIFT 16
#define REGION_WORDS (1u << (REGION_SHIFT - GRANULE_SHIFT))
#define REGIONS_PER_CHUNK (1u << (CHUNK_SHIFT - REGION_SHIFT))

struct chunk {
    uintptr_t base;                                /* the first address it shadows */
    size_t in_table;                               /* its W_IN_TABLE words; atomic adds */
    uint64_t region_bits[REGIONS_PER_CHUNK / 64]; /* set atomically */
};
_Static_assert(sizeof(struct chunk) <= CHUNK_HEADER, "a chunk's header must fit its page");

/* A directory entry for a range whose chunk could not be reserved. */
#define CHUNK_FAILED ((struct chunk *)1)

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
/* protected by: stored with a release once the directory is reserved (or
 * failed), under stripe 0's lock */
static bool live_ready;
/* protected by: set once under stripe 0's lock, before live_ready; its
 * entries as chunks, chunk_count and the sparse range are. NULL: every
 * block goes to the table */
static struct chunk **directory;
/* Guards the writers of directory entries, chunks, chunk_count and the
 * sparse range; entries and the count are published with release stores,
 * so readers take no lock. */
static int chunk_lock;
static struct chunk *chunks[MAX_CHUNKS];
static size_t chunk_count;
/* protected by chunk_lock for writers (they only widen it), read without:
 * the range the table's sparse blocks span */
static uintptr_t sparse_lo = UINTPTR_MAX, sparse_hi;

/* Prepares the table on first use, from whichever hook comes first: the
 * directory is reserved then, or never (every block in the hash table). */
static void ensure_ready(void)
{
    if (__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        return;
    spin_lock(&stripes[0].lock);
    if (!live_ready) {
        for (int i = 0; i < STRIPES; i++)
            tbl_init(&stripes[i].table, sizeof(struct live_entry));
        directory = os_reserve(DIRECTORY_BYTES);
        __atomic_store_n(&live_ready, true, __ATOMIC_RELEASE);
    }
    spin_unlock(&stripes[0].lock);
}

/* ---- the shadow ---- */

/* True when addr could have a word: the directory exists, and addr is
 * aligned and within its reach. */
static inline bool shadowable(uintptr_t addr)
{
    return directory && !(addr & ((1u << GRANULE_SHIFT) - 1)) && !(addr >> ADDR_BITS);
}

/* addr's chunk, or NULL when there is none (yet, or it failed). */
static inline struct chunk *chunk_of(uintptr_t addr)
{
    if (!shadowable(addr))
        return NULL;
    struct chunk *c = __atomic_load_n(&directory[addr >> CHUNK_SHIFT], __ATOMIC_ACQUIRE);
    return c == CHUNK_FAILED ? NULL : c;
}

static inline uint32_t *word_in(struct chunk *c, uintptr_t addr)
{
    return (uint32_t *)((char *)c + CHUNK_HEADER) + ((addr & CHUNK_MASK) >> GRANULE_SHIFT);
}

/* addr's word, or NULL when it has none. */
static inline uint32_t *word_of(uintptr_t addr)
{
    struct chunk *c = chunk_of(addr);
    return c ? word_in(c, addr) : NULL;
}

/* The chunk for a block about to be added at a shadowable addr: reserved
 * on the range's first block. NULL when it cannot be, then and for good:
 * the range's blocks go to the table. */
static struct chunk *chunk_for_add(uintptr_t addr)
{
    struct chunk **entry = &directory[addr >> CHUNK_SHIFT];
    struct chunk *c = __atomic_load_n(entry, __ATOMIC_ACQUIRE);
    if (c)
        return c == CHUNK_FAILED ? NULL : c;
    spin_lock(&chunk_lock);
    c = *entry;
    if (!c) {
        c = chunk_count < MAX_CHUNKS ? os_reserve(CHUNK_BYTES) : NULL;
        if (c) {
            c->base = addr & ~CHUNK_MASK;
            chunks[chunk_count] = c;
            __atomic_store_n(&chunk_count, chunk_count + 1, __ATOMIC_RELEASE);
        }
        __atomic_store_n(entry, c ? c : CHUNK_FAILED, __ATOMIC_RELEASE);
    }
    spin_unlock(&chunk_lock);
    return c == CHUNK_FAILED ? NULL : c;
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

/* True when the table may hold a sparse block at addr. */
static inline bool maybe_sparse(uintptr_t addr)
{
    return addr >= __atomic_load_n(&sparse_lo, __ATOMIC_RELAXED) &&
           addr < __atomic_load_n(&sparse_hi, __ATOMIC_RELAXED);
}

/* Takes a live block's word, leaving 0; false (and *seen the word) when
 * the word is not a live block's, or another thread took it first. */
static inline bool take_word(uint32_t *w, uint32_t *seen)
{
    uint32_t v = load_word(w);
    while (v & W_LIVE)
        if (__atomic_compare_exchange_n(w, &v, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *seen = v;
            return true;
        }
    *seen = v;
    return false;
}

/* Marks a word W_IN_TABLE for a huge block the table holds, counting it in
 * the chunk's header (the word was the block's owner's alone). */
static void mark_in_table(struct chunk *c, uint32_t *w)
{
    if (load_word(w) != W_IN_TABLE) {
        __atomic_store_n(w, W_IN_TABLE, __ATOMIC_RELAXED);
        __atomic_add_fetch(&c->in_table, 1, __ATOMIC_RELAXED);
    }
}

/* Sets a word back to 0. A W_IN_TABLE word is taken with a
 * compare-and-swap, so that two threads freeing one huge block at once
 * count it out once. */
static void clear_word(struct chunk *c, uint32_t *w)
{
    uint32_t v = W_IN_TABLE;
    if (__atomic_compare_exchange_n(w, &v, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        __atomic_sub_fetch(&c->in_table, 1, __ATOMIC_RELAXED);
    else if (v)
        __atomic_store_n(w, 0, __ATOMIC_RELAXED);
}

/* Marks addr's region as one the walks must visit. */
static inline void mark_region(struct chunk *c, uintptr_t addr)
{
    uint32_t region = (uint32_t)((addr & CHUNK_MASK) >> REGION_SHIFT);
    uint64_t *w = &c->region_bits[region / 64], bit = 1ull << (region % 64);
    if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit))
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

/* Adds or replaces addr's entry in the hash table; false when the table
 * could not grow (the block is then unknown). */
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

/* Takes addr's entry out of the hash table, unpacked into *out when out is
 * not NULL; false when there was none. */
static bool table_remove(uintptr_t addr, struct live_info *out)
{
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

bool live_add(uintptr_t addr, uint64_t size, uint8_t api, bool guarded)
{
    ensure_ready();
    struct chunk *c = shadowable(addr) ? chunk_for_add(addr) : NULL;
    if (!c)
        return table_add(addr, size, api, guarded);
    uint32_t *w = word_in(c, addr);
    if (size > W_SIZE_MAX) {
        mark_in_table(c, w);
        return table_add(addr, size, api, guarded);
    }
    /* A huge block whose free was never seen: its entry must not outlive
     * this block's word. Only read the word when the chunk has such words:
     * under full checking the quarantine hands out addresses whose words
     * are long out of the cache, and a load waits where a store does not
     * (the load was 6% of the target's time). */
    if (__atomic_load_n(&c->in_table, __ATOMIC_RELAXED) && load_word(w) == W_IN_TABLE) {
        clear_word(c, w);
        table_remove(addr, NULL);
    }
    mark_region(c, addr);
    __atomic_store_n(w, W_LIVE | (guarded ? W_GUARDED : 0) | (uint32_t)api << W_API_SHIFT | (uint32_t)size,
                     __ATOMIC_RELAXED);
    return true;
}

/* One block per page would commit a page of shadow per 16 KiB of the
 * range they span: the guarded pool's 4096 pages and more took 8 MiB. */
bool live_add_sparse(uintptr_t addr, uint64_t size, uint8_t api)
{
    ensure_ready();
    if (!maybe_sparse(addr)) {
        spin_lock(&chunk_lock);
        if (addr < sparse_lo)
            __atomic_store_n(&sparse_lo, addr, __ATOMIC_RELAXED);
        if (addr + 1 > sparse_hi)
            __atomic_store_n(&sparse_hi, addr + 1, __ATOMIC_RELAXED);
        spin_unlock(&chunk_lock);
    }
    /* A block at this address whose free was never seen: its word must
     * not hide the table's entry. */
    struct chunk *c = chunk_of(addr);
    if (c && load_word(word_in(c, addr)))
        clear_word(c, word_in(c, addr));
    return table_add(addr, size, api, false);
}

/* False when addr's word, or its absence, says the table cannot hold it. */
static inline bool table_may_hold(const uint32_t *w, uint32_t seen, uintptr_t addr)
{
    if (w)
        return seen == W_IN_TABLE || maybe_sparse(addr);
    return !directory || __atomic_load_n(&table_blocks, __ATOMIC_RELAXED);
}

bool live_remove(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    struct chunk *c = chunk_of(addr);
    uint32_t *w = c ? word_in(c, addr) : NULL, seen = 0;
    if (w && take_word(w, &seen)) {
        unpack_word(seen, out);
        return true;
    }
    if (!table_may_hold(w, seen, addr))
        return false;
    if (seen == W_IN_TABLE)
        clear_word(c, w);
    return table_remove(addr, out);
}

void live_prefetch(uintptr_t addr)
{
    if (!__atomic_load_n(&live_ready, __ATOMIC_ACQUIRE))
        return;
    uint32_t *w = word_of(addr);
    if (w)
        os_prefetch(w);
    else if (!shadowable(addr))
        tbl_prefetch(&stripe_of(addr)->table, addr);
}

bool live_find(uintptr_t addr, struct live_info *out)
{
    ensure_ready();
    uint32_t *w = word_of(addr), seen = w ? load_word(w) : 0;
    if (seen & W_LIVE) {
        unpack_word(seen, out);
        return true;
    }
    if (!table_may_hold(w, seen, addr))
        return false;
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
    uint32_t *w = word_of(addr), seen = w ? load_word(w) : 0;
    while (seen & W_LIVE)
        if (__atomic_compare_exchange_n(w, &seen, seen | W_TYPED, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return;
    if (!table_may_hold(w, seen, addr))
        return;
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

/* Visits the live blocks whose words lie in one region of a chunk. */
static void walk_region(struct walk *wk, struct chunk *c, uint32_t region)
{
    uintptr_t base = c->base + ((uintptr_t)region << REGION_SHIFT);
    const uint32_t *w = word_in(c, base);
    for (uint32_t i = 0; i < REGION_WORDS; i++) {
        uint32_t v = load_word(&w[i]);
        if (v & W_LIVE) {
            struct live_info li;
            unpack_word(v, &li);
            visit(wk, base + ((uintptr_t)i << GRANULE_SHIFT), &li);
        }
    }
}

/* Visits the regions of a chunk where a block was ever added. */
static void walk_chunk(struct walk *wk, struct chunk *c)
{
    for (uint32_t i = 0; i < REGIONS_PER_CHUNK / 64; i++)
        for (uint64_t b = __atomic_load_n(&c->region_bits[i], __ATOMIC_RELAXED); b; b &= b - 1)
            walk_region(wk, c, i * 64 + (uint32_t)__builtin_ctzll(b));
}

/* Visits every chunk published so far, then the hash table stripe by
 * stripe, each under its lock. */
static void walk_all(struct walk *wk)
{
    ensure_ready();
    size_t n = __atomic_load_n(&chunk_count, __ATOMIC_ACQUIRE);
    for (size_t i = 0; i < n; i++)
        walk_chunk(wk, chunks[i]);
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
