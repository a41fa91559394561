#include "leaks.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What the interpreter runs with -c: finds lifeline's Python package (the cli sets LIFELINE_PYDIR;
 * the agent adds it to sys.path too, but later, from a pending call) and hands over to the runner. */
static const char boot_code[] =
    "import os, sys; d = os.environ.get('LIFELINE_PYDIR', ''); d in sys.path or sys.path.append(d); "
    "from lifeline._rerun import main; main(sys.argv[1:])";

/* Parses a count from lo to LK_MAX_RUNS; an empty string gives dflt. */
static bool parse_part(const char *s, size_t len, long lo, long dflt, long *out)
{
    char buf[16];
    if (!len) {
        *out = dflt;
        return true;
    }
    if (len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    long v = strtol(buf, &end, 10);
    if (*end || buf[0] == '-' || buf[0] == '+' || buf[0] == ' ' || v < lo || v > LK_MAX_RUNS)
        return false;
    *out = v;
    return true;
}

bool lk_parse_repeat(const char *s, long *warmups, long *runs)
{
    const char *colon = strchr(s, ':');
    long w, m;
    if (!colon || strchr(colon + 1, ':'))
        return false;
    if (!parse_part(s, (size_t)(colon - s), 0, LK_DEFAULT_WARMUPS, &w) ||
        !parse_part(colon + 1, strlen(colon + 1), 1, LK_DEFAULT_RUNS, &m))
        return false;
    *warmups = w;
    *runs = m;
    return true;
}

/* A Python interpreter, by its name: python, python3, python3.11, python3.11d, python3.11-dbg... */
static bool is_python(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strncmp(base, "python", 6) == 0;
}

/* Formats the reason a command is refused into why (cut at cap). */
static void say(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* The interpreter's command line as Python 3.11 reads it: options, then what to run. */
struct pycmd {
    const char **opts; /* interpreter options to keep, in order */
    int nopts;
    const char *module; /* -m's value, or NULL */
    int rest;           /* index in cmd of the script (no -m) or of the first argument (-m) */
};

/* Reads one option word at cmd[*i] (starting with '-'), advancing *i past it and its value. Sets
 * p->module for -m. Returns false with why filled for what lifeline leaks cannot repeat. */
static bool option_word(char **cmd, int argc, int *i, struct pycmd *p, char *why, size_t cap)
{
    const char *a = cmd[*i];
    if (a[1] == '-') {
        p->opts[p->nopts++] = a;
        if (!strcmp(a, "--check-hash-based-pycs") && *i + 1 < argc)
            p->opts[p->nopts++] = cmd[++*i];
        ++*i;
        return true;
    }
    for (size_t k = 1; a[k]; k++) {
        char c = a[k];
        if (c == 'c') {
            say(why, cap, "lifeline leaks repeats a script or a module (-m), not a -c command");
            return false;
        }
        if (c == 'W' || c == 'X') {
            p->opts[p->nopts++] = a;
            if (!a[k + 1] && *i + 1 < argc)
                p->opts[p->nopts++] = cmd[++*i];
            ++*i;
            return true;
        }
        if (c == 'm') {
            if (k > 1) /* flags before it in the same word, as in -Im: kept as their own word */
                p->opts[p->nopts++] = strndup(a, k);
            p->module = a[k + 1] ? a + k + 1 : (*i + 1 < argc ? cmd[++*i] : NULL);
            ++*i;
            if (!p->module)
                say(why, cap, "-m needs a module name");
            return p->module != NULL;
        }
    }
    p->opts[p->nopts++] = a;
    ++*i;
    return true;
}

/* Splits the command into interpreter options and what it runs. */
static bool read_command(char **cmd, int argc, struct pycmd *p, char *why, size_t cap)
{
    int i = 1;
    while (i < argc && !p->module) {
        const char *a = cmd[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        if (a[0] != '-' || !a[1])
            break;
        if (!option_word(cmd, argc, &i, p, why, cap))
            return false;
    }
    p->rest = i;
    if (p->module)
        return true;
    if (i >= argc) {
        say(why, cap, "missing the script to repeat: lifeline leaks -- %s [OPTIONS] script.py|-m module [ARGS]",
            cmd[0]);
        return false;
    }
    if (!strcmp(cmd[i], "-")) {
        say(why, cap, "lifeline leaks repeats a script or a module (-m), not the standard input");
        return false;
    }
    return true;
}

/* True if the script exists (a file, or a directory or zip file with __main__.py, as Python runs). */
static bool script_exists(const char *path, char *why, size_t cap)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return true;
    say(why, cap, "cannot find the script '%s'", path);
    return false;
}

char **lk_command(char **cmd, int argc, long warmups, long runs, char *why, size_t why_cap)
{
    /* The counts as words of the command; protected by: the cli is single-threaded and builds one
     * command. */
    static char w_text[16], m_text[16];
    if (argc < 1 || !is_python(cmd[0])) {
        say(why, why_cap, "lifeline leaks repeats a Python script or module: the command must be "
                          "PYTHON [OPTIONS] script.py|-m module [ARGS], and '%s' is no Python interpreter",
            argc ? cmd[0] : "");
        return NULL;
    }
    struct pycmd p = {.opts = calloc((size_t)argc * 2 + 1, sizeof(char *))};
    char **out = calloc((size_t)argc * 2 + 16, sizeof(char *));
    if (!p.opts || !out || !read_command(cmd, argc, &p, why, why_cap) ||
        (!p.module && !script_exists(cmd[p.rest], why, why_cap))) {
        if (!p.opts || !out)
            say(why, why_cap, "out of memory");
        free(p.opts);
        free(out);
        return NULL;
    }
    snprintf(w_text, sizeof w_text, "%ld", warmups);
    snprintf(m_text, sizeof m_text, "%ld", runs);
    int n = 0;
    out[n++] = cmd[0];
    for (int i = 0; i < p.nopts; i++)
        out[n++] = (char *)p.opts[i];
    out[n++] = "-c";
    out[n++] = (char *)boot_code;
    out[n++] = w_text;
    out[n++] = m_text;
    out[n++] = p.module ? "module" : "script";
    out[n++] = p.module ? (char *)p.module : cmd[p.rest++];
    for (int i = p.rest; i < argc; i++)
        out[n++] = cmd[i];
    out[n] = NULL;
    free(p.opts);
    return out;
}
