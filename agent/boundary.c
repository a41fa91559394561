#include "boundary.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../pyver/pyver.h"
#include "capture.h"
#include "crash.h"
#include "elfpatch.h"
#include "guard.h"
#include "heap.h"
#include "hooks_py.h"
#include "jwriter.h"
#include "live.h"
#include "pyframes.h"
#include "record.h"
#include "refsite.h"
#include "types.h"
#include "watch.h"

/* Objects are opaque here: only pyver's offsets are read. */
typedef struct bnd_object obj;

/* What agent/heap.c fills new memory with, as a machine word. */
#define NEW_WORD 0xbebebebebebebebeull

/* The wrapped functions: the C-API functions of OWNER records (indexed by
 * enum jn_capi), then those that only serve the checks. */
enum {
    BND_TYPE_READY = JN_CAPI_COUNT,
    BND_TYPE_FROMSPEC,
    BND_TYPE_FROMSPECWITHBASES,
    BND_TYPE_FROMMODULEANDSPEC,
    BND_COUNT
};

/* protected by: set once by bnd_init, before the first patch (the agent's
 * start, before the program's first dlopen) */
static uintptr_t real[BND_COUNT];         /* the interpreter's definitions */
static struct ep_target targets[BND_COUNT];
static size_t ntargets;
static bool bnd_ready, bnd_check;

typedef obj *(*get_at_fn)(obj *, intptr_t);
typedef obj *(*get_key_fn)(obj *, obj *);
typedef obj *(*get_str_fn)(obj *, const char *);
typedef obj *(*get_name_fn)(const char *);
typedef obj *(*get_of_fn)(obj *);
typedef obj *(*get_fn)(void);
typedef obj *(*setdefault_fn)(obj *, obj *, obj *);
typedef int (*next_fn)(obj *, intptr_t *, obj **, obj **);
typedef int (*set_at_fn)(obj *, intptr_t, obj *);
typedef void (*set_at_void_fn)(obj *, intptr_t, obj *);
typedef int (*add_object_fn)(obj *, const char *, obj *);
typedef void (*set_one_fn)(obj *, obj *);
typedef void (*set_three_fn)(obj *, obj *, obj *);
typedef void (*gc_fn)(void *);
typedef int (*visit_fn)(obj *, void *);
typedef int (*traverse_fn)(obj *, visit_fn, void *);
typedef int (*type_ready_fn)(obj *);
typedef obj *(*from_spec_fn)(void *);
typedef obj *(*from_spec_bases_fn)(void *, obj *);
typedef obj *(*from_module_spec_fn)(obj *, void *, obj *);

#define AT(base, off, type) (*(type *)((uintptr_t)(base) + (off)))

/* ---- recording ---- */

/* Journals one OWNER record for the object at o in block; its reference
 * count is the one read now plus adjust (a decrement is recorded before it
 * happens, with the count it leaves). */
static void put_owner(enum jn_owner_event ev, unsigned func, uintptr_t block, uintptr_t o, int64_t adjust)
{
    rec_owner(ev, func, block, pyver_refcnt(pf_layout, o) + adjust);
}

/* Records an ownership event on o, with the current stack and its reference
 * count now, when o is a live block's object. Nothing when the thread is
 * inside the agent already or this process does not record. */
static void note(enum jn_owner_event ev, unsigned func, const obj *o)
{
    struct live_info li;
    if (!o || !jw_active() || !guard_enter())
        return;
    uintptr_t block = ty_block_of((uintptr_t)o, &li);
    if (block)
        put_owner(ev, func, block, (uintptr_t)o, 0);
    guard_leave();
}

/* ---- reference count changes (include/lifeline_refs.h) ---- */

/* The kinds include/lifeline_refs.h passes; part of its ABI. */
#define REF_INCREF 1
#define REF_DECREF 2

