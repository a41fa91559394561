/*
 * zoo_crash: the crash part of lifeline's bug zoo.
 *
 * Each entry point dies in a different way, so that the crash explanation is tested on several
 * shapes: a NULL dereference, a wild pointer computed from a freed PyMem block, abort(), a crash
 * three levels deep in a C -> Python -> C -> Python callback chain, and a crash in a thread other
 * than the main one. The test scripts under tests/e2e/scripts/ call them; the tests assert on the
 * function names below, so they are kept out of line (noinline) and must not be renamed lightly.
 *
 * Built with -O1 -g like a real extension (see lifeline_harness.build_extension), plus
 * -fno-optimize-sibling-calls: a tail call would replace the caller's frame and the stacks the
 * tests expect would lose a level for reasons that have nothing to do with lifeline.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* Keeps the compiler from proving that a pointer is NULL or dangling and dropping the access. */
static void *volatile opaque_null;

struct gadget {
    long serial;
    long flags;
    long spare;
    long count;             /* at offset 0x18: the fault address of null_deref() */
};

/* ---- 1. NULL dereference ---------------------------------------------------------------------- */

/* Writes through a NULL struct pointer: SIGSEGV at fault address 0x18 (offsetof count). */
NOINLINE static void
crash_null_write(struct gadget *g)
{
    g->count += 1;
    __asm__ volatile("" ::: "memory");
}

static PyObject *
zoo_null_deref(PyObject *module, PyObject *Py_UNUSED(args))
{
    crash_null_write((struct gadget *)opaque_null);
    Py_RETURN_NONE;         /* not reached */
}

/* ---- 2. dangling pointer to a freed PyMem block, then a wild pointer derived from it ---------- */

struct record {
    void *reserved;         /* offset 0: allocators keep their free lists there; leave it alone */
    char *data;
    size_t len;
    size_t cap;
};

/* The use-after-free write: grows a length field of a record that was already freed. */
NOINLINE static void
record_grow(struct record *r, size_t extra)
{
    r->len += extra;
    __asm__ volatile("" ::: "memory");
}

/* Computes an address from two fields of the freed record and writes there. Whatever the
 * allocator did with the freed bytes (left them, poisoned them, reused them), data + len is a wild
 * address: len was grown by 2^44 after the free, which leaves any user-space mapping. */
NOINLINE static void
record_append(struct record *r, char c)
{
    char *volatile wild = r->data + r->len;
    *wild = c;
}

static PyObject *
zoo_dangling_write(PyObject *module, PyObject *Py_UNUSED(args))
{
    static char storage[64];
    struct record *r = PyMem_Malloc(sizeof *r);
    if (r == NULL)
        return PyErr_NoMemory();
    r->reserved = NULL;
    r->data = storage;
    r->len = 0;
    r->cap = sizeof storage;

    PyMem_Free(r);                          /* the record is gone ... */
    record_grow(r, (size_t)1 << 44);        /* ... but is still written to ... */
    record_append(r, 'x');                  /* ... and a pointer is derived from it: SIGSEGV */
    Py_RETURN_NONE;                         /* not reached */
}

/* ---- 2b. read of a large freed PyMem block --------------------------------------------------- */

/* 48 MB: more than glibc's largest dynamic mmap threshold (32 MB), so the block always gets its own
 * mapping and free() always unmaps it: reading it afterwards faults, with the fault address inside
 * the freed block. That is the case where a crash report can name the block the address belongs to. */
#define BIG_BLOCK ((size_t)48 << 20)

NOINLINE static double
sum_samples(const double *samples, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += samples[i];
    return sum;
}

static PyObject *
zoo_read_freed_big(PyObject *module, PyObject *Py_UNUSED(args))
{
    double *samples = PyMem_Malloc(BIG_BLOCK);
    if (samples == NULL)
        return PyErr_NoMemory();
    /* Touch only the first page or so: the rest stays untouched zero pages. */
    for (size_t i = 0; i < 512; i++)
        samples[i] = (double)i;
    double before = sum_samples(samples, 512);
    PyMem_Free(samples);
    double after = sum_samples(samples + 64, 512);       /* use after free: SIGSEGV */
    return PyFloat_FromDouble(before + after);            /* not reached */
}

/* ---- 3. abort() -------------------------------------------------------------------------------- */

NOINLINE static void
give_up(const char *why)
{
    fprintf(stderr, "zoo_crash: giving up: %s\n", why);
    fflush(stderr);
    abort();
}

static PyObject *
zoo_abort_now(PyObject *module, PyObject *Py_UNUSED(args))
{
    give_up("invariant broken");
    Py_RETURN_NONE;         /* not reached */
}

/* ---- 4. callbacks: C -> Python -> C ------------------------------------------------------------ */

/* Calls back into Python; a crash below it must show this frame between the Python frames of the
 * caller and the callee. */
NOINLINE static PyObject *
invoke_callback(PyObject *callback, PyObject *arg)
{
    return PyObject_CallOneArg(callback, arg);
}

/* with_callback(fn, arg) -> fn(arg) */
static PyObject *
zoo_with_callback(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyCallable_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "with_callback(fn, arg) expects a callable and an argument");
        return NULL;
    }
    PyObject *res = invoke_callback(args[0], args[1]);
    if (res == NULL)
        return NULL;
    /* Work after the call, so the call is not in tail position even without the flag. */
    PyObject *out = PyTuple_Pack(1, res);
    Py_DECREF(res);
    return out;
}

/* ---- 5. threads -------------------------------------------------------------------------------- */

/* set_native_thread_name(name): names the calling OS thread (pthread_setname_np, 15 chars max),
 * so that a report can show the same name whether it reads the native or the Python thread name. */
static PyObject *
zoo_set_native_thread_name(PyObject *module, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    char buf[16];
    snprintf(buf, sizeof buf, "%s", name);
    int err = pthread_setname_np(pthread_self(), buf);
    if (err != 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* ---- 6. helpers for checks that must not crash ------------------------------------------------- */

/* touch_pymem(n): allocate, fill and free n PyMem blocks; a harmless native path. */
static PyObject *
zoo_touch_pymem(PyObject *module, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    size_t sum = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char *p = PyMem_Malloc(32 + (size_t)(i % 64));
        if (p == NULL)
            return PyErr_NoMemory();
        memset(p, (int)(i & 0xff), 32);
        sum += p[i % 32];
        PyMem_Free(p);
    }
    return PyLong_FromSize_t(sum);
}

static PyMethodDef zoo_methods[] = {
    {"null_deref", zoo_null_deref, METH_NOARGS, "Write through a NULL struct pointer."},
    {"dangling_write", zoo_dangling_write, METH_NOARGS,
     "Write to a freed PyMem block, then through a wild pointer derived from it."},
    {"read_freed_big", zoo_read_freed_big, METH_NOARGS,
     "Read a 48 MB PyMem block after freeing it (it is unmapped by then)."},
    {"abort_now", zoo_abort_now, METH_NOARGS, "Call abort()."},
    {"with_callback", (PyCFunction)(void (*)(void))zoo_with_callback, METH_FASTCALL,
     "with_callback(fn, arg): call fn(arg) from C."},
    {"set_native_thread_name", zoo_set_native_thread_name, METH_O, "Name the calling OS thread."},
    {"touch_pymem", zoo_touch_pymem, METH_O, "Allocate and free n PyMem blocks."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef zoo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zoo_crash",
    .m_doc = "lifeline bug zoo: crashes",
    .m_size = -1,
    .m_methods = zoo_methods,
};

PyMODINIT_FUNC
PyInit_zoo_crash(void)
{
    return PyModule_Create(&zoo_module);
}
