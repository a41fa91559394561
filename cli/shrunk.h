/* Files the cli reads through a mapping can shrink meanwhile: a target may
 * truncate its own journal (a wrong path, a cleanup that empties /tmp), and
 * a read of a mapped page past the file's new end raises SIGBUS. The cli
 * turns that into an error it can say, never a crash. Prefix: shrunk_. */
#ifndef LL_SHRUNK_H
#define LL_SHRUNK_H

#include <setjmp.h>
#include <stdbool.h>

/* protected by: the main thread alone. Where a SIGBUS of the main thread
 * jumps back to (siglongjmp with value 1); NULL when no read that can fault
 * is under way. Set it right after a sigsetjmp(buf, 1) that returned 0, and
 * back to NULL when the reads are done and on the way out of the jump. What
 * the interrupted reads held is left as it was: the caller gives it up
 * without freeing it. */
extern sigjmp_buf *volatile shrunk_jump;

/* Installs the SIGBUS handler. A SIGBUS of a mapped page past its file's
 * end (BUS_ADRERR) without a jump set, or in another thread (the journal's
 * indexing thread), writes one line to stderr and ends the program with exit
 * status `status`; any other SIGBUS kills the program as before. Returns false if it could not be
 * installed (SIGBUS then kills the program as before). */
bool shrunk_init(int status);

#endif
