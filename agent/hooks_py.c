#include "hooks_py.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "../core/journal.h"
#include "boot.h"
#include "capture.h"
#include "guard.h"
#include "guardpool.h"
#include "heap.h"
#include "sampler.h"

/* PyMemAllocatorEx and PyMemAllocatorDomain: part of the stable C API since
 * 3.4, so they are spelled here rather than taken from a version's headers. */
struct py_allocator {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void (*free)(void *ctx, void *ptr);
};
enum { PY_DOMAIN_RAW, PY_DOMAIN_MEM, PY_DOMAIN_OBJ, PY_DOMAINS };

struct domain {
    struct py_allocator orig;  /* what we wrap; set before ours is installed */
    uint8_t api_malloc, api_calloc, api_realloc, api_free;
};

static struct domain domains[PY_DOMAINS] = {
    [PY_DOMAIN_RAW] = {.api_malloc = JN_API_RAW_MALLOC, .api_calloc = JN_API_RAW_CALLOC,
                       .api_realloc = JN_API_RAW_REALLOC, .api_free = JN_API_RAW_FREE},
    [PY_DOMAIN_MEM] = {.api_malloc = JN_API_MEM_MALLOC, .api_calloc = JN_API_MEM_CALLOC,
                       .api_realloc = JN_API_MEM_REALLOC, .api_free = JN_API_MEM_FREE},
    [PY_DOMAIN_OBJ] = {.api_malloc = JN_API_OBJ_MALLOC, .api_calloc = JN_API_OBJ_CALLOC,
                       .api_realloc = JN_API_OBJ_REALLOC, .api_free = JN_API_OBJ_FREE},
};

static void (*get_allocator)(int domain, struct py_allocator *a);

/* protected by: per thread. Kept complemented: the leak scan reads every
 * thread's TLS as a root, and the plain address would keep the block it
 * names reachable. */
static AGENT_TLS uintptr_t last_object_block_inverted;

/* Remembers p when it is an object-domain block, for hp_last_object_block. */
static inline void *note_object_block(const struct domain *d, void *p)
{
    if (d == &domains[PY_DOMAIN_OBJ])
        last_object_block_inverted = ~(uintptr_t)p;
    return p;
}

uintptr_t hp_last_object_block(void)
{
    return last_object_block_inverted ? ~last_object_block_inverted : 0;
}
static void (*set_allocator)(int domain, struct py_allocator *a);

/* Each wrapper hands the call to the heap layer unless this thread is
 * already inside the agent: then the call comes from an allocator
 * underneath (pymalloc taking a big block from PyMem_RawMalloc), and goes
 * straight to the wrapped allocator. A block is thus recorded once, under
 * the interface the program called. */
static void *hp_malloc(void *ctx, size_t size)
{
    struct domain *d = ctx;
    boot_poll();
    if (!guard_enter())
        return d->orig.malloc(d->orig.ctx, size);
    CAP_HOOK_BEGIN();
    /* Not sampled: straight to the allocator, still inside the guard, so
     * that what it allocates underneath is not sampled either. */
    void *p = heap_sample_skip() ? d->orig.malloc(d->orig.ctx, size) : heap_malloc(d->api_malloc, size);
    cap_hook_end();
    guard_leave();
    return note_object_block(d, p);
}

static void *hp_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct domain *d = ctx;
    if (!guard_enter())
        return d->orig.calloc(d->orig.ctx, nelem, elsize);
    CAP_HOOK_BEGIN();
    void *p = heap_sample_skip() ? d->orig.calloc(d->orig.ctx, nelem, elsize)
                                 : heap_calloc(d->api_calloc, nelem, elsize);
    cap_hook_end();
    guard_leave();
    return note_object_block(d, p);
}

static void *hp_realloc(void *ctx, void *old, size_t size)
{
    struct domain *d = ctx;
    if (!guard_enter())
        return d->orig.realloc(d->orig.ctx, old, size);
    CAP_HOOK_BEGIN();
    void *p = heap_sampling_only && !gp_contains(old) && heap_sample_skip()
                  ? d->orig.realloc(d->orig.ctx, old, size)
                  : heap_realloc(d->api_realloc, old, size);
    cap_hook_end();
    guard_leave();
    return note_object_block(d, p);
}

static void hp_free(void *ctx, void *p)
{
    struct domain *d = ctx;
    if (!p)
        return;
    if (!guard_enter()) {
        d->orig.free(d->orig.ctx, p);
        return;
    }
    CAP_HOOK_BEGIN();
    if (heap_sampling_only && !gp_contains(p))
        d->orig.free(d->orig.ctx, p);
    else
        heap_free(d->api_free, p);
    cap_hook_end();
    guard_leave();
}

