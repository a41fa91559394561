/*
 * zoo_owner: the ownership part of lifeline's bug zoo — references borrowed and stolen at the C-API
 * boundary, and GC objects tracked too early or freed while tracked.
 *
 * Every module function below is one scenario: one Python call performs one bug (or, for the
 * clean_* functions, does the same things correctly). Shapes:
 *
 *   borrowed, then released   PyList_GetItem in a summing loop that Py_DECREFs every item (the
 *                demo's bug), then a field written through the list's stale slot; PyTuple_GetItem
 *                released, then Py_INCREF'd by a cache; PyDict_GetItemString released by a
 *                "cleanup", then a field reset through a second lookup; the demo's shape driven from
 *                Python (make_list, sum_and_release twice), where the second call crashes reading a
 *                freed item's type
 *   stolen, then released     PyTuple_SetItem then Py_DECREF of the item, then a field written;
 *                PyList_SetItem then Py_DECREF, then the item handed out again with Py_INCREF;
 *                PyModule_AddObject then Py_DECREF (it steals on success), then
 *                PyObject_GetAttrString, which increments the freed object's count
 *   gc-tracked-uninitialized  PyObject_GC_Track of a pair whose second reference was never set;
 *                of a variable-size bag whose last item was never set
 *   gc-freed-while-tracked    a tp_dealloc that calls PyObject_GC_Del without untracking; one that
 *                calls tp_free (set to PyObject_GC_Del in the static type) without untracking; one
 *                whose type leaves tp_free to PyType_Ready (the common case)
 *
 * The containers that keep pointing at a freed object are kept alive and untracked on purpose
 * (keep_forever): a container released later decrements its freed item again, which a Py_DEBUG
 * interpreter reports as a negative reference count and aborts on, and the collector walking a
 * tracked container reads the freed item's type and crashes at the next collection — outcomes
 * that differ between interpreters. So in every use-after-free scenario the only bad access is
 * the one the scenario names, found when the freed block is checked (at exit, or when it leaves
 * quarantine).
 *
 * Field offsets are fixed in this file (tests/e2e/test_owner.py asserts on them and on function
 * names and lines). Helpers that do the bad access are NOINLINE so that stacks show them; built
 * like every zoo extension (lifeline_harness.build_extension: -O1 -g -fno-optimize-sibling-calls).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#define NOINLINE __attribute__((noinline))

/* ================================================================================================
 * Containers kept alive on purpose (see the top of the file)
 * ============================================================================================== */

#define KEPT_MAX 64
/* protected by the GIL */
static PyObject *volatile kept[KEPT_MAX]; /* volatile: never read, and must not be optimized away */
static int nkept;

static void
keep_forever(PyObject *o)
{
    if (nkept < KEPT_MAX) {
        Py_INCREF(o);
        kept[nkept++] = o;
        if (PyObject_IS_GC(o))
            PyObject_GC_UnTrack(o);
    }
}

/* ================================================================================================
 * Item: a plain (non-GC) object with two fields
 * ============================================================================================== */

typedef struct {
    PyObject_HEAD
    long value;             /* offset 16 */
    long hits;              /* offset 24 */
} ItemObject;               /* 32 bytes */

static PyTypeObject Item_Type;

static void
item_dealloc(PyObject *self)
{
    PyObject_Free(self);
}

static PyTypeObject Item_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Item",
    .tp_basicsize = sizeof(ItemObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A value with a hit counter.",
    .tp_dealloc = item_dealloc,
};

NOINLINE static PyObject *
item_new(long value)
{
    ItemObject *it = PyObject_New(ItemObject, &Item_Type);
    if (it == NULL)
        return NULL;
    it->value = value;
    it->hits = 0;
    return (PyObject *)it;
}

/* A list of n new items; the list holds the only reference to each. */
static PyObject *
make_items(Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = item_new(10 * (i + 1));
        if (it == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, it);
    }
    return list;
}

NOINLINE static void
item_touch(PyObject *item)
{
    ((ItemObject *)item)->hits += 1;
    __asm__ volatile("" ::: "memory");
}

/* ================================================================================================
 * Borrowed references released as if owned
 * ============================================================================================== */

