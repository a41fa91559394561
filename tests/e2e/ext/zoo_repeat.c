/* Bug zoo for `lifeline leaks`: what grows on every repetition, and what only looks like it might.
 *
 *   leak_ref()     returns a new Token with one reference too many: the Token never dies
 *   leak_buffer()  PyMem_Malloc's a buffer and forgets it
 *   leak_list()    builds a list holding a new bytes object and drops neither
 *   leak_none()    takes one reference to None too many: references grow, memory does not
 *   cached()       fills a cache of CACHE_SIZE entries, one per call, then only reads it: it grows
 *                  during the first CACHE_SIZE calls (the warm-ups of -R 3:3) and never after
 *   clean()        allocates, uses and frees: nothing grows */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define CACHE_SIZE 3

typedef struct {
    PyObject_HEAD
    long serial;
} TokenObject;

static void Token_dealloc(PyObject *self) { PyObject_Free(self); }

static PyTypeObject TokenType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_repeat.Token",
    .tp_basicsize = sizeof(TokenObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = Token_dealloc,
};

static long serial;

static PyObject *
leak_ref(PyObject *m, PyObject *unused)
{
    TokenObject *t = PyObject_New(TokenObject, &TokenType);
    if (!t)
        return NULL;
    t->serial = ++serial;
    Py_INCREF(t); /* BUG: one reference too many */
    return (PyObject *)t;
}

static PyObject *
leak_buffer(PyObject *m, PyObject *unused)
{
    char *buf = PyMem_Malloc(48);
    if (!buf)
        return PyErr_NoMemory();
    memset(buf, 'z', 48); /* BUG: never freed */
    Py_RETURN_NONE;
}

static PyObject *
leak_list(PyObject *m, PyObject *unused)
{
    PyObject *list = PyList_New(0);
    PyObject *item = PyBytes_FromFormat("zoo_repeat item %ld", ++serial);
    if (!list || !item || PyList_Append(list, item) < 0) {
        Py_XDECREF(item);
        Py_XDECREF(list);
        return NULL;
    }
    Py_DECREF(item);
    Py_RETURN_NONE; /* BUG: the list is never released */
}

static PyObject *
leak_none(PyObject *m, PyObject *unused)
{
    Py_INCREF(Py_None); /* BUG: never released */
    Py_RETURN_NONE;
}

static PyObject *cache;

static PyObject *
cached(PyObject *m, PyObject *unused)
{
    if (!cache && !(cache = PyDict_New()))
        return NULL;
    Py_ssize_t n = PyDict_Size(cache);
    if (n < CACHE_SIZE) {
        PyObject *key = PyLong_FromSsize_t(n);
        PyObject *value = PyBytes_FromFormat("zoo_repeat cache entry %zd", n);
        int rc = key && value ? PyDict_SetItem(cache, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(PyDict_Size(cache));
}

static PyObject *
clean(PyObject *m, PyObject *unused)
{
    PyObject *list = PyList_New(0);
    char *buf = PyMem_Malloc(48);
    if (!list || !buf) {
        Py_XDECREF(list);
        PyMem_Free(buf);
        return PyErr_NoMemory();
    }
    for (int i = 0; i < 10; i++) {
        PyObject *item = PyBytes_FromFormat("zoo_repeat clean %d", i);
        if (!item || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            PyMem_Free(buf);
            return NULL;
        }
        Py_DECREF(item);
    }
    memset(buf, 'c', 48);
    Py_ssize_t n = PyList_GET_SIZE(list);
    Py_DECREF(list);
    PyMem_Free(buf);
    return PyLong_FromSsize_t(n);
}

static PyMethodDef methods[] = {
    {"leak_ref", leak_ref, METH_NOARGS, ""},
    {"leak_buffer", leak_buffer, METH_NOARGS, ""},
    {"leak_list", leak_list, METH_NOARGS, ""},
    {"leak_none", leak_none, METH_NOARGS, ""},
    {"cached", cached, METH_NOARGS, ""},
    {"clean", clean, METH_NOARGS, ""},
    {0},
};

static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "zoo_repeat", 0, -1, methods};

PyMODINIT_FUNC
PyInit_zoo_repeat(void)
{
    if (PyType_Ready(&TokenType) < 0)
        return NULL;
    return PyModule_Create(&mod);
}
