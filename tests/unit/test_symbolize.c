/* test_symbolize.c - unit test for cli/symbolize.c.
 *
 * usage: test_symbolize PATH/libsymfix.so [VARIANT.so...]
 * The fixture (tests/unit/symbolize_fixture.c, -O2 -g -fPIC -shared) is
 * dlopened; every module of this process is registered the way the agent's
 * journal would describe it (path, load bias, mapped range from
 * dl_iterate_phdr).  Last line of output: "N passed, M failed".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NOLOAD */
#endif
#include "symbolize.h"

#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

/* Records one assertion; prints only failures so the output stays short. */
static void check(bool ok, const char *what, int line)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL line %d: %s\n", line, what);
}
#define CHECK(cond) check((cond), #cond, __LINE__)

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return s != NULL && n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Prints a resolved chain; only called when an assertion about it failed. */
static void dump(const char *label, const struct sym_frame *f, int n, const char *module)
{
    printf("  %s: %d frame(s) in %s\n", label, n, module ? module : "(none)");
    for (int i = 0; i < n; i++)
        printf("    #%d %s at %s:%d%s\n", i, f[i].function ? f[i].function : "??",
               f[i].file ? f[i].file : "??", f[i].line, f[i].inlined ? " (inlined)" : "");
}

/* ------------------------------------------------------------ registration */

struct reg_ctx {
    struct sym_table *t;
    int added;
};

/* Registers one loaded object as the journal would: bias = dlpi_addr,
   range = union of its PT_LOAD segments.  The main program has an empty
   name, so its path comes from /proc/self/exe. */
static int register_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct reg_ctx *c = arg;
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uint64_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < lo)
            lo = s;
        if (s + ph->p_memsz > hi)
            hi = s + ph->p_memsz;
    }
    char exe[4096];
    const char *path = info->dlpi_name;
    if (path == NULL || path[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return 0;
        exe[n] = '\0';
        path = exe;
    }
    /* The vDSO has no file; its -1 is expected and harmless. */
    if (lo < hi && sym_add_module(c->t, path, info->dlpi_addr, lo, hi) == 0)
        c->added++;
    return 0;
}

/* -------------------------------------------------------------- fixture */

struct fixture {
    int (*plain)(int);
    int (*outer)(int);
    uintptr_t (*last_ra)(void);
    int (*line)(int);
};

/* Loads the fixture's entry points.  Returns false (and reports) on error. */
static bool load_fixture(const char *path, struct fixture *fx)
{
    void *h = dlopen(path, RTLD_NOW);
    if (h == NULL) {
        printf("dlopen %s: %s\n", path, dlerror());
        return false;
    }
    fx->plain = (int (*)(int))dlsym(h, "symfix_plain");
    fx->outer = (int (*)(int))dlsym(h, "symfix_outer");
    fx->last_ra = (uintptr_t (*)(void))dlsym(h, "symfix_last_ra");
    fx->line = (int (*)(int))dlsym(h, "symfix_line");
    return fx->plain && fx->outer && fx->last_ra && fx->line;
}

/* ---------------------------------------------------------------- tests */

static void test_missing_and_not_elf(void)
{
    struct sym_table *t = sym_open();
    CHECK(t != NULL);
    CHECK(sym_add_module(t, "/nonexistent/lifeline/libnope.so", 0x1000, 0x1000, 0x2000) == -1);

    char tmp[] = "/tmp/symtest-notelf-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0 && write(fd, "not an ELF file\n", 16) == 16);
    close(fd);
    CHECK(sym_add_module(t, tmp, 0x500000, 0x500000, 0x600000) == -1);

    /* A module that failed to open still owns its range: function unknown. */
    struct sym_frame f[4];
    const char *mod = NULL;
    int n = sym_lookup(t, 0x500010, f, 4, &mod);
    CHECK(n == 1 && f[0].function == NULL && f[0].file == NULL && f[0].line == 0);
    CHECK(str_eq(mod, tmp));
    n = sym_lookup(t, 0x1010, f, 4, &mod);
    CHECK(n == 1 && f[0].function == NULL && str_eq(mod, "/nonexistent/lifeline/libnope.so"));
    unlink(tmp);
    sym_close(t);
}

