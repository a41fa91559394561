#include "capture.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../core/table.h"
#include "guard.h"
#include "jwriter.h"
#include "modules.h"
#include "pyframes.h"
#include "spin.h"
#include "threads.h"

struct stack_entry {
    uint64_t hash;
    uint32_t id;
    uint32_t pad;
};

struct code_entry {
    uint64_t addr;
    uint64_t identity; /* pf_code_identity when journaled */
    uint32_t id;
    uint32_t pad;
};

/* protected by cap_lock */
static int cap_lock;
static struct tbl stacks = {NULL, 0, 0, sizeof(struct stack_entry)};
static struct tbl codes = {NULL, 0, 0, sizeof(struct code_entry)};
static uint32_t next_stack_id = 1;
static uint32_t next_code_id = 1;

struct raw_stack {
    void *pcs[CAP_MAX_NATIVE];
    int npcs, first; /* pcs[first..npcs) are the caller's frames */
    struct pf_frame py[CAP_MAX_PYTHON];
    int npy;
};

/* Walks the stack order: native frames, with the Python frames of each
 * evaluation loop activation standing at that activation. Calls emit() for
 * each frame in order, innermost first. */
#define FOR_EACH_FRAME(rs, ON_NATIVE, ON_PYTHON)                                   \
    do {                                                                          \
        int py_ = 0;                                                              \
        for (int i_ = (rs)->first; i_ < (rs)->npcs; i_++) {                        \
            uintptr_t pc_ = (uintptr_t)(rs)->pcs[i_];                             \
            if (pf_is_eval_pc(pc_) && py_ < (rs)->npy) {                          \
                for (bool last_ = false; py_ < (rs)->npy && !last_; py_++) {      \
                    const struct pf_frame *f_ = &(rs)->py[py_];                   \
                    last_ = f_->entry;                                            \
                    ON_PYTHON;                                                    \
                }                                                                 \
            } else {                                                              \
                ON_NATIVE;                                                        \
            }                                                                     \
        }                                                                         \
        for (; py_ < (rs)->npy; py_++) {                                          \
            const struct pf_frame *f_ = &(rs)->py[py_];                           \
            ON_PYTHON;                                                            \
        }                                                                         \
    } while (0)

static uint64_t hash_stack(const struct raw_stack *rs, uint32_t *nframes)
{
    uint64_t h = 0x9e3779b97f4a7c15ull;
    uint32_t n = 0;
    FOR_EACH_FRAME(rs, { h = tbl_mix(h ^ pc_); n++; },
                   { h = tbl_mix(h ^ (uintptr_t)f_->code ^ ((uint64_t)f_->lasti << 48) ^
                                 pf_code_identity(f_->code));
                     n++; });
    *nframes = n;
    return h ? h : 1;
}

/* Journals a code object's names. */
static void journal_code(uint32_t id, const void *code)
{
    uint8_t rec[1100];
    char name[512];
    uint8_t *p = jn_put_code_head(rec, id);
    unsigned n = pf_code_filename(code, name, sizeof name);
    p = jn_put_str(p, name, n);
    n = pf_code_name(code, name, sizeof name);
    p = jn_put_str(p, name, n);
    jw_write_record(rec, (size_t)(p - rec));
}

/* Returns the id of a code object, journaling it on first sight. */
static uint32_t code_id(const void *code)
{
    uint64_t identity = pf_code_identity(code);
    bool inserted, fresh = false;
    spin_lock(&cap_lock);
    struct code_entry *e = tbl_insert(&codes, (uintptr_t)code, &inserted);
    uint32_t id = 0;
    if (e && (inserted || e->identity != identity)) {
        e->identity = identity;
        e->id = next_code_id++;
        fresh = true;
    }
    if (e)
        id = e->id;
    spin_unlock(&cap_lock);
    if (fresh)
        journal_code(id, code);
    return id;
}

/* A per-thread memo of source lines: every new stack needs the line of each
 * of its Python frames, the interpreter finds one by walking the code
 * object's line table from its start, and the outer frames of new stacks
 * are nearly always frames seen before. Keyed like stacks are, by the code
 * object's address, identity and instruction offset. */
