/* Leaks: the agent's scan at exit (agent/reach.c) journals every block that
 * nothing reachable points to; the replay groups them by allocation stack,
 * type and reachability; this turns each group into a `leak` finding,
 * direct leaks first, the biggest first. */
#include "detect.h"
#include "history.h"

#include <stdlib.h>
#include <string.h>

static int by_importance(const void *a, const void *b)
{
    const struct rp_leak_group *x = *(const struct rp_leak_group *const *)a;
    const struct rp_leak_group *y = *(const struct rp_leak_group *const *)b;
    if (x->direct != y->direct)
        return x->direct ? -1 : 1;
    if (x->bytes != y->bytes)
        return x->bytes > y->bytes ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* "3 'list' objects (168 bytes)" / "1 block of 64 bytes" */
static const char *what_leaked(struct arena *a, const struct rp_leak_group *g, const char *type)
{
    unsigned long long n = (unsigned long long)g->count, bytes = (unsigned long long)g->bytes;
    if (type)
        return arena_printf(a, "%llu '%s' object%s (%llu bytes)", n, type, n == 1 ? "" : "s", bytes);
    return arena_printf(a, "%llu block%s of %llu bytes in all (%s domain)", n, n == 1 ? "" : "s", bytes,
                        jn_domain_name(jn_api_domain(g->api)));
}

/* True if the frame belongs to the import of a module: importlib's
 * loading, an extension's PyInit function or its exec slots. */
static bool import_frame(const struct fd_frame *f)
{
    if (!f->function)
        return false;
    if (f->python)
        return f->file && !strncmp(f->file, "<frozen importlib._bootstrap", 28) &&
               (!strcmp(f->function, "_load_unlocked") || !strcmp(f->function, "exec_module"));
    return !strncmp(f->function, "PyInit_", 7) || !strcmp(f->function, "PyModule_ExecDef") ||
           !strcmp(f->function, "_imp_create_dynamic");
}

/* The module-import leaks: memory lost while a module was imported. It is
 * lost once per process, not once per use, so it is a warning; the leaks
 * that can grow are the errors. */
static bool during_import(const struct fd_stack *st)
{
    for (int i = 0; i < st->n; i++)
        if (import_frame(&st->frames[i]))
            return true;
    return false;
}

static void one_group(struct fd_report *rep, const struct rp_state *s, struct rs_ctx *rs,
                      const struct rp_leak_group *g)
{
    struct arena *a = &rep->arena;
    struct fd_finding *f = fd_add(rep, FD_LEAK);
    struct rp_block b = {.addr = g->example_addr, .size = g->example_size, .alloc_stack = g->alloc_stack,
                         .alloc_api = g->api, .type = g->type};
    dt_block(rs, &b, false, g->example_addr, &f->block);
    f->block.alloc.name = NULL; /* the stack goes in `stacks` */
    struct rp_history h;
    if (rp_history_of(s, &b, false, &h)) /* the example's: it shows where its extra reference came from */
        hs_attach(rs, &b, false, &h, f);
    dt_add_stack(rs, f, g->alloc_stack, "alloc");
    fd_detail_int(f, "count", (int64_t)g->count);
    fd_detail_int(f, "bytes", (int64_t)g->bytes);
    fd_detail_str(f, "reachability", g->direct ? "direct" : "indirect");
    bool once = f->nstacks && during_import(&f->stacks[0]);
    fd_detail_str(f, "when", once ? "import" : "run");
    f->error = !once;
    f->summary = arena_printf(a, "%s %s%s%s", what_leaked(a, g, f->block.type),
                              g->direct ? "unreachable at exit" : "reachable only from other leaked blocks at exit",
                              once ? ", lost while a module was imported (once per process)" : "",
                              hs_balance_clause(a, f));
}

void dt_leaks(struct fd_report *rep, const struct rp_state *s, struct rs_ctx *rs)
{
    size_t n = s->leaks.count, i = 0, pos = 0;
    if (!n)
        return;
    const struct rp_leak_group **groups = malloc(n * sizeof *groups);
    if (!groups) {
        fd_note(rep, "out of memory while reporting leaks");
        return;
    }
    const struct rp_leak_group *g;
    while ((g = tbl_next(&s->leaks, &pos)) != NULL && i < n)
        groups[i++] = g;
    qsort(groups, i, sizeof *groups, by_importance);
    for (size_t k = 0; k < i; k++)
        one_group(rep, s, rs, groups[k]);
    free(groups);
    if (s->leaks_dropped)
        fd_note(rep, arena_printf(&rep->arena, "%llu more leaked blocks in groups beyond the first %d are not "
                                               "reported", (unsigned long long)s->leaks_dropped, RP_MAX_LEAK_GROUPS));
}
