/* The kernel's own cost of a hardware watchpoint with a synchronous signal,
 * the floor under what `lifeline run --watch` pays per recorded change: a
 * perf_event_open write breakpoint (sigtrap=1) on a word, an empty SIGTRAP
 * handler, and 100000 writes; then 100000 raise(SIGUSR1) for comparison.
 *
 *     cc -O1 -o /tmp/trap_floor bench/trap_floor.c && /tmp/trap_floor
 */
#define _GNU_SOURCE
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WRITES 100000

static volatile long word;

/* The empty handler. */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
}

/* Nanoseconds since an arbitrary start. */
static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

/* Opens the breakpoint lifeline uses (agent/hwwatch.c) on word; -1 on failure. */
static int open_breakpoint(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_BREAKPOINT;
    a.bp_type = HW_BREAKPOINT_W;
    a.bp_addr = (unsigned long)&word;
    a.bp_len = HW_BREAKPOINT_LEN_8;
    a.sample_period = 1;
    a.exclude_kernel = a.exclude_hv = 1;
    a.inherit = a.inherit_thread = a.remove_on_exec = a.sigtrap = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGTRAP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    if (open_breakpoint() < 0) {
        perror("perf_event_open");
        return 1;
    }
    double t = now_ns();
    for (int i = 0; i < WRITES; i++)
        word++;
    printf("watched write with SIGTRAP: %.0f ns\n", (now_ns() - t) / WRITES);
    t = now_ns();
    for (int i = 0; i < WRITES; i++)
        raise(SIGUSR1);
    printf("raise(SIGUSR1): %.0f ns\n", (now_ns() - t) / WRITES);
    return 0;
}
