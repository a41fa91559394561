/* Source lines of native code, for --watch site=FILE:LINE on a C file: the
 * file and line a code address belongs to, read from the DWARF an ELF object
 * carries itself (an extension built with -g; separate debug files are not
 * looked for, so the interpreter's and libc's frames, whose DWARF lives in
 * /usr/lib/debug, cost nothing). libdw is loaded with dlopen the first time,
 * only by a run that has such a SPEC. Prefix: sl_. */
#ifndef LL_SRCLINE_H
#define LL_SRCLINE_H

#include <stdbool.h>
#include <stdint.h>

/* Loads libdw and reads the process's mappings. Call once at start, from
 * the constructor, when a SPEC may name a C line: dlopen takes the loader's
 * lock, which a thread inside dlopen holds while its allocations come
 * through the hooks, so it must never happen on a hook's path. False when
 * libdw is unavailable (said once); sl_with_line then finds nothing. */
bool sl_open(void);

/* Calls fn(file, line, arg) with the source line of pc (for a return
 * address, pass pc - 1) and returns true; false, without calling, when pc
 * has no line: no object holds it, its object carries no DWARF, or sl_open
 * did not succeed. Allocates through libdw inside the agent's
 * guard; takes a lock: not for signal handlers. */
bool sl_with_line(uintptr_t pc, void (*fn)(const char *file, int line, void *arg), void *arg);

#endif