/* Called by extensions built with `lifeline cflags` at each Py_INCREF-like
 * change (after it) and Py_DECREF-like change (before it): journals an
 * INCREF or DECREF OWNER record with the count the change leaves and the
 * current stack, when object is a live block's object. Without --watch
 * every object is recorded; with it, only watched objects that no hardware
 * watchpoint records already (an unwatched object costs a bit test of a
 * filter). Each record costs a stack capture (docs/performance.md). The
 * macro's file and line go in the record as an interned site id (a SITE
 * record the first time), so that the history names them even when the
 * extension has no debug information. Unknown kinds and calls before the
 * boundary is set up are ignored. */
__attribute__((visibility("default"))) void lifeline_ref_event(void *object, int kind, const char *file, int line)
{
    struct live_info li;
    uintptr_t block = 0;
    if (!bnd_ready || !object || (kind != REF_INCREF && kind != REF_DECREF) || !jw_active() || !guard_enter())
        return;
    if (!wt_on)
        block = ty_block_of((uintptr_t)object, &li);
    else if (wt_ref_verdict((uintptr_t)object, kind == REF_INCREF, &block) != WT_RECORD)
        block = 0;
    if (block)
        put_owner(kind == REF_INCREF ? JN_OWN_INCREF : JN_OWN_DECREF, site_id(file, line), block,
                  (uintptr_t)object, kind == REF_INCREF ? 0 : -1);
    guard_leave();
}

/* ---- borrowed references ---- */

/* PyList_GetItem: a borrowed reference (or NULL, recorded as nothing). */
static obj *bnd_list_getitem(obj *list, intptr_t i)
{
    obj *r = ((get_at_fn)real[JN_CAPI_LIST_GETITEM])(list, i);
    note(JN_OWN_BORROW, JN_CAPI_LIST_GETITEM, r);
    return r;
}

/* PyTuple_GetItem: a borrowed reference. */
static obj *bnd_tuple_getitem(obj *tuple, intptr_t i)
{
    obj *r = ((get_at_fn)real[JN_CAPI_TUPLE_GETITEM])(tuple, i);
    note(JN_OWN_BORROW, JN_CAPI_TUPLE_GETITEM, r);
    return r;
}

/* PyStructSequence_GetItem: a borrowed reference. */
static obj *bnd_structsequence_getitem(obj *seq, intptr_t i)
{
    obj *r = ((get_at_fn)real[JN_CAPI_STRUCTSEQUENCE_GETITEM])(seq, i);
    note(JN_OWN_BORROW, JN_CAPI_STRUCTSEQUENCE_GETITEM, r);
    return r;
}

/* PyDict_GetItem: a borrowed reference (NULL when absent, errors suppressed). */
static obj *bnd_dict_getitem(obj *dict, obj *key)
{
    obj *r = ((get_key_fn)real[JN_CAPI_DICT_GETITEM])(dict, key);
    note(JN_OWN_BORROW, JN_CAPI_DICT_GETITEM, r);
    return r;
}

/* PyDict_GetItemWithError: a borrowed reference. */
static obj *bnd_dict_getitemwitherror(obj *dict, obj *key)
{
    obj *r = ((get_key_fn)real[JN_CAPI_DICT_GETITEMWITHERROR])(dict, key);
    note(JN_OWN_BORROW, JN_CAPI_DICT_GETITEMWITHERROR, r);
    return r;
}

/* PyDict_GetItemString: a borrowed reference. */
static obj *bnd_dict_getitemstring(obj *dict, const char *key)
{
    obj *r = ((get_str_fn)real[JN_CAPI_DICT_GETITEMSTRING])(dict, key);
    note(JN_OWN_BORROW, JN_CAPI_DICT_GETITEMSTRING, r);
    return r;
}

