#include "gccheck.h"

#include <dlfcn.h>
#include <string.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../core/table.h"
#include "../pyver/pyver.h"
#include "capi.h"
#include "guard.h"
#include "guardpool.h"
#include "heap.h"
#include "heapsnap.h"
#include "jwriter.h"
#include "live.h"
#include "modules.h"
#include "pyframes.h"
#include "record.h"
#include "types.h"
#include "world.h"

#define AT(base, off, type) (*(type *)((const char *)(base) + (off)))
#define PAT_NEW_WORD 0xbebebebebebebebeull
#define PAT_FREED_WORD 0xddddddddddddddddull
/* Visits remembered per object for the untraversed-reference check; an
 * object visiting more (a big container) is not checked for it. */
#define VISITS_MAX 512
/* Reports per kind and pass at most, and per type and offset once. */
#define REPORTS_PER_PASS 20
#define SEEN_MAX 4096
#define REFERRERS_MAX 8

typedef int (*visitproc)(void *obj, void *arg);
typedef int (*traverseproc)(void *self, visitproc visit, void *arg);

/* Set once by gck_init. */
static bool gck_ready;
/* A free-threaded build: no GC heads, no generation lists, no object fill
 * patterns. The tracked objects are walked with PyUnstable_GC_VisitObjects,
 * which stops the world around its walk; the checks that need the patterns
 * (gc-tracked-uninitialized, gc-dangling-reference) find nothing there and
 * are skipped. */
static bool free_threaded;
typedef int (*gc_visitor)(void *obj, void *arg);
static void (*visit_objects)(gc_visitor visit, void *arg);
static uintptr_t float_type, complex_type, bytearray_type;
/* The traverse functions of modules and dicts (a subclass inherits them). */
static uintptr_t module_traverse, dict_traverse;
static uint64_t type_object_size; /* PyType_Type's tp_basicsize: a heap type's own words */

/* protected by the GIL, or on a free-threaded build by the stop-the-world
 * every pass runs in: what was reported */
static struct seen {
    uintptr_t type;
    int64_t offset;
    uint32_t error;
} seen[SEEN_MAX];
static size_t nseen;
/* protected as seen: traverse function -> defined in an extension (1) or the core (2) */
static struct tbl traverse_origin;

bool gck_init(void)
{
    void *type_type = dlsym(RTLD_DEFAULT, "PyType_Type");
    if (!pf_layout || !type_type)
        return false;
    /* The GIL builds walk the generation lists through the GC heads, which a
     * free-threaded build does not have: its tracked objects are visited in
     * a stop-the-world instead (its collector walks mimalloc's heaps). */
    free_threaded = pf_layout->free_threaded;
    if (free_threaded) {
        visit_objects = (void (*)(gc_visitor, void *))dlsym(RTLD_DEFAULT, "PyUnstable_GC_VisitObjects");
        if (!visit_objects)
            return false;
    }
    float_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyFloat_Type");
    complex_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyComplex_Type");
    bytearray_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyByteArray_Type");
    void *module_type = dlsym(RTLD_DEFAULT, "PyModule_Type"), *dict_type = dlsym(RTLD_DEFAULT, "PyDict_Type");
    module_traverse = module_type ? AT(module_type, pf_layout->type_traverse, uintptr_t) : 0;
    dict_traverse = dict_type ? AT(dict_type, pf_layout->type_traverse, uintptr_t) : 0;
    type_object_size = AT(type_type, pf_layout->type_basicsize, uint64_t);
    tbl_init(&traverse_origin, 16);
    gck_ready = true;
    return true;
}

/* True if (type, offset, error) was reported already. */
static bool reported(uintptr_t type, int64_t offset, uint32_t error)
{
    for (size_t i = 0; i < nseen; i++)
        if (seen[i].type == type && seen[i].offset == offset && seen[i].error == error)
            return true;
    return false;
}

/* True the first time (type, offset, error) is met: each is reported once.
 * Once SEEN_MAX are remembered, nothing more is reported (rather than the
 * same problems again at every collection). */
