#include "guardpool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/os.h"
#include "log.h"
#include "spin.h"

#define PAGE 4096u
#define PAT_SLACK 0xfb
#define PAT_NEW 0xbe

enum slot_state { SLOT_UNUSED, SLOT_LIVE, SLOT_FREED, SLOT_RETIRED };

struct slot {
    uintptr_t user;
    uint64_t size;
    uint8_t api;
    uint8_t state;
    bool right; /* the block ends at its page's end, so an overflow hits the guard page */
};

/* Set once by gp_init: the pool's address space, reserved for gp_max slots
 * (its arrays too), of which gp_slots are in use (see grow). */
static uint8_t *gp_base;
static size_t gp_max;
/* A pool of at most this many bytes of data pages keeps the pages of freed
 * slots resident: reusing one then costs an mprotect, where a page given
 * back costs a madvise, a TLB flush and a fault on the zero page. Sampling
 * mode's pool (512 slots, 2 MiB) is under it; full checking's is not. */
#define KEEP_PAGES_MAX (4u << 20)
/* protected by gp_lock for writes; read without it by gp_free (a stale
 * true only keeps one more page resident). */
static bool gp_keep_pages;

/* protected by gp_lock: slot states, the queue of reusable slots and the
 * number of slots in use. A freed slot is reused only after a quarter of
 * the pool has been freed after it, so that recently freed blocks stay
 * inaccessible. Read without it (atomics) by gp_has_room, a hint. */
static int gp_lock;
static size_t gp_slots;
static struct slot *slots;
static uint32_t *queue;
static size_t q_head, q_count;
static bool told_map_limit;
/* protected by: itself; held by the one thread that grows the pool, across
 * the system calls that prepare the new slots' pages. Only ever tried: a
 * thread that finds it held goes without a slot (one sample lost). A
 * child forked during a growth may take it over (agent/spin.h) and grow
 * from the same size again: the slots are added only under gp_lock, after
 * their pages are prepared. */
static int grow_lock;
/* protected by: atomics. Until this time (os_mono_ns) gp_has_room says no:
 * the last slot could not be opened (vm.max_map_count). */
static uint64_t no_room_until_ns;

static uint8_t *data_page(size_t i)
{
    return gp_base + (1 + 2 * i) * PAGE;
}

/* The number of lines of a /proc file, read without stdio. */
static size_t count_lines(const char *path)
{
    char buf[4096];
    size_t lines = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    }
    close(fd);
    return lines;
}

/* How many more mappings vm.max_map_count lets this process make, keeping
 * a margin for the program's own. */
static size_t mappings_left(void)
{
    char buf[32];
    size_t max = 0;
    if (os_read_small_file("/proc/sys/vm/max_map_count", buf, sizeof buf) <= 0)
        return 0;
    for (const char *c = buf; *c >= '0' && *c <= '9'; c++)
        max = max * 10 + (size_t)(*c - '0');
    size_t have = count_lines("/proc/self/maps");
    return max > have + 8192 ? max - have - 8192 : 0;
}

/* Gives each data page of a pool a mapping of its own for good: a flag its
 * guard pages lack (VM_NOHUGEPAGE, meaningless for single pages) keeps the
 * kernel from merging them. Opening or closing a slot is then a change of
 * protection alone, without splitting the pool's mapping and merging it
 * back (maple-tree allocations and updates): 2.4 times cheaper per alloc
 * and free on this project's VM (bench/pool_mprotect.c). It takes the two
 * mappings per slot that the budget (gp_init) counts for live slots, for
 * every slot of the pool at once. A kernel without transparent huge pages
 * refuses the flag: then slots split and merge as before. */
static void separate_data_pages(size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        if (madvise(data_page(i), PAGE, MADV_NOHUGEPAGE) != 0)
            return;
}

bool gp_init(size_t start, size_t max)
{
    /* A live slot splits the pool's mapping in two more pieces. */
    size_t allowed = mappings_left() / 2;
    if (max > allowed) {
        log_msg("vm.max_map_count allows %zu guarded blocks, not %zu; raise it with "
                "'sysctl -w vm.max_map_count=262144' for more", allowed, max);
        max = allowed;
    }
    start = start < max ? start : max;
    if (!start)
        return false;
    size_t bytes = (2 * max + 1) * PAGE;
    void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    slots = os_map(max * sizeof *slots);
    queue = os_map(max * sizeof *queue);
    if (p == MAP_FAILED || !slots || !queue)
        return false;
    for (size_t i = 0; i < start; i++)
        queue[i] = (uint32_t)i;
    q_count = start;
    gp_slots = start;
    gp_max = max;
    gp_keep_pages = start * PAGE <= KEEP_PAGES_MAX;
    gp_lo = (uintptr_t)p;
    gp_hi = (uintptr_t)p + bytes;
    __atomic_store_n(&gp_base, (uint8_t *)p, __ATOMIC_RELEASE);
    separate_data_pages(0, start);
    return true;
}

uintptr_t gp_lo, gp_hi;

