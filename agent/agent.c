/* Start-up of the agent inside the target. The order matters: everything
 * the hooks rely on is ready before the first hook is installed, and a
 * process that is not the traced Python stays entirely passive. */
#include "agent.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "../core/defaults.h"
#include "../core/journal.h"
#include "../core/os.h"
#include "../pyver/pyver.h"
#include "boot.h"
#include "boundary.h"
#include "capture.h"
#include "crash.h"
#include "guard.h"
#include "heap.h"
#include "hooks_py.h"
#include "jwriter.h"
#include "live.h"
#include "log.h"
#include "modules.h"
#include "pyframes.h"
#include "record.h"
#include "spin.h"
#include "threads.h"
#include "types.h"
#include "watch.h"
#include "world.h"

AGENT_TLS int guard_depth;

volatile bool agent_pending;
/* protected by pending_lock: the deferred installation */
static int pending_lock;
static void *initial_obj_malloc;

struct py_allocator_head {
    void *ctx;
    void *malloc;
    void *rest[3];
};

static void *current_obj_malloc(void)
{
    void (*get)(int, struct py_allocator_head *) =
        (void (*)(int, struct py_allocator_head *))dlsym(RTLD_DEFAULT, "PyMem_GetAllocator");
    struct py_allocator_head a = {0};
    if (get)
        get(2, &a);
    return a.malloc;
}

/* A process configured to pick its own allocators (PYTHONMALLOC, dev mode)
 * replaces whatever is installed during pre-initialization; hooks installed
 * before that would be thrown away, and blocks they saw freed by the wrong
 * allocator. So the agent waits until the configuration has been applied. */
static bool interpreter_sets_allocators(void)
{
    const char *pm = getenv("PYTHONMALLOC");
    const char *dev = getenv("PYTHONDEVMODE");
    if ((pm && *pm) || (dev && *dev))
        return true;
    char cmd[8192];
    ssize_t n = os_read_small_file("/proc/self/cmdline", cmd, sizeof cmd);
    for (ssize_t i = 0; i < n; i += (ssize_t)strlen(cmd + i) + 1) {
        if (!strcmp(cmd + i, "-Xdev") || (!strcmp(cmd + i, "-X") && i + 3 < n && !strcmp(cmd + i + 3, "dev")))
            return true;
    }
    return false;
}

void agent_poll_slow(void)
{
    static int (*is_initialized)(void);
    if (!spin_trylock(&pending_lock))
        return;
    if (agent_pending) {
        if (!is_initialized)
            is_initialized = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
        if (current_obj_malloc() != initial_obj_malloc || (is_initialized && is_initialized())) {
            hp_install();
            agent_pending = false;
        }
    }
    spin_unlock(&pending_lock);
}

/* Writes the PROCESS record: interpreter version, executable and argv. */
static void journal_process(uint32_t flags, const char *version)
{
    static uint8_t rec[16384];
    char exe[4096], cmd[8192];
    ssize_t exe_len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ssize_t cmd_len = os_read_small_file("/proc/self/cmdline", cmd, sizeof cmd);
    uint32_t argc = 0;
    for (ssize_t i = 0; i < cmd_len; i++)
        argc += cmd[i] == 0;
    uint8_t *p = jn_put_process_head(rec, (uint32_t)getpid(), flags);
    p = jn_put_str(p, version, (uint32_t)strlen(version));
    p = jn_put_str(p, exe, exe_len > 0 ? (uint32_t)exe_len : 0);
    p = jn_put_varint(p, argc);
    for (ssize_t i = 0; i < cmd_len; i += (ssize_t)strlen(cmd + i) + 1)
        p = jn_put_str(p, cmd + i, (uint32_t)strlen(cmd + i));
    jw_write_record(rec, (size_t)(p - rec));
}

/* The full version ("3.11.2"), read from Py_GetVersion's static text. */
static void full_version(char *out, size_t cap, const char *fallback)
{
    const char *(*get)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "Py_GetVersion");
    const char *v = get ? get() : fallback;
    size_t n = strcspn(v, " ");
    if (n >= cap)
        n = cap - 1;
    memcpy(out, v, n);
    out[n] = 0;
}

static void after_fork_in_child(void)
{
    /* First: the locks other threads held at the fork are free from here. */
    spin_after_fork_in_child();
    /* The parent keeps writing the journal; the child must not. Its hooks
     * stay installed and pass everything through. */
    jw_disown();
    heap_after_fork_in_child();
}

/* The number in a word key=N of LIFELINE_OPTIONS, or fallback. */
static size_t option_number(const char *opt, size_t len, const char *key, size_t fallback)
{
    size_t k = strlen(key);
    if (len <= k + 1 || strncmp(opt, key, k) != 0 || opt[k] != '=')
        return fallback;
    size_t v = 0;
    for (size_t i = k + 1; i < len; i++) {
        if (opt[i] < '0' || opt[i] > '9')
            return fallback;
        v = v * 10 + (size_t)(opt[i] - '0');
    }
    return v;
}

/* Reads LIFELINE_OPTIONS: words separated by spaces, commas or colons. The
 * options are documented in the README; the cli checks them before the
 * target starts, so the agent only picks out the words it uses. */
/* protected by: set once by read_options at start */
static bool gc_checks = true, leak_scan = true;

