/* Unit tests of the agent's table of live blocks: its two stores (the
 * shadow for aligned blocks under 16 MiB, the hash table for the rest) must
 * agree with a simple model under churn, in the normal set-up and in a
 * process whose address space is too small to reserve the shadow. The
 * addresses are only keys: no memory is allocated at them. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/live.h"
#include "check.h"

enum { SLOTS = 40000 };

struct model {
    bool live;
    uint64_t size;
    uint8_t api;
    bool guarded, typed;
};

/* Slot i's address: most 16-byte aligned and close together (a dense
 * heap), some only 8-byte aligned, some in a second, far region. */
static uintptr_t addr_of(size_t i)
{
    if (i % 7 == 3)
        return 0x7f1234500008ull + i * 48;
    if (i % 11 == 5)
        return 0x5500000000ull + i * 4096;
    return 0x10000000ull + i * 32;
}

static uint64_t size_for(size_t i, unsigned r)
{
    if (i % 13 == 0)
        return (64ull << 20) + r; /* too big for a shadow word */
    return r % 600;
}

struct tally {
    const struct model *m;
    size_t seen, wrong;
};

/* The slot of an address addr_of gave, or SLOTS. */
static size_t slot_of(uintptr_t addr)
{
    size_t i = SLOTS;
    if (addr >= 0x7f1234500008ull)
        i = (addr - 0x7f1234500008ull) / 48;
    else if (addr >= 0x5500000000ull)
        i = (addr - 0x5500000000ull) / 4096;
    else if (addr >= 0x10000000ull)
        i = (addr - 0x10000000ull) / 32;
    return i < SLOTS && addr_of(i) == addr ? i : SLOTS;
}

static void tally_one(uintptr_t addr, const struct live_info *li, void *arg)
{
    struct tally *t = arg;
    size_t i = slot_of(addr);
    const struct model *e = &t->m[i < SLOTS ? i : 0];
    t->seen++;
    if (i == SLOTS || !e->live || e->size != li->size || e->api != li->api || e->guarded != li->guarded ||
        e->typed != li->typed)
        t->wrong++;
}

/* True when this process has a mapping of a terabyte or more: the shadow. */
static bool has_shadow_mapping(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool found = false;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && hi - lo >= (1ull << 40))
            found = true;
    }
    if (f)
        fclose(f);
    return found;
}

/* Random churn against the model, then the walks. */
static void test_churn(void)
{
    struct model *m = calloc(SLOTS, sizeof *m);
    unsigned seed = 12345;
    size_t wrong = 0; /* one CHECK for the churn, not one per operation */
    for (int op = 0; op < 400000; op++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        size_t i = r % SLOTS;
        uintptr_t a = addr_of(i);
        struct live_info li;
        switch (op % 4) {
        case 0:
        case 1:
            if (!m[i].live) {
                m[i] = (struct model){true, size_for(i, r), (uint8_t)(r % 22), (r >> 5) & 1, false};
                wrong += !live_add(a, m[i].size, m[i].api, m[i].guarded);
            }
            break;
        case 2: {
            bool found = live_remove(a, &li);
            wrong += found != m[i].live;
            if (found)
                wrong += !(li.size == m[i].size && li.api == m[i].api && li.guarded == m[i].guarded &&
                           li.typed == m[i].typed);
            m[i].live = false;
            break;
        }
        default:
            if (r & 1) {
                live_set_typed(a);
                if (m[i].live)
                    m[i].typed = true;
            }
            wrong += live_find(a, &li) != m[i].live;
            if (m[i].live)
                wrong += !(li.size == m[i].size && li.typed == m[i].typed);
            break;
        }
    }
    CHECK(wrong == 0);
    size_t live = 0, untyped = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        live += m[i].live;
        untyped += m[i].live && !m[i].typed;
    }
    CHECK(live > 1000 && untyped > 100 && untyped < live);
    CHECK(live_count() == live);
    struct tally t = {m, 0, 0};
    live_each(tally_one, &t);
    CHECK(t.seen == live && t.wrong == 0);
    t = (struct tally){m, 0, 0};
    live_each_untyped(tally_one, &t);
    CHECK(t.seen == untyped && t.wrong == 0);
    wrong = 0;
    for (size_t i = 0; i < SLOTS; i++)
        if (m[i].live)
            wrong += !live_remove(addr_of(i), NULL);
    CHECK(wrong == 0);
    CHECK(live_count() == 0);
    free(m);
}

/* A block the agent never saw freed, then a huge block at its address: the
 * table's entry must not be hidden by the old shadow word. */
static void test_stale_word(void)
{
    struct live_info li;
    uintptr_t a = 0x20000000ull;
    CHECK(live_add(a, 32, 4, false));
    CHECK(live_add(a, 100ull << 20, 13, false)); /* the small one's free was never seen */
    CHECK(live_find(a, &li) && li.size == (100ull << 20) && li.api == 13);
    CHECK(live_remove(a, &li) && li.size == (100ull << 20));
    CHECK(!live_find(a, NULL) && !live_remove(a, NULL));
    CHECK(!live_find(0x20000010ull, NULL)); /* never added */
    CHECK(live_add_sparse(0x20001000ull, 24, 8));
    CHECK(live_find(0x20001000ull, &li) && li.size == 24 && li.api == 8 && !li.guarded);
    CHECK(live_count() == 1);
    CHECK(live_remove(0x20001000ull, &li) && li.size == 24);
    CHECK(live_add(1ull << 50, 16, 1, false)); /* beyond the shadow's reach */
    CHECK(live_find(1ull << 50, &li) && li.size == 16);
    CHECK(live_remove(1ull << 50, NULL));
}

/* The same in a child that cannot reserve the shadow: every block goes to
 * the table. */
static int in_small_address_space(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {1ull << 30, 1ull << 30};
        setrlimit(RLIMIT_AS, &rl);
        test_churn();
        test_stale_word();
        CHECK(!has_shadow_mapping());
        _exit(check_failed ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
    /* First, before this process reserves its own shadow. */
    CHECK(in_small_address_space());
    CHECK(!has_shadow_mapping());
    test_churn();
    test_stale_word();
    CHECK(has_shadow_mapping());
    return check_summary("test_live");
}
