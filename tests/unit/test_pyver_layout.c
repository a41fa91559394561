/* Checks pyver's hand-kept layout table against the real headers of the
 * interpreter this test is compiled for (built once per installed 3.11
 * flavour: release and debug). A mismatch means the agent would read the
 * wrong fields. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_gc.h>
#include <internal/pycore_interp.h>
#include <stddef.h>

#include "../../pyver/pyver.h"
#include "check.h"

int main(void)
{
    const struct pyver_layout *L = pyver_lookup(PY_MAJOR_VERSION, PY_MINOR_VERSION);
    CHECK(L != NULL);
    if (!L)
        return check_summary("test_pyver_layout");
    CHECK(L->tstate_cframe == offsetof(PyThreadState, cframe));
    CHECK(L->cframe_current_frame == offsetof(_PyCFrame, current_frame));
    CHECK(L->frame_code == offsetof(_PyInterpreterFrame, f_code));
    CHECK(L->frame_previous == offsetof(_PyInterpreterFrame, previous));
    CHECK(L->frame_prev_instr == offsetof(_PyInterpreterFrame, prev_instr));
    CHECK(L->frame_is_entry == offsetof(_PyInterpreterFrame, is_entry));
    CHECK(L->frame_owner == offsetof(_PyInterpreterFrame, owner));
    CHECK(L->tstate_datastack_top == offsetof(PyThreadState, datastack_top));
    CHECK(L->tstate_datastack_limit == offsetof(PyThreadState, datastack_limit));
    {
        static const size_t arrays[][3] = {
            {offsetof(PyInterpreterState, list.free_list), offsetof(PyInterpreterState, list.numfree),
             PyList_MAXFREELIST},
            {offsetof(PyInterpreterState, dict_state.free_list), offsetof(PyInterpreterState, dict_state.numfree),
             PyDict_MAXFREELIST},
            {offsetof(PyInterpreterState, dict_state.keys_free_list),
             offsetof(PyInterpreterState, dict_state.keys_numfree), PyDict_MAXFREELIST},
            {offsetof(PyInterpreterState, async_gen.value_freelist),
             offsetof(PyInterpreterState, async_gen.value_numfree), _PyAsyncGen_MAXFREELIST},
            {offsetof(PyInterpreterState, async_gen.asend_freelist),
             offsetof(PyInterpreterState, async_gen.asend_numfree), _PyAsyncGen_MAXFREELIST},
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
    CHECK(L->tpflags_heaptype == Py_TPFLAGS_HEAPTYPE);
    CHECK(L->code_filename == offsetof(PyCodeObject, co_filename));
    CHECK(L->code_name == offsetof(PyCodeObject, co_name));
    CHECK(L->code_firstlineno == offsetof(PyCodeObject, co_firstlineno));
    CHECK(L->code_bytecode == offsetof(PyCodeObject, co_code_adaptive));
    CHECK(L->ob_refcnt == offsetof(PyObject, ob_refcnt));
    CHECK(L->ob_type == offsetof(PyObject, ob_type));
    CHECK(L->type_name == offsetof(PyTypeObject, tp_name));
    CHECK(L->type_flags == offsetof(PyTypeObject, tp_flags));
    CHECK(L->type_basicsize == offsetof(PyTypeObject, tp_basicsize));
    CHECK(L->gc_head_size == sizeof(PyGC_Head));
    CHECK(L->tpflags_have_gc == Py_TPFLAGS_HAVE_GC);
    CHECK(L->tpflags_type_subclass == Py_TPFLAGS_TYPE_SUBCLASS);
    CHECK(L->ob_size == offsetof(PyVarObject, ob_size));
    CHECK(L->type_itemsize == offsetof(PyTypeObject, tp_itemsize));
    CHECK(L->type_dealloc == offsetof(PyTypeObject, tp_dealloc));
    CHECK(L->type_traverse == offsetof(PyTypeObject, tp_traverse));
    CHECK(L->type_free == offsetof(PyTypeObject, tp_free));
    CHECK(L->type_weaklistoffset == offsetof(PyTypeObject, tp_weaklistoffset));
    CHECK(L->gc_next == offsetof(PyGC_Head, _gc_next));
    CHECK(L->gc_prev == offsetof(PyGC_Head, _gc_prev));
    CHECK(L->gc_prev_flags == (_PyGC_PREV_MASK_FINALIZED | _PyGC_PREV_MASK_COLLECTING));
    CHECK(L->tpflags_managed_dict == Py_TPFLAGS_MANAGED_DICT);
    CHECK(L->managed_dict_size == 2 * sizeof(PyObject *));
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
