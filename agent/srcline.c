#include "srcline.h"

#include <dlfcn.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>

#include "log.h"
#include "modules.h"
#include "spin.h"

/* libdw's entry points, from dlopen: a target that never asks for a C line
 * never maps libdw. */
struct sl_api {
    Dwfl *(*begin)(const Dwfl_Callbacks *);
    void (*report_begin)(Dwfl *);
    int (*proc_report)(Dwfl *, pid_t);
    int (*report_end)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *), void *);
    Dwfl_Module *(*addrmodule)(Dwfl *, Dwarf_Addr);
    Dwfl_Line *(*module_getsrc)(Dwfl_Module *, Dwarf_Addr);
    const char *(*lineinfo)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *, Dwarf_Word *);
};

/* protected by sl_lock: libdw is not thread-safe, and the session is
 * opened once */
static int sl_lock;
static struct sl_api sl;
static Dwfl *sl_dwfl; /* NULL until sl_open succeeded */
static Dwfl_Callbacks sl_callbacks;

/* Only the DWARF inside the object itself: finding separate debug files
 * would load the interpreter's 30 MB of it to learn that a frame of the
 * evaluation loop is not in the extension's file. */
static int sl_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
                           const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
                           char **debuginfo_file_name)
{
    (void)mod, (void)userdata, (void)modname, (void)base, (void)file_name, (void)debuglink_file;
    (void)debuglink_crc, (void)debuginfo_file_name;
    return -1;
}

/* Reports this process's current mappings to the session. */
static bool sl_report_unlocked(void)
{
    sl.report_begin(sl_dwfl);
    int rc = sl.proc_report(sl_dwfl, getpid());
    sl.report_end(sl_dwfl, NULL, NULL);
    return rc == 0;
}

/* Loads libdw and opens the session. Called with sl_lock held. */
static bool sl_open_unlocked(void)
{
    void *h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        log_msg("--watch site=FILE:LINE: libdw.so.1 cannot be loaded (%s); C lines are not matched", dlerror());
        return false;
    }
    sl.begin = (Dwfl *(*)(const Dwfl_Callbacks *))dlsym(h, "dwfl_begin");
    sl.report_begin = (void (*)(Dwfl *))dlsym(h, "dwfl_report_begin");
    sl.proc_report = (int (*)(Dwfl *, pid_t))dlsym(h, "dwfl_linux_proc_report");
    sl.report_end = (int (*)(Dwfl *, int (*)(Dwfl_Module *, void *, const char *, Dwarf_Addr, void *),
                             void *))dlsym(h, "dwfl_report_end");
    sl.addrmodule = (Dwfl_Module * (*)(Dwfl *, Dwarf_Addr)) dlsym(h, "dwfl_addrmodule");
    sl.module_getsrc = (Dwfl_Line * (*)(Dwfl_Module *, Dwarf_Addr)) dlsym(h, "dwfl_module_getsrc");
    sl.lineinfo = (const char *(*)(Dwfl_Line *, Dwarf_Addr *, int *, int *, Dwarf_Word *,
                                   Dwarf_Word *))dlsym(h, "dwfl_lineinfo");
    void *find_elf = dlsym(h, "dwfl_linux_proc_find_elf");
    if (!sl.begin || !sl.report_begin || !sl.proc_report || !sl.report_end || !sl.addrmodule ||
        !sl.module_getsrc || !sl.lineinfo || !find_elf) {
        log_msg("--watch site=FILE:LINE: this libdw lacks the functions lifeline needs; C lines are not matched");
        return false;
    }
    sl_callbacks.find_elf = (int (*)(Dwfl_Module *, void **, const char *, Dwarf_Addr, char **, Elf **))find_elf;
    sl_callbacks.find_debuginfo = sl_no_debuginfo;
    sl_dwfl = sl.begin(&sl_callbacks);
    if (sl_dwfl && !sl_report_unlocked())
        log_msg("--watch site=FILE:LINE: the process's mappings could not all be read; some C lines may not match");
    return sl_dwfl != NULL;
}

bool sl_open(void)
{
    spin_lock(&sl_lock);
    bool ok = sl_dwfl || sl_open_unlocked();
    spin_unlock(&sl_lock);
    return ok;
}

/* The line record of pc. When there is none but the loader has an object
 * there (fbase), the mappings are read again, once per generation of the
 * loaded objects: an object first met while its dlopen was in progress may
 * have been read from a partial mapping, or not at all, and is read again
 * once that dlopen has finished. A pc outside every object (generated code)
 * costs a dladdr, not a reading. */
static Dwfl_Line *sl_line_unlocked(uintptr_t pc, uintptr_t fbase)
{
    static unsigned read_at = ~0u; /* protected by sl_lock */
    Dwfl_Module *m = sl.addrmodule(sl_dwfl, pc);
    Dwfl_Line *l = m ? sl.module_getsrc(m, pc) : NULL;
    unsigned generation = mod_generation();
    if (l || !fbase || generation == read_at)
        return l;
    read_at = generation;
    if (!sl_report_unlocked())
        return NULL;
    m = sl.addrmodule(sl_dwfl, pc);
    return m ? sl.module_getsrc(m, pc) : NULL;
}

bool sl_with_line(uintptr_t pc, void (*fn)(const char *file, int line, void *arg), void *arg)
{
    bool found = false;
    Dl_info info;
    /* Before the lock: dladdr takes the loader's. */
    uintptr_t fbase = dladdr((void *)pc, &info) ? (uintptr_t)info.dli_fbase : 0;
    spin_lock(&sl_lock);
    if (sl_dwfl) {
        Dwfl_Line *l = sl_line_unlocked(pc, fbase);
        int line = 0;
        const char *file = l ? sl.lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
        if (file && line > 0) {
            fn(file, line, arg);
            found = true;
        }
    }
    spin_unlock(&sl_lock);
    return found;
}
