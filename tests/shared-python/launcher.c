/*
 * A python3.11 executable linked against the shared libpython3.11.so.1.0.
 *
 * Debian ships libpython3.11.so.1.0 but its /usr/bin/python3.11 is statically linked with the
 * interpreter, so code paths that only exist when the interpreter lives in a shared library (symbol
 * lookup through libpython, its own PLT/GOT, dlopen()ed extensions resolving against it) are never
 * exercised by it. lifeline's tests run every scenario under this launcher too.
 *
 * This is what Py_BytesMain(argc, argv) does, with one addition: the launcher is installed in a
 * cache directory outside /usr, so the prefix computation from the executable's location would not
 * be guaranteed to find the standard library. We pin PyConfig.home to the prefix of the system
 * interpreter (LAUNCHER_HOME, /usr on Debian) unless the user set PYTHONHOME. Setting it in the
 * config rather than in the environment keeps it out of child processes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>

#ifndef LAUNCHER_HOME
#define LAUNCHER_HOME L"/usr"
#endif

int
main(int argc, char **argv)
{
    PyStatus status;
    PyConfig config;

    PyConfig_InitPythonConfig(&config);

    /* Same argument parsing as the python3.11 executable (-c, -m, -X, -E, -I ...). */
    status = PyConfig_SetBytesArgv(&config, argc, argv);
    if (PyStatus_Exception(status))
        goto fail;

    const char *env_home = getenv("PYTHONHOME");
    if (env_home == NULL || env_home[0] == '\0') {
        status = PyConfig_SetString(&config, &config.home, LAUNCHER_HOME);
        if (PyStatus_Exception(status))
            goto fail;
    }

    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status))
        goto fail;
    PyConfig_Clear(&config);

    return Py_RunMain();

fail:
    PyConfig_Clear(&config);
    if (PyStatus_IsExit(status))
        return status.exitcode;
    /* Prints the error and exits like the interpreter does on a failed start (status 1). */
    Py_ExitStatusException(status);
}