/* Sums the values of a list of items. The bug: PyList_GetItem returns a borrowed reference, and
 * the loop releases it (it was written for PySequence_GetItem, which returns a new one). */
NOINLINE static long
sum_values(PyObject *list)
{
    long total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GetItem(list, i);                   /* borrowed */
        if (item == NULL)
            return -1;
        total += ((ItemObject *)item)->value;
        Py_DECREF(item);                                            /* released: never owned */
    }
    return total;
}

static PyObject *
zoo_borrow_list_decref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *list = make_items(3);
    if (list == NULL)
        return NULL;
    keep_forever(list);
    long total = sum_values(list);                  /* frees every item: the list held the only refs */
    item_touch(PyList_GET_ITEM(list, 1));           /* use after free (write, offset 24) */
    Py_DECREF(list);
    return PyLong_FromLong(total);
}

/* The weight of a (name, item) record. The bug: the item is borrowed from the tuple. */
NOINLINE static long
record_weight(PyObject *record)
{
    PyObject *w = PyTuple_GetItem(record, 1);                       /* borrowed */
    if (w == NULL)
        return -1;
    long v = ((ItemObject *)w)->value;
    Py_DECREF(w);                                                   /* released: never owned */
    return v;
}

/* protected by the GIL */
static PyObject *cached_item;

NOINLINE static void
cache_store(PyObject *o)
{
    Py_INCREF(o);
    cached_item = o;
}

static PyObject *
zoo_borrow_tuple_incref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *item = item_new(7);
    if (item == NULL)
        return NULL;
    PyObject *record = Py_BuildValue("(sN)", "seven", item);
    if (record == NULL)
        return NULL;
    keep_forever(record);
    long w = record_weight(record);                 /* frees the item */
    cache_store(PyTuple_GET_ITEM(record, 1));       /* use after free (write, offset 0: the count) */
    Py_DECREF(record);
    return PyLong_FromLong(w);
}

/* Reads the "limit" option. The bug: a "cleanup" releases the borrowed value. */
NOINLINE static int
apply_options(PyObject *opts, long *limit)
{
    PyObject *v = PyDict_GetItemString(opts, "limit");              /* borrowed */
    if (v == NULL)
        return 0;
    *limit = ((ItemObject *)v)->value;
    Py_DECREF(v);                                                   /* released: never owned */
    return 1;
}

NOINLINE static void
reset_limit(PyObject *opts)
{
    PyObject *v = PyDict_GetItemString(opts, "limit");             /* the freed object, again */
    if (v != NULL)
        ((ItemObject *)v)->value = 0;                               /* use after free (write, offset 16) */
    __asm__ volatile("" ::: "memory");
}

static PyObject *
zoo_borrow_dict_decref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *opts = PyDict_New();
    PyObject *limit = item_new(100);
    if (opts == NULL || limit == NULL || PyDict_SetItemString(opts, "limit", limit) < 0) {
        Py_XDECREF(opts);
        Py_XDECREF(limit);
        return NULL;
    }
    Py_DECREF(limit);                               /* correct: the dict holds its own reference */
    keep_forever(opts);
    long n = 0;
    apply_options(opts, &n);                        /* frees the item */
    reset_limit(opts);
    Py_DECREF(opts);
    return PyLong_FromLong(n);
}

/* The demo's shape, driven from Python: make_list() returns a list holding the only references to
 * its items; sum_and_release(list) sums them with sum_values(), releasing every item it borrowed;
 * the second call reads the freed items (their type pointer is the freed-memory pattern) and
 * crashes. */
static PyObject *
zoo_make_list(PyObject *module, PyObject *Py_UNUSED(args))
{
    return make_items(3);
}

NOINLINE static long
checked_sum(PyObject *list)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
        if (!PyObject_TypeCheck(PyList_GET_ITEM(list, i), &Item_Type))     /* reads the type */
            return -1;
    return sum_values(list);
}

static PyObject *
zoo_sum_and_release(PyObject *module, PyObject *list)
{
    return PyLong_FromLong(checked_sum(list));
}

/* ================================================================================================
 * Stolen references released again
 * ============================================================================================== */

