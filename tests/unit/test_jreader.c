/* Unit tests of the journal reader's followed replay (jr_follow): a writer
 * here plays the agent's protocol on a real file (blocks taken in file
 * order with their first seq read at that moment, a seq taken before its
 * record is committed, `used` stored after the record), several threads
 * interleaved at random, and the reader follows between any two steps.
 * Whatever the interleaving, the followed replay and the replay after the
 * seal together deliver every event exactly once, in seq order, and never
 * one while an earlier seq may still be committed. Both protocols are
 * played: the agent's (the seq counter in the header page, blocks marked
 * busy from their reserve to their commit) and an older one without them,
 * where the reader waits for later blocks. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../cli/jreader.h"
#include "check.h"

#define BLOCK 1024u
#define FILE_MAX (4u << 20)
#define THREADS 3
#define MAX_EVENTS 20000

/* The writer: protected by being single-threaded, like the whole test. */
static uint8_t *wmap;        /* a shared, writable mapping of the journal */
static int wfd;
static uint64_t carved_to;   /* the file offset of the next block */
static uint64_t next_seq;
static bool show_counter;    /* play the agent's protocol: counter and busy marks */
struct wthread {
    struct jn_block_header *b;
    uint8_t *pos;
    struct jn_delta d;
    uint64_t inflight;       /* a seq taken but not committed yet, or 0 */
    bool mark;               /* the in-flight record is a MARK */
};
static struct wthread wt[THREADS];

/* The reader's view. */
static uint64_t delivered[MAX_EVENTS + 16];
static uint8_t delivered_kind[MAX_EVENTS + 16];
static size_t ndelivered;

static bool collect(void *arg, const struct jn_record *r, uint32_t tid)
{
    delivered_kind[ndelivered] = (uint8_t)r->kind;
    delivered[ndelivered++] = r->seq;
    return true;
}

static void write_file_header(void)
{
    struct jn_file_header *h = (struct jn_file_header *)wmap;
    h->version = JN_VERSION;
    h->header_size = JN_FILE_HEADER_SIZE;
    h->block_size = BLOCK;
    h->pid = 1;
    h->claimed_pid = 1;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(h->magic, JN_MAGIC, JN_MAGIC_LEN);
}

/* Starts a new block for thread i, as the agent's reserve() does: the
 * block's place and first seq under the lock, its header after, magic last.
 * With header_now false the header waits for the thread's next take_seq
 * (the thread was preempted between the two: readers see a zeroed block). */
static void begin_block(int i, bool header_now)
{
    if (carved_to + BLOCK > FILE_MAX)
        abort();
    if (carved_to + BLOCK > (uint64_t)lseek(wfd, 0, SEEK_END) && ftruncate(wfd, (off_t)(carved_to + 64 * BLOCK)))
        abort();
    struct jn_block_header *b = (struct jn_block_header *)(wmap + carved_to);
    carved_to += BLOCK;
    if (show_counter)
        __atomic_store_n(&((struct jn_file_header *)wmap)->blocks_end, carved_to, __ATOMIC_RELEASE);
    b->tid = 100 + (uint32_t)i;
    b->first_seq = next_seq;
    b->tsc_base = 1 << 20;
    b->mono_ns = 1;
    wt[i].b = b;
    wt[i].pos = (uint8_t *)(b + 1);
    jn_delta_reset(&wt[i].d, b);
    if (header_now)
        __atomic_store_n(&b->magic, JN_BLOCK_MAGIC, __ATOMIC_RELEASE);
}

static bool header_pending(int i)
{
    return wt[i].b && !wt[i].b->magic;
}

/* Commits thread i's in-flight record. */
static void commit(int i)
{
    struct wthread *t = &wt[i];
    uint8_t *end = t->mark ? jn_put_mark(t->pos, t->inflight, 0, 0, 0)
                           : jn_put_alloc(t->pos, &t->d, JN_API_MALLOC, t->inflight, 1 << 20, 0x1000 * t->inflight, 8, 0);
    t->pos = end;
    __atomic_store_n(&t->b->used, (uint32_t)(end - (uint8_t *)(t->b + 1)), __ATOMIC_RELEASE);
    __atomic_store_n(&t->b->busy, 0, __ATOMIC_RELEASE);
    t->inflight = 0;
}

