/* CPython 3.13 free-threaded (--disable-gil, python3.13t). Values from the
 * same 3.13 headers as pyver_313.c, compiled with Py_GIL_DISABLED: the
 * object header grows to 32 bytes (ob_tid, ob_flags, ob_mutex, ob_gc_bits,
 * ob_ref_local, ob_ref_shared, ob_type), so every field after it moves 16
 * bytes (type, str, var objects); the code object has its own extra fields
 * (co_tlbc is 3.14: here it is the mutex and the per-thread state). No GC
 * head and no generation lists: the collector keeps its bits in ob_gc_bits
 * and finds objects by walking mimalloc's heaps. The free lists are per
 * thread (_PyThreadStateImpl.freelists), none here. One table for release
 * and Py_DEBUG builds (no field it names moves between them; checked on
 * the release build only). */
#include "pyver.h"

const struct pyver_layout pyver_313t = {
    .name = "3.13t",
    .major = 3,
    .minor = 13,
    .debug = PYVER_ANY_BUILD,
    .free_threaded = true,
    .immortalizes_deferred = true, /* gh-117783, until 3.14's deferred counts */
    .obmalloc_per_interpreter = true, /* isolated subinterpreters, 3.12+ */
    .tstate_cframe = PYVER_ABSENT,
    .current_frame = 72,
    .frame_code = 0,               /* f_executable */
    .frame_previous = 8,
    .frame_instr = 56,             /* instr_ptr */
    .frame_is_entry = PYVER_ABSENT,
    .frame_owner = 70,
    .frame_owned_by_cstack = 3,    /* FRAME_OWNED_BY_CSTACK */
    .tstate_datastack_top = 240,
    .tstate_datastack_limit = 248,
    /* Per-thread free lists: not described, so their stale slots count as
     * roots of the leak scan (a leak may hide, none is invented). */
    .nfreelists = 0,
    /* No generation lists: the collector walks mimalloc's heaps. */
    .interp_gc_generations = PYVER_ABSENT,
    .gc_generation_size = 0,
    .gc_generations = 0,
    .tpflags_heaptype = 1ul << 9,
    .code_filename = 128,
    .code_name = 136,
    .code_firstlineno = 84,
    .code_bytecode = 216,
    /* Biased reference counting: the owner's count in ob_ref_local (u32),
     * the others' in ob_ref_shared, shifted by _Py_REF_SHARED_SHIFT. */
    .ob_refcnt = 12,               /* ob_ref_local */
    .ob_ref_shared = 16,
    .ref_shared_shift = 2,
    .ob_gc_bits = 11,
    .gc_bits_tracked = 1,          /* _PyGC_BITS_TRACKED */
    .gc_bits_deferred = 64,        /* _PyGC_BITS_DEFERRED */
    .ob_type = 24,
    .type_name = 40,
    .type_basicsize = 48,
    .type_flags = 184,
    .gc_head_size = 0,             /* no PyGC_Head before a GC object */
    .tpflags_have_gc = 1ul << 14,
    .tpflags_type_subclass = 1ul << 31,
    .ob_size = 32,
    .type_itemsize = 56,
    .type_dealloc = 64,
    .type_traverse = 200,
    .type_free = 336,
    .type_weaklistoffset = 224,
    .gc_next = PYVER_ABSENT,
    .gc_prev = PYVER_ABSENT,
    .gc_prev_flags = 0,
    /* The pre-header (managed dict, managed weakref list) is the same two
     * words before the object, with no GC head between. */
    .tpflags_preheader = (1ul << 3) | (1ul << 4),
    .preheader_size = 16,
    .ob_header_size = 32,
    /* Immortal when ob_ref_local is UINT32_MAX (pyver_immortal); the bit
     * is given for code that only compares counts. */
    .immortal_bits = 1ull << 31,
    .tpflags_data_subclasses = (1ul << 24) | (1ul << 27) | (1ul << 28), /* int, bytes, str */
    .reftotal_function = "_Py_GetGlobalRefTotal",
    .str_interned_shift = 0,
    .str_interned_mask = 3,
    .str_interned_mortal = 1,
    .str_length = 32,
    .str_state = 48,
    .str_ascii_data = 56,
    .str_compact_data = 72,
    .str_kind_shift = 2,
    .str_compact_bit = 5,
    .str_ascii_bit = 6,
};
