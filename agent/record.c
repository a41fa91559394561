#include "record.h"

#include "../core/journal.h"
#include "../core/os.h"
#include "capture.h"
#include "jwriter.h"
#include "live.h"
#include "types.h"

bool rec_name_types; /* set once at start */

void rec_alloc(uint8_t api, void *p, uint64_t size)
{
    if (!live_add((uintptr_t)p, size, api))
        return;
    uint32_t stack = cap_stack();
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (w)
        jw_commit(jn_put_alloc(w, d, api, jw_next_seq(), os_tsc(), (uintptr_t)p, size, stack));
}

void rec_free(uint8_t api, void *p)
{
    struct live_info li;
    if (!live_find((uintptr_t)p, &li))
        return;
    uint32_t type = 0;
    if (rec_name_types && jn_api_domain(li.api) == JN_DOMAIN_OBJ)
        type = ty_of_freed_block((uintptr_t)p, li.size);
    live_remove((uintptr_t)p, NULL);
    uint32_t stack = cap_stack();
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (w)
        jw_commit(jn_put_free(w, d, api, jw_next_seq(), os_tsc(), (uintptr_t)p, stack, type));
}

void rec_realloc(uint8_t api, void *old, void *p, uint64_t size)
{
    /* The old block was resized or moved: either way it is gone as it was. */
    bool known = live_remove((uintptr_t)old, NULL);
    if (!p) {
        /* realloc(old, 0) freed it. */
        struct jn_delta *d;
        uint8_t *w = known ? jw_reserve(JN_EVENT_MAX, &d) : NULL;
        if (w)
            jw_commit(jn_put_free(w, d, api, jw_next_seq(), os_tsc(), (uintptr_t)old, cap_stack(), 0));
        return;
    }
    if (!live_add((uintptr_t)p, size, api))
        return;
    uint32_t stack = cap_stack();
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_EVENT_MAX, &d);
    if (!w)
        return;
    if (known)
        jw_commit(jn_put_realloc(w, d, api, jw_next_seq(), os_tsc(), (uintptr_t)old, (uintptr_t)p, size, stack));
    else
        jw_commit(jn_put_alloc(w, d, api, jw_next_seq(), os_tsc(), (uintptr_t)p, size, stack));
}
