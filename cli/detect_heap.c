/* Heap errors: the agent finds them (agent/heap.c) and journals an ERROR
 * record at the point of detection; this turns each into a finding with the
 * block's history from the replay. */
#include "detect.h"
#include "history.h"

#include <string.h>

#include "symbolize.h"

static enum fd_kind kind_of(uint32_t error)
{
    switch (error) {
    case JN_ERR_USE_AFTER_FREE: return FD_USE_AFTER_FREE;
    case JN_ERR_DOUBLE_FREE: return FD_DOUBLE_FREE;
    case JN_ERR_INVALID_FREE: return FD_INVALID_FREE;
    case JN_ERR_OVERFLOW: return FD_HEAP_BUFFER_OVERFLOW;
    case JN_ERR_UNDERFLOW: return FD_HEAP_BUFFER_UNDERFLOW;
    case JN_ERR_UNINIT: return FD_UNINITIALIZED_FIELD;
    default: return FD_ALLOCATOR_MISMATCH;
    }
}

static const char *access_name(uint32_t a)
{
    return a == JN_ACCESS_READ ? "read" : a == JN_ACCESS_WRITE ? "write" : "unknown";
}

/* "a freed 'Widget' object of 56 bytes" / "a live block of 100 bytes" */
static const char *what(struct arena *a, const struct fd_block *b)
{
    if (!b->present)
        return "memory lifeline never saw allocated";
    const char *thing = b->type ? arena_printf(a, "'%s' object", b->type) : "block";
    return arena_printf(a, "a %s %s of %llu bytes (%s domain)", b->state, thing, (unsigned long long)b->size,
                        b->domain);
}

static void summarize(struct arena *a, struct fd_finding *f, const struct jn_record *r)
{
    const struct fd_block *b = &f->block;
    bool later = r->u.error.caught == JN_CAUGHT_LATER;
    const char *api = jn_api_name(r->api), *other = jn_api_name(r->u.error.other_api);
    long long off = (long long)r->u.error.offset;
    switch (r->u.error.error) {
    case JN_ERR_USE_AFTER_FREE:
        if (later)
            f->summary = arena_printf(a, "write at offset %lld of %s, found later (when the block left quarantine "
                                         "or at exit)", off, what(a, b));
        else if (r->api == r->u.error.other_api && r->u.error.access != JN_ACCESS_UNKNOWN)
            f->summary = arena_printf(a, "%s at offset %lld of %s, caught at the access",
                                      access_name(r->u.error.access), off, what(a, b));
        else
            f->summary = arena_printf(a, "%s() of %s", api, what(a, b));
        break;
    case JN_ERR_DOUBLE_FREE:
        f->summary = arena_printf(a, "%s() of %s, already freed by %s()", api, what(a, b), other);
        break;
    case JN_ERR_INVALID_FREE:
        f->summary = b->present ? arena_printf(a, "%s() of an address %lld bytes inside %s", api,
                                               (long long)b->offset, what(a, b))
                                : arena_printf(a, "%s() of 0x%llx, which no allocator of lifeline's handed out", api,
                                               (unsigned long long)r->addr);
        break;
    case JN_ERR_OVERFLOW:
        f->summary = arena_printf(a, "%s at offset %lld, %lld bytes past the end of %s, %s%s%s",
                                  access_name(r->u.error.access), off, off - (long long)b->size, what(a, b),
                                  later ? "found at " : "caught at the access", later ? api : "", later ? "()" : "");
        break;
    case JN_ERR_UNDERFLOW:
        f->summary = arena_printf(a, "%s at offset %lld, %lld bytes before the start of %s, %s%s%s",
                                  access_name(r->u.error.access), off, -off, what(a, b),
                                  later ? "found at " : "caught at the access", later ? api : "", later ? "()" : "");
        break;
    default:
        f->summary = arena_printf(a, "%s() of %s that %s() allocated", api, what(a, b), other);
        break;
    }
}

