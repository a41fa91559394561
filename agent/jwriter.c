#include "jwriter.h"

#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/os.h"
#include "guard.h"
#include "log.h"
#include "spin.h"

#define BLOCK_SIZE (16u << 10)
/* Segments grow from 1 MiB to 32 MiB: a short run reserves little disk,
 * a long one maps few segments. */
#define SEGMENT_MIN (1u << 20)
#define SEGMENT_MAX (32u << 20)
#define BLOCK_HDR sizeof(struct jn_block_header)

/* Set once by jw_open; cleared by jw_disown or on a write failure. */
static volatile bool jw_on;
static int jw_fd = -1;
static struct jn_file_header *jw_header;

/* protected by jw_lock: the segment blocks are carved from. */
static int jw_lock;
static uint8_t *seg_base;
static uint64_t seg_file_off; /* file offset of seg_base */
static uint32_t seg_used, seg_size;

/* The segments mapped so far, so that one whose blocks are all finished
 * can be unmapped: a long run would otherwise keep its whole journal in
 * the target's address space (a program that caps it with RLIMIT_AS runs
 * out) and a mapping per segment (vm.max_map_count). Segments past the
 * last tracked one stay mapped. */
#define SEGMENTS_TRACKED 8192
struct segment {
    uint8_t *base;
    uint32_t size;
    uint32_t open;  /* blocks handed out and not yet left; atomic */
    bool unmapped;  /* protected by jw_lock */
};
/* protected by jw_lock, except segments[].open; seg_index is the current
 * segment's index + 1, or 0 when it is not tracked. */
static struct segment segments[SEGMENTS_TRACKED];
static uint32_t seg_count, seg_index;

/* protected by: atomic increments. The seq counter lives in the journal's
 * header page (next_seq), where a reader following the journal sees it;
 * here until the journal is open, and again in a disowned child. */
static uint64_t jw_seq_local = 1;
static uint64_t *jw_seq = &jw_seq_local;

struct jw_thread {
    struct jn_block_header *block;
    uint8_t *pos, *limit;
    struct jn_delta delta;
    bool named;
    unsigned hold;      /* jw_hold depth: commits leave the block busy */
    uint64_t clock;     /* the last reading of the cycle counter (jw_clock) */
    unsigned clock_age; /* events left before the next reading */
    uint32_t segment;   /* the block's segment index + 1, or 0 when untracked */
};
static AGENT_TLS struct jw_thread jw_self;

bool jw_active(void)
{
    return jw_on;
}

/* Reading the cycle counter costs about 10 ns on this project's machines,
 * a tenth of what an event cost in all: a thread reads it every
 * JW_CLOCK_EVERY events, and on opening a block. */
#define JW_CLOCK_EVERY 8

uint64_t jw_clock(void)
{
    struct jw_thread *t = &jw_self;
    if (t->clock_age == 0) {
        t->clock = os_tsc();
        t->clock_age = JW_CLOCK_EVERY;
    }
    t->clock_age--;
    return t->clock;
}

uint64_t jw_next_seq(void)
{
    /* Release: the busy mark of the caller's block (jw_reserve) is stored
     * before, so a reader that sees the counter past this seq sees the mark
     * too, or the commit that cleared it. */
    return __atomic_fetch_add(jw_seq, 1, __ATOMIC_RELEASE);
}

static void fail_unlocked(const char *why)
{
    if (jw_on)
        log_msg("journal: %s; recording stops here (what was recorded is kept)", why);
    jw_on = false;
}

/* Unmaps segment i (an index + 1) once no block of it is open and blocks
 * are carved elsewhere. Called with jw_lock held. */
static void retire_segment_unlocked(uint32_t i)
{
    struct segment *s = &segments[i - 1];
    if (i == seg_index || s->unmapped || __atomic_load_n(&s->open, __ATOMIC_ACQUIRE) != 0)
        return;
    s->unmapped = true;
    munmap(s->base, s->size);
}

/* Counts a block of segment i (an index + 1, 0 = untracked) as left by its
 * thread, unmapping the segment when that was its last open block. */
