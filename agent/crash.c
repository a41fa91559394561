#include "crash.h"

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "capture.h"
#include "guard.h"
#include "heap.h"
#include "jwriter.h"
#include "modules.h"
#include "pyframes.h"

#define MAX_NATIVE 48
#define MAX_PYTHON 32
#define NAME_MAX_BYTES 100
#define ALTSTACK_SIZE (64u << 10)
#define RECORD_MAX \
    (MAX_NATIVE * 10 + MAX_PYTHON * (12 + 2 * NAME_MAX_BYTES) + (JN_MAX_REGS + 3 * JN_MAX_SAVED_REGS) * 10)

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
#define NSIG_FATAL (sizeof fatal_signals / sizeof *fatal_signals)

/* Set once by crash_install. */
static struct sigaction previous[NSIG_FATAL];

/* protected by: atomic exchange; the first crashing thread reports, others wait to die. */
static int crash_reporting;

/* The Python walk may meet corrupted memory: a nested fault jumps back here. */
static AGENT_TLS sigjmp_buf *probe_jump;

static int fatal_index(int signo)
{
    for (unsigned i = 0; i < NSIG_FATAL; i++)
        if (fatal_signals[i] == signo)
            return (int)i;
    return -1;
}

/* Frames whose callee-saved registers are kept for the report. */
#define SAVED_FRAMES 5

/* Keeps the callee-saved registers of the callers of the faulting frame, as
 * the unwinder restores them for frame `frame`. */
static void keep_saved(unw_cursor_t *c, int frame, struct jn_saved_reg *saved, uint32_t *nsaved)
{
#if defined(__x86_64__)
    static const struct { int unw; uint32_t reg; } callee_saved[] = {
        {UNW_X86_64_RBX, 1}, {UNW_X86_64_RBP, 6}, {UNW_X86_64_R12, 12},
        {UNW_X86_64_R13, 13}, {UNW_X86_64_R14, 14}, {UNW_X86_64_R15, 15},
    };
    for (unsigned i = 0; i < sizeof callee_saved / sizeof *callee_saved && *nsaved < JN_MAX_SAVED_REGS; i++) {
        unw_word_t v;
        if (unw_get_reg(c, callee_saved[i].unw, &v) == 0)
            saved[(*nsaved)++] = (struct jn_saved_reg){(uint32_t)frame, callee_saved[i].reg, v};
    }
#else
    (void)c, (void)frame, (void)saved, (void)nsaved;
#endif
}

/* The general registers of the cursor's frame, in the journal's order. */
static bool cursor_registers(unw_cursor_t *c, uint64_t *regs)
{
#if defined(__x86_64__)
    static const int order[JN_MAX_REGS] = {
        UNW_X86_64_RAX, UNW_X86_64_RBX, UNW_X86_64_RCX, UNW_X86_64_RDX, UNW_X86_64_RSI, UNW_X86_64_RDI,
        UNW_X86_64_RBP, UNW_X86_64_RSP, UNW_X86_64_R8,  UNW_X86_64_R9,  UNW_X86_64_R10, UNW_X86_64_R11,
        UNW_X86_64_R12, UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};
    for (int i = 0; i < JN_MAX_REGS; i++) {
        unw_word_t v;
        if (unw_get_reg(c, order[i], &v) < 0)
            return false;
        regs[i] = v;
    }
    return true;
#else
    (void)c, (void)regs;
    return false;
#endif
}

/* Unwinds the faulting thread from the signal context. When the signal
 * was raised again by another handler that ran first (faulthandler does
 * that), the stack holds that handler's frames, a signal trampoline, and
 * then the frame that really faulted: the frames before the trampoline
 * are dropped, and the faulting frame's registers, which the trampoline's
 * signal context restores, replace those of the raise in *regs. */
static int native_frames(ucontext_t *uc, uint64_t *pcs, struct jn_saved_reg *saved, uint32_t *nsaved,
                         uint64_t *regs, bool *regs_from_unwind)
{
    unw_cursor_t cursor;
    int n = 0;
    *nsaved = 0;
    *regs_from_unwind = false;
    if (unw_init_local2(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0)
        return 0;
    bool after_trampoline = false;
    do {
        unw_word_t ip;
        if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || !ip)
            break;
        if (after_trampoline) {
            after_trampoline = false;
            n = 0;
            *nsaved = 0;
            *regs_from_unwind = cursor_registers(&cursor, regs);
        }
        if (n > 0 && cap_is_sigreturn((const void *)ip)) {
            after_trampoline = true;
            continue;
        }
        if (n > 0 && n < SAVED_FRAMES)
            keep_saved(&cursor, n, saved, nsaved);
        pcs[n++] = ip;
    } while (n < MAX_NATIVE && unw_step(&cursor) > 0);
    return n;
}

