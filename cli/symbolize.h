/* symbolize.h - offline symbolization of native PCs (elfutils libdwfl).
 *
 * The journal of a finished process lists its loaded ELF modules and raw
 * program counters; this module turns those PCs into source frames, inline
 * chains included, using /usr/lib/debug (build-id, .gnu_debuglink) when it is
 * there.  Nothing here writes to stdout/stderr.  Not thread-safe: one table
 * per thread.
 */
#ifndef LIFELINE_SYMBOLIZE_H
#define LIFELINE_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sym_frame {
    const char *function;   /* plain name (demangled not needed; no offset), NULL if unknown */
    const char *file;       /* source file path as in DWARF (full path when available), NULL if unknown */
    int line;               /* 0 if unknown */
    bool inlined;           /* true for a frame that was inlined into the next (outer) one */
};

struct sym_table;

/* Creates an empty table. Returns NULL on allocation failure. */
struct sym_table *sym_open(void);

/* Registers one loaded ELF module. path: file on disk; bias: load bias (the
   address the ELF's vaddr 0 is mapped at); [start,end): mapped range.
   Returns 0, or -1 if the file cannot be opened as ELF (the module's PCs then
   resolve to function NULL, with *module still set to path) or on allocation
   failure.  When ranges overlap, the module registered last wins.
   Registering after lookups is allowed (the pc cache is then dropped). */
int sym_add_module(struct sym_table *t, const char *path, uint64_t bias,
                   uint64_t start, uint64_t end);

/* Resolves one address (the caller has already subtracted 1 from return
   addresses). Fills up to `max` frames, innermost (most deeply inlined) first,
   the last one being the real function containing pc (when the chain is
   longer than max, middle inlined frames are dropped so that this holds).
   *module (if module != NULL) receives the module path, or NULL if pc is in no
   module. Returns the number of frames (>= 1 when max >= 1: an unknown pc
   yields one frame with NULLs); 0 when max < 1 or t is NULL.  Results are
   cached per pc; returned strings stay valid until sym_close. */
int sym_lookup(struct sym_table *t, uint64_t pc, struct sym_frame *out, int max,
               const char **module);

/* Frees the table and every string handed out by it.  NULL is a no-op. */
void sym_close(struct sym_table *t);

/* Names the field at `offset` of an object whose type object lives at
 * `addr` (in some module's data) and whose C struct is `struct_size` bytes
 * (tp_basicsize): the module's DWARF is searched for a struct of that size
 * that starts with `ob_base`, preferring one whose name contains `hint` (the
 * last part of tp_name). Returns 1 with the field's name in member ("a" or
 * "a.b" for nested structs), 0 when the offset is padding of that struct or
 * lies in an array member (a buffer whose tail may rightly stay unused), and
 * -1 when no such struct is known (no DWARF, no match). */
int sym_struct_member(struct sym_table *t, uint64_t addr, uint64_t struct_size, const char *hint,
                      uint64_t offset, char *member, size_t cap);

#endif /* LIFELINE_SYMBOLIZE_H */
