#include "watch.h"

#include <stdlib.h>
#include <string.h>

#include "../core/journal.h"
#include "../core/os.h"
#include "../core/table.h"
#include "../core/watchspec.h"
#include "../pyver/pyver.h"
#include "capture.h"
#include "guard.h"
#include "hwwatch.h"
#include "jwriter.h"
#include "live.h"
#include "log.h"
#include "pyframes.h"
#include "record.h"
#include "spin.h"
#include "srcline.h"
#include "symtab.h"
#include "types.h"

#define AT(base, off, type) (*(type *)((uintptr_t)(base) + (off)))

#define SITE_IDS (1u << 22)          /* stack ids with a site mask; later ones never match a site */
#define SITE_EVALUATED 0x80000000u
#define FILTER_BITS (1u << 16)

/* One watched object, keyed by the object's address. */
struct wt_entry {
    uint64_t obj;
    uint64_t block;
    int32_t slot; /* hardware slot, -1 none */
    uint32_t spec;
};

bool wt_on;

/* protected by: set once by wt_init at start */
static struct ws_spec specs[WS_MAX_SPECS];
static unsigned nspecs;
static const char *fn_names[WS_MAX_SPECS];
static unsigned fn_spec[WS_MAX_SPECS]; /* fn_names[i] is the name of specs[fn_spec[i]] */
static unsigned nfn;
static uint32_t native_line_specs; /* bit i: specs[i] is a FILE:LINE that may name C code */
static bool hw_on;
/* protected by: written once per stack id, by the thread that interned it,
 * before the id is handed to it (a thread racing on the same new stack may
 * read 0, and its allocation is not chosen) */
static uint32_t *site_mask;
/* protected by: atomic */
static uint64_t matched[WS_MAX_SPECS], unwatched;
/* protected by: atomic; bits are set, never cleared: a hit only says "look
 * in the table", which a freed object's stale bit costs */
static uint64_t filter[FILTER_BITS / 64];
/* protected by wt_lock */
static int wt_lock;
static struct tbl watched;

/* The object-domain block allocated last by this thread, not decided yet. */
struct pending {
    uintptr_t block;
    uint64_t size;
    uint32_t stack;
};
/* protected by: thread-local */
static AGENT_TLS struct pending pending;

/* ---- the quick filter ---- */

/* The filter bit of an object address. */
static uint64_t filter_bit(uintptr_t o)
{
    return tbl_mix(o) & (FILTER_BITS - 1);
}

/* True if o may be watched (false: surely not). */
static bool filter_maybe(uintptr_t o)
{
    uint64_t b = filter_bit(o);
    return (__atomic_load_n(&filter[b / 64], __ATOMIC_RELAXED) >> (b % 64)) & 1;
}

/* ---- site masks of stacks ---- */

/* The bits of the site SPECs a Python frame matches. */
static uint32_t python_frame_bits(const struct cap_frame *f)
{
    char name[WS_NAME_MAX + 2], file[512];
    uint32_t bits = 0;
    bool have_name = false, have_file = false;
    int line = 0;
    for (unsigned i = 0; i < nspecs; i++) {
        if (specs[i].kind == WS_FUNCTION) {
            if (!have_name)
                pf_code_name(f->code, name, sizeof name);
            have_name = true;
            bits |= (uint32_t)(strcmp(name, specs[i].name) == 0) << i;
        } else if (specs[i].kind == WS_LINE) {
            if (!have_file) {
                pf_code_filename(f->code, file, sizeof file);
                line = pf_line(f->code, f->lasti);
            }
            have_file = true;
            bits |= (uint32_t)ws_file_line_match(&specs[i], file, (uint32_t)line) << i;
        }
    }
    return bits;
}

/* sl_with_line's callback: the FILE:LINE SPECs a native frame's line matches. */
static void native_line_bits(const char *file, int line, void *arg)
{
    uint32_t *bits = arg;
    for (unsigned i = 0; i < nspecs; i++)
        if (native_line_specs & (1u << i))
            *bits |= (uint32_t)ws_file_line_match(&specs[i], file, (uint32_t)line) << i;
}