/* True while a slot is free to take now (q_count above the quarter of the
 * pool that waits in quarantine). Called with gp_lock held. */
static bool slot_free_unlocked(void)
{
    return q_count > gp_slots / 4;
}

/* Takes a reusable slot, or returns -1. Called with gp_lock held. */
static long take_slot_unlocked(void)
{
    while (slot_free_unlocked()) {
        size_t i = queue[(q_head + gp_slots - q_count) % gp_slots];
        q_count--;
        if (slots[i].state != SLOT_RETIRED)
            return (long)i;
    }
    return -1;
}

static void give_back_unlocked(size_t i)
{
    queue[q_head] = (uint32_t)i;
    q_head = (q_head + 1) % gp_slots;
    q_count++;
}

static void reverse(uint32_t *a, size_t lo, size_t hi)
{
    while (lo + 1 < hi) {
        uint32_t t = a[lo];
        a[lo++] = a[--hi];
        a[hi] = t;
    }
}

/* Lays the queue out again for `to` slots, `from` of them in use so far:
 * the new slots first (taken first: they were never used), then the
 * queue's entries in their order, so that a freed slot waits as long in
 * quarantine as before. In place, without allocating: the queue's array is
 * the reserve's size. Called with gp_lock held. */
static void add_slots_unlocked(size_t from, size_t to)
{
    size_t added = to - from, oldest = (q_head + from - q_count) % from;
    /* Oldest entry to the front: rotate [0, from) left by oldest. */
    reverse(queue, 0, oldest);
    reverse(queue, oldest, from);
    reverse(queue, 0, from);
    memmove(queue + added, queue, q_count * sizeof *queue);
    for (size_t k = 0; k < added; k++)
        queue[k] = (uint32_t)(from + k);
    q_count += added;
    q_head = q_count % to;
    __atomic_store_n(&gp_slots, to, __ATOMIC_RELAXED);
}

/* Doubles the pool, up to its reserve, when no slot is free: live blocks
 * hold three quarters of it. The samples of a program's long-lived objects
 * (its start-up, its imports) would otherwise hold the pool for good, and
 * every later sample would be refused. The new pages get their own
 * mappings first, outside gp_lock (a system call per page). True if a slot
 * is free now. */
static bool grow(void)
{
    if (__atomic_load_n(&gp_slots, __ATOMIC_RELAXED) >= gp_max || !spin_trylock(&grow_lock))
        return false;
    spin_lock(&gp_lock);
    bool free_now = slot_free_unlocked(); /* another thread grew it meanwhile */
    size_t from = gp_slots;
    spin_unlock(&gp_lock);
    size_t to = from * 2 < gp_max ? from * 2 : gp_max;
    if (!free_now && to > from) {
        bool keep = gp_keep_pages && to * PAGE <= KEEP_PAGES_MAX;
        separate_data_pages(from, to);
        spin_lock(&gp_lock);
        gp_keep_pages = keep;
        add_slots_unlocked(from, to);
        free_now = slot_free_unlocked();
        spin_unlock(&gp_lock);
    }
    spin_unlock(&grow_lock);
    return free_now;
}

bool gp_has_room(void)
{
    size_t n = __atomic_load_n(&gp_slots, __ATOMIC_RELAXED);
    uint64_t until = __atomic_load_n(&no_room_until_ns, __ATOMIC_RELAXED);
    if (until && os_mono_ns() < until)
        return false;
    return gp_base && (n < gp_max || __atomic_load_n(&q_count, __ATOMIC_RELAXED) > n / 4);
}

size_t gp_size(void)
{
    return __atomic_load_n(&gp_slots, __ATOMIC_RELAXED);
}

void *gp_alloc(size_t size, bool zero, uint8_t api)
{
    if (!gp_base || size > PAGE)
        return NULL;
    spin_lock(&gp_lock);
    long i = take_slot_unlocked();
    spin_unlock(&gp_lock);
    if (i < 0 && grow()) {
        spin_lock(&gp_lock);
        i = take_slot_unlocked();
        spin_unlock(&gp_lock);
    }
    if (i < 0)
        return NULL;
    uint8_t *page = data_page((size_t)i);
    if (mprotect(page, PAGE, PROT_READ | PROT_WRITE) != 0) {
        /* A second of rest for callers that ask first (the sampler). */
        __atomic_store_n(&no_room_until_ns, os_mono_ns() + 1000000000ull, __ATOMIC_RELAXED);
        if (!told_map_limit) {
            told_map_limit = true;
            log_msg("the guarded pool hit vm.max_map_count; blocks go unguarded for now "
                    "(raise it with 'sysctl -w vm.max_map_count=262144')");
        }
        spin_lock(&gp_lock);
        give_back_unlocked((size_t)i);
        spin_unlock(&gp_lock);
        return NULL;
    }
    /* At least 16 bytes, so that even an empty block starts inside its page. */
    size_t rounded = size ? (size + 15) & ~(size_t)15 : 16;
    /* Alternate sides: right-aligned blocks catch overflows at the access,
     * left-aligned ones underflows. */
    bool right = (i & 1) == 0;
    uint8_t *user = right ? page + PAGE - rounded : page;
    memset(page, PAT_SLACK, PAGE);
    memset(user, zero ? 0 : PAT_NEW, size);
    spin_lock(&gp_lock);
    slots[i] = (struct slot){(uintptr_t)user, size, api, SLOT_LIVE, right};
    spin_unlock(&gp_lock);
    return user;
}

