/* The lifeline program: runs targets under the agent, then reads what the
 * agent captured and reports. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../core/defaults.h"
#include "../core/journal.h"
#include "../core/watchspec.h"
#include "../pyver/pyver.h"
#include "detect.h"
#include "finding.h"
#include "history.h"
#include "jreader.h"
#include "leaks.h"
#include "replay.h"
#include "report.h"
#include "resolve.h"
#include "run.h"
#include "shrunk.h"

#define EXIT_USAGE 2
#define DEFAULT_ERROR_EXITCODE 23

struct options {
    bool exact_stacks;
    bool leak_scan;  /* the leak scan at exit */
    bool gc_checks;  /* the GC and reference-count checks at collections */
    bool check;        /* heap checking: redzones, patterns, quarantine */
    bool keep_going;
    bool boundary;     /* C-API boundary wrappers in extension modules */
    long quarantine_mb;
    long pool_rate, pool_slots, sample;
    const char *report_path;
    const char *keep_journal;
    int error_exitcode;
    char **command;
    int command_argc;
    struct ws_spec watch[WS_MAX_SPECS]; /* --watch SPEC, in the order given */
    int nwatch;
    bool leaks;           /* `lifeline leaks`: -R is allowed */
    long warmups, runs;   /* its -R W:M */
};


static const char usage_text[] =
    "usage: lifeline run [OPTIONS] -- COMMAND [ARGS...]\n"
    "       lifeline leaks [-R W:M] [OPTIONS] -- PYTHON [PYOPTS] script.py|-m module [ARGS...]\n"
    "       lifeline report JOURNAL [--report FILE] [--error-exitcode N]\n"
    "       lifeline check [--report FILE] [--format text|json|sarif] FILE.c... [-- CFLAGS]\n"
    "       lifeline dump JOURNAL\n"
    "       lifeline history JOURNAL ADDR\n"
    "       lifeline cflags\n"
    "\n"
    "run: runs a Python command with the lifeline agent preloaded, records every\n"
    "allocation and free with native and Python stacks, and reports what it\n"
    "finds on stderr when the command ends (or crashes).\n"
    "  --report FILE         also write the JSON report (schema lifeline-report/1)\n"
    "  --keep-journal PATH   keep the journal at PATH for `lifeline report`\n"
    "                        (default: a temporary file, removed afterwards)\n"
    "  --error-exitcode N    exit status when an error is found (default 23)\n"
    "  --exact-stacks        unwind the whole native stack at every event (slower;\n"
    "                        by default native frames between two Python\n"
    "                        activations are taken from the first event with the\n"
    "                        same inner frames and Python stack)\n"
    "  --no-check            record only: no redzones, fill patterns, quarantine or\n"
    "                        guarded pool (unless --pool-rate asks for it), so no\n"
    "                        heap-error findings (crashes are still explained)\n"
    "  --keep-going          go on after a heap error instead of stopping the target\n"
    "  --no-leaks            no leak scan at exit\n"
    "  --no-gc-checks        no GC or reference-count checks at collections\n"
    "  --no-boundary         leave extension modules' C-API calls alone: no borrow,\n"
    "                        steal or GC-tracking events, no gc-* findings from them\n"
    "  --quarantine-mb N     freed memory held back from reuse, per family (default "
    LL_DEFAULT_TEXT(LL_DEFAULT_QUARANTINE_MB) ")\n"
    "  --pool-rate N         put about 1 in N small blocks on a guarded page of their\n"
    "                        own, so that touching them past their end or after their\n"
    "                        free is caught at the access (default "
    LL_DEFAULT_TEXT(LL_DEFAULT_POOL_RATE) ", 0 with\n"
    "                        --no-check; 0 = off)\n"
    "  --pool-slots N        the most guarded pages at once (default "
    LL_DEFAULT_TEXT(LL_DEFAULT_POOL_SLOTS) ", bounded by\n"
    "                        vm.max_map_count): the pool starts with 4096 (512 with\n"
    "                        --sample) and doubles as long-lived blocks fill it\n"
    "  --sample N            sampling mode for big programs: guard and record only\n"
    "                        about 1 in N blocks; everything else runs untouched\n"
    "                        (no GC checks at collections: they need every block).\n"
    "                        With N >= 100 on a release interpreter the object and\n"
    "                        mem allocators are not hooked between samples: a\n"
    "                        thread arms them for 4 samples at a time, about 4 N\n"
    "                        allocations' worth of time apart (measured by time:\n"
    "                        about 1 in N on a steady program, more on a bursty\n"
    "                        or slow one, fewer on a loaded machine)\n"
    "  --watch SPEC          record every reference-count change of the objects SPEC\n"
    "                        chooses, with its stack: from any code through hardware\n"
    "                        watchpoints (4 objects at a time, in every thread), and\n"
    "                        from extensions built with `lifeline cflags`. Repeatable\n"
    "                        (up to 16). SPEC is type=NAME (tp_name), site=FUNCTION\n"
    "                        (a Python or native function on the allocation stack),\n"
    "                        site=FILE:LINE (a Python line on it, or a C line of an\n"
    "                        extension built with -g) or addr=0xADDR, then\n"
    "                        ,nth=K (from the K-th match) ,limit=N (at most N), e.g.\n"
    "                        --watch type=zoo.Item,nth=2,limit=1. The report lists the\n"
    "                        watched objects with their history and its balance.\n"
    "                        Without --watch, extensions built with `lifeline cflags`\n"
    "                        record every change of every object, and no hardware\n"
    "                        watchpoint is set\n"
    "\n"
    "leaks: runs the script or module again and again in one interpreter, like\n"
    "regrtest -R: W warm-up runs, then M measured ones, each followed by a cleanup\n"
    "(caches cleared, three garbage collections). It reports as `leak` findings the\n"
    "allocation sites and types whose live count grew on every measured run, with\n"
    "the count of each run (per_run), and on a debug build the reference-count\n"
    "deltas regrtest shows; references that grew on every run fail it too. Takes\n"
    "the options of run (its leak scan at exit is off: what grows is this report),\n"
    "and:\n"
    "  -R W:M                warm-up and measured runs (default 3:3; W >= 0, M >= 1,\n"
    "                        each up to 1000)\n"
    "From Python, in any traced process: lifeline.leaks(func, warmups=3, runs=3).\n"
    "\n"
    "history: prints the timeline of the block holding ADDR (live at the end, or\n"
    "recently freed) from a journal kept with --keep-journal: its allocation, the\n"
    "reference count changes and C-API ownership events recorded on it, its free.\n"
    "\n"
    "cflags: prints the compiler flags (a forced-include header) that make an\n"
    "extension's Py_INCREF, Py_DECREF, Py_XINCREF, Py_XDECREF, Py_CLEAR, Py_SETREF,\n"
    "Py_XSETREF, Py_NewRef and Py_XNewRef report each change, with its stack, when\n"
    "run under lifeline; outside lifeline they behave exactly as CPython's.\n"
    "\n"
    "LIFELINE_OPTIONS: the same settings as words separated by spaces, commas or\n"
    "colons: exact_stacks=0|1 check=0|1 keep_going=0|1 leaks=0|1 gc_checks=0|1 boundary=0|1\n"
    "quarantine_mb=N pool_rate=N pool_slots=N sample=N error_exitcode=N watch=SPEC\n"
    "(repeatable; a watch= word runs to the next space, its commas and colons\n"
    "included), e.g. LIFELINE_OPTIONS='keep_going=1 watch=type=Box,limit=1'.\n"
    "Flags win; --watch adds to the watch= words.\n"
    "\n"
    "Exit status: the command's own status when nothing is found; N when an\n"
    "error is found (a crash is one, and so are references that grew on every\n"
    "run of lifeline leaks); 2 for lifeline's own errors (bad usage,\n"
    "command not found, no Python seen, unreadable journal); 128+signal when\n"
    "the command was killed by a signal that is not a crash.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("lifeline: error: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see 'lifeline --help')\n", stderr);
    return EXIT_USAGE;
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fputs("lifeline: error: ", stderr);
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    return EXIT_USAGE;
}

