/*
 * zoo_refs: the reference-count part of lifeline's bug zoo, built with the flags `lifeline cflags`
 * prints (a forced include of include/lifeline_refs.h), so that every Py_INCREF, Py_DECREF and
 * friend below reports to the agent with its stack.
 *
 *   release_twice   an item shared and unshared correctly, then released once more by a helper
 *                   that never owned it (the count goes 1 -> 0 there and the item is freed), then
 *                   written through the stale pointer: a use-after-free whose history must show
 *                   that decref
 *   leak_extra_incref  an item handed to Python after a helper took a reference it never gives
 *                   back: a leak at exit whose history shows that incref (Python's own changes are
 *                   not recorded)
 *   clean_refs      every routed macro used correctly (Py_INCREF, Py_DECREF, Py_XINCREF and
 *                   Py_XDECREF of NULL and non-NULL, Py_NewRef, Py_XNewRef, Py_CLEAR, Py_SETREF,
 *                   Py_XSETREF); returns the reference counts it saw, which must be the same with
 *                   and without the header, and with and without lifeline
 *
 * tests/e2e/test_refs.py asserts on function names and on the lines of the marker comments.
 * Built like every zoo extension (lifeline_harness.build_extension: -O1 -g
 * -fno-optimize-sibling-calls), plus the cflags.
 */
#include <Python.h>

#define NOINLINE __attribute__((noinline))

typedef struct {
    PyObject_HEAD
    long value;             /* offset 16 */
    long hits;              /* offset 24 */
} ItemObject;               /* 32 bytes */

static void
item_dealloc(PyObject *self)
{
    PyObject_Free(self);
}

static PyTypeObject Item_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_refs.Item",
    .tp_basicsize = sizeof(ItemObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = item_dealloc,
};

NOINLINE static PyObject *
item_new(long value)
{
    ItemObject *it = PyObject_New(ItemObject, &Item_Type);
    if (it == NULL)
        return NULL;
    it->value = value;
    it->hits = 0;
    return (PyObject *)it;
}

NOINLINE static void
item_touch(PyObject *item)
{
    ((ItemObject *)item)->hits += 1;
    __asm__ volatile("" ::: "memory");
}

/* A second owner takes a reference, and gives it back. */
NOINLINE static void
share_item(PyObject *item)
{
    Py_INCREF(item);                                   /* shared: +1 */
}

NOINLINE static void
unshare_item(PyObject *item)
{
    Py_DECREF(item);                                   /* unshared: -1 */
}

/* The bug: a cleanup that releases an entry it only looked at. */
NOINLINE static void
forget_entry(PyObject *item)
{
    Py_DECREF(item);                                   /* released: never owned */
}

static PyObject *
zoo_release_twice(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *item = item_new(5);
    if (item == NULL)
        return NULL;
    share_item(item);
    unshare_item(item);
    forget_entry(item);                                /* the count reaches 0: freed */
    item_touch(item);                                  /* use after free (write, offset 24) */
    Py_RETURN_NONE;                                    /* the owner's reference is lost with it */
}

/* The bug: "remembers" the item by taking a reference, but stores nothing. */
NOINLINE static void
remember(PyObject *item)
{
    Py_INCREF(item);                                   /* kept: never released */
}

static PyObject *
zoo_leak_extra_incref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *item = item_new(7);
    if (item == NULL)
        return NULL;
    remember(item);
    return item;                                       /* the caller's reference */
}

static PyObject *
zoo_clean_refs(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *a = item_new(1), *b = NULL, *c;
    if (a == NULL)
        return NULL;
    Py_ssize_t seen[8];
    Py_INCREF(a);
    Py_XINCREF(a);
    Py_XINCREF(b);                                     /* NULL: nothing */
    seen[0] = Py_REFCNT(a);                            /* 3 */
    Py_DECREF(a);
    Py_XDECREF(a);
    Py_XDECREF(b);                                     /* NULL: nothing */
    seen[1] = Py_REFCNT(a);                            /* 1 */
    b = Py_NewRef(a);
    c = Py_XNewRef(a);
    seen[2] = Py_REFCNT(a);                            /* 3 */
    seen[3] = Py_XNewRef((PyObject *)NULL) == NULL;    /* 1 */
    Py_CLEAR(c);
    seen[4] = (c == NULL) * 10 + Py_REFCNT(a);         /* 12 */
    PyObject *d = item_new(2);
    if (d == NULL)
        return NULL;
    Py_SETREF(b, d);                                   /* b's reference to a released, d's taken */
    seen[5] = Py_REFCNT(a) * 10 + Py_REFCNT(b);        /* 11 */
    Py_XSETREF(b, NULL);                               /* d freed */
    seen[6] = b == NULL;                               /* 1 */
    Py_CLEAR(b);                                       /* NULL: nothing */
    seen[7] = Py_REFCNT(a);                            /* 1 */
    Py_DECREF(a);                                      /* a freed */
    return Py_BuildValue("(nnnnnnnn)", seen[0], seen[1], seen[2], seen[3], seen[4], seen[5], seen[6],
                         seen[7]);
}

/* Whether the header routed this module's macros (1) or not (0). */
static PyObject *
zoo_routed(PyObject *module, PyObject *Py_UNUSED(args))
{
#ifdef LIFELINE_REFS_H
    return PyLong_FromLong(1);
#else
    return PyLong_FromLong(0);
#endif
}

static PyMethodDef zoo_methods[] = {
    {"release_twice", zoo_release_twice, METH_NOARGS, NULL},
    {"leak_extra_incref", zoo_leak_extra_incref, METH_NOARGS, NULL},
    {"clean_refs", zoo_clean_refs, METH_NOARGS, NULL},
    {"routed", zoo_routed, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef zoo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zoo_refs",
    .m_doc = "lifeline's reference-count bug zoo (deliberate bugs)",
    .m_size = -1,
    .m_methods = zoo_methods,
};

PyMODINIT_FUNC
PyInit_zoo_refs(void)
{
    if (PyType_Ready(&Item_Type) < 0)
        return NULL;
    return PyModule_Create(&zoo_module);
}