/* Takes a seq for thread i's next record, in its current block (whose
 * header is written first if it waited). With the counter shown, the block
 * is marked busy before and the counter in the header page moves. */
static void take_seq(int i, bool mark)
{
    struct wthread *t = &wt[i];
    if (header_pending(i))
        __atomic_store_n(&t->b->magic, JN_BLOCK_MAGIC, __ATOMIC_RELEASE);
    if (show_counter)
        __atomic_store_n(&t->b->busy, 1, __ATOMIC_RELAXED);
    t->inflight = next_seq++;
    if (show_counter)
        __atomic_store_n(&((struct jn_file_header *)wmap)->next_seq, next_seq, __ATOMIC_RELEASE);
    t->mark = mark;
}

/* True when thread i must begin a block before its next record. */
static bool needs_block(int i)
{
    return !wt[i].b || wt[i].pos + 64 > (uint8_t *)wt[i].b + BLOCK;
}

/* One whole record of thread i. */
static void step(int i)
{
    if (needs_block(i))
        begin_block(i, true);
    take_seq(i, false);
    commit(i);
}

/* The smallest seq taken but not committed, or UINT64_MAX. */
static uint64_t smallest_inflight(void)
{
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < THREADS; i++)
        if (wt[i].inflight && wt[i].inflight < m)
            m = wt[i].inflight;
    return m;
}

static char *new_journal(void)
{
    static char path[] = "/tmp/lifeline-test-jreader-XXXXXX";
    strcpy(path, "/tmp/lifeline-test-jreader-XXXXXX");
    wfd = mkstemp(path);
    if (wfd < 0 || ftruncate(wfd, JN_FILE_HEADER_SIZE))
        abort();
    wmap = mmap(NULL, FILE_MAX, PROT_READ | PROT_WRITE, MAP_SHARED, wfd, 0);
    if (wmap == MAP_FAILED)
        abort();
    carved_to = JN_FILE_HEADER_SIZE;
    next_seq = 1;
    memset(wt, 0, sizeof wt);
    ndelivered = 0;
    return path;
}

static void drop_journal(char *path)
{
    munmap(wmap, FILE_MAX);
    close(wfd);
    unlink(path);
}

static bool ascending_once(const uint64_t *v, size_t n, uint64_t first)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != first + i)
            return false;
    return true;
}

/* The end of a followed case: the writer is gone; the seal takes the rest,
 * and every event the case wrote has come out, from an undamaged file. */
static void seal_and_drop(struct jr_journal *j, char *path, size_t events)
{
    CHECK(jr_seal(j));
    jr_replay(j, collect, NULL);
    CHECK(ndelivered == events);
    CHECK(!jr_damaged(j) && !jr_truncated(j));
    jr_close(j);
    drop_journal(path);
}

