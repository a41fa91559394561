/* Corpus: facts of the hand-kept C API overlay (audit/api_facts.c). Buggy
 * lines carry an expect marker; everything else must stay silent. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* PyCallable_Check(NULL) returns 0: testing a maybe-NULL attribute with it is fine */
static PyObject *
facts_callable_check(PyObject *self, PyObject *file)
{
    PyObject *read = PyObject_GetAttrString(file, "read");
    if (!PyCallable_Check(read)) {
        Py_XDECREF(read);
        PyErr_SetString(PyExc_TypeError, "expected a file");
        return NULL;
    }
    PyObject *data = PyObject_CallNoArgs(read);
    Py_DECREF(read);
    return data;
}

/* a NULL-accepting check does not excuse the call that follows */
static PyObject *
facts_callable_then_call(PyObject *self, PyObject *file)
{
    PyObject *read = PyObject_GetAttrString(file, "read");
    int ok = PyCallable_Check(read);
    PyObject *data = PyObject_CallNoArgs(read); /* expect: missing-null-check */
    Py_XDECREF(read);
    if (!ok) {
        Py_XDECREF(data);
        Py_RETURN_NONE;
    }
    return data;
}

/* PyTuple_New(0) is the empty-tuple singleton: it cannot fail */
static PyObject *
facts_empty_tuple(PyObject *self, PyObject *func)
{
    PyObject *args = PyTuple_New(0);
    PyObject *res = PyObject_Call(func, args, NULL);
    Py_DECREF(args);
    return res;
}

/* a non-empty tuple can fail to allocate */
static PyObject *
facts_sized_tuple(PyObject *self, PyObject *func)
{
    PyObject *args = PyTuple_New(1);
    Py_INCREF(func);
    PyTuple_SET_ITEM(args, 0, func); /* expect: missing-null-check */
    PyObject *res = PyObject_Call(func, args, NULL);
    Py_DECREF(args);
    return res;
}

/* filling a fresh tuple at in-range indexes cannot fail, so the release on
 * the (unreachable) failure path is not a second release */
static PyObject *
facts_fill_pair(PyObject *self, PyObject *args)
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
        if (PyTuple_SetItem(t, 0, v) < 0) {
            Py_DECREF(v);
            Py_DECREF(t);
            return NULL;
        }
    }
    PyObject *w = PyLong_FromLong(7);
    if (w == NULL || PyTuple_SetItem(t, 1, w) < 0) {
        Py_XDECREF(w);
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

/* an index past the end fails, and the item is then released twice */
static PyObject *
facts_fill_out_of_range(PyObject *self, PyObject *args)
{
    PyObject *t = PyTuple_New(2);
    if (t == NULL)
        return NULL;
    PyObject *v = PyLong_FromLong(2);
    if (v == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    if (PyTuple_SetItem(t, 2, v) < 0) {
        Py_DECREF(v); /* expect: decref-after-steal */
        Py_DECREF(t);
        return NULL;
    }
    return t;
}

/* a list another owner may share (here: one more reference) can shrink, so the failure is reachable */
static PyObject *
facts_fill_shared_list(PyObject *self, PyObject *args)
{
    PyObject *l = PyList_New(1);
    if (l == NULL)
        return NULL;
    Py_INCREF(l);
    PyObject *v = PyLong_FromLong(1);
    if (v == NULL) {
        Py_DECREF(l);
        Py_DECREF(l);
        return NULL;
    }
    if (PyList_SetItem(l, 0, v) < 0) {
        Py_DECREF(v); /* expect: decref-after-steal */
        Py_DECREF(l);
        Py_DECREF(l);
        return NULL;
    }
    Py_DECREF(l);
    return l;
}

/* PyBytes_FromStringAndSize(s, 0) is the empty-bytes singleton: the NULL test is dead code */
static PyObject *
facts_empty_bytes(PyObject *self, PyObject *arg)
{
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    PyObject *empty = PyBytes_FromStringAndSize("", 0);
    if (empty == NULL)
        return NULL;
    if (PyList_Append(items, empty) < 0) {
        Py_DECREF(empty);
        Py_DECREF(items);
        return NULL;
    }
    Py_DECREF(empty);
    return items;
}

/* with a size that is not 0 the allocation can fail, and then the list leaks */
static PyObject *
facts_sized_bytes(PyObject *self, PyObject *arg)
{
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return NULL;
    PyObject *one = PyBytes_FromStringAndSize(NULL, 4096);
    if (one == NULL)
        return NULL; /* expect: leak */
    if (PyList_Append(items, one) < 0) {
        Py_DECREF(one);
        Py_DECREF(items);
        return NULL;
    }
    Py_DECREF(one);
    return items;
}

typedef struct {
    PyObject_HEAD
    PyObject *unused_data;
    PyObject *unconsumed_tail;
} ZObject;

static PyTypeObject ZType;

/* the field holds a result that cannot be NULL, so its NULL test is dead code */
static ZObject *
facts_new_zobject(void)
{
    ZObject *self = PyObject_New(ZObject, &ZType);
    if (self == NULL)
        return NULL;
    self->unused_data = PyBytes_FromStringAndSize("", 0);
    if (self->unused_data == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->unconsumed_tail = PyBytes_FromStringAndSize("", 0);
    return self;
}

/* a field holding a result that may be NULL keeps both outcomes */
static ZObject *
facts_new_zobject_sized(Py_ssize_t n)
{
    ZObject *self = PyObject_New(ZObject, &ZType);
    if (self == NULL)
        return NULL;
    self->unused_data = PyBytes_FromStringAndSize(NULL, n);
    if (self->unused_data == NULL) {
        Py_DECREF(self); /* expect: uninitialized-field */
        return NULL;
    }
    self->unconsumed_tail = PyBytes_FromStringAndSize("", 0);
    return self;
}