static void test_unknown(struct sym_table *t)
{
    struct sym_frame f[4];
    const char *mod = "sentinel";
    int n = sym_lookup(t, 0x10, f, 4, &mod);
    CHECK(n == 1);
    CHECK(f[0].function == NULL && f[0].file == NULL && f[0].line == 0 && !f[0].inlined);
    CHECK(mod == NULL);
    CHECK(sym_lookup(t, 0x10, f, 0, &mod) == 0);
}

static void test_plain(struct sym_table *t, const struct fixture *fx, const char *path)
{
    fx->plain(41);
    struct sym_frame f[8];
    const char *mod = NULL;
    int n = sym_lookup(t, fx->last_ra() - 1, f, 8, &mod);
    bool ok = n == 1 && str_eq(f[0].function, "symfix_plain") &&
              ends_with(f[0].file, "symbolize_fixture.c") && f[0].line == fx->line(0) &&
              !f[0].inlined && str_eq(mod, path);
    CHECK(ok);
    if (!ok)
        dump("plain", f, n, mod);

    /* Function entry (not a return address) resolves to the same function. */
    n = sym_lookup(t, (uintptr_t)fx->plain, f, 8, &mod);
    CHECK(n == 1 && str_eq(f[0].function, "symfix_plain"));
    CHECK(f[0].file != NULL && f[0].file[0] == '/');   /* full path */
}

static void test_inline(struct sym_table *t, const struct fixture *fx)
{
    fx->outer(5);
    uint64_t pc = fx->last_ra() - 1;
    struct sym_frame f[8];
    const char *mod = NULL;
    int n = sym_lookup(t, pc, f, 8, &mod);
    bool ok = n == 3 &&
              str_eq(f[0].function, "symfix_inner") && f[0].inlined && f[0].line == fx->line(0) &&
              str_eq(f[1].function, "symfix_middle") && f[1].inlined && f[1].line == fx->line(1) &&
              str_eq(f[2].function, "symfix_outer") && !f[2].inlined && f[2].line == fx->line(2) &&
              ends_with(f[0].file, "symbolize_fixture.c") &&
              ends_with(f[1].file, "symbolize_fixture.c") &&
              ends_with(f[2].file, "symbolize_fixture.c");
    CHECK(ok);
    if (!ok)
        dump("inline", f, n, mod);

    /* Too small a buffer keeps the real function last. */
    n = sym_lookup(t, pc, f, 1, &mod);
    CHECK(n == 1 && str_eq(f[0].function, "symfix_outer") && !f[0].inlined);
    n = sym_lookup(t, pc, f, 2, &mod);
    CHECK(n == 2 && str_eq(f[0].function, "symfix_inner") && str_eq(f[1].function, "symfix_outer"));
}

/* libc's own malloc.  Not &malloc (a non-PIC executable may hand out a
   PLT address) nor RTLD_DEFAULT (an interposer such as ASan's or lifeline's
   own agent would answer). */
static void *libc_malloc(void)
{
    void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *m = h ? dlsym(h, "malloc") : NULL;
    if (h != NULL)
        dlclose(h);
    return m;
}

static void test_exe_and_libc(struct sym_table *t)
{
    struct sym_frame f[8];
    const char *mod = NULL;
    int n = sym_lookup(t, (uintptr_t)&test_exe_and_libc, f, 8, &mod);
    bool ok = n >= 1 && str_eq(f[n - 1].function, "test_exe_and_libc") && mod != NULL;
    CHECK(ok);
    if (!ok)
        dump("exe", f, n, mod);

    void *m = libc_malloc();
    n = sym_lookup(t, (uintptr_t)m, f, 8, &mod);
    ok = n >= 1 && f[n - 1].function != NULL && strstr(f[n - 1].function, "malloc") &&
         mod != NULL && strstr(mod, "libc.so");
    CHECK(ok);
    if (!ok)
        dump("libc malloc", f, n, mod);
}

