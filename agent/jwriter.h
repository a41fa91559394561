/* Writes the journal: a file shared with the cli, mapped MAP_SHARED, so every
 * committed record is in the page cache the moment it is written and
 * survives the target's crash or SIGKILL. Each thread fills blocks of its
 * own; see core/journal.h. Prefix: jw_. */
#ifndef LL_JWRITER_H
#define LL_JWRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/journal.h"

enum jw_claim { JW_CLAIMED, JW_TAKEN, JW_FAILED };

/* Opens the journal at path and claims it for this process. JW_TAKEN means
 * another process owns it (this one stays passive); JW_FAILED means it
 * could not be opened or mapped (a message has been written). */
enum jw_claim jw_open(const char *path);

/* Stops all writing; used in a forked child, whose parent still writes. */
void jw_disown(void);

/* Returns room for `need` bytes in this thread's current block (opening a
 * new block when needed) and this thread's delta state, or NULL when the
 * journal is unusable (disk full, not open). Records must be written whole
 * and then published with jw_commit; need <= 4096. */
uint8_t *jw_reserve(size_t need, struct jn_delta **delta);
void jw_commit(uint8_t *end);

/* Like jw_reserve for the crash path: never blocks on a lock. */
uint8_t *jw_reserve_nolock(size_t need, struct jn_delta **delta);

/* Journals the calling thread's current name (it may have changed since
 * its first record). Without may_block it takes no lock (crash path). */
void jw_name_thread(bool may_block);

/* The next position in the global order of events. */
uint64_t jw_next_seq(void);

/* The time stamp (cycle counter) of the calling thread's next event: read
 * afresh on every 8th event and when the thread opens a block, the
 * reading before otherwise. So an event's time is never after the event,
 * and at most 7 of its thread's events before it: across a thread's idle
 * spell, up to that long before. The order of events is their seq. */
uint64_t jw_clock(void);

/* Keeps the calling thread's block busy from now until the matching
 * jw_release, across commits (nested calls count): for records that carry
 * the seq of an earlier one (a REFERRER carries its ERROR's), so that a
 * reader following the journal delivers nothing after that seq before
 * them (docs/journal.md). */
void jw_hold(void);
void jw_release(void);

/* Marks the calling thread's block closed, at its end: a reader following
 * the journal then knows that no record will come in it. */
void jw_thread_end(void);

/* Writes a variable-length record in one piece: a caller-built buffer. */
bool jw_write_record(const uint8_t *rec, size_t len);

/* True while this process owns an open journal. */
bool jw_active(void);

#endif