static bool parse_exitcode(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 255)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_count(const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1000000)
        return false;
    *out = v;
    return true;
}

/* The numeric flags of `run`, and where each goes. */
static long *number_option(const char *flag, struct options *o)
{
    if (!strcmp(flag, "--quarantine-mb"))
        return &o->quarantine_mb;
    if (!strcmp(flag, "--pool-rate"))
        return &o->pool_rate;
    if (!strcmp(flag, "--pool-slots"))
        return &o->pool_slots;
    if (!strcmp(flag, "--sample"))
        return &o->sample;
    return NULL;
}

/* A boolean word of LIFELINE_OPTIONS. */
static bool parse_bool(const char *s, bool *out)
{
    if (strcmp(s, "0") && strcmp(s, "1"))
        return false;
    *out = *s == '1';
    return true;
}

/* Adds one --watch SPEC (text[0, len)) to o. Returns false after saying
 * why it is refused (bad SPEC, too many). */
static bool add_watch(struct options *o, const char *text, size_t len)
{
    char why[300];
    if (o->nwatch >= WS_MAX_SPECS) {
        fprintf(stderr, "lifeline: error: --watch: at most %d SPECs (see 'lifeline --help')\n", WS_MAX_SPECS);
        return false;
    }
    if (!ws_parse(text, len, &o->watch[o->nwatch], why, sizeof why)) {
        fprintf(stderr, "lifeline: error: %s (see 'lifeline --help')\n", why);
        return false;
    }
    o->nwatch++;
    return true;
}

