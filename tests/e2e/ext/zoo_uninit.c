/* Bug zoo: objects made with PyObject_New whose fields are not all set.
 * make() forgets `cookie`; make_full() sets everything; the struct has a
 * padding word (before `wide`) and an array member (`spare`) that must not
 * be reported. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
typedef struct {
    PyObject_HEAD
    long count;
    char tag;          /* 7 bytes of padding follow */
    double weight;
    void *cookie;      /* never set by make() */
    long long wide __attribute__((aligned(32))); /* leaves a padding word before it */
    long spare[4];     /* a buffer: its unused tail is no bug */
} GadgetObject;
static void Gadget_dealloc(PyObject *self) { PyObject_Free(self); }
static PyTypeObject GadgetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_uninit.Gadget",
    .tp_basicsize = sizeof(GadgetObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = Gadget_dealloc,
};
static PyObject *make(PyObject *m, PyObject *arg) {
    GadgetObject *g = PyObject_New(GadgetObject, &GadgetType);
    g->count = 1; g->tag = 'x'; g->weight = 2.0; g->wide = 3; g->spare[0] = 0;
    return (PyObject *)g;
}
static PyObject *make_full(PyObject *m, PyObject *arg) {
    GadgetObject *g = PyObject_New(GadgetObject, &GadgetType);
    g->count = 1; g->tag = 'x'; g->weight = 2.0; g->wide = 3; g->cookie = NULL;
    return (PyObject *)g;
}
static PyMethodDef methods[] = {{"make", make, METH_NOARGS, ""}, {"make_full", make_full, METH_NOARGS, ""}, {0}};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "zoo_uninit", 0, -1, methods};
PyMODINIT_FUNC PyInit_zoo_uninit(void) {
    if (PyType_Ready(&GadgetType) < 0) return NULL;
    return PyModule_Create(&mod);
}
