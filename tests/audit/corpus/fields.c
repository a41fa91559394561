/* Corpus: uninitialized-field, gc-tracked-uninitialized. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *key;
    PyObject *value;
} EntryObject;

static PyTypeObject Entry_Type;

static PyObject *
entry_new_returns_early(PyObject *self, PyObject *key)
{
    EntryObject *e = PyObject_New(EntryObject, &Entry_Type);
    if (e == NULL)
        return NULL;
    Py_INCREF(key);
    e->key = key;
    return (PyObject *)e; /* expect: uninitialized-field */
}

static PyObject *
entry_error_path(PyObject *self, PyObject *key)
{
    EntryObject *e = PyObject_GC_New(EntryObject, &Entry_Type);
    if (e == NULL)
        return NULL;
    e->key = PyObject_Str(key);
    if (e->key == NULL) {
        Py_DECREF(e); /* expect: uninitialized-field */
        return NULL;
    }
    e->value = Py_NewRef(Py_None);
    PyObject_GC_Track(e);
    return (PyObject *)e;
}

static PyObject *
entry_track_too_early(PyObject *self, PyObject *key)
{
    EntryObject *e = PyObject_GC_New(EntryObject, &Entry_Type);
    if (e == NULL)
        return NULL;
    e->key = Py_NewRef(key);
    PyObject_GC_Track(e); /* expect: gc-tracked-uninitialized */
    e->value = Py_NewRef(Py_None);
    return (PyObject *)e;
}

static PyObject *
entry_track_one_branch(PyObject *self, PyObject *key)
{
    EntryObject *e = PyObject_GC_New(EntryObject, &Entry_Type);
    if (e == NULL)
        return NULL;
    e->key = Py_NewRef(key);
    if (PyUnicode_Check(key))
        e->value = Py_NewRef(key);
    else
        e->key = NULL;
    PyObject_GC_Track(e); /* expect: gc-tracked-uninitialized */
    return (PyObject *)e;
}

static PyMethodDef fields_methods[] = {
    {"a", entry_new_returns_early, METH_O, NULL},
    {"b", entry_error_path, METH_O, NULL},
    {"c", entry_track_too_early, METH_O, NULL},
    {"d", entry_track_one_branch, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
