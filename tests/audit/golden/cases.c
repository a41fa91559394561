/* Golden input for the text, JSON and SARIF output shapes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *
pair_or_fail(PyObject *self, PyObject *args)
{
    Py_ssize_t n = PyObject_Length(args);
    PyObject *label;
    PyObject *pair;

    if (n > 2) {
        PyErr_SetString(PyExc_TypeError, "too many arguments");
        return NULL;
    }
    label = PyUnicode_FromFormat("pair of %zd", n);
    if (label == NULL)
        return NULL;
    if (n < 0)
        return PyErr_Format(PyExc_ValueError, "negative"); /* leaks label */
    pair = PyTuple_Pack(2, label, args);
    Py_DECREF(label);
    return pair;
}

static PyObject *
first_item(PyObject *self, PyObject *args)
{
    PyObject *item = PyTuple_GetItem(args, 0);
    if (item == NULL)
        return NULL;
    Py_DECREF(item);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"pair_or_fail", pair_or_fail, METH_VARARGS, NULL},
    {"first_item", first_item, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};
