/*
 * zoo_heap: the heap-error part of lifeline's bug zoo.
 *
 * Every module function below is one scenario: one Python call performs one heap bug (or, for the
 * clean_* functions, code that looks suspicious but is correct). Each class of bug comes in several
 * shapes, not only the textbook one, and in several allocator families:
 *
 *   overflow     off-by-one loop in a PyMem buffer; memcpy of a string one byte too long into a
 *                PyObject_Malloc'd struct; a struct-array loop past the end of a malloc'd array (a
 *                field 4 bytes past the end); a terminator written past a PyMem_Realloc'd buffer
 *   underflow    write at index -1 (PyMem); a negative start computed from a pointer difference
 *                (PyMem_RawMalloc)
 *   use-after-free  a struct member written after PyMem_Free; an object's field written after
 *                Py_DECREF ran its tp_dealloc (a plain object, and a GC object whose block starts
 *                with the GC header); a write through a stale pointer to a list's item array after
 *                the list grew; libc realloc of a pointer an error path freed
 *   double-free  PyMem_Free twice through a helper that does not forget the pointer; free() twice
 *                in an error path; a type whose clear() frees a buffer without NULLing it, then
 *                tp_dealloc frees it again (driven from Python)
 *   invalid-free PyObject_Free of an interior pointer; PyMem_Free of a static default buffer
 *   allocator-mismatch  PyObject_Malloc -> PyMem_Free; PyMem_Malloc -> free(); malloc() ->
 *                PyMem_RawFree; PyMem_RawMalloc -> PyObject_Free
 *
 * Sizes and offsets are fixed in this file: tests/e2e/test_heap.py asserts on them (block.size,
 * details.offset), and on the function names in the stacks. The functions that do the bad access
 * are kept out of line (NOINLINE) so that stacks show them; built with -O1 -g
 * -fno-optimize-sibling-calls (lifeline_harness.build_extension).
 *
 * Not included: Py_DECREF twice on an object with refcount 1. The second decrement writes into the
 * freed object; on a release build that is a use-after-free found later, but on a Py_DEBUG build
 * Py_DECREF sees the negative refcount and _Py_NegativeRefcount() dumps the freed object (reading
 * its poisoned ob_type) before aborting: not the same, deterministic outcome on every interpreter.
 *
 * Without lifeline most of these do not crash: they silently corrupt the heap (or glibc aborts at
 * a double free). Do not run them outside lifeline expecting anything in particular.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

/* Keeps the compiler from reasoning about values the scenarios depend on (it could otherwise warn
 * about, or drop, accesses it can prove out of bounds). */
static volatile size_t opaque_zero;
#define HIDE(x) ((x) + opaque_zero)

/* ================================================================================================
 * heap-buffer-overflow
 * ============================================================================================== */

/* Off-by-one: `<=` instead of `<`; writes buf[n], 0 bytes past the end of a 24-byte PyMem block. */
NOINLINE static void
fill_checksum_table(unsigned char *buf, size_t n)
{
    for (size_t i = 0; i <= n; i++)
        buf[i] = (unsigned char)(i * 7);
}

static PyObject *
zoo_overflow_off_by_one(PyObject *module, PyObject *Py_UNUSED(args))
{
    size_t n = HIDE(24);
    unsigned char *buf = PyMem_Malloc(n);
    if (buf == NULL)
        return PyErr_NoMemory();
    fill_checksum_table(buf, n);
    unsigned long sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += buf[i];
    PyMem_Free(buf);                                    /* overflow detected here */
    return PyLong_FromUnsignedLong(sum);
}

/* A struct allocated with PyObject_Malloc whose name field gets strlen()+1 bytes of a 16-character
 * string: the NUL lands 0 bytes past the end of the 24-byte struct. */
struct label {
    long id;
    char name[16];          /* offsets 8..23: the struct's last field */
};

NOINLINE static void
label_set_name(struct label *l, const char *name)
{
    size_t len = strlen(name);
    memcpy((char *)l + offsetof(struct label, name), name, HIDE(len + 1));   /* +1: the NUL */
}