/* PyDict_SetDefault: a borrowed reference to the value now in the dict. */
static obj *bnd_dict_setdefault(obj *dict, obj *key, obj *deflt)
{
    obj *r = ((setdefault_fn)real[JN_CAPI_DICT_SETDEFAULT])(dict, key, deflt);
    note(JN_OWN_BORROW, JN_CAPI_DICT_SETDEFAULT, r);
    return r;
}

/* Both the key and the value PyDict_Next hands out are borrowed. */
static int bnd_dict_next(obj *dict, intptr_t *pos, obj **key, obj **value)
{
    int more = ((next_fn)real[JN_CAPI_DICT_NEXT])(dict, pos, key, value);
    if (more && key)
        note(JN_OWN_BORROW, JN_CAPI_DICT_NEXT, *key);
    if (more && value)
        note(JN_OWN_BORROW, JN_CAPI_DICT_NEXT, *value);
    return more;
}

/* PyWeakref_GetObject: a borrowed reference to the referent (or None). */
static obj *bnd_weakref_getobject(obj *ref)
{
    obj *r = ((get_of_fn)real[JN_CAPI_WEAKREF_GETOBJECT])(ref);
    note(JN_OWN_BORROW, JN_CAPI_WEAKREF_GETOBJECT, r);
    return r;
}

/* PySys_GetObject: a borrowed reference. */
static obj *bnd_sys_getobject(const char *name)
{
    obj *r = ((get_name_fn)real[JN_CAPI_SYS_GETOBJECT])(name);
    note(JN_OWN_BORROW, JN_CAPI_SYS_GETOBJECT, r);
    return r;
}

/* PyModule_GetDict: a borrowed reference to the module's dict. */
static obj *bnd_module_getdict(obj *module)
{
    obj *r = ((get_of_fn)real[JN_CAPI_MODULE_GETDICT])(module);
    note(JN_OWN_BORROW, JN_CAPI_MODULE_GETDICT, r);
    return r;
}

/* PyImport_AddModule: a borrowed reference to the module. */
static obj *bnd_import_addmodule(const char *name)
{
    obj *r = ((get_name_fn)real[JN_CAPI_IMPORT_ADDMODULE])(name);
    note(JN_OWN_BORROW, JN_CAPI_IMPORT_ADDMODULE, r);
    return r;
}

/* PyImport_AddModuleObject: a borrowed reference to the module. */
static obj *bnd_import_addmoduleobject(obj *name)
{
    obj *r = ((get_of_fn)real[JN_CAPI_IMPORT_ADDMODULEOBJECT])(name);
    note(JN_OWN_BORROW, JN_CAPI_IMPORT_ADDMODULEOBJECT, r);
    return r;
}

/* PyImport_GetModuleDict: a borrowed reference to sys.modules. */
static obj *bnd_import_getmoduledict(void)
{
    obj *r = ((get_fn)real[JN_CAPI_IMPORT_GETMODULEDICT])();
    note(JN_OWN_BORROW, JN_CAPI_IMPORT_GETMODULEDICT, r);
    return r;
}

/* ---- stolen references ----
 * The object is looked up after the call: a call that fails may have
 * released it already (PyTuple_SetItem steals even then), and then it is
 * no live block and nothing is recorded. */

/* PyTuple_SetItem: steals item, even when it fails. */
static int bnd_tuple_setitem(obj *tuple, intptr_t i, obj *item)
{
    int rc = ((set_at_fn)real[JN_CAPI_TUPLE_SETITEM])(tuple, i, item);
    note(JN_OWN_STEAL, JN_CAPI_TUPLE_SETITEM, item);
    return rc;
}

/* PyList_SetItem: steals item, even when it fails. */
static int bnd_list_setitem(obj *list, intptr_t i, obj *item)
{
    int rc = ((set_at_fn)real[JN_CAPI_LIST_SETITEM])(list, i, item);
    note(JN_OWN_STEAL, JN_CAPI_LIST_SETITEM, item);
    return rc;
}

