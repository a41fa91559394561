/* Corpus: correct code that looks suspicious. Nothing here may be reported. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

typedef struct {
    PyObject_HEAD
    PyObject *a;
    PyObject *b;
    PyObject *weakreflist;
} GoodObject;

/* ownership handed to Py_BuildValue("N") */
static PyObject *
ok_buildvalue_N(PyObject *self, PyObject *arg)
{
    PyObject *s = PyObject_Str(arg);
    if (s == NULL)
        return NULL;
    return Py_BuildValue("(Ni)", s, 3);
}

/* PyModule_AddObjectRef does not steal: release afterwards */
static int
ok_add_object_ref(PyObject *module)
{
    PyObject *v = PyLong_FromLong(1);
    if (v == NULL)
        return -1;
    int rc = PyModule_AddObjectRef(module, "ONE", v);
    Py_DECREF(v);
    return rc;
}

/* PyModule_AddObject steals only on success */
static int
ok_add_object(PyObject *module)
{
    PyObject *v = PyUnicode_FromString("x");
    if (PyModule_AddObject(module, "X", v) < 0) {
        Py_XDECREF(v);
        return -1;
    }
    return 0;
}

/* goto cleanup with Py_XDECREF of NULL-initialised variables */
static PyObject *
ok_goto_cleanup(PyObject *self, PyObject *args)
{
    PyObject *a = NULL, *b = NULL, *res = NULL;
    a = PyLong_FromLong(1);
    if (a == NULL)
        goto done;
    b = PyLong_FromLong(2);
    if (b == NULL)
        goto done;
    res = PyNumber_Add(a, b);
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    return res;
}

/* tuple filled with stolen references */
static PyObject *
ok_tuple_fill(PyObject *self, PyObject *args)
{
    PyObject *t = PyTuple_New(2);
    if (t == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        PyObject *v = PyLong_FromLong(i);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

/* borrowed item made owned before the container changes */
static PyObject *
ok_incref_before_mutation(PyObject *self, PyObject *list)
{
    PyObject *old = PyList_GetItem(list, 0);
    if (old == NULL)
        return NULL;
    Py_INCREF(old);
    if (PyList_SetItem(list, 0, Py_NewRef(Py_None)) < 0) {
        Py_DECREF(old);
        return NULL;
    }
    return old;
}

/* Py_SETREF / Py_XSETREF / Py_CLEAR on struct fields and locals */
static PyObject *
ok_setref(GoodObject *self, PyObject *arg)
{
    PyObject *s = PyObject_Str(arg);
    if (s == NULL)
        return NULL;
    Py_SETREF(self->a, s);
    Py_XSETREF(self->b, Py_NewRef(arg));
    PyObject *tmp = PyObject_Repr(arg);
    Py_CLEAR(tmp);
    Py_RETURN_NONE;
}

/* NULL returned with the exception from a failing call, or after PyErr_Format */
static PyObject *
ok_error_paths(PyObject *self, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred())
        return NULL;
    if (v < 0)
        return PyErr_Format(PyExc_ValueError, "negative: %ld", v);
    if (v == 0) {
        PyErr_SetString(PyExc_ZeroDivisionError, "zero");
        return NULL;
    }
    return PyLong_FromLong(100 / v);
}

/* a correlated flag decides whether the reference is released */
static PyObject *
ok_flag(PyObject *self, PyObject *arg)
{
    int owned = 0;
    PyObject *o = arg;
    if (PyUnicode_Check(arg)) {
        o = PyUnicode_AsUTF8String(arg);
        if (o == NULL)
            return NULL;
        owned = 1;
    }
    Py_ssize_t n = PyObject_Length(o);
    if (owned)
        Py_DECREF(o);
    if (n < 0)
        return NULL;
    return PyLong_FromSsize_t(n);
}

/* a stored reference with the Py_INCREF after the store */
static PyObject *
ok_store_then_incref(GoodObject *self, PyObject *args)
{
    PyObject *v;
    if (!PyArg_ParseTuple(args, "O", &v))
        return NULL;
    Py_XSETREF(self->a, v);
    Py_INCREF(v);
    Py_RETURN_NONE;
}

/* dict iteration keeps borrowed references while the dict is untouched */
static PyObject *
ok_dict_next(PyObject *self, PyObject *dict)
{
    PyObject *key, *value, *out = PyList_New(0);
    Py_ssize_t pos = 0;
    if (out == NULL)
        return NULL;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (PyList_Append(out, key) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* memory from the right allocator family */
static PyObject *
ok_memory(PyObject *self, PyObject *arg)
{
    char *p = PyMem_Malloc(10);
    if (p == NULL)
        return PyErr_NoMemory();
    char *q = PyMem_Realloc(p, 20);
    if (q == NULL) {
        PyMem_Free(p);
        return PyErr_NoMemory();
    }
    PyMem_Free(q);
    Py_RETURN_NONE;
}

/* a complete GC type */
static int
good_traverse(GoodObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->a);
    Py_VISIT(self->b);
    return 0;
}

static int
good_clear(GoodObject *self)
{
    Py_CLEAR(self->a);
    Py_XDECREF(self->b);
    self->b = NULL;
    return 0;
}

static void
good_dealloc(GoodObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    good_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject Good_Type;

/* every field set before the object is tracked or returned */
static PyObject *
ok_new(PyObject *self, PyObject *arg)
{
    GoodObject *g = PyObject_GC_New(GoodObject, &Good_Type);
    if (g == NULL)
        return NULL;
    g->a = NULL;
    g->b = NULL;
    g->weakreflist = NULL;
    g->a = PyObject_Str(arg);
    if (g->a == NULL) {
        Py_DECREF(g);
        return NULL;
    }
    PyObject_GC_Track(g);
    return (PyObject *)g;
}

/* tp_alloc zero-fills: fields may stay NULL */
static PyObject *
ok_tp_alloc(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    GoodObject *g = (GoodObject *)type->tp_alloc(type, 0);
    if (g == NULL)
        return NULL;
    return (PyObject *)g;
}

static PyTypeObject Good_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corpus.Good",
    .tp_basicsize = sizeof(GoodObject),
    .tp_dealloc = (destructor)good_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)good_traverse,
    .tp_clear = (inquiry)good_clear,
    .tp_weaklistoffset = offsetof(GoodObject, weakreflist),
    .tp_new = ok_tp_alloc,
};

static PyMethodDef clean_methods[] = {
    {"a", ok_buildvalue_N, METH_O, NULL},
    {"b", ok_goto_cleanup, METH_VARARGS, NULL},
    {"c", ok_tuple_fill, METH_VARARGS, NULL},
    {"d", ok_incref_before_mutation, METH_O, NULL},
    {"e", (PyCFunction)ok_setref, METH_O, NULL},
    {"f", ok_error_paths, METH_O, NULL},
    {"g", ok_flag, METH_O, NULL},
    {"h", (PyCFunction)ok_store_then_incref, METH_VARARGS, NULL},
    {"i", ok_dict_next, METH_O, NULL},
    {"j", ok_memory, METH_O, NULL},
    {"k", ok_new, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef clean_module = {PyModuleDef_HEAD_INIT, "clean", NULL, -1, clean_methods};

PyMODINIT_FUNC
PyInit_clean(void)
{
    PyObject *m = PyModule_Create(&clean_module);
    if (m == NULL)
        return NULL;
    if (ok_add_object_ref(m) < 0 || ok_add_object(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