/* The bits of the site=FUNCTION SPECs a native return address lies in, and
 * of the site=FILE:LINE ones its call's line matches. */
static uint32_t native_frame_bits(uintptr_t pc)
{
    uint32_t names = nfn ? sym_match(pc - 1) : 0, bits = 0;
    for (unsigned i = 0; i < nfn; i++)
        if (names & (1u << i))
            bits |= 1u << fn_spec[i];
    if (native_line_specs)
        sl_with_line(pc - 1, native_line_bits, &bits);
    return bits;
}

/* True if a FILE:LINE SPEC may name a line of C code: its file does not
 * end in .py (a script without the suffix is looked for in both). */
static bool may_name_c(const struct ws_spec *s)
{
    size_t n = strlen(s->name);
    return !(n >= 3 && strcmp(s->name + n - 3, ".py") == 0);
}

/* cap_on_new_stack: works out which site SPECs the new stack matches.
 * Native frames are not named in a signal handler (the symbol lookup takes
 * the loader's lock): a stack first met there matches by Python frames only. */
static void on_new_stack(uint32_t id, const struct cap_frame *frames, int n)
{
    if (id >= SITE_IDS)
        return;
    uint32_t bits = 0;
    for (int i = 0; i < n; i++) {
        if (frames[i].code)
            bits |= python_frame_bits(&frames[i]);
        else if (!cap_in_signal)
            bits |= native_frame_bits(frames[i].pc);
    }
    __atomic_store_n(&site_mask[id], bits | SITE_EVALUATED, __ATOMIC_RELEASE);
}

/* ---- start ---- */

/* Parses one SPEC of LIFELINE_WATCH into the next entry of specs. */
static void add_spec(const char *text, size_t len)
{
    char why[256];
    struct ws_spec *s = &specs[nspecs];
    if (nspecs >= WS_MAX_SPECS || !ws_parse(text, len, s, why, sizeof why)) {
        log_msg("LIFELINE_WATCH: ignored a SPEC: %s", nspecs >= WS_MAX_SPECS ? "too many" : why);
        return;
    }
    if (s->kind == WS_FUNCTION) {
        fn_spec[nfn] = nspecs;
        fn_names[nfn++] = s->name;
    }
    if (s->kind == WS_LINE && may_name_c(s))
        native_line_specs |= 1u << nspecs;
    nspecs++;
}

bool wt_init(void)
{
    const char *w = getenv("LIFELINE_WATCH");
    while (w && *w) {
        size_t len = strcspn(w, ";");
        if (len)
            add_spec(w, len);
        w += len + (w[len] == ';');
    }
    if (!nspecs || !pf_layout)
        return false;
    bool sites = false;
    for (unsigned i = 0; i < nspecs; i++)
        sites |= specs[i].kind == WS_FUNCTION || specs[i].kind == WS_LINE;
    if (native_line_specs && !sl_open())
        native_line_specs = 0;
    if (sites) {
        site_mask = os_map(SITE_IDS * sizeof *site_mask);
        sym_set_names(fn_names, nfn);
        if (site_mask)
            cap_on_new_stack = on_new_stack;
    }
    tbl_init(&watched, sizeof(struct wt_entry));
    hw_on = hw_init();
    wt_on = true;
    return true;
}

/* ---- choosing ---- */

/* True if SPEC i may match the pending block p before its type is read:
 * a site or address SPEC that does not match on those alone never will,
 * and the type read (a live-table lookup, the type's checks) is saved. */
static bool may_match(unsigned i, const struct pending *p)
{
    const struct ws_spec *s = &specs[i];
    if (s->kind == WS_ADDR)
        return s->addr >= p->block && s->addr < p->block + p->size;
    if (s->kind == WS_FUNCTION || s->kind == WS_LINE)
        return site_mask && p->stack < SITE_IDS &&
               (__atomic_load_n(&site_mask[p->stack], __ATOMIC_ACQUIRE) & (1u << i));
    return true;
}

