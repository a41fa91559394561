#include "heapsnap.h"

#include <string.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "live.h"
#include "modules.h"
#include "pyframes.h"
#include "types.h"

#define PAGE_SHIFT 12
/* Blocks spanning more pages than this stay out of the page hash (a sparse
 * 100 GB calloc would need millions of entries): a short sorted list of
 * them is searched when the hash has no answer. */
#define BIG_PAGES 64

/* One page of the address space that blocks overlap: blocks [first, last]
 * of the sorted array are the ones that do. page 0 marks an empty slot
 * (the first page of the address space never holds a block). */
struct hs_page {
    uint64_t page;
    uint32_t first, last;
};

static size_t page_slot(const struct hs_snapshot *s, uint64_t page)
{
    return (size_t)((page * 0x9e3779b97f4a7c15ull) >> 20) & (s->npages_cap - 1);
}

/* What the sort moves: 16 bytes per block, the api in the size's top byte. */
struct key {
    uint64_t addr;
    uint64_t size_api;
};

struct collect {
    struct key *keys;
    size_t n, cap;
};

static void collect_one(uintptr_t addr, const struct live_info *li, void *arg)
{
    struct collect *c = arg;
    if (c->n < c->cap && li->size && li->size < (1ull << 56))
        c->keys[c->n++] = (struct key){addr, li->size | ((uint64_t)li->api << 56)};
}

/* Sorts by address: a radix sort on 11-bit digits of the 43 significant
 * bits above the 16-byte alignment (a digit's counts fit the first-level
 * cache), since qsort may allocate and the snapshot must not. */
static void sort_keys(struct key *a, struct key *tmp, size_t n, size_t *count)
{
    for (unsigned shift = 4; shift < 4 + 44; shift += 11) {
        memset(count, 0, 2048 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(a[i].addr >> shift) & 2047]++;
        size_t sum = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i].addr >> shift) & 2047]++] = a[i];
        struct key *t = a;
        a = tmp;
        tmp = t;
    }
    /* four passes: the sorted keys are back in the first array */
}

static struct hs_page *page_entry(struct hs_snapshot *s, uint64_t page)
{
    size_t i = page_slot(s, page);
    while (s->pages[i].page && s->pages[i].page != page)
        i = (i + 1) & (s->npages_cap - 1);
    return &s->pages[i];
}

static uint64_t pages_of(const struct hs_block *b)
{
    return ((b->addr + b->size - 1) >> PAGE_SHIFT) - (b->addr >> PAGE_SHIFT) + 1;
}

static bool build_pages(struct hs_snapshot *s)
{
    size_t npages = 0;
    uint64_t last_page = 0; /* the last page counted: sorted blocks share pages only with neighbours */
    for (size_t i = 0; i < s->n; i++) {
        uint64_t n = pages_of(&s->blocks[i]), first = s->blocks[i].addr >> PAGE_SHIFT;
        if (n > BIG_PAGES) {
            s->nbig++;
            continue;
        }
        npages += n - (first == last_page);
        last_page = first + n - 1;
    }
    s->npages_cap = 1024;
    while (s->npages_cap < npages * 2)
        s->npages_cap <<= 1;
    s->pages_bytes = s->npages_cap * sizeof *s->pages;
    s->big_bytes = (s->nbig ? s->nbig : 1) * sizeof *s->big;
    s->pages = os_map(s->pages_bytes);
    s->big = os_map(s->big_bytes);
    if (!s->pages || !s->big)
        return false;
    size_t nbig = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t first = s->blocks[i].addr >> PAGE_SHIFT;
        uint64_t count = pages_of(&s->blocks[i]);
        if (count > BIG_PAGES) {
            s->big[nbig++] = (uint32_t)i;
            continue;
        }
        for (uint64_t pg = first; pg < first + count; pg++) {
            struct hs_page *e = page_entry(s, pg);
            if (!e->page)
                *e = (struct hs_page){pg, (uint32_t)i, (uint32_t)i};
            else
                e->last = (uint32_t)i;
        }
    }
    return true;
}

/* Restores address order where the radix sort, which ignores the low four
 * bits, left two blocks of one 16-byte granule out of order (blocks that
 * are not 16-aligned: a custom allocator's). Linear on sorted input. */
static void finish_sort(struct hs_block *b, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 && b[j - 1].addr > b[j].addr; j--) {
            struct hs_block t = b[j];
            b[j] = b[j - 1];
            b[j - 1] = t;
        }
    }
}

