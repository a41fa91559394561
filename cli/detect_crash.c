#include "detect.h"
#include "history.h"

#include <signal.h>
#include <string.h>

/* How far past a block's ends a fault still counts as about that block. */
#define NEAR_BYTES 64

static const struct {
    int signo;
    const char *name, *what;
} signals[] = {
    {SIGSEGV, "SIGSEGV", "segmentation fault"}, {SIGBUS, "SIGBUS", "bus error"},
    {SIGABRT, "SIGABRT", "abort"}, {SIGFPE, "SIGFPE", "arithmetic exception"},
    {SIGILL, "SIGILL", "illegal instruction"}, {SIGKILL, "SIGKILL", "killed"},
    {SIGTERM, "SIGTERM", "terminated"}, {SIGINT, "SIGINT", "interrupted"},
    {SIGQUIT, "SIGQUIT", "quit"}, {SIGPIPE, "SIGPIPE", "broken pipe"},
    {SIGHUP, "SIGHUP", "hangup"}, {SIGALRM, "SIGALRM", "alarm"},
    {SIGTRAP, "SIGTRAP", "trace trap"}, {SIGSYS, "SIGSYS", "bad system call"},
    {SIGXCPU, "SIGXCPU", "CPU time limit"}, {SIGUSR1, "SIGUSR1", "user signal 1"},
    {SIGUSR2, "SIGUSR2", "user signal 2"},
};

const char *dt_signal_name(struct arena *a, int signo)
{
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
        if (signals[i].signo == signo)
            return signals[i].name;
    return arena_printf(a, "signal %d", signo);
}

static const char *signal_what(int signo)
{
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++)
        if (signals[i].signo == signo)
            return signals[i].what;
    return "fatal signal";
}

void dt_thread(struct fd_finding *f, struct jr_journal *j, struct arena *a, uint32_t tid)
{
    struct jn_str name;
    bool main = false;
    f->tid = tid;
    if (jr_thread(j, tid, &name, &main)) {
        f->thread_name = arena_strndup(a, name.ptr, name.len);
        f->thread_main = main;
    }
}

void dt_add_stack(struct rs_ctx *rs, struct fd_finding *f, uint32_t id, const char *name)
{
    if (f->nstacks < FD_MAX_STACKS)
        rs_stack(rs, id, name, &f->stacks[f->nstacks++]);
}

const char *dt_type_name(struct arena *a, struct jr_journal *j, uint32_t id)
{
    struct jn_str name;
    return id && jr_type(j, id, &name) ? arena_strndup(a, name.ptr, name.len) : NULL;
}

void dt_block(struct rs_ctx *rs, const struct rp_block *b, bool freed, uint64_t access, struct fd_block *out)
{
    struct jn_str type;
    memset(out, 0, sizeof *out);
    out->present = true;
    out->address = b->addr;
    out->size = b->size;
    out->domain = jn_domain_name(jn_api_domain(b->alloc_api));
    out->offset = (int64_t)(access - b->addr);
    out->state = freed ? "freed" : "live";
    if (b->type && jr_type(rs->journal, b->type, &type))
        out->type = arena_strndup(rs->arena, type.ptr, type.len);
    rs_stack(rs, b->alloc_stack, "alloc", &out->alloc);
    if (freed)
        rs_stack(rs, b->free_stack, "free", &out->free);
}

/* "16 bytes inside a freed 'Widget' object of 56 bytes (obj domain)" */
static const char *describe_block(struct arena *a, const struct fd_block *b)
{
    const char *what = b->type ? arena_printf(a, "'%s' object", b->type) : "block";
    const char *where;
    if (b->offset < 0)
        where = arena_printf(a, "%lld bytes before", (long long)-b->offset);
    else if ((uint64_t)b->offset >= b->size)
        where = arena_printf(a, "%lld bytes past the end of", (long long)((uint64_t)b->offset - b->size));
    else
        where = arena_printf(a, "%lld bytes inside", (long long)b->offset);
    return arena_printf(a, "%s a %s %s of %llu bytes (%s domain)", where, b->state, what,
                        (unsigned long long)b->size, b->domain);
}

/* What agent/heap.c writes over freed blocks, as a machine word. */
#define POISON_WORD 0xddddddddddddddddull

/* The first register that points into a block freed recently, or -1. A
 * fault through a dangling pointer often has the pointer in a register even
 * when the faulting address (read from the freed, poisoned block) is not
 * near any block. rsp and rbp are skipped: they point at the stack. */
