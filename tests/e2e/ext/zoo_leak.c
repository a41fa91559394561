/* Bug zoo: memory that no one owns any more at exit, in several shapes, and
 * memory that looks abandoned but is still owned (must not be reported). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A new set given one reference too many: its caller drops the one it
 * gets, the extra one is never released. (Sets, unlike lists, dicts and
 * tuples, never come from an interpreter free list, so their allocation
 * is where their life began.) */
static PyObject *extra_ref_set(PyObject *m, PyObject *arg)
{
    PyObject *s = PySet_New(NULL);
    Py_XINCREF(s);
    return s;
}

/* A list given one reference too many. Its memory most likely comes from
 * the interpreter's free list of lists, not from the allocator: the report
 * must still name this function, from the C-API boundary's record of the
 * list's making. */
static PyObject *extra_ref_list(PyObject *m, PyObject *arg)
{
    PyObject *l = Py_BuildValue("[iii]", 1, 2, 3);
    Py_XINCREF(l);
    return l;
}

/* Takes one reference too many to whatever it is given: a leak of an object
 * Python code made, which no C-API call of an extension saw being made. */
static PyObject *extra_ref_to(PyObject *m, PyObject *arg)
{
    Py_INCREF(arg);
    Py_RETURN_NONE;
}

/* A set whose reference is lost: its strings, integers and table leak with it. */
static PyObject *lost_set(PyObject *m, PyObject *arg)
{
    PyObject *s = PySet_New(NULL);
    for (int i = 0; i < 4; i++) {
        PyObject *k = PyUnicode_FromFormat("key-%d-%d", i, rand());
        PyObject *v = PyLong_FromLong(1000000 + i);
        PySet_Add(s, k);
        PySet_Add(s, v);
        Py_DECREF(k);
        Py_DECREF(v);
    }
    /* s is neither returned nor released */
    Py_RETURN_NONE;
}

/* Where a pointer passes through so that the compiler cannot drop the
 * allocation as unused; it is cleared again at once. */
static void *volatile sink;

static PyObject *lost_malloc(PyObject *m, PyObject *arg)
{
    char *p = malloc(200);
    memset(p, 1, 200);
    sink = p;
    sink = NULL;
    Py_RETURN_NONE;
}

static PyObject *lost_pymem(PyObject *m, PyObject *arg)
{
    char *p = PyMem_Malloc(77);
    memset(p, 2, 77);
    sink = p;
    sink = NULL;
    Py_RETURN_NONE;
}

/* One allocating helper, two callers: their blocks have the same innermost
 * frames and Python stack, and differ only in the frame between. The calls
 * after the helper's keep it from being a tail call, which would take the
 * caller's frame off the stack. */
static __attribute__((noinline)) char *helper_buffer(size_t n, int fill)
{
    char *p = malloc(n);
    memset(p, fill, n);
    return p;
}

static __attribute__((noinline)) PyObject *lost_via_first(PyObject *m, PyObject *arg)
{
    sink = helper_buffer(120, 3);
    sink = NULL;
    Py_RETURN_NONE;
}

static __attribute__((noinline)) PyObject *lost_via_second(PyObject *m, PyObject *arg)
{
    sink = helper_buffer(120, 4);
    sink = NULL;
    Py_RETURN_NONE;
}

/* Two C structs pointing at each other and nothing else pointing at them. */
struct node { struct node *other; char payload[40]; };
static PyObject *lost_cycle(PyObject *m, PyObject *arg)
{
    struct node *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    a->other = b;
    b->other = a;
    sink = a;
    sink = NULL;
    Py_RETURN_NONE;
}

static void *leak_in_thread(void *unused)
{
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *t = PyUnicode_FromFormat("thread-leak-%d", rand());
    Py_INCREF(t);
    Py_DECREF(t);
    t = NULL; /* the reference from Py_BuildValue is lost */
    PyGILState_Release(g);
    return NULL;
}

static PyObject *lost_in_thread(PyObject *m, PyObject *arg)
{
    pthread_t th;
    Py_BEGIN_ALLOW_THREADS
    pthread_create(&th, NULL, leak_in_thread, NULL);
    pthread_join(th, NULL);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* Owned, not leaked: a static global, a malloc'd struct that a static
 * global points to, and an object only a malloc'd struct points to. */
static PyObject *kept_global;
static struct holder { PyObject *obj; char *buf; } *kept_holder;
static PyObject *kept(PyObject *m, PyObject *arg)
{
    Py_XSETREF(kept_global, PyUnicode_FromFormat("kept-%d", rand()));
    if (!kept_holder) {
        kept_holder = calloc(1, sizeof *kept_holder);
        kept_holder->obj = PyList_New(0);
        kept_holder->buf = malloc(500);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"extra_ref_set", extra_ref_set, METH_NOARGS, ""},
    {"extra_ref_list", extra_ref_list, METH_NOARGS, ""},
    {"extra_ref_to", extra_ref_to, METH_O, ""},
    {"lost_set", lost_set, METH_NOARGS, ""},
    {"lost_malloc", lost_malloc, METH_NOARGS, ""},
    {"lost_pymem", lost_pymem, METH_NOARGS, ""},
    {"lost_via_first", lost_via_first, METH_NOARGS, ""},
    {"lost_via_second", lost_via_second, METH_NOARGS, ""},
    {"lost_cycle", lost_cycle, METH_NOARGS, ""},
    {"lost_in_thread", lost_in_thread, METH_NOARGS, ""},
    {"kept", kept, METH_NOARGS, ""},
    {0},
};
static struct PyModuleDef mod = {PyModuleDef_HEAD_INIT, "zoo_leak", 0, -1, methods};
PyMODINIT_FUNC PyInit_zoo_leak(void) { return PyModule_Create(&mod); }
