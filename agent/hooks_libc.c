/* The libc allocation family and dlopen, interposed by the preload. These
 * are the only symbols the agent exports. Allocations go to glibc's
 * __libc_* entry points, which never call back into us. */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/journal.h"
#include "agent.h"
#include "guard.h"
#include "jwriter.h"
#include "modules.h"
#include "record.h"

#define EXPORT __attribute__((visibility("default")))

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* Enters the agent if this call should be recorded. The agent is entered
 * before the real call, so that glibc's own nested calls (realloc falling
 * back to malloc) are not recorded twice. */
static inline bool should_record(void)
{
    if (!jw_active())
        return false;
    agent_poll();
    return guard_enter();
}

EXPORT void *malloc(size_t size)
{
    if (!should_record())
        return __libc_malloc(size);
    void *p = __libc_malloc(size);
    if (p)
        rec_alloc(JN_API_MALLOC, p, size);
    guard_leave();
    return p;
}

EXPORT void *calloc(size_t n, size_t size)
{
    if (!should_record())
        return __libc_calloc(n, size);
    void *p = __libc_calloc(n, size);
    if (p)
        rec_alloc(JN_API_CALLOC, p, n * size);
    guard_leave();
    return p;
}

EXPORT void free(void *p)
{
    if (!p || !should_record()) {
        __libc_free(p);
        return;
    }
    rec_free(JN_API_FREE, p);
    __libc_free(p);
    guard_leave();
}

static void *realloc_as(uint8_t api, void *old, size_t size)
{
    if (!should_record())
        return __libc_realloc(old, size);
    void *p = __libc_realloc(old, size);
    /* realloc(p, 0) frees p and returns NULL; a failed realloc changes nothing. */
    if (p && old)
        rec_realloc(api, old, p, size);
    else if (p)
        rec_alloc(api, p, size);
    else if (old && size == 0)
        rec_realloc(api, old, NULL, 0);
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

/* The aligned family: one shape, one recording. */
static void *aligned_as(uint8_t api, size_t align, size_t size, void *(*get)(size_t, size_t))
{
    if (!should_record())
        return get(align, size);
    void *p = get(align, size);
    if (p)
        rec_alloc(api, p, size);
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
        guard_leave();
    }
    return h;
}
