/* Everything lifeline knows about the layout of a particular CPython version
 * lives behind this header: field offsets of the structures the agent reads
 * without calling into the interpreter, and which behaviours a version has.
 * Adding a version means adding a table in pyver_<version>.c and a line in
 * pyver.c; nothing else in lifeline names a version. Prefix: pyver_.
 *
 * Offsets are for 64-bit Linux. Each table is checked against the real
 * headers by tests/unit/test_pyver_layout.c. */
#ifndef LL_PYVER_H
#define LL_PYVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* pyver_layout.debug of a table that fits release and Py_DEBUG builds alike. */
#define PYVER_ANY_BUILD (-1)

/* A field this version does not have. */
#define PYVER_ABSENT ((size_t)-1)

struct pyver_layout {
    const char *name;             /* "3.11" */
    unsigned major, minor;
    /* The builds the table is for: PYVER_ANY_BUILD, or only release (0) or
     * only Py_DEBUG (1) builds when the two lay out a structure differently. */
    int debug;

    /* PyThreadState [-> _PyCFrame] -> _PyInterpreterFrame chain. */
    size_t tstate_cframe;          /* PyThreadState.cframe, PYVER_ABSENT when the thread
                                    * state holds the current frame itself (3.12+) */
    size_t current_frame;          /* _PyCFrame.current_frame, or PyThreadState.current_frame */
    size_t frame_code;             /* f_code (3.11) or f_executable (3.12+): may be no code
                                    * object in a frame the C stack owns */
    size_t frame_previous;
    size_t frame_instr;            /* _Py_CODEUNIT*: prev_instr (3.11) or instr_ptr (3.13);
                                    * either way its offset from the bytecode, in bytes, is
                                    * what PyCode_Addr2Line takes for the frame's line */
    size_t frame_is_entry;         /* bool: this frame was entered from C; PYVER_ABSENT when
                                    * a shim frame owned by the C stack marks entries */
    size_t frame_owner;            /* char: owned by thread, generator, frame object, C stack */
    unsigned frame_owned_by_cstack; /* owner value of those shim frames; 0: none exist */

    /* PyThreadState's stack of interpreter frames: [datastack_top,
     * datastack_limit) holds only frames that have returned. */
    size_t tstate_datastack_top, tstate_datastack_limit;

    /* The interpreter's free lists that are arrays: entries [count, capacity)
     * are stale pointers to objects taken back into use. Offsets are from
     * the PyInterpreterState. */
    struct pyver_freelist {
        size_t array, count; /* count: an int */
        unsigned capacity;
    } freelists[8];
    unsigned nfreelists;

    /* The collector's generation lists: PyInterpreterState.gc.generations,
     * an array of gc_generations structs of gc_generation_size bytes, each
     * starting with its list head (a PyGC_Head). */
    size_t interp_gc_generations, gc_generation_size;
    unsigned gc_generations;
    unsigned long tpflags_heaptype;

    /* PyCodeObject */
    size_t code_filename, code_name, code_firstlineno;
    size_t code_bytecode;          /* first _Py_CODEUNIT (co_code_adaptive) */