#define LINE_MEMO_SIZE 2048
struct line_memo {
    struct {
        uintptr_t code;
        uint64_t identity;
        int32_t lasti, line;
    } e[LINE_MEMO_SIZE];
};
static AGENT_TLS struct line_memo *line_memo;

static int line_of(const void *code, int32_t lasti)
{
    if (!line_memo)
        line_memo = os_map(sizeof *line_memo);
    thr_arm();
    if (!line_memo)
        return pf_line(code, lasti);
    uint64_t identity = pf_code_identity(code);
    size_t i = tbl_mix((uintptr_t)code ^ ((uint64_t)(uint32_t)lasti << 40)) & (LINE_MEMO_SIZE - 1);
    __typeof__(line_memo->e[0]) *e = &line_memo->e[i];
    if (e->code != (uintptr_t)code || e->identity != identity || e->lasti != lasti) {
        int line = pf_line(code, lasti);
        /* The key last: an entry half written (a signal, a fault inside
         * pf_line) never matches. */
        e->code = 0;
        e->line = line;
        e->identity = identity;
        e->lasti = lasti;
        e->code = (uintptr_t)code;
        return line;
    }
    return e->line;
}

static void journal_stack(uint32_t id, const struct raw_stack *rs, uint32_t nframes)
{
    uint8_t rec[16 + (CAP_MAX_NATIVE + CAP_MAX_PYTHON) * 16];
    uint64_t pc_state = 0;
    uint8_t *p = jn_put_stack_head(rec, id, nframes);
    FOR_EACH_FRAME(rs, { p = jn_put_stack_native(p, &pc_state, pc_); },
                   { p = jn_put_stack_python(p, code_id(f_->code), (uint32_t)line_of(f_->code, f_->lasti)); });
    jw_write_record(rec, (size_t)(p - rec));
}

AGENT_TLS bool cap_in_signal;
AGENT_TLS uintptr_t cap_hook_slot;