static bool first_time(uintptr_t type, int64_t offset, uint32_t error)
{
    if (reported(type, offset, error))
        return false;
    if (nseen == SEEN_MAX)
        return false;
    seen[nseen++] = (struct seen){type, offset, error};
    return true;
}

/* True if a function of a type (its tp_traverse, its tp_dealloc) belongs
 * to an extension module, not to the interpreter: only extensions' types
 * are held to the checks that the interpreter's own types break on purpose
 * (their traverse skips borrowed fields: weak references, a frame's
 * globals, a type's name; their plain objects link to each other). */
static bool extension_code(uintptr_t fn)
{
    struct origin { uint64_t key, ext; } *o = tbl_find(&traverse_origin, fn);
    if (o)
        return o->ext == 1;
    bool ext = ty_in_extension(fn);
    bool inserted;
    o = tbl_insert(&traverse_origin, fn, &inserted);
    if (o)
        o->ext = ext ? 1 : 2;
    return ext;
}

/* ---- objects and blocks ------------------------------------------------ */

/* A live object: its block and what is known of it. */
struct object {
    uintptr_t obj, block;
    struct live_info li;
    struct ty_object ty;
    uint32_t type_id;
};

/* Finds the live object that starts at p (p is a PyObject pointer): a
 * live block holds it, and the type found there puts the object at p. */
static bool live_object_at(uintptr_t p, struct object *out)
{
    if (!p || (p & 15))
        return false;
    uintptr_t block = ty_block_of(p, &out->li);
    if (!block)
        return false;
    out->type_id = ty_of_live_block(block, out->li.size, &out->ty);
    if (!out->type_id || out->ty.offset != p - block)
        return false;
    out->obj = p;
    out->block = block;
    return true;
}

/* The block that held the object at p if it was freed and is still in
 * quarantine; 0 otherwise. */
static uintptr_t freed_object_block(uintptr_t p, uint8_t *free_api)
{
    const struct pyver_layout *L = pf_layout;
    size_t offs[3] = {L->gc_head_size, L->gc_head_size + L->preheader_size, 0};
    for (int i = 0; i < 3; i++)
        if (p > offs[i] && heap_recently_freed(p - offs[i], free_api))
            return p - offs[i];
    return 0;
}

/* The block of the freed object at v, or 0 if v is not known freed. Reading
 * the visited object is what the collector is about to do. A freed one in
 * quarantine holds the freed-memory pattern where its type was; its count
 * may have moved since (a stale pointer's Py_INCREF), so only the type word
 * is tested. A block of the guarded pool is not read (freed, its page is
 * inaccessible): the pool says whether it was freed. */
static uintptr_t freed_referent(uintptr_t v, uint8_t *free_api)
{
    if (gp_contains((const void *)v)) {
        struct gp_fault gf;
        if (!gp_explain(v, &gf) || !gf.freed)
            return 0;
        *free_api = gf.api; /* the pool keeps the allocating interface only */
        return (uintptr_t)gf.block;
    }
    if (AT(v, pf_layout->ob_type, uint64_t) != PAT_FREED_WORD)
        return 0;
    return freed_object_block(v, free_api);
}

static void report(enum jn_error e, const struct object *holder, int64_t offset, uintptr_t other, uint32_t other_type,
                   uint8_t other_api)
{
    struct jn_error_info info = {.api = holder->li.api, .other_api = other_api, .addr = holder->block,
                                 .offset = offset, .access = JN_ACCESS_UNKNOWN, .caught = JN_CAUGHT_LATER,
                                 .type = holder->type_id, .type_addr = ty_defined_at(&holder->ty),
                                 .aux = holder->ty.basicsize, .other_addr = other, .other_type = other_type};
    rec_error(e, &info);
}

/* ---- the per-object checks --------------------------------------------- */

struct visit_ctx {
    uintptr_t obj;          /* the object traversed */
    struct object holder;   /* what is known of it, looked up when needed */
    bool holder_known;
    uint64_t visits[VISITS_MAX];
    size_t n;
    bool overflow, uninitialized;
    size_t reports;
};