static int python_frames(struct pf_frame *py)
{
    sigjmp_buf jump;
    volatile int n = 0;
    if (sigsetjmp(jump, 1) == 0) {
        probe_jump = &jump;
        n = pf_walk(py, MAX_PYTHON);
    }
    probe_jump = NULL;
    return n;
}

/* Appends one Python frame with its names inline; on a fault while reading
 * the code object, the frame is written with empty names. */
static uint8_t *put_python(uint8_t *p, const struct pf_frame *f)
{
    sigjmp_buf jump;
    char file[NAME_MAX_BYTES], func[NAME_MAX_BYTES];
    volatile unsigned file_len = 0, func_len = 0;
    volatile int line = 0;
    if (sigsetjmp(jump, 1) == 0) {
        probe_jump = &jump;
        file_len = pf_code_filename(f->code, file, sizeof file);
        func_len = pf_code_name(f->code, func, sizeof func);
        line = pf_line(f->code, f->lasti);
    }
    probe_jump = NULL;
    p = jn_put_crash_python(p, line > 0 ? (uint32_t)line : 0);
    p = jn_put_str(p, file, file_len);
    return jn_put_str(p, func, func_len);
}

static bool is_eval(uint64_t pc)
{
    return pf_layout && pf_is_eval_pc((uintptr_t)pc);
}

/* The faulting thread's general registers, in the journal's order: the cli
 * looks for values that point into freed blocks (a dangling pointer that a
 * fault address alone does not show, say when it was dereferenced through
 * a poisoned field). */
static uint32_t general_registers(const ucontext_t *uc, uint64_t *regs)
{
#if defined(__x86_64__)
    static const int order[JN_MAX_REGS] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI,
                                           REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                           REG_R12, REG_R13, REG_R14, REG_R15};
    for (int i = 0; i < JN_MAX_REGS; i++)
        regs[i] = (uint64_t)uc->uc_mcontext.gregs[order[i]];
    return JN_MAX_REGS;
#else
    (void)uc;
    (void)regs;
    return 0;
#endif
}

/* Appends the frames, innermost first, Python frames standing at the
 * evaluation loop activations that ran them. Returns the end; *count
 * receives the number of frames written. */
static uint8_t *put_frames(uint8_t *p, const uint64_t *pcs, int npc, const struct pf_frame *py, int npy,
                           uint32_t *count)
{
    int k = 0;
    uint32_t n = 0;
    for (int i = 0; i < npc; i++) {
        if (is_eval(pcs[i]) && k < npy) {
            for (bool last = false; k < npy && !last; k++, n++) {
                last = py[k].entry;
                p = put_python(p, &py[k]);
            }
        } else {
            p = jn_put_crash_native(p, pcs[i]);
            n++;
        }
    }
    for (; k < npy; k++, n++)
        p = put_python(p, &py[k]);
    *count = n;
    return p;
}

/* Builds the CRASH record in buf (frames go to scratch first, since the
 * head carries their count). Returns its end. */
static uint8_t *build_record(uint8_t *buf, uint8_t *scratch, int signo, siginfo_t *si, ucontext_t *uc,
                             uint64_t fault_addr, bool faulted)
{
    uint64_t pcs[MAX_NATIVE];
    struct pf_frame py[MAX_PYTHON];
    struct jn_saved_reg saved[JN_MAX_SAVED_REGS];
    uint64_t regs[JN_MAX_REGS];
    uint32_t nsaved;
    bool regs_from_unwind;
    int npc = native_frames(uc, pcs, saved, &nsaved, regs, &regs_from_unwind);
    int npy = pf_layout ? python_frames(py) : 0;
    uint32_t count;
    uint8_t *frames_end = put_frames(scratch, pcs, npc, py, npy, &count);
    /* A signal sent (si_code <= 0) carries no fault address, unless the
     * fault it stands for was found behind another handler's raise. */
    uint64_t fault = (signo == SIGSEGV || signo == SIGBUS) && faulted ? fault_addr : 0;
    int32_t code = si->si_code > 0 || !faulted ? si->si_code : SEGV_MAPERR;
    uint32_t nregs = regs_from_unwind ? JN_MAX_REGS : general_registers(uc, regs);
    uint8_t *p = jn_put_crash_head(buf, jw_next_seq(), (uint32_t)os_gettid(), (uint32_t)signo,
                                   code, fault, nregs, regs, nsaved, saved, count);
    memcpy(p, scratch, (size_t)(frames_end - scratch));
    return p + (frames_end - scratch);
}