static PyObject *
zoo_overflow_memcpy_name(PyObject *module, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL)
        return NULL;
    struct label *l = PyObject_Malloc(sizeof *l);
    if (l == NULL)
        return PyErr_NoMemory();
    l->id = 7;
    label_set_name(l, name);
    long id = l->id;
    PyObject_Free(l);                                   /* overflow detected here */
    return PyLong_FromLong(id);
}

/* An array of 5 {key, value} int pairs from malloc (40 bytes); the loop runs one element too far
 * and stores only .value: the first damaged byte is 4 bytes past the end. */
struct pair {
    int key;
    int value;
};

NOINLINE static void
pairs_set_values(struct pair *p, int count)
{
    for (int i = 0; i <= count; i++)
        p[i].value = 100 + i;
}

static PyObject *
zoo_overflow_libc_loop(PyObject *module, PyObject *Py_UNUSED(args))
{
    int count = (int)HIDE(5);
    struct pair *p = malloc(sizeof *p * (size_t)count);
    if (p == NULL)
        return PyErr_NoMemory();
    for (int i = 0; i < count; i++)
        p[i].key = i;
    pairs_set_values(p, count);
    long total = 0;
    for (int i = 0; i < count; i++)
        total += p[i].key + p[i].value;
    free(p);                                            /* overflow detected here */
    return PyLong_FromLong(total);
}

/* A growing byte buffer: grows with PyMem_Realloc to exactly len + n, then writes the terminator
 * at buf[len + n] — 0 bytes past the end of the 20-byte reallocated block. */
struct strbuf {
    char *data;
    size_t len;
};

NOINLINE static int
strbuf_append(struct strbuf *sb, const char *s, size_t n)
{
    char *grown = PyMem_Realloc(sb->data, HIDE(sb->len + n));     /* forgot + 1 for the NUL */
    if (grown == NULL)
        return -1;
    sb->data = grown;
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return 0;
}

static PyObject *
zoo_overflow_realloc_grow(PyObject *module, PyObject *Py_UNUSED(args))
{
    struct strbuf sb = {PyMem_Malloc(9), 0};
    if (sb.data == NULL)
        return PyErr_NoMemory();
    memcpy(sb.data, "12345678", 9);
    sb.len = 8;
    if (strbuf_append(&sb, "abcdefghijkl", 12) < 0) {  /* 8 + 12 = 20 bytes */
        PyMem_Free(sb.data);
        return PyErr_NoMemory();
    }
    PyObject *res = PyBytes_FromStringAndSize(sb.data, (Py_ssize_t)sb.len);
    PyMem_Free(sb.data);                                /* overflow detected here */
    return res;
}

/* ================================================================================================
 * heap-buffer-underflow
 * ============================================================================================== */

/* Writes a "previous" sentinel at index -1 of a 32-byte PyMem array: 1 byte before the start. */
NOINLINE static void
mark_before_first(unsigned char *buf, Py_ssize_t first)
{
    buf[first - 1] = 0x2a;
}

static PyObject *
zoo_underflow_index_minus_one(PyObject *module, PyObject *Py_UNUSED(args))
{
    unsigned char *buf = PyMem_Malloc(32);
    if (buf == NULL)
        return PyErr_NoMemory();
    memset(buf, 0, 32);
    mark_before_first(buf, (Py_ssize_t)HIDE(0));
    PyMem_Free(buf);                                    /* underflow detected here */
    Py_RETURN_NONE;
}

/* Masks the key of "key:value" in a PyMem_RawMalloc'd copy, assuming every key has at least
 * KEY_MIN characters: start = (colon - buf) - KEY_MIN. For "ab:cdef" that is 2 - 4 = -2, so the
 * mask starts 2 bytes before the block. */
#define KEY_MIN 4

NOINLINE static void
mask_key(char *buf, size_t n)
{
    char *colon = memchr(buf, ':', n);
    if (colon == NULL)
        return;
    ptrdiff_t start = (colon - buf) - KEY_MIN;
    memset(buf + start, '*', KEY_MIN);
}

static PyObject *
zoo_underflow_ptrdiff(PyObject *module, PyObject *arg)
{
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &n);
    if (text == NULL)
        return NULL;
    char *buf = PyMem_RawMalloc((size_t)n + 1);
    if (buf == NULL)
        return PyErr_NoMemory();
    memcpy(buf, text, (size_t)n + 1);
    mask_key(buf, (size_t)n);
    PyObject *res = PyUnicode_FromStringAndSize(buf, n);
    PyMem_RawFree(buf);                                 /* underflow detected here */
    return res;
}

