/* Wraps the interpreter's three allocator domains (raw, mem, obj) through
 * PyMem_SetAllocator, calling on to whatever was installed before — plain
 * pymalloc, or the debug hooks of a --with-pydebug build. Prefix: hp_. */
#ifndef LL_HOOKS_PY_H
#define LL_HOOKS_PY_H

#include <stdbool.h>
#include <stdint.h>

/* Installs the wrappers. Returns false if the interpreter lacks the API. */
bool hp_install(void);
/* True if the interpreter's allocators are still ours. */
bool hp_still_installed(void);
/* The object-domain block this thread allocated last (0: none yet): an
 * object the interpreter starts in it was seen being allocated. */
uintptr_t hp_last_object_block(void);

#endif
