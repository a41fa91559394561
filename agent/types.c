#include "types.h"

#include <dlfcn.h>
#include <string.h>

#include "../core/journal.h"
#include "../core/table.h"
#include "jwriter.h"
#include "live.h"
#include "modules.h"
#include "pyframes.h"
#include "../core/os.h"
#include "guard.h"
#include "guardpool.h"
#include "heap.h"
#include "spin.h"
#include "threads.h"

struct known_type {
    uint64_t addr;
    uint64_t name;   /* tp_name pointer when journaled: a reused address shows as a change */
    uint32_t id;
    uint32_t pad;
};

/* protected by ty_lock */
static int ty_lock;
static struct tbl ty_known;
static uint32_t ty_next_id = 1;

static uintptr_t type_type;   /* &PyType_Type; set once by ty_init */
static uintptr_t interpreter; /* the object that defines PyType_Type; set once by ty_init */
static void *interpreter_base; /* its load address (dladdr's dli_fbase); set once by ty_init */

#define AT(base, off, type) (*(type *)((const char *)(base) + (off)))

void ty_init(void)
{
    tbl_init(&ty_known, sizeof(struct known_type));
    type_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyType_Type");
    interpreter = mod_owner(type_type);
    Dl_info core;
    if (type_type && dladdr((void *)type_type, &core))
        interpreter_base = core.dli_fbase;
}

/* True if reading a type object's header at t cannot fault: static types
 * live in loaded objects' data, heap types in live GC blocks. */
static bool readable_type_candidate(uintptr_t t)
{
    const struct pyver_layout *L = pf_layout;
    struct live_info li;
    if (!t || (t & 7))
        return false;
    if (live_find(t - L->gc_head_size, &li))
        return li.size >= L->gc_head_size + L->type_flags + 8;
    return mod_in_data(t);
}

/* True if t is a type object: its own type is `type` or a metatype. */
static bool is_type_object(uintptr_t t)
{
    const struct pyver_layout *L = pf_layout;
    if (!readable_type_candidate(t))
        return false;
    uintptr_t meta = AT(t, L->ob_type, uintptr_t);
    if (meta == type_type)
        return true;
    return readable_type_candidate(meta) && AT(meta, L->ob_type, uintptr_t) != 0 &&
           (AT(meta, L->type_flags, unsigned long) & L->tpflags_type_subclass);
}

static void journal_type(uint32_t id, const char *name)
{
    uint8_t rec[300];
    uint8_t *p = jn_put_type_head(rec, id);
    p = jn_put_str(p, name, (uint32_t)strnlen(name, 256));
    jw_write_record(rec, (size_t)(p - rec));
}

/* Returns the id of type t, assigning one on first sight. */
static uint32_t type_id(uintptr_t t)
{
    const struct pyver_layout *L = pf_layout;
    uint64_t name = AT(t, L->type_name, uint64_t);
    bool inserted;
    spin_lock(&ty_lock);
    struct known_type *k = tbl_insert(&ty_known, t, &inserted);
    uint32_t id = 0;
    bool fresh = false;
    if (k && (inserted || k->name != name)) {
        k->name = name;
        k->id = ty_next_id++;
        fresh = true;
    }
    if (k)
        id = k->id;
    spin_unlock(&ty_lock);
    if (fresh)
        journal_type(id, name ? (const char *)name : "?");
    return id;
}

/* A per-thread memo of the types seen last: most frees are of a handful
 * of types, and the shared table is behind a lock. An entry is trusted
 * only while the type's name pointer is unchanged. */
#define TYPE_MEMO 64
struct type_memo {
    uintptr_t addr[TYPE_MEMO];
    uint64_t name[TYPE_MEMO];
    uint32_t id[TYPE_MEMO];
};
static AGENT_TLS struct type_memo *type_memo;

static size_t memo_slot(uintptr_t t)
{
    return (t >> 4) & (TYPE_MEMO - 1);
}

static bool known_type(uintptr_t t)
{
    spin_lock(&ty_lock);
    bool known = tbl_find(&ty_known, t) != NULL;
    spin_unlock(&ty_lock);
    return known;
}

/* A type object that dies must not be remembered: its address will be
 * reused. (Other threads' memos check the name pointer, which a new type
 * at the same address does not share.) */
static void forget_type(uintptr_t t)
{
    spin_lock(&ty_lock);
    tbl_remove(&ty_known, t, NULL);
    spin_unlock(&ty_lock);
    if (type_memo && type_memo->addr[memo_slot(t)] == t)
        type_memo->addr[memo_slot(t)] = 0;
}

/* Fills *out for the object at obj (of type t) in block. */
static void describe(uintptr_t obj, uintptr_t block, uintptr_t t, struct ty_object *out)
{
    const struct pyver_layout *L = pf_layout;
    if (!out)
        return;
    uintptr_t owner = mod_owner(t);
    out->type = t;
    out->basicsize = AT(t, L->type_basicsize, uint64_t);
    out->offset = obj - block;
    out->extension = owner && owner != interpreter;
    out->flags = AT(t, L->type_flags, unsigned long);
    out->gc = (out->flags & L->tpflags_have_gc) != 0;
}

