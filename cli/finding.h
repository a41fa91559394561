/* The findings: what detection produces and what the report writers print.
 * This header is the only thing the two sides share. Kinds and field names
 * follow the report contract (shared/spec/report-v1.md). Prefix: fd_. */
#ifndef LL_FINDING_H
#define LL_FINDING_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"

enum fd_kind {
    FD_LEAK,
    FD_USE_AFTER_FREE,
    FD_DOUBLE_FREE,
    FD_INVALID_FREE,
    FD_HEAP_BUFFER_OVERFLOW,
    FD_HEAP_BUFFER_UNDERFLOW,
    FD_UNINITIALIZED_FIELD,
    FD_ALLOCATOR_MISMATCH,
    FD_GC_UNTRAVERSED_REFERENCE,
    FD_GC_DANGLING_REFERENCE,
    FD_GC_TRACKED_UNINITIALIZED,
    FD_GC_FREED_WHILE_TRACKED,
    FD_REFCOUNT_TOO_LOW,
    FD_CRASH,
    FD_KIND_COUNT
};

/* The name a kind has in reports, e.g. "use-after-free". */
const char *fd_kind_name(enum fd_kind k);

struct fd_frame {
    bool python;
    const char *function, *file, *module; /* NULL when unknown */
    int line;                              /* 0 when unknown */
    uint64_t pc;                           /* native frames */
};

struct fd_stack {
    const char *name; /* "alloc", "free", "access", ... */
    struct fd_frame *frames;
    int n;
};

struct fd_block {
    bool present;
    uint64_t address, size;
    const char *domain, *type; /* type NULL when not an object */
    int64_t offset;            /* of the access, from the block's start */
    const char *state;         /* "live" or "freed" */
    struct fd_stack alloc, free;
};

/* One referrer of an object (refcount-too-low): a block holding a
 * reference to it. */
struct fd_referrer {
    const char *type;      /* NULL when the referrer is not an object */
    uint64_t address;
    int64_t offset;        /* of the reference in the referrer's object, -1 when unknown */
    struct fd_stack alloc;
};

/* A list of integers (per-repetition counts). */
struct fd_ints {
    const int64_t *v;
    int n;
};

/* One entry of `details`: a string, an integer, a block, a list of
 * referrers, or a list of integers. */
struct fd_detail {
    const char *key;
    enum { FD_STR, FD_INT, FD_BLOCK, FD_NULL, FD_REFERRERS, FD_INT_LIST } type;
    const char *str;
    int64_t num;
    const struct fd_block *block;
    const struct fd_referrer *referrers; /* num of them */
    struct fd_ints list;
};

/* One event of an object's history (report-v1.md, `history`). */
struct fd_event {
    const char *event;   /* "alloc", "incref", "decref", "free", "borrow", "steal", "track", "untrack" */
    int64_t refcnt;      /* after the event; -1 unknown */
    const char *func;    /* the C-API function of a boundary event, NULL otherwise */
    const char *site_file; /* an incref's or decref's macro __FILE__ (lifeline cflags), NULL unknown */
    int site_line;
    struct fd_stack stack;
};

/* One increment or decrement of a history left without a partner. */
struct fd_unpaired {
    int delta;          /* +1 or -1 */
    const char *site;   /* "zoo_refs.c:103 (remember)" */
    int event;          /* index of the event in the history */
    bool borrowed;      /* a -1 of a function that had only borrowed the object */
};

/* The pairing of a history's increments and decrements (cli/balance.h). */
struct fd_balance {
    bool present;
    bool complete;      /* every recorded count follows from the one before */
    int paired;         /* pairs made */
    const struct fd_unpaired *unpaired;
    int nunpaired;
};

#define FD_MAX_STACKS 6
#define FD_MAX_DETAILS 8