/* ================================================================================================
 * use-after-free
 * ============================================================================================== */

/* A session record freed by session_close() but still counted by the caller: the write to hits
 * (offset 16 of the 32-byte block) happens after PyMem_Free. */
struct session {
    void *reserved;
    long id;
    long hits;              /* offset 16 */
    long flags;
};

NOINLINE static void
session_close(struct session *s)
{
    PyMem_Free(s);
}

NOINLINE static void
session_count_hit(struct session *s)
{
    s->hits += 1;
    __asm__ volatile("" ::: "memory");
}

static PyObject *
zoo_uaf_struct_member(PyObject *module, PyObject *Py_UNUSED(args))
{
    struct session *s = PyMem_Malloc(sizeof *s);
    if (s == NULL)
        return PyErr_NoMemory();
    memset(s, 0, sizeof *s);
    s->id = 1;
    session_close(s);
    session_count_hit(s);                               /* use after free (write) */
    Py_RETURN_NONE;
}

/* ---- a small object type: Widget ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    long count;             /* offset 16 (after the 16-byte object header) */
    char *buf;              /* offset 24: a PyMem block of WIDGET_BUF bytes */
    long flags;             /* offset 32 */
} WidgetObject;             /* 40 bytes */

#define WIDGET_BUF 48

static PyTypeObject Widget_Type;

static PyObject *
widget_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    WidgetObject *w = (WidgetObject *)type->tp_alloc(type, 0);
    if (w == NULL)
        return NULL;
    w->buf = PyMem_Malloc(WIDGET_BUF);
    if (w->buf == NULL) {
        Py_DECREF(w);
        return PyErr_NoMemory();
    }
    memset(w->buf, 0, WIDGET_BUF);
    return (PyObject *)w;
}

NOINLINE static void
widget_release_buffer(WidgetObject *w)
{
    PyMem_Free(w->buf);
}

static void
widget_dealloc(WidgetObject *w)
{
    widget_release_buffer(w);
    Py_TYPE(w)->tp_free((PyObject *)w);
}

/* Widget.clear(): the bug: frees the buffer but leaves w->buf pointing at it. */
static PyObject *
widget_clear(WidgetObject *w, PyObject *Py_UNUSED(args))
{
    widget_release_buffer(w);
    Py_RETURN_NONE;
}

static PyMethodDef widget_methods[] = {
    {"clear", (PyCFunction)widget_clear, METH_NOARGS,
     "Free the widget's buffer (and, the bug, keep pointing at it)."},
    {NULL, NULL, 0, NULL}
};

static PyTypeObject Widget_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_heap.Widget",
    .tp_basicsize = sizeof(WidgetObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A widget with a PyMem buffer.",
    .tp_new = widget_new,
    .tp_dealloc = (destructor)widget_dealloc,
    .tp_methods = widget_methods,
};

NOINLINE static void
widget_bump(WidgetObject *w)
{
    w->count += 1;
    __asm__ volatile("" ::: "memory");
}

/* Creates a widget, drops the only reference (tp_dealloc frees it with PyObject_Free) and then
 * bumps its count field: a write at offset 16 of a freed 'zoo_heap.Widget' (40 bytes). */
static PyObject *
zoo_uaf_object_field(PyObject *module, PyObject *Py_UNUSED(args))
{
    WidgetObject *w = (WidgetObject *)PyObject_CallNoArgs((PyObject *)&Widget_Type);
    if (w == NULL)
        return NULL;
    Py_DECREF(w);                                       /* the last reference: freed here */
    widget_bump(w);                                     /* use after free (write) */
    Py_RETURN_NONE;
}

/* ---- a GC object type: Node (its block starts with the 16-byte PyGC_Head) ------------------------ */

typedef struct {
    PyObject_HEAD
    PyObject *payload;      /* offset 16 of the object */
    long value;             /* offset 24 of the object, 16 + 24 = 40 of the block */
} NodeObject;               /* 32 bytes; the block is 16 + 32 = 48 bytes */

static int
node_traverse(NodeObject *n, visitproc visit, void *arg)
{
    Py_VISIT(n->payload);
    return 0;
}

