/* Bug zoo: a module with state and a heap type made from it, as the
 * interpreter's own _sqlite3 does (multi-phase init,
 * PyType_FromModuleAndSpec).
 *  - Conn keeps borrowed pointers to its module's exception class (held in
 *    the module state) and to a dict in the module's namespace, and does
 *    not visit them: correct, since each instance owns its type and the
 *    type its module (quiet);
 *  - Conn also owns a list in `data` that its tp_traverse forgets
 *    (gc-untraversed-reference);
 *  - Bare, made the same way, forgets to visit its type, which the module
 *    holds too (gc-untraversed-reference at ob_type: every instance owns
 *    its heap type and must visit it). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject *error;
    PyObject *conn_type;
    PyObject *bare_type;
} zoo_state;

typedef struct {
    PyObject_HEAD
    PyObject *error;    /* borrowed from the module state */
    PyObject *registry; /* borrowed from the module's namespace */
    PyObject *data;     /* owned, and not visited: the bug */
    PyObject *name;     /* owned and visited */
} ConnObject;

static int Conn_traverse(ConnObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->name); /* and not self->data */
    return 0;
}

static int Conn_clear(ConnObject *self)
{
    Py_CLEAR(self->data);
    Py_CLEAR(self->name);
    return 0;
}

static void Conn_dealloc(ConnObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Conn_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot conn_slots[] = {
    {Py_tp_traverse, Conn_traverse},
    {Py_tp_clear, Conn_clear},
    {Py_tp_dealloc, Conn_dealloc},
    {0, 0},
};

static PyType_Spec conn_spec = {
    "zoo_gcstate.Conn", sizeof(ConnObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, conn_slots,
};

typedef struct {
    PyObject_HEAD
    PyObject *payload;
} BareObject;

static int Bare_traverse(BareObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->payload); /* and not Py_TYPE(self) */
    return 0;
}

static void Bare_dealloc(BareObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->payload);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyType_Slot bare_slots[] = {
    {Py_tp_traverse, Bare_traverse},
    {Py_tp_dealloc, Bare_dealloc},
    {0, 0},
};

static PyType_Spec bare_spec = {
    "zoo_gcstate.Bare", sizeof(BareObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, bare_slots,
};

static PyObject *bare(PyObject *m, PyObject *payload)
{
    zoo_state *st = PyModule_GetState(m);
    BareObject *b = PyObject_GC_New(BareObject, (PyTypeObject *)st->bare_type);
    if (!b)
        return NULL;
    b->payload = Py_NewRef(payload);
    PyObject_GC_Track(b);
    return (PyObject *)b;
}

static PyObject *connect(PyObject *m, PyObject *name)
{
    zoo_state *st = PyModule_GetState(m);
    PyObject *registry = PyObject_GetAttrString(m, "registry");
    if (!registry)
        return NULL;
    ConnObject *c = PyObject_GC_New(ConnObject, (PyTypeObject *)st->conn_type);
    if (!c) {
        Py_DECREF(registry);
        return NULL;
    }
    c->error = st->error;
    c->registry = registry;
    Py_DECREF(registry); /* borrowed from here on: the module keeps it */
    c->data = PyList_New(0);
    c->name = Py_NewRef(name);
    PyObject_GC_Track(c);
    return (PyObject *)c;
}

static int zoo_exec(PyObject *m)
{
    zoo_state *st = PyModule_GetState(m);
    st->error = PyErr_NewException("zoo_gcstate.Error", NULL, NULL);
    st->conn_type = PyType_FromModuleAndSpec(m, &conn_spec, NULL);
    st->bare_type = PyType_FromModuleAndSpec(m, &bare_spec, NULL);
    if (!st->error || !st->conn_type || !st->bare_type)
        return -1;
    PyObject *registry = PyDict_New();
    if (!registry || PyModule_AddObject(m, "registry", registry) < 0) {
        Py_XDECREF(registry);
        return -1;
    }
    if (PyModule_AddObjectRef(m, "Error", st->error) < 0 || PyModule_AddObjectRef(m, "Conn", st->conn_type) < 0 ||
        PyModule_AddObjectRef(m, "Bare", st->bare_type) < 0)
        return -1;
    return 0;
}

static int zoo_traverse(PyObject *m, visitproc visit, void *arg)
{
    zoo_state *st = PyModule_GetState(m);
    Py_VISIT(st->error);
    Py_VISIT(st->conn_type);
    Py_VISIT(st->bare_type);
    return 0;
}

static int zoo_clear(PyObject *m)
{
    zoo_state *st = PyModule_GetState(m);
    Py_CLEAR(st->error);
    Py_CLEAR(st->conn_type);
    Py_CLEAR(st->bare_type);
    return 0;
}

static PyMethodDef methods[] = {
    {"connect", connect, METH_O, ""},
    {"bare", bare, METH_O, ""},
    {0},
};

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, zoo_exec},
    {0, NULL},
};

static struct PyModuleDef mod = {
    PyModuleDef_HEAD_INIT, "zoo_gcstate", 0, sizeof(zoo_state), methods, slots, zoo_traverse, zoo_clear, NULL,
};

PyMODINIT_FUNC PyInit_zoo_gcstate(void)
{
    return PyModuleDef_Init(&mod);
}
