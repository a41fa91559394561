#include "reach.h"

#include <fcntl.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../pyver/pyver.h"
#include "capi.h"
#include "guard.h"
#include "heapsnap.h"
#include "jwriter.h"
#include "log.h"
#include "modules.h"
#include "pyframes.h"
#include "world.h"

#define PAGE 4096ul
/* Blocks at least this big are scanned page by page, skipping pages that
 * were never touched (a big calloc), so the scan does not fault them in. */
#define BIG_BLOCK (64ul << 10)

enum {
    M_REACHED = 1,    /* reachable from the roots */
    M_REFERENCED = 2, /* leaked, and some other leaked block points to it */
    M_CLAIMED = 4,    /* counted under a direct leak */
    M_DIRECT = 8,
};

struct range {
    uint64_t start, end;
};

struct scan {
    struct hs_snapshot snap;
    uint8_t *marks;
    uint32_t *stack;
    size_t depth;
    size_t marks_bytes, stack_bytes;
    struct range *excluded;  /* sorted, the agent's own memory */
    size_t nexcluded, excluded_cap, excluded_bytes;
    unsigned char *residency;
    size_t residency_pages;
    size_t self; /* the leaked block being scanned for references */
};

/* ---- the mark stack ---------------------------------------------------- */

static void push(struct scan *sc, size_t i)
{
    sc->stack[sc->depth++] = (uint32_t)i; /* never overflows: each block is pushed once per phase */
}

/* A candidate pointer w found in the roots or in a reached block. */
static void consider_reached(struct scan *sc, uint64_t w)
{
    if (!hs_maybe(&sc->snap, w))
        return;
    long j = hs_find_slow(&sc->snap, w);
    if (j < 0 || (sc->marks[j] & M_REACHED))
        return;
    hs_layout(&sc->snap, (size_t)j);
    const struct hs_block *b = &sc->snap.blocks[j];
    if (hs_in_gc_head(b, w))
        return;
    sc->marks[j] |= M_REACHED;
    if (b->layout != HS_LAYOUT_DEAD)
        push(sc, (size_t)j);
}

typedef void (*consider_fn)(struct scan *sc, uint64_t w);

static void scan_words(struct scan *sc, uint64_t start, uint64_t end, consider_fn fn)
{
    start = (start + 7) & ~7ull;
    for (uint64_t a = start; a + 8 <= end; a += 8)
        fn(sc, *(const uint64_t *)a);
}

/* When mincore refuses a window (part of it was unmapped since the maps
 * were read: another thread freed or exited), asks page by page; a page it
 * refuses is not read. */
static void residency_page_by_page(struct scan *sc, uint64_t base, size_t pages)
{
    for (size_t p = 0; p < pages; p++)
        if (mincore((void *)(base + p * PAGE), PAGE, &sc->residency[p]) != 0)
            sc->residency[p] = 0;
}

/* Scans [start, end) skipping pages that are not resident: never touched
 * anonymous memory reads as zeros and holds no pointer. */
static void scan_resident(struct scan *sc, uint64_t start, uint64_t end, consider_fn fn)
{
    uint64_t a = start & ~(PAGE - 1);
    while (a < end) {
        size_t pages = (size_t)((end - a + PAGE - 1) / PAGE);
        if (pages > sc->residency_pages)
            pages = sc->residency_pages;
        if (mincore((void *)a, pages * PAGE, sc->residency) != 0) {
            residency_page_by_page(sc, a, pages);
        }
        {
            for (size_t p = 0; p < pages; p++) {
                if (!(sc->residency[p] & 1))
                    continue;
                uint64_t s = a + p * PAGE, e = s + PAGE;
                scan_words(sc, s > start ? s : start, e < end ? e : end, fn);
            }
        }
        a += pages * PAGE;
    }
}

static void scan_block(struct scan *sc, size_t i, consider_fn fn)
{
    const struct hs_block *b = &sc->snap.blocks[i];
    if (b->size >= BIG_BLOCK)
        scan_resident(sc, b->addr, b->addr + b->size, fn);
    else
        scan_words(sc, b->addr, b->addr + b->size, fn);
}

