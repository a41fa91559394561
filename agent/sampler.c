#include "sampler.h"

#include <errno.h>
#include <linux/futex.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../core/os.h"
#include "capi.h"
#include "guard.h"
#include "log.h"

/* The fewest calls an armed window counts before the last of them is
 * sampled, within a batch (below). */
#define SMP_WINDOW 16
/* The first window of an arming measures the allocation rate: from the
 * arming to its rate_calls-th call, where the sample is taken. From the
 * arming, not from the first call: the thread arms at times the program
 * does not choose, and a pause of the program it falls in (a collection,
 * a system call) is part of the program's time per call. Up to
 * SMP_RATE_CALLS calls, so that the first calls after a hookless stretch,
 * which find the hook's code and data out of the cache (a 16-call window
 * made the program look 15-20% slower to allocate than it is), weigh
 * little; the hook's cost on these calls is still small next to the
 * sample's (about 9 us). At most N / 4 calls, a sixteenth of the calls
 * between two armings, so that at small N a window does not outlast
 * them. */
#define SMP_RATE_CALLS 256
/* Samples per arming, each after a gap of 16 to 79 more calls: a wake-up of
 * the thread costs about as much as a sample on a VM (timer programming,
 * the switch, the other core's TLB in the sample's mprotect), so it is
 * shared by a few samples, still apart from one another. */
#define SMP_BATCH 4
/* A late wake-up (a loaded machine) takes the samples it owes in a bigger
 * batch, up to this many, rather than losing them. */
#define SMP_BATCH_MAX 8
#define SMP_MAX_WORDS 4
/* Bounds of the wait between two armings: under 10 us the thread would
 * only spin; over a second, a busy phase after a slow one would go
 * unsampled for as long (a program that allocates a few hundred times a
 * second is sampled more than 1 in N, 4 samples a second at most). While
 * the program does not allocate (the arming has counted no call for 8
 * waits: a pause longer than a sort or a collection), the thread looks
 * again every 50 ms at most, doubling from twice the wait. */
#define SMP_MIN_WAIT_NS 10000ull
#define SMP_MAX_WAIT_NS 1000000000ull
#define SMP_IDLE_PATIENCE 8
#define SMP_IDLE_MAX_NS 50000000ull
/* Until a window has been measured: a busy interpreter allocates about
 * every 100 ns (bench/workload.py: 30 million events in 3 s). */
#define SMP_FIRST_NS_PER_CALL 100ull

/* The states of the sampler. The thread moves IDLE to ARMED (then swaps the
 * words in); the hook whose call ends a window moves ARMED to CLAIMED,
 * swaps the words back and moves on to IDLE. LOST is final: this is a
 * forked child, or the thread could not start. The state word holds a
 * generation above its two state bits, counted up at every store but
 * LOST's (which ends the count): a hook
 * that saw one window ARMED cannot claim a later one (a withdrawal and a
 * new arming in between), whose clock it would stop far too early. */
enum { SMP_IDLE, SMP_ARMED, SMP_CLAIMED, SMP_LOST, SMP_KIND = 3, SMP_GEN = 4 };
/* protected by: the thread alone. True while another allocator sits over
 * the words: arming is retried every 50 ms, and said once. */
static bool foreign;
/* protected by: the thread alone. True while the guarded pool has no slot
 * for a sample: arming is retried every 50 ms; said once per run
 * (told_full). */
static bool pool_full, told_full;

/* Set once by smp_start, before the thread starts. */
static struct smp_word words[SMP_MAX_WORDS];
static size_t n_words;
static unsigned smp_rate;
static unsigned rate_calls; /* calls in a rate window: N / 4, within 16 to SMP_RATE_CALLS */
static bool (*smp_room)(void);

/* protected by: written only by the thread that forks (fork handlers) and
 * by smp_start, before the thread exists. */
static pthread_t smp_thread;
static bool thread_running;
/* protected by: atomics; 1 asks the thread to end (before a fork), which
 * it sees at once: it waits on this word. */
static int stop_word;

/* protected by: atomics (see the states above). */
static unsigned smp_state = SMP_LOST;

static unsigned kind_of(unsigned state)
{
    return state & SMP_KIND;
}

/* The word that moves from state `from` to `kind`, a generation later. */
static unsigned next_state(unsigned from, unsigned kind)
{
    return ((from & ~(unsigned)SMP_KIND) + SMP_GEN) | kind;
}

/* Stores `kind`, a generation after the current state, and returns the
 * word stored; the stores of the state word are the thread's or the
 * CLAIMED holder's, one at a time. */
