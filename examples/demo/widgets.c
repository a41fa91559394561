/*
 * widgets: the lifeline demo extension.
 *
 * A Widget is a named sensor with a buffer of weight samples. The module offers
 * the kind of helpers a real extension has: build a widget, ask it for its weight,
 * sum the weights of a whole list of widgets.
 *
 * It carries ONE genuine bug, of the kind that is easy to write and hard to find:
 * total_weight() walks the list with PyList_GetItem(), which returns a *borrowed*
 * reference, but then releases that reference with Py_DECREF() as if it owned it
 * (the loop was first written with PySequence_GetItem(), which returns a new
 * reference, and "optimised" later). Each call takes one reference away from every
 * widget in the list. When the list held the only reference, the widget is freed
 * -- its sample buffer too -- while the list still points to it. The first call
 * returns the right answer; the next call that walks the same list reads a freed
 * widget and dereferences its freed sample buffer. See examples/README.md.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *name;        /* str, owned */
    double *samples;       /* PyMem_Malloc'd, nsamples entries */
    Py_ssize_t nsamples;
} Widget;

static PyTypeObject WidgetType;

#define Widget_Check(op) PyObject_TypeCheck(op, &WidgetType)

static void
Widget_dealloc(Widget *self)
{
    PyMem_Free(self->samples);
    Py_XDECREF(self->name);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Widget_init(Widget *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "nsamples", NULL};
    PyObject *name;
    Py_ssize_t n = 1024;

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|n:Widget", kwlist, &name, &n))
        return -1;
    if (n <= 0) {
        PyErr_SetString(PyExc_ValueError, "nsamples must be positive");
        return -1;
    }
    /* Re-initialisation must not leak the previous buffer. */
    double *samples = PyMem_Malloc((size_t)n * sizeof(double));
    if (samples == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* Deterministic "measurements" (not the str hash, which is randomised per process), so that
     * the demo prints the same numbers on every run. */
    Py_ssize_t seed = PyUnicode_GET_LENGTH(name);
    for (Py_ssize_t i = 0; i < n; i++)
        samples[i] = 0.5 + (double)((i * 7919 + seed * 131) % 1000) / 1000.0;

    PyMem_Free(self->samples);
    self->samples = samples;
    self->nsamples = n;
    Py_INCREF(name);
    Py_XSETREF(self->name, name);
    return 0;
}

/* Average of the samples: the weight of one widget. Kept out of line so that it shows up as its
 * own frame in a crash report. */
static __attribute__((noinline)) double
widget_weight(const Widget *w)
{
    double sum = 0.0;
    for (Py_ssize_t i = 0; i < w->nsamples; i++)
        sum += w->samples[i];
    return sum / (double)w->nsamples;
}

static PyObject *
Widget_weight(Widget *self, PyObject *Py_UNUSED(ignored))
{
    return PyFloat_FromDouble(widget_weight(self));
}

static PyObject *
Widget_repr(Widget *self)
{
    return PyUnicode_FromFormat("<Widget %R, %zd samples>", self->name, self->nsamples);
}

static PyMethodDef Widget_methods[] = {
    {"weight", (PyCFunction)Widget_weight, METH_NOARGS, "Average weight of the samples."},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef Widget_members[] = {
    {"name", T_OBJECT_EX, offsetof(Widget, name), READONLY, "widget name"},
    {"nsamples", T_PYSSIZET, offsetof(Widget, nsamples), READONLY, "number of samples"},
    {NULL, 0, 0, 0, NULL}
};

static PyTypeObject WidgetType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "widgets.Widget",
    .tp_basicsize = sizeof(Widget),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Widget(name, nsamples=1024): a named sensor with weight samples.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Widget_init,
    .tp_dealloc = (destructor)Widget_dealloc,
    .tp_repr = (reprfunc)Widget_repr,
    .tp_methods = Widget_methods,
    .tp_members = Widget_members,
};

/* total_weight(list_of_widgets) -> float */
static PyObject *
widgets_total_weight(PyObject *module, PyObject *list)
{
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "total_weight() expects a list of widgets");
        return NULL;
    }
    double total = 0.0;
    Py_ssize_t n = PyList_GET_SIZE(list);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GetItem(list, i);       /* borrowed reference */
        if (item == NULL)
            return NULL;
        if (!Widget_Check(item)) {
            PyErr_Format(PyExc_TypeError, "item %zd is not a Widget", i);
            return NULL;
        }
        total += widget_weight((Widget *)item);
        /* BUG: this reference is borrowed from the list, we never owned it. Left over from when
         * the loop used PySequence_GetItem(), which returns a new reference. */
        Py_DECREF(item);
    }
    return PyFloat_FromDouble(total);
}

/* heaviest(list_of_widgets) -> Widget: correct code, for contrast: a borrowed reference that is
 * returned to the caller must become a new reference first. */
static PyObject *
widgets_heaviest(PyObject *module, PyObject *list)
{
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "heaviest() expects a list of widgets");
        return NULL;
    }
    PyObject *best = NULL;
    double best_weight = -1.0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GET_ITEM(list, i);      /* borrowed reference */
        if (!Widget_Check(item)) {
            PyErr_Format(PyExc_TypeError, "item %zd is not a Widget", i);
            return NULL;
        }
        double w = widget_weight((Widget *)item);
        if (w > best_weight) {
            best_weight = w;
            best = item;
        }
    }
    if (best == NULL)
        Py_RETURN_NONE;
    Py_INCREF(best);
    return best;
}

static PyMethodDef widgets_methods[] = {
    {"total_weight", widgets_total_weight, METH_O, "Sum of the weights of a list of widgets."},
    {"heaviest", widgets_heaviest, METH_O, "The heaviest widget of a list."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef widgets_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "widgets",
    .m_doc = "lifeline demo extension (contains a deliberate reference-counting bug)",
    .m_size = -1,
    .m_methods = widgets_methods,
};

PyMODINIT_FUNC
PyInit_widgets(void)
{
    if (PyType_Ready(&WidgetType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&widgets_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&WidgetType);
    if (PyModule_AddObject(m, "Widget", (PyObject *)&WidgetType) < 0) {
        Py_DECREF(&WidgetType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