static void restore_and_reraise(int signo, siginfo_t *si)
{
    int i = fatal_index(signo);
    sigaction(signo, &previous[i], NULL);
    /* A fault re-executes the instruction and dies by the signal; a signal
     * that was sent must be sent again. */
    if (si->si_code <= 0 || signo == SIGABRT)
        raise(signo);
}

/* True if the fault was a write (x86-64 page-fault error code, bit 1). */
static bool fault_was_write(const ucontext_t *uc)
{
#if defined(__x86_64__)
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)uc;
    return false;
#endif
}

/* When another handler ran first and raised the signal again, the fault
 * that started it all is described by the context the kernel saved for
 * that first handler, which lies on the stack where the signal trampoline
 * returns: its page-fault address and whether it was a write. False when
 * there is no such trampoline or the first signal was no page fault. */
static bool original_fault(ucontext_t *uc, uintptr_t *addr, bool *write)
{
#if defined(__x86_64__)
    unw_cursor_t c;
    if (unw_init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0)
        return false;
    for (int n = 0; n < 16; n++) {
        unw_word_t ip, sp;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0)
            return false;
        if (n > 0 && cap_is_sigreturn((const void *)ip)) {
            if (unw_get_reg(&c, UNW_REG_SP, &sp) < 0)
                return false;
            const ucontext_t *first = (const ucontext_t *)sp;
            if (first->uc_mcontext.gregs[REG_TRAPNO] != 14) /* #PF */
                return false;
            *addr = (uintptr_t)first->uc_mcontext.gregs[REG_CR2];
            *write = (first->uc_mcontext.gregs[REG_ERR] & 2) != 0;
            return true;
        }
        if (unw_step(&c) <= 0)
            return false;
    }
#else
    (void)uc, (void)addr, (void)write;
#endif
    return false;
}

static void on_fatal(int signo, siginfo_t *si, void *ucv)
{
    if (probe_jump)
        siglongjmp(*probe_jump, 1);
    uintptr_t addr = (uintptr_t)si->si_addr;
    bool write = fault_was_write(ucv);
    bool faulted = si->si_code > 0;
    if (signo == SIGSEGV && !faulted)
        faulted = original_fault(ucv, &addr, &write);
    /* An access to the guarded pool is a heap error caught at the access. */
    if (signo == SIGSEGV && faulted) {
        cap_in_signal = true;
        bool handled = heap_pool_fault(addr, write);
        cap_in_signal = false;
        if (handled)
            return;
    }
    if (__atomic_exchange_n(&crash_reporting, 1, __ATOMIC_ACQ_REL) == 0 && jw_active()) {
        static uint8_t buf[RECORD_MAX + 64], scratch[RECORD_MAX];
        guard_depth = 1; /* whatever the handler touches is not recorded */
        jw_name_thread(false);
        uint8_t *end = build_record(buf, scratch, signo, si, ucv, faulted ? addr : 0, faulted);
        struct jn_delta *d;
        uint8_t *w = jw_reserve_nolock((size_t)(end - buf), &d);
        if (w) {
            memcpy(w, buf, (size_t)(end - buf));
            jw_commit(w + (end - buf));
        }
    }
    restore_and_reraise(signo, si);
}

bool crash_probe(void (*fn)(void *arg), void *arg)
{
    sigjmp_buf jump;
    volatile bool completed = false;
    if (sigsetjmp(jump, 1) == 0) {
        probe_jump = &jump;
        fn(arg);
        completed = true;
    }
    probe_jump = NULL;
    return completed;
}

void crash_disarm(void)
{
    __atomic_store_n(&crash_reporting, 1, __ATOMIC_RELEASE);
}

void crash_install(void)
{
    stack_t ss = {.ss_sp = os_map(ALTSTACK_SIZE), .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
    if (ss.ss_sp)
        sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (unsigned i = 0; i < NSIG_FATAL; i++)
        sigaction(fatal_signals[i], &sa, &previous[i]);
}