static int check_visit(void *obj, void *arg)
{
    struct visit_ctx *c = arg;
    uintptr_t v = (uintptr_t)obj;
    if (c->n < VISITS_MAX)
        c->visits[c->n++] = v;
    else
        c->overflow = true;
    if (v == PAT_NEW_WORD) {
        c->uninitialized = true;
        return 0;
    }
    /* No freed-memory pattern nor quarantine for objects on a free-threaded
     * build (docs/versions.md): a dangling reference cannot be told. */
    if (free_threaded)
        return 0;
    uint8_t free_api;
    uintptr_t freed = v && !(v & 7) ? freed_referent(v, &free_api) : 0;
    if (!freed)
        return 0;
    if (!c->holder_known && !live_object_at(c->obj, &c->holder))
        return 0;
    c->holder_known = true;
    if (first_time(c->holder.ty.type, -1, JN_ERR_GC_DANGLING)) {
        report(JN_ERR_GC_DANGLING, &c->holder, -1, freed, 0, free_api);
        c->reports++;
        /* The collector is about to follow that pointer into freed memory. */
        heap_stop();
    }
    return 0;
}

/* The offset in the object of its first word still holding the new-memory
 * pattern, or -1. */
static int64_t first_unwritten_word(const struct object *o)
{
    uint64_t end = o->li.size - o->ty.offset;
    for (uint64_t off = 16; off + 8 <= end; off += 8)
        if (AT(o->obj, off, uint64_t) == PAT_NEW_WORD)
            return (int64_t)off;
    return -1;
}

static bool visited(const struct visit_ctx *c, uintptr_t v)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->visits[i] == v)
            return true;
    return false;
}

/* Where the words an extension's tp_traverse answers for begin: after the
 * header, or, in a class whose metatype an extension defines, after the
 * type object's own words, which CPython's type_traverse covers and
 * deliberately leaves partly unvisited (tp_subclasses holds weak
 * references). Classes made by an extension are heap types since 3.13's
 * _ctypes, and so come from blocks lifeline checks. */
static uint64_t first_checked_word(const struct object *o)
{
    const struct pyver_layout *L = pf_layout;
    if ((o->ty.flags & L->tpflags_type_subclass) && type_object_size)
        return type_object_size;
    return L->ob_type;
}

/* ---- what a heap type and its module hold ----
 *
 * An extension's instances may keep borrowed pointers to objects their
 * module owns: _sqlite3's Connection keeps its module state's ten
 * exception classes so. Their tp_traverse rightly leaves them out: each
 * instance owns its heap type, the type owns its module, and the module its
 * state and its namespace, so those objects outlive the instance and no
 * cycle can hang on the pointer. Such a pointer is not reported. Held
 * counts: the GC objects the type's tp_traverse visits (its dict, bases,
 * MRO and module), those its module's traverse visits (its state, through
 * m_traverse, and its dict), and the values of the module's dict; not the
 * contents of other dicts (a registry in the state, whose entries come and
 * go). The type pointer itself is never excused: every instance must visit
 * it. Collected once per type and pass, and only when a type has a pointer
 * that would otherwise be reported; a set that overflows excuses nothing
 * beyond what it holds. */

#define HELD_TYPES 4
#define HELD_MAX 4096

struct held {
    uintptr_t type; /* 0: unused */
    size_t n;
    uintptr_t p[HELD_MAX];
};
/* protected as seen; emptied at the start of every pass (held_reset) */
static struct held held[HELD_TYPES];
static unsigned held_next;

static void held_reset(void)
{
    for (unsigned i = 0; i < HELD_TYPES; i++)
        held[i].type = 0;
}

/* The type of the GC object at p, or 0 for anything else: NULL, a
 * misaligned word, an object freed under its holder (a stale pointer the
 * gc-dangling-reference check reports; its type word is a fill pattern, or
 * its pool page is closed), an object that is not a GC object. Reads what
 * the collector reads of a visited object. */
