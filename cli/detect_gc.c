/* GC and reference-count invariants: the agent checks them (agent/gccheck.c)
 * and journals an ERROR record for each violation; this turns each into a
 * finding with the blocks' histories from the replay. */
#include "detect.h"
#include "history.h"

#include <string.h>

#include "symbolize.h"

/* The name of type id `id` from the journal, or NULL. */
static const char *type_name(struct rs_ctx *rs, uint32_t id)
{
    return dt_type_name(rs->arena, rs->journal, id);
}

/* The holder's block, without stacks in it (they go in `stacks`). */
static void holder_block(struct rs_ctx *rs, const struct rp_error *e, struct fd_finding *f)
{
    if (!e->known)
        return;
    dt_block(rs, &e->block, false, e->rec.addr, &f->block);
    f->block.alloc.name = f->block.free.name = NULL;
    f->block.type = type_name(rs, e->rec.u.error.type);
    f->block.offset = e->rec.u.error.offset;
}

/* The name of the field at `offset` of the holder's type, from the
 * extension's DWARF; NULL when unknown. */
static const char *field_name(struct rs_ctx *rs, const struct jn_record *r, const char *type)
{
    char field[256];
    if (!type || r->u.error.offset < 0)
        return NULL;
    const char *dot = strrchr(type, '.');
    if (sym_struct_member(rs->sym, r->u.error.type_addr, r->u.error.aux, dot ? dot + 1 : type,
                          (uint64_t)r->u.error.offset, field, sizeof field) <= 0)
        return NULL;
    return arena_strndup(rs->arena, field, strlen(field));
}

static void untraversed(struct fd_report *rep, struct rs_ctx *rs, const struct rp_error *e, struct fd_finding *f)
{
    struct arena *a = &rep->arena;
    const struct jn_record *r = &e->rec;
    const char *type = f->block.type ? f->block.type : "?";
    const char *field = field_name(rs, r, f->block.type);
    const char *referent = type_name(rs, r->u.error.other_type);
    dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    dt_add_stack(rs, f, r->stack, "detected");
    fd_detail_int(f, "offset", r->u.error.offset);
    fd_detail_str(f, "field", field);
    fd_detail_str(f, "referent_type", referent);
    const char *what = field ? arena_printf(a, "field '%s' (offset %lld)", field, (long long)r->u.error.offset)
                             : arena_printf(a, "the word at offset %lld", (long long)r->u.error.offset);
    f->summary = arena_printf(a, "%s of a '%s' object refers to a live '%s' object that the type's tp_traverse "
                                 "does not visit: the collector cannot see cycles through it",
                              what, type, referent ? referent : "?");
}

/* A GC object whose traversal visits a freed object. When an extension
 * had borrowed or handed over the freed object at the C-API boundary, the
 * summary says so, as a crash's or a use-after-free's does (the collector
 * may reach the object before anything else touches it). */
static void dangling(struct fd_report *rep, struct rs_ctx *rs, const struct rp_error *e, struct fd_finding *f)
{
    struct arena *a = &rep->arena;
    const char *referent = NULL, *ownership = "";
    if (e->other_known) {
        referent = type_name(rs, e->other.type);
        int free_at = f->nstacks;
        dt_add_stack(rs, f, e->other.free_stack, "free");
        const struct fd_stack *free = f->nstacks > free_at ? &f->stacks[free_at] : NULL;
        struct fd_block *ob = arena_alloc(a, sizeof *ob);
        dt_block(rs, &e->other, e->other_freed, e->other.addr, ob);
        fd_detail_block(f, "referent", ob);
        ownership = dt_ownership(rs, &e->other, free, f);
    }
    dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    dt_add_stack(rs, f, e->rec.stack, "detected");
    f->summary = arena_printf(a, "the tp_traverse of a '%s' object visits a %s%s%sobject that was already freed: "
                                 "the object holds a reference it does not own%s",
                              f->block.type ? f->block.type : "?", referent ? "'" : "", referent ? referent : "",
                              referent ? "' " : "", ownership);
}