static void add_details(struct fd_finding *f, const struct jn_record *r)
{
    const char *caught = r->u.error.caught == JN_CAUGHT_LATER ? "later" : "at-access";
    switch (r->u.error.error) {
    case JN_ERR_USE_AFTER_FREE:
        fd_detail_str(f, "access", access_name(r->u.error.access));
        fd_detail_str(f, "caught", caught);
        fd_detail_int(f, "offset", r->u.error.offset);
        break;
    case JN_ERR_OVERFLOW:
        fd_detail_int(f, "offset", r->u.error.offset - (int64_t)f->block.size);
        fd_detail_str(f, "access", access_name(r->u.error.access));
        fd_detail_str(f, "caught", caught);
        break;
    case JN_ERR_UNDERFLOW:
        fd_detail_int(f, "offset", -r->u.error.offset);
        fd_detail_str(f, "access", access_name(r->u.error.access));
        fd_detail_str(f, "caught", caught);
        break;
    case JN_ERR_MISMATCH:
        fd_detail_str(f, "alloc_api", jn_api_name(r->u.error.other_api));
        fd_detail_str(f, "free_api", jn_api_name(r->api));
        break;
    case JN_ERR_DOUBLE_FREE:
        fd_detail_str(f, "free_api", jn_api_name(r->api));
        fd_detail_str(f, "first_free_api", jn_api_name(r->u.error.other_api));
        break;
    default:
        fd_detail_str(f, "free_api", jn_api_name(r->api));
        break;
    }
}

/* The stacks each kind carries (report-v1.md, "Kinds"). */
static void add_stacks(struct rs_ctx *rs, struct fd_finding *f, const struct rp_error *e)
{
    const struct jn_record *r = &e->rec;
    bool later = r->u.error.caught == JN_CAUGHT_LATER;
    bool bounds = r->u.error.error == JN_ERR_OVERFLOW || r->u.error.error == JN_ERR_UNDERFLOW;
    switch (r->u.error.error) {
    case JN_ERR_USE_AFTER_FREE:
        dt_add_stack(rs, f, r->stack, later ? "detected" : "access");
        break;
    case JN_ERR_OVERFLOW:
    case JN_ERR_UNDERFLOW:
        if (!later)
            dt_add_stack(rs, f, r->stack, "access");
        break;
    default:
        dt_add_stack(rs, f, r->stack, "free");
        break;
    }
    if (e->known && e->freed)
        dt_add_stack(rs, f, e->block.free_stack, r->u.error.error == JN_ERR_DOUBLE_FREE ? "first_free" : "free");
    if (e->known)
        dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    if (bounds && later)
        dt_add_stack(rs, f, r->stack, "detected");
}

/* An object word never written: named from the extension's DWARF when it
 * has it. A word that the DWARF shows to be padding is no finding. */
static void uninitialized(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    const struct jn_record *r = &e->rec;
    struct arena *a = &rep->arena;
    struct jn_str tname = {"", 0};
    char field[256];
    jr_type(j, r->u.error.type, &tname);
    const char *type = arena_strndup(a, tname.ptr, tname.len);
    const char *dot = strrchr(type, '.');
    int known = sym_struct_member(rs->sym, r->u.error.type_addr, r->u.error.aux, dot ? dot + 1 : type,
                                  (uint64_t)r->u.error.offset, field, sizeof field);
    if (known == 0)
        return;
    if (known < 0) {
        /* Without the struct's layout the word may be padding: no finding,
         * a note on how to get one. */
        fd_note(rep, arena_printf(a, "a '%s' object had a word never written (offset %lld), but its extension has "
                                     "no debug information to tell a field from padding; rebuild it with -g to "
                                     "check", type, (long long)r->u.error.offset));
        return;
    }
    struct fd_finding *f = fd_add(rep, FD_UNINITIALIZED_FIELD);
    /* A field that one kind of object never needs (a union's other arm,
     * ctypes' CArgObject.size for most tags) stays unwritten on purpose:
     * reading it would be the bug, which this cannot see. */
    f->error = false;
    dt_thread(f, j, a, r->u.error.tid);
    if (e->known) {
        dt_block(rs, &e->block, false, r->addr + (uint64_t)r->u.error.offset, &f->block);
        f->block.alloc.name = f->block.free.name = NULL;
        f->block.type = type;
        f->block.offset = r->u.error.offset;
        dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    }
    dt_add_stack(rs, f, r->stack, "detected");
    fd_detail_int(f, "offset", r->u.error.offset);
    fd_detail_int(f, "size", 8);
    fd_detail_str(f, "field", arena_strndup(a, field, strlen(field)));
    f->summary = arena_printf(a, "field '%s' (offset %lld) of a '%s' object was never written between its "
                                 "allocation and its free", field, (long long)r->u.error.offset, type);
}