static int
node_clear(NodeObject *n)
{
    Py_CLEAR(n->payload);
    return 0;
}

static void
node_dealloc(NodeObject *n)
{
    PyObject_GC_UnTrack(n);
    Py_CLEAR(n->payload);
    PyObject_GC_Del(n);
}

static PyTypeObject Node_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "zoo_heap.Node",
    .tp_basicsize = sizeof(NodeObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A GC-tracked node holding one object.",
    .tp_traverse = (traverseproc)node_traverse,
    .tp_clear = (inquiry)node_clear,
    .tp_dealloc = (destructor)node_dealloc,
};

NOINLINE static void
node_set_value(NodeObject *n, long v)
{
    n->value = v;
    __asm__ volatile("" ::: "memory");
}

/* A GC object's field written after its last reference went: a write at offset 24 of the object,
 * 40 of its 48-byte block (which starts with the GC header). */
static PyObject *
zoo_uaf_gc_object(PyObject *module, PyObject *Py_UNUSED(args))
{
    NodeObject *n = PyObject_GC_New(NodeObject, &Node_Type);
    if (n == NULL)
        return NULL;
    n->payload = PyLong_FromLong(12345);
    n->value = 0;
    PyObject_GC_Track(n);
    Py_DECREF(n);                                       /* freed here (PyObject_GC_Del) */
    node_set_value(n, 99);                              /* use after free (write) */
    Py_RETURN_NONE;
}

/* Keeps a pointer to a list's item array, appends (list_resize reallocates the array; under
 * lifeline the realloc always moves), then stores through the stale pointer: a write at offset 8
 * of the freed 32-byte (4-slot) item array. */
NOINLINE static void
store_slot(PyObject **items, Py_ssize_t i, PyObject *v)
{
    items[i] = v;
    __asm__ volatile("" ::: "memory");
}

static PyObject *
zoo_uaf_stale_list_items(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *list = PyList_New(4);                     /* item array: PyMem, 4 * 8 = 32 bytes */
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < 4; i++)
        PyList_SET_ITEM(list, i, PyLong_FromSsize_t(i));
    PyObject **items = ((PyListObject *)list)->ob_item;   /* the stale pointer */
    PyObject *five = PyLong_FromLong(5);
    if (five == NULL || PyList_Append(list, five) < 0) {   /* grows: 4 -> 8 slots, moves */
        Py_XDECREF(five);
        Py_DECREF(list);
        return NULL;
    }
    Py_DECREF(five);
    store_slot(items, 1, Py_None);                      /* use after free (write) */
    return list;
}

/* An error path frees the buffer, the caller does not know and grows it with realloc: realloc of
 * a freed pointer (a read of the freed block, caught at the access). */
NOINLINE static int
parse_header(char *buf, size_t n)
{
    if (n < 8 || memcmp(buf, "ZOO!", 4) != 0) {
        free(buf);                                      /* error path: frees the caller's buffer */
        return -1;
    }
    return 0;
}

NOINLINE static char *
grow_buffer(char *buf, size_t n)
{
    return realloc(buf, n);
}

static PyObject *
zoo_uaf_realloc_freed(PyObject *module, PyObject *Py_UNUSED(args))
{
    char *buf = malloc(64);
    if (buf == NULL)
        return PyErr_NoMemory();
    memset(buf, 'x', 64);
    if (parse_header(buf, 64) < 0) {
        /* the bug: buf is still used as if the header parser had not freed it */
    }
    char *bigger = grow_buffer(buf, 256);               /* realloc of a freed pointer */
    free(bigger);
    Py_RETURN_NONE;
}

/* ================================================================================================
 * double-free
 * ============================================================================================== */

/* A cache released by a helper that does not clear the caller's pointer; the "reset" path calls it
 * and then the normal cleanup calls it again. */
struct cache {
    char *entries;          /* a 64-byte PyMem block */
};

NOINLINE static void
cache_release(struct cache *c)
{
    PyMem_Free(c->entries);
}

NOINLINE static void
cache_reset(struct cache *c)
{
    cache_release(c);
}

