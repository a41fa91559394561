/* symbolize_fixture.c - code with known shape for test_symbolize.
 *
 * Built -O2 -g -fPIC -shared into libsymfix.so and dlopened by the test.
 * Each probe records the return address of a call made on a known line, so
 * the test can resolve a real return address (minus 1) and compare against
 * the __LINE__ values recorded at the call sites: no line numbers are
 * hard-coded in the test.
 */
#include <stdint.h>

/* What the last probe saw: return address and the call-site lines,
   innermost first ([0] = line of the probe call). */
static uintptr_t symfix_ra;
static int symfix_lines[3];

/* GCC may otherwise clone a noinline function per constant argument. */
#if defined(__clang__)
#define SYMFIX_NOINLINE __attribute__((noinline))
#else
#define SYMFIX_NOINLINE __attribute__((noinline, noclone))
#endif

/* Records its own return address.  Kept a real call from every caller, so
   the return address is inside that caller's code. */
SYMFIX_NOINLINE void symfix_probe(int line)
{
    symfix_ra = (uintptr_t)__builtin_return_address(0);
    symfix_lines[0] = line;
    __asm__ volatile("" ::: "memory");
}

uintptr_t symfix_last_ra(void) { return symfix_ra; }
int symfix_line(int i) { return symfix_lines[i]; }

/* Non-inlined function with a probe call: the plain frame case. */
SYMFIX_NOINLINE int symfix_plain(int x)
{
    symfix_probe(__LINE__);
    return x + 1;
}

/* Two levels of forced inlining: outer -> middle -> inner -> probe.  Each
   level passes down the line it was called from. */
static inline __attribute__((always_inline)) int symfix_inner(int x, int called_at)
{
    symfix_lines[1] = called_at;
    symfix_probe(__LINE__);
    return x * 3;
}

static inline __attribute__((always_inline)) int symfix_middle(int x, int called_at)
{
    symfix_lines[2] = called_at;
    return symfix_inner(x, __LINE__) + 1;
}

SYMFIX_NOINLINE int symfix_outer(int x)
{
    return symfix_middle(x, __LINE__) + 2;
}
