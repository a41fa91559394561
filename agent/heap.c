#include "heap.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../core/os.h"
#include "../core/table.h"
#include "crash.h"
#include "guard.h"
#include "capture.h"
#include "guardpool.h"
#include "jwriter.h"
#include "live.h"
#include "log.h"
#include "record.h"
#include "spin.h"
#include "types.h"

/* Redzones. The left one keeps the 16-byte alignment that malloc and
 * pymalloc promise; the right one pads the block to a multiple of 16 and
 * adds at least 16 bytes. */
#define RZ_LEFT 16
#define RZ_RIGHT_MIN 16
#define PAT_REDZONE 0xfb
#define PAT_NEW 0xbe
#define PAT_FREED 0xdd

/* Set once before any hook is installed. */
static struct heap_family families[JN_DOMAIN_COUNT];
static struct heap_options opt;

void heap_set_family(enum jn_domain d, const struct heap_family *f)
{
    families[d] = *f;
}

bool heap_sampling_only; /* set once by heap_configure */

/* protected by: set once, in a forked child while it has one thread. */
static bool forked_child;

void heap_after_fork_in_child(void)
{
    forked_child = true;
    opt.pool_rate = 0;
}

/* The guarded pool's slots at the start (it grows up to opt.pool_slots). */
static size_t pool_start(void)
{
    return opt.sample_only ? HEAP_POOL_START_SAMPLING : HEAP_POOL_START;
}

void heap_configure(const struct heap_options *o)
{
    opt = *o;
    if (opt.pool_rate && !gp_init(pool_start(), opt.pool_slots)) {
        opt.pool_rate = 0;
        log_msg("the guarded pool could not be set up; nothing is caught at the access%s",
                opt.sample_only ? ", and sampling mode checks nothing" : "");
    }
    heap_sampling_only = opt.sample_only;
}

unsigned heap_sample_rate(void)
{
    return opt.sample_only ? opt.pool_rate : 0;
}

/* Per-thread sampling: a countdown to the next pooled block, drawn around
 * pool_rate so that periodic allocation patterns are not missed. */
AGENT_TLS uint32_t heap_sample_countdown;
static AGENT_TLS uint32_t sample_rng;

static bool sample_now(void)
{
    if (heap_sample_pass())
        return false;
    uint32_t x = sample_rng ? sample_rng : (uint32_t)os_tsc() | 1;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    sample_rng = x;
    heap_sample_countdown = 1 + x % (2 * opt.pool_rate - 1); /* mean pool_rate; 1 means every block */
    return true;
}

/* True if blocks of api must stay plain allocator blocks (plain_objects). */
static bool plain(uint8_t api)
{
    return opt.plain_objects && jn_api_domain(api) == JN_DOMAIN_OBJ;
}

/* Puts a new block in the guarded pool when it is sampled; NULL otherwise. */
static void *pool_alloc(uint8_t api, size_t size, bool zero)
{
    if (!opt.pool_rate || size > HEAP_POOL_MAX || plain(api) || !sample_now())
        return NULL;
    return gp_alloc(size, zero, api);
}

static size_t right_rz(size_t size)
{
    return RZ_RIGHT_MIN + ((16 - (size & 15)) & 15);
}

static bool padded_size(size_t size, size_t *out)
{
    if (size > SIZE_MAX - RZ_LEFT - RZ_RIGHT_MIN - 16)
        return false;
    *out = RZ_LEFT + size + right_rz(size);
    return true;
}

static const struct heap_family *family_of(uint8_t api)
{
    return &families[jn_api_domain(api)];
}

/* The family a guarded block of api comes from and goes back to
 * (guard_from_raw). */
static const struct heap_family *guard_family(uint8_t api)
{
    enum jn_domain d = jn_api_domain(api);
    if (opt.guard_from_raw && (d == JN_DOMAIN_OBJ || d == JN_DOMAIN_MEM))
        d = JN_DOMAIN_RAW;
    return &families[d];
}

static void *base_of(void *p, bool guarded)
{
    return guarded ? (char *)p - RZ_LEFT : p;
}

/* Fills the redzones (and the block, unless it is already zeroed) and
 * returns the address the program gets. */
static void *arm(void *base, size_t size, bool fill)
{
    char *p = (char *)base + RZ_LEFT;
    memset(base, PAT_REDZONE, RZ_LEFT);
    if (fill)
        memset(p, PAT_NEW, size);
    memset(p + size, PAT_REDZONE, right_rz(size));
    return p;
}

