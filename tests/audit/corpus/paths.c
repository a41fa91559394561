/* Corpus: facts a path establishes (equal locals, NULL-ness across macro
 * bodies, flags set from a condition) and the infeasible branches they rule
 * out. Buggy lines carry an expect marker; everything else must stay silent. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* a local that is the argument itself or a converted copy, released only when it is the copy */
static PyObject *
paths_alias_released_when_copy(PyObject *self, PyObject *args)
{
    PyObject *arg, *s;
    if (!PyArg_ParseTuple(args, "O", &arg))
        return NULL;
    if (PyBytes_Check(arg)) {
        s = arg;
    } else if (PyUnicode_Check(arg)) {
        s = PyUnicode_AsUTF8String(arg);
        if (s == NULL)
            return NULL;
    } else {
        PyErr_SetString(PyExc_TypeError, "expected bytes or str");
        return NULL;
    }
    Py_ssize_t n = PyBytes_Size(s);
    if (s != arg) {
        Py_DECREF(s);
    }
    return PyLong_FromSsize_t(n);
}

/* the test is the wrong way round: the borrowed argument is released, the copy leaks */
static PyObject *
paths_alias_test_inverted(PyObject *self, PyObject *args)
{
    PyObject *arg, *s;
    if (!PyArg_ParseTuple(args, "O", &arg))
        return NULL;
    if (PyBytes_Check(arg)) {
        s = arg;
    } else {
        s = PyObject_Bytes(arg);
        if (s == NULL)
            return NULL;
    }
    Py_ssize_t n = PyBytes_Size(s);
    if (s == arg) {
        Py_DECREF(s); /* expect: decref-borrowed */
    }
    return PyLong_FromSsize_t(n); /* expect: leak */
}

/* an equality test of two different new references does not excuse a leak elsewhere */
static PyObject *
paths_alias_other_leak(PyObject *self, PyObject *arg)
{
    PyObject *a = PyObject_Str(arg);
    if (a == NULL)
        return NULL;
    PyObject *b = PyObject_Repr(arg);
    if (b == NULL)
        return NULL; /* expect: leak */
    int same = 0;
    if (a == b)
        same = 1;
    Py_DECREF(a);
    Py_DECREF(b);
    return PyBool_FromLong(same);
}
