/* bench/refs_cost's extension: n increments and decrements of one heap
 * object's count, each pair kept apart by a compiler barrier so that the
 * macros are not folded away. Built twice: plain, and with `lifeline
 * cflags`. */
#include <Python.h>

/* churn(obj, n): n Py_INCREF/Py_DECREF pairs on obj; returns None. */
static PyObject *
churn(PyObject *module, PyObject *args)
{
    PyObject *o;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "On", &o, &n))
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(o);
        __asm__ volatile("" ::: "memory");
        Py_DECREF(o);
        __asm__ volatile("" ::: "memory");
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"churn", churn, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "refs_loop", .m_size = -1,
                                    .m_methods = methods};

PyMODINIT_FUNC
PyInit_refs_loop(void)
{
    return PyModule_Create(&module);
}
