#include "opts.h"

#include <stdlib.h>
#include <string.h>

#include "finding.h"

const char *opt_usage(void)
{
    return "usage: lifeline check [--report FILE] [--format text|json|sarif] [--python PYTHON]\n"
           "                      [-j N] FILE.c... [-- COMPILER FLAGS]\n"
           "       lifeline check -p BUILD_DIR [FILE.c...]\n"
           "\n"
           "Audit C extension sources for reference-ownership bugs without running them.\n"
           "\n"
           "  --report FILE     also write the lifeline-report/1 JSON document to FILE\n"
           "  --format FORMAT   output on stdout: text (default), json or sarif (SARIF 2.1.0)\n"
           "  --python PYTHON   interpreter whose C headers are used (default /usr/bin/python3.11)\n"
           "  -p BUILD_DIR      take files and flags from BUILD_DIR/compile_commands.json\n"
           "  -j N              analyse with N worker processes (default: 2)\n"
           "  -- FLAGS          compiler flags for every file (-I, -D, -std=...)\n"
           "\n"
           "Exit status: 0 no error findings, 1 error findings, 2 usage or input error.\n"
           "Finding kinds: leak, decref-borrowed, decref-after-steal, double-free,\n"
           "  borrowed-after-mutation, store-borrowed, null-without-exception,\n"
           "  missing-null-check, allocator-mismatch, gc-untraversed-reference,\n"
           "  gc-clear-dangling, dealloc-without-untrack, gc-tracked-uninitialized,\n"
           "  uninitialized-field\n";
}

/* Value of an option given as "--opt VALUE" or "--opt=VALUE". */
static const char *opt_value(int argc, char **argv, int *i, const char *name, char **err)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (a[n] == '=')
        return a + n + 1;
    if (name[1] != '-' && a[n] != 0)
        return a + n;   /* short form glued: -pDIR */
    if (*i + 1 >= argc) {
        *err = fnd_xasprintf("option '%s' needs a value", name);
        return NULL;
    }
    return argv[++*i];
}

/* Whether ARG is option NAME, alone or with an attached value. */
static int matches(const char *arg, const char *name)
{
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == 0 || arg[n] == '=' || (name[1] != '-' && arg[n]));
}

/* Set the output format from V; -1 with *ERR set when unknown. */
static int set_format(struct opts *o, const char *v, char **err)
{
    if (strcmp(v, "text") == 0)
        o->format = OF_TEXT;
    else if (strcmp(v, "json") == 0)
        o->format = OF_JSON;
    else if (strcmp(v, "sarif") == 0)
        o->format = OF_SARIF;
    else {
        *err = fnd_xasprintf("unknown format '%s' (expected text, json or sarif)", v);
        return -1;
    }
    return 0;
}

int opt_parse(int argc, char **argv, struct opts *o, char **err)
{
    memset(o, 0, sizeof *o);
    o->jobs = 2;
    o->files = fnd_xmalloc((argc + 1) * sizeof *o->files);
    *err = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (strcmp(a, "--") == 0) {
            o->flags = argv + i + 1;
            o->nflags = argc - i - 1;
            break;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->help = 1;
        } else if (matches(a, "--report")) {
            if (!(v = opt_value(argc, argv, &i, "--report", err)))
                return -1;
            o->report = v;
        } else if (matches(a, "--format")) {
            if (!(v = opt_value(argc, argv, &i, "--format", err)) || set_format(o, v, err) < 0)
                return -1;
        } else if (matches(a, "--python")) {
            if (!(v = opt_value(argc, argv, &i, "--python", err)))
                return -1;
            o->python = v;
        } else if (matches(a, "-p")) {
            if (!(v = opt_value(argc, argv, &i, "-p", err)))
                return -1;
            o->build_dir = v;
        } else if (matches(a, "-j")) {
            if (!(v = opt_value(argc, argv, &i, "-j", err)))
                return -1;
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 64) {
                *err = fnd_xasprintf("invalid job count '%s'", v);
                return -1;
            }
            o->jobs = (int)n;
        } else if (a[0] == '-' && a[1] != 0) {
            *err = fnd_xasprintf("unknown option '%s' (see 'lifeline check --help')", a);
            return -1;
        } else {
            o->files[o->nfiles++] = argv[i];
        }
    }
    if (!o->help && o->nfiles == 0 && !o->build_dir) {
        *err = fnd_xasprintf("no input files (usage: lifeline check [options] FILE.c... [-- FLAGS])");
        return -1;
    }
    return 0;
}

void opt_free(struct opts *o)
{
    free(o->files);
    o->files = NULL;
}