/* A (low, high) pair of new items. The bug: PyTuple_SetItem stole `high`, the function still
 * releases it as if it owned it. */
NOINLINE static PyObject *
make_pair(long a, long b)
{
    PyObject *t = PyTuple_New(2);
    PyObject *low = item_new(a), *high = item_new(b);
    if (t == NULL || low == NULL || high == NULL) {
        Py_XDECREF(t);
        Py_XDECREF(low);
        Py_XDECREF(high);
        return NULL;
    }
    PyTuple_SetItem(t, 0, low);                                     /* steals low */
    PyTuple_SetItem(t, 1, high);                                    /* steals high */
    Py_DECREF(high);                                                /* released: no longer ours */
    return t;
}

static PyObject *
zoo_steal_tuple_decref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *pair = make_pair(1, 2);
    if (pair == NULL)
        return NULL;
    keep_forever(pair);
    item_touch(PyTuple_GET_ITEM(pair, 1));          /* use after free (write, offset 24) */
    Py_DECREF(pair);
    Py_RETURN_NONE;
}

/* Puts a new item in slot i of list. The bug: releases it after PyList_SetItem took it. */
NOINLINE static int
list_put(PyObject *list, Py_ssize_t i, long v)
{
    PyObject *it = item_new(v);
    if (it == NULL)
        return -1;
    int rc = PyList_SetItem(list, i, it);                           /* steals it */
    Py_DECREF(it);                                                  /* released: no longer ours */
    return rc;
}

NOINLINE static PyObject *
list_first(PyObject *list)
{
    PyObject *o = PyList_GET_ITEM(list, 0);
    Py_INCREF(o);                                                   /* use after free (write, offset 0) */
    return o;
}

static PyObject *
zoo_steal_list_decref(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *list = PyList_New(1);
    if (list == NULL)
        return NULL;
    Py_INCREF(Py_None);
    PyList_SET_ITEM(list, 0, Py_None);
    keep_forever(list);
    if (list_put(list, 0, 5) < 0)
        return NULL;
    PyObject *first = list_first(list);
    (void)first;                                    /* the freed item: not touched again */
    Py_DECREF(list);
    Py_RETURN_NONE;
}

/* Adds a default item to a module. The bug: PyModule_AddObject steals the reference when it
 * succeeds; releasing it is right only when it fails. */
NOINLINE static int
add_default(PyObject *m)
{
    PyObject *d = item_new(42);
    if (d == NULL)
        return -1;
    if (PyModule_AddObject(m, "default_item", d) < 0) {             /* steals d on success */
        Py_DECREF(d);
        return -1;
    }
    Py_DECREF(d);                                                   /* released: no longer ours */
    return 0;
}

static PyObject *
zoo_steal_module_addobject(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *m = PyModule_New("zoo_owner_scratch");
    if (m == NULL)
        return NULL;
    keep_forever(m);
    if (add_default(m) < 0)
        return NULL;
    PyObject *again = PyObject_GetAttrString(m, "default_item");   /* use after free (write, offset 0) */
    (void)again;                                    /* the freed item: not touched again */
    Py_DECREF(m);
    Py_RETURN_NONE;
}

/* ================================================================================================
 * gc-tracked-uninitialized
 * ============================================================================================== */

typedef struct {
    PyObject_HEAD
    PyObject *first;        /* offset 16 */
    PyObject *second;       /* offset 24 */
} PairObject;

static int
pair_traverse(PairObject *p, visitproc visit, void *arg)
{
    Py_VISIT(p->first);
    Py_VISIT(p->second);
    return 0;
}

static int
pair_clear(PairObject *p)
{
    Py_CLEAR(p->first);
    Py_CLEAR(p->second);
    return 0;
}

static void
pair_dealloc(PairObject *p)
{
    PyObject_GC_UnTrack(p);
    pair_clear(p);
    PyObject_GC_Del(p);
}

static PyTypeObject Pair_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Pair",
    .tp_basicsize = sizeof(PairObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Two references.",
    .tp_traverse = (traverseproc)pair_traverse,
    .tp_clear = (inquiry)pair_clear,
    .tp_dealloc = (destructor)pair_dealloc,
};

