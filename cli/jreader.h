/* Reads a journal file: validates it, indexes its definitions (stacks, code
 * objects, types, modules, threads) in one pass, and then delivers its
 * events in their global order by merging the per-thread blocks. Memory
 * grows with the number of distinct stacks and threads, not with the number
 * of events. Prefix: jr_. */
#ifndef LL_JREADER_H
#define LL_JREADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/journal.h"

struct jr_journal;

/* Opens and indexes a journal. On failure returns NULL and sets *why to a
 * sentence naming the problem (not found, not a journal, corrupted). A
 * journal whose last records were cut off by a crash is not a failure;
 * jr_damaged tells whether anything was skipped. */
struct jr_journal *jr_open(const char *path, const char **why);
void jr_close(struct jr_journal *j);

/* True if some block held bytes that did not decode (corruption: the
 * agent commits only whole records, so a crash never causes this). */
bool jr_damaged(const struct jr_journal *j);
/* True if the file ends inside a block (it was cut short after writing). */
bool jr_truncated(const struct jr_journal *j);

/* True if some process claimed the journal at path, i.e. the agent saw a
 * Python interpreter start. */
bool jr_claimed(const char *path);

/* The PROCESS record, if the agent wrote one (it does when it claims the
 * journal). Returns false when no Python process claimed the journal. */
bool jr_process(const struct jr_journal *j, struct jn_record *out);

/* The CRASH record, if any. */
bool jr_crash(const struct jr_journal *j, struct jn_record *out);

/* The target's fate as lifeline appended it (the EXIT record). */
bool jr_exit(const struct jr_journal *j, struct jn_record *out);

/* Looks up a definition by id. Strings point into the mapped journal. */
bool jr_stack(const struct jr_journal *j, uint32_t id, struct jn_record *out);
bool jr_code(const struct jr_journal *j, uint32_t id, struct jn_str *filename, struct jn_str *name);
bool jr_type(const struct jr_journal *j, uint32_t id, struct jn_str *name);
/* The file and line of a routed Py_INCREF/Py_DECREF (a SITE record). */
bool jr_site(const struct jr_journal *j, uint32_t id, struct jn_str *file, uint32_t *line);
bool jr_thread(const struct jr_journal *j, uint32_t tid, struct jn_str *name, bool *main);

/* Calls fn for each MODULE record. */
void jr_each_module(const struct jr_journal *j, void (*fn)(void *arg, const struct jn_record *r),
                    void *arg);
/* Calls fn for each NOTE record. */
void jr_each_note(const struct jr_journal *j, void (*fn)(void *arg, const struct jn_record *r),
                  void *arg);

/* Delivers every event (ALLOC, FREE, FREE_TYPED, REALLOC, and the agent's
 * ERROR records) in seq order, with the thread that made it. Returns the number delivered; stops early
 * if fn returns false. On a followed journal: the events after those
 * jr_follow delivered, once sealed (0 before). */
uint64_t jr_replay(struct jr_journal *j, bool (*fn)(void *arg, const struct jn_record *r, uint32_t tid),
                   void *arg);

/* Following a journal while the target writes it, so that the replay runs
 * beside the target instead of after it: jr_open_followed, then jr_follow
 * as often as wanted while the target runs, then jr_seal once it has
 * ended, then jr_replay for the rest. jr_replay delivers exactly what it
 * would have delivered alone, in the same order: a followed replay only
 * delivers an event once no block can still hold an earlier one (the
 * agent shows its seq counter and marks a block busy while a seq taken
 * for it is not committed: docs/journal.md). A thread that dies in the
 * middle of a record holds the followed replay back until the seal. */

/* Opens the journal at path for following; its header may not be written
 * yet. NULL when it cannot be opened or mapped: then read it with jr_open
 * after the target ends. */
struct jr_journal *jr_open_followed(const char *path);
/* Indexes what the writer committed since the last call and delivers the
 * events that can no longer be preceded by another. Returns the number
 * delivered; 0 as long as no Python process has claimed the journal, and
 * after the replay paused (a MARK record, whose handling looks definitions
 * up: the rest waits for the seal). */
uint64_t jr_follow(struct jr_journal *j, bool (*fn)(void *arg, const struct jn_record *r, uint32_t tid),
                   void *arg);
/* True once the followed replay paused until the seal. */
bool jr_follow_paused(const struct jr_journal *j);
/* Takes the rest of the file once its writer has ended: afterwards the
 * journal reads as one opened with jr_open, with the events jr_follow
 * delivered already behind the replay. False when the journal never got
 * a valid header, grew past what could be mapped ahead (a terabyte), or
 * shrank (jr_shrank): then close it, drop what it delivered, and jr_open
 * the file. */
bool jr_seal(struct jr_journal *j);
/* True once a followed journal's file was seen shorter than before: a
 * reader that read on would fault (SIGBUS) on pages past its new end. */
bool jr_shrank(const struct jr_journal *j);

/* Converts a time stamp of an event into nanoseconds since the target began. */
uint64_t jr_time_ns(const struct jr_journal *j, uint64_t tsc);

#endif