static PyObject *
zoo_double_free_pymem(PyObject *module, PyObject *Py_UNUSED(args))
{
    struct cache c = {PyMem_Malloc(64)};
    if (c.entries == NULL)
        return PyErr_NoMemory();
    memset(c.entries, 1, 64);
    cache_reset(&c);                                    /* first free */
    cache_release(&c);                                  /* second free */
    Py_RETURN_NONE;
}

/* free() twice: once in the error branch, once more at the shared cleanup label. */
NOINLINE static int
decode_record(const char *text, size_t n)
{
    int rc = -1;
    char *tmp = malloc(HIDE(n) + 1);                    /* n = 11 ("bad-record!") -> 12 bytes */
    if (tmp == NULL)
        return -1;
    memcpy(tmp, text, n + 1);
    if (tmp[0] != '{') {
        free(tmp);                                      /* first free, in the error branch */
        goto fail;
    }
    rc = 0;
fail:
    free(tmp);                                          /* second free */
    return rc;
}

static PyObject *
zoo_double_free_error_path(PyObject *module, PyObject *arg)
{
    Py_ssize_t n;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &n);
    if (text == NULL)
        return NULL;
    return PyLong_FromLong(decode_record(text, (size_t)n));
}

/* Widget.clear() then the last reference goes: tp_dealloc frees the buffer a second time. Driven
 * from Python: `w = zoo_heap.Widget(); w.clear(); del w`. */

/* ================================================================================================
 * invalid-free
 * ============================================================================================== */

/* PyObject_Free of a pointer 16 bytes inside a live 64-byte PyObject_Malloc block: the code frees
 * the payload after a header instead of the block. */
struct message {
    long header[2];         /* 16 bytes of header */
    char payload[48];
};

NOINLINE static void
free_payload(char *payload)
{
    PyObject_Free(payload);
}

static PyObject *
zoo_invalid_free_interior(PyObject *module, PyObject *Py_UNUSED(args))
{
    struct message *m = PyObject_Malloc(sizeof *m);
    if (m == NULL)
        return PyErr_NoMemory();
    memset(m, 0, sizeof *m);
    free_payload(m->payload);                           /* interior pointer */
    Py_RETURN_NONE;
}

/* PyMem_Free of a static buffer: the "default" configuration comes from static storage, a custom
 * one from PyMem_Malloc, and the cleanup frees whichever it got. */
static char default_config[32] = "mode=default";

NOINLINE static char *
load_config(const char *custom)
{
    if (custom == NULL || custom[0] == '\0')
        return default_config;
    size_t n = strlen(custom) + 1;
    char *c = PyMem_Malloc(n);
    if (c != NULL)
        memcpy(c, custom, n);
    return c;
}

NOINLINE static void
unload_config(char *config)
{
    PyMem_Free(config);
}

static PyObject *
zoo_invalid_free_static(PyObject *module, PyObject *arg)
{
    const char *custom = PyUnicode_AsUTF8(arg);
    if (custom == NULL)
        return NULL;
    char *config = load_config(custom);
    if (config == NULL)
        return PyErr_NoMemory();
    PyObject *res = PyUnicode_FromString(config);
    unload_config(config);                              /* static buffer when custom is "" */
    return res;
}

/* ================================================================================================
 * allocator-mismatch
 * ============================================================================================== */

NOINLINE static void
release_with_pymem(void *p)
{
    PyMem_Free(p);
}

/* PyObject_Malloc -> PyMem_Free (56 bytes). In a release build both use pymalloc and nothing
 * visible happens; still a bug (PYTHONMALLOC=malloc_debug or another allocator breaks it). */
static PyObject *
zoo_mismatch_obj_mem(PyObject *module, PyObject *Py_UNUSED(args))
{
    void *p = PyObject_Malloc(56);
    if (p == NULL)
        return PyErr_NoMemory();
    memset(p, 0, 56);
    release_with_pymem(p);
    Py_RETURN_NONE;
}

/* PyMem_Malloc -> free() (100 bytes): a buffer handed to a "C library" helper that frees with
 * free(). */
NOINLINE static void
clib_consume(char *text)
{
    free(text);
}

static PyObject *
zoo_mismatch_mem_libc(PyObject *module, PyObject *Py_UNUSED(args))
{
    char *text = PyMem_Malloc(100);
    if (text == NULL)
        return PyErr_NoMemory();
    snprintf(text, 100, "hello from PyMem");
    clib_consume(text);
    Py_RETURN_NONE;
}