/* One random run: the writer's steps, with a follow after each. */
static void run_interleaving(unsigned seed, int events, bool with_mark, bool counter)
{
    srand(seed);
    show_counter = counter;
    char *path = new_journal();
    struct jr_journal *j = jr_open_followed(path);
    CHECK(j != NULL);
    if (!j)
        return;
    /* Before the agent claims it, the journal is a zeroed header page. */
    CHECK(jr_follow(j, collect, NULL) == 0);
    write_file_header();
    int made = 0;
    bool order_ok = true, safe = true, mark_made = false;
    uint64_t last = 0;
    while (made < events || smallest_inflight() != UINT64_MAX) {
        /* (A thread left with a waiting header begins no record: fine.) */
        int i = rand() % THREADS;
        if (wt[i].inflight) {
            commit(i);
        } else if (made < events && needs_block(i) && rand() % 4 == 0) {
            begin_block(i, false); /* its header comes with the next seq */
        } else if (made < events) {
            if (needs_block(i))
                begin_block(i, true);
            bool mark = with_mark && !mark_made && made > events / 2;
            mark_made |= mark;
            take_seq(i, mark);
            made++;
        }
        if (rand() % 3 == 0) {
            size_t before = ndelivered;
            jr_follow(j, collect, NULL);
            uint64_t pending = smallest_inflight();
            for (size_t k = before; k < ndelivered; k++) {
                order_ok &= delivered[k] > last;
                last = delivered[k];
                /* Delivered while an earlier seq was not committed yet:
                 * the earlier one would come out of order. */
                safe &= delivered[k] < pending;
            }
        }
    }
    CHECK(order_ok);
    CHECK(safe);
    /* Everything is committed now: with the counter shown, the followed
     * replay takes it all (up to a MARK); without, each thread's newest
     * block waits for the seal. */
    jr_follow(j, collect, NULL);
    size_t followed = ndelivered;
    if (counter && !with_mark)
        CHECK(followed == (size_t)events);
    if (with_mark) /* the followed replay pauses before the MARK */
        CHECK(jr_follow_paused(j) && followed < (size_t)events);
    CHECK(jr_seal(j));
    jr_replay(j, collect, NULL);
    CHECK(ndelivered == (size_t)events);
    CHECK(ascending_once(delivered, ndelivered, 1));
    CHECK(!jr_damaged(j) && !jr_truncated(j));
    jr_close(j);
    /* Most of it was delivered while the writer ran (not all: the newest
     * block of each thread waits). */
    if (!with_mark && events >= 5000)
        CHECK(followed > (size_t)events / 2);

    /* The same file read afterwards gives the same events. */
    const char *why = NULL;
    j = jr_open(path, &why);
    CHECK(j != NULL);
    if (j) {
        ndelivered = 0;
        jr_replay(j, collect, NULL);
        CHECK(ndelivered == (size_t)events && ascending_once(delivered, ndelivered, 1));
        jr_close(j);
    }
    drop_journal(path);
}

/* A thread that stops writing holds the followed replay back at its last
 * event (it may yet write one before the others'); the seal lets it go. */
/* A new journal, claimed, opened for following; NULL if it cannot be. */
static struct jr_journal *open_claimed(char **path, bool counter)
{
    *path = new_journal();
    show_counter = counter;
    write_file_header();
    struct jr_journal *j = jr_open_followed(*path);
    CHECK(j != NULL);
    return j;
}

/* A followed journal where thread 0 wrote seq 1 and then stayed idle while
 * thread 1 wrote 500 more, followed once; NULL if it cannot be opened. */
static struct jr_journal *follow_with_idle_thread(char **path, bool counter)
{
    struct jr_journal *j = open_claimed(path, counter);
    if (!j)
        return NULL;
    step(0);
    for (int n = 0; n < 500; n++)
        step(1);
    jr_follow(j, collect, NULL);
    return j;
}

static void test_idle_thread_holds_back(void)
{
    char *path;
    struct jr_journal *j = follow_with_idle_thread(&path, false);
    if (!j)
        return;
    /* Thread 0's block is unfinished: nothing after seq 1 may go out. */
    CHECK(ndelivered <= 1);
    seal_and_drop(j, path, 501);
    CHECK(ascending_once(delivered, ndelivered, 1));
}

/* With the counter shown, an idle thread holds nothing back: its next seq
 * will be at least the counter. A busy one does, at its last event. */
static void test_idle_thread_with_counter(void)
{
    char *path;
    struct jr_journal *j = follow_with_idle_thread(&path, true);
    if (!j)
        return;
    CHECK(ndelivered == 501 && ascending_once(delivered, ndelivered, 1));
    take_seq(0, false); /* seq 502, taken, not committed: thread 0 is busy */
    for (int n = 0; n < 10; n++)
        step(1);
    jr_follow(j, collect, NULL);
    CHECK(ndelivered == 501);
    commit(0);
    jr_follow(j, collect, NULL);
    CHECK(ndelivered == 512 && ascending_once(delivered, ndelivered, 1));
    seal_and_drop(j, path, 512);
}