bool cap_is_sigreturn(const void *pc)
{
#if defined(__x86_64__)
    static const uint8_t code[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    return pc && memcmp(pc, code, sizeof code) == 0;
#else
    (void)pc;
    return false;
#endif
}

/* Drops signal trampolines from a stack. The frame a signal interrupted
 * comes with its exact pc, where every other frame has a return address
 * that readers look up one byte earlier: it is stored one byte later. */
static void fix_signal_frames(struct raw_stack *rs)
{
    int out = rs->first;
    for (int i = rs->first; i < rs->npcs; i++) {
        if (cap_is_sigreturn(rs->pcs[i]) && i + 1 < rs->npcs) {
            rs->pcs[i + 1] = (char *)rs->pcs[i + 1] + 1;
            continue;
        }
        rs->pcs[out++] = rs->pcs[i];
    }
    rs->npcs = out;
}

/* Unwinds at most max native frames and drops the agent's own. */
static void take_native(struct raw_stack *rs, int max)
{
    rs->npcs = unw_backtrace(rs->pcs, max);
    if (rs->npcs < 0)
        rs->npcs = 0;
    rs->first = 0;
    while (rs->first < rs->npcs && mod_in_agent((uintptr_t)rs->pcs[rs->first]))
        rs->first++;
    if (cap_in_signal)
        fix_signal_frames(rs);
}

/* The index of the innermost evaluation-loop frame, or -1. */
static int innermost_eval(const struct raw_stack *rs)
{
    for (int i = rs->first; i < rs->npcs; i++)
        if (pf_is_eval_pc((uintptr_t)rs->pcs[i]))
            return i;
    return -1;
}

/* The Python part of a stack key, continued from the native part's hash. */
/* The keys of the fast paths (hash_short_key, fast_walk, slow_walk, then
 * hash_python) are the xor of one term per frame: the frame's value mixed
 * with its position. The terms mix side by side, where a chain of mixes
 * waits for the one before at every frame (about 12 cycles each, most of
 * the key's cost). Two different stacks differ in some (position, value)
 * pair. Native frames count positions from 0, Python frames from
 * KEY_PYTHON_POS, which no native walk reaches. */
#define KEY_SEED 0x243f6a8885a308d3ull
#define KEY_PYTHON_POS 4096u

static inline uint64_t key_term(uint64_t value, unsigned pos)
{
    return tbl_mix(value + (uint64_t)(pos + 1) * 0x9e3779b97f4a7c15ull);
}

static uint64_t hash_python(const struct raw_stack *rs, uint64_t h)
{
    for (int i = 0; i < rs->npy; i++) {
        const struct pf_frame *f = &rs->py[i];
        h ^= key_term((uintptr_t)f->code ^ ((uint64_t)f->lasti << 48) ^ pf_code_identity(f->code) ^
                          (uint64_t)f->entry << 47,
                      KEY_PYTHON_POS + (unsigned)i);
    }
    return h ? h : 1;
}

/* The key of the fast path: the native frames below the innermost
 * evaluation loop, and every Python frame. The loop's own return address is
 * left out: its Python frames stand in its place in every report, and a
 * specialized instruction returns to another address than its generic form
 * (3.13 specializes after one run), which would give one call site two
 * stacks. */
static uint64_t hash_short_key(const struct raw_stack *rs, int eval_index)
{
    uint64_t h = KEY_SEED;
    unsigned pos = 0;
    /* The agent's frames are left out as fast_walk leaves them out: a
     * C-API wrapper of the boundary's between an extension and the
     * interpreter. */
    for (int i = rs->first; i < eval_index; i++)
        if (!mod_in_agent((uintptr_t)rs->pcs[i]))
            h ^= key_term((uintptr_t)rs->pcs[i], pos++);
    return hash_python(rs, h);
}

/* A small per-thread memo of recent keys, so that the common case takes no
 * lock and touches no shared cache line. */
#define MEMO_SIZE 8192
struct memo {
    struct {
        uint64_t key;
        uint32_t id;
    } e[MEMO_SIZE]; /* a key and its id share a cache line: one miss, not two */
};
static AGENT_TLS struct memo *memo;

static uint32_t memo_get(uint64_t key)
{
    if (!memo)
        return 0;
    size_t i = key & (MEMO_SIZE - 1);
    return memo->e[i].key == key ? memo->e[i].id : 0;
}

static void memo_put(uint64_t key, uint32_t id)
{
    if (!memo) {
        memo = os_map(sizeof *memo);
        thr_arm();
    }
    if (memo) {
        size_t i = key & (MEMO_SIZE - 1);
        memo->e[i].key = key;
        memo->e[i].id = id;
    }
}

void (*cap_on_new_stack)(uint32_t id, const struct cap_frame *frames, int n);

/* Hands a new stack's frames to cap_on_new_stack. */
static void tell_new_stack(uint32_t id, const struct raw_stack *rs)
{
    struct cap_frame fr[CAP_MAX_NATIVE + CAP_MAX_PYTHON];
    int n = 0;
    FOR_EACH_FRAME(rs, { fr[n].pc = pc_; fr[n].code = NULL; fr[n++].lasti = 0; },
                   { fr[n].pc = 0; fr[n].code = f_->code; fr[n++].lasti = f_->lasti; });
    cap_on_new_stack(id, fr, n);
}

/* Interns the stack under key: returns its id, journaling the full stack
 * (unwinding it completely first when full_unwind) the first time. */
static uint32_t intern(uint64_t key, struct raw_stack *rs, bool full_unwind)
{
    bool inserted;
    spin_lock(&cap_lock);
    struct stack_entry *e = tbl_insert(&stacks, key, &inserted);
    uint32_t id = 0;
    if (e && inserted)
        e->id = next_stack_id++;
    if (e)
        id = e->id;
    spin_unlock(&cap_lock);
    if (e && inserted) {
        uint32_t nframes;
        if (full_unwind)
            take_native(rs, CAP_MAX_NATIVE);
        hash_stack(rs, &nframes);
        journal_stack(id, rs, nframes);
        if (cap_on_new_stack)
            tell_new_stack(id, rs);
    }
    return id;
}

bool cap_exact_stacks; /* set once at start from the options */

/* ---- a frame-size cache: walking to the interpreter without unwinding ----
 *
 * Unwinding is most of the agent's cost, and gcc's code without frame
 * pointers can only be unwound through its DWARF rules. But for a frame
 * whose canonical frame address is stack-pointer based (gcc's usual code),
 * the distance from the slot holding its return address to the slot
 * holding its caller's return address depends only on that return address.
 * The agent learns these distances from libunwind the first time it meets
 * each return address, and afterwards walks from its own frame to the
 * innermost evaluation loop by reading return addresses and adding
 * distances. A return address seen with two different distances (a frame
 * with a variable size) is marked, and chains through it are always
 * unwound. Per thread, so no lock. */

#define WALK_MAX 32          /* frames walked before giving up on the fast path */
#define DELTA_TABLE 4096     /* per thread, a power of two: 64 KiB, kept in cache */
#define DELTA_VARIABLE INT32_MIN

struct delta_entry {
    uintptr_t ra;
    int32_t delta;
};

struct thread_walk {
    struct delta_entry table[DELTA_TABLE];
    int32_t first_off;       /* cap_stack's own return slot, from its stack pointer; 0 = not learned */
    uint32_t misses;         /* fast walks that failed, to ration learning */
    uintptr_t stack_top;     /* slots at or above this are not this thread's stack */
};
static AGENT_TLS struct thread_walk *walk;

static inline uintptr_t current_sp(void)
{
    uintptr_t sp;
#if defined(__x86_64__)
    __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
#else
    sp = (uintptr_t)__builtin_frame_address(0);
#endif
    return sp;
}

static struct delta_entry *delta_slot(struct thread_walk *w, uintptr_t ra)
{
    /* Return addresses are spread over the code: their low bits index well. */
    return &w->table[(ra ^ (ra >> 12)) & (DELTA_TABLE - 1)];
}

static void learn_delta(struct thread_walk *w, uintptr_t ra, int32_t delta)
{
    struct delta_entry *e = delta_slot(w, ra);
    if (e->ra == ra && e->delta != delta)
        e->delta = DELTA_VARIABLE;
    else if (e->ra != ra)
        *e = (struct delta_entry){ra, delta};
}

static uintptr_t thread_stack_top(void)
{
    pthread_attr_t attr;
    void *base;
    size_t size;
    /* Called inside the guard: what this allocates passes through. */
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return 0;
    int rc = pthread_attr_getstack(&attr, &base, &size);
    pthread_attr_destroy(&attr);
    return rc == 0 ? (uintptr_t)base + size : 0;
}

static struct thread_walk *thread_walk(void)
{
    struct thread_walk *w = walk;
    if (!w) {
        w = walk = os_map(sizeof *w);
        thr_arm();
        if (w)
            w->stack_top = thread_stack_top();
    }
    return w && w->stack_top ? w : NULL;
}

/* Walks from the hook's return slot (cap_hook_slot), or else from the
 * caller of cap_stack (whose stack pointer is sp), to the
 * innermost evaluation loop with the learned distances, hashing the return
 * addresses outside the agent as hash_short_key does. False when a
 * distance is unknown or variable, or no loop is reached. */
static bool fast_walk(struct thread_walk *w, uintptr_t sp, uint64_t *hash)
{
    uintptr_t slot = cap_hook_slot;
    if (slot <= sp || slot >= w->stack_top) {
        if (!w->first_off)
            return false;
        slot = sp + (uintptr_t)w->first_off;
    }
    uint64_t h = KEY_SEED;
    unsigned pos = 0;
    for (int n = 0; n < WALK_MAX; n++) {
        if (slot + 8 > w->stack_top)
            return false;
        uintptr_t ra = *(const uintptr_t *)slot;
        if (pf_is_eval_pc(ra)) {
            *hash = h;
            return true;
        }
        if (!mod_in_agent(ra))
            h ^= key_term(ra, pos++);
        const struct delta_entry *e = delta_slot(w, ra);
        if (e->ra != ra || e->delta == DELTA_VARIABLE || e->delta <= 0)
            return false;
        slot += (uintptr_t)e->delta;
    }
    return false;
}

/* Unwinds with libunwind up to the innermost evaluation loop, learning the
 * distances on the way; hashes like fast_walk. False when no loop is
 * reached or a frame is not a plain call (a signal frame). */
static bool slow_walk(struct thread_walk *w, uintptr_t sp, uint64_t *hash)
{
    uint64_t h = KEY_SEED;
    unsigned pos = 0;
    uintptr_t prev_slot = 0, prev_ra = 0;
    unw_context_t uc;
    unw_cursor_t c;
    unw_getcontext(&uc);
    if (unw_init_local(&c, &uc) < 0)
        return false;
    for (int n = 0; n < WALK_MAX && unw_step(&c) > 0; n++) {
        unw_word_t ip, csp;
        if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || unw_get_reg(&c, UNW_REG_SP, &csp) < 0)
            return false;
        /* The return address into this frame sits just below the stack
         * pointer its callee returned to. */
        uintptr_t slot = (uintptr_t)csp - 8;
        if (slot < sp)
            continue; /* this walk's own frames, below cap_stack's */
        if (slot - sp > INT32_MAX || *(const uintptr_t *)slot != ip)
            return false;
        if (prev_slot)
            learn_delta(w, prev_ra, (int32_t)(slot - prev_slot));
        prev_slot = slot;
        prev_ra = ip;
        if (pf_is_eval_pc(ip)) {
            *hash = h;
            return true;
        }
        if (!mod_in_agent(ip))
            h ^= key_term(ip, pos++);
    }
    return false;
}

