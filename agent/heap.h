/* The agent's allocation layer: every hooked allocator call comes through
 * here. It keeps the live-block table, journals events, and — when checking
 * is on — surrounds blocks with redzones, fills new and freed memory with
 * patterns, delays reuse through a quarantine, and reports the heap errors
 * it meets (overflow, underflow, use-after-free, double free, invalid free,
 * allocator mismatch). Prefix: heap_.
 *
 * Callers hold guard_enter: nothing here is reentered. */
#ifndef LL_HEAP_H
#define LL_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/journal.h"
#include "guard.h"

/* An underlying allocator: a CPython domain's previous allocator, or libc. */
struct heap_family {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t size);
    void (*free)(void *ctx, void *ptr);
};

/* The allocator of each domain; set before any hook is installed. */
void heap_set_family(enum jn_domain d, const struct heap_family *f);

struct heap_options {
    bool check;             /* redzones, patterns, quarantine, error detection */
    bool keep_going;        /* go on after an error instead of stopping the target */
    bool invalid_free;      /* every Python-domain block has been seen (hooks installed before any allocation) */
    size_t quarantine_bytes;
    unsigned pool_rate;     /* put about 1 in pool_rate small blocks in the guarded pool (0: none) */
    size_t pool_slots;      /* the most guarded pages at once: the pool starts smaller and grows */
    bool sample_only;       /* track only the pooled sample; everything else passes through */
    /* Object-domain blocks stay the allocator's own blocks, where it put
     * them: tracked and journaled, but not pooled, padded, filled or held in
     * quarantine. The free-threaded build's collector finds objects by
     * walking mimalloc's heaps at a fixed offset in each block, and its
     * lock-free readers touch the counts of objects just freed. */
    bool plain_objects;
    /* Guarded blocks of the object and mem domains come from the raw
     * domain. Where each interpreter has its own object allocator, the
     * quarantine would release a block later, perhaps while another
     * interpreter runs or after its own ended (its arenas gone); raw
     * memory belongs to no interpreter. */
    bool guard_from_raw;
};
void heap_configure(const struct heap_options *o);

/* Sampling mode's fast path, for the hooks: true when this call is not
 * sampled and goes straight to the allocator (no guard, no lookup). */
extern bool heap_sampling_only;
/* This thread's calls left before its next sampled one; 0 or 1 means the
 * next call is sampled (heap_malloc draws a new countdown then). */
extern AGENT_TLS uint32_t heap_sample_countdown;

/* Sampling mode: true, counting the call, when this call is not the
 * sampled one and may go straight to the allocator. */
static inline bool heap_sample_pass(void)
{
    if (heap_sample_countdown > 1) {
        heap_sample_countdown--;
        return true;
    }
    return false;
}

/* Makes this thread's next heap_malloc or heap_calloc the sampled one. */
static inline void heap_sample_force(void)
{
    heap_sample_countdown = 0;
}

/* The N of --sample N (0 when not sampling). */
unsigned heap_sample_rate(void);

/* The largest block the guarded pool takes. */
#define HEAP_POOL_MAX 4096
/* The pool's slots at the start, full checking and sampling. Sampling's
 * pool is small, as GWP-ASan's (a sample comes every few thousand calls),
 * and keeps its freed pages resident (guardpool.c). Both double as the
 * program's long-lived blocks fill them, up to pool_slots. */
#define HEAP_POOL_START 4096
#define HEAP_POOL_START_SAMPLING 512

static inline bool heap_sample_skip(void)
{
    return heap_sampling_only && heap_sample_pass();
}

/* The hooked calls. api names the interface the program called. */
void *heap_malloc(uint8_t api, size_t size);
void *heap_calloc(uint8_t api, size_t nelem, size_t elsize);
void *heap_realloc(uint8_t api, void *p, size_t size);
void heap_free(uint8_t api, void *p);
/* A block from an aligned interface (posix_memalign and friends), already
 * allocated by libc: it is recorded, without redzones (not in sampling
 * mode, which records pooled blocks only). */
void heap_adopt(uint8_t api, void *p, size_t size);
/* The usable size of a block (malloc_usable_size), or (size_t)-1 if unknown. */
size_t heap_usable_size(void *p);

/* A fault on the guarded pool: reports the error it means with the faulting
 * access's stack. Returns true if the access may be retried (keep_going:
 * the page was opened); false if the fault is not the pool's. Does not
 * return when the target is stopped. Called from the SIGSEGV handler. */
bool heap_pool_fault(uintptr_t addr, bool write);

/* True if block (a block start) was freed and waits in quarantine: memory
 * that a pointer still in use should not point to. *free_api names the free. */
bool heap_recently_freed(uintptr_t block, uint8_t *free_api);
/* In a child after fork, which records nothing: from here a freed block is
 * released at once instead of through the quarantine, and no block goes to
 * the guarded pool. Their state may have been left half changed by a
 * thread of the parent that held their lock at the fork (agent/spin.h). */
void heap_after_fork_in_child(void);

/* Ends the target after an error was journaled, as ASan does: a note says
 * why, the crash handlers step aside, the status is 1. Returns only under
 * keep_going. */
void heap_stop(void);

/* Verifies every block still in quarantine and every live block's redzones,
 * and notes how far the guarded pool grew; called at exit. */
void heap_verify_all(void);

#endif