static unsigned set_state(unsigned kind)
{
    unsigned to = next_state(__atomic_load_n(&smp_state, __ATOMIC_RELAXED), kind);
    __atomic_store_n(&smp_state, to, __ATOMIC_RELEASE);
    return to;
}

/* Moves ARMED to CLAIMED for the caller alone; false if the state is not
 * that arming's any more (`seen`, the ARMED word the caller read). */
static bool claim_from(unsigned seen)
{
    return kind_of(seen) == SMP_ARMED &&
           __atomic_compare_exchange_n(&smp_state, &seen, next_state(seen, SMP_CLAIMED), false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}
/* protected by: atomics; zeroed by the thread before it arms, counted by
 * the armed hooks. */
static unsigned window_calls;
/* protected by: written by the thread while IDLE (arm), then only by the
 * hook that holds CLAIMED; read by the armed hooks after they load ARMED
 * (acquire), and by the thread as a hint of progress (progress()). The
 * calls the current window waits for, and the samples this arming still
 * takes. */
static unsigned window_target, batch_left, batch_size;
/* protected by: written by the thread while IDLE (arm), read by the hook
 * that holds CLAIMED, as window_target is. */
static uint64_t window_start_ns;
/* protected by: written by the claiming hook before it stores IDLE
 * (release), read by the thread after it loads IDLE (acquire). */
static uint64_t window_ns;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- finding the allocator structs ---- */

struct finder {
    const void *inside;
    void *const *pattern;
    void **found;
    int matches;
};

static bool segment_holds(const struct dl_phdr_info *info, const ElfW(Phdr) *ph, uintptr_t a)
{
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    return ph->p_type == PT_LOAD && a - lo < ph->p_memsz;
}

static bool module_holds(const struct dl_phdr_info *info, uintptr_t a)
{
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (segment_holds(info, &info->dlpi_phdr[i], a))
            return true;
    return false;
}

static void scan_segment(struct finder *f, uintptr_t lo, size_t len)
{
    void **w = (void **)((lo + 7) & ~(uintptr_t)7);
    void **end = (void **)((lo + len) & ~(uintptr_t)7);
    for (; w + 5 <= end; w++) {
        if (w[1] == f->pattern[1] && !memcmp(w, f->pattern, 5 * sizeof *w)) {
            f->found = w;
            f->matches++;
        }
    }
}

static int scan_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    struct finder *f = arg;
    if (!module_holds(info, (uintptr_t)f->inside))
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
            scan_segment(f, info->dlpi_addr + ph->p_vaddr, ph->p_memsz);
    }
    return 1;
}

void **smp_find_struct(const void *inside, void *const pattern[5])
{
    struct finder f = {inside, pattern, NULL, 0};
    dl_iterate_phdr(scan_module, &f);
    return f.matches == 1 ? f.found : NULL;
}

/* ---- arming ---- */

/* Moves one word to `to` unless it holds it already; false if it holds
 * neither of its values. */
static bool move_word(const struct smp_word *w, void *from, void *to)
{
    return __atomic_compare_exchange_n(w->at, &from, to, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) || from == to;
}

/* Moves every word to its armed or original value; false (and the words
 * moved so far put back) if one holds neither: another allocator was
 * installed over it (tracemalloc.start()). A word found at the value it
 * goes to already is one that allocator put back when it was removed
 * (tracemalloc.stop() restores what it found: maybe an armed hook). */
static bool swap_words(bool arm)
{
    for (size_t i = 0; i < n_words; i++) {
        void *orig = words[i].orig, *armed = words[i].armed;
        if (move_word(&words[i], arm ? orig : armed, arm ? armed : orig))
            continue;
        while (i--)
            move_word(&words[i], arm ? words[i].armed : words[i].orig, arm ? words[i].orig : words[i].armed);
        return false;
    }
    return true;
}

static bool arm(unsigned batch)
{
    window_target = rate_calls;
    batch_size = batch_left = batch;
    window_start_ns = now_ns();
    __atomic_store_n(&window_calls, 0, __ATOMIC_RELAXED);
    unsigned armed = set_state(SMP_ARMED);
    if (swap_words(true))
        return true;
    /* A hook reached through another allocator's chain may have claimed
     * the window meanwhile: only this arming goes back to IDLE here. */
    __atomic_compare_exchange_n(&smp_state, &armed, next_state(armed, SMP_IDLE), false, __ATOMIC_ACQ_REL,
                                __ATOMIC_RELAXED);
    return false;
}

