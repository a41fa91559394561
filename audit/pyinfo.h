/* pyinfo: facts about the target interpreter (version, debug build,
 * executable, C header directory), asked from the interpreter itself. */
#ifndef LIFELINE_AUDIT_PYINFO_H
#define LIFELINE_AUDIT_PYINFO_H

struct pyinfo {
    char *version;
    int debug;
    char *executable;
    char *include;
};

/* Run PYTHON (a path or a name looked up in PATH; NULL for the default
 * /usr/bin/python3.11). Returns 0, or -1 with a malloc'd message in *err. */
int pyi_query(const char *python, struct pyinfo *info, char **err);
void pyi_free(struct pyinfo *info);

#endif