static uintptr_t gc_object_type(uintptr_t p)
{
    const struct pyver_layout *L = pf_layout;
    uint8_t api;
    if (!p || (p & 7) || freed_referent(p, &api))
        return 0;
    uintptr_t type = AT(p, L->ob_type, uintptr_t);
    if (!type || !(AT(type, L->type_flags, unsigned long) & L->tpflags_have_gc))
        return 0;
    return type;
}

static int held_visit(void *obj, void *arg)
{
    struct held *h = arg;
    if (h->n < HELD_MAX && gc_object_type((uintptr_t)obj))
        h->p[h->n++] = (uintptr_t)obj;
    return 0;
}

static const struct held *held_by(uintptr_t type)
{
    for (unsigned i = 0; i < HELD_TYPES; i++)
        if (held[i].type == type)
            return &held[i];
    struct held *h = &held[held_next++ % HELD_TYPES];
    h->type = type;
    h->n = 0;
    /* The type's own traverse is its metatype's (type_traverse for most). */
    uintptr_t meta = AT(type, pf_layout->ob_type, uintptr_t);
    traverseproc trav = meta ? AT(meta, pf_layout->type_traverse, traverseproc) : NULL;
    if (trav)
        trav((void *)type, held_visit, h);
    size_t own = h->n;
    for (size_t i = 0; i < own && module_traverse; i++) {
        uintptr_t m = h->p[i], mtype = gc_object_type(m);
        if (!mtype || AT(mtype, pf_layout->type_traverse, uintptr_t) != module_traverse)
            continue;
        ((traverseproc)module_traverse)((void *)m, held_visit, h);
        uintptr_t dict = capi.PyModule_GetDict ? (uintptr_t)capi.PyModule_GetDict((capi_obj *)m) : 0;
        uintptr_t dtype = gc_object_type(dict);
        if (dtype && AT(dtype, pf_layout->type_traverse, uintptr_t) == dict_traverse)
            ((traverseproc)dict_traverse)((void *)dict, held_visit, h);
    }
    return h;
}

/* True if w is one of the objects the heap type holds (above). */
static bool held_by_heap_type(uintptr_t type, uintptr_t w)
{
    const struct held *h = held_by(type);
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i] == w)
            return true;
    return false;
}

/* Words of an extension's GC object that point to live GC objects its
 * tp_traverse did not visit. Skipped: the header's reference count, the
 * type pointer of a static type, the weak reference list (weak references
 * are not owned), a pointer to the object itself. */
static void check_untraversed(struct visit_ctx *c, const struct object *o)
{
    const struct pyver_layout *L = pf_layout;
    int64_t weaklist = AT(o->ty.type, L->type_weaklistoffset, int64_t);
    bool heap_type = (o->ty.flags & L->tpflags_heaptype) != 0;
    uint64_t end = o->li.size - o->ty.offset;
    for (uint64_t off = first_checked_word(o); off + 8 <= end && c->reports < REPORTS_PER_PASS; off += 8) {
        if ((off == L->ob_type && !heap_type) || (weaklist > 0 && off == (uint64_t)weaklist))
            continue;
        uintptr_t w = AT(o->obj, off, uintptr_t);
        struct object ref;
        /* A pointer to itself is not a reference the collector needs (Cython's
         * functions keep one in m_self without owning it). */
        if (!w || (w & 15) || w == o->obj || visited(c, w) || !live_object_at(w, &ref) || !ref.ty.gc)
            continue;
        if (reported(o->ty.type, (int64_t)off, JN_ERR_GC_UNTRAVERSED))
            continue;
        if (heap_type && off != L->ob_type && held_by_heap_type(o->ty.type, w))
            continue;
        if (first_time(o->ty.type, (int64_t)off, JN_ERR_GC_UNTRAVERSED)) {
            report(JN_ERR_GC_UNTRAVERSED, o, (int64_t)off, ref.block, ref.type_id, ref.li.api);
            c->reports++;
        }
    }
}

