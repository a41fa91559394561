/* CPython 3.13 with the GIL: release and --with-pydebug builds, two tables
 * that differ only in the free lists. Values from the 3.13 headers: Include/cpython/pystate.h,
 * Include/internal/pycore_frame.h, pycore_freelist.h, pycore_gc.h,
 * pycore_object.h, Include/cpython/code.h, Include/object.h,
 * Include/cpython/unicodeobject.h. The free-threaded build (--disable-gil)
 * has another object header and no generation lists: its table is in
 * pyver_313t.c. A Py_DEBUG build differs in one place: its interpreter state keeps a
 * reference total (object_state.reftotal) before the free lists. */
#include "pyver.h"

/* Everything but the free lists, which a Py_DEBUG build moves. */
#define PYVER_313_COMMON \
    .major = 3,                                                                                 \
    .minor = 13,                                                                                \
    /* No _PyCFrame since 3.12: the thread state points at the frame. */                        \
    .tstate_cframe = PYVER_ABSENT,                                                              \
    .current_frame = 72,                                                                        \
    .frame_code = 0,               /* f_executable */                                           \
    .frame_previous = 8,                                                                        \
    .frame_instr = 56,             /* instr_ptr */                                              \
    /* No is_entry: _PyEval_EvalFrameDefault pushes a shim frame owned by                       \
     * the C stack below the first frame it runs. */                                            \
    .frame_is_entry = PYVER_ABSENT,                                                             \
    .frame_owner = 70,                                                                          \
    .frame_owned_by_cstack = 3,    /* FRAME_OWNED_BY_CSTACK */                                  \
    .tstate_datastack_top = 240,                                                                \
    .tstate_datastack_limit = 248,                                                              \
    .interp_gc_generations = 7424,                                                              \
    .gc_generation_size = 24,                                                                   \
    .gc_generations = 3,                                                                        \
    .tpflags_heaptype = 1ul << 9,                                                               \
    .code_filename = 112,                                                                       \
    .code_name = 120,                                                                           \
    .code_firstlineno = 68,                                                                     \
    .code_bytecode = 200,                                                                       \
    .ob_refcnt = 0,                                                                             \
    .ob_ref_shared = PYVER_ABSENT, /* one count: the GIL serializes it */                       \
    .ob_gc_bits = PYVER_ABSENT,    /* a GC head before the object */                            \
    .ob_type = 8,                                                                               \
    .type_name = 24,                                                                            \
    .type_basicsize = 32,                                                                       \
    .type_flags = 168,                                                                          \
    .gc_head_size = 16,                                                                         \
    .tpflags_have_gc = 1ul << 14,                                                               \
    .tpflags_type_subclass = 1ul << 31,                                                         \
    .ob_size = 16,                                                                              \
    .type_itemsize = 40,                                                                        \
    .type_dealloc = 48,                                                                         \
    .type_traverse = 184,                                                                       \
    .type_free = 320,                                                                           \
    .type_weaklistoffset = 208,                                                                 \
    .gc_next = 0,                                                                               \
    .gc_prev = 8,                                                                               \
    .gc_prev_flags = 3,                                                                         \
    /* Py_TPFLAGS_PREHEADER: a managed dict or a managed weakref list puts                      \
     * two words before the GC header. Inline values (Py_TPFLAGS_INLINE_VALUES)                 \
     * come after the object, inside the same block. */                                         \
    .tpflags_preheader = (1ul << 3) | (1ul << 4),                                               \
    .preheader_size = 16,                                                                       \
    .ob_header_size = 16,                                                                       \
    .immortal_bits = 1ull << 31,   /* _Py_IMMORTAL_REFCNT is UINT_MAX */                        \
    .obmalloc_per_interpreter = true, /* isolated subinterpreters, 3.12+ */                     \
    .tpflags_data_subclasses = (1ul << 24) | (1ul << 27) | (1ul << 28), /* int, bytes, str */   \
    .reftotal_function = "_Py_GetGlobalRefTotal", /* _Py_GetRefTotal is a macro since 3.12 */ \
    .str_interned_shift = 0,                                                                    \
    .str_interned_mask = 3,                                                                     \
    .str_interned_mortal = 1,      /* immortal interned strings have no uncounted references */ \
    .str_length = 16,                                                                           \
    .str_state = 32,                                                                            \
    .str_ascii_data = 40,          /* no wstr since 3.12 */                                     \
    .str_compact_data = 56,                                                                     \
    .str_kind_shift = 2,                                                                        \
    .str_compact_bit = 5,                                                                       \
    .str_ascii_bit = 6,                                                                         \
    /* end of PYVER_313_COMMON */

const struct pyver_layout pyver_313 = {
    .name = "3.13",
    .debug = 0,
    PYVER_313_COMMON
    /* The array free lists, now in PyInterpreterState.object_state.freelists. */
    .freelists = {{11208, 11848, 80},   /* list */
                  {11856, 12496, 80},   /* dict */
                  {12504, 13144, 80},   /* dict keys */
                  {13176, 13816, 80},   /* async generator values */
                  {13824, 14464, 80}},  /* async generator asend */
    .nfreelists = 5,
};

const struct pyver_layout pyver_313d = {
    .name = "3.13",
    .debug = 1,
    PYVER_313_COMMON
    /* 8 bytes further: object_state.reftotal comes first. */
    .freelists = {{11216, 11856, 80},   /* list */
                  {11864, 12504, 80},   /* dict */
                  {12512, 13152, 80},   /* dict keys */
                  {13184, 13824, 80},   /* async generator values */
                  {13832, 14472, 80}},  /* async generator asend */
    .nfreelists = 5,
};
