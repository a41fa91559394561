/* Unit tests of the agent's table of live blocks: its two stores (the
 * shadow for aligned blocks under 16 MiB, the hash table for the rest) must
 * agree with a simple model under churn, in the normal set-up and in
 * processes whose address space leaves room for no shadow, for its
 * directory but no chunk, or for some chunks and not others. The
 * addresses are only keys: no memory is allocated at them. */
#include <pthread.h>
#include <sched.h>
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

/* Now and then too big for a shadow word, so that one address moves
 * between the two stores. */
static uint64_t size_for(unsigned r)
{
    if (r % 13 == 0)
        return (64ull << 20) + r;
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

/* This process's address space in MiB (VmSize). */
static long vm_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib < 0 ? -1 : kib / 1024;
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
                m[i] = (struct model){true, size_for(r), (uint8_t)(r % 22), (r >> 5) & 1, false};
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
    /* A huge block never seen freed, then a small one at its address. */
    CHECK(live_add(a, 100ull << 20, 13, false));
    CHECK(live_add(a, 48, 4, true));
    CHECK(live_find(a, &li) && li.size == 48 && li.guarded);
    CHECK(live_remove(a, &li) && li.size == 48);
    CHECK(!live_find(a, NULL) && !live_remove(a, NULL));
    CHECK(live_count() == 0);
    /* The largest size a shadow word holds, and the smallest it does not. */
    CHECK(live_add(a, (1ull << 24) - 1, 2, false) && live_add(a + 16, 1ull << 24, 2, false));
    CHECK(live_find(a, &li) && li.size == (1ull << 24) - 1);
    CHECK(live_find(a + 16, &li) && li.size == 1ull << 24);
    CHECK(live_remove(a, NULL) && live_remove(a + 16, NULL) && live_count() == 0);
    /* A sparse block, among shadowed ones. */
    CHECK(live_add(0x20000ff0ull, 16, 8, false));
    CHECK(live_add_sparse(0x20001000ull, 24, 8));
    CHECK(live_find(0x20001000ull, &li) && li.size == 24 && li.api == 8 && !li.guarded);
    CHECK(live_count() == 2);
    CHECK(live_remove(0x20001000ull, &li) && li.size == 24);
    CHECK(!live_find(0x20001000ull, NULL) && !live_find(0x20000fe0ull, NULL));
    CHECK(live_remove(0x20000ff0ull, NULL) && live_count() == 0);
    CHECK(live_add(1ull << 50, 16, 1, false)); /* beyond the shadow's reach */
    CHECK(live_find(1ull << 50, &li) && li.size == 16);
    CHECK(live_remove(1ull << 50, NULL));
}

/* The same in a child whose address space is limited to `room` MiB more
 * than it has: 8 leaves no room for the shadow's directory (16 MiB), so
 * every block goes to the table; 24 room for the directory and no chunk
 * (16 MiB each), so every range's chunk fails; 56 for two chunks, so some
 * ranges are shadowed and the others not. */
static bool in_limited_address_space(long room, long grow_min, long grow_max)
{
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0) {
        struct rlimit rl;
        long before = vm_mib();
        rl.rlim_cur = rl.rlim_max = (rlim_t)(before + room) << 20;
        CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
        test_churn();
        test_stale_word();
        long grew = vm_mib() - before; /* what the shadow reserved, in MiB */
        CHECK(grew >= grow_min && grew <= grow_max);
        _exit(check_failed ? 1 : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Two threads free one block at the same moment, many times: exactly one
 * may find it live each time (the other then reports a double free,
 * instead of handing the block to its allocator twice). */
enum { RACE_ROUNDS = 20000 };
static uintptr_t race_addr = 0x30000000ull;
static int race_added, race_arrived[2];
static unsigned race_wins[RACE_ROUNDS];

static void wait_for(const int *counter, int round)
{
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < round)
        sched_yield();
}

static void *racer(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (int r = 1; r <= RACE_ROUNDS; r++) {
        if (me == 0) {
            /* Every other round a huge block: its word says "in the table". */
            live_add(race_addr, r % 2 ? 32 : 32ull << 20, 4, false);
            __atomic_store_n(&race_added, r, __ATOMIC_RELEASE);
        } else {
            wait_for(&race_added, r);
        }
        if (live_remove(race_addr, NULL))
            __atomic_add_fetch(&race_wins[r - 1], 1, __ATOMIC_RELAXED);
        __atomic_store_n(&race_arrived[me], r, __ATOMIC_RELEASE);
        wait_for(&race_arrived[!me], r);
    }
    return NULL;
}

static void test_racing_frees(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, racer, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    size_t wrong = 0;
    for (int r = 0; r < RACE_ROUNDS; r++)
        wrong += race_wins[r] != 1;
    CHECK(wrong == 0);
    CHECK(live_count() == 0);
    /* The chunk's count of huge blocks' words came back to 0, not below:
     * one never freed, then a small block at its address, still drops the
     * huge block's entry. */
    CHECK(live_add(race_addr + 64, 32ull << 20, 4, false) && live_add(race_addr + 64, 16, 4, false));
    CHECK(live_remove(race_addr + 64, NULL) && live_count() == 0);
}

int main(void)
{
    /* First, before this process reserves its own shadow. */
    CHECK(in_limited_address_space(8, 0, 7));
    CHECK(in_limited_address_space(24, 16, 23));
    CHECK(in_limited_address_space(56, 48, 55));
    long before = vm_mib();
    test_churn();
    test_stale_word();
    test_racing_frees();
    CHECK(vm_mib() - before >= 16 + 3 * 16); /* the directory and the chunks of three ranges at least */
    return check_summary("test_live");
}