/* Parses options shared by run and report. Returns the index of the first
 * non-option argument, or -1 after printing an error. */
static int parse_options(int argc, char **argv, int i, struct options *o, bool allow_run_opts)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            return i + 1;
        } else if (allow_run_opts && !strcmp(a, "--exact-stacks")) {
            o->exact_stacks = true;
        } else if (allow_run_opts && !strcmp(a, "--no-check")) {
            o->check = false;
        } else if (allow_run_opts && !strcmp(a, "--keep-going")) {
            o->keep_going = true;
        } else if (allow_run_opts && !strcmp(a, "--no-leaks")) {
            o->leak_scan = false;
        } else if (allow_run_opts && !strcmp(a, "--no-gc-checks")) {
            o->gc_checks = false;
        } else if (allow_run_opts && !strcmp(a, "--no-boundary")) {
            o->boundary = false;
        } else if (allow_run_opts && !strcmp(a, "--watch")) {
            if (i + 1 >= argc) {
                usage_error("%s needs a SPEC (type=NAME, site=FUNCTION, site=FILE:LINE or addr=0x...)", a);
                return -1;
            }
            i++;
            if (!add_watch(o, argv[i], strlen(argv[i])))
                return -1;
        } else if (o->leaks && !strncmp(a, "-R", 2)) {
            const char *v = a[2] ? a + 2 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || !lk_parse_repeat(v, &o->warmups, &o->runs)) {
                usage_error("-R takes W:M, the warm-up and measured runs (W from 0, M from 1, up to 1000), "
                            "not '%s'", v ? v : "");
                return -1;
            }
        } else if (allow_run_opts && number_option(a, o)) {
            long *dst = number_option(a, o);
            if (i + 1 >= argc || !parse_count(argv[i + 1], dst)) {
                fprintf(stderr, "lifeline: error: %s takes a whole number from 0 to 1000000, not '%s' "
                                "(see 'lifeline --help')\n", a, i + 1 < argc ? argv[i + 1] : "");
                return -1;
            }
            i++;
        } else if (!strcmp(a, "--report") || !strcmp(a, "--error-exitcode") ||
                   (allow_run_opts && !strcmp(a, "--keep-journal"))) {
            if (i + 1 >= argc) {
                usage_error("%s needs a value", a);
                return -1;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--report")) {
                o->report_path = v;
            } else if (!strcmp(a, "--keep-journal")) {
                o->keep_journal = v;
            } else if (!parse_exitcode(v, &o->error_exitcode)) {
                usage_error("--error-exitcode takes a number from 1 to 255, not '%s'", v);
                return -1;
            }
        } else if (a[0] == '-' && a[1]) {
            usage_error("unknown option '%s'", a);
            return -1;
        } else {
            return i;
        }
    }
    return i;
}

/* Reads LIFELINE_OPTIONS into o (before the flags, which override it).
 * Returns false after saying which word is not understood. */
static bool parse_env_options(struct options *o)
{
    const char *env = getenv("LIFELINE_OPTIONS");
    char word[256];
    while (env && *env) {
        size_t len = strcspn(env, " ,:");
        if (!strncmp(env, "watch=", 6)) {
            /* A SPEC has commas and colons of its own: it runs to the next space. */
            len = strcspn(env, " ");
            if (!add_watch(o, env + 6, len - 6))
                return false;
        } else if (len) {
            snprintf(word, sizeof word, "%.*s", (int)len, env);
            char *eq = strchr(word, '=');
            if (eq)
                *eq++ = 0;
            bool ok = eq && ((!strcmp(word, "exact_stacks") && parse_bool(eq, &o->exact_stacks)) ||
                             (!strcmp(word, "check") && parse_bool(eq, &o->check)) ||
                             (!strcmp(word, "keep_going") && parse_bool(eq, &o->keep_going)) ||
                             (!strcmp(word, "leaks") && parse_bool(eq, &o->leak_scan)) ||
                             (!strcmp(word, "gc_checks") && parse_bool(eq, &o->gc_checks)) ||
                             (!strcmp(word, "boundary") && parse_bool(eq, &o->boundary)) ||
                             (!strcmp(word, "quarantine_mb") && parse_count(eq, &o->quarantine_mb)) ||
                             (!strcmp(word, "pool_rate") && parse_count(eq, &o->pool_rate)) ||
                             (!strcmp(word, "pool_slots") && parse_count(eq, &o->pool_slots)) ||
                             (!strcmp(word, "sample") && parse_count(eq, &o->sample)) ||
                             (!strcmp(word, "error_exitcode") && parse_exitcode(eq, &o->error_exitcode)));
            if (!ok) {
                fprintf(stderr, "lifeline: error: LIFELINE_OPTIONS: cannot use '%.*s' (known: exact_stacks=0|1, "
                                "check=0|1, keep_going=0|1, leaks=0|1, gc_checks=0|1, boundary=0|1, quarantine_mb=N, "
                                "pool_rate=N, pool_slots=N, sample=N, "
                                "error_exitcode=1..255, watch=SPEC)\n",
                        (int)len, env);
                return false;
            }
        }
        env += len;
        env += strspn(env, " ,:");
    }
    return true;
}