struct fd_finding {
    enum fd_kind kind;
    bool error;        /* severity: error, else warning */
    const char *summary;
    uint32_t tid;
    const char *thread_name;
    bool thread_main;
    struct fd_block block;
    struct fd_stack stacks[FD_MAX_STACKS];
    int nstacks;
    struct fd_detail details[FD_MAX_DETAILS];
    int ndetails;
    const struct fd_event *history; /* in time order, in the arena; NULL when none was recorded */
    int nhistory;
    uint64_t history_dropped;       /* ownership events not kept */
    struct fd_balance balance;      /* of the history, when it has one */
};

/* An object `lifeline run --watch` chose, with what was recorded of it. */
struct fd_watched {
    int spec;                 /* index of the SPEC that chose it, from 0 */
    const char *spec_text;    /* the SPEC, NULL when unknown (lifeline report) */
    bool hardware;            /* a hardware watchpoint recorded every change */
    const char *no_hardware;  /* why not, NULL when it did */
    int hardware_from;        /* -1; else the history index of the first change a debug register saw,
                                 once one came free (the earlier ones are the header's) */
    int64_t refcnt;           /* its count when chosen */
    struct fd_finding view;   /* its block, history and balance (kind and summary unused) */
};

/* What the report says about the target beside its findings. */
struct fd_target {
    char **argv;
    int argc;
    uint32_t pid;
    const char *py_version, *executable;
    bool python_seen, debug_build;
    int exit_status;      /* when not killed */
    const char *signal;   /* name of the killing signal, or NULL */
};

struct fd_stats {
    uint64_t allocations, frees, peak_live_bytes, events;
    long target_max_rss_kb;          /* 0 when unknown (a journal from another lifeline) */
    uint64_t target_cpu_ms;
};

/* One series of repetitions (`lifeline leaks -R W:M`, `lifeline.leaks()`): the interpreter's own
 * counters over each measured repetition, as regrtest -R shows them. */
struct fd_series {
    int warmups, runs;
    bool complete;          /* false when the target stopped during the repetitions */
    bool refs_known;        /* a debug build, which counts references */
    struct fd_ints refs;    /* sys.gettotalrefcount() deltas, when refs_known */
    struct fd_ints blocks;  /* deltas of the live mem- and obj-domain blocks the journal shows: what
                               sys.getallocatedblocks() counts in regrtest */
    struct fd_ints allocated; /* sys.getallocatedblocks() deltas, which under lifeline include the
                                 freed blocks its quarantine holds back */
    bool refs_leaked;       /* refs_known and every reference delta >= 1 (regrtest's rule) */
};

struct fd_report {
    struct arena arena;
    struct fd_series *series; /* in the arena */
    int nseries;
    struct fd_target target;
    struct fd_finding *findings;
    int nfindings, cap;
    struct fd_stats stats;
    bool journal_damaged;
    const char **notes; /* messages from the agent and the reader */
    int nnotes, notes_cap;
    struct fd_watched *watched; /* in the arena, in the order they were chosen */
    int nwatched;
    uint64_t watched_without_hardware;
};

/* Appends an empty finding of kind k (severity error) and returns it. */
struct fd_finding *fd_add(struct fd_report *r, enum fd_kind k);
void fd_detail_str(struct fd_finding *f, const char *key, const char *value);
void fd_detail_int(struct fd_finding *f, const char *key, int64_t value);
void fd_detail_block(struct fd_finding *f, const char *key, const struct fd_block *b);
/* A list of n referrers; the array must live as long as the report. */
void fd_detail_referrers(struct fd_finding *f, const char *key, const struct fd_referrer *r, int n);
/* The list must live as long as the report (the arena). */
void fd_detail_ints(struct fd_finding *f, const char *key, const int64_t *v, int n);
void fd_note(struct fd_report *r, const char *text);
int fd_error_count(const struct fd_report *r);
/* True when the report calls for the error exit status: an error finding, or a series whose
 * references leaked (a reference leak on a debug build fails `lifeline leaks` as it fails
 * regrtest -R, though it may have no allocation site to show). */
bool fd_failed(const struct fd_report *r);
void fd_report_free(struct fd_report *r);

#endif
