/* Replays the journal's events in order to know, at its end, which blocks
 * were live and which were freed recently, and to count. The state is
 * bounded by the live blocks plus a fixed window of recent frees. Prefix: rp_. */
#ifndef LL_REPLAY_H
#define LL_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/table.h"
#include "jreader.h"
#include "series.h"

/* How many of the most recent frees are remembered for attribution: more
 * than the agent's quarantines hold together (32768 entries per family), so
 * that a block reported when it leaves quarantine still has its history. */
#define RP_FREED_WINDOW 262144

/* The ownership events (enum jn_owner_event: increfs and decrefs from
 * extensions built with `lifeline cflags`, borrows, steals, tracks and
 * untracks at the C-API boundary) of one block, the most recent
 * RP_HIST_MAX of them: a ring, oldest first at total % RP_HIST_MAX once
 * full. total counts all, so that a reader knows whether it is complete. */
#define RP_HIST_MAX 16
struct rp_hist_event {
    int64_t refcnt; /* after the event; -1 unknown */
    uint32_t stack, tid;
    uint32_t func;  /* the C-API function (enum jn_capi); for increfs and decrefs a SITE id (0 none) */
    uint8_t event;
};
struct rp_history {
    uint64_t addr; /* the block; the table's key */
    uint64_t total;
    uint32_t watch; /* 1 + the index of its entry in rp_state.watches; 0: not watched */
    uint32_t pad;
    struct rp_hist_event ev[RP_HIST_MAX];
    /* Set in the copies rp_history_of makes of a watched block's history:
     * all its events since the WATCH record (the first RP_WATCH_EVENTS), as
     * they stood when the copy was made; wtotal counts those not kept too. */
    const struct rp_hist_event *wev;
    uint64_t wtotal;
    bool whardware; /* and a hardware watchpoint recorded them, from any code */
};

/* Histories of freed blocks kept for findings about them: far fewer than
 * freed blocks, since only blocks with ownership events have one. */
#define RP_HIST_FREED 8192
/* Live blocks with a history at once (about 400 bytes each): a program
 * that holds millions of objects it borrowed must not take the cli's
 * memory with it. Blocks beyond it get no history (counted). */
#define RP_HIST_LIVE_MAX 65536

/* A block's life: allocation, free, and the most recent borrowed reference
 * to its object that a C-API call handed an extension and the most recent
 * reference an extension handed over (stolen), from OWNER records. A
 * func of 0 (JN_CAPI_NONE) means there was none. */
struct rp_block {
    uint64_t addr, size;
    uint32_t alloc_stack, free_stack, type; /* type: at the free, or from a BLOCK_TYPE record */
    uint8_t alloc_api, free_api;
    uint8_t borrow_func, steal_func; /* enum jn_capi */
    uint32_t alloc_tid, free_tid;
    uint32_t borrow_stack, borrow_tid, steal_stack, steal_tid;
    uint64_t hist; /* freed blocks: 1 + the position of its history in the freed ring; 0 none */
};

/* An object --watch chose (a WATCH record): its block as it was then and,
 * once freed, at its free; and its events from the WATCH record on, the
 * first RP_WATCH_EVENTS of them (a balance needs them all, not the last). */
#define RP_MAX_WATCHES 256
#define RP_WATCH_EVENTS 1024
struct rp_watch {
    struct jn_record rec;   /* the WATCH record */
    struct rp_block block;
    bool freed;
    struct rp_hist_event *ev; /* malloc'd, RP_WATCH_EVENTS */
    uint64_t total;           /* events seen; those past RP_WATCH_EVENTS are not kept */
    uint64_t hardware_from;   /* JN_WATCH_LATER: the index of its first event a debug register saw */
};

/* A block that refers to the object of a refcount-too-low error. */
struct rp_referrer {
    struct rp_block block;
    uint32_t type;
    int64_t offset;
    bool known;
};
#define RP_MAX_REFERRERS 8

/* A heap error the agent journaled, with the block as it stood then. */
struct rp_error {
    struct jn_record rec;
    struct rp_block block;
    bool known, freed; /* block found; and whether it was already freed */
    /* the other block of a GC error (the referent), as it stood then */
    struct rp_block other;
    bool other_known, other_freed;
    struct rp_referrer referrers[RP_MAX_REFERRERS];
    int nreferrers;
    struct rp_history history; /* of the block as it stood then (total 0: none) */
};

/* Errors kept for the report; the agent stops at the first by default. */
#define RP_MAX_ERRORS 64

/* Leaked blocks of one kind: same allocation stack, same type, and all
 * direct or all indirect (reachable only from other leaked blocks). */
struct rp_leak_group {
    uint64_t key;              /* table key; see replay.c */
    uint32_t alloc_stack, type;
    bool direct;
    uint8_t api;
    uint64_t count, bytes;
    uint64_t example_addr, example_size;
};

/* The most leak groups kept; the rest are counted in leaks_dropped. */
#define RP_MAX_LEAK_GROUPS 100000

struct rp_state {
    struct rp_error errors[RP_MAX_ERRORS];
    int nerrors;
    struct tbl live;              /* addr -> struct rp_live */
    struct rp_block *freed;       /* ring of RP_FREED_WINDOW */
    uint64_t freed_next;
    uint64_t allocations, frees, live_bytes, peak_live_bytes, events;
    struct tbl leaks;             /* key -> struct rp_leak_group, from LEAK records */
    uint64_t leaks_unknown;       /* LEAK records naming a block the replay did not know */
    uint64_t leaks_dropped;       /* leaked blocks beyond RP_MAX_LEAK_GROUPS groups */
    struct sr_state series;       /* the live heap at each MARK (lifeline leaks) */
    struct tbl hist_live;         /* addr -> struct rp_history, live blocks with ownership events */
    struct rp_history *hist_freed; /* ring of RP_HIST_FREED, histories of freed blocks */
    uint64_t hist_freed_next;
    uint64_t hist_refused;        /* blocks that got no history: RP_HIST_LIVE_MAX were live */
    struct rp_watch *watches;     /* RP_MAX_WATCHES, in WATCH record order */
    int nwatches;
    uint64_t watches_dropped;     /* WATCH records beyond RP_MAX_WATCHES */
};

/* Replays the whole journal. Live blocks take their type from BLOCK_TYPE records; at each MARK
 * record the live blocks are counted into s->series. Returns false if memory ran out. */
bool rp_run(struct jr_journal *j, struct rp_state *s);
/* rp_run in steps, for a followed journal: rp_begin (false if memory ran
 * out; rp_free it all the same), rp_follow while the target runs (the
 * number of events it delivered), then, once the journal is sealed,
 * rp_end. */
bool rp_begin(struct jr_journal *j, struct rp_state *s);
uint64_t rp_follow(struct jr_journal *j, struct rp_state *s);
void rp_end(struct jr_journal *j, struct rp_state *s);
void rp_free(struct rp_state *s);

/* Finds the block that holds addr: a live one, else the most recently
 * freed one; failing both, a block whose end lies within `slack` bytes
 * below addr or whose start lies within `slack` bytes above it. */
bool rp_find(const struct rp_state *s, uint64_t addr, uint64_t slack, struct rp_block *out, bool *freed);

/* The history of block b as rp_find returned it (freed or live), into out.
 * False (out->total 0) when it has none or it was dropped from the ring. */
bool rp_history_of(const struct rp_state *s, const struct rp_block *b, bool freed, struct rp_history *out);

#endif
