/* `lifeline leaks`: turns `PYTHON [interpreter options] script.py|-m module [args]` into the command
 * that runs the script or module again and again in one interpreter (python/lifeline/_rerun.py):
 * W warm-up runs, then M measured ones, each followed by a cleanup like regrtest -R's and a mark.
 * Prefix: lk_. */
#ifndef LL_LEAKS_H
#define LL_LEAKS_H

#include <stdbool.h>
#include <stddef.h>

#define LK_DEFAULT_WARMUPS 3 /* regrtest's -R 3:3 */
#define LK_DEFAULT_RUNS 3
#define LK_MAX_RUNS 1000

/* Parses the value of -R, "W:M" as regrtest takes it (an empty part keeps its default): W from 0,
 * M from 1, both up to LK_MAX_RUNS. Returns false, changing nothing, for any other value. */
bool lk_parse_repeat(const char *s, long *warmups, long *runs);

/* The runner's command for cmd (argc words, the Python command as the user gave it), as a
 * NULL-terminated array from malloc whose strings point into cmd or live as long as the process
 * (the cli runs one command). Returns NULL when
 * the command is not a Python interpreter running a script or a module, or the script does not
 * exist, with the reason (one line, no prefix) in why. */
char **lk_command(char **cmd, int argc, long warmups, long runs, char *why, size_t why_cap);

#endif