static void drain(struct scan *sc, consider_fn fn)
{
    while (sc->depth)
        scan_block(sc, sc->stack[--sc->depth], fn);
}

/* ---- roots ------------------------------------------------------------- */

static void add_excluded(uintptr_t start, size_t len, void *arg)
{
    struct scan *sc = arg;
    if (sc->nexcluded < sc->excluded_cap)
        sc->excluded[sc->nexcluded++] = (struct range){start, start + len};
}

/* Shell sort: small arrays, and no allocation. */
static void sort_ranges(struct range *r, size_t n)
{
    static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < n; i++) {
            struct range t = r[i];
            size_t j = i;
            for (; j >= gap && r[j - gap].start > t.start; j -= gap)
                r[j] = r[j - gap];
            r[j] = t;
        }
    }
}

/* Memory that holds only dead values, which would hide leaks if scanned:
 * the part of this thread's interpreter frame stack that frames have
 * returned from, and the stale slots of the interpreter's free lists. (The
 * C stack below the scan is added by the scan itself, which knows where
 * its registers were spilled.) */
static void add_dead_zones(struct scan *sc)
{
    const struct pyver_layout *L = pf_layout;
    char *tstate = capi.PyThreadState_Get ? capi.PyThreadState_Get() : NULL;
    if (tstate && L) {
        uintptr_t top = *(uintptr_t *)(tstate + L->tstate_datastack_top);
        uintptr_t limit = *(uintptr_t *)(tstate + L->tstate_datastack_limit);
        if (top && limit > top)
            add_excluded(top, limit - top, sc);
    }
    char *interp = capi.PyInterpreterState_Main ? capi.PyInterpreterState_Main() : NULL;
    for (unsigned i = 0; interp && L && i < L->nfreelists; i++) {
        const struct pyver_freelist *fl = &L->freelists[i];
        int count = *(int *)(interp + fl->count);
        if (count >= 0 && (unsigned)count < fl->capacity)
            add_excluded((uintptr_t)(interp + fl->array) + (unsigned)count * 8, (fl->capacity - (unsigned)count) * 8, sc);
    }
}

/* The scan's own tables hold block addresses: never roots, whether or not
 * the os_map registry listed them. */
static void add_own_tables(struct scan *sc)
{
    add_excluded((uintptr_t)sc->snap.blocks, sc->snap.blocks_bytes, sc);
    add_excluded((uintptr_t)sc->snap.pages, sc->snap.pages_bytes, sc);
    add_excluded((uintptr_t)sc->snap.big, sc->snap.big_bytes, sc);
    add_excluded((uintptr_t)sc->marks, sc->marks_bytes, sc);
    add_excluded((uintptr_t)sc->stack, sc->stack_bytes, sc);
    add_excluded((uintptr_t)sc->residency, sc->residency_pages, sc);
    add_excluded((uintptr_t)sc->excluded, sc->excluded_bytes, sc);
}

static bool collect_excluded(struct scan *sc)
{
    sc->excluded_cap = 16384 + 64; /* the os_map registry, the agent, the dead zones, the scan's tables */
    sc->excluded_bytes = sc->excluded_cap * sizeof *sc->excluded;
    sc->excluded = os_map(sc->excluded_bytes);
    if (!sc->excluded)
        return false;
    uintptr_t s, e;
    mod_agent_range(&s, &e);
    if (s < e)
        add_excluded(s, e - s, sc);
    os_each_map(add_excluded, sc);
    if (os_map_registry_overflowed())
        log_msg("leak scan: the agent mapped more regions than it can list; leaks may be missed");
    add_own_tables(sc);
    add_dead_zones(sc);
    sort_ranges(sc->excluded, sc->nexcluded);
    return true;
}

