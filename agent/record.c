#include "record.h"

#include <string.h>

#include "../core/os.h"
#include "capture.h"
#include "guard.h"
#include "jwriter.h"
#include "watch.h"

bool rec_name_types; /* set once at start */

/* Room for the longest ERROR record jn_put_error writes. */
#define ERROR_RECORD_MAX 192

/* protected by: thread-local. The calling thread's id, read once: OWNER
 * records carry it, and a system call per record would cost more than the
 * record. */
static AGENT_TLS uint32_t rec_tid;

/* The calling thread's id. */
static uint32_t thread_id(void)
{
    if (!rec_tid)
        rec_tid = (uint32_t)os_gettid();
    return rec_tid;
}

void rec_owner(enum jn_owner_event ev, uint32_t func, uintptr_t block, int64_t refcnt)
{
    if (!jw_active())
        return;
    uint32_t stack = cap_stack();
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
    if (w)
        jw_commit(jn_put_owner(w, jw_next_seq(), thread_id(), ev, func, block, refcnt, stack));
}

uint32_t rec_stack(void)
{
    return jw_active() ? cap_stack() : 0;
}

void rec_alloc(uint8_t api, void *p, uint64_t size, uint32_t stack)
{
    if (!jw_active())
        return;
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (w)
        jw_commit(jn_put_alloc(w, d, api, jw_next_seq(), jw_clock(), (uintptr_t)p, size, stack));
    wt_after_alloc(api, (uintptr_t)p, size, stack);
}

void rec_free(uint8_t api, void *p, uint32_t type, uint32_t stack)
{
    if (!jw_active())
        return;
    wt_before_free((uintptr_t)p);
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (w)
        jw_commit(jn_put_free(w, d, api, jw_next_seq(), jw_clock(), (uintptr_t)p, stack, type));
}

void rec_realloc(uint8_t api, void *old, void *p, uint64_t size)
{
    if (!jw_active())
        return;
    if (old != p)
        wt_before_free((uintptr_t)old);
    uint32_t stack = cap_stack();
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (w)
        jw_commit(jn_put_realloc(w, d, api, jw_next_seq(), jw_clock(), (uintptr_t)old, (uintptr_t)p, size, stack));
}

uint64_t rec_error_seq(enum jn_error error, const struct jn_error_info *info)
{
    if (!jw_active())
        return 0;
    jw_name_thread(true);
    uint32_t stack = cap_stack();
    /* The seq is taken after the reserve, as for every sequenced record:
     * the reserve marks the block busy for readers following the journal. */
    struct jn_delta *d;
    uint8_t *w = jw_reserve(ERROR_RECORD_MAX, &d);
    if (!w)
        return 0;
    uint64_t seq = jw_next_seq();
    jw_commit(jn_put_error(w, seq, (uint32_t)os_gettid(), error, info, stack));
    return seq;
}

void rec_error(enum jn_error error, const struct jn_error_info *info)
{
    rec_error_seq(error, info);
}

void rec_note(const char *text)
{
    uint8_t rec[600];
    size_t len = strnlen(text, 512);
    uint8_t *p = jn_put_note_head(rec, 0);
    p = jn_put_str(p, text, (uint32_t)len);
    jw_write_record(rec, (size_t)(p - rec));
}
