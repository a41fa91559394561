/* Native function names for --watch site=FUNCTION: where each named
 * function lies in the loaded ELF objects, read from their symbol tables
 * (.symtab, else .dynsym) on disk, so that static functions of an
 * extension built with symbols are found too. Prefix: sym_. */
#ifndef LL_SYMTAB_H
#define LL_SYMTAB_H

#include <stdbool.h>
#include <stdint.h>

/* Sets the function names to look for (the strings must stay valid);
 * at most SYM_MAX_NAMES. Call once at start, before sym_match. */
#define SYM_MAX_NAMES 16
void sym_set_names(const char *const *names, unsigned n);

/* The set of names (bit i for names[i]) whose function holds pc: for a
 * return address, pass pc - 1. Reads the object's symbol table the first
 * time one of its pcs is asked (open, mmap, munmap: no malloc). Takes the
 * loader's lock (dladdr): not for signal handlers. 0 when pc lies in no
 * object or its object has no symbol of these names. */
uint32_t sym_match(uintptr_t pc);

#endif
