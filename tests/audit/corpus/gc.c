/* Corpus: gc-untraversed-reference, gc-clear-dangling, dealloc-without-untrack. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A static type whose traverse forgets a field and whose clear leaves a dangling pointer. */
typedef struct {
    PyObject_HEAD
    PyObject *first;
    PyObject *second; /* expect: gc-untraversed-reference */
    PyObject *mirror; /* expect: gc-untraversed-reference */
    PyObject *weakreflist;
} PairObject;

static int
pair_traverse(PairObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->first);
    return 0;
}

static int
pair_clear(PairObject *self)
{
    Py_CLEAR(self->first);
    Py_XDECREF(self->second); /* expect: gc-clear-dangling */
    Py_CLEAR(self->mirror);
    return 0;
}

/* a field copied from one that holds any object can close a cycle as well */
static int
pair_set_mirror(PairObject *self)
{
    PyObject *old = self->mirror;
    self->mirror = self->first;
    Py_XINCREF(self->mirror);
    Py_XDECREF(old);
    return 0;
}

static void
pair_dealloc(PairObject *self)
{
    Py_XDECREF(self->first); /* expect: dealloc-without-untrack */
    Py_XDECREF(self->second);
    PyObject_GC_UnTrack(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject Pair_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "corpus.Pair",
    .tp_basicsize = sizeof(PairObject),
    .tp_dealloc = (destructor)pair_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)pair_traverse,
    .tp_clear = (inquiry)pair_clear,
};

/* A heap type (PyType_Spec) whose dealloc never untracks. */
typedef struct {
    PyObject_HEAD
    PyObject *value;
    PyObject *cache; /* expect: gc-untraversed-reference */
} BoxObject;

static int
box_traverse(PyObject *op, visitproc visit, void *arg)
{
    BoxObject *self = (BoxObject *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->value);
    return 0;
}

static int
box_clear(PyObject *op)
{
    BoxObject *self = (BoxObject *)op;
    Py_CLEAR(self->value);
    Py_DECREF(self->cache); /* expect: gc-clear-dangling */
    return 0;
}

static void
box_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    box_clear(op); /* expect: dealloc-without-untrack */
    tp->tp_free(op);
    Py_DECREF(tp);
}

static PyType_Slot box_slots[] = {
    {Py_tp_traverse, box_traverse},
    {Py_tp_clear, box_clear},
    {Py_tp_dealloc, box_dealloc},
    {0, NULL},
};

static PyType_Spec box_spec = {
    .name = "corpus.Box",
    .basicsize = sizeof(BoxObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = box_slots,
};