/* True if the object of type t in the pending block p matches SPEC i. */
static bool spec_matches(unsigned i, const struct pending *p, const struct ty_object *t)
{
    if (specs[i].kind != WS_TYPE)
        return may_match(i, p);
    const char *name = AT(t->type, pf_layout->type_name, const char *);
    return name && strncmp(name, specs[i].name, WS_NAME_MAX) == 0;
}

/* True if any SPEC may match the pending block p. */
static bool any_may_match(const struct pending *p)
{
    for (unsigned i = 0; i < nspecs; i++)
        if (may_match(i, p))
            return true;
    return false;
}

/* True if the n-th match (from 1) of SPEC i is to be watched. */
static bool wanted(unsigned i, uint64_t n)
{
    return n >= specs[i].nth && (!specs[i].limit || n - specs[i].nth < specs[i].limit);
}

/* Journals the WATCH record of a chosen object. */
static void put_watch(uintptr_t block, uintptr_t obj, unsigned spec, uint32_t flags, uint32_t type)
{
    struct jn_delta *d;
    uint8_t *w = jw_reserve(JN_SEQ_RECORD_MAX, &d);
    if (w)
        jw_commit(jn_put_watch(w, jw_next_seq(), block, (uint32_t)(obj - block), spec, flags,
                               pyver_refcnt(pf_layout, obj), type));
}

/* Watches the object at obj (in block, of type id type), chosen by SPEC
 * spec. Returns whether a hardware watchpoint sees its changes from now on. */
static bool watch(uintptr_t block, uintptr_t obj, unsigned spec, uint32_t type)
{
    int slot = hw_on ? hw_arm(obj, block) : -1;
    uint32_t flags = slot >= 0 ? JN_WATCH_HARDWARE : hw_on ? JN_WATCH_NO_SLOT : JN_WATCH_NO_PERF;
    bool inserted;
    int32_t stale = -1;
    spin_lock(&wt_lock);
    struct wt_entry *e = tbl_insert(&watched, obj, &inserted);
    if (e && !inserted)
        stale = e->slot; /* an earlier object here whose free was not seen */
    if (e)
        *e = (struct wt_entry){obj, block, slot, spec};
    spin_unlock(&wt_lock);
    hw_disarm(stale);
    if (!e) {
        hw_disarm(slot);
        __atomic_add_fetch(&unwatched, 1, __ATOMIC_RELAXED);
        return false;
    }
    uint64_t b = filter_bit(obj);
    __atomic_or_fetch(&filter[b / 64], 1ull << (b % 64), __ATOMIC_RELAXED);
    put_watch(block, obj, spec, flags, type);
    return slot >= 0;
}

/* Decides on this thread's pending block: watched or not, once and for
 * all. Returns the object it has just put under a hardware watchpoint, 0
 * if none. */
static uintptr_t decide_pending(void)
{
    struct pending p = pending;
    struct live_info li;
    struct ty_object t = {0};
    pending.block = 0;
    uint32_t type;
    if (!p.block || !any_may_match(&p) || !live_find(p.block, &li) || !(type = ty_of_live_block(p.block, p.size, &t)))
        return 0;
    uintptr_t obj = p.block + t.offset;
    for (unsigned i = 0; i < nspecs; i++) {
        if (spec_matches(i, &p, &t) && wanted(i, __atomic_add_fetch(&matched[i], 1, __ATOMIC_RELAXED))) {
            return watch(p.block, obj, i, type) ? obj : 0;
        }
    }
    return 0;
}

void wt_after_alloc(uint8_t api, uintptr_t block, uint64_t size, uint32_t stack)
{
    if (!wt_on)
        return;
    decide_pending();
    if (jn_api_domain(api) == JN_DOMAIN_OBJ)
        pending = (struct pending){block, size, stack};
}

/* A watched object still waiting for a debug register, into *out (copied
 * under the lock); false when none waits. */
