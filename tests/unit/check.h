/* A minimal test harness for the C unit tests: CHECK records a failure and
 * goes on; check_summary prints the "N passed, M failed" line the CI reads. */
#ifndef LL_CHECK_H
#define LL_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            check_passed++;                                                                \
        } else {                                                                           \
            check_failed++;                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                  \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("%s\n%d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