/* The offset of the first byte in [from, from+n) that is not pat, or -1. */
static int64_t first_changed(const char *from, size_t n, unsigned char pat)
{
    uint64_t word = 0x0101010101010101ull * pat;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, from + i, 8);
        if (w != word)
            break;
    }
    for (; i < n; i++)
        if ((unsigned char)from[i] != pat)
            return (int64_t)i;
    return -1;
}

/* Says how far the guarded pool grew, if it did: long-lived blocks held
 * it, and a user sizing --pool-slots wants to know. Nothing without a pool
 * (gp_size() is 0). */
static void note_pool_growth(void)
{
    size_t start = pool_start(), now = gp_size();
    if (now <= start)
        return;
    char text[200];
    log_format(text, sizeof text, "the guarded pool grew from %zu to %zu slots: long-lived guarded blocks held it%s",
               start, now, now >= opt.pool_slots ? " (its limit, --pool-slots)" : "");
    rec_note(text);
}

/* ---- stopping ---- */

void heap_stop(void)
{
    if (opt.keep_going)
        return;
    note_pool_growth();
    rec_note("lifeline stopped the target at its first memory error (--keep-going goes on past errors)");
    crash_disarm();
    _exit(1);
}

/* Reports an error. A process that is not recording (a forked child) has
 * nowhere to journal it, so it says it on stderr. */
static void report(enum jn_error e, uint8_t api, void *p, int64_t offset, enum jn_access access,
                   enum jn_caught caught, uint8_t other_api)
{
    struct jn_error_info info = {.api = api, .other_api = other_api, .addr = (uintptr_t)p, .offset = offset,
                                 .access = access, .caught = caught};
    if (jw_active())
        rec_error(e, &info);
    else
        log_msg("heap error %d at %p in a process that is not recorded (pid %d)", (int)e, p, (int)getpid());
    heap_stop();
}

/* True if the left redzone at left or the right one at right (of a block
 * of size bytes) lost its pattern; *offset is then the first damaged byte
 * from the block's start (negative before it). */
static bool redzones_changed(const char *left, const char *right, uint64_t size, int64_t *offset)
{
    int64_t bad = first_changed(left, RZ_LEFT, PAT_REDZONE);
    if (bad >= 0) {
        *offset = bad - RZ_LEFT;
        return true;
    }
    bad = first_changed(right, right_rz(size), PAT_REDZONE);
    *offset = (int64_t)size + bad;
    return bad >= 0;
}

/* True if a redzone around the guarded block at user lost its pattern;
 * *offset is then the first damaged byte from the block's start (negative
 * before it). */
static bool redzone_damage(const char *user, uint64_t size, int64_t *offset)
{
    return redzones_changed(user - RZ_LEFT, user + size, size, offset);
}

/* Checks a guarded block's redzones; reports the first damaged byte. */
static bool redzones_intact(uint8_t api, void *p, const struct live_info *li, enum jn_caught caught)
{
    char *user = p;
    int64_t offset;
    if (!redzone_damage(user, li->size, &offset))
        return true;
    enum jn_error e = offset < 0 ? JN_ERR_UNDERFLOW : JN_ERR_OVERFLOW;
    /* Mended first, so that a later check of the same block (quarantine,
     * exit) under --keep-going does not report it again. */
    memset(user - RZ_LEFT, PAT_REDZONE, RZ_LEFT);
    memset(user + li->size, PAT_REDZONE, right_rz(li->size));
    report(e, api, p, offset, JN_ACCESS_WRITE, caught, li->api);
    return false;
}

/* ---- quarantine ---- */

/* One quarantine per family: a block is released through its family's free,
 * and that must happen in a call of the same family. The debug hooks of a
 * --with-pydebug build insist that PyMem_Free and PyObject_Free run with the
 * GIL held, which a libc free() elsewhere in the process need not. */
#define QUARANTINE_ENTRIES 32768

struct qent {
    uintptr_t p;
    uint64_t size;
    uint8_t api; /* of the allocation */
    uint8_t free_api;
    bool guarded;
};

struct quarantine {
    int lock;
    struct qent *ring;            /* protected by lock, as are the counters */
    size_t head, count, bytes;
} __attribute__((aligned(64)));

static struct quarantine quarantines[JN_DOMAIN_COUNT];