/* Checks one tracked object; returns the number of problems reported.
 * The object comes from the collector's list: its header is genuine, and
 * its block is looked up only when there is something to report or for the
 * checks that need its size. */
static size_t check_tracked(uintptr_t obj)
{
    const struct pyver_layout *L = pf_layout;
    uintptr_t type = AT(obj, L->ob_type, uintptr_t);
    traverseproc trav = type ? AT(type, L->type_traverse, traverseproc) : NULL;
    if (!trav)
        return 0;
    static struct visit_ctx c; /* protected as seen; too big for the stack of a deep collection */
    c.obj = obj;
    c.holder_known = false;
    c.n = 0;
    c.overflow = c.uninitialized = false;
    c.reports = 0;
    trav((void *)obj, check_visit, &c);
    bool extension = extension_code((uintptr_t)trav);
    if (!c.uninitialized && (c.overflow || !extension))
        return c.reports;
    if (!c.holder_known && !live_object_at(obj, &c.holder))
        return c.reports; /* not a block lifeline knows: allocated before the hooks */
    c.holder_known = true;
    if (c.uninitialized) {
        int64_t off = first_unwritten_word(&c.holder);
        if (first_time(type, off, JN_ERR_GC_TRACKED_UNINIT)) {
            report(JN_ERR_GC_TRACKED_UNINIT, &c.holder, off, 0, 0, 0);
            c.reports++;
            /* The collection about to run follows the garbage pointer. */
            heap_stop();
        }
    } else {
        check_untraversed(&c, &c.holder);
    }
    return c.reports;
}

/* Checks every object of generation g's list. */
static size_t check_generation(unsigned g)
{
    const struct pyver_layout *L = pf_layout;
    char *interp = capi.PyInterpreterState_Main();
    uintptr_t head = (uintptr_t)(interp + L->interp_gc_generations + g * L->gc_generation_size);
    size_t found = 0;
    for (uintptr_t gc = AT(head, L->gc_next, uintptr_t); gc && gc != head && found < REPORTS_PER_PASS;
         gc = AT(gc, L->gc_next, uintptr_t))
        found += check_tracked(gc + L->gc_head_size);
    return found;
}

/* A free-threaded build: every tracked object, visited in a stop-the-world
 * (PyUnstable_GC_VisitObjects visits exactly the tracked GC objects, with
 * every other thread stopped, as the collector's own walk of mimalloc's
 * heaps). Each visit enters the agent's guard for its own checks only: the
 * walk between visits and the restart of the world are the interpreter's. */
struct ft_walk {
    size_t found;
};

static int ft_check_visit(void *obj, void *arg)
{
    struct ft_walk *w = arg;
    if (!guard_enter())
        return 0;
    w->found += check_tracked((uintptr_t)obj);
    guard_leave();
    return w->found < REPORTS_PER_PASS; /* 0 ends the walk */
}

static size_t ft_check_all_tracked(void)
{
    struct ft_walk w = {0};
    held_reset();
    visit_objects(ft_check_visit, &w);
    return w.found;
}

static size_t check_generations(unsigned upto)
{
    size_t found = 0;
    held_reset();
    for (unsigned g = 0; g <= upto && g < pf_layout->gc_generations; g++)
        found += check_generation(g);
    return found;
}

/* ---- reference counts --------------------------------------------------- */

enum { S_FLAGGED = 1 };

struct count_pass {
    struct hs_snapshot snap;
    uint32_t *counts;       /* references found to each block's object */
    uint8_t *state;         /* S_* per block */
    size_t counts_bytes, state_bytes;
    /* the referrer walk */
    size_t referrer;        /* the block being scanned */
    uint64_t flagged_seq[REPORTS_PER_PASS];
    uintptr_t flagged_block[REPORTS_PER_PASS];
    unsigned flagged_referrers[REPORTS_PER_PASS];
    size_t nflagged;
    bool collecting;        /* second pass: journal referrers instead of counting */
};