/* protected by: set once by hp_install. Sampling without hooks between
 * samples (sampler.h): the object and mem domains keep pymalloc, and are
 * hooked only while armed. */
static bool hookless;

/* The domain a pooled block was allocated from, for its free or realloc
 * arriving at domain d. Without hooks between samples, pymalloc hands the
 * free or realloc of a block outside its arenas (address_in_range false)
 * to PyMem_RawFree or PyMem_RawRealloc: the raw hook sees the object and
 * mem domains' pooled blocks, and handles each as the free of the
 * interface it was allocated with (a raw free of such a block, a
 * mismatch, is thus not seen; nor is PyMem_Free against PyObject_Free). */
static struct domain *pool_owner(struct domain *d, const void *p)
{
    struct gp_fault gf;
    /* Inside the agent the owner's free would come straight back here. */
    if (!hookless || guard_depth || d != &domains[PY_DOMAIN_RAW] || !gp_explain((uintptr_t)p, &gf))
        return d;
    switch (jn_api_domain(gf.api)) {
    case JN_DOMAIN_OBJ:
        return &domains[PY_DOMAIN_OBJ];
    case JN_DOMAIN_MEM:
        return &domains[PY_DOMAIN_MEM];
    default:
        return d;
    }
}

/* The sample an armed hook takes: a pooled block, recorded under the
 * interface the program called. */
static void *sample_block(struct domain *d, size_t nelem, size_t elsize, bool zero)
{
    /* A sample maps memory, changes protections, unwinds: none of it is
     * the program's, nor is the errno it leaves. */
    int saved = errno;
    boot_poll();
    guard_enter();
    heap_sample_force();
    void *p = zero ? heap_calloc(d->api_calloc, nelem, elsize) : heap_malloc(d->api_malloc, elsize);
    guard_leave();
    if (p)
        errno = saved;
    return note_object_block(d, p);
}

/* The armed hooks. They ignore ctx: the interpreter may read the ctx and
 * function words of its struct apart, and ctx is left as it was (pymalloc's
 * NULL). Any call reaching them, armed or not (a word read just before the
 * swap back), is served: the one that claims the sample takes it, the
 * others go on to pymalloc. */
static void *armed_malloc(struct domain *d, size_t size)
{
    if (guard_depth || size > HEAP_POOL_MAX || !smp_claim())
        return d->orig.malloc(d->orig.ctx, size);
    return sample_block(d, 1, size, false);
}

static void *armed_calloc(struct domain *d, size_t nelem, size_t elsize)
{
    size_t size;
    if (guard_depth || __builtin_mul_overflow(nelem, elsize, &size) || size > HEAP_POOL_MAX || !smp_claim())
        return d->orig.calloc(d->orig.ctx, nelem, elsize);
    return sample_block(d, nelem, elsize, true);
}

static void *obj_armed_malloc(void *ctx, size_t size)
{
    return armed_malloc(&domains[PY_DOMAIN_OBJ], size);
}

static void *obj_armed_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return armed_calloc(&domains[PY_DOMAIN_OBJ], nelem, elsize);
}

static void *mem_armed_malloc(void *ctx, size_t size)
{
    return armed_malloc(&domains[PY_DOMAIN_MEM], size);
}

static void *mem_armed_calloc(void *ctx, size_t nelem, size_t elsize)
{
    return armed_calloc(&domains[PY_DOMAIN_MEM], nelem, elsize);
}

/* Sampling mode's wrappers (--sample N). All but about 1 in N calls pass
 * straight to the wrapped allocator after a thread-local countdown, still
 * marked as inside the agent so that what that allocator asks of another
 * domain underneath (pymalloc's big blocks from PyMem_RawMalloc) is never
 * the sampled call: a pooled block is recorded under the interface the
 * program called. The sampled call, and every free or realloc of a pooled
 * block, takes the full path above. */
static void *sp_malloc(void *ctx, size_t size)
{
    struct domain *d = ctx;
    boot_poll();
    if (guard_depth || !heap_sample_pass())
        return hp_malloc(ctx, size);
    guard_depth = 1;
    void *p = d->orig.malloc(d->orig.ctx, size);
    guard_depth = 0;
    return note_object_block(d, p);
}

static void *sp_calloc(void *ctx, size_t nelem, size_t elsize)
{
    struct domain *d = ctx;
    if (guard_depth || !heap_sample_pass())
        return hp_calloc(ctx, nelem, elsize);
    guard_depth = 1;
    void *p = d->orig.calloc(d->orig.ctx, nelem, elsize);
    guard_depth = 0;
    return note_object_block(d, p);
}