/* Takes back an arming no call has ended: true when it was still ARMED.
 * The program may be idle, or something put pymalloc's words back over the
 * armed ones (a program restoring allocators it saved, an embedder's new
 * runtime): no call would then ever reach a hook again. */
static bool withdraw(void)
{
    if (!claim_from(__atomic_load_n(&smp_state, __ATOMIC_ACQUIRE)))
        return false;
    swap_words(false);
    set_state(SMP_IDLE);
    return true;
}

/* After a sample of a batch: the next one comes after a gap of calls. */
static void next_in_batch(void)
{
    __atomic_store_n(&batch_left, batch_left - 1, __ATOMIC_RELAXED); /* progress() reads it */
    window_target = SMP_WINDOW + (unsigned)(os_tsc() >> 4) % 64;
    __atomic_store_n(&window_calls, 0, __ATOMIC_RELAXED);
    set_state(SMP_ARMED);
}

bool smp_claim(void)
{
    unsigned seen = __atomic_load_n(&smp_state, __ATOMIC_ACQUIRE);
    if (kind_of(seen) != SMP_ARMED)
        return false;
    unsigned n = __atomic_add_fetch(&window_calls, 1, __ATOMIC_RELAXED);
    if (n < window_target)
        return false;
    if (!claim_from(seen))
        return false; /* another thread ended this window, or it is another arming's now */
    if (batch_left == batch_size)
        window_ns = now_ns() - window_start_ns; /* the rate, from the first window only */
    if (batch_left > 1) {
        next_in_batch();
        return true;
    }
    swap_words(false); /* if another allocator sits over the words, the next arming says so */
    set_state(SMP_IDLE);
    return true;
}

/* ---- the thread ---- */

/* Sleeps until *deadline, then moves it on by wait; true if asked to stop
 * meanwhile. Deadlines rather than naps: a wake-up comes 100-150 us late on
 * a loaded machine, and sleeping the whole wait again after each would lose
 * that time every round. A deadline further behind than one wait (the
 * program was idle, or this thread was not scheduled) starts over from
 * now: samples owed are not taken in a burst. The sleep is a futex wait on
 * stop_word, so that a fork need not wait for it. */
static bool sleep_until(uint64_t *deadline, uint64_t wait)
{
    uint64_t now = now_ns();
    if (*deadline + wait < now)
        *deadline = now;
    struct timespec ts = {(time_t)(*deadline / 1000000000ull), (long)(*deadline % 1000000000ull)};
    while (!__atomic_load_n(&stop_word, __ATOMIC_ACQUIRE)) {
        long r = syscall(SYS_futex, &stop_word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, &ts, NULL,
                         FUTEX_BITSET_MATCH_ANY);
        if (r != 0 && errno == ETIMEDOUT)
            break;
    }
    *deadline += wait;
    return __atomic_load_n(&stop_word, __ATOMIC_ACQUIRE);
}

/* A wait drawn uniformly around mean (half to one and a half times), so
 * that the samples do not fall in step with a periodic program. */
static uint64_t draw(uint64_t mean, uint32_t *rng)
{
    uint32_t x = *rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *rng = x;
    return mean / 2 + (mean * (x % 1024)) / 1024;
}

/* The time between allocations: the inverse of the mean rate (calls per
 * nanosecond) of the last SMP_RATE_WINDOWS windows, which stand at
 * SMP_FIRST_NS_PER_CALL until measured. The thread arms at times the
 * program does not choose, so its windows sample the program's rate
 * evenly over time, and the mean rate is what spaces samples 1 in N calls
 * apart. A window that spans a pause of the program (a collection, a sort,
 * a system call: a tenth of them on bench/workload.py, up to a thousand
 * times longer than the others) adds a rate near zero, as the pause adds
 * no calls; a mean of the windows' durations would follow the pauses and
 * sample far less than 1 in N.
 *
 * The windows start at SMP_FIRST_NS_PER_CALL, so that a single slow
 * window (the program's start, imports) raises the estimate by a seventh
 * at most; eight in a row are the program's pace, and a busy phase after
 * them brings it down within eight windows. The estimate before, which moved a
 * sixteenth toward each window, spent about 50 armings coming back down
 * from the start's windows, and so sampled about 1 in 1.4 N. For a steady
 * program; a bursty one, whose fixed-count windows mostly fall in its
 * bursts, is oversampled (1.3 times at N = 1000 with 600 allocations
 * every 40 ms; 3.8 times at 5000). Called by the thread alone. */
#define SMP_RATE_WINDOWS 8

/* protected by: the thread alone; reset when it starts (a forked parent's
 * thread starts over from SMP_FIRST_NS_PER_CALL, windows included). */
