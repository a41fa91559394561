/* Corpus: correct code in the shapes that real extension modules use and that
 * a naive checker gets wrong. Nothing here may be reported. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#define RETURN_IF_NULL(x) do { if ((x) == NULL) return NULL; } while (0)
#define ADD_INT(d, name, value) do { \
        PyObject *o_ = PyLong_FromLong(value); \
        if (!o_) \
            return -1; \
        if (PyDict_SetItemString(d, name, o_) < 0) { \
            Py_DECREF(o_); \
            return -1; \
        } \
        Py_DECREF(o_); \
    } while (0)

typedef struct {
    PyObject_HEAD
    PyObject *items;
    PyObject *name;    /* only ever a str: cannot be part of a cycle */
    PyObject *label;   /* only ever a copy of name */
    int telling;
} ShapeObject;

/* a NULL check hidden in a macro body */
static PyObject *
shape_macro_check(PyObject *self, PyObject *arg)
{
    PyObject *s = PyObject_Str(arg);
    RETURN_IF_NULL(s);
    Py_ssize_t n = PyUnicode_GetLength(s);
    Py_DECREF(s);
    return PyLong_FromSsize_t(n);
}

static int
shape_add_ints(PyObject *dict)
{
    ADD_INT(dict, "ONE", 1);
    ADD_INT(dict, "TWO", 2);
    return 0;
}

/* replace a slot, then release the old item the slot owned */
static PyObject *
shape_replace_slot(PyObject *self, PyObject *list)
{
    if (!PyList_Check(list) || PyList_GET_SIZE(list) < 1) {
        PyErr_SetString(PyExc_TypeError, "need a non-empty list");
        return NULL;
    }
    PyObject *old = PyList_GET_ITEM(list, 0);
    PyList_SET_ITEM(list, 0, Py_NewRef(Py_None));
    Py_DECREF(old);
    Py_RETURN_NONE;
}

/* correlated integer tests: the tuple exists exactly when n > 1 */
static PyObject *
shape_correlated(PyObject *self, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *tup = NULL;
    if (n > 1) {
        tup = PyTuple_New(n);
        if (tup == NULL)
            return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyTuple_GET_ITEM(args, i);
        Py_INCREF(v);
        if (n == 1)
            return v;
        PyTuple_SET_ITEM(tup, i, v);
    }
    if (n == 0)
        Py_RETURN_NONE;
    return tup;
}

/* the field test is repeated: both tests see the same value */
static PyObject *
shape_field_flag(ShapeObject *self, PyObject *arg)
{
    PyObject *snapshot = NULL;
    if (self->telling) {
        snapshot = PyObject_Repr(arg);
        if (snapshot == NULL)
            return NULL;
    }
    PyObject *res = PyObject_Str(arg);
    if (self->telling)
        Py_DECREF(snapshot);
    return res;
}

/* store into the field, then take the new reference through the field */
static int
shape_init(ShapeObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *items;
    if (!PyArg_ParseTuple(args, "O", &items))
        return -1;
    Py_XSETREF(self->items, NULL);
    self->items = items;
    Py_INCREF(self->items);
    return 0;
}

/* the allocator is chosen and released under the same switch value */
static PyObject *
shape_switch_alloc(PyObject *self, PyObject *arg)
{
    long domain = PyLong_AsLong(arg);
    if (domain == -1 && PyErr_Occurred())
        return NULL;
    void *p;
    switch (domain) {
    case 0: p = PyMem_RawMalloc(8); break;
    case 1: p = PyMem_Malloc(8); break;
    default: p = PyObject_Malloc(8); break;
    }
    if (p == NULL)
        return PyErr_NoMemory();
    switch (domain) {
    case 0: PyMem_RawFree(p); break;
    case 1: PyMem_Free(p); break;
    default: PyObject_Free(p); break;
    }
    Py_RETURN_NONE;
}

/* _PyBytes_Resize replaces the object behind the pointer */
static PyObject *
shape_resize(PyObject *self, PyObject *arg)
{
    PyObject *res = PyBytes_FromStringAndSize(NULL, 16);
    if (res == NULL)
        return NULL;
    if (_PyBytes_Resize(&res, 4) < 0)
        return NULL;
    return res;
}

/* exhaustion of an iterator: NULL without an exception is the protocol */
static PyObject *
shape_iternext(ShapeObject *self)
{
    if (self->items == NULL)
        return NULL;
    return PyIter_Next(self->items);
}

/* tp_traverse may skip a field that only ever holds a str */
static int
shape_traverse(ShapeObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->items);
    return 0;
}

static int
shape_clear(ShapeObject *self)
{
    Py_CLEAR(self->items);
    Py_CLEAR(self->name);
    Py_CLEAR(self->label);
    return 0;
}

/* the label is the name: a str as well, so tp_traverse may skip it too */
static int
shape_copy_label(ShapeObject *self)
{
    PyObject *old = self->label;
    self->label = self->name;
    Py_XINCREF(self->label);
    Py_XDECREF(old);
    return 0;
}

static void
shape_dealloc(ShapeObject *self)
{
    PyObject_GC_UnTrack(self);
    shape_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
shape_set_name(ShapeObject *self, PyObject *arg)
{
    Py_XSETREF(self->name, PyUnicode_FromString("shape"));
    self->name = PyUnicode_FromFormat("%S", arg);
    if (self->name == NULL)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef shape_methods[] = {
    {"a", shape_macro_check, METH_O, NULL},
    {"b", shape_replace_slot, METH_O, NULL},
    {"c", shape_correlated, METH_VARARGS, NULL},
    {"d", (PyCFunction)shape_field_flag, METH_O, NULL},
    {"e", shape_switch_alloc, METH_O, NULL},
    {"f", shape_resize, METH_O, NULL},
    {"g", (PyCFunction)shape_set_name, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Shape_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corpus.Shape",
    .tp_basicsize = sizeof(ShapeObject),
    .tp_dealloc = (destructor)shape_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)shape_traverse,
    .tp_clear = (inquiry)shape_clear,
    .tp_iternext = (iternextfunc)shape_iternext,
    .tp_init = (initproc)shape_init,
    .tp_methods = shape_methods,
};

/* an iteration context whose current item is borrowed from the tuple it
 * walks: nothing in the file releases that slot, so it owns nothing */
typedef struct {
    Py_ssize_t index, size;
    PyObject *item_value;
} IterContext;

int
shape_iter_next(PyObject *tuple, IterContext *ctx)
{
    if (ctx->index >= ctx->size)
        return 0;
    PyObject *item = PyTuple_GetItem(tuple, ctx->index);
    ctx->item_value = item;
    ctx->index++;
    return 1;
}
