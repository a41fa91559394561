#include "shrunk.h"

#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* protected by: the main thread alone. Where a SIGBUS of the main thread
 * jumps back to (siglongjmp with value 1): shrunk_call's, while its fn
 * runs; NULL otherwise. */
static sigjmp_buf *volatile shrunk_jump;

/* protected by: set once by shrunk_init, before the handler is installed. */
static int shrunk_status;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (si->si_code != BUS_ADRERR) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    sigjmp_buf *jump = shrunk_jump;
    if (jump && syscall(SYS_gettid) == getpid())
        siglongjmp(*jump, 1);
    static const char line[] = "lifeline: error: a file being read (the journal?) was cut short meanwhile\n";
    ssize_t unused = write(STDERR_FILENO, line, sizeof line - 1);
    (void)unused;
    _exit(shrunk_status);
}

bool shrunk_call(bool (*fn)(void *arg), void *arg, bool *result)
{
    sigjmp_buf cut;
    if (sigsetjmp(cut, 1)) {
        shrunk_jump = NULL;
        return false;
    }
    shrunk_jump = &cut;
    *result = fn(arg);
    shrunk_jump = NULL;
    return true;
}

bool shrunk_init(int status)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    shrunk_status = status;
    return sigaction(SIGBUS, &sa, NULL) == 0;
}
