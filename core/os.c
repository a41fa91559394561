#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OS_MAP_REGISTRY 16384

/* The regions os_map handed out. protected by: a slot is claimed by a
 * compare-and-swap of its start from 0 and released by storing 0 back. */
static struct os_region {
    uintptr_t start;
    size_t len;
} os_regions[OS_MAP_REGISTRY];

/* protected by: an atomic store; set once the registry was found full */
static bool os_regions_overflowed;

bool os_map_registry_overflowed(void)
{
    return __atomic_load_n(&os_regions_overflowed, __ATOMIC_RELAXED);
}

static void remember_region(uintptr_t start, size_t len)
{
    for (size_t i = 0; i < OS_MAP_REGISTRY; i++) {
        uintptr_t expected = 0;
        if (__atomic_compare_exchange_n(&os_regions[i].start, &expected, start, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            __atomic_store_n(&os_regions[i].len, len, __ATOMIC_RELEASE);
            return;
        }
    }
    __atomic_store_n(&os_regions_overflowed, true, __ATOMIC_RELAXED);
}

static void forget_region(uintptr_t start)
{
    for (size_t i = 0; i < OS_MAP_REGISTRY; i++) {
        if (__atomic_load_n(&os_regions[i].start, __ATOMIC_ACQUIRE) == start) {
            __atomic_store_n(&os_regions[i].len, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&os_regions[i].start, 0, __ATOMIC_RELEASE);
            return;
        }
    }
}

/* Maps zeroed anonymous memory with mmap's extra flags and registers it;
 * NULL on failure. */
static void *map_registered(size_t size, int flags)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    remember_region((uintptr_t)p, size);
    return p;
}

void *os_map(size_t size)
{
    return map_registered(size, 0);
}

void *os_reserve(size_t size)
{
    void *p = map_registered(size, MAP_NORESERVE);
    if (p)
        madvise(p, size, MADV_DONTDUMP);
    return p;
}

bool os_read_own(void *dst, const void *src, size_t n)
{
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n;
}

void os_unmap(void *p, size_t size)
{
    if (!p)
        return;
    forget_region((uintptr_t)p);
    munmap(p, size);
}

void os_each_map(void (*fn)(uintptr_t start, size_t len, void *arg), void *arg)
{
    for (size_t i = 0; i < OS_MAP_REGISTRY; i++) {
        uintptr_t start = __atomic_load_n(&os_regions[i].start, __ATOMIC_ACQUIRE);
        size_t len = __atomic_load_n(&os_regions[i].len, __ATOMIC_ACQUIRE);
        /* A slot released and claimed again between the two loads would pair
         * one region's start with another's length. */
        if (start && len && __atomic_load_n(&os_regions[i].start, __ATOMIC_ACQUIRE) == start)
            fn(start, len, arg);
    }
}

bool os_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

ssize_t os_read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = 0;
    return (ssize_t)len;
}

pid_t os_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t os_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t os_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}
