#include "boot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/os.h"

#include "boundary.h"
#include "capi.h"
#include "gccheck.h"
#include "guard.h"
#include "log.h"
#include "reach.h"
#include "repeat.h"
#include "spin.h"

/* set once by boot_init */
static bool gck_enabled, leak_scan_enabled;
volatile bool boot_queued = true; /* until boot_init says the C API is there */
/* protected by boot_lock: queuing the pending call exactly once */
static int boot_lock;

/* _lifeline.mark(index): the end of repetition `index` of `lifeline leaks`. */
static capi_obj *py_mark(capi_obj *self, capi_obj *arg)
{
    intptr_t index = capi.PyLong_AsSsize_t(arg);
    if (index < 0) {
        if (!capi.PyErr_Occurred())
            capi.PyErr_SetString(*capi.exc_runtime_error, "mark index must be >= 0");
        return NULL;
    }
    rep_mark((uint32_t)index);
    return capi.PyLong_FromSsize_t(index);
}

/* _lifeline.live_blocks(): the live mem- and obj-domain blocks lifeline
 * knows, which lifeline.leaks() compares from one repetition to the next. */
static capi_obj *py_live_blocks(capi_obj *self, capi_obj *unused)
{
    return capi.PyLong_FromSsize_t((intptr_t)rep_live_blocks());
}

/* _lifeline.scan_leaks(): the leak scan now; returns the number of leaked
 * blocks found (they are journaled and reported at exit). */
static capi_obj *py_scan_leaks(capi_obj *self, capi_obj *unused)
{
    return capi.PyLong_FromSsize_t((intptr_t)reach_scan());
}

/* gc.collect(): unlike PyGC_Collect, it collects even when the program
 * disabled the collector; cyclic garbage is not a leak. */
static void collect_garbage(void)
{
    capi_obj *gc = capi.PyImport_ImportModule("gc");
    capi_obj *collect = gc ? capi.PyObject_GetAttrString(gc, "collect") : NULL;
    capi_obj *res = collect ? capi.PyObject_CallNoArgs(collect) : NULL;
    if (res)
        capi.Py_DecRef(res);
    else
        capi.PyErr_Clear();
    if (collect)
        capi.Py_DecRef(collect);
    if (gc)
        capi.Py_DecRef(gc);
}

/* The atexit callback: registered first, so it runs after every callback
 * the program registered, while modules and interpreter state are intact. */
static capi_obj *py_at_exit(capi_obj *self, capi_obj *unused)
{
    collect_garbage();
    reach_scan();
    capi.Py_IncRef(capi.none); /* the result is a new reference */
    return capi.none;
}

/* _lifeline.check_heap(): the whole-heap GC and reference-count checks
 * now; returns the number of problems found (reported at exit). */
static capi_obj *py_check_heap(capi_obj *self, capi_obj *unused)
{
    return capi.PyLong_FromSsize_t((intptr_t)gck_whole_heap());
}

/* The gc callback: (phase, info). At "start", checks the generations about
 * to be collected. */
static capi_obj *py_gc_callback(capi_obj *self, capi_obj *args)
{
    capi_obj *phase = capi.PyTuple_GetItem(args, 0);
    capi_obj *info = phase ? capi.PyTuple_GetItem(args, 1) : NULL;
    capi_obj *gen = info ? capi.PyDict_GetItemString(info, "generation") : NULL;
    if (!gen) {
        capi.PyErr_Clear();
    } else if (capi.PyUnicode_CompareWithASCIIString(phase, "start") == 0) {
        intptr_t g = capi.PyLong_AsSsize_t(gen);
        if (g >= 0)
            gck_collection((int)g);
        else
            capi.PyErr_Clear();
    }
    capi.Py_IncRef(capi.none);
    return capi.none;
}

static struct capi_method methods[] = {
    {"mark", py_mark, CAPI_METH_O, "mark(index): the end of one repetition of lifeline leaks"},
    {"live_blocks", py_live_blocks, CAPI_METH_NOARGS, "live_blocks(): the live mem- and obj-domain blocks"},
    {"scan_leaks", py_scan_leaks, CAPI_METH_NOARGS, "scan_leaks(): run the leak scan now"},
    {"_at_exit", py_at_exit, CAPI_METH_NOARGS, "the leak scan at interpreter exit"},
    {"check_heap", py_check_heap, CAPI_METH_NOARGS, "check_heap(): run the GC and reference-count checks now"},
    {"_gc_callback", py_gc_callback, CAPI_METH_VARARGS, "the GC checks at each collection"},
};

/* Adds method i of `methods` to module m; false on a Python error. */
static bool add_method(capi_obj *m, struct capi_method *def)
{
    capi_obj *fn = capi.PyCFunction_NewEx(def, NULL, NULL);
    if (!fn)
        return false;
    bool ok = capi.PyObject_SetAttrString(m, def->name, fn) == 0;
    capi.Py_DecRef(fn);
    return ok;
}

