/* Sampling without hooks between samples (--sample N on an interpreter
 * whose object and mem domains are plain pymalloc). Those two domains keep
 * their own allocators, so that the interpreter runs pymalloc's inlined
 * fast path (Debian's PGO build guards it with a comparison against
 * _PyObject_Malloc, which any installed hook fails). A thread of the
 * agent's own wakes up about every 4 N allocations' worth of time and arms
 * the domains: it swaps the malloc and calloc words of their allocator
 * structs to the agent's armed hooks. The first calls that meet them count
 * a short window (the allocation rate, for the next wait) and the last of
 * the window takes a sample; after 4 samples, a few dozen calls apart, the
 * original words go back. Frees and
 * reallocs of sampled blocks come back to the agent through the raw
 * domain, where pymalloc hands blocks outside its arenas (hooks_py.c).
 * Prefix: smp_. */
#ifndef LL_SAMPLER_H
#define LL_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>

/* Below this rate the samples cost far more than a per-call hook: sampling
 * keeps its per-call wrappers (and every one of their checks). */
#define SMP_MIN_RATE 100

/* One word of an allocator struct in the interpreter's data, and the two
 * values it takes: the original function and the armed hook. */
struct smp_word {
    void **at;
    void *orig, *armed;
};

/* The address of the one copy of the 5-word allocator struct `pattern`
 * (ctx, malloc, calloc, realloc, free) in the writable data of the module
 * that holds code address `inside`; NULL if there is not exactly one. */
void **smp_find_struct(const void *inside, void *const pattern[5]);

/* Starts the arming thread over n words (at most 4), all holding their
 * original value now. rate: about one sample in that many allocations.
 * room: true while a sample would find a place (the guarded pool has a
 * slot); the thread does not arm while it is false.
 * False if the thread could not start (nothing is armed then). Around a
 * fork the thread ends and starts again in the parent; a child arms no
 * more (it is not traced) and runs plain pymalloc. */
bool smp_start(const struct smp_word *w, size_t n, unsigned rate, bool (*room)(void));

/* Called by an armed hook, outside the agent: true if this call is a
 * sample (after the last of an arming, all words are back to their
 * originals); every other call goes on to the original allocator.
 * Lock-free and signal-safe. */
bool smp_claim(void);

#endif