/* Passes the --watch SPECs to the agent in LIFELINE_WATCH, separated by
 * ';' (removed when there is none, so that a nested lifeline does not
 * inherit them). */
static void export_watches(const struct options *o)
{
    char v[WS_MAX_SPECS * (WS_NAME_MAX + 64)];
    size_t n = 0;
    for (int i = 0; i < o->nwatch; i++) {
        n += ws_format(&o->watch[i], v + n, sizeof v - n - 1);
        v[n++] = ';';
    }
    v[n ? n - 1 : 0] = 0;
    if (n)
        setenv("LIFELINE_WATCH", v, 1);
    else
        unsetenv("LIFELINE_WATCH");
}

/* Passes the agent's settings to it through the environment. */
static void export_agent_options(const struct options *o)
{
    char v[256];
    snprintf(v, sizeof v, "exact_stacks=%d check=%d keep_going=%d leaks=%d gc_checks=%d boundary=%d "
             "quarantine_mb=%ld pool_rate=%ld pool_slots=%ld sample=%ld", o->exact_stacks, o->check, o->keep_going,
             o->leak_scan, o->gc_checks, o->boundary, o->quarantine_mb, o->pool_rate, o->pool_slots, o->sample);
    setenv("LIFELINE_OPTIONS", v, 1);
    export_watches(o);
}

/* Opens the report file before anything runs, so that a bad path is said
 * at once rather than after a long run. */
static FILE *open_report(const char *path, int *rc)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f)
        *rc = fail("cannot write the report to '%s': %s", path, strerror(errno));
    return f;
}

/* Writes into path (PATH_MAX bytes) the path of `name` in the directory
 * of the lifeline program, where the build puts the agent, the Python
 * package, lifeline-check and the cflags header. False when
 * /proc/self/exe cannot be read or the path would not fit. */
static bool beside_program(const char *name, char *path)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    int dir = slash ? (int)(slash + 1 - exe) : 0;
    int len = snprintf(path, PATH_MAX, "%.*s%s", dir, exe, name);
    return len > 0 && len < PATH_MAX;
}

static char *agent_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("LIFELINE_AGENT");
    if (env && *env)
        return strncpy(path, env, sizeof path - 1);
    return beside_program("liblifeline-agent.so", path) ? path : NULL;
}

/* Tells the agent where the pure-Python `lifeline` module is: the python/
 * directory next to the lifeline program. */
static void export_python_dir(void)
{
    char path[PATH_MAX];
    if (beside_program("python", path) && access(path, R_OK) == 0)
        setenv("LIFELINE_PYDIR", path, 1);
}

/* Appends the target's fate to the journal, so that `lifeline report` can
 * tell it later. It goes in a block of its own at the end of the file. */
static void append_exit_record(const char *journal, const struct run_result *res)
{
    int fd = open(journal, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    struct jn_file_header h;
    off_t size = lseek(fd, 0, SEEK_END);
    if (pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h.magic, JN_MAGIC, JN_MAGIC_LEN) == 0 &&
        h.block_size >= 1024 && size >= (off_t)JN_FILE_HEADER_SIZE) {
        uint8_t *blk = calloc(1, h.block_size);
        if (blk) {
            struct jn_block_header *b = (struct jn_block_header *)blk;
            uint64_t cpu_ms = (uint64_t)((res->user_s + res->sys_s) * 1000.0 + 0.5);
            uint8_t *end = jn_put_exit((uint8_t *)(b + 1), res->signo ? -res->signo : res->status,
                                       (uint64_t)res->max_rss_kb, cpu_ms);
            b->magic = JN_BLOCK_MAGIC;
            b->used = (uint32_t)(end - (uint8_t *)(b + 1));
            off_t at = JN_FILE_HEADER_SIZE +
                       (size - JN_FILE_HEADER_SIZE + h.block_size - 1) / h.block_size * h.block_size;
            if (pwrite(fd, blk, h.block_size, at) != (ssize_t)h.block_size)
                fputs("lifeline: warning: cannot append the exit status to the journal\n", stderr);
            free(blk);
        }
    }
    close(fd);
}

static void note_from_agent(void *arg, const struct jn_record *r)
{
    struct fd_report *rep = arg;
    fd_note(rep, arena_strndup(&rep->arena, r->u.note.text.ptr, r->u.note.text.len));
}

