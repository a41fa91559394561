/* Reads the Python call stack of the current thread straight out of the
 * interpreter's structures (offsets from pyver), without creating frame
 * objects, taking locks or allocating: safe inside an allocator hook. Not
 * safe against corrupted memory; the crash path guards its calls. Prefix: pf_. */
#ifndef LL_PYFRAMES_H
#define LL_PYFRAMES_H

#include <stdbool.h>
#include <stdint.h>

#include "../pyver/pyver.h"

struct pf_frame {
    const void *code;    /* PyCodeObject* */
    int32_t lasti;       /* byte offset of the instruction being executed */
    bool entry;          /* first frame run by its C-level evaluation loop */
};

/* Resolves the interpreter entry points the walk needs. Returns false (and
 * pf_walk then returns 0) if any is missing. */
bool pf_init(const struct pyver_layout *layout);

/* Fills up to max frames of the current thread, innermost first. */
int pf_walk(struct pf_frame *out, int max);

/* True if pc lies in the interpreter's evaluation loop: where, in a native
 * stack, Python frames belong. */
bool pf_is_eval_pc(uintptr_t pc);

/* The source line of a frame; computed by the interpreter's own table
 * lookup, which does not allocate. */
int pf_line(const void *code, int32_t lasti);

/* Words of a code object that change when its address is reused by another
 * code object; mixed into stack hashes. */
uint64_t pf_code_identity(const void *code);

/* Copies a code object's file and function names as UTF-8. */
unsigned pf_code_filename(const void *code, char *buf, unsigned cap);
unsigned pf_code_name(const void *code, char *buf, unsigned cap);

/* Copies a str object's text as UTF-8 (at most cap-1 bytes, NUL-terminated). */
unsigned pf_str_utf8(const void *str, char *buf, unsigned cap);

extern const struct pyver_layout *pf_layout;

#endif