/* PyStructSequence_SetItem: steals item. */
static void bnd_structsequence_setitem(obj *seq, intptr_t i, obj *item)
{
    ((set_at_void_fn)real[JN_CAPI_STRUCTSEQUENCE_SETITEM])(seq, i, item);
    note(JN_OWN_STEAL, JN_CAPI_STRUCTSEQUENCE_SETITEM, item);
}

/* PyModule_AddObject steals only when it succeeds. */
static int bnd_module_addobject(obj *module, const char *name, obj *value)
{
    int rc = ((add_object_fn)real[JN_CAPI_MODULE_ADDOBJECT])(module, name, value);
    if (rc == 0)
        note(JN_OWN_STEAL, JN_CAPI_MODULE_ADDOBJECT, value);
    return rc;
}

/* PyException_SetCause: steals cause (NULL allowed). */
static void bnd_exception_setcause(obj *exc, obj *cause)
{
    ((set_one_fn)real[JN_CAPI_EXCEPTION_SETCAUSE])(exc, cause);
    note(JN_OWN_STEAL, JN_CAPI_EXCEPTION_SETCAUSE, cause);
}

/* PyException_SetContext: steals context (NULL allowed). */
static void bnd_exception_setcontext(obj *exc, obj *context)
{
    ((set_one_fn)real[JN_CAPI_EXCEPTION_SETCONTEXT])(exc, context);
    note(JN_OWN_STEAL, JN_CAPI_EXCEPTION_SETCONTEXT, context);
}

/* PyErr_Restore: steals all three (each may be NULL). */
static void bnd_err_restore(obj *type, obj *value, obj *tb)
{
    ((set_three_fn)real[JN_CAPI_ERR_RESTORE])(type, value, tb);
    note(JN_OWN_STEAL, JN_CAPI_ERR_RESTORE, type);
    note(JN_OWN_STEAL, JN_CAPI_ERR_RESTORE, value);
    note(JN_OWN_STEAL, JN_CAPI_ERR_RESTORE, tb);
}

/* PyErr_SetExcInfo: steals all three (each may be NULL). */
static void bnd_err_setexcinfo(obj *type, obj *value, obj *tb)
{
    ((set_three_fn)real[JN_CAPI_ERR_SETEXCINFO])(type, value, tb);
    note(JN_OWN_STEAL, JN_CAPI_ERR_SETEXCINFO, type);
    note(JN_OWN_STEAL, JN_CAPI_ERR_SETEXCINFO, value);
    note(JN_OWN_STEAL, JN_CAPI_ERR_SETEXCINFO, tb);
}

/* ---- the garbage collector ---- */

/* A tp_traverse run over an object about to be tracked. */
struct traversal {
    traverse_fn traverse;
    obj *op;
    bool new_memory; /* it visited a reference never written since allocation */
};

/* The visitor: never follows a pointer, only compares it. */
static int visit_new_memory(obj *o, void *arg)
{
    if ((uintptr_t)o != NEW_WORD)
        return 0;
    *(bool *)arg = true;
    return 1;
}

/* crash_probe's body: the type's tp_traverse with the comparing visitor. */
static void run_traverse(void *arg)
{
    struct traversal *t = arg;
    t->traverse(t->op, visit_new_memory, &t->new_memory);
}

/* True if the object's tp_traverse visits a reference still holding the
 * new-memory pattern, or faults (a traverse that follows such a field).
 * Runs the program's code: called outside the guard, so that whatever it
 * might allocate is recorded like any allocation. */
static bool visits_new_memory(obj *op)
{
    uintptr_t type = AT(op, pf_layout->ob_type, uintptr_t);
    struct traversal t = {AT(type, pf_layout->type_traverse, traverse_fn), op, false};
    if (!t.traverse)
        return false;
    return !crash_probe(run_traverse, &t) || t.new_memory;
}

/* The offset, from the object's start, of its first word past the header
 * that still holds the new-memory pattern; -1 if none. */
