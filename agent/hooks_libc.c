/* The libc allocation family and dlopen, interposed by the preload. These
 * are the only symbols the agent exports. Allocations go to glibc's
 * __libc_* entry points, which never call back into us. */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/journal.h"
#include "agent.h"
#include "boundary.h"
#include "capture.h"
#include "guard.h"
#include "jwriter.h"
#include "modules.h"
#include "guardpool.h"
#include "heap.h"

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* Set once by hl_activate, in the traced process only; every other process
 * that loads the agent passes all calls straight to glibc. */
static volatile bool hl_on;

/* Enters the agent if this call should go through the heap layer. */
static inline bool enter(void)
{
    if (!hl_on)
        return false;
    agent_poll();
    return guard_enter();
}

EXPORT void *malloc(size_t size)
{
    if (!enter())
        return __libc_malloc(size);
    CAP_HOOK_BEGIN();
    void *p = heap_sample_skip() ? __libc_malloc(size) : heap_malloc(JN_API_MALLOC, size);
    cap_hook_end();
    guard_leave();
    return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (!enter())
        return __libc_calloc(n, size);
    CAP_HOOK_BEGIN();
    void *p = heap_sample_skip() ? __libc_calloc(n, size) : heap_calloc(JN_API_CALLOC, n, size);
    cap_hook_end();
    guard_leave();
    return p;
}

EXPORT void free(void *p)
{
    if (!p)
        return;
    if (!enter()) {
        __libc_free(p);
        return;
    }
    CAP_HOOK_BEGIN();
    if (heap_sampling_only && !gp_contains(p))
        __libc_free(p);
    else
        heap_free(JN_API_FREE, p);
    cap_hook_end();
    guard_leave();
}

static void *realloc_as(uint8_t api, void *old, size_t size)
{
    if (!enter())
        return __libc_realloc(old, size);
    CAP_HOOK_BEGIN();
    void *p = heap_sampling_only && !gp_contains(old) && heap_sample_skip() ? __libc_realloc(old, size)
                                                                            : heap_realloc(api, old, size);
    cap_hook_end();
    guard_leave();
    return p;
}

EXPORT void *realloc(void *old, size_t size)
{
    return realloc_as(JN_API_REALLOC, old, size);
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_as(JN_API_REALLOCARRAY, old, total);
}

/* The aligned family is recorded without redzones: its alignment promise
 * would not survive a left redzone of 16 bytes. */
static void *aligned_as(uint8_t api, size_t align, size_t size, void *(*get)(size_t, size_t))
{
    void *p = get(align, size);
    if (!p || !enter())
        return p;
    CAP_HOOK_BEGIN();
    heap_adopt(api, p, size);
    cap_hook_end();
    guard_leave();
    return p;
}

static void *libc_valloc2(size_t align, size_t size)
{
    (void)align;
    return __libc_valloc(size);
}

static void *libc_pvalloc2(size_t align, size_t size)
{
    (void)align;
    return __libc_pvalloc(size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = aligned_as(JN_API_POSIX_MEMALIGN, align, size, __libc_memalign);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return aligned_as(JN_API_ALIGNED_ALLOC, align, size, __libc_memalign);
}

EXPORT void *memalign(size_t align, size_t size)
{
    return aligned_as(JN_API_MEMALIGN, align, size, __libc_memalign);
}

EXPORT void *valloc(size_t size)
{
    return aligned_as(JN_API_VALLOC, 0, size, libc_valloc2);
}

EXPORT void *pvalloc(size_t size)
{
    return aligned_as(JN_API_PVALLOC, 0, size, libc_pvalloc2);
}

/* protected by: set once by hl_init, before hl_on */
static size_t (*real_usable_size)(void *);

EXPORT size_t malloc_usable_size(void *p)
{
    if (p && enter()) {
        size_t n = heap_usable_size(p);
        guard_leave();
        if (n != (size_t)-1)
            return n;
    }
    return real_usable_size ? real_usable_size(p) : 0;
}

/* libc as a heap family. */
static void *lc_malloc(void *ctx, size_t n)
{
    (void)ctx;
    return __libc_malloc(n);
}

static void *lc_calloc(void *ctx, size_t n, size_t size)
{
    (void)ctx;
    return __libc_calloc(n, size);
}

static void *lc_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return __libc_realloc(p, n);
}

static void lc_free(void *ctx, void *p)
{
    (void)ctx;
    __libc_free(p);
}

void hl_activate(void)
{
    struct heap_family f = {NULL, lc_malloc, lc_calloc, lc_realloc, lc_free};
    heap_set_family(JN_DOMAIN_LIBC, &f);
    real_usable_size = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    hl_on = true;
}

/* protected by: set once by agent start, before threads exist */
static void *(*real_dlopen)(const char *, int);

void hl_init(void)
{
    real_dlopen = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
}

EXPORT void *dlopen(const char *file, int mode)
{
    if (!real_dlopen)
        hl_init();
    void *h = real_dlopen(file, mode);
    if (h && jw_active() && guard_enter()) {
        mod_scan();
        bnd_patch_new();
        guard_leave();
    }
    return h;
}