/* The bug: `second` is never set before the object is tracked (PyObject_GC_New does not zero). */
NOINLINE static PyObject *
pair_new(PyObject *first)
{
    PairObject *p = PyObject_GC_New(PairObject, &Pair_Type);
    if (p == NULL)
        return NULL;
    Py_INCREF(first);
    p->first = first;
    PyObject_GC_Track(p);                                           /* second never written */
    return (PyObject *)p;
}

static PyObject *
zoo_gc_track_uninit(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *p = pair_new(Py_None);
    if (p == NULL)
        return NULL;
    ((PairObject *)p)->second = NULL;               /* too late: the collector may have seen it */
    Py_DECREF(p);
    Py_RETURN_NONE;
}

/* A variable-size GC object: a bag of n references. */
typedef struct {
    PyObject_VAR_HEAD
    PyObject *items[1];     /* items[i] at offset 24 + 8 i */
} BagObject;

static int
bag_traverse(BagObject *b, visitproc visit, void *arg)
{
    for (Py_ssize_t i = 0; i < Py_SIZE(b); i++)
        Py_VISIT(b->items[i]);
    return 0;
}

static void
bag_dealloc(BagObject *b)
{
    PyObject_GC_UnTrack(b);
    for (Py_ssize_t i = 0; i < Py_SIZE(b); i++)
        Py_CLEAR(b->items[i]);
    PyObject_GC_Del(b);
}

static PyTypeObject Bag_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Bag",
    .tp_basicsize = offsetof(BagObject, items),
    .tp_itemsize = sizeof(PyObject *),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "n references.",
    .tp_traverse = (traverseproc)bag_traverse,
    .tp_dealloc = (destructor)bag_dealloc,
};

/* The bug: an off-by-one fill loop leaves the last item unset before tracking. */
NOINLINE static PyObject *
bag_of_ints(Py_ssize_t n)
{
    BagObject *b = PyObject_GC_NewVar(BagObject, &Bag_Type, n);
    if (b == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n - 1; i++)
        b->items[i] = PyLong_FromSsize_t(i);
    PyObject_GC_Track(b);                                           /* items[n - 1] never written */
    return (PyObject *)b;
}

static PyObject *
zoo_gc_track_uninit_bag(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *b = bag_of_ints(3);                   /* items[2]: offset 40 */
    if (b == NULL)
        return NULL;
    ((BagObject *)b)->items[2] = NULL;
    Py_DECREF(b);
    Py_RETURN_NONE;
}

/* ================================================================================================
 * gc-freed-while-tracked
 * ============================================================================================== */

typedef struct {
    PyObject_HEAD
    PyObject *payload;      /* offset 16 */
} LeafObject;

static int
leaf_traverse(LeafObject *l, visitproc visit, void *arg)
{
    Py_VISIT(l->payload);
    return 0;
}

/* The bug: no PyObject_GC_UnTrack before the object is freed. */
static void
leaf_dealloc(LeafObject *l)
{
    Py_CLEAR(l->payload);
    PyObject_GC_Del(l);                                             /* still tracked */
}

static PyTypeObject Leaf_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Leaf",
    .tp_basicsize = sizeof(LeafObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Freed with PyObject_GC_Del while tracked.",
    .tp_traverse = (traverseproc)leaf_traverse,
    .tp_dealloc = (destructor)leaf_dealloc,
};

static PyObject *
zoo_gc_freed_tracked(PyObject *module, PyObject *Py_UNUSED(args))
{
    LeafObject *l = PyObject_GC_New(LeafObject, &Leaf_Type);
    if (l == NULL)
        return NULL;
    l->payload = PyLong_FromLong(1);
    PyObject_GC_Track(l);
    Py_DECREF(l);                                                   /* leaf_dealloc */
    Py_RETURN_NONE;
}

/* Twig: tp_free set to PyObject_GC_Del in the static type (a function pointer in data); its
 * dealloc frees through tp_free without untracking. Created from Python (PyType_GenericAlloc
 * tracks it). */
typedef struct {
    PyObject_HEAD
    PyObject *payload;
} TwigObject;