/* Fills a GC finding's block: the object's block as it stood (live), its
 * type from the error record; `at` is the address the finding is about. */
static void gc_block(struct rs_ctx *rs, struct fd_finding *f, const struct rp_error *e, const char *type, uint64_t at)
{
    if (!e->known)
        return;
    dt_block(rs, &e->block, e->freed, at, &f->block);
    f->block.alloc.name = f->block.free.name = NULL;
    if (type)
        f->block.type = type;
}

/* " field 'second' (offset 24)" when the extension's DWARF names the
 * reference field at offset, else " the reference at offset 24". */
static const char *gc_field(struct fd_finding *f, struct rs_ctx *rs, const struct jn_record *r, const char *type)
{
    char field[256];
    const char *dot = type ? strrchr(type, '.') : NULL;
    int known = type ? sym_struct_member(rs->sym, r->u.error.type_addr, r->u.error.aux, dot ? dot + 1 : type,
                                         (uint64_t)r->u.error.offset, field, sizeof field)
                     : -1;
    if (known <= 0)
        return arena_printf(rs->arena, "the reference at offset %lld", (long long)r->u.error.offset);
    fd_detail_str(f, "field", arena_strndup(rs->arena, field, strlen(field)));
    return arena_printf(rs->arena, "field '%s' (offset %lld)", field, (long long)r->u.error.offset);
}

/* PyObject_GC_Track of an object whose tp_traverse visits a reference that
 * still held the new-memory pattern (agent/boundary.c). The error's
 * other_addr is the object, offset the reference's offset in it. */
static void gc_tracked_uninit(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    const struct jn_record *r = &e->rec;
    struct arena *a = &rep->arena;
    const char *type = dt_type_name(a, j, r->u.error.type);
    struct fd_finding *f = fd_add(rep, FD_GC_TRACKED_UNINITIALIZED);
    dt_thread(f, j, a, r->u.error.tid);
    gc_block(rs, f, e, type, r->u.error.other_addr + (uint64_t)r->u.error.offset);
    dt_add_stack(rs, f, r->stack, "track");
    if (e->known)
        dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    fd_detail_int(f, "offset", r->u.error.offset);
    if (e->known)
        hs_attach(rs, &e->block, e->freed, &e->history, f);
    const char *field = gc_field(f, rs, r, type);
    f->summary = arena_printf(a, "PyObject_GC_Track() of a '%s' object whose tp_traverse visits %s, never written "
                                 "since the object was allocated: the collector would follow a garbage pointer",
                              type ? type : "?", field);
}

/* PyObject_GC_Del of an object the collector still tracks: its tp_dealloc
 * did not call PyObject_GC_UnTrack first (agent/boundary.c). */