/* malloc() (strdup) -> PyMem_RawFree (a 21-byte string). */
NOINLINE static void
release_raw(void *p)
{
    PyMem_RawFree(p);
}

static PyObject *
zoo_mismatch_libc_raw(PyObject *module, PyObject *Py_UNUSED(args))
{
    char *copy = strdup("a string of 20 chars");         /* 21 bytes with the NUL */
    if (copy == NULL)
        return PyErr_NoMemory();
    release_raw(copy);
    Py_RETURN_NONE;
}

/* PyMem_RawMalloc -> PyObject_Free (24 bytes). */
NOINLINE static void
release_obj(void *p)
{
    PyObject_Free(p);
}

static PyObject *
zoo_mismatch_raw_obj(PyObject *module, PyObject *Py_UNUSED(args))
{
    long *p = PyMem_RawMalloc(3 * sizeof(long));
    if (p == NULL)
        return PyErr_NoMemory();
    p[0] = p[1] = p[2] = 0;
    release_obj(p);
    Py_RETURN_NONE;
}

/* ================================================================================================
 * clean: looks suspicious, is correct
 * ============================================================================================== */

/* Doubling growth with PyMem_Realloc, always through the returned pointer, staying in bounds. */
static PyObject *
zoo_clean_realloc_growth(PyObject *module, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0)
        return PyErr_Occurred() ? NULL : (PyErr_SetString(PyExc_ValueError, "n < 0"), NULL);
    size_t cap = 1, len = 0;
    long *v = PyMem_Malloc(cap * sizeof *v);
    if (v == NULL)
        return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        if (len == cap) {
            long *grown = PyMem_Realloc(v, 2 * cap * sizeof *v);
            if (grown == NULL) {
                PyMem_Free(v);
                return PyErr_NoMemory();
            }
            v = grown;
            cap *= 2;
        }
        v[len++] = (long)i;
    }
    long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += v[i];
    /* shrink to fit, then free */
    long *fit = PyMem_Realloc(v, (len ? len : 1) * sizeof *v);
    if (fit != NULL)
        v = fit;
    PyMem_Free(v);
    return PyLong_FromLong(sum);
}

/* PyMem_RawMalloc + PyMem_RawFree, PyMem_RawCalloc + PyMem_RawRealloc, from another thread's
 * point of view irrelevant: the raw domain used correctly. */
static PyObject *
zoo_clean_raw_pair(PyObject *module, PyObject *Py_UNUSED(args))
{
    char *a = PyMem_RawMalloc(128);
    if (a == NULL)
        return PyErr_NoMemory();
    memset(a, 'r', 128);
    char *b = PyMem_RawCalloc(16, 8);
    if (b == NULL) {
        PyMem_RawFree(a);
        return PyErr_NoMemory();
    }
    char *c = PyMem_RawRealloc(b, 300);
    if (c == NULL) {
        PyMem_RawFree(b);
        PyMem_RawFree(a);
        return PyErr_NoMemory();
    }
    c[299] = a[127];
    PyMem_RawFree(a);
    PyMem_RawFree(c);
    PyMem_RawFree(NULL);
    Py_RETURN_NONE;
}

/* Writes exactly the last byte of blocks of every family and of odd sizes (1..33), and byte 0:
 * right at the edge of the redzones, never in them. */
static PyObject *
zoo_clean_last_byte(PyObject *module, PyObject *Py_UNUSED(args))
{
    for (size_t size = 1; size <= 33; size++) {
        unsigned char *m = PyMem_Malloc(size);
        unsigned char *o = PyObject_Malloc(size);
        unsigned char *r = PyMem_RawMalloc(size);
        unsigned char *l = malloc(size);
        if (!m || !o || !r || !l) {
            PyMem_Free(m);
            PyObject_Free(o);
            PyMem_RawFree(r);
            free(l);
            return PyErr_NoMemory();
        }
        m[0] = o[0] = r[0] = l[0] = 1;
        m[size - 1] = o[size - 1] = r[size - 1] = l[size - 1] = 0xff;
        PyMem_Free(m);
        PyObject_Free(o);
        PyMem_RawFree(r);
        free(l);
    }
    Py_RETURN_NONE;
}

