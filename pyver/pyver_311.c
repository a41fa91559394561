/* CPython 3.11 (release and --with-pydebug builds share this layout, since
 * Py_DEBUG no longer implies Py_TRACE_REFS). Values from the 3.11 headers:
 * Include/cpython/pystate.h, Include/internal/pycore_frame.h,
 * Include/cpython/code.h, Include/cpython/object.h, Include/cpython/unicodeobject.h. */
#include "pyver.h"

const struct pyver_layout pyver_311 = {
    .name = "3.11",
    .major = 3,
    .minor = 11,
    .debug = PYVER_ANY_BUILD,
    .tstate_cframe = 56,
    .current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_instr = 56,
    .frame_is_entry = 68,
    .frame_owner = 69,
    .frame_owned_by_cstack = 0,
    .tstate_datastack_top = 304,
    .tstate_datastack_limit = 312,
    .freelists = {{3872, 4512, 80},   /* list */
                  {4520, 5160, 80},   /* dict */
                  {5168, 5808, 80},   /* dict keys */
                  {5816, 6456, 80},   /* async generator values */
                  {6464, 7104, 80}},  /* async generator asend */
    .nfreelists = 5,
    .interp_gc_generations = 672,
    .gc_generation_size = 24,
    .gc_generations = 3,
    .tpflags_heaptype = 1ul << 9,
    .code_filename = 112,
    .code_name = 120,
    .code_firstlineno = 72,
    .code_bytecode = 184,
    .ob_refcnt = 0,
    .ob_ref_shared = PYVER_ABSENT, /* one count: the GIL serializes it */
    .ob_gc_bits = PYVER_ABSENT,    /* a GC head before the object */
    .ob_type = 8,
    .type_name = 24,
    .type_basicsize = 32,
    .type_flags = 168,
    .gc_head_size = 16,
    .tpflags_have_gc = 1ul << 14,
    .tpflags_type_subclass = 1ul << 31,
    .ob_size = 16,
    .type_itemsize = 40,
    .type_dealloc = 48,
    .type_traverse = 184,
    .type_free = 320,
    .type_weaklistoffset = 208,
    .gc_next = 0,
    .gc_prev = 8,
    .gc_prev_flags = 3,
    .tpflags_preheader = 1ul << 4, /* Py_TPFLAGS_MANAGED_DICT */
    .preheader_size = 16,
    .ob_header_size = 16,
    .immortal_bits = 0,
    .tpflags_data_subclasses = (1ul << 24) | (1ul << 27) | (1ul << 28), /* int, bytes, str */
    .reftotal_function = "_Py_GetRefTotal",
    .str_interned_shift = 0,
    .str_interned_mask = 3,
    .str_interned_mortal = 1,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_data = 48,
    .str_compact_data = 72,
    .str_kind_shift = 2,
    .str_compact_bit = 5,
    .str_ascii_bit = 6,
};
