/* Corpus: null-without-exception, missing-null-check. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
null_on_bad_argument(PyObject *self, PyObject *arg)
{
    if (!PyLong_Check(arg))
        return NULL; /* expect: null-without-exception */
    return PyNumber_Negative(arg);
}

static PyObject *
null_after_success(PyObject *self, PyObject *args)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *r = PyLong_FromSsize_t(n);
    if (r == NULL)
        return NULL;
    if (n > 3) {
        Py_DECREF(r);
        return NULL; /* expect: null-without-exception */
    }
    return r;
}

static PyObject *
null_after_clear(PyObject *self, PyObject *arg)
{
    PyObject *r = PyObject_GetAttrString(arg, "value");
    if (r == NULL) {
        PyErr_Clear();
        return NULL; /* expect: null-without-exception */
    }
    return r;
}

static PyObject *
unchecked_new(PyObject *self, PyObject *arg)
{
    PyObject *s = PyObject_Str(arg);
    Py_ssize_t n = PyUnicode_GetLength(s); /* expect: missing-null-check */
    Py_DECREF(s);
    return PyLong_FromSsize_t(n);
}

static PyObject *
unchecked_deref(PyObject *self, PyObject *arg)
{
    PyObject *t = PyTuple_New(2);
    Py_INCREF(t); /* expect: missing-null-check */
    Py_DECREF(t);
    return t;
}

static PyObject *
unchecked_type(PyObject *self, PyObject *arg)
{
    PyObject *l = PyList_New(0);
    if (Py_TYPE(l) == &PyList_Type) /* expect: missing-null-check */
        return l;
    Py_DECREF(l);
    Py_RETURN_NONE;
}

static PyMethodDef errors_methods[] = {
    {"a", null_on_bad_argument, METH_O, NULL},
    {"b", null_after_success, METH_VARARGS, NULL},
    {"c", null_after_clear, METH_O, NULL},
    {"d", unchecked_new, METH_O, NULL},
    {"e", unchecked_deref, METH_O, NULL},
    {"f", unchecked_type, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
