/* opts: the command line of `lifeline check`. */
#ifndef LIFELINE_AUDIT_OPTS_H
#define LIFELINE_AUDIT_OPTS_H

enum opt_format { OF_TEXT, OF_JSON, OF_SARIF };

struct opts {
    const char *report;     /* --report FILE: JSON report written there */
    enum opt_format format;
    const char *python;     /* --python: interpreter whose headers are used */
    const char *build_dir;  /* -p: directory holding compile_commands.json */
    int jobs;               /* -j N: parallel workers */
    int help;
    char **files;
    int nfiles;
    char **flags;           /* compiler flags after "--" */
    int nflags;
};

/* Parse ARGV (the arguments after "check"). On a usage error returns -1 and
 * sets *err to a malloc'd one-line message; the arrays point into ARGV. */
int opt_parse(int argc, char **argv, struct opts *o, char **err);
void opt_free(struct opts *o);
/* The --help text. */
const char *opt_usage(void);

#endif