static void release(uintptr_t p, uint8_t api, bool guarded)
{
    const struct heap_family *f = guarded ? guard_family(api) : family_of(api);
    f->free(f->ctx, base_of((void *)p, guarded));
}

/* Bytes of a freed block checked when it leaves quarantine: where stale
 * pointers write (reference counts, object headers and fields); the rest
 * would cost a full read of every freed block. */
#define VERIFY_BYTES 64

/* Verifies that a quarantined block was not written since its free. */
static void verify_freed(const struct qent *e)
{
    int64_t bad = first_changed((const char *)e->p, e->size < VERIFY_BYTES ? e->size : VERIFY_BYTES, PAT_FREED);
    if (bad >= 0) {
        report(JN_ERR_USE_AFTER_FREE, e->free_api, (void *)e->p, bad, JN_ACCESS_WRITE, JN_CAUGHT_LATER, e->api);
        return;
    }
    if (e->guarded) {
        struct live_info li = {.size = e->size, .api = e->api, .guarded = true};
        redzones_intact(e->free_api, (void *)e->p, &li, JN_CAUGHT_LATER);
    }
}

/* Takes the oldest entry out. Called with q->lock held. */
static struct qent pop_oldest_unlocked(struct quarantine *q)
{
    struct qent e = q->ring[(q->head + QUARANTINE_ENTRIES - q->count) % QUARANTINE_ENTRIES];
    q->count--;
    q->bytes -= e.size;
    return e;
}

/* How many evictions ahead a block's memory is prefetched: a block leaves
 * the quarantine megabytes of frees after it entered, long out of the
 * cache, and its verification and release would each wait for memory. */
#define PREFETCH_AHEAD 16

/* Starts loading the lines verify_freed and the release will touch of the
 * entry PREFETCH_AHEAD places behind the oldest. Called with q->lock held. */
static void prefetch_ahead_unlocked(const struct quarantine *q)
{
    if (q->count <= PREFETCH_AHEAD)
        return;
    const struct qent *e = &q->ring[(q->head + QUARANTINE_ENTRIES - q->count + PREFETCH_AHEAD) % QUARANTINE_ENTRIES];
    const char *p = (const char *)e->p;
    os_prefetch(p - RZ_LEFT);
    os_prefetch(p + VERIFY_BYTES - 1);
    if (e->guarded)
        os_prefetch(p + e->size);
}

static void evict(struct quarantine *q, struct qent *out, int *n)
{
    spin_lock(&q->lock);
    while (*n < 8 && q->count && (q->count == QUARANTINE_ENTRIES || q->bytes > opt.quarantine_bytes)) {
        out[(*n)++] = pop_oldest_unlocked(q);
        prefetch_ahead_unlocked(q);
    }
    spin_unlock(&q->lock);
}

/* Puts a freed, poisoned block into its family's quarantine, releasing the
 * oldest blocks when it is full. Blocks too big for it are verified and
 * released at once. */
static void quarantine(uintptr_t p, const struct live_info *li, uint8_t free_api)
{
    struct quarantine *q = &quarantines[jn_api_domain(li->api)];
    struct qent e = {p, li->size, li->api, free_api, li->guarded};
    bool kept = false;
    if (forked_child) {
        release(p, e.api, e.guarded);
        return;
    }
    if (li->size <= opt.quarantine_bytes / 4) {
        spin_lock(&q->lock);
        if (!q->ring)
            q->ring = os_map(QUARANTINE_ENTRIES * sizeof *q->ring);
        if (q->ring && q->count < QUARANTINE_ENTRIES) {
            q->ring[q->head] = e;
            q->head = (q->head + 1) % QUARANTINE_ENTRIES;
            q->count++;
            q->bytes += e.size;
            kept = true;
        }
        spin_unlock(&q->lock);
    }
    if (!kept) {
        verify_freed(&e);
        release(p, e.api, e.guarded);
    }
    struct qent old[8];
    int n = 0;
    evict(q, old, &n);
    for (int i = 0; i < n; i++) {
        verify_freed(&old[i]);
        release(old[i].p, old[i].api, old[i].guarded);
    }
}

/* True if p is a block in some quarantine (freed, not yet reused). A linear
 * scan: it only runs for frees of addresses that are not live, which a
 * correct program makes only for blocks from before the hooks. */
