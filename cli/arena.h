/* A bump allocator for the report's strings and frames: everything a
 * report holds lives until the report is written, then goes at once.
 * Prefix: arena_. */
#ifndef LL_ARENA_H
#define LL_ARENA_H

#include <stddef.h>

struct arena {
    struct arena_chunk *head;
};

/* Returns zeroed memory; exits the program with a message if memory runs
 * out (the cli has nothing sensible to do without it). */
void *arena_alloc(struct arena *a, size_t n);
/* Copies n bytes and adds a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);

#endif