static bool waiting(struct wt_entry *out)
{
    size_t pos = 0;
    const struct wt_entry *e;
    bool found = false;
    spin_lock(&wt_lock);
    while (!found && (e = tbl_next(&watched, &pos)) != NULL)
        if (e->slot < 0 && (found = true))
            *out = *e;
    spin_unlock(&wt_lock);
    return found;
}

/* Gives a debug register that came free to an object chosen while none
 * was: armed now, its WATCH record repeated with JN_WATCH_LATER (its
 * changes so far came from the header only). An object freed by another
 * thread meanwhile gives the register back. */
static void promote(void)
{
    struct wt_entry w;
    if (!hw_on || !waiting(&w))
        return;
    int slot = hw_arm(w.obj, w.block);
    if (slot < 0)
        return;
    spin_lock(&wt_lock);
    struct wt_entry *e = tbl_find(&watched, w.obj);
    bool still = e && e->block == w.block && e->slot < 0;
    if (still)
        e->slot = slot;
    spin_unlock(&wt_lock);
    if (!still) {
        hw_disarm(slot);
        return;
    }
    struct live_info li;
    struct ty_object t = {0};
    uint32_t type = live_find(w.block, &li) ? ty_of_live_block(w.block, li.size, &t) : 0;
    put_watch(w.block, w.obj, w.spec, JN_WATCH_HARDWARE | JN_WATCH_LATER, type);
}

/* Removes the watched object at obj, if it is one; its debug register, if
 * it had one, is freed and goes to an object waiting for one. */
static void unwatch(uintptr_t obj)
{
    struct wt_entry e;
    if (!filter_maybe(obj))
        return;
    spin_lock(&wt_lock);
    bool found = tbl_remove(&watched, obj, &e);
    spin_unlock(&wt_lock);
    if (found && e.slot >= 0) {
        hw_disarm(e.slot);
        promote();
    }
}

void wt_before_free(uintptr_t block)
{
    if (!wt_on)
        return;
    if (pending.block == block)
        pending.block = 0; /* freed before it was decided on: never watched */
    else
        decide_pending();
    /* Where an object can start in its block (see ty_block_of). */
    const struct pyver_layout *L = pf_layout;
    unwatch(block);
    unwatch(block + L->gc_head_size);
    unwatch(block + L->gc_head_size + L->preheader_size);
}

enum wt_verdict wt_ref_verdict(uintptr_t o, bool increment, uintptr_t *block)
{
    /* An increment made before the watchpoint was armed by this very call
     * is the header's to record; a decrement is still to come, and traps. */
    bool just_armed = decide_pending() == o;
    if (!filter_maybe(o))
        return WT_SKIP;
    spin_lock(&wt_lock);
    const struct wt_entry *e = tbl_find(&watched, o);
    enum wt_verdict v = !e ? WT_SKIP : e->slot < 0 || (just_armed && increment) ? WT_RECORD : WT_HARDWARE;
    if (e)
        *block = e->block;
    spin_unlock(&wt_lock);
    return v;
}

void wt_finish(void)
{
    char text[300];
    if (!wt_on)
        return;
    if (hw_missed()) {
        log_format(text, sizeof text, "%lu reference-count changes of watched objects were not recorded: the "
                   "hardware watchpoint trapped while lifeline itself was running", (unsigned long)hw_missed());
        rec_note(text);
    }
    if (hw_uncovered()) {
        log_format(text, sizeof text, "%lu threads could not get a hardware watchpoint of a watched object "
                   "(more threads than 256 watchpoint descriptors cover, 128 on a free-threaded build, "
                   "watchpoints holding a quarter of the open-files limit, "
                   "or their debug registers were taken)", (unsigned long)hw_uncovered());
        rec_note(text);
    }
    uint64_t lost = __atomic_load_n(&unwatched, __ATOMIC_RELAXED);
    if (lost) {
        log_format(text, sizeof text, "%lu objects chosen by --watch could not be watched: the table of "
                   "watched objects was full", (unsigned long)lost);
        rec_note(text);
    }
}