/* The object block that p is the PyObject pointer of, or -1. */
static long object_index(struct count_pass *p, uintptr_t w)
{
    long j = hs_find(&p->snap, w);
    if (j < 0)
        return -1;
    struct hs_block *b = &p->snap.blocks[j];
    hs_layout(&p->snap, (size_t)j);
    if ((b->layout != HS_LAYOUT_OBJECT && b->layout != HS_LAYOUT_GC_OBJECT) || b->addr + b->obj_off != w)
        return -1;
    return j;
}

static void journal_referrer(struct count_pass *p, long j, int64_t offset)
{
    for (size_t k = 0; k < p->nflagged; k++) {
        if (p->flagged_block[k] != p->snap.blocks[j].addr || p->flagged_referrers[k] >= REFERRERS_MAX)
            continue;
        p->flagged_referrers[k]++;
        const struct hs_block *r = &p->snap.blocks[p->referrer];
        uint8_t rec[JN_SEQ_RECORD_MAX];
        uint8_t *e = jn_put_referrer(rec, p->flagged_seq[k], r->addr, r->type, offset);
        jw_write_record(rec, (size_t)(e - rec));
    }
}

/* One reference to the object at w, found at `offset` in the referrer. */
static void count_reference(struct count_pass *p, uintptr_t w, int64_t offset)
{
    long j = object_index(p, w);
    if (j < 0)
        return;
    if (!p->collecting)
        p->counts[j]++;
    else if (p->state[j] & S_FLAGGED)
        journal_referrer(p, j, offset);
}

static int count_visit(void *obj, void *arg)
{
    count_reference(arg, (uintptr_t)obj, -1); /* tp_traverse does not say where */
    return 0;
}

/* True for objects whose memory holds data, never references. */
static bool data_object(uintptr_t type, unsigned long flags)
{
    return (flags & pf_layout->tpflags_data_subclasses) || type == float_type || type == complex_type ||
           type == bytearray_type;
}

/* Scans the words of block i as possible references, skipping the
 * object's header words before its type (the count; on a free-threaded
 * build also the owning thread's id and the shared count) and its weak
 * reference list. */
static void scan_conservatively(struct count_pass *p, size_t i)
{
    const struct pyver_layout *L = pf_layout;
    const struct hs_block *b = &p->snap.blocks[i];
    uint64_t head = UINT64_MAX, skip2 = UINT64_MAX;
    if (b->layout == HS_LAYOUT_OBJECT) {
        uintptr_t type = AT(b->addr + b->obj_off, L->ob_type, uintptr_t);
        int64_t weaklist = AT(type, L->type_weaklistoffset, int64_t);
        head = b->obj_off;
        if (weaklist > 0)
            skip2 = b->obj_off + (uint64_t)weaklist;
    }
    for (uint64_t off = 0; off + 8 <= b->size; off += 8) {
        if ((off >= head && off < head + L->ob_type) || off == skip2)
            continue;
        uintptr_t w = AT(b->addr, off, uintptr_t);
        if (hs_maybe(&p->snap, w))
            count_reference(p, w, (int64_t)off - b->obj_off);
    }
}

