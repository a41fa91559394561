/* The defaults of the options that both sides apply: the cli to its flags
 * (and prints in --help), the agent to a LIFELINE_OPTIONS that leaves
 * them out (the cli always passes them; the agent may be preloaded by
 * hand). One place, so that the two cannot drift. Prefix: LL_DEFAULT_. */
#ifndef LL_DEFAULTS_H
#define LL_DEFAULTS_H

/* Freed memory held back from reuse, per family, in MiB. */
#define LL_DEFAULT_QUARANTINE_MB 4
/* About 1 in this many small blocks gets a guarded page of its own, under
 * heap checking; without checking (--no-check, check=0) the pool is off
 * unless a rate is given. */
#define LL_DEFAULT_POOL_RATE 256
/* The most guarded pages at once: 64 MiB of pages if every slot is live,
 * and two mappings per live slot, half of vm.max_map_count's default (the
 * pool is held within what the limit leaves at start, less a margin). */
#define LL_DEFAULT_POOL_SLOTS 16384

/* For --help: the text of a default. */
#define LL_DEFAULT_TEXT(x) LL_DEFAULT_TEXT_(x)
#define LL_DEFAULT_TEXT_(x) #x

#endif