/* A thread that ended (its block closed, jw_thread_end) holds nothing back,
 * even without the counter. */
static void test_ended_thread_does_not_hold_back(void)
{
    char *path;
    struct jr_journal *j = open_claimed(&path, false);
    if (!j)
        return;
    step(0); /* seq 1 */
    __atomic_store_n(&wt[0].b->busy, JN_BLOCK_CLOSED, __ATOMIC_RELEASE);
    for (int n = 0; n < 500; n++)
        step(1);
    jr_follow(j, collect, NULL);
    /* All but thread 1's newest block (the bound without the counter). */
    CHECK(ndelivered > 300 && ascending_once(delivered, ndelivered, 1));
    seal_and_drop(j, path, 501);
    CHECK(ascending_once(delivered, ndelivered, 1));
}

/* A record carrying an earlier record's seq (a REFERRER after its ERROR)
 * is written while its block is held busy (jw_hold): the followed replay
 * delivers it before any later event of another thread, as a replay of the
 * finished file does. */
static void test_held_block_keeps_a_late_seq_in_place(void)
{
    char *path;
    struct jr_journal *j = open_claimed(&path, true);
    if (!j)
        return;
    step(1); /* seq 1 */
    begin_block(0, true);
    __atomic_store_n(&wt[0].b->busy, 1, __ATOMIC_RELAXED); /* jw_hold */
    take_seq(0, false);
    commit(0); /* seq 2, the "ERROR"; the block stays busy (commit clears it: set again) */
    __atomic_store_n(&wt[0].b->busy, 1, __ATOMIC_RELAXED);
    for (int n = 0; n < 20; n++)
        step(1); /* seqs 3..22 */
    jr_follow(j, collect, NULL);
    CHECK(ndelivered == 2); /* 1 and 2: thread 0 is held at 2 */
    /* The late record, with seq 2, then the release. */
    struct wthread *t = &wt[0];
    uint8_t *end = jn_put_referrer(t->pos, 2, 0x5000, 0, 8);
    t->pos = end;
    __atomic_store_n(&t->b->used, (uint32_t)(end - (uint8_t *)(t->b + 1)), __ATOMIC_RELEASE);
    __atomic_store_n(&t->b->busy, 0, __ATOMIC_RELEASE); /* jw_release */
    jr_follow(j, collect, NULL);
    CHECK(ndelivered == 23);
    CHECK(delivered[2] == 2 && delivered_kind[2] == JN_K_REFERRER);
    CHECK(delivered[3] == 3 && delivered[22] == 22);
    seal_and_drop(j, path, 23);
}

/* A journal no agent ever claimed cannot be sealed: the caller reads the
 * file afterwards for the reason. */
static void test_unclaimed_journal_is_not_sealed(void)
{
    char *path = new_journal();
    struct jr_journal *j = jr_open_followed(path);
    CHECK(j != NULL);
    if (j) {
        CHECK(jr_follow(j, collect, NULL) == 0);
        CHECK(!jr_seal(j));
        jr_close(j);
    }
    drop_journal(path);
}

int main(void)
{
    for (int counter = 0; counter < 2; counter++) {
        for (unsigned seed = 1; seed <= 40; seed++)
            run_interleaving(seed, seed % 4 ? 3000 : 9000, false, counter);
        for (unsigned seed = 100; seed < 110; seed++)
            run_interleaving(seed, 4000, true, counter);
    }
    test_idle_thread_holds_back();
    test_idle_thread_with_counter();
    test_ended_thread_does_not_hold_back();
    test_held_block_keeps_a_late_seq_in_place();
    test_unclaimed_journal_is_not_sealed();
    return check_summary("jreader (followed replay)");
}
