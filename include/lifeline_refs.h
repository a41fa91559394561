/* lifeline_refs.h: routes an extension's reference count changes through
 * lifeline, with the file and line of each change. Force-included by the
 * flags `lifeline cflags` prints (-include <this file>); plain C, it knows
 * nothing of lifeline's internals, only one exported function:
 *
 *     void lifeline_ref_event(void *obj, int kind, const char *file, int line);
 *
 * which the lifeline agent defines. Py_INCREF, Py_DECREF, Py_XINCREF,
 * Py_XDECREF, Py_NewRef and Py_XNewRef are redefined here; Py_CLEAR,
 * Py_SETREF and Py_XSETREF are macros that expand to Py_DECREF/Py_XDECREF
 * where they are used, so they reach the agent too, with their own line.
 *
 * Without the agent every macro does exactly what CPython's does (same
 * order, NULL handling, return values); the only extra work is one branch
 * on a pointer cached per translation unit, resolved with dlsym on first use.
 *
 * Python.h is included first, whatever the includer does after: its macros
 * must exist before they can be replaced, and its include guard makes the
 * extension's own #include <Python.h> a no-op. So what a source defines
 * before its #include <Python.h> comes too late: PY_SSIZE_T_CLEAN is
 * defined here (empty, so that a source's `#define PY_SSIZE_T_CLEAN` is an
 * identical definition; on 3.10 and later '#' formats fail without it, so
 * it changes nothing for a working extension). Anything else Python.h
 * reads (Py_LIMITED_API, ...) belongs on the command line. */
#ifndef LIFELINE_REFS_H
#define LIFELINE_REFS_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>
#include <dlfcn.h>

/* The kinds lifeline_ref_event takes. An increment is reported after it
 * (the count read is the new one), a decrement before it (the object may
 * be gone after). */
#define LIFELINE_REF_INCREF 1
#define LIFELINE_REF_DECREF 2

typedef void (*lifeline_ref_fn)(void *obj, int kind, const char *file, int line);

static void lifeline_ref_resolve_(void *obj, int kind, const char *file, int line);

/* protected by: the GIL of the extension's callers. Starts at the resolver,
 * becomes the agent's function or NULL on first use; two threads resolving
 * at once store the same value. */
static lifeline_ref_fn lifeline_ref_hook_ __attribute__((unused)) = lifeline_ref_resolve_;

/* Looks the agent's function up once, then forwards this first event to
 * it. Without the agent the hook becomes NULL and is never called again. */
static __attribute__((unused, noinline)) void lifeline_ref_resolve_(void *obj, int kind, const char *file,
                                                                     int line)
{
    lifeline_ref_fn f = (lifeline_ref_fn)dlsym(RTLD_DEFAULT, "lifeline_ref_event");
    lifeline_ref_hook_ = f;
    if (f)
        f(obj, kind, file, line);
}

/* Reports one change to the agent, if there is one. */
static inline __attribute__((always_inline)) void lifeline_ref_note_(PyObject *op, int kind, const char *file,
                                                                     int line)
{
    lifeline_ref_fn f = lifeline_ref_hook_;
    if (__builtin_expect(f != NULL, 0))
        f(op, kind, file, line);
}

/* Py_INCREF: CPython's increment, then the report (with the new count). */
static inline __attribute__((always_inline)) void lifeline_incref_(PyObject *op, const char *file, int line)
{
    (Py_INCREF)(op);
    lifeline_ref_note_(op, LIFELINE_REF_INCREF, file, line);
}

/* Py_DECREF: the report, then CPython's decrement (which may free op). A
 * debug build's Py_DECREF gets the caller's file and line, as it would. */
static inline __attribute__((always_inline)) void lifeline_decref_(PyObject *op, const char *file, int line)
{
    lifeline_ref_note_(op, LIFELINE_REF_DECREF, file, line);
#if defined(Py_REF_DEBUG) && !(defined(Py_LIMITED_API) && Py_LIMITED_API + 0 >= 0x030A0000)
    (Py_DECREF)(file, line, op);
#else
    (Py_DECREF)(op);
#endif
}

/* Py_XINCREF: nothing for NULL. */
static inline __attribute__((always_inline)) void lifeline_xincref_(PyObject *op, const char *file, int line)
{
    if (op != NULL)
        lifeline_incref_(op, file, line);
}

/* Py_XDECREF: nothing for NULL. */
static inline __attribute__((always_inline)) void lifeline_xdecref_(PyObject *op, const char *file, int line)
{
    if (op != NULL)
        lifeline_decref_(op, file, line);
}

/* Py_NewRef: a new reference to op, returned. */
static inline __attribute__((always_inline)) PyObject *lifeline_newref_(PyObject *op, const char *file, int line)
{
    lifeline_incref_(op, file, line);
    return op;
}

/* Py_XNewRef: the same, NULL passing through. */
static inline __attribute__((always_inline)) PyObject *lifeline_xnewref_(PyObject *op, const char *file, int line)
{
    lifeline_xincref_(op, file, line);
    return op;
}

#undef Py_INCREF
#undef Py_DECREF
#undef Py_XINCREF
#undef Py_XDECREF
#undef Py_NewRef
#undef Py_XNewRef
#define Py_INCREF(op) lifeline_incref_(_PyObject_CAST(op), __FILE__, __LINE__)
#define Py_DECREF(op) lifeline_decref_(_PyObject_CAST(op), __FILE__, __LINE__)
#define Py_XINCREF(op) lifeline_xincref_(_PyObject_CAST(op), __FILE__, __LINE__)
#define Py_XDECREF(op) lifeline_xdecref_(_PyObject_CAST(op), __FILE__, __LINE__)
#define Py_NewRef(op) lifeline_newref_(_PyObject_CAST(op), __FILE__, __LINE__)
#define Py_XNewRef(op) lifeline_xnewref_(_PyObject_CAST(op), __FILE__, __LINE__)

#endif