static int
twig_traverse(TwigObject *t, visitproc visit, void *arg)
{
    Py_VISIT(t->payload);
    return 0;
}

static void
twig_dealloc(TwigObject *t)
{
    Py_CLEAR(t->payload);
    Py_TYPE(t)->tp_free((PyObject *)t);                             /* still tracked */
}

static PyTypeObject Twig_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Twig",
    .tp_basicsize = sizeof(TwigObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "tp_free = PyObject_GC_Del; dealloc without untracking.",
    .tp_traverse = (traverseproc)twig_traverse,
    .tp_dealloc = (destructor)twig_dealloc,
    .tp_new = PyType_GenericNew,
    .tp_free = PyObject_GC_Del,
};

/* Branch: the same bug in a type that leaves tp_free to PyType_Ready, as most types do. */
typedef struct {
    PyObject_HEAD
    PyObject *payload;
} BranchObject;

static int
branch_traverse(BranchObject *b, visitproc visit, void *arg)
{
    Py_VISIT(b->payload);
    return 0;
}

static void
branch_dealloc(BranchObject *b)
{
    Py_CLEAR(b->payload);
    Py_TYPE(b)->tp_free((PyObject *)b);                             /* still tracked */
}

static PyTypeObject Branch_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Branch",
    .tp_basicsize = sizeof(BranchObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "tp_free inherited; dealloc without untracking.",
    .tp_traverse = (traverseproc)branch_traverse,
    .tp_dealloc = (destructor)branch_dealloc,
    .tp_new = PyType_GenericNew,
};

/* ================================================================================================
 * clean: the same calls, used correctly
 * ============================================================================================== */

/* A GC type done right: untracked first in its dealloc, tp_free left to PyType_Ready. */
typedef struct {
    PyObject_HEAD
    PyObject *payload;
} GoodObject;

static int
good_traverse(GoodObject *g, visitproc visit, void *arg)
{
    Py_VISIT(g->payload);
    return 0;
}

static void
good_dealloc(GoodObject *g)
{
    PyObject_GC_UnTrack(g);
    Py_CLEAR(g->payload);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyTypeObject Good_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_owner.Good",
    .tp_basicsize = sizeof(GoodObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A GC type that untracks before freeing.",
    .tp_traverse = (traverseproc)good_traverse,
    .tp_dealloc = (destructor)good_dealloc,
    .tp_new = PyType_GenericNew,
};

/* Borrowed references used without being released, or made owned with Py_INCREF first. */
NOINLINE static long
clean_borrows(void)
{
    /* Heap objects throughout: a borrow of a static object (a small int, a one-character str) is
     * not recorded, since it can never be freed. */
    PyObject *list = make_items(4);
    PyObject *opts = Py_BuildValue("{s:N,s:N}", "a", item_new(1), "b", item_new(2));
    PyObject *rec = Py_BuildValue("(sN)", "x", item_new(3));
    if (list == NULL || opts == NULL || rec == NULL) {
        Py_XDECREF(list);
        Py_XDECREF(opts);
        Py_XDECREF(rec);
        return -1;
    }
    long total = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++)
        total += ((ItemObject *)PyList_GetItem(list, i))->value;   /* borrowed, only read */
    PyObject *keep = PyList_GetItem(list, 0);
    Py_INCREF(keep);                                                /* now owned */
    total += ((ItemObject *)PyDict_GetItemString(opts, "a"))->value;
    total += ((ItemObject *)PyTuple_GetItem(rec, 1))->value;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(opts, &pos, &key, &value))
        total += ((ItemObject *)value)->value;
    Py_DECREF(list);                                /* frees three items; `keep` survives */
    total += ((ItemObject *)keep)->value;
    Py_DECREF(keep);
    Py_DECREF(opts);
    Py_DECREF(rec);
    return total;
}

