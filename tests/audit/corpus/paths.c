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

/* a statement-like macro with both == and != tests on pointers it can see */
#define APPEND_PENDING \
    if (pending != NULL) { \
        if (parts == NULL) { \
            parts = PyList_New(0); \
            if (parts == NULL) \
                goto bail; \
        } \
        if (PyList_Append(parts, pending)) \
            goto bail; \
        Py_CLEAR(pending); \
    }

static PyObject *
paths_macro_append(PyObject *self, PyObject *seq)
{
    PyObject *parts = NULL, *pending = NULL;
    Py_ssize_t n = PySequence_Length(seq);
    if (n < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        APPEND_PENDING
        pending = PySequence_GetItem(seq, i);
        if (pending == NULL)
            goto bail;
    }
    if (parts == NULL)
        return pending != NULL ? pending : PyList_New(0);
    APPEND_PENDING
    return parts;
bail:
    Py_XDECREF(pending);
    Py_XDECREF(parts);
    return NULL;
}

/* the same macro, but the list is dropped when appending fails */
#define APPEND_OR_DROP \
    if (pending != NULL) { \
        if (PyList_Append(parts, pending) < 0) \
            return NULL; \
        Py_CLEAR(pending); \
    }

static PyObject *
paths_macro_leaks(PyObject *self, PyObject *arg)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL)
        return NULL;
    PyObject *pending = PyObject_Str(arg);
    if (pending == NULL) {
        Py_DECREF(parts);
        return NULL;
    }
    APPEND_OR_DROP /* expect: leak */
    return parts;
}

/* two owned references that turn out to be one object are still both owed */
static PyObject *
paths_alias_both_owned(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *arg = PyList_New(0);
    if (arg == NULL)
        return NULL;
    Py_INCREF(arg);
    PyObject *res = Py_BuildValue("N", arg);
    if (res == NULL)
        return NULL; /* expect: leak */
    if (res == arg) {
        PyErr_SetString(PyExc_RuntimeError, "same object");
        return NULL; /* expect: leak */
    }
    Py_DECREF(res);
    Py_DECREF(arg);
    Py_RETURN_NONE;
}

typedef struct {
    PyObject_HEAD
    PyObject *pairs_hook;
    PyObject *memo;
} HookObject;

/* a flag set from a field test decides what was allocated; the same test decides what is returned */
static PyObject *
paths_flag_from_field(HookObject *s, PyObject *items)
{
    PyObject *pairs = NULL, *rval = NULL;
    int has_hook = (s->pairs_hook != Py_None);
    if (has_hook) {
        pairs = PyList_New(0);
        if (pairs == NULL)
            return NULL;
    } else {
        rval = PyDict_New();
        if (rval == NULL)
            return NULL;
    }
    if (s->pairs_hook != Py_None) {
        PyObject *val = PyObject_CallOneArg(s->pairs_hook, pairs);
        Py_DECREF(pairs);
        return val;
    }
    return rval;
}

/* the flag is tested twice and the second test releases the wrong object */
static PyObject *
paths_flag_wrong_release(HookObject *s, PyObject *items)
{
    PyObject *pairs = NULL, *rval = NULL;
    int has_hook = s->pairs_hook != Py_None;
    if (has_hook) {
        pairs = PyList_New(0);
        if (pairs == NULL)
            return NULL;
    } else {
        rval = PyDict_New();
        if (rval == NULL)
            return NULL;
    }
    if (s->pairs_hook == Py_None) {
        Py_XDECREF(pairs);
        Py_RETURN_NONE; /* expect: leak */
    }
    return pairs;
}

/* after a store to the field the old flag says nothing about the new value */
static PyObject *
paths_flag_field_changed(HookObject *s, PyObject *hook)
{
    PyObject *rval = NULL;
    int has_hook = (s->pairs_hook != Py_None);
    if (!has_hook) {
        rval = PyDict_New();
        if (rval == NULL)
            return NULL;
    }
    s->pairs_hook = hook;
    if (s->pairs_hook != Py_None)
        Py_RETURN_NONE; /* expect: leak */
    return rval;
}
