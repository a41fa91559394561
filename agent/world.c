#include "world.h"

#include <dlfcn.h>
#include <stddef.h>

/* The free-threaded build exports no stop-the-world of its own
 * (_PyEval_StopTheWorld is internal), but PyUnstable_GC_VisitObjects stops
 * the world around its walk of the heaps: fn runs from its first visit,
 * which then ends the walk. fn must not take the runtime's thread-list lock
 * (held during the walk) nor stop the world again.
 * Set once by world_init. */
typedef int (*world_visit_fn)(void *obj, void *arg);
static void (*visit_objects)(world_visit_fn visit, void *arg);

struct world_call {
    void (*fn)(void *arg);
    void *arg;
    bool ran;
};

void world_init(bool free_threaded)
{
    if (free_threaded)
        visit_objects = (void (*)(world_visit_fn, void *))dlsym(RTLD_DEFAULT, "PyUnstable_GC_VisitObjects");
}

static int run_once(void *obj, void *arg)
{
    struct world_call *c = arg;
    (void)obj;
    c->fn(c->arg);
    c->ran = true;
    return 0; /* stop the walk */
}

void world_stopped(void (*fn)(void *arg), void *arg)
{
    struct world_call c = {fn, arg, false};
    if (visit_objects)
        visit_objects(run_once, &c);
    /* With the GIL; or a heap without a single GC object to visit, which
     * no running interpreter has. */
    if (!c.ran)
        fn(arg);
}
