#include "heapsnap.h"

#include <string.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "live.h"
#include "modules.h"
#include "pyframes.h"
#include "types.h"

#define PAGE_SHIFT 12

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

struct collect {
    struct hs_block *blocks;
    size_t n, cap;
};

static void collect_one(uintptr_t addr, const struct live_info *li, void *arg)
{
    struct collect *c = arg;
    if (c->n < c->cap && li->size)
        c->blocks[c->n++] = (struct hs_block){.addr = addr, .size = li->size, .api = li->api};
}

/* Sorts by address: a radix sort on 16-bit digits of the 48 significant
 * bits, since qsort may allocate and the snapshot must not. */
static void sort_blocks(struct hs_block *a, struct hs_block *tmp, size_t n, size_t *count)
{
    for (unsigned shift = 0; shift < 48; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (size_t i = 0; i < n; i++)
            count[(a[i].addr >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[count[(a[i].addr >> shift) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static struct hs_page *page_entry(struct hs_snapshot *s, uint64_t page)
{
    size_t i = page_slot(s, page);
    while (s->pages[i].page && s->pages[i].page != page)
        i = (i + 1) & (s->npages_cap - 1);
    return &s->pages[i];
}

static bool build_pages(struct hs_snapshot *s)
{
    size_t npages = 0;
    uint64_t last_page = 0;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t first = s->blocks[i].addr >> PAGE_SHIFT;
        uint64_t last = (s->blocks[i].addr + s->blocks[i].size - 1) >> PAGE_SHIFT;
        npages += last - first + 1 - (first == last_page && npages);
        last_page = last;
    }
    s->npages_cap = 1024;
    while (s->npages_cap < npages * 2)
        s->npages_cap <<= 1;
    s->pages_bytes = s->npages_cap * sizeof *s->pages;
    s->pages = os_map(s->pages_bytes);
    if (!s->pages)
        return false;
    for (size_t i = 0; i < s->n; i++) {
        uint64_t first = s->blocks[i].addr >> PAGE_SHIFT;
        uint64_t last = (s->blocks[i].addr + s->blocks[i].size - 1) >> PAGE_SHIFT;
        for (uint64_t pg = first; pg <= last; pg++) {
            struct hs_page *e = page_entry(s, pg);
            if (!e->page)
                *e = (struct hs_page){pg, (uint32_t)i, (uint32_t)i};
            else
                e->last = (uint32_t)i;
        }
    }
    return true;
}

bool hs_take(struct hs_snapshot *s)
{
    memset(s, 0, sizeof *s);
    /* Room for blocks allocated by other threads while the table is read. */
    size_t cap = live_count() + live_count() / 8 + 1024;
    size_t count_bytes = 65536 * sizeof(size_t);
    s->blocks_bytes = 2 * cap * sizeof(struct hs_block) + count_bytes;
    struct hs_block *mem = os_map(s->blocks_bytes);
    if (!mem)
        return false;
    struct collect c = {mem, 0, cap};
    live_each(collect_one, &c);
    s->blocks = mem;
    s->n = c.n;
    sort_blocks(mem, mem + cap, c.n, (size_t *)(mem + 2 * cap));
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
    memset(s, 0, sizeof *s);
}

long hs_find_slow(const struct hs_snapshot *s, uint64_t p)
{
    uint64_t page = p >> PAGE_SHIFT;
    size_t i = page_slot(s, page);
    for (;;) {
        const struct hs_page *e = &s->pages[i];
        if (!e->page)
            return -1;
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
            return p - b->addr < b->size ? (long)lo : -1;
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
    bool readable = live_find(next, &li) || live_find(next - L->managed_dict_size, &li) || mod_in_data(next);
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
    if (obj.gc) {
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