/* Stolen references left to their new owner. */
NOINLINE static long
clean_steals(PyObject *module)
{
    PyObject *t = PyTuple_New(2);
    PyObject *l = PyList_New(1);
    if (t == NULL || l == NULL) {
        Py_XDECREF(t);
        Py_XDECREF(l);
        return -1;
    }
    PyTuple_SetItem(t, 0, item_new(1));
    PyTuple_SetItem(t, 1, item_new(2));
    Py_INCREF(Py_None);
    PyList_SET_ITEM(l, 0, Py_None);
    PyList_SetItem(l, 0, item_new(3));              /* releases the None it replaces */
    long total = ((ItemObject *)PyTuple_GET_ITEM(t, 1))->value + ((ItemObject *)PyList_GET_ITEM(l, 0))->value;
    PyObject *scratch = PyModule_New("zoo_owner_clean");
    PyObject *d = item_new(4);
    if (scratch != NULL && d != NULL && PyModule_AddObject(scratch, "d", d) < 0)
        Py_DECREF(d);                               /* only when it failed */
    Py_XDECREF(scratch);
    PyErr_SetString(PyExc_ValueError, "raised and restored");
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_Restore(type, val, tb);                   /* steals all three back */
    PyErr_Clear();
    Py_DECREF(t);
    Py_DECREF(l);
    return total;
}

/* GC objects filled before they are tracked, and untracked before they are freed. */
NOINLINE static void
clean_gc(void)
{
    PairObject *p = PyObject_GC_New(PairObject, &Pair_Type);
    if (p == NULL)
        return;
    Py_INCREF(Py_None);
    p->first = Py_None;
    p->second = PyLong_FromLong(2);
    PyObject_GC_Track(p);
    Py_DECREF(p);
    BagObject *b = PyObject_GC_NewVar(BagObject, &Bag_Type, 3);
    if (b == NULL)
        return;
    for (Py_ssize_t i = 0; i < 3; i++)
        b->items[i] = PyLong_FromSsize_t(i);
    PyObject_GC_Track(b);
    Py_DECREF(b);
    PyObject *g = PyObject_CallNoArgs((PyObject *)&Good_Type);
    Py_XDECREF(g);
}

static PyObject *
zoo_clean_ownership(PyObject *module, PyObject *Py_UNUSED(args))
{
    long a = clean_borrows();
    long b = clean_steals(module);
    if (a < 0 || b < 0)
        return NULL;
    clean_gc();
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromLong(a + b);
}

/* ================================================================================================
 * module
 * ============================================================================================== */

static PyMethodDef zoo_methods[] = {
    {"borrow_list_decref", zoo_borrow_list_decref, METH_NOARGS, NULL},
    {"borrow_tuple_incref", zoo_borrow_tuple_incref, METH_NOARGS, NULL},
    {"make_list", zoo_make_list, METH_NOARGS, NULL},
    {"sum_and_release", zoo_sum_and_release, METH_O, NULL},
    {"borrow_dict_decref", zoo_borrow_dict_decref, METH_NOARGS, NULL},
    {"steal_tuple_decref", zoo_steal_tuple_decref, METH_NOARGS, NULL},
    {"steal_list_decref", zoo_steal_list_decref, METH_NOARGS, NULL},
    {"steal_module_addobject", zoo_steal_module_addobject, METH_NOARGS, NULL},
    {"gc_track_uninit", zoo_gc_track_uninit, METH_NOARGS, NULL},
    {"gc_track_uninit_bag", zoo_gc_track_uninit_bag, METH_NOARGS, NULL},
    {"gc_freed_tracked", zoo_gc_freed_tracked, METH_NOARGS, NULL},
    {"clean_ownership", zoo_clean_ownership, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef zoo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zoo_owner",
    .m_doc = "lifeline's ownership bug zoo (deliberate reference and GC bugs)",
    .m_size = -1,
    .m_methods = zoo_methods,
};

PyMODINIT_FUNC
PyInit_zoo_owner(void)
{
    PyTypeObject *types[] = {&Item_Type, &Pair_Type, &Bag_Type, &Leaf_Type, &Twig_Type, &Branch_Type,
                             &Good_Type};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (PyType_Ready(types[i]) < 0)
            return NULL;
    PyObject *m = PyModule_Create(&zoo_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Twig", (PyObject *)&Twig_Type) < 0 ||
        PyModule_AddObjectRef(m, "Branch", (PyObject *)&Branch_Type) < 0 ||
        PyModule_AddObjectRef(m, "Good", (PyObject *)&Good_Type) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