/* Fills the target description from the PROCESS record. */
static void describe_target(struct fd_report *rep, struct jr_journal *j, bool take_argv)
{
    struct jn_record pr;
    struct arena *a = &rep->arena;
    if (!jr_process(j, &pr))
        return;
    rep->target.pid = pr.u.process.pid;
    rep->target.python_seen = (pr.u.process.flags & JN_PROC_PYTHON) != 0;
    rep->target.debug_build = (pr.u.process.flags & JN_PROC_DEBUG_BUILD) != 0;
    rep->target.py_version = arena_strndup(a, pr.u.process.version.ptr, pr.u.process.version.len);
    rep->target.executable = arena_strndup(a, pr.u.process.executable.ptr, pr.u.process.executable.len);
    if (!take_argv)
        return;
    rep->target.argv = arena_alloc(a, (pr.u.process.argc + 1) * sizeof(char *));
    const uint8_t *p = pr.u.process.argv;
    struct jn_str s;
    while (rep->target.argc < (int)pr.u.process.argc && jn_argv_next(&p, pr.u.process.end, &s) == 1)
        rep->target.argv[rep->target.argc++] = arena_strndup(a, s.ptr, s.len);
}

/* The replay of a journal followed while its target runs (run_target's
 * tick), handed over to analyze at the end. */
struct follow {
    const char *path;
    struct jr_journal *j; /* NULL until the first tick opens it */
    struct rp_state st;   /* begun with j */
    bool failed;          /* cannot follow: analyze reads the journal afterwards */
    bool shrank;          /* the file was cut short under the replay */
};

/* Events in one call of the tick that mean more are waiting. */
#define FOLLOW_BACKLOG 16384

/* Replays what the target has journaled so far; true when more is waiting.
 * arg: the struct follow. */
static bool follow_step(void *arg)
{
    struct follow *f = arg;
    if (!f->j) {
        f->j = jr_open_followed(f->path);
        if (!f->j || !rp_begin(f->j, &f->st)) {
            f->failed = true;
            return false;
        }
    }
    /* Called again at once only while there is a backlog: a target writing
     * steadily is then followed in batches every few milliseconds, not in
     * a loop of a few events each. */
    return rp_follow(f->j, &f->st) >= FOLLOW_BACKLOG;
}

/* run_target's tick: follow_step, guarded against a journal cut short. */
static bool follow_tick(void *arg)
{
    struct follow *f = arg;
    bool backlog;
    if (f->failed)
        return false;
    if (shrunk_call(follow_step, f, &backlog))
        return backlog;
    /* The replay's state is given up unfreed: the fault may have come in
     * the middle of changing it. */
    f->j = NULL;
    f->failed = f->shrank = true;
    fprintf(stderr, "lifeline: the journal '%s' was cut short while the target ran; what is left is read at its "
                    "end\n", f->path);
    return false;
}

/* Gives a followed journal up: analyze then reads the file from the start. */
static void follow_drop(struct follow *f)
{
    if (f->j) {
        rp_free(&f->st);
        jr_close(f->j);
    }
    f->j = NULL;
    f->failed = true;
}