static void gc_freed_tracked(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    const struct jn_record *r = &e->rec;
    struct arena *a = &rep->arena;
    const char *type = dt_type_name(a, j, r->u.error.type);
    struct fd_finding *f = fd_add(rep, FD_GC_FREED_WHILE_TRACKED);
    dt_thread(f, j, a, r->u.error.tid);
    gc_block(rs, f, e, type, r->u.error.other_addr);
    dt_add_stack(rs, f, r->stack, "free");
    if (e->known)
        dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    fd_detail_str(f, "free_api", "PyObject_GC_Del");
    if (e->known)
        hs_attach(rs, &e->block, e->freed, &e->history, f);
    f->summary = arena_printf(a, "PyObject_GC_Del() of a '%s' object that the garbage collector still tracks: its "
                                 "deallocator did not call PyObject_GC_UnTrack() first, so a collection during "
                                 "the deallocation could visit a half-destroyed object", type ? type : "?");
}

/* The stack of a finding named `name`, or NULL. */
static const struct fd_stack *stack_named(const struct fd_finding *f, const char *name)
{
    for (int i = 0; i < f->nstacks; i++)
        if (!strcmp(f->stacks[i].name, name))
            return &f->stacks[i];
    return NULL;
}

/* Borrow and steal events on the block of a use-after-free, double or
 * invalid free: stacks, details and a clause of the summary. */
static void ownership(struct rs_ctx *rs, struct fd_finding *f, const struct rp_error *e)
{
    uint32_t err = e->rec.u.error.error;
    if (!e->known || (err != JN_ERR_USE_AFTER_FREE && err != JN_ERR_DOUBLE_FREE && err != JN_ERR_INVALID_FREE))
        return;
    const struct fd_stack *free = stack_named(f, err == JN_ERR_DOUBLE_FREE ? "first_free" : "free");
    const char *clause = dt_ownership(rs, &e->block, e->freed ? free : NULL, f);
    if (*clause)
        f->summary = arena_printf(rs->arena, "%s%s", f->summary, clause);
}

static void one_error(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    if (e->rec.u.error.error == JN_ERR_UNINIT) {
        uninitialized(rep, j, rs, e);
        return;
    }
    if (e->rec.u.error.error == JN_ERR_GC_TRACKED_UNINIT && e->rec.u.error.caught == JN_CAUGHT_LATER) {
        dt_gc_error(rep, j, rs, e); /* found at a collection, not at the track call */
        return;
    }
    if (e->rec.u.error.error == JN_ERR_GC_TRACKED_UNINIT) {
        gc_tracked_uninit(rep, j, rs, e);
        return;
    }
    if (e->rec.u.error.error == JN_ERR_GC_FREED_TRACKED) {
        gc_freed_tracked(rep, j, rs, e);
        return;
    }
    if (e->rec.u.error.error >= JN_ERR_GC_UNTRAVERSED && e->rec.u.error.error <= JN_ERR_REFCOUNT_LOW) {
        dt_gc_error(rep, j, rs, e);
        return;
    }
    struct fd_finding *f = fd_add(rep, kind_of(e->rec.u.error.error));
    dt_thread(f, j, &rep->arena, e->rec.u.error.tid);
    if (e->known) {
        dt_block(rs, &e->block, e->freed, e->rec.addr, &f->block);
        f->block.alloc.name = f->block.free.name = NULL; /* the stacks go in `stacks` */
        f->block.offset = e->rec.u.error.error == JN_ERR_INVALID_FREE ? (int64_t)(e->rec.addr - e->block.addr)
                                                                       : e->rec.u.error.offset;
    }
    summarize(&rep->arena, f, &e->rec);
    add_details(f, &e->rec);
    add_stacks(rs, f, e);
    ownership(rs, f, e);
    if (e->known) {
        hs_attach(rs, &e->block, e->freed, &e->history, f);
        f->summary = arena_printf(rs->arena, "%s%s%s", f->summary, hs_release_clause(rs->arena, f),
                                  hs_balance_clause(rs->arena, f));
    }
}

void dt_heap(struct fd_report *rep, struct jr_journal *j, const struct rp_state *s, struct rs_ctx *rs)
{
    for (int i = 0; i < s->nerrors; i++)
        one_error(rep, j, rs, &s->errors[i]);
}