    /* PyObject / PyTypeObject / GC */
    size_t ob_refcnt, ob_type;     /* ob_refcnt: the whole count, or on a free-threaded build
                                    * the owning thread's part (ob_ref_local, a uint32_t) */
    /* Free-threaded builds (biased reference counting): the other threads'
     * part of the count, shifted left by ref_shared_shift (flag bits below);
     * PYVER_ABSENT with the GIL. Read counts with pyver_refcnt only. */
    size_t ob_ref_shared;
    unsigned ref_shared_shift;
    /* Free-threaded builds keep the collector's state in the object header
     * (ob_gc_bits, a byte) instead of a GC head: the bit set while the
     * object is tracked. PYVER_ABSENT with the GIL (use gc_next). */
    size_t ob_gc_bits;
    unsigned gc_bits_tracked;
    /* The bit of ob_gc_bits an object with deferred reference counting
     * carries (functions, code objects, descriptors, modules...): its count
     * has a bias only the collector removes, so only a collection frees it.
     * 0 when the version has none. */
    unsigned gc_bits_deferred;
    bool free_threaded;            /* no GIL, mimalloc objects, no GC head or generations */
    /* Once a second thread starts, every new object that would use deferred
     * reference counting is made immortal instead (3.13t, CPython
     * gh-117783): each run of a script then keeps its functions and code. */
    bool immortalizes_deferred;
    /* Each interpreter has its object allocator's state (3.12+: pymalloc's
     * arenas, or mimalloc's heaps): a block released while another
     * interpreter runs, or after its own interpreter ended, is not found
     * in the running one's arenas and goes to libc's free. */
    bool obmalloc_per_interpreter;
    size_t type_name, type_basicsize, type_flags;
    size_t gc_head_size;           /* bytes of PyGC_Head before a GC object */
    unsigned long tpflags_have_gc, tpflags_type_subclass;
    size_t ob_size;                /* PyVarObject.ob_size */
    size_t type_itemsize, type_dealloc, type_traverse, type_free, type_weaklistoffset;
    size_t gc_next;                /* PyGC_Head._gc_next: 0 when the object is not tracked */
    size_t gc_prev;                /* PyGC_Head._gc_prev: the previous head, low bits are flags */
    unsigned long gc_prev_flags;   /* the flag bits of _gc_prev */
    /* Objects of types with any of these flags (managed dict, and from 3.12
     * managed weakref) carry a pre-header of preheader_size bytes before the
     * GC header. */
    unsigned long tpflags_preheader;
    size_t preheader_size;
    size_t ob_header_size;         /* sizeof(PyObject): where an object's own fields start */
    /* Immortal objects (3.12+): a reference count with any of these bits set
     * never moves and never reaches zero (on 64-bit, bit 31: what
     * _Py_IsImmortal tests); 0 when the version has none. */
    uint64_t immortal_bits;
    /* Types whose instances hold data, never references (their bytes are
     * not scanned for pointers). */
    unsigned long tpflags_data_subclasses;
    /* str: interned strings whose interned-dict references are not counted */
    unsigned str_interned_shift, str_interned_mask, str_interned_mortal;

    /* The function behind sys.gettotalrefcount() in Py_DEBUG builds. */
    const char *reftotal_function;

    /* str objects (PEP 393), read without calling the interpreter */
    size_t str_length, str_state;
    size_t str_ascii_data;         /* data of a compact ASCII string */
    size_t str_compact_data;       /* data of a compact non-ASCII string */
    unsigned str_kind_shift, str_compact_bit, str_ascii_bit;
};

enum pyver_status {
    PYVER_OK,
    PYVER_NOT_PYTHON,   /* no CPython in this process */
    PYVER_UNSUPPORTED,  /* a CPython whose layout lifeline does not know */
};

/* Looks at the running process and picks the layout of its interpreter.
 * Must be callable from a library constructor, before the interpreter runs:
 * it only reads exported symbols. On PYVER_UNSUPPORTED, *layout is NULL and
 * version_out (if not NULL) holds the version found, e.g. "3.10", or
 * "3.14t (free-threaded)" for a free-threaded build without a table. */
enum pyver_status pyver_detect(const struct pyver_layout **layout, char *version_out, size_t cap,
                               bool *debug_build);

/* The layout for one version and build (debug: a Py_DEBUG build), or NULL
 * if unsupported. */
const struct pyver_layout *pyver_lookup(unsigned major, unsigned minor, bool debug, bool free_threaded);

/* The reference count of the object at obj (a readable object): the field
 * with the GIL, the two biased halves summed on a free-threaded build. */
static inline intptr_t pyver_refcnt(const struct pyver_layout *L, uintptr_t obj)
{
    if (L->ob_ref_shared == PYVER_ABSENT)
        return *(const volatile intptr_t *)(obj + L->ob_refcnt);
    uint32_t local = *(const volatile uint32_t *)(obj + L->ob_refcnt);
    intptr_t shared = *(const volatile intptr_t *)(obj + L->ob_ref_shared);
    return (intptr_t)local + (shared >> L->ref_shared_shift);
}

