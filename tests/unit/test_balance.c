/* Unit tests of the balance of a reference-count history (cli/balance.c): the allocation's +1 at the
 * first frame outside the allocating module, pairing in the same function first, a release by a
 * function that only borrowed, oldest-first otherwise, steals, the unpaired +1s of a leaked object,
 * and when a history counts as complete. Events are built by hand as hs_attach would resolve them. */
#include <string.h>

#include "../../cli/balance.h"
#include "check.h"

static struct arena arena;

/* A one- or two-frame native stack: fn in module mod, called from caller (may be NULL). */
static struct fd_stack native(const char *mod, const char *fn, const char *file, int line, const char *caller)
{
    struct fd_frame *fr = arena_alloc(&arena, 2 * sizeof *fr);
    fr[0] = (struct fd_frame){.function = fn, .file = file, .line = line, .module = mod, .pc = 0x1000};
    fr[1] = (struct fd_frame){.function = caller, .file = file, .line = line + 100, .module = mod, .pc = 0x2000};
    return (struct fd_stack){.name = "x", .frames = fr, .n = caller ? 2 : 1};
}

/* An allocation made by the interpreter (python3.11) for fn of zoo.so. */
static struct fd_event alloc_in(const char *fn, int line)
{
    struct fd_frame *fr = arena_alloc(&arena, 3 * sizeof *fr);
    fr[0] = (struct fd_frame){.function = "PyObject_Malloc", .file = "obmalloc.c", .line = 712, .module = "python3.11"};
    fr[1] = (struct fd_frame){.function = "_PyObject_New", .file = "object.c", .line = 176, .module = "python3.11"};
    fr[2] = (struct fd_frame){.function = fn, .file = "/src/zoo.c", .line = line, .module = "zoo.so"};
    return (struct fd_event){.event = "alloc", .refcnt = -1, .stack = {.name = "alloc", .frames = fr, .n = 3}};
}

static struct fd_event ev(const char *what, int64_t refcnt, const char *fn, int line)
{
    return (struct fd_event){.event = what, .refcnt = refcnt, .stack = native("zoo.so", fn, "/src/zoo.c", line, "caller")};
}

static void test_site_labels(void)
{
    struct fd_event a = alloc_in("item_new", 49), e = ev("incref", 2, "remember", 101);
    CHECK(!strcmp(bl_site(&arena, &a), "zoo.c:49 (item_new)"));
    CHECK(!strcmp(bl_site(&arena, &e), "zoo.c:101 (remember)"));
    e.stack.frames[0].file = NULL;
    CHECK(!strcmp(bl_site(&arena, &e), "remember()"));
    e.stack.frames[0].function = NULL;
    CHECK(!strcmp(bl_site(&arena, &e), "0x1000"));
    e.stack.n = 0;
    CHECK(bl_site(&arena, &e) == NULL);
}

static void test_leak_names_the_extra_incref(void)
{
    struct fd_event h[] = {alloc_in("item_new", 49), ev("incref", 2, "remember", 101), ev("decref", 1, "trigger", 3)};
    struct fd_balance b;
    bl_balance(&arena, h, 3, true, true, &b);
    CHECK(b.present && b.complete && b.paired == 1 && b.nunpaired == 1);
    CHECK(b.unpaired[0].delta == 1 && b.unpaired[0].event == 1 && !strcmp(b.unpaired[0].site, "zoo.c:101 (remember)"));
    /* without a hardware watchpoint a live object's history may miss its last changes */
    bl_balance(&arena, h, 3, true, false, &b);
    CHECK(!b.complete && b.nunpaired == 1);
}

static void test_over_release_pairs_oldest_first(void)
{
    struct fd_event h[] = {alloc_in("item_new", 49), ev("incref", 2, "share", 68), ev("decref", 1, "unshare", 74),
                           ev("decref", 0, "forget", 81), ev("free", 0, "dealloc", 35)};
    struct fd_balance b;
    bl_balance(&arena, h, 5, false, false, &b);
    CHECK(b.complete && b.paired == 2 && b.nunpaired == 0);
}

static void test_same_function_first(void)
{
    /* g takes and drops its own reference; h's +1 and the allocation's stay open */
    struct fd_event h[] = {alloc_in("item_new", 49), ev("incref", 2, "h", 10), ev("incref", 3, "g", 20),
                           ev("decref", 2, "g", 22)};
    struct fd_balance b;
    bl_balance(&arena, h, 4, true, true, &b);
    CHECK(b.complete && b.paired == 1 && b.nunpaired == 2);
    CHECK(b.unpaired[0].event == 0 && b.unpaired[1].event == 1);
}

static void test_release_of_a_borrowed_reference(void)
{
    struct fd_event h[] = {alloc_in("item_new", 49), ev("borrow", 1, "total", 130), ev("decref", 0, "total", 139),
                           ev("free", 0, "dealloc", 35)};
    h[1].func = "PyList_GetItem";
    struct fd_balance b;
    bl_balance(&arena, h, 4, false, false, &b);
    CHECK(b.nunpaired == 1 && b.unpaired[0].delta == -1 && b.unpaired[0].borrowed && b.unpaired[0].event == 2);
    CHECK(b.complete); /* every count follows; the owner's +1 is what the borrower's -1 took */
}

static void test_steal_moves_the_reference_to_the_container(void)
{
    struct fd_event h[] = {alloc_in("item_new", 49), ev("steal", 1, "build", 60), ev("decref", 0, "tupledealloc", 900),
                           ev("free", 0, "dealloc", 35)};
    struct fd_balance b;
    bl_balance(&arena, h, 4, false, true, &b);
    CHECK(b.complete && b.paired == 2 && b.nunpaired == 0);
}

static void test_unpaired_decrement_and_gaps(void)
{
    struct fd_event h[] = {alloc_in("item_new", 49), ev("decref", 0, "a", 1), ev("decref", -1, "b", 2)};
    struct fd_balance b;
    bl_balance(&arena, h, 3, true, true, &b);
    CHECK(b.nunpaired == 1 && b.unpaired[0].delta == -1 && !b.unpaired[0].borrowed && b.unpaired[0].event == 2);
    /* a count that does not follow from the one before: changes were missed */
    struct fd_event g[] = {alloc_in("item_new", 49), ev("incref", 5, "a", 1), ev("free", 0, "d", 2)};
    bl_balance(&arena, g, 3, false, true, &b);
    CHECK(!b.complete);
    /* no allocation first: no balance */
    bl_balance(&arena, g + 1, 2, false, true, &b);
    CHECK(!b.present);
}

int main(void)
{
    test_site_labels();
    test_leak_names_the_extra_incref();
    test_over_release_pairs_oldest_first();
    test_same_function_first();
    test_release_of_a_borrowed_reference();
    test_steal_moves_the_reference_to_the_container();
    test_unpaired_decrement_and_gaps();
    arena_free(&arena);
    return check_summary("balance");
}