/* analyze without the guard against a journal that shrinks meanwhile. */
static bool analyze_unguarded(const char *journal, struct fd_report *rep, bool take_argv, const struct options *o,
                              struct follow *f)
{
    const char *why = NULL;
    struct rp_state local, *st = &local;
    struct jr_journal *j = NULL;
    bool replayed;
    /* The replay first: the journal's definitions are indexed beside it,
     * and the target's description is one of them. */
    if (f && f->j && !f->failed && jr_seal(f->j)) {
        j = f->j;
        st = &f->st;
        f->j = NULL;
        rp_end(j, st);
        replayed = true;
    } else {
        if (f && f->j && jr_shrank(f->j))
            f->shrank = true;
        if (f)
            follow_drop(f);
        j = jr_open(journal, &why);
        if (!j) {
            fail("cannot read the journal '%s': %s", journal, why);
            return false;
        }
        replayed = rp_run(j, st);
    }
    struct rs_ctx rs = {0};
    describe_target(rep, j, take_argv);
    if (!replayed || !rs_init(&rs, j, &rep->arena)) {
        rp_free(st);
        jr_close(j);
        fail("%s%s", "out of memory while reading the journal", "");
        return false;
    }
    rep->stats.allocations = st->allocations;
    rep->stats.frees = st->frees;
    rep->stats.peak_live_bytes = st->peak_live_bytes;
    rep->stats.events = st->events;
    struct jn_record ex;
    if (jr_exit(j, &ex)) {
        if (ex.u.exit.status < 0)
            rep->target.signal = dt_signal_name(&rep->arena, -ex.u.exit.status);
        else
            rep->target.exit_status = ex.u.exit.status;
        rep->stats.target_max_rss_kb = (long)ex.u.exit.max_rss_kb;
        rep->stats.target_cpu_ms = ex.u.exit.cpu_ms;
    }
    jr_each_note(j, note_from_agent, rep);
    rep->journal_damaged = jr_damaged(j) || jr_truncated(j) || (f && f->shrank);
    if (f && f->shrank)
        fd_note(rep, "the journal file was cut short while the target ran (something truncated it): this "
                     "report holds only what was left of it");
    if (jr_damaged(j))
        fd_note(rep, "the journal holds damaged records; they were skipped");
    if (jr_truncated(j))
        fd_note(rep, "the journal file is cut short; its last block was skipped");
    if (st->hist_refused)
        fd_note(rep, arena_printf(&rep->arena, "%llu blocks got no ownership history: %d live blocks had one "
                                                "already", (unsigned long long)st->hist_refused, RP_HIST_LIVE_MAX));
    dt_heap(rep, j, st, &rs);
    dt_repeat(rep, j, st, &rs);
    dt_crash(rep, j, st, &rs);
    dt_leaks(rep, st, &rs);
    const char *specs[WS_MAX_SPECS];
    int nspecs = 0;
    for (; o && nspecs < o->nwatch; nspecs++) {
        char text[WS_NAME_MAX + 64];
        ws_format(&o->watch[nspecs], text, sizeof text);
        specs[nspecs] = arena_strndup(&rep->arena, text, strlen(text));
    }
    dt_watched(rep, st, &rs, specs, nspecs);
    rs_close(&rs);
    rp_free(st);
    jr_close(j);
    return true;
}

/* analyze's arguments, for shrunk_call, which passes one pointer. */
struct analysis {
    const char *journal;
    struct fd_report *rep;
    bool take_argv;
    const struct options *o;
    struct follow *f;
};

/* analyze_unguarded with the arguments of an analysis. */
static bool analyze_call(void *arg)
{
    struct analysis *a = arg;
    return analyze_unguarded(a->journal, a->rep, a->take_argv, a->o, a->f);
}

/* Reads the journal and runs every detector. o: the options of the run
 * that made the journal, NULL when unknown (`lifeline report`). f: the
 * replay of the journal followed while the target ran, or NULL; analyze
 * takes it over. Returns false (with a message printed) if the journal
 * cannot be read, or was cut short while it was read (what was read is
 * then given up, unfreed). */
static bool analyze(const char *journal, struct fd_report *rep, bool take_argv, const struct options *o,
                    struct follow *f)
{
    struct analysis a = {journal, rep, take_argv, o, f};
    bool ok;
    if (shrunk_call(analyze_call, &a, &ok))
        return ok;
    fail("the journal '%s' (or a file it names) was cut short while it was read%s", journal, "");
    return false;
}

/* Closes and removes a report file that will not be written: an empty
 * file where a JSON document was promised would mislead whoever reads it. */
static void drop_report(FILE *json, const char *path)
{
    if (json) {
        fclose(json);
        unlink(path);
    }
}

static int finish_report(struct fd_report *rep, FILE *json, const char *json_path)
{
    rpt_text(stderr, rep);
    if (json && !rpt_json(json, rep)) {
        fclose(json);
        return fail("cannot write the report to '%s': %s", json_path, strerror(errno));
    }
    if (json)
        fclose(json);
    return 0;
}

static const char *default_journal_path(char *buf, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, cap, "%s/lifeline-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(buf);
    if (fd < 0)
        return NULL;
    close(fd);
    return buf;
}

/* The exit status of `lifeline run` (see usage_text). */
static int run_status(const struct fd_report *rep, const struct run_result *res, const struct options *o)
{
    if (fd_failed(rep))
        return o->error_exitcode;
    if (res->signo)
        return 128 + res->signo;
    return res->status;
}

static void say_fate(struct fd_report *rep, const struct run_result *res)
{
    if (res->signo) {
        rep->target.signal = dt_signal_name(&rep->arena, res->signo);
        fprintf(stderr, "lifeline: the target (pid %d) was killed by %s\n", (int)res->pid, rep->target.signal);
    } else {
        rep->target.exit_status = res->status;
    }
}

/* What `lifeline leaks` adds to the report: a note when the runs did not all happen. */
static void check_repetitions(struct fd_report *rep, const struct options *o)
{
    if (!o->leaks)
        return;
    if (!rep->nseries)
        fd_note(rep, "no repetition was measured: the command stopped before its first run ended");
    else if (rep->series[0].runs < o->runs)
        fd_note(rep, arena_printf(&rep->arena, "only %d of the %ld measured runs ended", rep->series[0].runs,
                                  o->runs));
}