/* The first byte of the page outside [user, user+size) that lost its
 * pattern, as an offset from user, or INT64_MIN. */
/* The first byte of [from, to) that is not the slack pattern, or NULL. */
static const uint8_t *changed(const uint8_t *from, const uint8_t *to)
{
    const uint64_t word = 0x0101010101010101ull * PAT_SLACK;
    while (from < to && ((uintptr_t)from & 7))
        if (*from++ != PAT_SLACK)
            return from - 1;
    for (; from + 8 <= to; from += 8) {
        uint64_t w;
        memcpy(&w, from, 8);
        if (w != word)
            break;
    }
    for (; from < to; from++)
        if (*from != PAT_SLACK)
            return from;
    return NULL;
}

static int64_t damaged_slack(const uint8_t *page, const uint8_t *user, size_t size)
{
    const uint8_t *b = changed(page, user);
    if (!b)
        b = changed(user + size, page + PAGE);
    return b ? (int64_t)(b - user) : INT64_MIN;
}

int64_t gp_damaged(const void *p, size_t size)
{
    size_t i = (size_t)((const uint8_t *)p - gp_base) / (2 * PAGE);
    return damaged_slack(data_page(i), p, size);
}

int64_t gp_free(void *p, size_t size)
{
    size_t i = (size_t)((uint8_t *)p - gp_base) / (2 * PAGE);
    uint8_t *page = data_page(i);
    int64_t bad = damaged_slack(page, p, size);
    /* Inaccessible from now on; in a big pool its memory is given back
     * too, so that a freed slot costs an address range, not a page. */
    mprotect(page, PAGE, PROT_NONE);
    if (!__atomic_load_n(&gp_keep_pages, __ATOMIC_RELAXED))
        madvise(page, PAGE, MADV_DONTNEED);
    spin_lock(&gp_lock);
    if (slots[i].state == SLOT_LIVE) {
        slots[i].state = SLOT_FREED;
        give_back_unlocked(i);
    }
    spin_unlock(&gp_lock);
    return bad;
}

/* The slot whose data page holds addr, or -1 when addr is on a guard page. */
static long slot_of_data(uintptr_t addr)
{
    size_t page = (addr - (uintptr_t)gp_base) / PAGE;
    return page % 2 == 1 ? (long)(page - 1) / 2 : -1;
}

static void fill(struct gp_fault *out, const struct slot *s, uintptr_t addr, bool freed)
{
    out->block = (void *)s->user;
    out->api = s->api;
    out->size = s->size;
    out->offset = (int64_t)(addr - s->user);
    out->freed = freed;
}

bool gp_explain(uintptr_t addr, struct gp_fault *out)
{
    if (!gp_contains((void *)addr))
        return false;
    long i = slot_of_data(addr);
    if (i >= 0) {
        /* A fault on a data page: its block was freed (live pages are open). */
        fill(out, &slots[i], addr, slots[i].state != SLOT_LIVE);
        return slots[i].state != SLOT_UNUSED;
    }
    /* A guard page: past the end of the block before it, or before the start
     * of the block after it; the nearer one that is placed against it. */
    size_t guard = (addr - (uintptr_t)gp_base) / PAGE; /* even */
    long before = guard >= 2 ? (long)(guard - 2) / 2 : -1;
    long after = guard / 2 < gp_max ? (long)guard / 2 : -1;
    bool before_ok = before >= 0 && slots[before].state != SLOT_UNUSED && slots[before].right;
    bool after_ok = after >= 0 && slots[after].state != SLOT_UNUSED && !slots[after].right;
    uintptr_t page_start = (uintptr_t)gp_base + guard * PAGE;
    /* Both neighbours may touch this guard page: the access belongs to the
     * nearer one (past the end of the block before, or before the start of
     * the block after). */
    if (before_ok && after_ok) {
        if (addr - page_start < page_start + PAGE - addr)
            after_ok = false;
        else
            before_ok = false;
    }
    if (before_ok) {
        fill(out, &slots[before], addr, slots[before].state != SLOT_LIVE);
        return true;
    }
    if (after_ok) {
        fill(out, &slots[after], addr, slots[after].state != SLOT_LIVE);
        return true;
    }
    return false;
}

void gp_open(uintptr_t addr)
{
    uintptr_t page = addr & ~(uintptr_t)(PAGE - 1);
    mprotect((void *)page, PAGE, PROT_READ | PROT_WRITE);
    long i = slot_of_data(addr);
    if (i >= 0) {
        spin_lock(&gp_lock);
        slots[i].state = SLOT_RETIRED; /* never reused: its page stays open */
        spin_unlock(&gp_lock);
    }
}
