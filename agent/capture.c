#include "capture.h"

#include <stdbool.h>
#include <string.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../core/journal.h"
#include "../core/table.h"
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

static void take_raw(struct raw_stack *rs)
{
    rs->npcs = unw_backtrace(rs->pcs, CAP_MAX_NATIVE);
    if (rs->npcs < 0)
        rs->npcs = 0;
    rs->first = 0;
    while (rs->first < rs->npcs && mod_in_agent((uintptr_t)rs->pcs[rs->first]))
        rs->first++;
    rs->npy = pf_walk(rs->py, CAP_MAX_PYTHON);
}

__attribute__((noinline)) uint32_t cap_stack(void)
{
    struct raw_stack rs;
    uint32_t nframes;
    take_raw(&rs);
    uint64_t h = hash_stack(&rs, &nframes);
    if (!nframes)
        return 0;
    bool inserted;
    spin_lock(&cap_lock);
    struct stack_entry *e = tbl_insert(&stacks, h, &inserted);
    uint32_t id = 0;
    if (e && inserted)
        e->id = next_stack_id++;
    if (e)
        id = e->id;
    spin_unlock(&cap_lock);
    if (e && inserted)
        journal_stack(id, &rs, nframes);
    return id;
}