/* Counts (or, when collecting, names) the references each block holds. */
static void reference_pass(struct count_pass *p)
{
    const struct pyver_layout *L = pf_layout;
    for (size_t i = 0; i < p->snap.n; i++) {
        hs_layout(&p->snap, i);
        struct hs_block *b = &p->snap.blocks[i];
        uintptr_t obj = b->addr + b->obj_off;
        p->referrer = i;
        bool object = b->layout == HS_LAYOUT_GC_OBJECT || b->layout == HS_LAYOUT_OBJECT;
        /* A dead object (count 0) holds stale words: on a free-threaded
         * build a GC object freed while other threads may still read it
         * waits in the delayed-free queue (_PyObject_FreeDelayed) until they
         * are quiescent, its block still live; a free-list object, too. */
        if (object && pyver_refcnt(L, obj) <= 0)
            continue;
        /* A free-threaded build has no GC head: its GC objects are laid out
         * as plain objects, told apart by their type's flag. */
        bool gc_object = b->layout == HS_LAYOUT_GC_OBJECT ||
                         (free_threaded && b->layout == HS_LAYOUT_OBJECT &&
                          (AT(AT(obj, L->ob_type, uintptr_t), L->type_flags, unsigned long) & L->tpflags_have_gc));
        if (gc_object) {
            /* Only tracked objects are traversed, as the collector does: an
             * untracked one may be half built (the allocation that started
             * this collection). Its references are not counted. */
            uintptr_t type = AT(obj, L->ob_type, uintptr_t);
            traverseproc trav = AT(type, L->type_traverse, traverseproc);
            bool tracked = pyver_gc_tracked(L, b->addr + b->obj_off);
            if (trav && tracked)
                trav((void *)obj, count_visit, p);
        } else if (b->layout == HS_LAYOUT_OBJECT) {
            /* Only extensions' objects are scanned: the interpreter's own
             * non-GC objects keep borrowed references by design (the links
             * of functools' LRU list), and its GC types report theirs. */
            uintptr_t type = AT(obj, L->ob_type, uintptr_t);
            uintptr_t dealloc = AT(type, L->type_dealloc, uintptr_t);
            if (!data_object(type, AT(type, L->type_flags, unsigned long)) && extension_code(dealloc))
                scan_conservatively(p, i);
        }
        /* Plain blocks are not counted: C structures hold borrowed
         * references by design when an owner elsewhere keeps the object
         * alive (the compiler's AST arena and its object list, libxml2's
         * back-pointers to lxml's proxies), and nothing in the block says
         * which. */
    }
}

/* References an object may have beyond its count by design: an interned
 * str's two in the interned dict are not counted (CPython 3.11). */
static uint32_t uncounted_references(uintptr_t obj)
{
    const struct pyver_layout *L = pf_layout;
    uintptr_t type = AT(obj, L->ob_type, uintptr_t);
    if (!(AT(type, L->type_flags, unsigned long) & (1ul << 28))) /* Py_TPFLAGS_UNICODE_SUBCLASS */
        return 0;
    unsigned state = AT(obj, L->str_state, unsigned);
    return ((state >> L->str_interned_shift) & L->str_interned_mask) == L->str_interned_mortal ? 2 : 0;
}

static size_t flag_low_counts(struct count_pass *p)
{
    const struct pyver_layout *L = pf_layout;
    for (size_t j = 0; j < p->snap.n && p->nflagged < REPORTS_PER_PASS; j++) {
        const struct hs_block *b = &p->snap.blocks[j];
        if (b->layout != HS_LAYOUT_OBJECT && b->layout != HS_LAYOUT_GC_OBJECT)
            continue;
        uintptr_t obj = b->addr + b->obj_off;
        intptr_t refcnt = pyver_refcnt(L, obj);
        if (refcnt <= 0 || (intptr_t)p->counts[j] <= refcnt + (intptr_t)uncounted_references(obj))
            continue;
        struct object o;
        if (!live_object_at(obj, &o) || !first_time(o.block, (int64_t)o.type_id, JN_ERR_REFCOUNT_LOW))
            continue; /* reported at an earlier collection already */
        p->state[j] |= S_FLAGGED;
        struct jn_error_info info = {.api = o.li.api, .other_api = o.li.api, .addr = o.block,
                                     .offset = 0, .access = JN_ACCESS_UNKNOWN, .caught = JN_CAUGHT_LATER,
                                     .type = o.type_id, .type_addr = ty_defined_at(&o.ty), .aux = (uint64_t)refcnt,
                                     .other_addr = p->counts[j]};
        p->flagged_seq[p->nflagged] = rec_error_seq(JN_ERR_REFCOUNT_LOW, &info);
        p->flagged_block[p->nflagged++] = b->addr;
    }
    return p->nflagged;
}

static bool prepare_counts(struct count_pass *p)
{
    memset(p, 0, sizeof *p);
    if (!hs_take(&p->snap))
        return false;
    size_t n = p->snap.n ? p->snap.n : 1;
    p->counts_bytes = n * sizeof *p->counts;
    p->state_bytes = n;
    p->counts = os_map(p->counts_bytes);
    p->state = os_map(p->state_bytes);
    return p->counts && p->state;
}