static double window_rates[SMP_RATE_WINDOWS];
static unsigned rates_next;

static void reset_estimate(void)
{
    for (unsigned i = 0; i < SMP_RATE_WINDOWS; i++)
        window_rates[i] = 1.0 / SMP_FIRST_NS_PER_CALL;
    rates_next = 0;
}

static uint64_t next_estimate(uint64_t ns_per_call)
{
    uint64_t window = __atomic_exchange_n(&window_ns, 0, __ATOMIC_ACQUIRE);
    if (!window)
        return ns_per_call;
    window_rates[rates_next++ % SMP_RATE_WINDOWS] = (double)rate_calls / (double)window;
    double sum = 0;
    for (unsigned i = 0; i < SMP_RATE_WINDOWS; i++)
        sum += window_rates[i];
    double ns = SMP_RATE_WINDOWS / sum;
    return ns < 1.0 ? 1 : ns > 1e12 ? 1000000000000ull : (uint64_t)ns;
}

/* The samples owed since the last arming, wait being the mean time
 * between armings: SMP_BATCH when the thread woke on time, more when it
 * woke late (up to SMP_BATCH_MAX), fewer when the draw was short. */
static unsigned owed(uint64_t since_last, uint64_t wait)
{
    uint64_t n = (SMP_BATCH * since_last + wait / 2) / wait;
    return n < 1 ? 1 : n > SMP_BATCH_MAX ? SMP_BATCH_MAX : (unsigned)n;
}

/* Arms for batch samples, or notes that another allocator sits over the
 * words: then the next attempt is 50 ms away, and the user is told once. */
static uint64_t arm_or_wait(unsigned batch)
{
    if (arm(batch)) {
        foreign = false;
        return 0;
    }
    if (!foreign)
        log_msg("sampling paused: another allocator (tracemalloc?) is installed over the interpreter's");
    foreign = true;
    return SMP_IDLE_MAX_NS;
}

/* Arms as arm_or_wait does, unless no sample would find a slot in the
 * guarded pool: every slot holds a live sample. The armed calls would then
 * take nothing but time, so the thread waits 50 ms and looks again; the
 * user is told once, since a bug in what is allocated meanwhile goes
 * unseen. */
static uint64_t arm_if_room(unsigned batch)
{
    if (!smp_room()) {
        if (!told_full)
            log_msg("sampling paused: every slot of the guarded pool holds a live sample; it resumes as "
                    "they are freed (--pool-slots N gives it more)");
        told_full = pool_full = true;
        return SMP_IDLE_MAX_NS;
    }
    pool_full = false;
    return arm_or_wait(batch);
}

/* True while every word holds its armed value. */
static bool words_armed(void)
{
    for (size_t i = 0; i < n_words; i++)
        if (__atomic_load_n(words[i].at, __ATOMIC_RELAXED) != words[i].armed)
            return false;
    return true;
}

/* Where the arming under way stands: its count of calls and samples left.
 * A wake-up that finds it moved since the last one finds a program that
 * allocates, if slowly, whose window is to be waited for, not withdrawn. */
static unsigned progress(void)
{
    /* A hint only: the CLAIMED holder may be changing batch_left. */
    return __atomic_load_n(&window_calls, __ATOMIC_RELAXED) ^ (__atomic_load_n(&batch_left, __ATOMIC_RELAXED) << 24);
}