static int64_t first_new_word(uintptr_t block, const struct live_info *li, uintptr_t op)
{
    for (uintptr_t w = op + pf_layout->ob_header_size; w + 8 <= block + li->size; w += 8)
        if (AT(w, 0, uint64_t) == NEW_WORD)
            return (int64_t)(w - op);
    return -1;
}

/* Journals a GC error on the object at op (in block), with its type. */
static void report_gc(enum jn_error e, uintptr_t block, const struct live_info *li, uintptr_t op, int64_t offset,
                      bool live)
{
    struct ty_object t = {0};
    uint32_t type = live ? ty_of_live_block(block, li->size, &t) : ty_of_freed_block(block, li->size, &t);
    if (!type && !live)
        type = ty_of_live_block(block, li->size, &t);
    struct jn_error_info info = {.api = li->api, .other_api = li->api, .addr = block, .offset = offset,
                                 .access = JN_ACCESS_UNKNOWN, .caught = JN_CAUGHT_AT_ACCESS, .type = type,
                                 .type_addr = ty_defined_at(&t), .aux = t.basicsize, .other_addr = op};
    rec_error(e, &info);
    heap_stop();
}

/* PyObject_GC_Track's check: an object whose tp_traverse visits a field
 * never written is reported, and the target stopped unless keep_going. */
static void check_track(obj *op)
{
    struct live_info li;
    if (!op || !jw_active() || !guard_enter())
        return;
    uintptr_t block = ty_block_of((uintptr_t)op, &li);
    guard_leave();
    if (!block || !visits_new_memory(op))
        return;
    int64_t offset = first_new_word(block, &li, (uintptr_t)op);
    if (offset >= 0 && guard_enter()) {
        report_gc(JN_ERR_GC_TRACKED_UNINIT, block, &li, (uintptr_t)op, offset, true);
        guard_leave();
    }
}

/* True if the collector tracks op (its GC head or its GC bits say so). */
static bool tracked(uintptr_t op)
{
    return pyver_gc_tracked(pf_layout, op);
}

/* PyObject_GC_Del's check: a GC object freed while the collector still
 * tracks it is reported, and the target stopped unless keep_going. */
static void check_del(obj *op)
{
    struct live_info li;
    if (!op || !jw_active() || !guard_enter())
        return;
    uintptr_t block = ty_block_of((uintptr_t)op, &li);
    if (block && (uintptr_t)op - block >= pf_layout->gc_head_size && tracked((uintptr_t)op))
        report_gc(JN_ERR_GC_FREED_TRACKED, block, &li, (uintptr_t)op, 0, false);
    guard_leave();
}

/* PyObject_GC_Track: checked first (may stop the target), then tracked and recorded. */
static void bnd_gc_track(void *op)
{
    if (bnd_check)
        check_track(op);
    ((gc_fn)real[JN_CAPI_GC_TRACK])(op);
    note(JN_OWN_TRACK, JN_CAPI_GC_TRACK, op);
}

/* PyObject_GC_UnTrack: untracked, then recorded. */
static void bnd_gc_untrack(void *op)
{
    ((gc_fn)real[JN_CAPI_GC_UNTRACK])(op);
    note(JN_OWN_UNTRACK, JN_CAPI_GC_UNTRACK, op);
}

/* PyObject_GC_Del: checked first (may stop the target), then freed by the interpreter. */
static void bnd_gc_del(void *op)
{
    if (bnd_check)
        check_del(op);
    ((gc_fn)real[JN_CAPI_GC_DEL])(op);
}

/* ---- new objects ----
 * Lists, tuples, dicts and floats come back from the interpreter's free
 * lists without an allocation: recording their making gives a leaked or
 * freed one the stack where its life began, not its memory's first life. */

typedef obj *(*new_sized_fn)(intptr_t);
typedef obj *(*new_fn)(void);
typedef obj *(*from_double_fn)(double);
typedef obj *(*va_build_fn)(const char *, va_list);