static void finish_counts(struct count_pass *p)
{
    os_unmap(p->counts, p->counts_bytes);
    os_unmap(p->state, p->state_bytes);
    hs_release(&p->snap);
}

/* True while another interpreter than the main one exists on a version
 * where it may run at the same time (3.12 and later: an isolated
 * subinterpreter has its own GIL, 3.13t has none, and a stop-the-world
 * stops only the main interpreter's threads). The reference-count pass
 * reads every live block, theirs too: their counts would move under it
 * (a false refcount-too-low) and a big block released meanwhile would be
 * read after its unmapping. */
static bool others_may_run(void)
{
    if (!pf_layout->obmalloc_per_interpreter || !capi.PyInterpreterState_Head || !capi.PyInterpreterState_Next)
        return false;
    /* The newest interpreter heads the list; the main one is created first. */
    void *head = capi.PyInterpreterState_Head();
    return head && (head != capi.PyInterpreterState_Main() || capi.PyInterpreterState_Next(head));
}

/* Says once that a pass was left out, and how to get it. */
static void note_counts_skipped(void)
{
    static bool told; /* protected by the GIL or the stop-the-world */
    if (told)
        return;
    told = true;
    rec_note("the reference-count check (refcount-too-low) was skipped at least once while "
             "subinterpreters existed: they run beside the main interpreter and change what it "
             "counts; it runs again once they are ended (the exit check comes before the "
             "interpreter ends the ones left, so end them, or call lifeline.check_heap() after)");
}

static size_t check_reference_counts(void)
{
    static struct count_pass p; /* protected by the GIL or the stop-the-world */
    size_t found = 0;
    if (others_may_run()) {
        note_counts_skipped();
        return 0;
    }
    if (prepare_counts(&p)) {
        reference_pass(&p);
        /* The REFERRER records of the second pass carry their ERROR's seq:
         * the block stays busy from before the first ERROR to the last of
         * them, so a reader following the journal keeps them together. */
        jw_hold();
        found = flag_low_counts(&p);
        if (found) {
            p.collecting = true;
            reference_pass(&p);
        }
        jw_release();
    }
    finish_counts(&p);
    return found;
}

/* The reference counts of a free-threaded build, counted with every other
 * thread stopped (world_stopped): *out gets the number of problems. */
static void ft_counts_stopped(void *out)
{
    if (!guard_enter())
        return;
    *(size_t *)out = check_reference_counts();
    guard_leave();
}

static size_t ft_whole_heap(bool counts)
{
    size_t found = ft_check_all_tracked();
    size_t low = 0;
    if (counts)
        world_stopped(ft_counts_stopped, &low);
    return found + low;
}

size_t gck_whole_heap(void)
{
    if (!gck_ready || !jw_active())
        return 0;
    if (free_threaded)
        return ft_whole_heap(true);
    if (!guard_enter())
        return 0;
    size_t found = check_generations(pf_layout->gc_generations - 1);
    found += check_reference_counts();
    guard_leave();
    return found;
}

void gck_collection(int generation)
{
    if (generation < 0)
        return;
    /* A free-threaded build has one generation: each of its collections,
     * whatever generation it says (0 when allocations start it, 2 for
     * gc.collect(); the collections of shutdown call no callback, and
     * the exit check runs before them), examines every tracked object, so the
     * traverse checks run over all of them; the reference counts, a heap
     * snapshot, only at the full ones as with the GIL (generation 2). */
    if (free_threaded) {
        if (gck_ready && jw_active())
            ft_whole_heap(generation >= 2);
        return;
    }
    if ((unsigned)generation + 1 >= pf_layout->gc_generations) {
        gck_whole_heap();
        return;
    }
    if (!gck_ready || !jw_active() || !guard_enter())
        return;
    check_generations((unsigned)generation);
    guard_leave();
}
