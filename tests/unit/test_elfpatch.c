/* agent/elfpatch.c against fixture objects (tests/unit/elfpatch_fixture.c):
 * every way an object can use a function is redirected, in writable and in
 * RELRO pages, bound at once or lazily; an object present at ep_init, and one
 * that defines the function itself, are left alone; patching twice changes
 * nothing. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../agent/elfpatch.h"
#include "check.h"

typedef int (*answer_fn)(void);

/* What the fixtures import: exported by this program (-rdynamic). */
__attribute__((visibility("default"), noinline)) int PyTest_Answer(void)
{
    return 1;
}

__attribute__((visibility("default"), noinline)) int PyTest_Call(void)
{
    return 1;
}

static int replacement(void)
{
    return 2;
}

/* The fixture's own view of its four uses. */
struct fixture {
    void *handle;
    answer_fn *pointer;
    const answer_fn *const_pointer;
    int (*call)(void);
    answer_fn (*address)(void);
};

static int open_fixture(const char *dir, const char *name, int mode, struct fixture *f)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f->handle = dlopen(path, mode);
    if (!f->handle) {
        fprintf(stderr, "%s\n", dlerror());
        return 0;
    }
    f->pointer = dlsym(f->handle, "fixture_pointer");
    f->const_pointer = dlsym(f->handle, "fixture_const_pointer");
    f->call = (int (*)(void))dlsym(f->handle, "fixture_call");
    f->address = (answer_fn (*)(void))dlsym(f->handle, "fixture_address");
    return f->pointer && f->const_pointer && f->call && f->address;
}

/* True if all four uses of f lead to `want`. */
static int uses_lead_to(const struct fixture *f, answer_fn want)
{
    return *f->pointer == want && *f->const_pointer == want && f->address() == want && f->call() == want();
}

/* libepfix_startup.so is linked in: loaded before ep_init. */
int fixture_startup_call(void);

int main(int argc, char **argv)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", argv[0]);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    (void)argc;
    ep_init();
    struct fixture now, lazy, defines, startup;
    CHECK(open_fixture(dir, "libepfix_now.so", RTLD_NOW, &now));
    CHECK(open_fixture(dir, "libepfix_lazy.so", RTLD_LAZY, &lazy));
    CHECK(open_fixture(dir, "libepfix_defines.so", RTLD_NOW, &defines));
    CHECK(open_fixture(dir, "libepfix_startup.so", RTLD_NOW | RTLD_NOLOAD, &startup));
    CHECK(uses_lead_to(&now, PyTest_Answer));

    struct ep_target t[] = {{"PyTest_Other", 0, 0},
                            {"PyTest_Answer", (uintptr_t)PyTest_Answer, (uintptr_t)replacement},
                            {"PyTest_Call", (uintptr_t)PyTest_Call, (uintptr_t)replacement}};
    unsigned n = ep_patch_new(t, 3);
    CHECK(n == 8); /* four words in each of now and lazy */
    CHECK(uses_lead_to(&now, replacement));
    CHECK(uses_lead_to(&lazy, replacement));
    CHECK(*defines.pointer != (answer_fn)replacement && defines.call() != 2);
    CHECK(uses_lead_to(&startup, PyTest_Answer) && fixture_startup_call() == 1);
    CHECK(ep_patch_new(t, 3) == 0);
    return check_summary("test_elfpatch");
}
