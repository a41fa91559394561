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

/* Enters the agent for recording if this call should be recorded. */
static inline bool should_record(void)
{
    if (!jw_active())
        return false;
    agent_poll();
    return guard_enter();
}

static void *after_alloc(uint8_t api, void *p, size_t size)
{
    if (p && should_record()) {
        rec_alloc(api, p, size);
        guard_leave();
    }
    return p;
}

EXPORT void *malloc(size_t size)
{
    return after_alloc(JN_API_MALLOC, __libc_malloc(size), size);
}

EXPORT void *calloc(size_t n, size_t size)
{
    return after_alloc(JN_API_CALLOC, __libc_calloc(n, size), n * size);
}

EXPORT void free(void *p)
{
    if (p && should_record()) {
        rec_free(JN_API_FREE, p);
        guard_leave();
    }
    __libc_free(p);
}

static void *realloc_as(uint8_t api, void *old, size_t size)
{
    void *p = __libc_realloc(old, size);
    /* realloc(p, 0) frees p and returns NULL; a failed realloc changes nothing. */
    bool freed = old && !p && size == 0;
    if ((p || freed) && should_record()) {
        if (!old)
            rec_alloc(api, p, size);
        else
            rec_realloc(api, old, p, size);
        guard_leave();
    }
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

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    void *p = __libc_memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = after_alloc(JN_API_POSIX_MEMALIGN, p, size);
    return 0;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
    return after_alloc(JN_API_ALIGNED_ALLOC, __libc_memalign(align, size), size);
}

EXPORT void *memalign(size_t align, size_t size)
{
    return after_alloc(JN_API_MEMALIGN, __libc_memalign(align, size), size);
}

EXPORT void *valloc(size_t size)
{
    return after_alloc(JN_API_VALLOC, __libc_valloc(size), size);
}

EXPORT void *pvalloc(size_t size)
{
    return after_alloc(JN_API_PVALLOC, __libc_pvalloc(size), size);
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