/* A list whose item array is re-read after the list grew (the right way to do what
 * uaf_stale_list_items does), a Widget used and released properly, calloc/free, free(NULL). */
static PyObject *
zoo_clean_list_and_widget(PyObject *module, PyObject *Py_UNUSED(args))
{
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (long i = 0; i < 100; i++) {
        PyObject *v = PyLong_FromLong(i);
        if (v == NULL || PyList_Append(list, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(v);
        PyObject **items = ((PyListObject *)list)->ob_item;    /* fresh after every append */
        Py_INCREF(Py_None);
        PyObject *old = items[i];
        items[i] = Py_None;
        Py_DECREF(old);
    }
    PyObject *w = PyObject_CallNoArgs((PyObject *)&Widget_Type);
    if (w == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    ((WidgetObject *)w)->count += 1;
    ((WidgetObject *)w)->buf[WIDGET_BUF - 1] = 'z';
    Py_DECREF(w);
    int *z = calloc(10, sizeof *z);
    if (z != NULL)
        z[9] = 1;
    free(z);
    free(NULL);
    PyMem_Free(NULL);
    PyObject_Free(NULL);
    return list;
}

/* libc helpers that allocate for the caller (getline, asprintf, open_memstream, realpath), the
 * aligned family (recorded without redzones), writing all of malloc_usable_size(), realloc(p, 0),
 * reallocarray: all correct. */
static PyObject *
zoo_clean_libc_helpers(PyObject *module, PyObject *Py_UNUSED(args))
{
    static const char text[] = "line one\nline two is longer than the first\nthree\n";
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    FILE *f = fmemopen((void *)text, sizeof text - 1, "r");
    if (f == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    while (getline(&line, &cap, f) > 0)
        lines++;
    fclose(f);
    free(line);

    char *s = NULL;
    if (asprintf(&s, "%d lines, %s", lines, "asprintf") < 0)
        return PyErr_NoMemory();
    free(s);

    char *ms = NULL;
    size_t msz = 0;
    FILE *o = open_memstream(&ms, &msz);
    if (o == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    for (int i = 0; i < 2000; i++)
        fprintf(o, "%d,", i);
    fclose(o);
    free(ms);

    char *rp = realpath("/usr/bin/../lib", NULL);
    free(rp);

    void *a = NULL;
    if (posix_memalign(&a, 64, 100) != 0)
        return PyErr_NoMemory();
    memset(a, 1, 100);
    void *a2 = realloc(a, 300);
    if (a2 == NULL) {
        free(a);
        return PyErr_NoMemory();
    }
    memset(a2, 2, 300);
    free(a2);
    char *al = aligned_alloc(32, 64);
    if (al != NULL)
        memset(al, 3, 64);
    free(al);

    char *u = malloc(13);
    if (u == NULL)
        return PyErr_NoMemory();
    size_t usable = malloc_usable_size(u);
    memset(u, 'u', usable);             /* allowed: the whole usable size belongs to the caller */
    free(u);

    char *z = malloc(10);
    z = realloc(z, 0);                  /* frees; returns NULL */
    free(z);

    int *ra = reallocarray(NULL, 10, sizeof *ra);
    if (ra == NULL)
        return PyErr_NoMemory();
    ra[9] = 9;
    int *ra2 = reallocarray(ra, 20, sizeof *ra);
    if (ra2 == NULL) {
        free(ra);
        return PyErr_NoMemory();
    }
    ra2[19] = 19;
    free(ra2);
    return PyLong_FromLong(lines);
}

/* ================================================================================================ */

static PyMethodDef zoo_methods[] = {
    {"overflow_off_by_one", zoo_overflow_off_by_one, METH_NOARGS,
     "PyMem_Malloc(24), a loop writes index 24."},
    {"overflow_memcpy_name", zoo_overflow_memcpy_name, METH_O,
     "memcpy of a 16-char name + NUL into a 16-byte field at the end of a 24-byte PyObject_Malloc struct."},
    {"overflow_libc_loop", zoo_overflow_libc_loop, METH_NOARGS,
     "malloc(40) array of 5 int pairs; the loop sets .value of a 6th (4 bytes past the end)."},
    {"overflow_realloc_grow", zoo_overflow_realloc_grow, METH_NOARGS,
     "PyMem_Realloc to exactly 20 bytes, then a NUL at index 20."},
    {"underflow_index_minus_one", zoo_underflow_index_minus_one, METH_NOARGS,
     "PyMem_Malloc(32), write at index -1."},
    {"underflow_ptrdiff", zoo_underflow_ptrdiff, METH_O,
     "PyMem_RawMalloc copy of 'key:value'; masks KEY_MIN bytes before the colon, which can start before the block."},
    {"uaf_struct_member", zoo_uaf_struct_member, METH_NOARGS,
     "PyMem_Free a 32-byte struct, then write its field at offset 16."},
    {"uaf_object_field", zoo_uaf_object_field, METH_NOARGS,
     "Py_DECREF a Widget to 0, then write its count field (offset 16)."},
    {"uaf_gc_object", zoo_uaf_gc_object, METH_NOARGS,
     "Py_DECREF a GC-tracked Node to 0, then write its value field."},
    {"uaf_stale_list_items", zoo_uaf_stale_list_items, METH_NOARGS,
     "Write through a list's item array pointer taken before the list grew."},
    {"uaf_realloc_freed", zoo_uaf_realloc_freed, METH_NOARGS,
     "realloc() of a malloc'd buffer an error path already freed."},
    {"double_free_pymem", zoo_double_free_pymem, METH_NOARGS, "PyMem_Free a 64-byte block twice."},
    {"double_free_error_path", zoo_double_free_error_path, METH_O,
     "free() a malloc'd copy in an error branch and again at the cleanup label."},
    {"invalid_free_interior", zoo_invalid_free_interior, METH_NOARGS,
     "PyObject_Free of a pointer 16 bytes into a 64-byte PyObject_Malloc block."},
    {"invalid_free_static", zoo_invalid_free_static, METH_O,
     "PyMem_Free of a static buffer (when the argument is the empty string)."},
    {"mismatch_obj_mem", zoo_mismatch_obj_mem, METH_NOARGS, "PyObject_Malloc(56) -> PyMem_Free."},
    {"mismatch_mem_libc", zoo_mismatch_mem_libc, METH_NOARGS, "PyMem_Malloc(100) -> free()."},
    {"mismatch_libc_raw", zoo_mismatch_libc_raw, METH_NOARGS, "strdup (malloc, 21 bytes) -> PyMem_RawFree."},
    {"mismatch_raw_obj", zoo_mismatch_raw_obj, METH_NOARGS, "PyMem_RawMalloc(24) -> PyObject_Free."},
    {"clean_realloc_growth", zoo_clean_realloc_growth, METH_O, "Correct doubling growth (no finding)."},
    {"clean_raw_pair", zoo_clean_raw_pair, METH_NOARGS, "Raw domain used correctly (no finding)."},
    {"clean_last_byte", zoo_clean_last_byte, METH_NOARGS,
     "Write the first and last byte of blocks of every family (no finding)."},
    {"clean_libc_helpers", zoo_clean_libc_helpers, METH_NOARGS,
     "getline, asprintf, open_memstream, realpath, aligned allocations, malloc_usable_size (no finding)."},
    {"clean_list_and_widget", zoo_clean_list_and_widget, METH_NOARGS,
     "List item array re-read after growth, a Widget used properly (no finding)."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef zoo_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "zoo_heap",
    .m_doc = "lifeline bug zoo: heap errors",
    .m_size = -1,
    .m_methods = zoo_methods,
};

PyMODINIT_FUNC
PyInit_zoo_heap(void)
{
    if (PyType_Ready(&Widget_Type) < 0 || PyType_Ready(&Node_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&zoo_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&Widget_Type);
    if (PyModule_AddObject(m, "Widget", (PyObject *)&Widget_Type) < 0) {
        Py_DECREF(&Widget_Type);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "WIDGET_SIZE", (long)sizeof(WidgetObject)) < 0
        || PyModule_AddIntConstant(m, "WIDGET_COUNT_OFFSET", (long)offsetof(WidgetObject, count)) < 0
        || PyModule_AddIntConstant(m, "WIDGET_BUF", WIDGET_BUF) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
