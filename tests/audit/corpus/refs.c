/* Corpus: decref-borrowed, decref-after-steal, double-free. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
borrowed_decref_tuple(PyObject *self, PyObject *args)
{
    PyObject *item = PyTuple_GetItem(args, 0);
    if (item == NULL)
        return NULL;
    Py_DECREF(item); /* expect: decref-borrowed */
    Py_RETURN_NONE;
}

static PyObject *
borrowed_decref_dict(PyObject *self, PyObject *dict)
{
    PyObject *v = PyDict_GetItemString(dict, "name");
    if (v == NULL)
        Py_RETURN_NONE;
    PyObject *r = PyObject_Str(v);
    Py_XDECREF(v); /* expect: decref-borrowed */
    return r;
}

static PyObject *
borrowed_decref_parsed(PyObject *self, PyObject *args)
{
    PyObject *obj;
    if (!PyArg_ParseTuple(args, "O:f", &obj))
        return NULL;
    PyObject *r = PyObject_Repr(obj);
    Py_DECREF(obj); /* expect: decref-borrowed */
    return r;
}

/* The demo's shape: a borrowed item handed to a helper, then released. */
static double item_weight(PyObject *item);

static PyObject *
borrowed_through_helper(PyObject *self, PyObject *list)
{
    double total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GetItem(list, i);
        if (item == NULL)
            return NULL;
        total += item_weight(item);
        Py_DECREF(item); /* expect: decref-borrowed */
    }
    return PyFloat_FromDouble(total);
}

static PyObject *
steal_then_decref(PyObject *self, PyObject *args)
{
    PyObject *t = PyTuple_New(1);
    if (t == NULL)
        return NULL;
    PyObject *v = PyLong_FromLong(7);
    if (v == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    if (PyTuple_SetItem(t, 0, v) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    Py_DECREF(v); /* expect: decref-after-steal */
    return t;
}

static PyObject *
steal_setitem_then_decref(PyObject *self, PyObject *args)
{
    PyObject *list = PyList_New(1);
    if (list == NULL)
        return NULL;
    PyObject *v = PyUnicode_FromString("s");
    if (v == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    if (PyList_SetItem(list, 0, v) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    Py_DECREF(v); /* expect: decref-after-steal */
    return list;
}

static PyObject *
steal_buildvalue_N(PyObject *self, PyObject *args)
{
    PyObject *v = PyLong_FromLong(3);
    if (v == NULL)
        return NULL;
    PyObject *res = Py_BuildValue("(N)", v);
    Py_DECREF(v); /* expect: decref-after-steal */
    return res;
}

static PyObject *
double_decref(PyObject *self, PyObject *arg)
{
    PyObject *s = PyObject_Str(arg);
    if (s == NULL)
        return NULL;
    Py_ssize_t n = PyUnicode_GetLength(s);
    Py_DECREF(s);
    if (n < 0) {
        Py_DECREF(s); /* expect: double-free */
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

static PyObject *
double_decref_cleanup(PyObject *self, PyObject *arg)
{
    PyObject *r = NULL;
    PyObject *s = PyObject_Repr(arg);
    if (s == NULL)
        goto done;
    r = PyObject_Str(s);
    Py_DECREF(s);
done:
    Py_XDECREF(s); /* expect: double-free */
    return r;
}

static PyObject *
double_free_memory(PyObject *self, PyObject *arg)
{
    char *buf = PyMem_Malloc(16);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyMem_Free(buf);
    PyMem_Free(buf); /* expect: double-free */
    Py_RETURN_NONE;
}

static PyMethodDef refs_methods[] = {
    {"a", borrowed_decref_tuple, METH_VARARGS, NULL},
    {"b", borrowed_decref_dict, METH_O, NULL},
    {"c", borrowed_decref_parsed, METH_VARARGS, NULL},
    {"d", steal_then_decref, METH_VARARGS, NULL},
    {"e", steal_setitem_then_decref, METH_VARARGS, NULL},
    {"f", steal_buildvalue_N, METH_VARARGS, NULL},
    {"g", double_decref, METH_O, NULL},
    {"h", double_decref_cleanup, METH_O, NULL},
    {"i", double_free_memory, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