static bool in_quarantine(uintptr_t p, uint8_t *free_api)
{
    bool found = false;
    for (int d = 0; d < JN_DOMAIN_COUNT && !found; d++) {
        struct quarantine *q = &quarantines[d];
        spin_lock(&q->lock);
        for (size_t k = 0; k < q->count && !found; k++) {
            const struct qent *e = &q->ring[(q->head + QUARANTINE_ENTRIES - 1 - k) % QUARANTINE_ENTRIES];
            if (e->p == p) {
                *free_api = e->free_api;
                found = true;
            }
        }
        spin_unlock(&q->lock);
    }
    return found;
}

bool heap_recently_freed(uintptr_t block, uint8_t *free_api)
{
    return opt.check && in_quarantine(block, free_api);
}


/* ---- the calls ---- */

/* Where a block lies: among other blocks as the allocator placed it, in
 * redzones (arm), or alone on a page of the guarded pool. */
enum placement { PLACED_PLAIN, PLACED_GUARDED, PLACED_POOLED };

/* Records a new block; false if it could not be tracked. */
static bool track(uint8_t api, void *p, size_t size, enum placement where)
{
    live_prefetch((uintptr_t)p);
    uint32_t stack = rec_stack();
    bool added = where == PLACED_POOLED ? live_add_sparse((uintptr_t)p, size, api)
                                        : live_add((uintptr_t)p, size, api, where == PLACED_GUARDED);
    if (!added)
        return false;
    rec_alloc(api, p, size, stack);
    return true;
}

