/* Turns heap events into journal records: the one path every hook takes
 * once it has decided to record. Callers hold guard_enter and keep the live
 * table (heap.c) themselves. Prefix: rec_. */
#ifndef LL_RECORD_H
#define LL_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/journal.h"

/* The id of the current stack for an allocation or free about to be
 * recorded (cap_stack), or 0 when nothing is journaled. Taken by the caller
 * apart from the record, so that the stack's walk can run while the live
 * table's entry for the block loads (live_prefetch). */
uint32_t rec_stack(void);
/* Records an allocation made with the stack from rec_stack. */
void rec_alloc(uint8_t api, void *p, uint64_t size, uint32_t stack);
/* Records a free before it happens, with the stack from rec_stack; type is
 * the freed object's type id (0 for none). */
void rec_free(uint8_t api, void *p, uint32_t type, uint32_t stack);
void rec_realloc(uint8_t api, void *old, void *p, uint64_t size);
/* Records a heap error found at this point, with the current stack. */
void rec_error(enum jn_error error, const struct jn_error_info *info);
/* The same; returns the record's seq (records that belong to it carry it),
 * or 0 when nothing was journaled. */
uint64_t rec_error_seq(enum jn_error error, const struct jn_error_info *info);
/* Records an ownership event (an OWNER record) on the object in block,
 * with the given reference count and the current stack; func is the C-API
 * function (JN_CAPI_*) or, for increfs and decrefs, a site id (0: none).
 * Signal handlers may call it inside the guard (cap_in_signal set). */
void rec_owner(enum jn_owner_event ev, uint32_t func, uintptr_t block, int64_t refcnt);
/* Records a message for the report. */
void rec_note(const char *text);

/* Whether object blocks get their type named at free (needs pyframes). */
extern bool rec_name_types;

#endif
