/* out: writers for lifeline check results (text, JSON report, SARIF). */
#ifndef LIFELINE_AUDIT_OUT_H
#define LIFELINE_AUDIT_OUT_H

#include <stdio.h>

#include "finding.h"

#define AUD_TOOL_NAME "lifeline"
#define AUD_TOOL_VERSION "0.1.0"

struct out_meta {
    int argc;               /* the check command's own arguments */
    char **argv;
    const char *py_version; /* NULL when unknown */
    int py_debug;
    const char *py_executable;
    int exit_status;
    unsigned files, functions;
    double seconds;
};

/* Each writer prints the whole document to OUT; they cannot fail except
 * through stdio, which the caller checks with ferror(). */
void out_text(FILE *out, const struct fnd_list *list, const struct out_meta *meta);
void out_json(FILE *out, const struct fnd_list *list, const struct out_meta *meta);
void out_sarif(FILE *out, const struct fnd_list *list, const struct out_meta *meta);

/* Print S as a JSON string literal (with quotes); NULL prints null. */
void out_json_str(FILE *out, const char *s);

#endif
