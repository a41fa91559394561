/* Corpus: allocator-mismatch. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

static PyObject *
pymem_with_free(PyObject *self, PyObject *arg)
{
    char *buf = PyMem_Malloc(32);
    if (buf == NULL)
        return PyErr_NoMemory();
    memset(buf, 0, 32);
    free(buf); /* expect: allocator-mismatch */
    Py_RETURN_NONE;
}

static PyObject *
malloc_with_pymem_free(PyObject *self, PyObject *arg)
{
    char *buf = malloc(32);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyObject *r = PyBytes_FromStringAndSize(buf, 0);
    PyMem_Free(buf); /* expect: allocator-mismatch */
    return r;
}

static PyObject *
raw_with_object_free(PyObject *self, PyObject *arg)
{
    int *v = PyMem_RawCalloc(4, sizeof(int));
    if (v == NULL)
        return PyErr_NoMemory();
    PyObject_Free(v); /* expect: allocator-mismatch */
    Py_RETURN_NONE;
}

static PyObject *
object_malloc_with_pymem_realloc(PyObject *self, PyObject *arg)
{
    char *p = PyObject_Malloc(8);
    if (p == NULL)
        return PyErr_NoMemory();
    char *q = PyMem_Realloc(p, 64); /* expect: allocator-mismatch */
    if (q == NULL)
        return PyErr_NoMemory();
    PyMem_Free(q);
    Py_RETURN_NONE;
}

static PyMethodDef alloc_methods[] = {
    {"a", pymem_with_free, METH_O, NULL},
    {"b", malloc_with_pymem_free, METH_O, NULL},
    {"c", raw_with_object_free, METH_O, NULL},
    {"d", object_malloc_with_pymem_realloc, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
