#include "pyver.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static const struct pyver_layout *const supported[] = {&pyver_311, &pyver_313, &pyver_313d, &pyver_313t};

const struct pyver_layout *pyver_lookup(unsigned major, unsigned minor, bool debug, bool free_threaded)
{
    for (size_t i = 0; i < sizeof supported / sizeof *supported; i++) {
        const struct pyver_layout *t = supported[i];
        if (t->major == major && t->minor == minor && t->free_threaded == free_threaded &&
            (t->debug == PYVER_ANY_BUILD || t->debug == (int)debug))
            return t;
    }
    return NULL;
}

const char *pyver_supported_list(void)
{
    return "3.11, 3.13, 3.13t (free-threaded)";
}

/* Reads the version from Py_Version (3.11+) or, for older interpreters, the
 * text of Py_GetVersion(), which only formats static data. */
static bool read_version(unsigned *major, unsigned *minor)
{
    const unsigned long *hex = dlsym(RTLD_DEFAULT, "Py_Version");
    if (hex) {
        *major = (unsigned)(*hex >> 24) & 0xff;
        *minor = (unsigned)(*hex >> 16) & 0xff;
        return true;
    }
    const char *(*get_version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    return get_version && sscanf(get_version(), "%u.%u", major, minor) == 2;
}

enum pyver_status pyver_detect(const struct pyver_layout **layout, char *version_out, size_t cap,
                               bool *debug_build)
{
    unsigned major = 0, minor = 0;
    *layout = NULL;
    if (!dlsym(RTLD_DEFAULT, "PyMem_SetAllocator") || !read_version(&major, &minor))
        return PYVER_NOT_PYTHON;
    if (version_out)
        snprintf(version_out, cap, "%u.%u", major, minor);
    /* _Py_RefTotal exists only in Py_DEBUG builds (through 3.11);
     * _Py_NegativeRefcount is debug-only in every version. */
    *debug_build = dlsym(RTLD_DEFAULT, "_Py_RefTotal") != NULL ||
                   dlsym(RTLD_DEFAULT, "_Py_NegativeRefcount") != NULL;
    /* The free-threaded build exports the merging of its split reference
     * counts; its object header is another one, with its own table. */
    bool free_threaded = dlsym(RTLD_DEFAULT, "_Py_MergeZeroLocalRefcount") != NULL;
    if (free_threaded && version_out)
        snprintf(version_out, cap, "%u.%ut (free-threaded)", major, minor);
    *layout = pyver_lookup(major, minor, *debug_build, free_threaded);
    return *layout ? PYVER_OK : PYVER_UNSUPPORTED;
}
