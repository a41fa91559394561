/* Redirects the calls a loaded ELF object makes to some named functions by
 * rewriting the words the dynamic linker filled in for them: its import
 * table (R_X86_64_JUMP_SLOT, R_X86_64_GLOB_DAT) and function pointers
 * stored in its data (R_X86_64_64, such as a static type's
 * `tp_free = PyObject_GC_Del`). Symbol interposition cannot do this when
 * the functions are defined in the executable itself (Debian's python3.11,
 * libpython linked in): the executable's definitions win every lookup.
 *
 * Only objects loaded after ep_init are patched, and of those only the ones
 * that import a target without defining any (an implementation of the
 * functions, such as a dlopen'ed libpython, is left alone). Prefix: ep_. */
#ifndef LL_ELFPATCH_H
#define LL_ELFPATCH_H

#include <stddef.h>
#include <stdint.h>

struct ep_target {
    const char *name; /* the symbol: "PyList_GetItem" */
    uintptr_t real;   /* its definition: what a bound word holds */
    uintptr_t to;     /* what a patched word holds instead */
};

/* Remembers every object loaded now (the program, the libraries it started
 * with, the agent) as one never to patch. Call once, before any ep_patch_new. */
void ep_init(void);

/* Patches every object loaded since the last call: each word bound to a
 * target's `real` (or, for a lazily bound import, still pointing at the
 * object's own PLT) is set to its `to`; read-only pages (RELRO) are made
 * writable for the write and read-only again. An object whose dynamic
 * section cannot be read, or one that defines a target, is skipped whole.
 * Returns the number of words rewritten. Thread-safe. */
unsigned ep_patch_new(const struct ep_target *targets, size_t n);

#endif
