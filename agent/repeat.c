#include "repeat.h"

#include "../core/journal.h"
#include "capi.h"
#include "guard.h"
#include "jwriter.h"

void rep_mark(uint32_t index)
{
    int64_t refs = capi._Py_GetRefTotal ? (int64_t)capi._Py_GetRefTotal() : -1;
    uint64_t blocks = capi._Py_GetAllocatedBlocks ? (uint64_t)capi._Py_GetAllocatedBlocks() : 0;
    if (!jw_active() || !guard_enter())
        return;
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
    if (w)
        jw_commit(jn_put_mark(w, jw_next_seq(), index, refs, blocks));
    guard_leave();
}
