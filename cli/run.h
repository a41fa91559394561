/* Starts the target with the agent preloaded and waits for it. Prefix: run_. */
#ifndef LL_RUN_H
#define LL_RUN_H

#include <stdbool.h>
#include <sys/types.h>

struct run_result {
    pid_t pid;
    int status;    /* exit status when the target exited */
    int signo;     /* the signal that killed it, or 0 */
    int exec_errno; /* non-zero when the command could not be started */
    long max_rss_kb;  /* the target's peak resident memory (its own, not its children's) */
    double user_s, sys_s;
};

/* Creates the journal file at journal_path (truncating it), then runs argv
 * (looked up in PATH) with LD_PRELOAD naming agent_path in front of any
 * preload the user already has, and LIFELINE_JOURNAL naming the journal.
 * While the target runs, SIGINT and SIGQUIT are left to it, as system()
 * does. While it waits, tick (unless NULL) is called with arg, at once
 * again when it returns true (it did some work), after a few milliseconds
 * when it returns false. Returns false (with errno) only if the journal or
 * the child could not be created; a command that cannot be executed is
 * reported through exec_errno. */
bool run_target(char **argv, const char *journal_path, const char *agent_path, bool (*tick)(void *), void *arg,
                struct run_result *out);

#endif
