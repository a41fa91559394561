/* Ownership at the C-API boundary: wrappers for the C-API functions that
 * extension modules call to borrow references (PyList_GetItem, ...), to
 * hand references over (PyTuple_SetItem, ...) and to track GC objects,
 * installed into each extension module's import table as it is loaded
 * (elfpatch.c) — only the calls extensions make, never the interpreter's
 * own. Each wrapper calls the interpreter's function and journals an OWNER
 * record on the object's block. With heap checking on, PyObject_GC_Track
 * and PyObject_GC_Del also check the object (gc-tracked-uninitialized,
 * gc-freed-while-tracked), and a GC type an extension readies gets the
 * checked PyObject_GC_Del as its tp_free when it would get the
 * interpreter's. Prefix: bnd_. */
#ifndef LL_BOUNDARY_H
#define LL_BOUNDARY_H

#include <stdbool.h>

/* Finds the interpreter's functions and remembers the objects loaded so far
 * as never to patch (call at start, before the program's first dlopen).
 * check: heap checking is on (new memory holds 0xbe, errors stop the
 * target). Returns false when pf_layout is not set: nothing is patched. */
bool bnd_init(bool check);

/* Installs the wrappers in the objects loaded since the last call; does
 * nothing before bnd_init. Call after each dlopen, inside the guard. */
void bnd_patch_new(void);

/* Installs lifeline's PyRefTracer (3.13+), chained to one already set, so
 * that objects the interpreter recycles get a new life where Python code
 * makes them. Call with the GIL held, after bnd_init. False when the
 * interpreter has no PyRefTracer or the boundary is not set up. */
bool bnd_start_ref_tracer(void);

#endif
