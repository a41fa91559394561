#include "hwwatch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../pyver/pyver.h"
#include "capture.h"
#include "guard.h"
#include "log.h"
#include "pyframes.h"
#include "record.h"
#include "spin.h"

#define HW_MAX_THREADS 256        /* threads an arming covers; more are left unwatched (counted) */
#define HW_COOKIE 0x4c4c570000000000ull /* "LLW" in sig_data's high bits, the slot in the low ones */
#define SI_PERF_DATA_OFFSET 24    /* siginfo_t::si_perf_data on x86-64, right after si_addr (glibc lacks the name) */
#ifndef TRAP_PERF
#define TRAP_PERF 6               /* si_code of a perf event's SIGTRAP (asm-generic/siginfo.h) */
#endif

struct hw_slot {
    uintptr_t obj;      /* 0: free. Read by the handler without the lock */
    uintptr_t block;
    intptr_t last;      /* the count the last record saw: its sign says incref or decref */
    uint32_t last_local; /* split counts: the owning thread's part at the last trap */
    int fds[HW_MAX_THREADS];
    unsigned nfds;
};

/* protected by hw_lock for arming and disarming; the handler reads obj,
 * block and exchanges last with atomics (it may run in any thread while
 * another arms) */
static int hw_lock;
static struct hw_slot slots[HW_SLOTS];

/* protected by: set once by hw_init at start */
static bool hw_ready;
static struct sigaction previous;

/* protected by: atomic */
static uint64_t missed, uncovered_threads;

/* Descriptors the watchpoints may hold at once: a quarter of the soft
 * RLIMIT_NOFILE, so that a program with hundreds of threads keeps most of
 * its own budget of files (each watched object takes one per thread).
 * protected by hw_lock; the budget is set once by hw_init */
static unsigned fd_budget = 256, fds_open;

/* The perf_event_open attributes of a write breakpoint on span for slot. */
static struct perf_event_attr breakpoint_attr(struct pyver_watch_span span, unsigned slot)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_BREAKPOINT;
    a.bp_type = HW_BREAKPOINT_W;
    a.bp_addr = span.addr;
    a.bp_len = span.len == 4 ? HW_BREAKPOINT_LEN_4 : HW_BREAKPOINT_LEN_8;
    a.sample_period = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.inherit = 1;          /* threads the watched thread creates later */
    a.inherit_thread = 1;   /* but not processes it forks */
    a.remove_on_exec = 1;   /* sigtrap requires it: an exec'd program has no handler */
    a.sigtrap = 1;          /* a synchronous SIGTRAP in the writing thread */
    a.sig_data = HW_COOKIE | slot;
    return a;
}

/* Opens the breakpoint for thread tid (0: the caller); -1 with errno. */
static int open_breakpoint(pid_t tid, struct pyver_watch_span span, unsigned slot)
{
    struct perf_event_attr a = breakpoint_attr(span, slot);
    return (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* What an errno of perf_event_open usually means here. */
static const char *refusal_reason(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
        return "not permitted (kernel.perf_event_paranoid, a seccomp filter or a container's policy)";
    case ENOSYS:
        return "the kernel has no perf_event_open (or a seccomp filter hides it)";
    case ENOENT:
    case EOPNOTSUPP:
        return "no hardware breakpoint support on this machine";
    case EINVAL:
        return "the kernel lacks synchronous perf signals (sigtrap, Linux 5.13)";
    case ENOSPC:
        return "every debug register is taken (a debugger?)";
    default:
        return "refused";
    }
}

/* Journals the trap of slot s in this thread: an INCREF or DECREF record
 * with the count now, unless the count did not change. */
static void record_trap(struct hw_slot *s)
{
    uintptr_t obj = __atomic_load_n(&s->obj, __ATOMIC_ACQUIRE);
    if (!obj)
        return;
    uint32_t prev_local = __atomic_exchange_n(&s->last_local, pyver_refcnt_local(pf_layout, obj), __ATOMIC_ACQ_REL);
    if (pyver_refcnt_mid_merge(pf_layout, obj, prev_local))
        return; /* the trap on the shared part records the merge's net change */
    intptr_t now = pyver_refcnt(pf_layout, obj);
    intptr_t before = __atomic_exchange_n(&s->last, now, __ATOMIC_ACQ_REL);
    if (now != before)
        rec_owner(now > before ? JN_OWN_INCREF : JN_OWN_DECREF, JN_CAPI_NONE, s->block, now);
}

/* Passes a SIGTRAP that is not one of lifeline's to whoever had it before. */
static void chain(int sig, siginfo_t *si, void *uc)
{
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction)
        previous.sa_sigaction(sig, si, uc);
    else if (previous.sa_handler != SIG_IGN && previous.sa_handler != SIG_DFL)
        previous.sa_handler(sig);
    else if (previous.sa_handler == SIG_DFL) {
        sigaction(SIGTRAP, &previous, NULL);
        syscall(SYS_tgkill, getpid(), os_gettid(), SIGTRAP);
    }
}