/* Allocates a guarded block of the family of api; NULL when out of memory. */
static void *alloc_guarded(uint8_t api, size_t size, bool zero)
{
    const struct heap_family *f = guard_family(api);
    size_t total;
    if (!padded_size(size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    void *base = zero ? f->calloc(f->ctx, 1, total) : f->malloc(f->ctx, total);
    return base ? arm(base, size, !zero) : NULL;
}

void *heap_malloc(uint8_t api, size_t size)
{
    const struct heap_family *f = family_of(api);
    void *pooled = pool_alloc(api, size, false);
    if (pooled) {
        if (track(api, pooled, size, PLACED_POOLED))
            return pooled;
        gp_free(pooled, size);
    }
    if (opt.sample_only)
        return f->malloc(f->ctx, size);
    if (!opt.check || plain(api)) {
        void *p = f->malloc(f->ctx, size);
        /* A plain object block still gets the new-memory pattern, the one
         * thing the free-threaded collector never reads before the object
         * is built: the fields never written show at PyObject_GC_Track and
         * at the free. */
        if (p && opt.check)
            memset(p, PAT_NEW, size);
        if (p)
            track(api, p, size, PLACED_PLAIN);
        return p;
    }
    void *p = alloc_guarded(api, size, false);
    if (p && !track(api, p, size, PLACED_GUARDED)) {
        /* Untracked blocks must look like plain ones when they are freed. */
        release((uintptr_t)p, api, true);
        p = f->malloc(f->ctx, size);
    }
    return p;
}

void *heap_calloc(uint8_t api, size_t nelem, size_t elsize)
{
    const struct heap_family *f = family_of(api);
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    void *pooled = pool_alloc(api, size, true);
    if (pooled) {
        if (track(api, pooled, size, PLACED_POOLED))
            return pooled;
        gp_free(pooled, size);
    }
    if (opt.sample_only)
        return f->calloc(f->ctx, nelem, elsize);
    if (!opt.check || plain(api)) {
        void *p = f->calloc(f->ctx, nelem, elsize);
        if (p)
            track(api, p, size, PLACED_PLAIN);
        return p;
    }
    void *p = alloc_guarded(api, size, true);
    if (p && !track(api, p, size, PLACED_GUARDED)) {
        release((uintptr_t)p, api, true);
        p = f->calloc(f->ctx, nelem, elsize);
    }
    return p;
}

void heap_adopt(uint8_t api, void *p, size_t size)
{
    /* Sampling records only pooled blocks: the free of an adopted one
     * would pass the agent by and leave its record behind. */
    if (opt.sample_only)
        return;
    track(api, p, size, PLACED_PLAIN);
}

/* A free of an address that is not a live block. */
static void free_unknown(uint8_t api, void *p)
{
    uint8_t first_free_api;
    if (opt.check && in_quarantine((uintptr_t)p, &first_free_api)) {
        report(JN_ERR_DOUBLE_FREE, api, p, 0, JN_ACCESS_UNKNOWN, JN_CAUGHT_AT_ACCESS, first_free_api);
        return; /* freeing it again would corrupt the allocator */
    }
    if (opt.check && opt.invalid_free && jn_api_domain(api) != JN_DOMAIN_LIBC) {
        report(JN_ERR_INVALID_FREE, api, p, 0, JN_ACCESS_UNKNOWN, JN_CAUGHT_AT_ACCESS, api);
        return;
    }
    /* A block from before the hooks were installed. */
    const struct heap_family *f = family_of(api);
    f->free(f->ctx, p);
}

/* Checks that a free (or realloc) goes to the family that allocated the block. */
static void check_family(uint8_t api, void *p, const struct live_info *li)
{
    if (opt.check && jn_api_domain(api) != jn_api_domain(li->api))
        report(JN_ERR_MISMATCH, api, p, 0, JN_ACCESS_UNKNOWN, JN_CAUGHT_AT_ACCESS, li->api);
}

/* Remembers which (type, offset) pairs were reported, so that a field left
 * unset in every object of a type is said once. protected by uninit_lock */
#define UNINIT_SEEN 256
static int uninit_lock;
static struct {
    uintptr_t type;
    uint64_t offset;
} uninit_seen[UNINIT_SEEN];
static unsigned uninit_count;

/* True the first time a (type, offset) pair is seen; false afterwards, and
 * always once the memory for them is full. */
static bool first_report(uintptr_t type, uint64_t offset)
{
    bool first = true;
    spin_lock(&uninit_lock);
    for (unsigned i = 0; i < uninit_count && first; i++)
        first = !(uninit_seen[i].type == type && uninit_seen[i].offset == offset);
    if (first && uninit_count < UNINIT_SEEN) {
        uninit_seen[uninit_count].type = type;
        uninit_seen[uninit_count].offset = offset;
        uninit_count++;
    } else {
        first = false;
    }
    spin_unlock(&uninit_lock);
    return first;
}

/* Looks, in an object of an extension's type about to be freed, for a word
 * past the header that still holds the new-memory pattern: a field never
 * written since allocation. Reported, never stopped on: reading it may be
 * harmless, and the object is gone anyway. Blocks from calloc or
 * PyType_GenericAlloc are zeroed, so only objects made with PyObject_New
 * or PyObject_Malloc can show it. */
static void check_uninitialized(uint8_t api, void *p, const struct live_info *li, uint32_t type,
                                const struct ty_object *obj)
{
    if (!type || !obj->extension)
        return;
    const uint64_t pattern = 0x0101010101010101ull * PAT_NEW;
    uint64_t end = obj->offset + obj->basicsize;
    if (end > li->size)
        end = li->size;
    for (uint64_t off = obj->offset + 16; off + 8 <= end; off += 8) {
        uint64_t w;
        memcpy(&w, (const char *)p + off, 8);
        if (w != pattern || !first_report(obj->type, off - obj->offset))
            continue;
        struct jn_error_info info = {.api = api, .other_api = li->api, .addr = (uintptr_t)p,
                                     .offset = (int64_t)(off - obj->offset), .access = JN_ACCESS_UNKNOWN,
                                     .caught = JN_CAUGHT_LATER, .type = type, .type_addr = ty_defined_at(obj),
                                     .aux = obj->basicsize};
        if (jw_active())
            rec_error(JN_ERR_UNINIT, &info);
        return;
    }
}

static uint32_t type_of(uint8_t api, void *p, const struct live_info *li)
{
    struct ty_object obj = {0};
    if (!rec_name_types || jn_api_domain(li->api) != JN_DOMAIN_OBJ)
        return 0;
    /* Blocks that got the new-memory pattern: guarded, pooled, or plain
     * objects under checking (heap_malloc). Only their check needs the
     * object described (its type's size, flags and module). */
    bool check = opt.check && (li->guarded || gp_contains(p) || plain(li->api));
    uint32_t type = ty_of_freed_block((uintptr_t)p, li->size, check ? &obj : NULL);
    if (check)
        check_uninitialized(api, p, li, type, &obj);
    return type;
}

/* Frees a block of the guarded pool: its page becomes inaccessible. */
static void pool_free(uint8_t api, void *p)
{
    struct live_info li;
    /* Taken from the table first, as heap_free does: of two threads
     * freeing the block at once, one reports the double free. */
    if (!live_remove((uintptr_t)p, &li)) {
        report(JN_ERR_DOUBLE_FREE, api, p, 0, JN_ACCESS_UNKNOWN, JN_CAUGHT_AT_ACCESS, api);
        return;
    }
    check_family(api, p, &li);
    uint32_t type = type_of(api, p, &li);
    int64_t bad = gp_free(p, li.size);
    if (bad != INT64_MIN)
        report(bad < 0 ? JN_ERR_UNDERFLOW : JN_ERR_OVERFLOW, api, p, bad, JN_ACCESS_WRITE, JN_CAUGHT_LATER, li.api);
    rec_free(api, p, type, rec_stack());
}

void heap_free(uint8_t api, void *p)
{
    struct live_info li;
    if (gp_contains(p)) {
        pool_free(api, p);
        return;
    }
    if (opt.sample_only) {
        const struct heap_family *f = family_of(api);
        f->free(f->ctx, p);
        return;
    }
    /* The stack first, while the block's entry loads: a free of a block
     * the agent never saw (from before the hooks) takes one for nothing. */
    live_prefetch((uintptr_t)p);
    uint32_t stack = rec_stack();
    if (!live_remove((uintptr_t)p, &li)) {
        free_unknown(api, p);
        return;
    }
    check_family(api, p, &li);
    if (li.guarded)
        redzones_intact(api, p, &li, JN_CAUGHT_LATER);
    uint32_t type = type_of(api, p, &li);
    rec_free(api, p, type, stack);
    if (!opt.check || plain(li.api)) {
        release((uintptr_t)p, li.api, false);
        return;
    }
    memset(p, PAT_FREED, li.size);
    quarantine((uintptr_t)p, &li, api);
}

/* realloc of a live, guarded block: a new block, a copy, the old one to
 * quarantine — a moving realloc, so stale pointers to the old block are
 * caught like any use after free. */
static void *realloc_guarded(uint8_t api, void *p, const struct live_info *li, size_t size)
{
    void *q = alloc_guarded(li->api, size, false);
    if (!q)
        return NULL;
    memcpy(q, p, li->size < size ? li->size : size);
    redzones_intact(api, p, li, JN_CAUGHT_LATER);
    live_remove((uintptr_t)p, NULL);
    if (!live_add((uintptr_t)q, size, li->api, true)) {
        /* Cannot track the new block: give the old one back unchanged. */
        release((uintptr_t)q, li->api, true);
        live_add((uintptr_t)p, li->size, li->api, true);
        return NULL;
    }
    rec_realloc(api, p, q, size);
    memset(p, PAT_FREED, li->size);
    quarantine((uintptr_t)p, li, api);
    return q;
}

/* realloc of a pooled block: it moves out (or to another slot). */
static void *realloc_pooled(uint8_t api, void *p, size_t size)
{
    struct live_info li;
    if (!live_find((uintptr_t)p, &li)) {
        report(JN_ERR_USE_AFTER_FREE, api, p, 0, JN_ACCESS_READ, JN_CAUGHT_AT_ACCESS, api);
        return NULL;
    }
    void *q = heap_malloc(li.api, size);
    if (!q)
        return NULL;
    memcpy(q, p, li.size < size ? li.size : size);
    pool_free(api, p);
    return q;
}

void *heap_realloc(uint8_t api, void *p, size_t size)
{
    const struct heap_family *f = family_of(api);
    if (!p)
        return heap_malloc(api, size);
    if (gp_contains(p))
        return realloc_pooled(api, p, size);
    if (opt.sample_only)
        return f->realloc(f->ctx, p, size);
    struct live_info li;
    if (!live_find((uintptr_t)p, &li)) {
        uint8_t free_api;
        if (opt.check && in_quarantine((uintptr_t)p, &free_api)) {
            report(JN_ERR_USE_AFTER_FREE, api, p, 0, JN_ACCESS_READ, JN_CAUGHT_AT_ACCESS, free_api);
            return NULL;
        }
        return f->realloc(f->ctx, p, size);
    }
    check_family(api, p, &li);
    bool libc = jn_api_domain(api) == JN_DOMAIN_LIBC;
    if (size == 0 && libc) {
        heap_free(api, p); /* realloc(p, 0) frees p */
        return NULL;
    }
    if (li.guarded)
        return realloc_guarded(api, p, &li, size);
    const struct heap_family *owner = family_of(li.api);
    /* Forgotten before the call: once it returns, another thread may be
     * handed p's address, and its block must not be the one forgotten. */
    live_remove((uintptr_t)p, NULL);
    void *q = owner->realloc(owner->ctx, p, size);
    if (!q) {
        live_add((uintptr_t)p, li.size, li.api, false);
        return NULL;
    }
    live_add((uintptr_t)q, size, li.api, false);
    rec_realloc(api, p, q, size);
    return q;
}

size_t heap_usable_size(void *p)
{
    struct live_info li;
    return live_find((uintptr_t)p, &li) ? li.size : (size_t)-1;
}

/* The first live block found damaged at exit. */
struct damaged {
    bool found;
    uintptr_t p;
    struct live_info li;
    int64_t offset;
};

/* redzone_damage for the walk at exit, which holds no lock over a block: a
 * thread of the program still running may free it meanwhile. A block the
 * quarantine keeps stays mapped, but a bigger one is released at once and
 * its memory may be unmapped, so its redzones are read through the kernel,
 * which fails where a load would fault. False when they cannot be read. */
static bool redzone_damage_at_exit(const char *user, uint64_t size, int64_t *offset)
{
    if (size <= opt.quarantine_bytes / 4)
        return redzone_damage(user, size, offset);
    char left[RZ_LEFT], right[RZ_RIGHT_MIN + 16];
    if (!os_read_own(left, user - RZ_LEFT, RZ_LEFT) || !os_read_own(right, user + size, right_rz(size)))
        return false;
    return redzones_changed(left, right, size, offset);
}

/* Checks a live block's redzones (or its page slack, in the pool) without
 * reporting: reporting may stop the process, and this may run under a
 * stripe lock of the live table. */
static void check_live(uintptr_t p, const struct live_info *li, void *arg)
{
    struct damaged *d = arg;
    int64_t bad = -1;
    if (d->found)
        return;
    if (gp_contains((void *)p)) {
        bad = gp_damaged((void *)p, li->size);
        if (bad == INT64_MIN)
            return;
    } else if (li->guarded) {
        if (!redzone_damage_at_exit((const char *)p, li->size, &bad))
            return;
    } else {
        return;
    }
    *d = (struct damaged){true, p, *li, bad};
}

void heap_verify_all(void)
{
    if (!opt.check && !opt.pool_rate)
        return;
    note_pool_growth();
    struct damaged dm = {0};
    live_each(check_live, &dm);
    /* The walk holds no lock over most blocks: a thread of the program
     * still running may have freed the block and its memory been reused
     * meanwhile. Damage counts only if a block of the same size and api is
     * still there. */
    struct live_info now;
    if (dm.found && (!live_find(dm.p, &now) || now.size != dm.li.size || now.api != dm.li.api))
        dm.found = false;
    if (dm.found)
        report(dm.offset < 0 ? JN_ERR_UNDERFLOW : JN_ERR_OVERFLOW, dm.li.api, (void *)dm.p, dm.offset,
               JN_ACCESS_WRITE, JN_CAUGHT_LATER, dm.li.api);
    if (!opt.check)
        return;
    for (int d = 0; d < JN_DOMAIN_COUNT; d++) {
        struct quarantine *q = &quarantines[d];
        struct qent e;
        for (;;) {
            spin_lock(&q->lock);
            bool any = q->count > 0;
            if (any)
                e = pop_oldest_unlocked(q);
            spin_unlock(&q->lock);
            if (!any)
                break;
            verify_freed(&e);
            /* Not released: the process is ending, and the allocator may
             * already be gone. */
        }
    }
}

bool heap_pool_fault(uintptr_t addr, bool write)
{
    struct gp_fault gf;
    /* A fault while this thread is inside the agent cannot take a stack
     * safely; it is left to the crash path. */
    if (guard_depth || !gp_explain(addr, &gf))
        return false;
    guard_depth = 1;
    cap_in_signal = true;
    enum jn_error e = gf.freed ? JN_ERR_USE_AFTER_FREE : gf.offset < 0 ? JN_ERR_UNDERFLOW : JN_ERR_OVERFLOW;
    report(e, gf.api, gf.block, gf.offset, write ? JN_ACCESS_WRITE : JN_ACCESS_READ, JN_CAUGHT_AT_ACCESS, gf.api);
    /* keep_going: let the access happen and go on. */
    gp_open(addr);
    cap_in_signal = false;
    guard_depth = 0;
    return true;
}