static void *sp_realloc(void *ctx, void *old, size_t size)
{
    struct domain *d = ctx;
    if (guard_depth || gp_contains(old) || !heap_sample_pass())
        return hp_realloc(gp_contains(old) ? pool_owner(d, old) : d, old, size);
    guard_depth = 1;
    void *p = d->orig.realloc(d->orig.ctx, old, size);
    guard_depth = 0;
    return note_object_block(d, p);
}

/* Only pooled blocks are known to the agent; every other free is the
 * wrapped allocator's alone. */
static void sp_free(void *ctx, void *p)
{
    struct domain *d = ctx;
    if (!gp_contains(p)) {
        d->orig.free(d->orig.ctx, p);
        return;
    }
    int saved = errno;
    hp_free(pool_owner(d, p), p);
    errno = saved;
}

/* True if the interpreter runs its default allocators: malloc for the raw
 * domain, pymalloc for mem and object, no debug hooks. Only then does
 * every free of a block pymalloc did not hand out reach PyMem_RawFree (the
 * debug hooks read a header in front of it first). Asked before any hook of
 * ours is installed: the answer compares the allocators with the defaults. */
static bool plain_pymalloc(void)
{
    const char *(*name)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "_PyMem_GetCurrentAllocatorName");
    const char *n = name ? name() : NULL;
    return n && !strcmp(n, "pymalloc");
}

/* Finds the malloc and calloc words of the object and mem domains' structs
 * in the interpreter's data: installs the armed hooks (harmless while
 * unarmed), looks for the one struct holding them, puts pymalloc back.
 * Returns how many words were found (4 when all were). */
static size_t find_words(struct smp_word *w)
{
    static const int dom[2] = {PY_DOMAIN_OBJ, PY_DOMAIN_MEM};
    void *const hooks[2][2] = {{(void *)obj_armed_malloc, (void *)obj_armed_calloc},
                               {(void *)mem_armed_malloc, (void *)mem_armed_calloc}};
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        struct py_allocator *o = &domains[dom[i]].orig;
        struct py_allocator marked = *o;
        marked.malloc = (void *(*)(void *, size_t))hooks[i][0];
        marked.calloc = (void *(*)(void *, size_t, size_t))hooks[i][1];
        set_allocator(dom[i], &marked);
        void **at = smp_find_struct((void *)set_allocator, (void *const *)&marked);
        set_allocator(dom[i], o);
        if (!at)
            return n;
        w[n++] = (struct smp_word){&at[1], (void *)o->malloc, hooks[i][0]};
        w[n++] = (struct smp_word){&at[2], (void *)o->calloc, hooks[i][1]};
    }
    return n;
}

/* Sampling without hooks between samples, when the interpreter allows it;
 * the raw domain's wrappers must be installed already (they take the frees
 * of the samples). */
static bool start_hookless(bool plain)
{
    struct smp_word w[4];
    if (!plain || find_words(w) != 4)
        return false;
    hookless = true;
    if (!smp_start(w, 4, heap_sample_rate(), gp_has_room))
        hookless = false;
    return hookless;
}

static void install(int i)
{
    struct py_allocator ours = {&domains[i], hp_malloc, hp_calloc, hp_realloc, hp_free};
    if (heap_sampling_only)
        ours = (struct py_allocator){&domains[i], sp_malloc, sp_calloc, sp_realloc, sp_free};
    set_allocator(i, &ours);
}

bool hp_install(void)
{
    get_allocator = (void (*)(int, struct py_allocator *))dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    set_allocator = (void (*)(int, struct py_allocator *))dlsym(RTLD_DEFAULT, "PyMem_SetAllocator");
    if (!get_allocator || !set_allocator)
        return false;
    static const enum jn_domain heap_domain[PY_DOMAINS] = {JN_DOMAIN_RAW, JN_DOMAIN_MEM, JN_DOMAIN_OBJ};
    for (int i = 0; i < PY_DOMAINS; i++) {
        get_allocator(i, &domains[i].orig);
        struct heap_family f = {domains[i].orig.ctx, domains[i].orig.malloc, domains[i].orig.calloc,
                                domains[i].orig.realloc, domains[i].orig.free};
        heap_set_family(heap_domain[i], &f);
    }
    bool plain = heap_sampling_only && heap_sample_rate() >= SMP_MIN_RATE && plain_pymalloc();
    install(PY_DOMAIN_RAW);
    if (!start_hookless(plain)) {
        install(PY_DOMAIN_MEM);
        install(PY_DOMAIN_OBJ);
    }
    return true;
}

bool hp_still_installed(void)
{
    struct py_allocator a;
    if (!get_allocator)
        return false;
    for (int i = 0; i < PY_DOMAINS; i++) {
        get_allocator(i, &a);
        if (a.malloc != hp_malloc && a.malloc != sp_malloc && !(hookless && i != PY_DOMAIN_RAW))
            return false;
    }
    return true;
}