/* The index of the first block that ends after addr. */
static size_t first_block_after(const struct hs_snapshot *snap, uint64_t addr)
{
    size_t lo = 0, hi = snap->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (snap->blocks[mid].addr + snap->blocks[mid].size <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Scans [start, end) where sc->residency describes the pages from `base`
 * on (one byte per page, from mincore). */
static void scan_known_residency(struct scan *sc, uint64_t base, uint64_t start, uint64_t end)
{
    while (start < end) {
        uint64_t page = (start - base) / PAGE;
        uint64_t page_end = base + (page + 1) * PAGE;
        uint64_t stop = page_end < end ? page_end : end;
        if (sc->residency[page] & 1)
            scan_words(sc, start, stop, consider_reached);
        start = stop;
    }
}

/* Scans [start, end) minus the blocks in it (which are scanned when, and
 * only if, they are reached). The range lies within one residency window
 * that starts at base. */
static void scan_gaps_window(struct scan *sc, uint64_t base, uint64_t start, uint64_t end)
{
    size_t i = first_block_after(&sc->snap, start);
    uint64_t a = start;
    for (; i < sc->snap.n && sc->snap.blocks[i].addr < end; i++) {
        const struct hs_block *b = &sc->snap.blocks[i];
        if (b->addr > a)
            scan_known_residency(sc, base, a, b->addr < end ? b->addr : end);
        if (b->addr + b->size > a)
            a = b->addr + b->size;
    }
    if (a < end)
        scan_known_residency(sc, base, a, end);
}

/* The same over any range: one mincore call per window of residency_pages
 * pages, not one per gap. */
static void scan_gaps(struct scan *sc, uint64_t start, uint64_t end)
{
    while (start < end) {
        uint64_t base = start & ~(PAGE - 1);
        uint64_t window_end = base + sc->residency_pages * PAGE;
        uint64_t stop = window_end < end ? window_end : end;
        size_t pages = (size_t)((stop - base + PAGE - 1) / PAGE);
        if (mincore((void *)base, pages * PAGE, sc->residency) != 0)
            residency_page_by_page(sc, base, pages);
        scan_gaps_window(sc, base, start, stop);
        start = stop;
    }
}

/* Scans a root mapping [start, end) minus the agent's own memory. */
static void scan_root(struct scan *sc, uint64_t start, uint64_t end)
{
    for (size_t x = 0; x < sc->nexcluded && start < end; x++) {
        const struct range *r = &sc->excluded[x];
        if (r->end <= start)
            continue;
        if (r->start >= end)
            break;
        if (r->start > start)
            scan_gaps(sc, start, r->start);
        start = r->end;
    }
    if (start < end)
        scan_gaps(sc, start, end);
}

/* Reads /proc/self/maps into memory of its own; returns its length or 0. */
static size_t read_maps(char **out, size_t *cap)
{
    *cap = 1u << 20;
    for (;;) {
        char *buf = os_map(*cap);
        if (!buf)
            return 0;
        int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
        size_t len = 0;
        ssize_t n = 0;
        while (fd >= 0 && len < *cap && (n = read(fd, buf + len, *cap - len)) > 0)
            len += (size_t)n;
        if (fd >= 0)
            close(fd);
        if (fd < 0 || n < 0) {
            os_unmap(buf, *cap);
            return 0;
        }
        if (len < *cap) {
            *out = buf;
            return len;
        }
        os_unmap(buf, *cap);
        *cap *= 4;
    }
}

static uint64_t parse_hex(const char **pp)
{
    uint64_t v = 0;
    for (const char *p = *pp;; p++) {
        char c = *p;
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0') : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16;
        if (d == 16) {
            *pp = p;
            return v;
        }
        v = v * 16 + d;
    }
}

/* True for a mapping whose words may hold the program's pointers: private,
 * readable and writable, and not a device (whose reads have effects). */
static bool is_root_mapping(const char *perms, const char *path, size_t path_len)
{
    if (perms[0] != 'r' || perms[1] != 'w' || perms[3] != 'p')
        return false;
    if (path_len >= 5 && !memcmp(path, "/dev/", 5))
        return path_len == 9 && !memcmp(path, "/dev/zero", 9);
    return true;
}

static void scan_roots(struct scan *sc, const char *maps, size_t len)
{
    const char *p = maps, *end = maps + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        uint64_t start = parse_hex(&q);
        q++; /* '-' */
        uint64_t stop = parse_hex(&q);
        q++; /* ' ' */
        const char *perms = q;
        /* The path is the sixth field, after offset, device and inode. */
        const char *path = q;
        for (int field = 0; field < 4 && path < eol; field++) {
            while (path < eol && *path != ' ')
                path++;
            while (path < eol && *path == ' ')
                path++;
        }
        if (eol - perms >= 4 && is_root_mapping(perms, path, (size_t)(eol - path)))
            scan_root(sc, start, stop);
        p = eol + 1;
    }
}

/* ---- leaks ------------------------------------------------------------- */

/* True if block i holds an object the interpreter keeps on purpose, which
 * is no leak, and what it holds is reached: an immortal one (pyver's
 * immortalizes_deferred: every object with deferred reference counting is
 * made immortal when the first thread starts, garbage included), or one
 * with deferred reference counting, which only a collection frees: the
 * scan runs after the exit collection, so an unreachable one was left by
 * an interpreter that is gone (a subinterpreter's static types'
 * descriptors). */
static bool kept_object(struct scan *sc, size_t i)
{
    hs_layout(&sc->snap, i);
    const struct hs_block *b = &sc->snap.blocks[i];
    if (b->layout != HS_LAYOUT_OBJECT && b->layout != HS_LAYOUT_GC_OBJECT)
        return false;
    if (!pf_layout || b->obj_off + pf_layout->ob_header_size > b->size)
        return false;
    uintptr_t obj = b->addr + b->obj_off;
    return pyver_immortal(pf_layout, obj) || pyver_deferred(pf_layout, obj);
}

/* After the roots: kept objects not reached yet become roots too. Only
 * unreached blocks are looked at, so the common case costs nothing. */
static void reach_from_kept(struct scan *sc)
{
    for (size_t i = 0; i < sc->snap.n; i++) {
        if (sc->marks[i] & M_REACHED || !kept_object(sc, i))
            continue;
        sc->marks[i] |= M_REACHED;
        push(sc, i);
        drain(sc, consider_reached);
    }
}

/* Within the leaked blocks: marks those another leaked block points to. */
static void consider_referenced(struct scan *sc, uint64_t w)
{
    if (!hs_maybe(&sc->snap, w))
        return;
    long j = hs_find_slow(&sc->snap, w);
    if (j < 0 || (sc->marks[j] & (M_REACHED | M_REFERENCED)) || (size_t)j == sc->self)
        return;
    const struct hs_block *b = &sc->snap.blocks[j];
    if (hs_in_gc_head(b, w))
        return;
    sc->marks[j] |= M_REFERENCED;
}

/* Claims the leaked blocks a direct leak holds on to. */
static void consider_claimed(struct scan *sc, uint64_t w)
{
    if (!hs_maybe(&sc->snap, w))
        return;
    long j = hs_find_slow(&sc->snap, w);
    if (j < 0 || (sc->marks[j] & (M_REACHED | M_CLAIMED)))
        return;
    const struct hs_block *b = &sc->snap.blocks[j];
    if (hs_in_gc_head(b, w))
        return;
    sc->marks[j] |= M_CLAIMED;
    push(sc, (size_t)j);
}

static void claim_from(struct scan *sc, size_t i)
{
    sc->marks[i] |= M_CLAIMED | M_DIRECT;
    push(sc, i);
    drain(sc, consider_claimed);
}

static void classify_leaks(struct scan *sc)
{
    /* A dead object on a free list is owned by the list, even when nothing
     * scanned points to it (the second link of a chain). */
    for (size_t i = 0; i < sc->snap.n; i++) {
        if (sc->marks[i] & M_REACHED)
            continue;
        hs_layout(&sc->snap, i);
        if (sc->snap.blocks[i].layout == HS_LAYOUT_DEAD)
            sc->marks[i] |= M_REACHED;
    }
    for (size_t i = 0; i < sc->snap.n; i++) {
        if (sc->marks[i] & M_REACHED)
            continue;
        /* consider_referenced skips the block itself by this index. */
        sc->self = i;
        scan_block(sc, i, consider_referenced);
    }
    for (size_t i = 0; i < sc->snap.n; i++)
        if (!(sc->marks[i] & (M_REACHED | M_REFERENCED | M_CLAIMED)))
            claim_from(sc, i);
    /* What is left is only referenced from other leaked blocks, in cycles
     * that nothing outside points to: each cycle's first block is its root. */
    for (size_t i = 0; i < sc->snap.n; i++)
        if (!(sc->marks[i] & (M_REACHED | M_CLAIMED)))
            claim_from(sc, i);
}

static size_t journal_leaks(struct scan *sc)
{
    size_t leaked = 0;
    for (size_t i = 0; i < sc->snap.n; i++) {
        if (sc->marks[i] & M_REACHED)
            continue;
        struct jn_delta *d;
        uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
        if (!w)
            break;
        const struct hs_block *b = &sc->snap.blocks[i];
        jw_commit(jn_put_leak(w, jw_next_seq(), b->addr, b->type,
                              (sc->marks[i] & M_DIRECT) ? JN_LEAK_DIRECT : 0));
        leaked++;
    }
    return leaked;
}

/* ---- the scan ---------------------------------------------------------- */

static bool prepare(struct scan *sc)
{
    if (!hs_take(&sc->snap))
        return false;
    size_t n = sc->snap.n ? sc->snap.n : 1;
    sc->marks_bytes = n;
    sc->stack_bytes = n * sizeof *sc->stack;
    sc->residency_pages = 65536;
    sc->marks = os_map(sc->marks_bytes);
    sc->stack = os_map(sc->stack_bytes);
    sc->residency = os_map(sc->residency_pages);
    return sc->marks && sc->stack && sc->residency && collect_excluded(sc);
}

static void finish(struct scan *sc)
{
    os_unmap(sc->marks, sc->marks_bytes);
    os_unmap(sc->stack, sc->stack_bytes);
    os_unmap(sc->residency, sc->residency_pages);
    os_unmap(sc->excluded, sc->excluded_bytes);
    hs_release(&sc->snap);
}

/* Keeps the scan's caller-saved state out of registers: setjmp spills the
 * callee-saved registers into a buffer on this stack, which is scanned. */
static __attribute__((noinline)) size_t scan_with_registers_spilled(struct scan *sc)
{
    jmp_buf regs;
    setjmp(regs);
    /* The stack below the spilled registers: this scan's own frames and
     * whatever deeper calls left there before. */
    uintptr_t below = (uintptr_t)&regs;
    add_excluded(below - (256u << 10), 256u << 10, sc);
    sort_ranges(sc->excluded, sc->nexcluded);
    char *maps = NULL;
    size_t maps_cap = 0, maps_len = read_maps(&maps, &maps_cap);
    if (!maps_len) {
        log_msg("leak scan: cannot read /proc/self/maps; no leak scan");
        return 0;
    }
    scan_roots(sc, maps, maps_len);
    drain(sc, consider_reached);
    reach_from_kept(sc);
    os_unmap(maps, maps_cap);
    __asm__ __volatile__("" : : "r"(&regs) : "memory");
    classify_leaks(sc);
    return journal_leaks(sc);
}

/* The scan itself; *out gets the number of leaked blocks. Runs with the
 * other Python threads stopped. */
static void scan_stopped(void *out)
{
    if (!jw_active() || !guard_enter())
        return;
    struct scan sc;
    memset(&sc, 0, sizeof sc);
    size_t leaked = 0;
    if (prepare(&sc))
        leaked = scan_with_registers_spilled(&sc);
    else
        log_msg("leak scan: out of memory for its tables; no leak scan");
    finish(&sc);
    guard_leave();
    *(size_t *)out = leaked;
}

size_t reach_scan(void)
{
    size_t leaked = 0;
    world_stopped(scan_stopped, &leaked);
    return leaked;
}