/* PyList_New: a new reference (NULL on failure, recorded as nothing). */
static obj *bnd_list_new(intptr_t size)
{
    obj *r = ((new_sized_fn)real[JN_CAPI_LIST_NEW])(size);
    note(JN_OWN_NEW, JN_CAPI_LIST_NEW, r);
    return r;
}

/* PyTuple_New: the same. */
static obj *bnd_tuple_new(intptr_t size)
{
    obj *r = ((new_sized_fn)real[JN_CAPI_TUPLE_NEW])(size);
    note(JN_OWN_NEW, JN_CAPI_TUPLE_NEW, r);
    return r;
}

/* PyDict_New: the same. */
static obj *bnd_dict_new(void)
{
    obj *r = ((new_fn)real[JN_CAPI_DICT_NEW])();
    note(JN_OWN_NEW, JN_CAPI_DICT_NEW, r);
    return r;
}

/* PyFloat_FromDouble: the same. */
static obj *bnd_float_fromdouble(double v)
{
    obj *r = ((from_double_fn)real[JN_CAPI_FLOAT_FROMDOUBLE])(v);
    note(JN_OWN_NEW, JN_CAPI_FLOAT_FROMDOUBLE, r);
    return r;
}

/* The variadic builders are forwarded to their va_list forms. */
static va_build_fn va_build, va_build_sizet; /* protected by: set once by bnd_init */

/* Py_BuildValue: a new reference to what it built (only the outer object). */
static obj *bnd_buildvalue(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    obj *r = va_build(format, ap);
    va_end(ap);
    note(JN_OWN_NEW, JN_CAPI_BUILDVALUE, r);
    return r;
}

/* _Py_BuildValue_SizeT, what Py_BuildValue is under PY_SSIZE_T_CLEAN. */
static obj *bnd_buildvalue_sizet(const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    obj *r = va_build_sizet(format, ap);
    va_end(ap);
    note(JN_OWN_NEW, JN_CAPI_BUILDVALUE_SIZET, r);
    return r;
}

/* ---- object lives the allocator does not see: PyRefTracer (3.13+) ----
 * The interpreter reports every object it starts (_Py_NewReference), with
 * its free lists' recycled objects among them, which no allocation and no
 * C-API call of an extension shows: a float, tuple, list or dict made by
 * Python code. An object in the block this thread allocated last is a new
 * block's, whose allocation already began its life; only the others are
 * recorded. */

typedef int (*ref_tracer_fn)(obj *op, int event, void *data);
typedef int (*set_ref_tracer_fn)(ref_tracer_fn tracer, void *data);
typedef ref_tracer_fn (*get_ref_tracer_fn)(void **data);
#define REF_TRACER_CREATE 0 /* PyRefTracer_CREATE, part of the C API */

/* Set once by bnd_start_ref_tracer, in a pending call, before the tracer
 * that reads them is installed: the interpreter's store of the tracer
 * (behind a call, so after these stores, and x86-64 keeps stores in order)
 * publishes them to every thread, with or without a GIL. */
static ref_tracer_fn prev_tracer;
static void *prev_tracer_data;

/* True if op lies at the start of the last object block this thread
 * allocated (behind at most its GC head and pre-header). */
static bool in_fresh_block(const obj *op)
{
    const struct pyver_layout *L = pf_layout;
    uintptr_t block = hp_last_object_block(), o = (uintptr_t)op;
    return block && o >= block && o - block <= L->gc_head_size + L->preheader_size;
}

/* The tracer: records a recycled object's new life, then calls on to a
 * tracer installed before lifeline's. Never fails the interpreter. */
static int ref_tracer(obj *op, int event, void *data)
{
    if (event == REF_TRACER_CREATE && !in_fresh_block(op))
        note(JN_OWN_NEW, JN_CAPI_NEW_REFERENCE, op);
    return prev_tracer ? prev_tracer(op, event, prev_tracer_data) : 0;
}

