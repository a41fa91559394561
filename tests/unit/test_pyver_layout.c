/* Checks pyver's hand-kept layout table against the real headers of the
 * interpreter this test is compiled for (built once per installed 3.11
 * flavour, release and debug, and once per 3.13 that tests/python313/build
 * made). A mismatch means the agent would read the wrong fields. The
 * version tests here follow the headers' own: the test has to name the
 * fields each version has. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_object.h>
#include <stddef.h>

#include "../../pyver/pyver.h"
#include "check.h"

#if PY_VERSION_HEX >= 0x030d0000
#define FREELISTS object_state.freelists
#define FL_LIST FREELISTS.lists.items
#define FL_LIST_N FREELISTS.lists.numfree
#define FL_DICT FREELISTS.dicts.items
#define FL_DICT_N FREELISTS.dicts.numfree
#define FL_KEYS FREELISTS.dictkeys.items
#define FL_KEYS_N FREELISTS.dictkeys.numfree
#define FL_AGV FREELISTS.async_gens.items
#define FL_AGV_N FREELISTS.async_gens.numfree
#define FL_AGA FREELISTS.async_gen_asends.items
#define FL_AGA_N FREELISTS.async_gen_asends.numfree
#else
#define FL_LIST list.free_list
#define FL_LIST_N list.numfree
#define FL_DICT dict_state.free_list
#define FL_DICT_N dict_state.numfree
#define FL_KEYS dict_state.keys_free_list
#define FL_KEYS_N dict_state.keys_numfree
#define FL_AGV async_gen.value_freelist
#define FL_AGV_N async_gen.value_numfree
#define FL_AGA async_gen.asend_freelist
#define FL_AGA_N async_gen.asend_numfree
#endif

/* The frame chain: through _PyCFrame (3.11) or straight from the thread
 * state (3.12+); entry frames flagged (3.11) or marked by C-stack shims. */
static void check_frames(const struct pyver_layout *L)
{
#if PY_VERSION_HEX >= 0x030c0000
    CHECK(L->tstate_cframe == PYVER_ABSENT);
    CHECK(L->current_frame == offsetof(PyThreadState, current_frame));
    CHECK(L->frame_code == offsetof(_PyInterpreterFrame, f_executable));
    CHECK(L->frame_instr == offsetof(_PyInterpreterFrame, instr_ptr));
    CHECK(L->frame_is_entry == PYVER_ABSENT);
    CHECK(L->frame_owned_by_cstack == FRAME_OWNED_BY_CSTACK);
#else
    CHECK(L->tstate_cframe == offsetof(PyThreadState, cframe));
    CHECK(L->current_frame == offsetof(_PyCFrame, current_frame));
    CHECK(L->frame_code == offsetof(_PyInterpreterFrame, f_code));
    CHECK(L->frame_instr == offsetof(_PyInterpreterFrame, prev_instr));
    CHECK(L->frame_is_entry == offsetof(_PyInterpreterFrame, is_entry));
    CHECK(L->frame_owned_by_cstack == 0);
#endif
    CHECK(L->frame_previous == offsetof(_PyInterpreterFrame, previous));
    CHECK(L->frame_owner == offsetof(_PyInterpreterFrame, owner));
}

#ifdef Py_GIL_DISABLED
/* The biased count: pyver_refcnt and pyver_immortal against the headers'
 * own Py_REFCNT and _Py_IsImmortal on probe objects. */
