/* Names the Python type of an object block when it is freed, while its
 * header is still intact. Prefix: ty_. */
#ifndef LL_TYPES_H
#define LL_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "live.h"

/* Prepares type detection; needs pf_layout. */
void ty_init(void);

/* Gives back the calling thread's memo of types (mapped again on its next
 * use). Called by the thread-end hook (threads.c). */
void ty_thread_end(void);

/* What is known of the object in a block. */
struct ty_object {
    uintptr_t type;      /* the type object */
    uint64_t basicsize;  /* its tp_basicsize */
    size_t offset;       /* of the object in the block (the GC header comes first) */
    bool extension;      /* a static type defined outside the interpreter: an extension's */
    bool gc;             /* the type has Py_TPFLAGS_HAVE_GC: a PyGC_Head precedes the object */
    unsigned long flags; /* tp_flags */
};

/* An address in the module that defines o's type, where that module's
 * DWARF names the object's fields: the type object of a static type; for a
 * heap type (allocated, so in no module) its tp_dealloc or tp_traverse when
 * an extension's, else the type object still. For reports: it asks the
 * dynamic loader. */
uintptr_t ty_defined_at(const struct ty_object *o);

/* True if the code at fn lies in a loaded object other than the one that
 * defines the interpreter and other than lifeline's agent: an extension's
 * (or a library's). Asks the dynamic loader each time; false before
 * ty_init or when the loader does not know fn. */
bool ty_in_extension(uintptr_t fn);

/* If the PyObject_Malloc block at `block` (about to be freed) holds an
 * object, returns the id of its type (journaling the type's name on first
 * sight) and fills *obj when obj is not NULL; 0 when it does not look like
 * an object. Reads only memory that is known to be mapped: the block itself,
 * and candidate type objects that lie in a loaded object's data or in a
 * live block. */
uint32_t ty_of_freed_block(uintptr_t block, uint64_t size, struct ty_object *obj);

/* The same for a live object-domain block (reference count above zero).
 * The caller must know the block is live and readable. */
uint32_t ty_of_live_block(uintptr_t block, uint64_t size, struct ty_object *obj);

/* The live block that holds the object at o, found by where a block can
 * start before its object (0, the PyGC_Head, the PyGC_Head and the managed
 * dict pointers); 0 when o lies in no live block. Reads nothing of the
 * object, which may be freed memory. *li gets the block's entry. */
uintptr_t ty_block_of(uintptr_t o, struct live_info *li);

/* The same for a live block holding a dead object (reference count zero):
 * one that waits on an interpreter free list for reuse. */
uint32_t ty_of_dead_block(uintptr_t block, uint64_t size, struct ty_object *obj);

#endif
