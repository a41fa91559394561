/* Ownership at the C-API boundary in the findings about a block: the most
 * recent borrowed reference to its object that a C-API call handed an
 * extension, and the most recent reference an extension handed over (a
 * steal), from the agent's OWNER records (agent/boundary.c) as the replay
 * kept them. */
#include "detect.h"

#include <string.h>

/* The innermost frame of s with a function name: the extension's call of
 * the C-API function (the agent leaves its own frames out). NULL if none. */
static const struct fd_frame *call_frame(const struct fd_stack *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->frames[i].function)
            return &s->frames[i];
    return NULL;
}

/* "widgets.c:130" for a frame with a source line, "sum_values()" for one
 * with only a name. */
static const char *where(struct arena *a, const struct fd_frame *fr)
{
    if (fr->file && fr->line > 0) {
        const char *slash = strrchr(fr->file, '/');
        return arena_printf(a, "%s:%d", slash ? slash + 1 : fr->file, fr->line);
    }
    return arena_printf(a, "%s()", fr->function);
}

/* The frame of the free stack that runs `function`: the extension function
 * that got the reference is the one that released it. NULL if none. */
static const struct fd_frame *released_in(const struct fd_stack *free, const char *function)
{
    for (int i = 0; free && i < free->n; i++)
        if (free->frames[i].function && !strcmp(free->frames[i].function, function) && !free->frames[i].python)
            return &free->frames[i];
    return NULL;
}

/* Adds one ownership event as a stack and a detail; returns its clause for
 * the summary. */
static const char *one_event(struct rs_ctx *rs, struct fd_finding *f, const struct fd_stack *free, bool borrow,
                             unsigned func, uint32_t stack)
{
    struct arena *a = rs->arena;
    const char *api = jn_capi_name(func);
    fd_detail_str(f, borrow ? "borrowed_by" : "stolen_by", api);
    if (f->nstacks >= FD_MAX_STACKS)
        return "";
    struct fd_stack *s = &f->stacks[f->nstacks++];
    rs_stack(rs, stack, borrow ? "borrow" : "steal", s);
    const struct fd_frame *call = call_frame(s);
    const struct fd_frame *rel = call && !call->python ? released_in(free, call->function) : NULL;
    const char *at = call ? arena_printf(a, " at %s", where(a, call)) : "";
    const char *again = rel ? arena_printf(a, " and released it%s at %s", borrow ? "" : " again", where(a, rel)) : "";
    if (borrow)
        return arena_printf(a, "; the extension borrowed it from %s()%s%s", api, at, again);
    return arena_printf(a, "; the extension handed its reference to %s()%s%s", api, at, again);
}

const char *dt_ownership(struct rs_ctx *rs, const struct rp_block *b, const struct fd_stack *free,
                         struct fd_finding *f)
{
    const char *borrowed = "", *stolen = "";
    if (b->borrow_func)
        borrowed = one_event(rs, f, free, true, b->borrow_func, b->borrow_stack);
    if (b->steal_func)
        stolen = one_event(rs, f, free, false, b->steal_func, b->steal_stack);
    return arena_printf(rs->arena, "%s%s", borrowed, stolen);
}
