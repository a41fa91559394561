#include "capture.h"

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

static void journal_stack(uint32_t id, const struct raw_stack *rs, uint32_t nframes)
{
    uint8_t rec[16 + (CAP_MAX_NATIVE + CAP_MAX_PYTHON) * 16];
    uint64_t pc_state = 0;
    uint8_t *p = jn_put_stack_head(rec, id, nframes);
    FOR_EACH_FRAME(rs, { p = jn_put_stack_native(p, &pc_state, pc_); },
                   { p = jn_put_stack_python(p, code_id(f_->code), (uint32_t)pf_line(f_->code, f_->lasti)); });
    jw_write_record(rec, (size_t)(p - rec));
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
}

/* The index of the innermost evaluation-loop frame, or -1. */
static int innermost_eval(const struct raw_stack *rs)
{
    for (int i = rs->first; i < rs->npcs; i++)
        if (pf_is_eval_pc((uintptr_t)rs->pcs[i]))
            return i;
    return -1;
}

/* The key of the fast path: the native frames up to the innermost
 * evaluation loop, and every Python frame. */
static uint64_t hash_short_key(const struct raw_stack *rs, int eval_index)
{
    uint64_t h = 0x243f6a8885a308d3ull;
    for (int i = rs->first; i <= eval_index; i++)
        h = tbl_mix(h ^ (uintptr_t)rs->pcs[i]);
    for (int i = 0; i < rs->npy; i++) {
        const struct pf_frame *f = &rs->py[i];
        h = tbl_mix(h ^ (uintptr_t)f->code ^ ((uint64_t)f->lasti << 48) ^ pf_code_identity(f->code) ^
                    (uint64_t)f->entry << 47);
    }
    return h ? h : 1;
}

/* A small per-thread memo of recent keys, so that the common case takes no
 * lock and touches no shared cache line. */
#define MEMO_SIZE 8192
struct memo {
    uint64_t key[MEMO_SIZE];
    uint32_t id[MEMO_SIZE];
};
static AGENT_TLS struct memo *memo;

static uint32_t memo_get(uint64_t key)
{
    if (!memo)
        return 0;
    size_t i = key & (MEMO_SIZE - 1);
    return memo->key[i] == key ? memo->id[i] : 0;
}

static void memo_put(uint64_t key, uint32_t id)
{
    if (!memo)
        memo = os_map(sizeof *memo);
    if (memo) {
        size_t i = key & (MEMO_SIZE - 1);
        memo->key[i] = key;
        memo->id[i] = id;
    }
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
    }
    return id;
}

bool cap_exact_stacks; /* set once at start from the options */

__attribute__((noinline)) uint32_t cap_stack(void)
{
    struct raw_stack rs;
    uint32_t nframes;
    uint64_t key;
    bool short_key = false, complete = false;
    rs.npy = pf_walk(rs.py, CAP_MAX_PYTHON);
    if (!cap_exact_stacks && rs.npy > 0) {
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