static bool register_at_exit(capi_obj *m)
{
    capi_obj *atexit = capi.PyImport_ImportModule("atexit");
    if (!atexit)
        return false;
    capi_obj *reg = capi.PyObject_GetAttrString(atexit, "register");
    capi_obj *fn = reg ? capi.PyObject_GetAttrString(m, "_at_exit") : NULL;
    capi_obj *res = fn ? capi.PyObject_CallOneArg(reg, fn) : NULL;
    if (res)
        capi.Py_DecRef(res);
    if (fn)
        capi.Py_DecRef(fn);
    if (reg)
        capi.Py_DecRef(reg);
    capi.Py_DecRef(atexit);
    return res != NULL;
}

/* Appends the directory of the pure-Python `lifeline` module (set by the
 * cli in LIFELINE_PYDIR) to sys.path, at the end so that it shadows nothing. */
static bool extend_path(void)
{
    const char *dir = getenv("LIFELINE_PYDIR");
    capi_obj *path = capi.PySys_GetObject("path"); /* borrowed */
    if (!dir || !*dir || !path)
        return true;
    capi_obj *s = capi.PyUnicode_DecodeFSDefault(dir);
    if (!s)
        return false;
    bool ok = capi.PyList_Append(path, s) == 0;
    capi.Py_DecRef(s);
    return ok;
}

/* Appends _lifeline._gc_callback to gc.callbacks. */
static bool register_gc_callback(capi_obj *m)
{
    capi_obj *gc = capi.PyImport_ImportModule("gc");
    capi_obj *callbacks = gc ? capi.PyObject_GetAttrString(gc, "callbacks") : NULL;
    capi_obj *fn = callbacks ? capi.PyObject_GetAttrString(m, "_gc_callback") : NULL;
    bool ok = fn && capi.PyList_Append(callbacks, fn) == 0;
    if (fn)
        capi.Py_DecRef(fn);
    if (callbacks)
        capi.Py_DecRef(callbacks);
    if (gc)
        capi.Py_DecRef(gc);
    return ok;
}

static bool build_module(void)
{
    capi_obj *m = capi.PyModule_New("_lifeline");
    if (!m)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof methods / sizeof methods[0]; i++)
        ok = add_method(m, &methods[i]);
    ok = ok && capi.PyDict_SetItemString(capi.PyImport_GetModuleDict(), "_lifeline", m) == 0;
    ok = ok && (!leak_scan_enabled || register_at_exit(m));
    ok = ok && (!gck_enabled || register_gc_callback(m));
    capi.Py_DecRef(m);
    return ok && extend_path();
}

/* The pending call. It runs between two bytecodes of whatever the main
 * thread is doing, so it leaves the exception state exactly as it found it
 * and never fails: a problem is logged, and the program goes on untraced by
 * the Python-level checks. */
static int boot_run(void *unused)
{
    capi_obj *type, *value, *tb;
    capi.PyErr_Fetch(&type, &value, &tb);
    if (!build_module()) {
        capi.PyErr_Clear();
        log_msg("could not set up the _lifeline module: no leak scan at exit");
    }
    bnd_start_ref_tracer(); /* false before 3.13: free-list objects keep their memory's first stack */
    capi.PyErr_Restore(type, value, tb);
    return 0;
}

bool boot_init(bool gc_checks, bool leak_scan)
{
    if (!capi_init())
        return false;
    gck_enabled = gc_checks && gck_init();
    leak_scan_enabled = leak_scan;
    boot_queued = false;
    return true;
}

/* Whether this thread is the process's first: 0 not asked yet, 1 or -1. */
static AGENT_TLS int8_t first_thread;

static bool on_first_thread(void)
{
    if (!first_thread)
        first_thread = os_gettid() == getpid() ? 1 : -1;
    return first_thread > 0;
}

/* protected by: atomics; polls from other threads once initialized. */
static unsigned polls_elsewhere;

/* Queues the pending call, from the process's first thread, where the call
 * runs anyway (unless an embedder initialized Python elsewhere: then after
 * 4096 polls from other threads, from any). From 3.12 Py_AddPendingCall
 * takes a PyMutex, and a contended PyMutex parks its thread with the thread
 * state detached: inside an allocator call, the GIL would be released where
 * the interpreter does not expect it. The first thread meets that only if
 * another adds a pending call at the same instant, not whenever any thread
 * allocates. */
void boot_poll_slow(void)
{
    if (!capi.Py_IsInitialized())
        return;
    if (!on_first_thread() && __atomic_add_fetch(&polls_elsewhere, 1, __ATOMIC_RELAXED) < 4096)
        return;
    if (!spin_trylock(&boot_lock))
        return;
    if (!boot_queued && capi.Py_AddPendingCall(boot_run, NULL) == 0)
        boot_queued = true;
    spin_unlock(&boot_lock);
}