uintptr_t ty_defined_at(const struct ty_object *o)
{
    const struct pyver_layout *L = pf_layout;
    if (!o->type || !(o->flags & L->tpflags_heaptype))
        return o->type;
    /* tp_dealloc first: a subclass inherits a traverse more often. */
    uintptr_t fns[2] = {AT(o->type, L->type_dealloc, uintptr_t), AT(o->type, L->type_traverse, uintptr_t)};
    for (int i = 0; i < 2; i++)
        if (fns[i] && ty_in_extension(fns[i]))
            return fns[i];
    return o->type;
}

bool ty_in_extension(uintptr_t fn)
{
    Dl_info info;
    return interpreter_base && !mod_in_agent(fn) && dladdr((void *)fn, &info) && info.dli_fbase != interpreter_base;
}

/* The bytes before the object that its type implies: PyGC_Head for GC
 * types, the managed dict pointers before that. */
static size_t preheader(unsigned long flags)
{
    const struct pyver_layout *L = pf_layout;
    return ((flags & L->tpflags_have_gc) ? L->gc_head_size : 0) +
           ((flags & L->tpflags_preheader) ? L->preheader_size : 0);
}

/* Tests one header position: an object at `offset` in the block whose
 * reference count is zero (a block being freed) or positive (a live block),
 * and whose type pointer is a type implying exactly this offset. */
enum state { LIVE, DYING, DEAD };

static uint32_t try_header(uintptr_t block, size_t offset, enum state state, struct ty_object *out)
{
    const struct pyver_layout *L = pf_layout;
    uintptr_t obj = block + offset;
    intptr_t refcnt = pyver_refcnt(L, obj);
    if (state == LIVE ? refcnt <= 0 : refcnt != 0)
        return 0;
    uintptr_t t = AT(obj, L->ob_type, uintptr_t);
    if (!t || (t & 7))
        return 0;
    struct type_memo *m = type_memo;
    size_t slot = memo_slot(t);
    if (m && m->addr[slot] == t && m->name[slot] == AT(t, L->type_name, uint64_t)) {
        if (preheader(AT(t, L->type_flags, unsigned long)) != offset)
            return 0;
        if (state == DYING && (AT(t, L->type_flags, unsigned long) & L->tpflags_type_subclass))
            forget_type(obj);
        describe(obj, block, t, out);
        return m->id[slot];
    }
    if (!known_type(t) && !is_type_object(t))
        return 0;
    if (preheader(AT(t, L->type_flags, unsigned long)) != offset)
        return 0;
    if (state == DYING && (AT(t, L->type_flags, unsigned long) & L->tpflags_type_subclass))
        forget_type(obj); /* the dying object is itself a type */
    uint32_t id = type_id(t);
    describe(obj, block, t, out);
    if (!m) {
        m = type_memo = os_map(sizeof *m);
        thr_arm();
    }
    if (m && id) {
        m->addr[slot] = t;
        m->name[slot] = AT(t, L->type_name, uint64_t);
        m->id[slot] = id;
    }
    return id;
}

static uint32_t of_block(uintptr_t block, uint64_t size, enum state live, struct ty_object *obj)
{
    const struct pyver_layout *L = pf_layout;
    if (!L || !type_type)
        return 0;
    size_t gc = L->gc_head_size, managed = gc + L->preheader_size;
    uint32_t id = 0;
    if (size >= gc + 16)
        id = try_header(block, gc, live, obj);
    if (!id && size >= managed + 16)
        id = try_header(block, managed, live, obj);
    if (!id && size >= 16)
        id = try_header(block, 0, live, obj);
    return id;
}

uint32_t ty_of_freed_block(uintptr_t block, uint64_t size, struct ty_object *obj)
{
    return of_block(block, size, DYING, obj);
}

uint32_t ty_of_live_block(uintptr_t block, uint64_t size, struct ty_object *obj)
{
    return of_block(block, size, LIVE, obj);
}

uintptr_t ty_block_of(uintptr_t o, struct live_info *li)
{
    const struct pyver_layout *L = pf_layout;
    size_t pre[3] = {L->gc_head_size, 0, L->gc_head_size + L->preheader_size};
    /* In sampling mode every recorded block is a pooled one: the others need
     * no lookup (the C-API boundary asks about every object it sees). */
    if (heap_sampling_only && !gp_contains((const void *)o))
        return 0;
    for (int i = 0; i < 3; i++)
        if (o >= pre[i] && live_find(o - pre[i], li) && li->size >= pre[i] + 16)
            return o - pre[i];
    return 0;
}

uint32_t ty_of_dead_block(uintptr_t block, uint64_t size, struct ty_object *obj)
{
    return of_block(block, size, DEAD, obj);
}

void ty_thread_end(void)
{
    thr_unmap((void **)&type_memo, sizeof *type_memo);
}