bool bnd_start_ref_tracer(void)
{
    set_ref_tracer_fn set = (set_ref_tracer_fn)dlsym(RTLD_DEFAULT, "PyRefTracer_SetTracer");
    get_ref_tracer_fn get = (get_ref_tracer_fn)dlsym(RTLD_DEFAULT, "PyRefTracer_GetTracer");
    if (!bnd_ready || !set || !get)
        return false;
    prev_tracer = get(&prev_tracer_data);
    return set(ref_tracer, NULL) == 0;
}

/* ---- types ----
 * A GC type that leaves tp_free empty gets the interpreter's
 * PyObject_GC_Del from PyType_Ready, and its dealloc's
 * Py_TYPE(self)->tp_free(self) would never reach the check: a type the
 * extension readies gets the wrapper instead. */

/* Points the tp_free of a GC type at the wrapper when it holds the
 * interpreter's PyObject_GC_Del. */
static void adopt_tp_free(obj *type)
{
    const struct pyver_layout *L = pf_layout;
    if (!type || !bnd_check || !(AT(type, L->type_flags, unsigned long) & L->tpflags_have_gc))
        return;
    if (AT(type, L->type_free, uintptr_t) == real[JN_CAPI_GC_DEL])
        AT(type, L->type_free, uintptr_t) = (uintptr_t)bnd_gc_del;
}

/* PyType_Ready: a GC type readied without a tp_free of its own gets the checked one. */
static int bnd_type_ready(obj *type)
{
    int rc = ((type_ready_fn)real[BND_TYPE_READY])(type);
    if (rc == 0)
        adopt_tp_free(type);
    return rc;
}

/* PyType_FromSpec: the same for a heap type (NULL passes through). */
static obj *bnd_type_fromspec(void *spec)
{
    obj *t = ((from_spec_fn)real[BND_TYPE_FROMSPEC])(spec);
    adopt_tp_free(t);
    return t;
}

/* PyType_FromSpecWithBases: the same. */
static obj *bnd_type_fromspecwithbases(void *spec, obj *bases)
{
    obj *t = ((from_spec_bases_fn)real[BND_TYPE_FROMSPECWITHBASES])(spec, bases);
    adopt_tp_free(t);
    return t;
}

/* PyType_FromModuleAndSpec: the same. */
static obj *bnd_type_frommoduleandspec(obj *module, void *spec, obj *bases)
{
    obj *t = ((from_module_spec_fn)real[BND_TYPE_FROMMODULEANDSPEC])(module, spec, bases);
    adopt_tp_free(t);
    return t;
}

/* ---- installation ---- */

