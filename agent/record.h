/* Turns allocator events into journal records: the one path every hook
 * takes once it has decided to record. Callers hold guard_enter. Prefix: rec_. */
#ifndef LL_RECORD_H
#define LL_RECORD_H

#include <stdbool.h>
#include <stdint.h>

void rec_alloc(uint8_t api, void *p, uint64_t size);
/* Records a free before it happens (the block's header is still readable).
 * Frees of blocks the agent never recorded are not journaled. */
void rec_free(uint8_t api, void *p);
void rec_realloc(uint8_t api, void *old, void *p, uint64_t size);

/* Whether object blocks get their type named at free (needs pyframes). */
extern bool rec_name_types;

#endif
