#include "repeat.h"

#include "../core/journal.h"
#include "../core/os.h"
#include "capi.h"
#include "guard.h"
#include "jwriter.h"
#include "live.h"
#include "pyframes.h"
#include "record.h"
#include "types.h"
#include "world.h"

/* An object-domain block that has not been typed yet. */
struct untyped {
    uint64_t addr, size;
};

/* The blocks to type at this mark, kept mapped from one mark to the next.
 * protected by world_stopped: only type_live_blocks uses them, with the
 * other Python threads stopped (the GIL, or a free-threaded stop-the-world),
 * and two stopped worlds never overlap. */
static struct untyped *todo;
static size_t todo_cap, todo_n;

/* Makes room for `need` entries in `todo`, which is emptied. Returns false
 * when the memory cannot be mapped: nothing is typed at this mark then, and
 * the blocks are typed at a later one. */
static bool todo_reserve(size_t need)
{
    todo_n = 0;
    if (need <= todo_cap)
        return true;
    if (todo)
        os_unmap(todo, todo_cap * sizeof *todo);
    todo_cap = need + need / 2;
    todo = os_map(todo_cap * sizeof *todo);
    if (!todo)
        todo_cap = 0;
    return todo != NULL;
}

/* live_each_untyped's callback: keeps the object-domain blocks, the only
 * ones that hold objects, while there is room (the rest wait for a later
 * mark). It runs with a stripe of the live table locked, so it only copies:
 * reading a block's type looks other blocks up in the same table. */
static void collect(uintptr_t addr, const struct live_info *li, void *unused)
{
    if (todo_n < todo_cap && jn_api_domain(li->api) == JN_DOMAIN_OBJ)
        todo[todo_n++] = (struct untyped){addr, li->size};
}

/* Journals a BLOCK_TYPE record; a full journal drops it, as every record. */
static void journal_block_type(uint64_t addr, uint32_t type)
{
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
    if (w)
        jw_commit(jn_put_block_type(w, jw_next_seq(), addr, type));
}

/* Types one block and marks it typed, so that it costs nothing at later
 * marks. A block holding a dead object (reference count zero: an object
 * parked in one of the interpreter's free lists) stays untyped, because it
 * comes back to life as a new object of that type: it is typed at the first
 * mark that finds it alive. A block that holds no object is marked typed
 * too: its contents are never asked about again. */
static bool type_one(const struct untyped *u)
{
    struct ty_object obj;
    uint32_t type = ty_of_live_block(u->addr, u->size, &obj);
    if (type)
        journal_block_type(u->addr, type);
    if (type || !ty_of_freed_block(u->addr, u->size, NULL))
        live_set_typed(u->addr);
    return type && pyver_immortal(pf_layout, u->addr + obj.offset);
}

/* The index of the mark being typed, and whether the note below was
 * given. protected by world_stopped, as todo. */
static uint32_t mark_index;
static bool immortal_noted;

/* An interpreter that immortalizes deferred objects (pyver's
 * immortalizes_deferred) makes every new function, code object,
 * module-level object... immortal once a thread has started: such objects
 * made by a measured run stay for good, with what they hold, and their
 * growth is the interpreter's, not the program's. Said once. */
static void note_immortalized(void)
{
    if (immortal_noted || !mark_index || !pf_layout->immortalizes_deferred)
        return;
    immortal_noted = true;
    rec_note("this free-threaded Python made objects of a measured run immortal (it does so for every "
             "function, code object and module-level object once a thread has started, CPython "
             "gh-117783): they are never freed, so growth among them and what they hold is the "
             "interpreter's");
}

/* Types every live object block not typed yet: one pass over the live
 * table, then the reads, which must not hold a stripe's lock. Blocks cannot
 * be freed meanwhile: object blocks are freed by threads running Python,
 * which world_stopped holds, and this thread is inside the agent, so what
 * the reads cause passes through unrecorded. */
static void type_live_blocks(void *index)
{
    mark_index = *(const uint32_t *)index;
    if (!jw_active() || !guard_enter())
        return;
    if (!todo_reserve(live_count() + 1024)) {
        guard_leave();
        return;
    }
    live_each_untyped(collect, NULL);
    for (size_t i = 0; i < todo_n; i++)
        if (type_one(&todo[i]))
            note_immortalized();
    guard_leave();
}

void rep_mark(uint32_t index)
{
    int64_t refs = capi._Py_GetRefTotal ? (int64_t)capi._Py_GetRefTotal() : -1;
    uint64_t blocks = capi._Py_GetAllocatedBlocks ? (uint64_t)capi._Py_GetAllocatedBlocks() : 0;
    world_stopped(type_live_blocks, &index);
    if (!jw_active() || !guard_enter())
        return;
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
    if (w)
        jw_commit(jn_put_mark(w, jw_next_seq(), index, refs, blocks));
    guard_leave();
}

/* live_each's callback for rep_live_blocks. */
static void count_python_block(uintptr_t addr, const struct live_info *li, void *arg)
{
    enum jn_domain d = jn_api_domain(li->api);
    if (d == JN_DOMAIN_MEM || d == JN_DOMAIN_OBJ)
        ++*(size_t *)arg;
}

size_t rep_live_blocks(void)
{
    size_t n = 0;
    if (!guard_enter())
        return 0;
    live_each(count_python_block, &n);
    guard_leave();
    return n;
}
