/* Corpus: leak. Each buggy line carries an expect marker; the rest must stay silent. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* early return after an allocation */
static PyObject *
leak_early_return(PyObject *self, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *label = PyUnicode_FromFormat("n=%zd", n);
    if (label == NULL)
        return NULL;
    if (n > 3) {
        PyErr_SetString(PyExc_ValueError, "too many");
        return NULL; /* expect: leak */
    }
    return label;
}

/* the second allocation fails and the first is forgotten */
static PyObject *
leak_second_alloc(PyObject *self, PyObject *args)
{
    PyObject *a = PyLong_FromLong(1);
    if (a == NULL)
        return NULL;
    PyObject *b = PyLong_FromLong(2);
    if (b == NULL)
        return NULL; /* expect: leak */
    PyObject *res = PyTuple_Pack(2, a, b);
    Py_DECREF(a);
    Py_DECREF(b);
    return res;
}

/* goto cleanup that forgets one variable */
static PyObject *
leak_goto_cleanup(PyObject *self, PyObject *arg)
{
    PyObject *res = NULL;
    PyObject *key = PyUnicode_FromString("key");
    PyObject *val = NULL;
    if (key == NULL)
        goto error;
    val = PyObject_GetItem(arg, key);
    if (val == NULL)
        goto error;
    res = PyObject_Repr(val);
error:
    Py_XDECREF(key);
    return res; /* expect: leak */
}

/* a result that is dropped on the floor */
static PyObject *
leak_ignored_result(PyObject *self, PyObject *f)
{
    PyObject_CallMethod(f, "flush", NULL); /* expect: leak */
    Py_RETURN_NONE;
}

/* a temporary passed to a call that does not steal */
static PyObject *
leak_temporary_arg(PyObject *self, PyObject *list)
{
    if (PyList_Append(list, PyLong_FromLong(42)) < 0) /* expect: leak */
        return NULL;
    Py_RETURN_NONE;
}

/* reassigning the only variable holding the reference inside a loop */
static PyObject *
leak_in_loop(PyObject *self, PyObject *seq)
{
    Py_ssize_t n = PySequence_Size(seq);
    if (n < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(seq, i);
        if (item == NULL)
            return NULL;
        if (PyObject_IsTrue(item) < 0)
            return NULL; /* expect: leak */
        Py_DECREF(item);
    }
    Py_RETURN_NONE;
}

/* an extra Py_INCREF on a borrowed object never balanced */
static PyObject *
leak_extra_incref(PyObject *self, PyObject *args)
{
    PyObject *first = PyTuple_GetItem(args, 0);
    if (first == NULL)
        return NULL;
    Py_INCREF(first);
    Py_INCREF(first);
    return first; /* expect: leak */
}

/* switch with one case forgetting to release */
static PyObject *
leak_switch(PyObject *self, PyObject *arg)
{
    long kind = PyLong_AsLong(arg);
    if (kind == -1 && PyErr_Occurred())
        return NULL;
    PyObject *s = PyUnicode_FromString("x");
    if (s == NULL)
        return NULL;
    switch (kind) {
    case 0:
        Py_DECREF(s);
        Py_RETURN_NONE;
    case 1:
        Py_RETURN_TRUE; /* expect: leak */
    default:
        return s;
    }
}

static PyMethodDef leak_methods[] = {
    {"leak_early_return", leak_early_return, METH_VARARGS, NULL},
    {"leak_second_alloc", leak_second_alloc, METH_VARARGS, NULL},
    {"leak_goto_cleanup", leak_goto_cleanup, METH_O, NULL},
    {"leak_ignored_result", leak_ignored_result, METH_O, NULL},
    {"leak_temporary_arg", leak_temporary_arg, METH_O, NULL},
    {"leak_in_loop", leak_in_loop, METH_O, NULL},
    {"leak_extra_incref", leak_extra_incref, METH_VARARGS, NULL},
    {"leak_switch", leak_switch, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
