/* A program that looks like a CPython of another version to the agent: it
 * exports the symbols the agent probes (Py_Version, PyMem_SetAllocator),
 * with the version given at build time, and with FAKE_FREE_THREADED the
 * symbol only free-threaded builds export. Used to check that an unsupported
 * interpreter is refused with a clear message, not crashed on. */
#include <stdio.h>

const unsigned long Py_Version = FAKE_PY_VERSION;

void PyMem_SetAllocator(int domain, void *allocator)
{
    (void)domain;
    (void)allocator;
}

void PyMem_GetAllocator(int domain, void *allocator)
{
    (void)domain;
    (void)allocator;
}

#ifdef FAKE_FREE_THREADED
void _Py_MergeZeroLocalRefcount(void *op)
{
    (void)op;
}
#endif

int main(void)
{
    puts("fake python ran");
    return 0;
}
