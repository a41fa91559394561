#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/journal.h"

/* An empty journal is one zeroed header page: the agent claims it. */
static bool create_journal(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    bool ok = ftruncate(fd, JN_FILE_HEADER_SIZE) == 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return ok;
}

static void set_preload(const char *agent_path)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old) {
        setenv("LD_PRELOAD", agent_path, 1);
        return;
    }
    size_t n = strlen(agent_path) + strlen(old) + 2;
    char *v = malloc(n);
    if (!v)
        return;
    snprintf(v, n, "%s:%s", agent_path, old);
    setenv("LD_PRELOAD", v, 1);
    free(v);
}

/* In the child: exec the target; on failure, report errno through the pipe. */
static void exec_child(char **argv, int report_fd)
{
    execvp(argv[0], argv);
    int e = errno;
    if (write(report_fd, &e, sizeof e) < 0)
        _exit(127);
    _exit(127);
}

/* How long the wait sleeps when the tick had nothing to do: short enough
 * that the report follows the target's end at once, long enough that an
 * idle target costs lifeline nothing measurable. */
#define IDLE_POLL_NS (5 * 1000 * 1000)

/* Waits for pid, calling tick whenever the last call did some work and
 * every IDLE_POLL_NS otherwise. */
static int wait_ticking(pid_t pid, int *st, struct rusage *ru, bool (*tick)(void *), void *arg)
{
    for (;;) {
        pid_t r = wait4(pid, st, WNOHANG, ru);
        if (r != 0)
            return r;
        if (!tick(arg)) {
            struct timespec ts = {0, IDLE_POLL_NS};
            nanosleep(&ts, NULL);
        }
    }
}

static void wait_for(pid_t pid, struct run_result *out, bool (*tick)(void *), void *arg)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while ((tick ? wait_ticking(pid, &st, &ru, tick, arg) : wait4(pid, &st, 0, &ru)) < 0 && errno == EINTR)
        ;
    out->max_rss_kb = ru.ru_maxrss;
    out->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    out->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    if (WIFSIGNALED(st))
        out->signo = WTERMSIG(st);
    else
        out->status = WEXITSTATUS(st);
}

bool run_target(char **argv, const char *journal_path, const char *agent_path, bool (*tick)(void *), void *arg,
                struct run_result *out)
{
    int pipefd[2];
    memset(out, 0, sizeof *out);
    if (!create_journal(journal_path))
        return false;
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return false;
    }
    if (pid == 0) {
        close(pipefd[0]);
        set_preload(agent_path);
        setenv("LIFELINE_JOURNAL", journal_path, 1);
        exec_child(argv, pipefd[1]);
    }
    close(pipefd[1]);
    out->pid = pid;
    int e = 0;
    ssize_t n;
    while ((n = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR)
        ;
    close(pipefd[0]);
    if (n == (ssize_t)sizeof e)
        out->exec_errno = e;
    wait_for(pid, out, tick, arg);
    return true;
}
