/* Unit tests of the per-block ownership histories the replay keeps (cli/replay.c): the last
 * RP_HIST_MAX events in a ring with their total, a history that follows its block into the freed
 * window, a new life at the same address that starts a new history, the error snapshot, and
 * events on blocks the replay does not know. The journal is stubbed: jr_replay delivers the
 * records of the array `script`; the repetition series (cli/series.c) is stubbed out. */
#include <string.h>

#include "../../cli/replay.h"
#include "check.h"

/* ---- stubs --------------------------------------------------------------------------------------- */

void sr_init(struct sr_state *s, struct jr_journal *j) {}
void sr_mark_begin(struct sr_state *s) {}
void sr_mark_block(struct sr_state *s, uint32_t stack, uint32_t type, uint64_t addr, uint64_t size, uint32_t tid,
                   uint8_t api) {}
void sr_mark_end(struct sr_state *s, const struct jn_record *mark) {}
void sr_finish(struct sr_state *s) {}
void sr_free(struct sr_state *s) {}

/* protected by: single-threaded test */
static struct jn_record script[256];
static int nscript;

uint64_t jr_replay(struct jr_journal *j, bool (*fn)(void *arg, const struct jn_record *r, uint32_t tid), void *arg)
{
    for (int i = 0; i < nscript; i++)
        if (!fn(arg, &script[i], 1))
            return (uint64_t)i;
    return (uint64_t)nscript;
}

/* Not followed here: rp_follow is linked in but never called. */
uint64_t jr_follow(struct jr_journal *j, bool (*fn)(void *arg, const struct jn_record *r, uint32_t tid), void *arg)
{
    return 0;
}

/* ---- building the script ------------------------------------------------------------------------- */

static void alloc(uint64_t addr, uint32_t stack)
{
    script[nscript++] = (struct jn_record){.kind = JN_K_ALLOC, .api = JN_API_OBJ_MALLOC, .seq = (uint64_t)nscript,
                                           .addr = addr, .size = 32, .stack = stack};
}

static void release(uint64_t addr, uint32_t stack)
{
    script[nscript++] = (struct jn_record){.kind = JN_K_FREE, .api = JN_API_OBJ_FREE, .seq = (uint64_t)nscript,
                                           .addr = addr, .stack = stack};
}

static void owner(uint64_t addr, enum jn_owner_event ev, int64_t refcnt, uint32_t stack)
{
    struct jn_record r = {.kind = JN_K_OWNER, .seq = (uint64_t)nscript, .addr = addr, .stack = stack};
    r.u.owner.event = ev;
    r.u.owner.refcnt = refcnt;
    script[nscript++] = r;
}

static void error(uint64_t addr)
{
    struct jn_record r = {.kind = JN_K_ERROR, .seq = (uint64_t)nscript, .addr = addr};
    r.u.error.error = JN_ERR_USE_AFTER_FREE;
    script[nscript++] = r;
}

static void watch_record(uint64_t addr, uint32_t flags, uint32_t type)
{
    struct jn_record r = {.kind = JN_K_WATCH, .seq = (uint64_t)nscript, .addr = addr};
    r.u.watch.flags = flags;
    r.u.watch.type = type;
    r.u.watch.refcnt = 1;
    script[nscript++] = r;
}

/* ---- tests --------------------------------------------------------------------------------------- */

/* 20 changes on one block: the last 16 kept, oldest at total % 16; the history follows the block
 * into the freed window; an error after the free snapshots it. */
static void test_ring_and_free(void)
{
    nscript = 0;
    alloc(0x1000, 1);
    for (int i = 0; i < 20; i++)
        owner(0x1000, i % 2 ? JN_OWN_DECREF : JN_OWN_INCREF, i % 2 ? 1 : 2, 100 + (uint32_t)i);
    owner(0x1000, JN_OWN_DECREF, 0, 200);
    release(0x1000, 2);
    error(0x1000);
    struct rp_state s;
    CHECK(rp_run(NULL, &s));
    struct rp_block b;
    bool freed;
    struct rp_history h;
    CHECK(rp_find(&s, 0x1000, 0, &b, &freed) && freed);
    CHECK(rp_history_of(&s, &b, freed, &h));
    CHECK(h.total == 21 && h.addr == 0x1000);
    CHECK(h.ev[(h.total - RP_HIST_MAX) % RP_HIST_MAX].stack == 105); /* the oldest kept: event 5 */
    CHECK(h.ev[(h.total - 1) % RP_HIST_MAX].stack == 200 && h.ev[(h.total - 1) % RP_HIST_MAX].refcnt == 0);
    CHECK(h.ev[(h.total - 1) % RP_HIST_MAX].event == JN_OWN_DECREF);
    CHECK(s.nerrors == 1 && s.errors[0].freed && s.errors[0].history.total == 21);
    rp_free(&s);
}