/* Learns where cap_stack's own return address lies relative to its stack
 * pointer: the first slot of every fast walk. */
static __attribute__((noinline)) void learn_first_slot(struct thread_walk *w, uintptr_t sp, uintptr_t ra)
{
    unw_context_t uc;
    unw_cursor_t c;
    unw_getcontext(&uc);
    if (unw_init_local(&c, &uc) < 0)
        return;
    /* Step out of this function to cap_stack, then out of cap_stack. */
    for (int n = 0; n < 2; n++)
        if (unw_step(&c) <= 0)
            return;
    unw_word_t ip, csp;
    if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || unw_get_reg(&c, UNW_REG_SP, &csp) < 0 || ip != ra)
        return;
    uintptr_t slot = (uintptr_t)csp - 8;
    if (slot > sp && slot - sp < (64u << 10) && *(const uintptr_t *)slot == ra)
        w->first_off = (int32_t)(slot - sp);
}

__attribute__((noinline)) uint32_t cap_stack(void)
{
    struct raw_stack rs;
    uint32_t nframes;
    uint64_t key, native;
    bool short_key = false, complete = false;
    uintptr_t sp = current_sp();
    rs.npy = pf_walk(rs.py, CAP_MAX_PYTHON);
    /* In a signal handler the walk cannot cross the kernel's trampoline, and
     * a thread's first walk asks pthread for its stack (not signal-safe). */
    struct thread_walk *w = (!cap_exact_stacks && !cap_in_signal && rs.npy > 0) ? thread_walk() : NULL;
    if (w) {
        if (!w->first_off)
            learn_first_slot(w, sp, (uintptr_t)__builtin_return_address(0));
        /* Learning goes through libunwind's step-by-step path, which is
         * slow (it masks signals around its caches): after a miss, only one
         * walk in 64 learns, the others take the short unwind below. */
        bool ok = fast_walk(w, sp, &native);
        if (!ok && (w->misses++ & 63) == 0)
            ok = slow_walk(w, sp, &native);
        if (ok) {
            key = hash_python(&rs, native);
            short_key = true;
            rs.npcs = rs.first = 0; /* not unwound: intern() unwinds if the key is new */
        }
    }
    if (!cap_exact_stacks && rs.npy > 0 && !short_key) {
        take_native(&rs, CAP_SHORT_NATIVE);
        complete = rs.npcs < CAP_SHORT_NATIVE;
        int eval = innermost_eval(&rs);
        if (eval < 0 && !complete) {
            /* Deep C below the interpreter (a dealloc chain, an encoder):
             * unwind further, but still key on the short prefix. */
            take_native(&rs, CAP_MAX_NATIVE);
            complete = true;
            eval = innermost_eval(&rs);
        }
        if (eval >= 0) {
            key = hash_short_key(&rs, eval);
            short_key = true;
        }
    }
    if (!short_key) {
        if (!complete)
            take_native(&rs, CAP_MAX_NATIVE);
        complete = true;
        key = hash_stack(&rs, &nframes);
        if (!nframes)
            return 0;
    }
    uint32_t id = memo_get(key);
    if (!id) {
        id = intern(key, &rs, !complete);
        memo_put(key, id);
    }
    return id;
}

void cap_thread_end(void)
{
    thr_unmap((void **)&memo, sizeof *memo);
    thr_unmap((void **)&line_memo, sizeof *line_memo);
    thr_unmap((void **)&walk, sizeof *walk);
}
