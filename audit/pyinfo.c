#include "pyinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "finding.h"

#define DEFAULT_PYTHON "/usr/bin/python3.11"

static const char QUERY[] =
    "import sys, sysconfig\n"
    "print(sys.version.split()[0])\n"
    "print(int(hasattr(sys, 'gettotalrefcount')))\n"
    "print(sys.executable)\n"
    "print(sysconfig.get_path('include'))\n";

/* Run PY -c QUERY and return its output (malloc'd) or NULL. */
static char *run_query(const char *py)
{
    int fd[2];
    if (pipe(fd) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(fd[1], 1);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 2);
        }
        close(fd[0]);
        execlp(py, py, "-I", "-c", QUERY, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    size_t cap = 1024, len = 0;
    char *buf = fnd_xmalloc(cap);
    ssize_t r;
    while ((r = read(fd[0], buf + len, cap - len - 1)) > 0 || (r < 0 && errno == EINTR)) {
        if (r < 0)
            continue;
        len += (size_t)r;
        if (len + 1 >= cap)
            buf = fnd_xrealloc(buf, cap *= 2);
    }
    close(fd[0]);
    buf[len] = 0;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Next line of *P (malloc'd), or NULL at the end. */
static char *next_line(char **p)
{
    char *s = *p, *nl = strchr(s, '\n');
    if (!nl)
        return NULL;
    *nl = 0;
    *p = nl + 1;
    return fnd_xstrdup(s);
}

int pyi_query(const char *python, struct pyinfo *info, char **err)
{
    memset(info, 0, sizeof *info);
    const char *py = python;
    if (!py)
        py = access(DEFAULT_PYTHON, X_OK) == 0 ? DEFAULT_PYTHON : "python3.11";
    char *out = run_query(py);
    if (!out) {
        *err = fnd_xasprintf("cannot run Python interpreter '%s' to find its headers", py);
        return -1;
    }
    char *p = out, *dbg;
    info->version = next_line(&p);
    dbg = next_line(&p);
    info->executable = next_line(&p);
    info->include = next_line(&p);
    int ok = info->version && dbg && info->executable && info->include;
    info->debug = dbg && strcmp(dbg, "1") == 0;
    free(dbg);
    free(out);
    if (!ok) {
        pyi_free(info);
        *err = fnd_xasprintf("unexpected answer from Python interpreter '%s'", py);
        return -1;
    }
    if (access(info->include, R_OK) != 0) {
        *err = fnd_xasprintf("headers of '%s' not found in %s (install its -dev package)", py, info->include);
        pyi_free(info);
        return -1;
    }
    return 0;
}

void pyi_free(struct pyinfo *info)
{
    free(info->version);
    free(info->executable);
    free(info->include);
    memset(info, 0, sizeof *info);
}