static void check_free_threaded_counts(const struct pyver_layout *L)
{
    CHECK(L->free_threaded);
    /* 3.13's _PyObject_SetDeferredRefcount immortalizes once gc.immortalize is set (gh-117783). */
    CHECK(L->immortalizes_deferred == (PY_VERSION_HEX < 0x030e0000));
    CHECK(L->ob_refcnt == offsetof(PyObject, ob_ref_local));
    CHECK(L->ob_ref_shared == offsetof(PyObject, ob_ref_shared));
    CHECK(L->ref_shared_shift == _Py_REF_SHARED_SHIFT);
    CHECK(L->ob_gc_bits == offsetof(PyObject, ob_gc_bits));
    CHECK(L->gc_bits_tracked == _PyGC_BITS_TRACKED);
    CHECK(L->gc_bits_deferred == _PyGC_BITS_DEFERRED);
    static const struct { uint32_t local; Py_ssize_t shared; } cases[] = {
        {1, 0}, {3, 2 << _Py_REF_SHARED_SHIFT}, {0, 5 << _Py_REF_SHARED_SHIFT},
        {2, (1 << _Py_REF_SHARED_SHIFT) | _Py_REF_MAYBE_WEAKREF}, {7, -(1 << _Py_REF_SHARED_SHIFT)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        PyObject probe;
        memset(&probe, 0, sizeof probe);
        probe.ob_ref_local = cases[i].local;
        probe.ob_ref_shared = cases[i].shared;
        CHECK(pyver_refcnt(L, (uintptr_t)&probe) == Py_REFCNT(&probe));
        CHECK(!pyver_immortal(L, (uintptr_t)&probe));
    }
    PyObject probe;
    memset(&probe, 0, sizeof probe);
    probe.ob_ref_local = _Py_IMMORTAL_REFCNT_LOCAL;
    CHECK(_Py_IsImmortal(&probe));
    CHECK(pyver_immortal(L, (uintptr_t)&probe));
    /* Tracked by the collector: the bit _PyObject_GC_IS_TRACKED tests. */
    _PyObject_SET_GC_BITS(&probe, _PyGC_BITS_TRACKED);
    CHECK((((const uint8_t *)&probe)[L->ob_gc_bits] & L->gc_bits_tracked) != 0);
    CHECK(_PyObject_GC_IS_TRACKED(&probe));
    CHECK(pyver_gc_tracked(L, (uintptr_t)&probe));
    CHECK(!pyver_deferred(L, (uintptr_t)&probe));
    _PyObject_SET_GC_BITS(&probe, _PyGC_BITS_DEFERRED);
    CHECK(_PyObject_HasDeferredRefcount(&probe));
    CHECK(pyver_deferred(L, (uintptr_t)&probe));
}
#endif

/* The words before an object and the meaning of its reference count. */
static void check_preheader_and_counts(const struct pyver_layout *L)
{
#ifdef Py_GIL_DISABLED
    check_free_threaded_counts(L);
    CHECK(L->tpflags_preheader == Py_TPFLAGS_PREHEADER);
#elif PY_VERSION_HEX >= 0x030c0000
    CHECK(L->tpflags_preheader == Py_TPFLAGS_PREHEADER);
    /* _Py_IsImmortal on 64-bit: the low 32 bits, read as signed, are negative. */
    CHECK(L->immortal_bits == (1ull << 31));
    CHECK((_Py_IMMORTAL_REFCNT & L->immortal_bits) != 0);
    PyObject probe = {{_Py_IMMORTAL_REFCNT}, NULL};
    CHECK(_Py_IsImmortal(&probe));
    probe.ob_refcnt = (Py_ssize_t)(L->immortal_bits - 1);
    CHECK(!_Py_IsImmortal(&probe));
    CHECK(!L->free_threaded);
    CHECK(L->ob_ref_shared == PYVER_ABSENT);
    CHECK(L->ob_gc_bits == PYVER_ABSENT);
    {
        PyObject probe = {{_Py_IMMORTAL_REFCNT}, NULL};
        CHECK(pyver_immortal(L, (uintptr_t)&probe));
        probe.ob_refcnt = 5;
        CHECK(pyver_refcnt(L, (uintptr_t)&probe) == 5);
        CHECK(!pyver_immortal(L, (uintptr_t)&probe));
        CHECK(!pyver_deferred(L, (uintptr_t)&probe));
    }
#else
    CHECK(L->tpflags_preheader == Py_TPFLAGS_MANAGED_DICT);
    CHECK(L->immortal_bits == 0);
    CHECK(!L->free_threaded);
    CHECK(L->ob_ref_shared == PYVER_ABSENT);
    CHECK(L->ob_gc_bits == PYVER_ABSENT);
    {
        PyObject probe = {5, NULL};
        CHECK(pyver_refcnt(L, (uintptr_t)&probe) == 5);
        CHECK(!pyver_immortal(L, (uintptr_t)&probe));
    }
#endif
    CHECK(L->preheader_size == 2 * sizeof(PyObject *));
    CHECK(L->ob_header_size == sizeof(PyObject));
}

/* The watched spans cover exactly the count's fields: nothing of the
 * header that changes without the count changing (3.13t's ob_mutex and
 * ob_gc_bits share ob_ref_local's 8-byte word). */
static void check_watch_spans(const struct pyver_layout *L)
{
    static PyObject probe;
    uintptr_t o = (uintptr_t)&probe;
    struct pyver_watch_span spans[2];
    unsigned n = pyver_refcnt_watch_spans(L, o, spans);
#ifdef Py_GIL_DISABLED
    CHECK(n == 2);
    CHECK(spans[0].addr == o + offsetof(PyObject, ob_ref_local) && spans[0].len == sizeof probe.ob_ref_local);
    CHECK(spans[1].addr == o + offsetof(PyObject, ob_ref_shared) && spans[1].len == sizeof probe.ob_ref_shared);
    CHECK(spans[0].addr + spans[0].len <= o + offsetof(PyObject, ob_mutex) ||
          spans[0].addr >= o + offsetof(PyObject, ob_gc_bits) + sizeof probe.ob_gc_bits);
#else
    CHECK(n == 1);
    CHECK(spans[0].addr == o + offsetof(PyObject, ob_refcnt) && spans[0].len == sizeof probe.ob_refcnt);
#endif
    for (unsigned i = 0; i < n; i++)
        CHECK(spans[i].addr % spans[i].len == 0);
}

int main(void)
{
#ifdef Py_GIL_DISABLED
    const bool free_threaded = true;
#else
    const bool free_threaded = false;
#endif
#ifdef Py_DEBUG
    const struct pyver_layout *L = pyver_lookup(PY_MAJOR_VERSION, PY_MINOR_VERSION, true, free_threaded);
#else
    const struct pyver_layout *L = pyver_lookup(PY_MAJOR_VERSION, PY_MINOR_VERSION, false, free_threaded);
#endif
    CHECK(L != NULL);
    if (!L)
        return check_summary("test_pyver_layout");
    check_frames(L);
    check_preheader_and_counts(L);
    check_watch_spans(L);
    CHECK(L->tstate_datastack_top == offsetof(PyThreadState, datastack_top));
    CHECK(L->tstate_datastack_limit == offsetof(PyThreadState, datastack_limit));
#ifdef Py_GIL_DISABLED
    /* Free lists are per thread (_PyThreadStateImpl.freelists): none described. */
    CHECK(L->nfreelists == 0);
    /* No GC head and no generation lists. */
    CHECK(L->interp_gc_generations == PYVER_ABSENT);
    CHECK(L->gc_generations == 0);
    CHECK(L->gc_head_size == 0);
    CHECK(L->gc_next == PYVER_ABSENT && L->gc_prev == PYVER_ABSENT);
#else
    {
        static const size_t arrays[][3] = {
            {offsetof(PyInterpreterState, FL_LIST), offsetof(PyInterpreterState, FL_LIST_N), PyList_MAXFREELIST},
            {offsetof(PyInterpreterState, FL_DICT), offsetof(PyInterpreterState, FL_DICT_N), PyDict_MAXFREELIST},
            {offsetof(PyInterpreterState, FL_KEYS), offsetof(PyInterpreterState, FL_KEYS_N), PyDict_MAXFREELIST},
            {offsetof(PyInterpreterState, FL_AGV), offsetof(PyInterpreterState, FL_AGV_N), _PyAsyncGen_MAXFREELIST},
            {offsetof(PyInterpreterState, FL_AGA), offsetof(PyInterpreterState, FL_AGA_N), _PyAsyncGen_MAXFREELIST},
        };
        CHECK(L->nfreelists == sizeof arrays / sizeof arrays[0]);
        for (unsigned i = 0; i < L->nfreelists && i < sizeof arrays / sizeof arrays[0]; i++) {
            CHECK(L->freelists[i].array == arrays[i][0]);
            CHECK(L->freelists[i].count == arrays[i][1]);
            CHECK(L->freelists[i].capacity == arrays[i][2]);
        }
    }
    CHECK(L->interp_gc_generations == offsetof(PyInterpreterState, gc.generations));
    CHECK(L->gc_generation_size == sizeof(struct gc_generation));
    CHECK(L->gc_generations == NUM_GENERATIONS);
    CHECK(L->gc_head_size == sizeof(PyGC_Head));
    CHECK(L->gc_next == offsetof(PyGC_Head, _gc_next));
    CHECK(L->gc_prev == offsetof(PyGC_Head, _gc_prev));
    CHECK(L->gc_prev_flags == (_PyGC_PREV_MASK_FINALIZED | _PyGC_PREV_MASK_COLLECTING));
#endif
    CHECK(L->tpflags_heaptype == Py_TPFLAGS_HEAPTYPE);
    CHECK(L->code_filename == offsetof(PyCodeObject, co_filename));
    CHECK(L->code_name == offsetof(PyCodeObject, co_name));
    CHECK(L->code_firstlineno == offsetof(PyCodeObject, co_firstlineno));
    CHECK(L->code_bytecode == offsetof(PyCodeObject, co_code_adaptive));
#ifndef Py_GIL_DISABLED
    CHECK(L->ob_refcnt == offsetof(PyObject, ob_refcnt));
#endif
    CHECK(L->ob_type == offsetof(PyObject, ob_type));
    CHECK(L->type_name == offsetof(PyTypeObject, tp_name));
    CHECK(L->type_flags == offsetof(PyTypeObject, tp_flags));
    CHECK(L->type_basicsize == offsetof(PyTypeObject, tp_basicsize));
    CHECK(L->tpflags_have_gc == Py_TPFLAGS_HAVE_GC);
    CHECK(L->tpflags_type_subclass == Py_TPFLAGS_TYPE_SUBCLASS);
    CHECK(L->ob_size == offsetof(PyVarObject, ob_size));
    CHECK(L->type_itemsize == offsetof(PyTypeObject, tp_itemsize));
    CHECK(L->type_dealloc == offsetof(PyTypeObject, tp_dealloc));
    CHECK(L->type_traverse == offsetof(PyTypeObject, tp_traverse));
    CHECK(L->type_free == offsetof(PyTypeObject, tp_free));
    CHECK(L->type_weaklistoffset == offsetof(PyTypeObject, tp_weaklistoffset));
    CHECK(L->tpflags_data_subclasses ==
          (Py_TPFLAGS_LONG_SUBCLASS | Py_TPFLAGS_BYTES_SUBCLASS | Py_TPFLAGS_UNICODE_SUBCLASS));
    {
        /* The interned state of a str: the lowest bits of its state word. */
        PyASCIIObject a;
        memset(&a, 0, sizeof a);
        a.state.interned = SSTATE_INTERNED_MORTAL;
        unsigned word;
        memcpy(&word, (char *)&a + L->str_state, sizeof word);
        CHECK(((word >> L->str_interned_shift) & L->str_interned_mask) == L->str_interned_mortal);
    }
    CHECK(L->str_length == offsetof(PyASCIIObject, length));
    CHECK(L->str_ascii_data == sizeof(PyASCIIObject));
    CHECK(L->str_compact_data == sizeof(PyCompactUnicodeObject));
    /* The state bit-field: set each field and see which bits move. */
    PyASCIIObject s;
    memset(&s, 0, sizeof s);
    s.state.kind = 7;
    uint32_t word;
    memcpy(&word, (char *)&s + L->str_state, sizeof word);
    CHECK(word == 7u << L->str_kind_shift);
    memset(&s, 0, sizeof s);
    s.state.compact = 1;
    memcpy(&word, (char *)&s + L->str_state, sizeof word);
    CHECK(word == 1u << L->str_compact_bit);
    memset(&s, 0, sizeof s);
    s.state.ascii = 1;
    memcpy(&word, (char *)&s + L->str_state, sizeof word);
    CHECK(word == 1u << L->str_ascii_bit);
    return check_summary("test_pyver_layout");
}