static void referrers(struct fd_report *rep, struct rs_ctx *rs, const struct rp_error *e, struct fd_finding *f)
{
    struct fd_referrer *list = arena_alloc(&rep->arena, (size_t)(e->nreferrers ? e->nreferrers : 1) * sizeof *list);
    for (int i = 0; i < e->nreferrers; i++) {
        const struct rp_referrer *x = &e->referrers[i];
        memset(&list[i], 0, sizeof list[i]);
        list[i].type = type_name(rs, x->type);
        list[i].address = x->block.addr;
        list[i].offset = x->offset;
        if (x->known)
            rs_stack(rs, x->block.alloc_stack, "alloc", &list[i].alloc);
    }
    fd_detail_referrers(f, "referrers", list, e->nreferrers);
}

static void refcount_low(struct fd_report *rep, struct rs_ctx *rs, const struct rp_error *e, struct fd_finding *f)
{
    const struct jn_record *r = &e->rec;
    f->block.offset = 0;
    dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    dt_add_stack(rs, f, r->stack, "detected");
    fd_detail_int(f, "refcount", (int64_t)r->u.error.aux);
    fd_detail_int(f, "references", (int64_t)r->u.error.other_addr);
    referrers(rep, rs, e, f);
    f->summary = arena_printf(&rep->arena, "a '%s' object is referenced from %llu places in live blocks but its "
                                           "reference count is %llu: someone stored a borrowed reference",
                              f->block.type ? f->block.type : "?", (unsigned long long)r->u.error.other_addr,
                              (unsigned long long)r->u.error.aux);
}

/* Found at a collection: a tracked object whose tp_traverse visited a
 * field still holding the new-memory pattern. */
static void tracked_uninitialized(struct fd_report *rep, struct rs_ctx *rs, const struct rp_error *e,
                                  struct fd_finding *f)
{
    const struct jn_record *r = &e->rec;
    const char *field = field_name(rs, r, f->block.type);
    dt_add_stack(rs, f, e->block.alloc_stack, "alloc");
    dt_add_stack(rs, f, r->stack, "detected");
    fd_detail_int(f, "offset", r->u.error.offset);
    fd_detail_str(f, "field", field);
    fd_detail_str(f, "caught", "later");
    f->summary = arena_printf(&rep->arena, "a tracked '%s' object has %s%s%s (offset %lld) never written since its "
                                           "allocation, and its tp_traverse hands it to the collector",
                              f->block.type ? f->block.type : "?", field ? "field '" : "a reference field",
                              field ? field : "", field ? "'" : "", (long long)r->u.error.offset);
}

void dt_gc_error(struct fd_report *rep, struct jr_journal *j, struct rs_ctx *rs, const struct rp_error *e)
{
    static const enum fd_kind kinds[] = {
        [JN_ERR_GC_UNTRAVERSED] = FD_GC_UNTRAVERSED_REFERENCE,
        [JN_ERR_GC_DANGLING] = FD_GC_DANGLING_REFERENCE,
        [JN_ERR_REFCOUNT_LOW] = FD_REFCOUNT_TOO_LOW,
        [JN_ERR_GC_TRACKED_UNINIT] = FD_GC_TRACKED_UNINITIALIZED,
    };
    uint32_t err = e->rec.u.error.error;
    struct fd_finding *f = fd_add(rep, kinds[err]);
    dt_thread(f, j, &rep->arena, e->rec.u.error.tid);
    holder_block(rs, e, f);
    if (err == JN_ERR_GC_UNTRAVERSED)
        untraversed(rep, rs, e, f);
    else if (err == JN_ERR_GC_DANGLING)
        dangling(rep, rs, e, f);
    else if (err == JN_ERR_GC_TRACKED_UNINIT)
        tracked_uninitialized(rep, rs, e, f);
    else
        refcount_low(rep, rs, e, f);
    if (e->known)
        hs_attach(rs, &e->block, e->freed, &e->history, f);
}