/* The SIGTRAP handler. Async-signal-safe: a trap while this thread is
 * inside the agent (which holds its locks then) is only counted; otherwise
 * the thread enters the guard, as every hook does, and journals through the
 * same path (stack capture, per-thread journal block) with cap_in_signal
 * set so that the trap's frames are handled. errno is preserved. */
static void on_trap(int sig, siginfo_t *si, void *uc)
{
    uint64_t data = *(const uint64_t *)((const char *)si + SI_PERF_DATA_OFFSET);
    if (si->si_code != TRAP_PERF || (data & ~0xffull) != HW_COOKIE || (data & 0xff) >= HW_SLOTS) {
        chain(sig, si, uc);
        return;
    }
    int saved = errno;
    if (guard_depth) {
        __atomic_add_fetch(&missed, 1, __ATOMIC_RELAXED);
    } else {
        guard_depth = 1;
        cap_in_signal = true;
        record_trap(&slots[data & 0xff]);
        cap_in_signal = false;
        guard_depth = 0;
    }
    errno = saved;
}

bool hw_init(void)
{
    static volatile intptr_t probe_word;
    int fd = open_breakpoint(0, (struct pyver_watch_span){(uintptr_t)&probe_word, 8}, 0);
    if (fd < 0) {
        int e = errno;
        char text[300];
        log_format(text, sizeof text, "hardware watchpoints are not available (perf_event_open: %s: %s); "
                   "--watch records reference counts only from extensions built with `lifeline cflags`",
                   strerror(e), refusal_reason(e));
        rec_note(text); /* the report prints it, once, first among its notes */
        return false;
    }
    close(fd);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fd_budget = rl.rlim_cur / 4 > 8 ? (unsigned)(rl.rlim_cur / 4) : 8;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_trap;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    hw_ready = sigaction(SIGTRAP, &sa, &previous) == 0;
    return hw_ready;
}

/* Opens slot s's breakpoints on the spans of an object's count in
 * every thread of the process (from /proc/self/task, read with getdents64:
 * no malloc). False when the calling thread's own could not be opened. */
static bool open_everywhere(struct hw_slot *s, unsigned index, const struct pyver_watch_span *spans,
                            unsigned nspans)
{
    pid_t self = (pid_t)os_gettid();
    for (unsigned a = 0; a < nspans; a++) {
        int own = open_breakpoint(0, spans[a], index);
        if (own < 0)
            return false; /* the caller closes what opened */
        s->fds[s->nfds++] = own;
        fds_open++;
    }
    int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char buf[4096];
    long n;
    while (dir >= 0 && (n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + off);
            off += d->d_reclen;
            pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
            if (tid <= 0 || tid == self)
                continue;
            for (unsigned a = 0; a < nspans; a++) {
                errno = 0;
                int fd = s->nfds < HW_MAX_THREADS && fds_open < fd_budget ? open_breakpoint(tid, spans[a], index) : -1;
                if (fd >= 0) {
                    s->fds[s->nfds++] = fd;
                    fds_open++;
                } else {
                    if (errno != ESRCH) /* a thread that just ended needs no watchpoint */
                        __atomic_add_fetch(&uncovered_threads, 1, __ATOMIC_RELAXED);
                    break;
                }
            }
        }
    }
    if (dir >= 0)
        close(dir);
    return true;
}

/* Closes every event of slot s. */
static void close_all(struct hw_slot *s)
{
    for (unsigned i = 0; i < s->nfds; i++)
        close(s->fds[i]);
    fds_open -= s->nfds;
    s->nfds = 0;
}

int hw_arm(uintptr_t obj, uintptr_t block)
{
    if (!hw_ready)
        return -1;
    int found = -1;
    spin_lock(&hw_lock);
    for (int i = 0; i < HW_SLOTS && found < 0; i++) {
        struct hw_slot *s = &slots[i];
        if (s->obj)
            continue;
        s->block = block;
        s->last = pyver_refcnt(pf_layout, obj);
        s->last_local = pyver_refcnt_local(pf_layout, obj);
        __atomic_store_n(&s->obj, obj, __ATOMIC_RELEASE);
        struct pyver_watch_span spans[2];
        unsigned nspans = pyver_refcnt_watch_spans(pf_layout, obj, spans);
        if (open_everywhere(s, (unsigned)i, spans, nspans)) {
            found = i;
        } else {
            close_all(s);
            __atomic_store_n(&s->obj, 0, __ATOMIC_RELEASE);
            break; /* this thread's registers are full: no other slot would open either */
        }
    }
    spin_unlock(&hw_lock);
    return found;
}

void hw_disarm(int slot)
{
    if (slot < 0 || slot >= HW_SLOTS)
        return;
    spin_lock(&hw_lock);
    close_all(&slots[slot]);
    __atomic_store_n(&slots[slot].obj, 0, __ATOMIC_RELEASE);
    spin_unlock(&hw_lock);
}

uint64_t hw_missed(void)
{
    return __atomic_load_n(&missed, __ATOMIC_RELAXED);
}

uint64_t hw_uncovered(void)
{
    return __atomic_load_n(&uncovered_threads, __ATOMIC_RELAXED);
}
