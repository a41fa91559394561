/* Corpus: borrowed-after-mutation, store-borrowed. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *callback;
    PyObject *name;
    PyObject *owner;    /* released in holder_dealloc only */
} HolderObject;

static void
holder_dealloc(HolderObject *self)
{
    Py_XDECREF(self->owner);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* the field is released elsewhere in the file, so it owns its reference */
static PyObject *
store_into_owning_field(HolderObject *self, PyObject *args)
{
    PyObject *o = PyTuple_GetItem(args, 0);
    if (o == NULL)
        return NULL;
    self->owner = o; /* expect: store-borrowed */
    Py_RETURN_NONE;
}

static PyObject *
use_after_list_setitem(PyObject *self, PyObject *list)
{
    PyObject *old = PyList_GetItem(list, 0);
    if (old == NULL)
        return NULL;
    if (PyList_SetItem(list, 0, PyLong_FromLong(0)) < 0)
        return NULL;
    return PyObject_Repr(old); /* expect: borrowed-after-mutation */
}

static PyObject *
use_after_dict_delitem(PyObject *self, PyObject *dict)
{
    PyObject *v = PyDict_GetItemString(dict, "k");
    if (v == NULL)
        Py_RETURN_NONE;
    if (PyDict_DelItemString(dict, "k") < 0)
        return NULL;
    Py_INCREF(v); /* expect: borrowed-after-mutation */
    return v;
}

static PyObject *
use_after_container_release(PyObject *self, PyObject *arg)
{
    PyObject *seq = PySequence_List(arg);
    if (seq == NULL)
        return NULL;
    PyObject *first = PyList_GetItem(seq, 0);
    Py_DECREF(seq);
    if (first == NULL)
        return NULL;
    return PyObject_Str(first); /* expect: borrowed-after-mutation */
}

static PyObject *
store_parsed(HolderObject *self, PyObject *args)
{
    PyObject *cb;
    if (!PyArg_ParseTuple(args, "O:set_callback", &cb))
        return NULL;
    Py_XDECREF(self->callback);
    self->callback = cb; /* expect: store-borrowed */
    Py_RETURN_NONE;
}

static PyObject *
store_tuple_item(HolderObject *self, PyObject *args)
{
    PyObject *name = PyTuple_GetItem(args, 0);
    if (name == NULL)
        return NULL;
    Py_CLEAR(self->name);
    self->name = name; /* expect: store-borrowed */
    Py_RETURN_NONE;
}

static PyObject *
steal_borrowed(PyObject *self, PyObject *args)
{
    PyObject *item = PyTuple_GetItem(args, 0);
    if (item == NULL)
        return NULL;
    PyObject *t = PyTuple_New(1);
    if (t == NULL)
        return NULL;
    PyTuple_SetItem(t, 0, item); /* expect: store-borrowed */
    return t;
}

static PyMethodDef borrowed_methods[] = {
    {"a", use_after_list_setitem, METH_O, NULL},
    {"b", use_after_dict_delitem, METH_O, NULL},
    {"c", use_after_container_release, METH_O, NULL},
    {"d", (PyCFunction)store_parsed, METH_VARARGS, NULL},
    {"e", (PyCFunction)store_tuple_item, METH_VARARGS, NULL},
    {"f", steal_borrowed, METH_VARARGS, NULL},
    {"g", (PyCFunction)store_into_owning_field, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