static int register_into_freed(const struct rp_state *s, const struct jn_record *cr, struct rp_block *out)
{
    for (unsigned i = 0; i < cr->u.crash.nregs; i++) {
        const char *name = jn_reg_name(i);
        bool freed = false;
        if (!strcmp(name, "rsp") || !strcmp(name, "rbp") || cr->u.crash.regs[i] < 4096)
            continue;
        if (rp_find(s, cr->u.crash.regs[i], 0, out, &freed) && freed)
            return (int)i;
    }
    return -1;
}

/* Same for the callee-saved registers of the faulting frame's callers, as
 * the unwinder restored them: where a caller keeps the object it is working
 * on while it calls further. Innermost caller first. */
static int saved_into_freed(const struct rp_state *s, const struct jn_record *cr, struct rp_block *out)
{
    for (uint32_t i = 0; i < cr->u.crash.nsaved; i++) {
        bool freed = false;
        uint64_t v = cr->u.crash.saved[i].value;
        if (v >= 4096 && rp_find(s, v, 0, out, &freed) && freed)
            return (int)i;
    }
    return -1;
}

static int register_holding(const struct jn_record *cr, uint64_t value)
{
    for (unsigned i = 0; i < cr->u.crash.nregs; i++)
        if (cr->u.crash.regs[i] == value)
            return (int)i;
    return -1;
}

void dt_crash(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs)
{
    struct jn_record cr;
    if (!jr_crash(j, &cr))
        return;
    struct arena *a = &rep->arena;
    int signo = (int)cr.u.crash.signo;
    uint64_t fault = cr.u.crash.fault_addr;
    /* A signal sent rather than raised by a fault (si_code <= 0: kill(), or
     * another handler raising it again) carries no fault address. */
    bool has_addr = (signo == SIGSEGV || signo == SIGBUS) && cr.u.crash.code > 0;
    struct fd_finding *f = fd_add(rep, FD_CRASH);
    dt_thread(f, j, a, cr.u.crash.tid);
    rs_crash_stack(rs, &cr, &f->stacks[f->nstacks++]);
    fd_detail_str(f, "signal", dt_signal_name(a, signo));
    fd_detail_str(f, "fault_address", has_addr ? arena_printf(a, "0x%llx", (unsigned long long)fault) : NULL);

    struct rp_block b;
    bool freed = false;
    const char *where = "";
    int reg = -1;
    if (has_addr && rp_find(s, fault, NEAR_BYTES, &b, &freed)) {
        dt_block(rs, &b, freed, fault, &f->block);
        where = arena_printf(a, ": the address is %s", describe_block(a, &f->block));
    } else if ((reg = register_into_freed(s, &cr, &b)) >= 0) {
        uint64_t v = cr.u.crash.regs[reg];
        dt_block(rs, &b, true, v, &f->block);
        fd_detail_str(f, "register", jn_reg_name((unsigned)reg));
        where = arena_printf(a, ": register %s (0x%llx) points %s", jn_reg_name((unsigned)reg),
                             (unsigned long long)v, describe_block(a, &f->block));
    } else if ((reg = saved_into_freed(s, &cr, &b)) >= 0) {
        const struct jn_saved_reg *sr = &cr.u.crash.saved[reg];
        dt_block(rs, &b, true, sr->value, &f->block);
        fd_detail_str(f, "register", jn_reg_name(sr->reg));
        fd_detail_int(f, "frame", sr->frame);
        where = arena_printf(a, ": register %s of frame #%u (0x%llx) points %s", jn_reg_name(sr->reg),
                             sr->frame, (unsigned long long)sr->value, describe_block(a, &f->block));
    }
    if (f->block.present) {
        where = arena_printf(a, "%s%s", where, dt_ownership(rs, &b, f->block.free.name ? &f->block.free : NULL, f));
        struct rp_history h;
        bool was_freed = !strcmp(f->block.state, "freed");
        if (rp_history_of(s, &b, was_freed, &h)) {
            hs_attach(rs, &b, was_freed, &h, f);
            where = arena_printf(a, "%s%s%s", where, hs_release_clause(a, f), hs_balance_clause(a, f));
        }
    }
    int poisoned = register_holding(&cr, POISON_WORD);
    if (poisoned >= 0)
        fd_detail_str(f, "freed_pattern_in", jn_reg_name((unsigned)poisoned));
    fd_detail_block(f, "nearest_block", &f->block);
    const char *pattern = poisoned < 0 ? "" : arena_printf(a, "; %s holds 0xdddd..., the pattern of freed memory: "
                                                           "a value was read from a freed block",
                                                           jn_reg_name((unsigned)poisoned));
    if (has_addr)
        f->summary = arena_printf(a, "%s (%s) at address 0x%llx%s%s", dt_signal_name(a, signo),
                                  signal_what(signo), (unsigned long long)fault, where, pattern);
    else
        f->summary = arena_printf(a, "%s (%s)%s%s", dt_signal_name(a, signo), signal_what(signo), where, pattern);
}