/* A new life at the same address has a history of its own; a live block's history is found too;
 * an event on an unknown block is dropped. */
static void test_new_life(void)
{
    nscript = 0;
    alloc(0x2000, 1);
    owner(0x2000, JN_OWN_INCREF, 2, 10);
    release(0x2000, 2);
    alloc(0x2000, 3);
    owner(0x2000, JN_OWN_BORROW, 1, 11);
    owner(0x9000, JN_OWN_INCREF, 5, 12); /* never allocated */
    struct rp_state s;
    CHECK(rp_run(NULL, &s));
    struct rp_block b;
    bool freed;
    struct rp_history h;
    CHECK(rp_find(&s, 0x2000, 0, &b, &freed) && !freed);
    CHECK(rp_history_of(&s, &b, freed, &h));
    CHECK(h.total == 1 && h.ev[0].event == JN_OWN_BORROW && h.ev[0].stack == 11);
    CHECK(!rp_find(&s, 0x9000, 0, &b, &freed));
    rp_free(&s);
}

/* A block without ownership events has no history, live or freed. */
static void test_none(void)
{
    nscript = 0;
    alloc(0x3000, 1);
    alloc(0x4000, 1);
    release(0x4000, 2);
    struct rp_state s;
    CHECK(rp_run(NULL, &s));
    struct rp_block b;
    bool freed;
    struct rp_history h;
    CHECK(rp_find(&s, 0x3000, 0, &b, &freed) && !rp_history_of(&s, &b, freed, &h) && h.total == 0);
    CHECK(rp_find(&s, 0x4000, 0, &b, &freed) && freed && !rp_history_of(&s, &b, freed, &h));
    rp_free(&s);
}

/* A watched block: its events from the WATCH record on are all kept (not only the last 16), its
 * history exists before any event, it takes the record's type, a second WATCH record with
 * JN_WATCH_LATER marks where a debug register took over, and the watch outlives the free; an
 * incref's site id (its func) is kept whole. */
static void test_watched(void)
{
    nscript = 0;
    alloc(0x5000, 1);
    owner(0x5000, JN_OWN_BORROW, 1, 9); /* before the watch: in the ring only */
    watch_record(0x5000, JN_WATCH_NO_SLOT, 7);
    struct rp_state s;
    struct rp_block b;
    bool freed;
    struct rp_history h;
    CHECK(rp_run(NULL, &s));
    CHECK(s.nwatches == 1 && rp_find(&s, 0x5000, 0, &b, &freed) && !freed && b.type == 7);
    CHECK(rp_history_of(&s, &b, freed, &h) && h.wev && h.wtotal == 0 && h.total == 1 && !h.whardware);
    rp_free(&s);
    for (int i = 0; i < 30; i++)
        owner(0x5000, i % 2 ? JN_OWN_DECREF : JN_OWN_INCREF, i % 2 ? 1 : 2, 300 + (uint32_t)i);
    script[nscript - 2].u.owner.func = 70000; /* a SITE id, beyond any C-API function */
    watch_record(0x5000, JN_WATCH_HARDWARE | JN_WATCH_LATER, 7);
    owner(0x5000, JN_OWN_DECREF, 0, 400);
    release(0x5000, 2);
    CHECK(rp_run(NULL, &s));
    CHECK(s.nwatches == 1 && s.watches[0].freed && s.watches[0].total == 31 && s.watches[0].hardware_from == 30);
    CHECK(rp_find(&s, 0x5000, 0, &b, &freed) && freed);
    CHECK(rp_history_of(&s, &b, freed, &h) && h.total == 32 && h.wtotal == 31 && !h.whardware);
    CHECK(h.wev[0].stack == 300 && h.wev[28].func == 70000 && h.wev[30].stack == 400);
    rp_free(&s);
}

int main(void)
{
    test_ring_and_free();
    test_new_life();
    test_none();
    test_watched();
    return check_summary("test_history");
}
