/* What one sample's page protection costs: a pool of 512 slots laid out as
 * agent/guardpool.c lays them (a data page between guard pages, all
 * PROT_NONE), each alloc and free a pair of mprotects of one data page.
 * "merged": the pool is one mapping, split and merged back at every pair;
 * "separate": each data page is a mapping of its own for good
 * (MADV_NOHUGEPAGE, which the guards lack), as sampling mode's pool does.
 *
 *   cc -O2 -o /tmp/pool_mprotect bench/pool_mprotect.c && /tmp/pool_mprotect && /tmp/pool_mprotect separate
 */
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#define SLOTS 512
#define PAIRS 20000
#define PAGE 4096

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int separate = argc > 1;
    char *base = mmap(NULL, (2 * SLOTS + 1) * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return 1;
    for (size_t i = 0; separate && i < SLOTS; i++)
        if (madvise(base + (1 + 2 * i) * PAGE, PAGE, MADV_NOHUGEPAGE) != 0)
            perror("madvise");
    double t = now();
    for (int k = 0; k < PAIRS; k++) {
        char *page = base + (1 + 2 * ((size_t)k * 7 % SLOTS)) * PAGE;
        mprotect(page, PAGE, PROT_READ | PROT_WRITE);
        page[0] = 1;
        mprotect(page, PAGE, PROT_NONE);
    }
    printf("%s: %.2f us per alloc and free\n", separate ? "separate" : "merged", (now() - t) / PAIRS * 1e6);
    return 0;
}