/* Runs `command` under the agent and reports; `shown` (shown_argc words) is the command as the
 * report names it. Returns lifeline's exit status (see usage_text). */
static int run_and_report(const struct options *o, char **command, char **shown, int shown_argc)
{
    int rc = 0;
    FILE *json = open_report(o->report_path, &rc);
    if (rc)
        return rc;
    char tmp[PATH_MAX];
    const char *journal = o->keep_journal ? o->keep_journal : default_journal_path(tmp, sizeof tmp);
    const char *agent = agent_path();
    if (!journal || !agent || access(agent, R_OK) != 0) {
        drop_report(json, o->report_path);
        return fail("%s%s", !journal ? "cannot create a temporary journal file" : "cannot find liblifeline-agent.so beside the lifeline program", "");
    }
    struct run_result res;
    /* The replay follows the journal while the target runs, on the core
     * the target leaves free: what is left at its end is the tail. */
    static struct follow follow; /* one run per process */
    follow = (struct follow){.path = journal};
    if (!run_target(command, journal, agent, follow_tick, &follow, &res)) {
        follow_drop(&follow);
        drop_report(json, o->report_path);
        return fail("cannot create the journal '%s': %s", journal, strerror(errno));
    }
    if (res.exec_errno) {
        follow_drop(&follow);
        drop_report(json, o->report_path);
        unlink(journal);
        return fail("cannot run '%s': %s", command[0], strerror(res.exec_errno));
    }
    if (!jr_claimed(journal)) {
        follow_drop(&follow);
        drop_report(json, o->report_path);
        if (!o->keep_journal)
            unlink(journal);
        return fail("no Python interpreter was seen in '%s'%s", command[0],
                    " (lifeline traces CPython processes; the command ran without it)");
    }
    append_exit_record(journal, &res);
    struct fd_report rep = {0};
    rep.target.argv = shown;
    rep.target.argc = shown_argc;
    rep.target.pid = (uint32_t)res.pid;
    bool ok = analyze(journal, &rep, false, o, &follow);
    if (!o->keep_journal)
        unlink(journal);
    if (!ok) {
        drop_report(json, o->report_path);
        fd_report_free(&rep);
        return EXIT_USAGE;
    }
    say_fate(&rep, &res);
    if (!rep.target.python_seen) {
        /* No description of a Python target: an unsupported version, or a
         * journal cut short before it. */
        drop_report(json, o->report_path);
        if (follow.shrank)
            rc = fail("the journal '%s' was cut short while the target ran, too short to say anything%s", journal,
                      "");
        else
            rc = fail("Python %s is not supported by this lifeline (it supports %s)", rep.target.py_version,
                      pyver_supported_list());
        fd_report_free(&rep);
        return rc;
    }
    check_repetitions(&rep, o);
    rc = finish_report(&rep, json, o->report_path);
    int status = rc ? rc : run_status(&rep, &res, o);
    fd_report_free(&rep);
    return status;
}

/* The settings before LIFELINE_OPTIONS and the flags change them. */
static struct options default_options(void)
{
    return (struct options){.error_exitcode = DEFAULT_ERROR_EXITCODE, .check = true, .leak_scan = true,
                            .gc_checks = true, .boundary = true, .quarantine_mb = LL_DEFAULT_QUARANTINE_MB,
                            .pool_rate = -1 /* settle_options */, .pool_slots = LL_DEFAULT_POOL_SLOTS};
}

/* What --sample changes besides the rate. The GC checks need a record of
 * every block (a referent the sample missed is unknown), so sampling turns
 * them off. (Its guarded pool starts smaller: the agent's heap.h.)
 * The guarded pool is heap checking too: --no-check turns it off unless
 * --pool-rate (or pool_rate=) asks for it, so that recording alone pays
 * no mprotect per pooled block and finds no heap errors. */
static void settle_options(struct options *o)
{
    if (o->sample)
        o->gc_checks = false;
    if (o->pool_rate < 0)
        o->pool_rate = o->check ? LL_DEFAULT_POOL_RATE : 0;
}

/* Reads LIFELINE_OPTIONS and the flags of a command that starts a target
 * into o, and passes the agent its settings. Returns the index of the
 * target's command in argv, or -1 after a usage error was said. */
static int target_options(struct options *o, int argc, char **argv)
{
    if (!parse_env_options(o))
        return -1;
    int first = parse_options(argc, argv, 2, o, true);
    if (first < 0)
        return -1;
    settle_options(o);
    export_agent_options(o);
    export_python_dir();
    return first;
}

static int cmd_run(int argc, char **argv)
{
    struct options o = default_options();
    int first = target_options(&o, argc, argv);
    if (first < 0)
        return EXIT_USAGE;
    if (first >= argc)
        return usage_error("%s", "missing the command to run: lifeline run -- COMMAND [ARGS...]");
    return run_and_report(&o, &argv[first], &argv[first], argc - first);
}