static void leave_segment(uint32_t i)
{
    if (!i || __atomic_sub_fetch(&segments[i - 1].open, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    spin_lock(&jw_lock);
    retire_segment_unlocked(i);
    spin_unlock(&jw_lock);
}

/* Maps the next segment of the file. Called with jw_lock held. The old
 * segment stays mapped while other threads still fill blocks in it. */
static bool new_segment_unlocked(void)
{
    uint64_t off = seg_base ? seg_file_off + seg_size : JN_FILE_HEADER_SIZE;
    uint32_t size = !seg_base ? SEGMENT_MIN : seg_size < SEGMENT_MAX ? seg_size * 2 : SEGMENT_MAX;
    /* Reserve the space now: writing to a mapping of a sparse file on a full
     * disk would kill the target with SIGBUS. */
    if (posix_fallocate(jw_fd, (off_t)off, size) != 0) {
        fail_unlocked("cannot extend the journal file (disk full?)");
        return false;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, jw_fd, (off_t)off);
    if (p == MAP_FAILED) {
        fail_unlocked("cannot map the journal file");
        return false;
    }
    seg_base = p;
    seg_file_off = off;
    seg_size = size;
    seg_used = 0;
    uint32_t old = seg_index;
    seg_index = 0;
    if (seg_count < SEGMENTS_TRACKED) {
        segments[seg_count] = (struct segment){.base = p, .size = size};
        seg_index = ++seg_count;
    }
    if (old)
        retire_segment_unlocked(old);
    return true;
}

/* Returns a fresh block, or NULL, the seq its events start from and its
 * segment (an index + 1, 0 = untracked), counted open. Called with jw_lock
 * held. The seq is read under the lock so that blocks' first
 * seqs never decrease in file order: a reader following the file while the
 * target runs (docs/journal.md) knows that a block it has not seen yet
 * holds no event before the last one it has. */
static struct jn_block_header *carve_block_unlocked(uint64_t *first_seq, uint32_t *segment)
{
    if ((!seg_base || seg_used + BLOCK_SIZE > seg_size) && !new_segment_unlocked())
        return NULL;
    struct jn_block_header *b = (struct jn_block_header *)(seg_base + seg_used);
    seg_used += BLOCK_SIZE;
    *segment = seg_index;
    if (seg_index)
        __atomic_add_fetch(&segments[seg_index - 1].open, 1, __ATOMIC_RELAXED);
    *first_seq = __atomic_load_n(jw_seq, __ATOMIC_RELAXED);
    /* Release: a reader that sees the counter past a seq taken in this
     * block sees the block's place too (docs/journal.md). */
    __atomic_store_n(&jw_header->blocks_end, seg_file_off + seg_used, __ATOMIC_RELEASE);
    return b;
}

static void start_block(struct jw_thread *t, struct jn_block_header *b, uint64_t first_seq)
{
    b->tid = (uint32_t)os_gettid();
    b->first_seq = first_seq;
    b->tsc_base = os_tsc();
    b->mono_ns = os_mono_ns();
    /* The reading just taken counts as an event's: the 8th event from
     * here reads again, as it does after every reading. */
    t->clock = b->tsc_base;
    t->clock_age = JW_CLOCK_EVERY - 1;
    b->used = 0;
    b->busy = t->hold ? 1 : 0;
    /* The magic goes last: a reader never sees a half-made header. */
    __atomic_store_n(&b->magic, JN_BLOCK_MAGIC, __ATOMIC_RELEASE);
    t->block = b;
    t->pos = (uint8_t *)b + BLOCK_HDR;
    t->limit = (uint8_t *)b + BLOCK_SIZE;
    jn_delta_reset(&t->delta, b);
}

/* Names the thread in its block: once in its first block, and again when a
 * finding is about to name it (it may have been renamed since). */
static void write_thread_record(struct jw_thread *t)
{
    char path[64], name[32];
    uint32_t tid = t->block->tid;
    log_format(path, sizeof path, "/proc/self/task/%u/comm", tid);
    ssize_t n = os_read_small_file(path, name, sizeof name);
    if (n > 0 && name[n - 1] == '\n')
        name[--n] = 0;
    uint8_t *p = jn_put_thread_head(t->pos, tid, tid == (uint32_t)getpid());
    p = jn_put_str(p, name, n > 0 ? (uint32_t)n : 0);
    t->named = true;
    jw_commit(p);
}

static uint8_t *reserve(size_t need, struct jn_delta **delta, bool may_block)
{
    struct jw_thread *t = &jw_self;
    if (!jw_on)
        return NULL;
    if (!t->block || t->pos + need > t->limit) {
        if (may_block)
            spin_lock(&jw_lock);
        else if (!spin_trylock(&jw_lock))
            return NULL;
        uint64_t first_seq;
        uint32_t segment;
        struct jn_block_header *b = carve_block_unlocked(&first_seq, &segment);
        spin_unlock(&jw_lock);
        if (!b)
            return NULL;
        struct jn_block_header *done = t->block;
        uint32_t done_segment = t->segment;
        start_block(t, b, first_seq);
        /* A block taken without blocking (the crash handler, which may have
         * interrupted this very switch in its thread) is never counted as
         * left, nor is the block it replaces: a switch interrupted between
         * reading the old segment and storing the new one would otherwise
         * leave one block twice, and unmap a segment another thread still
         * fills. Their segments stay mapped. */
        t->segment = may_block ? segment : 0;
        /* The finished block is in the page cache for the reader; dropping
         * it from this process keeps the journal out of the target's
         * resident memory. After start_block: a reader waits on a block
         * handed out whose header is not written yet. */
        if (done && may_block) {
            madvise(done, BLOCK_SIZE, MADV_DONTNEED);
            leave_segment(done_segment);
        }
        if (!t->named)
            write_thread_record(t);
    }
    *delta = &t->delta;
    /* The caller may take a seq now: until its commit the block is busy. */
    __atomic_store_n(&t->block->busy, 1, __ATOMIC_RELAXED);
    return t->pos;
}

uint8_t *jw_reserve(size_t need, struct jn_delta **delta)
{
    return reserve(need, delta, true);
}

uint8_t *jw_reserve_nolock(size_t need, struct jn_delta **delta)
{
    return reserve(need, delta, false);
}

void jw_name_thread(bool may_block)
{
    struct jn_delta *d;
    if (reserve(128, &d, may_block))
        write_thread_record(&jw_self);
}

void jw_commit(uint8_t *end)
{
    struct jw_thread *t = &jw_self;
    t->pos = end;
    __atomic_store_n(&t->block->used, (uint32_t)(end - (uint8_t *)t->block - BLOCK_HDR),
                     __ATOMIC_RELEASE);
    if (!t->hold)
        __atomic_store_n(&t->block->busy, 0, __ATOMIC_RELEASE);
}

void jw_hold(void)
{
    struct jw_thread *t = &jw_self;
    if (t->hold++ == 0 && t->block)
        __atomic_store_n(&t->block->busy, 1, __ATOMIC_RELAXED);
    /* Stored before any seq the caller takes next: that fetch_add is a release. */
}

void jw_release(void)
{
    struct jw_thread *t = &jw_self;
    if (t->hold && --t->hold == 0 && t->block)
        __atomic_store_n(&t->block->busy, 0, __ATOMIC_RELEASE);
}

void jw_thread_end(void)
{
    struct jw_thread *t = &jw_self;
    if (!t->block)
        return;
    /* Taken first: a crash handler's block taken after this point is never
     * counted as left (see reserve). */
    uint32_t segment = t->segment;
    t->segment = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    /* After its last commit: a reader seeing the mark sees the last `used`.
     * A record after this (a later destructor allocating) begins a new
     * block. */
    __atomic_store_n(&t->block->busy, JN_BLOCK_CLOSED, __ATOMIC_RELEASE);
    /* As reserve drops a finished block: an ended thread's last block would
     * otherwise stay resident in the target for good. */
    madvise(t->block, BLOCK_SIZE, MADV_DONTNEED);
    t->block = NULL;
    leave_segment(segment);
}

bool jw_write_record(const uint8_t *rec, size_t len)
{
    struct jn_delta *d;
    uint8_t *p = jw_reserve(len, &d);
    if (!p)
        return false;
    memcpy(p, rec, len);
    jw_commit(p + len);
    return true;
}

static void write_header(struct jn_file_header *h)
{
    h->version = JN_VERSION;
    h->header_size = JN_FILE_HEADER_SIZE;
    h->block_size = BLOCK_SIZE;
    h->pid = (uint32_t)getpid();
    h->realtime_ns = os_realtime_ns();
    h->tsc_start = os_tsc();
    h->mono_start_ns = os_mono_ns();
    h->next_seq = __atomic_load_n(jw_seq, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, JN_MAGIC, JN_MAGIC_LEN);
}

enum jw_claim jw_open(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        log_msg("cannot open the journal %s", path);
        return JW_FAILED;
    }
    void *h = mmap(NULL, JN_FILE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        close(fd);
        log_msg("cannot map the journal %s", path);
        return JW_FAILED;
    }
    struct jn_file_header *hdr = h;
    uint32_t expected = 0;
    if (!__atomic_compare_exchange_n(&hdr->claimed_pid, &expected, (uint32_t)getpid(), false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        munmap(h, JN_FILE_HEADER_SIZE);
        close(fd);
        return JW_TAKEN;
    }
    jw_fd = fd;
    jw_header = hdr;
    write_header(hdr);
    jw_seq = &hdr->next_seq;
    /* Another thread that sees jw_on sees the counter's new place. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    jw_on = true;
    return JW_CLAIMED;
}

void jw_disown(void)
{
    jw_on = false;
    /* In a forked child this thread's block is still its parent's (the
     * mapping is shared): at this thread's end, jw_thread_end would mark it
     * closed while the parent goes on filling it. */
    jw_self.block = NULL;
    jw_self.segment = 0;
    /* A forked child must not move its parent's counter. */
    __atomic_store_n(&jw_seq_local, __atomic_load_n(jw_seq, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    jw_seq = &jw_seq_local;
}