bool hs_take(struct hs_snapshot *s)
{
    memset(s, 0, sizeof *s);
    /* Room for blocks allocated by other threads while the table is read. */
    size_t known = live_count();
    size_t cap = known + known / 8 + 1024;
    size_t keys_bytes = 2 * cap * sizeof(struct key) + 2048 * sizeof(size_t);
    s->blocks_bytes = cap * sizeof(struct hs_block);
    struct key *keys = os_map(keys_bytes);
    struct hs_block *mem = keys ? os_map(s->blocks_bytes) : NULL;
    if (!mem) {
        os_unmap(keys, keys_bytes);
        return false;
    }
    struct collect c = {keys, 0, cap};
    live_each(collect_one, &c);
    sort_keys(keys, keys + cap, c.n, (size_t *)(keys + 2 * cap));
    for (size_t i = 0; i < c.n; i++)
        mem[i] = (struct hs_block){.addr = keys[i].addr, .size = keys[i].size_api & ((1ull << 56) - 1),
                                   .api = (uint8_t)(keys[i].size_api >> 56)};
    os_unmap(keys, keys_bytes);
    s->blocks = mem;
    s->n = c.n;
    finish_sort(mem, c.n);
    if (s->n) {
        s->lo = s->blocks[0].addr;
        s->hi = s->blocks[s->n - 1].addr + s->blocks[s->n - 1].size;
    }
    if (!build_pages(s)) {
        hs_release(s);
        return false;
    }
    return true;
}

void hs_release(struct hs_snapshot *s)
{
    os_unmap(s->blocks, s->blocks_bytes);
    os_unmap(s->pages, s->pages_bytes);
    os_unmap(s->big, s->big_bytes);
    memset(s, 0, sizeof *s);
}

/* The big block holding p, or -1. */
static long find_big(const struct hs_snapshot *s, uint64_t p)
{
    size_t lo = 0, hi = s->nbig;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct hs_block *b = &s->blocks[s->big[mid]];
        if (p < b->addr)
            hi = mid;
        else if (p - b->addr >= b->size)
            lo = mid + 1;
        else
            return (long)s->big[mid];
    }
    return -1;
}

long hs_find_slow(const struct hs_snapshot *s, uint64_t p)
{
    uint64_t page = p >> PAGE_SHIFT;
    size_t i = page_slot(s, page);
    for (;;) {
        const struct hs_page *e = &s->pages[i];
        if (!e->page)
            return s->nbig ? find_big(s, p) : -1;
        if (e->page == page) {
            /* The last block starting at or below p is the only candidate. */
            size_t lo = e->first, hi = e->last;
            while (lo < hi) {
                size_t mid = (lo + hi + 1) / 2;
                if (s->blocks[mid].addr <= p)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            const struct hs_block *b = &s->blocks[lo];
            if (p - b->addr < b->size)
                return (long)lo;
            return s->nbig ? find_big(s, p) : -1;
        }
        i = (i + 1) & (s->npages_cap - 1);
    }
}

/* True if the PyGC_Head at gc is one: untracked (both links clear but
 * for flag bits) or linked both ways with its successor. A block whose
 * words merely look like an object of a GC type (a table holding a type)
 * fails this. */
static bool gc_head_valid(uintptr_t gc)
{
    const struct pyver_layout *L = pf_layout;
    uintptr_t next = *(uintptr_t *)(gc + L->gc_next), prev = *(uintptr_t *)(gc + L->gc_prev);
    if (!next)
        return (prev & ~L->gc_prev_flags) == 0;
    if (next & 7)
        return false;
    struct live_info li;
    size_t need = L->gc_prev + sizeof(uintptr_t); /* the bytes of the next head read below */
    bool readable = (live_find(next, &li) && li.size >= need) ||
                    (live_find(next - L->preheader_size, &li) && li.size >= L->preheader_size + need) ||
                    (mod_in_data(next) && mod_in_data(next + need - 1));
    return readable && (*(uintptr_t *)(next + L->gc_prev) & ~L->gc_prev_flags) == gc;
}

void hs_layout(struct hs_snapshot *s, size_t i)
{
    struct hs_block *b = &s->blocks[i];
    if (b->layout != HS_LAYOUT_UNKNOWN)
        return;
    b->layout = HS_LAYOUT_PLAIN;
    if (jn_api_domain(b->api) != JN_DOMAIN_OBJ)
        return;
    struct ty_object obj;
    uint32_t type = ty_of_live_block(b->addr, b->size, &obj);
    if (!type) {
        if (ty_of_dead_block(b->addr, b->size, &obj))
            b->layout = HS_LAYOUT_DEAD;
        return;
    }
    b->type = type;
    b->obj_off = (uint8_t)obj.offset;
    /* A build without GC heads (free-threaded) has nothing to validate
     * the object by and no head a pointer could land in. */
    if (obj.gc && pf_layout->gc_head_size) {
        b->gc_off = (uint8_t)(obj.offset - pf_layout->gc_head_size);
        if (!gc_head_valid(b->addr + b->gc_off)) {
            b->type = 0;
            return;
        }
        b->layout = HS_LAYOUT_GC_OBJECT;
    } else {
        b->layout = HS_LAYOUT_OBJECT;
    }
}