static void *const wrappers[BND_COUNT] = {
    [JN_CAPI_LIST_GETITEM] = (void *)bnd_list_getitem,
    [JN_CAPI_TUPLE_GETITEM] = (void *)bnd_tuple_getitem,
    [JN_CAPI_DICT_GETITEM] = (void *)bnd_dict_getitem,
    [JN_CAPI_DICT_GETITEMSTRING] = (void *)bnd_dict_getitemstring,
    [JN_CAPI_DICT_GETITEMWITHERROR] = (void *)bnd_dict_getitemwitherror,
    [JN_CAPI_DICT_SETDEFAULT] = (void *)bnd_dict_setdefault,
    [JN_CAPI_DICT_NEXT] = (void *)bnd_dict_next,
    [JN_CAPI_WEAKREF_GETOBJECT] = (void *)bnd_weakref_getobject,
    [JN_CAPI_SYS_GETOBJECT] = (void *)bnd_sys_getobject,
    [JN_CAPI_MODULE_GETDICT] = (void *)bnd_module_getdict,
    [JN_CAPI_IMPORT_ADDMODULE] = (void *)bnd_import_addmodule,
    [JN_CAPI_IMPORT_ADDMODULEOBJECT] = (void *)bnd_import_addmoduleobject,
    [JN_CAPI_IMPORT_GETMODULEDICT] = (void *)bnd_import_getmoduledict,
    [JN_CAPI_STRUCTSEQUENCE_GETITEM] = (void *)bnd_structsequence_getitem,
    [JN_CAPI_TUPLE_SETITEM] = (void *)bnd_tuple_setitem,
    [JN_CAPI_LIST_SETITEM] = (void *)bnd_list_setitem,
    [JN_CAPI_MODULE_ADDOBJECT] = (void *)bnd_module_addobject,
    [JN_CAPI_EXCEPTION_SETCAUSE] = (void *)bnd_exception_setcause,
    [JN_CAPI_EXCEPTION_SETCONTEXT] = (void *)bnd_exception_setcontext,
    [JN_CAPI_ERR_RESTORE] = (void *)bnd_err_restore,
    [JN_CAPI_ERR_SETEXCINFO] = (void *)bnd_err_setexcinfo,
    [JN_CAPI_STRUCTSEQUENCE_SETITEM] = (void *)bnd_structsequence_setitem,
    [JN_CAPI_GC_TRACK] = (void *)bnd_gc_track,
    [JN_CAPI_GC_UNTRACK] = (void *)bnd_gc_untrack,
    [JN_CAPI_GC_DEL] = (void *)bnd_gc_del,
    [JN_CAPI_LIST_NEW] = (void *)bnd_list_new,
    [JN_CAPI_TUPLE_NEW] = (void *)bnd_tuple_new,
    [JN_CAPI_DICT_NEW] = (void *)bnd_dict_new,
    [JN_CAPI_FLOAT_FROMDOUBLE] = (void *)bnd_float_fromdouble,
    [JN_CAPI_BUILDVALUE] = (void *)bnd_buildvalue,
    [JN_CAPI_BUILDVALUE_SIZET] = (void *)bnd_buildvalue_sizet,
    [BND_TYPE_READY] = (void *)bnd_type_ready,
    [BND_TYPE_FROMSPEC] = (void *)bnd_type_fromspec,
    [BND_TYPE_FROMSPECWITHBASES] = (void *)bnd_type_fromspecwithbases,
    [BND_TYPE_FROMMODULEANDSPEC] = (void *)bnd_type_frommoduleandspec,
};

/* The symbol a wrapper stands for. */
static const char *symbol_of(unsigned i)
{
    static const char *const type_functions[] = {"PyType_Ready", "PyType_FromSpec", "PyType_FromSpecWithBases",
                                                 "PyType_FromModuleAndSpec"};
    return i < JN_CAPI_COUNT ? jn_capi_name(i) : type_functions[i - JN_CAPI_COUNT];
}

bool bnd_init(bool check)
{
    if (!pf_layout)
        return false;
    bnd_check = check;
    va_build = (va_build_fn)dlsym(RTLD_DEFAULT, "Py_VaBuildValue");
    va_build_sizet = (va_build_fn)dlsym(RTLD_DEFAULT, "_Py_VaBuildValue_SizeT");
    for (unsigned i = JN_CAPI_NONE + 1; i < BND_COUNT; i++) {
        if ((i == JN_CAPI_BUILDVALUE && !va_build) || (i == JN_CAPI_BUILDVALUE_SIZET && !va_build_sizet))
            continue; /* no va_list form to forward to: left alone */
        real[i] = (uintptr_t)dlsym(RTLD_DEFAULT, symbol_of(i));
        if (real[i] && wrappers[i])
            targets[ntargets++] = (struct ep_target){symbol_of(i), real[i], (uintptr_t)wrappers[i]};
    }
    ep_init();
    bnd_ready = true;
    return true;
}

void bnd_patch_new(void)
{
    if (bnd_ready)
        ep_patch_new(targets, ntargets);
}
