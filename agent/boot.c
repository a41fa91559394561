#include "boot.h"

#include <stdlib.h>
#include <string.h>

#include "capi.h"
#include "log.h"
#include "reach.h"
#include "repeat.h"
#include "spin.h"

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
    return capi.PyLong_FromSsize_t((intptr_t)reach_scan(REACH_ON_DEMAND));
}

/* The atexit callback: registered first, so it runs after every callback
 * the program registered, while modules and interpreter state are intact. */
static capi_obj *py_at_exit(capi_obj *self, capi_obj *unused)
{
    capi.PyGC_Collect();
    reach_scan(REACH_AT_EXIT);
    capi.Py_IncRef(capi.none); /* the result is a new reference */
    return capi.none;
}

static struct capi_method methods[] = {
    {"mark", py_mark, CAPI_METH_O, "mark(index): the end of one repetition of lifeline leaks"},
    {"live_blocks", py_live_blocks, CAPI_METH_NOARGS, "live_blocks(): the live mem- and obj-domain blocks"},
    {"scan_leaks", py_scan_leaks, CAPI_METH_NOARGS, "scan_leaks(): run the leak scan now"},
    {"_at_exit", py_at_exit, CAPI_METH_NOARGS, "the leak scan at interpreter exit"},
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

static bool build_module(void)
{
    capi_obj *m = capi.PyModule_New("_lifeline");
    if (!m)
        return false;
    bool ok = true;
    for (size_t i = 0; ok && i < sizeof methods / sizeof methods[0]; i++)
        ok = add_method(m, &methods[i]);
    ok = ok && capi.PyDict_SetItemString(capi.PyImport_GetModuleDict(), "_lifeline", m) == 0;
    ok = ok && register_at_exit(m);
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
    capi.PyErr_Restore(type, value, tb);
    return 0;
}

bool boot_init(void)
{
    if (!capi_init())
        return false;
    boot_queued = false;
    return true;
}

void boot_poll_slow(void)
{
    if (!spin_trylock(&boot_lock))
        return;
    if (!boot_queued && capi.Py_IsInitialized() && capi.Py_AddPendingCall(boot_run, NULL) == 0)
        boot_queued = true;
    spin_unlock(&boot_lock);
}
