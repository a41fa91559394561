/* Bug zoo: objects that break the collector's and the reference count's
 * invariants, in several shapes, beside correct ones that must stay quiet.
 *  - Holder: tp_traverse forgets its `second` field (gc-untraversed-reference);
 *  - Thing (a heap type): tp_traverse does not visit its type;
 *  - Keeper: keeps a borrowed reference and visits it (gc-dangling-reference
 *    once the referent is freed; refcount-too-low while it lives);
 *  - Borrower (not GC): keeps a borrowed reference (refcount-too-low);
 *  - a C table of borrowed references (refcount-too-low);
 *  - half(): a Pair tracked before its fields are set (gc-tracked-uninitialized);
 *  - Pair: everything right, with a weak reference list. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdlib.h>

typedef struct {
    PyObject_HEAD
    PyObject *first;
    PyObject *second;
} HolderObject;

static int Holder_traverse(HolderObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->first); /* forgets self->second */
    return 0;
}

static int Holder_clear(HolderObject *self)
{
    Py_CLEAR(self->first);
    Py_CLEAR(self->second);
    return 0;
}

static void Holder_dealloc(HolderObject *self)
{
    PyObject_GC_UnTrack(self);
    Holder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject HolderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_gc.Holder",
    .tp_basicsize = sizeof(HolderObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Holder_traverse,
    .tp_clear = (inquiry)Holder_clear,
    .tp_dealloc = (destructor)Holder_dealloc,
};

/* A correct container: visits both fields, supports weak references. */
typedef struct {
    PyObject_HEAD
    PyObject *left;
    PyObject *right;
    PyObject *weaklist;
} PairObject;

static int Pair_traverse(PairObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->left);
    Py_VISIT(self->right);
    return 0;
}

static int Pair_clear(PairObject *self)
{
    Py_CLEAR(self->left);
    Py_CLEAR(self->right);
    return 0;
}

static void Pair_dealloc(PairObject *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weaklist)
        PyObject_ClearWeakRefs((PyObject *)self);
    Pair_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject PairType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_gc.Pair",
    .tp_basicsize = sizeof(PairObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Pair_traverse,
    .tp_clear = (inquiry)Pair_clear,
    .tp_dealloc = (destructor)Pair_dealloc,
    .tp_weaklistoffset = offsetof(PairObject, weaklist),
};

/* Keeps a reference it borrowed, and reports it to the collector as its own. */
typedef struct {
    PyObject_HEAD
    PyObject *item;
} KeeperObject;

static int Keeper_traverse(KeeperObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->item);
    return 0;
}

static void Keeper_dealloc(KeeperObject *self)
{
    PyObject_GC_UnTrack(self);
    Py_TYPE(self)->tp_free((PyObject *)self); /* item was never owned */
}

static PyTypeObject KeeperType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_gc.Keeper",
    .tp_basicsize = sizeof(KeeperObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Keeper_traverse,
    .tp_dealloc = (destructor)Keeper_dealloc,
};

/* Not a GC type: keeps a borrowed reference in a plain field. */
typedef struct {
    PyObject_HEAD
    PyObject *item;
} BorrowerObject;

static void Borrower_dealloc(BorrowerObject *self)
{
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject BorrowerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_gc.Borrower",
    .tp_basicsize = sizeof(BorrowerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Borrower_dealloc,
};

/* A heap type whose tp_traverse forgets to visit the type, which its
 * instances own. */
typedef struct {
    PyObject_HEAD
    PyObject *payload;
} ThingObject;

static int Thing_traverse(ThingObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->payload); /* and not Py_TYPE(self) */
    return 0;
}

static void Thing_dealloc(ThingObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->payload);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot thing_slots[] = {
    {Py_tp_traverse, Thing_traverse},
    {Py_tp_dealloc, Thing_dealloc},
    {0, 0},
};

static PyType_Spec thing_spec = {
    "zoo_gc.Thing", sizeof(ThingObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, thing_slots,
};

static PyObject *ThingType;

static PyObject *holder(PyObject *m, PyObject *args)
{
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b))
        return NULL;
    HolderObject *h = PyObject_GC_New(HolderObject, &HolderType);
    if (!h)
        return NULL;
    h->first = Py_NewRef(a);
    h->second = Py_NewRef(b);
    PyObject_GC_Track(h);
    return (PyObject *)h;
}

/* Tracks a Pair before setting `right`: the collection it then starts
 * reads that field. */
static PyObject *half(PyObject *m, PyObject *a)
{
    PairObject *p = PyObject_GC_New(PairObject, &PairType);
    if (!p)
        return NULL;
    p->left = Py_NewRef(a);
    p->weaklist = NULL;
    PyObject_GC_Track(p);
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(gc);
    p->right = Py_NewRef(Py_None);
    return (PyObject *)p;
}

static PyObject *pair(PyObject *m, PyObject *args)
{
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b))
        return NULL;
    PairObject *p = PyObject_GC_New(PairObject, &PairType);
    if (!p)
        return NULL;
    p->left = Py_NewRef(a);
    p->right = Py_NewRef(b);
    p->weaklist = NULL;
    PyObject_GC_Track(p);
    return (PyObject *)p;
}

static PyObject *keeper(PyObject *m, PyObject *item)
{
    KeeperObject *k = PyObject_GC_New(KeeperObject, &KeeperType);
    if (!k)
        return NULL;
    k->item = item; /* borrowed, and kept */
    PyObject_GC_Track(k);
    return (PyObject *)k;
}

static PyObject *borrower(PyObject *m, PyObject *item)
{
    BorrowerObject *b = PyObject_New(BorrowerObject, &BorrowerType);
    if (!b)
        return NULL;
    b->item = item; /* borrowed, and kept */
    return (PyObject *)b;
}

static PyObject *thing(PyObject *m, PyObject *payload)
{
    ThingObject *t = PyObject_GC_New(ThingObject, (PyTypeObject *)ThingType);
    if (!t)
        return NULL;
    t->payload = Py_NewRef(payload);
    PyObject_GC_Track(t);
    return (PyObject *)t;
}

/* A C table of borrowed references, reached from a static pointer. */
static PyObject **table;
static PyObject *remember(PyObject *m, PyObject *item)
{
    if (!table)
        table = calloc(16, sizeof *table);
    table[0] = item; /* borrowed */
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"holder", holder, METH_VARARGS, ""},
    {"half", half, METH_O, ""},
    {"pair", pair, METH_VARARGS, ""},
    {"keeper", keeper, METH_O, ""},
    {"borrower", borrower, METH_O, ""},
    {"thing", thing, METH_O, ""},
    {"remember", remember, METH_O, ""},
    {0},
};

static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "zoo_gc", 0, -1, methods};

PyMODINIT_FUNC PyInit_zoo_gc(void)
{
    if (PyType_Ready(&HolderType) < 0 || PyType_Ready(&PairType) < 0 || PyType_Ready(&KeeperType) < 0 ||
        PyType_Ready(&BorrowerType) < 0)
        return NULL;
    ThingType = PyType_FromSpec(&thing_spec);
    if (!ThingType)
        return NULL;
    return PyModule_Create(&mod);
}