static void read_options(struct heap_options *h, bool *boundary)
{
    const char *o = getenv("LIFELINE_OPTIONS");
    *boundary = true;
    h->check = true;
    h->keep_going = false;
    h->quarantine_bytes = (size_t)LL_DEFAULT_QUARANTINE_MB << 20;
    h->pool_rate = LL_DEFAULT_POOL_RATE;
    h->pool_slots = LL_DEFAULT_POOL_SLOTS;
    h->sample_only = false;
    bool rate_given = false;
    while (o && *o) {
        size_t len = strcspn(o, " ,:");
        cap_exact_stacks = option_number(o, len, "exact_stacks", cap_exact_stacks) != 0;
        h->check = option_number(o, len, "check", h->check) != 0;
        gc_checks = option_number(o, len, "gc_checks", gc_checks) != 0;
        leak_scan = option_number(o, len, "leaks", leak_scan) != 0;
        h->keep_going = option_number(o, len, "keep_going", h->keep_going) != 0;
        h->quarantine_bytes = option_number(o, len, "quarantine_mb", h->quarantine_bytes >> 20) << 20;
        size_t rate = option_number(o, len, "pool_rate", SIZE_MAX);
        if (rate != SIZE_MAX) {
            h->pool_rate = (unsigned)rate;
            rate_given = true;
        }
        h->pool_slots = option_number(o, len, "pool_slots", h->pool_slots);
        *boundary = option_number(o, len, "boundary", *boundary) != 0;
        size_t sample = option_number(o, len, "sample", 0);
        if (sample) {
            h->sample_only = true;
            h->pool_rate = (unsigned)sample;
        }
        o += len;
        o += strspn(o, " ,:");
    }
    /* As the cli's --no-check: recording alone guards nothing. */
    if (!h->check && !rate_given && !h->sample_only)
        h->pool_rate = 0;
}

/* What a free-threaded interpreter keeps from lifeline, said once in the
 * report (docs/versions.md has the reasons at length). */
static void note_free_threaded(const struct pyver_layout *layout)
{
    if (!layout->free_threaded)
        return;
    rec_note("free-threaded Python: object blocks are tracked and journaled but not guarded "
             "(no redzones, freed-memory fill, quarantine or guarded pool: the collector walks mimalloc's "
             "heaps), so gc-dangling-reference is off and a use after free or overflow of an object is "
             "not caught; new object blocks get the new-memory fill (uninitialized-field, "
             "gc-tracked-uninitialized); gc-untraversed-reference is checked over every tracked object at "
             "each collection (one generation), refcount-too-low at full ones, both with the world stopped; "
             "the mem, raw and libc domains are fully checked");
}

static void start_recording(const struct pyver_layout *layout)
{
    struct heap_options hopt;
    bool boundary;
    read_options(&hopt, &boundary);
    hopt.plain_objects = layout->free_threaded;
    hopt.guard_from_raw = layout->obmalloc_per_interpreter;
    rec_name_types = pf_init(layout);
    if (!rec_name_types)
        log_msg("cannot find the interpreter's frame API; Python stacks are not recorded");
    ty_init();
    note_free_threaded(layout);
    world_init(layout->free_threaded);
    if (!boot_init(gc_checks, leak_scan))
        log_msg("this interpreter lacks C-API functions lifeline needs: no leak scan, no _lifeline module");
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
    if (!thr_init())
        log_msg("cannot hook the end of threads: the agent's per-thread memory is kept until exit");
    hl_init();
    crash_install();
    pthread_atfork(NULL, NULL, after_fork_in_child);
    bool deferred = interpreter_sets_allocators();
    /* Frees of unknown Python blocks are errors only when every block was
     * seen: not when the hooks come after the interpreter's own start. */
    hopt.invalid_free = !deferred;
    heap_configure(&hopt);
    if (boundary && !bnd_init(hopt.check))
        log_msg("cannot read the interpreter's objects; C-API calls of extensions are not recorded");
    wt_init();
    hl_activate();
    if (deferred) {
        initial_obj_malloc = current_obj_malloc();
        agent_pending = true;
    } else if (!hp_install()) {
        log_msg("cannot install Python allocator hooks");
    }
}

__attribute__((destructor)) static void agent_stop(void)
{
    if (!jw_active() || !guard_enter())
        return;
    heap_verify_all();
    wt_finish();
    guard_leave();
}

__attribute__((constructor)) static void agent_start(void)
{
    const char *path = getenv("LIFELINE_JOURNAL");
    const struct pyver_layout *layout;
    char version[32] = "", full[64];
    bool debug = false;
    if (!path || !*path)
        return;
    guard_depth = 1;
    enum pyver_status st = pyver_detect(&layout, version, sizeof version, &debug);
    if (st != PYVER_NOT_PYTHON && jw_open(path) == JW_CLAIMED) {
        mod_scan();
        /* A refused interpreter is named as pyver saw it (e.g. "3.14t
         * (free-threaded)"): its full version alone would not say why. */
        if (st == PYVER_OK)
            full_version(full, sizeof full, version);
        else
            memcpy(full, version, sizeof version < sizeof full ? sizeof version : sizeof full);
        uint32_t flags = (st == PYVER_OK ? JN_PROC_PYTHON : JN_PROC_PY_UNSUPPORTED) |
                         (debug ? JN_PROC_DEBUG_BUILD : 0);
        journal_process(flags, full);
        if (st == PYVER_OK)
            start_recording(layout);
        else
            jw_disown();
    }
    guard_depth = 0;
}
