/* The narrow contract lifeline needs from the operating system. Everything
 * here works inside an allocator hook or a signal handler: no function
 * allocates through malloc, and none takes a lock. Prefix: os_. */
#ifndef LL_OS_H
#define LL_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Maps `size` bytes of zeroed anonymous memory. Returns NULL on failure. */
void *os_map(size_t size);
/* Like os_map, for a sparse table far bigger than what it will touch: the
 * system sets no memory aside for it (MAP_NORESERVE), only pages written
 * cost memory, and core dumps leave it out. Returns NULL when the address
 * space is limited (ulimit -v) and full, or, under strict overcommit
 * (vm.overcommit_memory=2, which charges the whole size anyway), when the
 * commit limit is reached. */
void *os_reserve(size_t size);
/* Unmaps memory obtained from os_map or os_reserve; size must match. */
void os_unmap(void *p, size_t size);
/* Calls fn for each region os_map or os_reserve handed out and os_unmap
 * has not taken back: the agent's own memory, which its leak scan must not
 * take for the program's. Regions mapped while the registry was full (16384 at once)
 * are not listed. */
void os_each_map(void (*fn)(uintptr_t start, size_t len, void *arg), void *arg);
/* True once a region could not be registered (the registry was full). */
bool os_map_registry_overflowed(void);
/* Copies n bytes of this process's memory at src to dst through the
 * kernel (process_vm_readv): false, never a fault, where src is not mapped
 * (or the system refuses the call). */
bool os_read_own(void *dst, const void *src, size_t n);
/* Writes all of buf to fd, retrying on EINTR and short writes. Returns false
 * if the descriptor fails. */
bool os_write_all(int fd, const void *buf, size_t len);
/* Reads up to cap-1 bytes of a small file (/proc) into buf and NUL-terminates
 * it. Returns the length, or -1 if the file cannot be read. */
ssize_t os_read_small_file(const char *path, char *buf, size_t cap);
pid_t os_gettid(void);
uint64_t os_mono_ns(void);
uint64_t os_realtime_ns(void);

/* The cycle counter: the cheapest clock there is, converted to time later. */
static inline uint64_t os_tsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
    uint64_t v;
    __asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
    return v;
#else
    return os_mono_ns();
#endif
}

/* Starts loading the cache line at p into the cache; never faults. In asm:
 * gcc 12 deletes a __builtin_prefetch of an address loaded from memory as
 * dead code. */
static inline void os_prefetch(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p);
#endif
}

#endif
