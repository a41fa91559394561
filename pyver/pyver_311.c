/* CPython 3.11 (release and --with-pydebug builds share this layout, since
 * Py_DEBUG no longer implies Py_TRACE_REFS). Values from the 3.11 headers:
 * Include/cpython/pystate.h, Include/internal/pycore_frame.h,
 * Include/cpython/code.h, Include/cpython/object.h, Include/cpython/unicodeobject.h. */
#include "pyver.h"

const struct pyver_layout pyver_311 = {
    .name = "3.11",
    .major = 3,
    .minor = 11,
    .tstate_cframe = 56,
    .cframe_current_frame = 8,
    .frame_code = 32,
    .frame_previous = 48,
    .frame_prev_instr = 56,
    .frame_is_entry = 68,
    .frame_owner = 69,
    .code_filename = 112,
    .code_name = 120,
    .code_firstlineno = 72,
    .code_bytecode = 184,
    .ob_refcnt = 0,
    .ob_type = 8,
    .type_name = 24,
    .type_basicsize = 32,
    .type_flags = 168,
    .gc_head_size = 16,
    .tpflags_have_gc = 1ul << 14,
    .tpflags_type_subclass = 1ul << 31,
    .str_length = 16,
    .str_state = 32,
    .str_ascii_data = 48,
    .str_compact_data = 72,
    .str_kind_shift = 2,
    .str_compact_bit = 5,
    .str_ascii_bit = 6,
};
