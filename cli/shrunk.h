/* Files the cli reads through a mapping can shrink meanwhile: a target may
 * truncate its own journal (a wrong path, a cleanup that empties /tmp), and
 * a read of a mapped page past the file's new end raises SIGBUS. The cli
 * turns that into an error it can say, never a crash. Prefix: shrunk_. */
#ifndef LL_SHRUNK_H
#define LL_SHRUNK_H

#include <stdbool.h>

/* From the main thread: calls fn(arg), so that a SIGBUS of a mapped page
 * past its file's end while fn runs jumps back here. Returns true with
 * *result, fn's return, when fn came back; false when a file it read was
 * cut short under it: fn was abandoned where it faulted, and what it held
 * is to be given up without freeing. */
bool shrunk_call(bool (*fn)(void *arg), void *arg, bool *result);

/* Installs the SIGBUS handler. A SIGBUS of a mapped page past its file's
 * end (BUS_ADRERR) outside shrunk_call, or in another thread (the journal's
 * indexing thread), writes one line to stderr and ends the program with exit
 * status `status`; any other SIGBUS kills the program as before. Returns false if it could not be
 * installed (SIGBUS then kills the program as before). */
bool shrunk_init(int status);

#endif