/* `lifeline leaks`: run's options and -R, then the Python command rewritten into the runner's. */
static int cmd_leaks(int argc, char **argv)
{
    struct options o = default_options();
    /* What grows from run to run is this command's report; the exit scan's
     * view of the same leaks would only repeat it. */
    o.leak_scan = false;
    o.leaks = true;
    o.warmups = LK_DEFAULT_WARMUPS;
    o.runs = LK_DEFAULT_RUNS;
    char why[512];
    int first = target_options(&o, argc, argv);
    if (first < 0)
        return EXIT_USAGE;
    if (first >= argc)
        return usage_error("%s", "missing the command: lifeline leaks [-R W:M] -- PYTHON script.py|-m module [ARGS...]");
    if (!getenv("LIFELINE_PYDIR"))
        return fail("cannot find lifeline's Python package (python/ beside the lifeline program)%s%s", "", "");
    char **command = lk_command(&argv[first], argc - first, o.warmups, o.runs, why, sizeof why);
    if (!command)
        return usage_error("%s", why);
    int status = run_and_report(&o, command, &argv[first], argc - first);
    free(command);
    return status;
}

static int cmd_report(int argc, char **argv)
{
    struct options o = default_options();
    const char *journal = NULL;
    if (!parse_env_options(&o))
        return EXIT_USAGE;
    for (int i = 2; i < argc;) {
        int next = parse_options(argc, argv, i, &o, false);
        if (next < 0)
            return EXIT_USAGE;
        if (next >= argc)
            break;
        if (journal)
            return usage_error("unexpected argument '%s'", argv[next]);
        journal = argv[next];
        i = next + 1;
    }
    if (!journal)
        return usage_error("%s", "missing the journal: lifeline report JOURNAL");
    int rc = 0;
    FILE *json = open_report(o.report_path, &rc);
    if (rc)
        return rc;
    struct fd_report rep = {0};
    if (!analyze(journal, &rep, true, NULL, NULL)) {
        drop_report(json, o.report_path);
        fd_report_free(&rep);
        return EXIT_USAGE;
    }
    if (rep.journal_damaged) {
        /* A report from part of a journal could mislead (a free that is
         * missing makes a leak); say what is wrong and nothing else. */
        drop_report(json, o.report_path);
        fd_report_free(&rep);
        return fail("the journal '%s' is damaged or truncated%s (lifeline dump shows what is readable)", journal,
                    "");
    }
    rc = finish_report(&rep, json, o.report_path);
    int status = rc ? rc : fd_failed(&rep) ? o.error_exitcode : 0;
    fd_report_free(&rep);
    return status;
}

int dump_journal(const char *path);

static int cmd_check(int argc, char **argv)
{
    char path[PATH_MAX];
    if (!beside_program("lifeline-check", path))
        return fail("%s%s", "cannot locate lifeline-check", "");
    argv[1] = path;
    execv(path, &argv[1]);
    return fail("cannot run '%s': %s", path, strerror(errno));
}

/* `lifeline cflags`: the forced include of include/lifeline_refs.h, which
 * the build installs next to the lifeline program. Fails (status 2) when
 * it is not there. */
static int cmd_cflags(void)
{
    char path[PATH_MAX];
    if (!beside_program("include/lifeline_refs.h", path))
        return fail("%s%s", "cannot locate the lifeline program", "");
    if (access(path, R_OK) != 0)
        return fail("cannot find '%s': %s", path, strerror(errno));
    printf("-include %s\n", path);
    return 0;
}

/* The symbolizer keeps a few descriptors open per module; a target that
 * loaded hundreds of libraries needs more than the usual soft limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    /* Symbolization is offline: never let libdw ask debuginfod servers. */
    unsetenv("DEBUGINFOD_URLS");
    shrunk_init(EXIT_USAGE);
    raise_fd_limit();
    if (argc < 2)
        return usage_error("%s", "missing command (run, leaks, report, check, dump, history, cflags)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        puts("lifeline " LIFELINE_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    if (!strcmp(cmd, "leaks"))
        return cmd_leaks(argc, argv);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc, argv);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc, argv);
    if (!strcmp(cmd, "dump")) {
        if (argc != 3)
            return usage_error("%s", "usage: lifeline dump JOURNAL");
        return dump_journal(argv[2]);
    }
    if (!strcmp(cmd, "history")) {
        if (argc != 4)
            return usage_error("%s", "usage: lifeline history JOURNAL ADDR");
        return hs_command(argv[2], argv[3]);
    }
    if (!strcmp(cmd, "cflags")) {
        if (argc != 2)
            return usage_error("%s", "usage: lifeline cflags");
        return cmd_cflags();
    }
    return usage_error("unknown command '%s'", cmd);
}