/* True if the collector tracks the GC object at obj: its GC head's next
 * link is set, or on a free-threaded build its tracked bit. */
static inline bool pyver_gc_tracked(const struct pyver_layout *L, uintptr_t obj)
{
    if (L->ob_gc_bits != PYVER_ABSENT)
        return (*(const volatile uint8_t *)(obj + L->ob_gc_bits) & L->gc_bits_tracked) != 0;
    return *(const volatile uintptr_t *)(obj - L->gc_head_size + L->gc_next) != 0;
}

/* A span hardware watchpoints cover: 4 or 8 bytes, aligned to its length. */
struct pyver_watch_span {
    uintptr_t addr;
    unsigned len;
};

/* The spans hardware watchpoints cover to see the count of the object at
 * obj move, in spans[]; returns how many (at most 2): the count's aligned
 * word with the GIL; on a free-threaded build ob_ref_local alone (4 bytes:
 * the word around it also holds ob_mutex and ob_gc_bits, whose every lock
 * and unlock would trap) and ob_ref_shared. */
static inline unsigned pyver_refcnt_watch_spans(const struct pyver_layout *L, uintptr_t obj,
                                                struct pyver_watch_span spans[2])
{
    if (L->ob_ref_shared == PYVER_ABSENT) {
        spans[0] = (struct pyver_watch_span){(obj + L->ob_refcnt) & ~(uintptr_t)7, 8};
        return 1;
    }
    spans[0] = (struct pyver_watch_span){obj + L->ob_refcnt, 4};
    spans[1] = (struct pyver_watch_span){obj + L->ob_ref_shared, 8};
    return 2;
}

/* The owning thread's part of a split count (0 where counts are not split). */
static inline uint32_t pyver_refcnt_local(const struct pyver_layout *L, uintptr_t obj)
{
    return L->ob_ref_shared == PYVER_ABSENT ? 0 : *(const volatile uint32_t *)(obj + L->ob_refcnt);
}

/* True when a write that set the owning thread's part of a split count
 * to 0 is the first half of a merge, not a change: CPython merges the two
 * parts (_Py_ExplicitMergeRefcount, the collector's merge_refcount) by
 * zeroing ob_ref_local first and then writing the sum into ob_ref_shared
 * with the merged flags (both flag bits). Between the two writes the count reads short
 * by the old local part. prev_local: the local part at the last look; an
 * ordinary decrement moves it by one, never from 2 or more to 0. */
static inline bool pyver_refcnt_mid_merge(const struct pyver_layout *L, uintptr_t obj, uint32_t prev_local)
{
    if (L->ob_ref_shared == PYVER_ABSENT)
        return false;
    uint32_t local = pyver_refcnt_local(L, obj);
    intptr_t shared = *(const volatile intptr_t *)(obj + L->ob_ref_shared);
    intptr_t merged = ((intptr_t)1 << L->ref_shared_shift) - 1; /* both flag bits: _Py_REF_MERGED */
    return local == 0 && prev_local >= 2 && (shared & merged) != merged;
}

/* True if only the collector can free the object at obj (deferred
 * reference counting, free-threaded builds). */
static inline bool pyver_deferred(const struct pyver_layout *L, uintptr_t obj)
{
    return L->gc_bits_deferred && L->ob_gc_bits != PYVER_ABSENT &&
           (*(const volatile uint8_t *)(obj + L->ob_gc_bits) & L->gc_bits_deferred) != 0;
}

/* True if the object at obj is immortal: its count never moves. */
static inline bool pyver_immortal(const struct pyver_layout *L, uintptr_t obj)
{
    if (L->ob_ref_shared == PYVER_ABSENT)
        return (*(const volatile uint64_t *)(obj + L->ob_refcnt) & L->immortal_bits) != 0;
    return *(const volatile uint32_t *)(obj + L->ob_refcnt) == UINT32_MAX;
}

/* One line naming the versions this lifeline supports, e.g. "3.11, 3.13, 3.13t (free-threaded)". */
const char *pyver_supported_list(void);

extern const struct pyver_layout pyver_311;
extern const struct pyver_layout pyver_313, pyver_313d, pyver_313t;

#endif
