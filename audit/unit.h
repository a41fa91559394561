/* unit: check one translation unit (parse it, then run the function and
 * type analyses over what its main file defines). */
#ifndef LIFELINE_AUDIT_UNIT_H
#define LIFELINE_AUDIT_UNIT_H

#include <clang-c/Index.h>

#include "finding.h"

struct unit_result {
    unsigned functions;     /* function definitions analysed */
    char *error;            /* set (malloc'd) when the file could not be parsed */
};

/* Parse FILE with compiler ARGS and append its findings to OUT. DISPLAY is
 * the file name used in findings. On a parse failure res->error describes
 * it and nothing is appended. */
void unit_check(CXIndex idx, const char *file, const char *display, const char *const *args,
                int nargs, struct fnd_list *out, struct unit_result *res);

#endif