/* Same pc twice gives the same strings (served from the cache). */
static void test_cache_identity(struct sym_table *t, const struct fixture *fx)
{
    struct sym_frame a[8], b[8];
    uint64_t pc = (uintptr_t)fx->outer;
    int na = sym_lookup(t, pc, a, 8, NULL);
    int nb = sym_lookup(t, pc, b, 8, NULL);
    CHECK(na == nb && na >= 1 && a[0].function == b[0].function && a[0].file == b[0].file);
}

/* Many distinct pcs across libc: forces cache growth, and a second pass
   must agree with the first. */
static void test_many(struct sym_table *t)
{
    void *m = libc_malloc();
    if (m == NULL) {
        CHECK(!"libc malloc found");
        return;
    }
    enum { N = 20000 };
    static const char *first[N];
    uint64_t base = (uintptr_t)m & ~(uint64_t)0xfffff;
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < N; i++) {
            struct sym_frame f[16];
            const char *mod;
            int n = sym_lookup(t, base + (uint64_t)i * 13, f, 16, &mod);
            if (n < 1 || n > 16)
                bad++;
            else if (pass == 0)
                first[i] = f[n - 1].function;
            else if (first[i] != f[n - 1].function)
                bad++;
        }
    }
    CHECK(bad == 0);
}

/* A pc looked up before its module was registered must not stay cached as
   unknown; a module registered later over the same range takes over. */
static void test_late_and_overlap(const struct fixture *fx)
{
    struct sym_table *t = sym_open();
    struct reg_ctx c = { .t = t };
    struct sym_frame f[4];
    const char *mod = "sentinel";
    uint64_t pc = (uintptr_t)fx->plain;
    CHECK(t != NULL);
    if (t == NULL)
        return;
    CHECK(sym_lookup(t, pc, f, 4, &mod) == 1 && f[0].function == NULL && mod == NULL);
    dl_iterate_phdr(register_one, &c);
    CHECK(sym_lookup(t, pc, f, 4, &mod) == 1 && str_eq(f[0].function, "symfix_plain"));
    CHECK(sym_add_module(t, "/nonexistent/lifeline/over.so", 0, pc - 16, pc + 16) == -1);
    CHECK(sym_lookup(t, pc, f, 4, &mod) == 1 && f[0].function == NULL &&
          str_eq(mod, "/nonexistent/lifeline/over.so"));
    sym_close(t);
}

/* Runs every in-process check against one fixture build, with a fresh
   table that registers all modules of the process. */
static void test_fixture(const char *path)
{
    struct fixture fx;
    if (!load_fixture(path, &fx)) {
        CHECK(!"fixture loads");
        return;
    }
    struct sym_table *t = sym_open();
    struct reg_ctx c = { .t = t };
    CHECK(t != NULL);
    if (t == NULL)
        return;
    dl_iterate_phdr(register_one, &c);
    CHECK(c.added >= 3);    /* exe, fixture, libc at least */
    test_unknown(t);
    test_plain(t, &fx, path);   /* dlpi_name is the dlopen path */
    test_inline(t, &fx);
    test_exe_and_libc(t);
    test_cache_identity(t, &fx);
    test_many(t);
    sym_close(t);
    test_late_and_overlap(&fx);
}

/* Each argument is one build of symbolize_fixture.c: the plain one, and
   optionally variants (e.g. linked with -Wl,-Ttext-segment=0x400000 so the
   first PT_LOAD is not at vaddr 0, or stripped with a .gnu_debuglink). */
int main(int argc, char **argv)
{
    test_missing_and_not_elf();
    if (argc < 2) {
        /* Run without arguments (as tests/run-all does): the fixtures built
           beside this program. */
        char dir[4096], path[4200];
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        dir[n > 0 ? n : 0] = 0;
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        snprintf(path, sizeof path, "%s/libsymfix.so", dir);
        test_fixture(path);
        snprintf(path, sizeof path, "%s/libsymfix_nz.so", dir);
        test_fixture(path);
    }
    for (int i = 1; i < argc; i++)
        test_fixture(argv[i]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