static void *run(void *unused)
{
    uint64_t ns_per_call = SMP_FIRST_NS_PER_CALL, idle = 0, deadline = now_ns(), last_arm = deadline;
    unsigned idle_waits = 0, seen_progress = 0;
    uint32_t rng = (uint32_t)os_tsc() | 1;
    guard_depth = 1; /* nothing this thread does is the program's */
    prctl(PR_SET_TIMERSLACK, 1000ul); /* waits of tens of microseconds, not 50 more */
    reset_estimate();
    if (kind_of(__atomic_load_n(&smp_state, __ATOMIC_ACQUIRE)) == SMP_IDLE)
        idle = arm_if_room(SMP_BATCH);
    seen_progress = progress();
    for (;;) {
        uint64_t wait = ns_per_call * smp_rate * SMP_BATCH;
        wait = wait < SMP_MIN_WAIT_NS ? SMP_MIN_WAIT_NS : wait > SMP_MAX_WAIT_NS ? SMP_MAX_WAIT_NS : wait;
        if (sleep_until(&deadline, idle ? idle : draw(wait, &rng)))
            return NULL;
        unsigned s = kind_of(__atomic_load_n(&smp_state, __ATOMIC_ACQUIRE));
        if (s == SMP_LOST)
            return NULL;
        if (s != SMP_IDLE) {
            /* The arming is not over: the program allocates slowly (its
             * calls still count), or not at all since the last wake-up. */
            unsigned now_progress = progress();
            if (now_progress != seen_progress) {
                seen_progress = now_progress;
                idle_waits = 0;
                continue;
            }
            if (++idle_waits < SMP_IDLE_PATIENCE)
                continue;
            idle = idle ? idle * 2 : wait * 2;
            idle = idle > SMP_IDLE_MAX_NS ? SMP_IDLE_MAX_NS : idle;
            /* The words still armed: the program is quiet, and the arming
             * stays, its window counting on when the program allocates
             * again (the pause is the program's time too; a new arming
             * would start the count over, and a program that allocates
             * in small bursts far apart would never fill a window). Words
             * put back or covered (a program restoring allocators it
             * saved, tracemalloc): arm afresh, which says so. */
            if (!words_armed() && withdraw()) {
                uint64_t again = arm_if_room(1);
                idle = again ? again : idle;
                seen_progress = progress();
            }
            continue;
        }
        idle_waits = 0;
        ns_per_call = next_estimate(ns_per_call);
        uint64_t now = now_ns();
        /* After a pause for a full pool, the samples of the pause are not owed. */
        idle = arm_if_room(pool_full ? 1 : owed(now - last_arm, wait));
        seen_progress = progress();
        last_arm = now;
    }
}

/* Starts the thread, taking none of the program's signals; what
 * pthread_create allocates is not the program's either. */
static bool start_thread(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int depth = guard_depth;
    guard_depth = 1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    __atomic_store_n(&stop_word, 0, __ATOMIC_RELEASE);
    thread_running = pthread_create(&smp_thread, &attr, run, NULL) == 0;
    pthread_attr_destroy(&attr);
    if (thread_running)
        pthread_setname_np(smp_thread, "lifeline-sample");
    guard_depth = depth;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return thread_running;
}

/* Before a fork: the thread ends, so that the parent is single-threaded
 * again when os.fork() counts its threads afterwards (3.12 and later warn
 * of a fork in a multi-threaded process). */
static void before_fork(void)
{
    if (!thread_running)
        return;
    __atomic_store_n(&stop_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &stop_word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1, NULL, NULL, 0);
    pthread_join(smp_thread, NULL);
    thread_running = false;
}

static int restart(void *unused)
{
    if (!thread_running && kind_of(__atomic_load_n(&smp_state, __ATOMIC_ACQUIRE)) != SMP_LOST)
        start_thread();
    return 0;
}

/* After a fork, in the parent: the thread starts again from a pending call,
 * which the interpreter runs once os.fork() has returned to Python (after
 * its count of threads) in the main thread. A fork from another thread
 * restarts it at once: the process had threads anyway, and the main
 * thread may not run Python for a long time (waiting in join()). Without
 * an interpreter to run it, at once too. */
static void after_fork_in_parent(void)
{
    if (kind_of(__atomic_load_n(&smp_state, __ATOMIC_ACQUIRE)) == SMP_LOST)
        return;
    bool main_thread = os_gettid() == getpid();
    if (main_thread && capi.Py_IsInitialized && capi.Py_AddPendingCall && capi.Py_IsInitialized() &&
        capi.Py_AddPendingCall(restart, NULL) == 0)
        return;
    restart(NULL);
}

/* In the child: no thread arms again (the child is not traced); the
 * words are put back. */
static void after_fork_in_child(void)
{
    thread_running = false;
    unsigned s = __atomic_exchange_n(&smp_state, SMP_LOST, __ATOMIC_ACQ_REL);
    /* CLAIMED too: the thread that held it is not in the child, and
     * swap_words accepts words already back. */
    if (kind_of(s) == SMP_ARMED || kind_of(s) == SMP_CLAIMED)
        swap_words(false);
}

bool smp_start(const struct smp_word *w, size_t n, unsigned rate, bool (*room)(void))
{
    if (n > SMP_MAX_WORDS || !rate)
        return false;
    smp_room = room;
    memcpy(words, w, n * sizeof *w);
    n_words = n;
    smp_rate = rate;
    rate_calls = rate / 4 < SMP_WINDOW ? SMP_WINDOW : rate / 4 > SMP_RATE_CALLS ? SMP_RATE_CALLS : rate / 4;
    smp_state = SMP_IDLE;
    if (!start_thread()) {
        smp_state = SMP_LOST;
        return false;
    }
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
    return true;
}
