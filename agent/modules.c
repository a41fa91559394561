#include "modules.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <unistd.h>

#include "../core/journal.h"
#include "jwriter.h"
#include "spin.h"

#define MAX_MODULES 1024
#define MAX_RANGES 2048

struct range {
    uintptr_t start, end;
    uintptr_t owner; /* the lowest address of the object the range belongs to */
};

/* protected by mod_lock: what has been journaled, and the ranges. Readers
 * of the ranges do not lock: entries are written before the count that
 * publishes them, and never change afterwards. */
static int mod_lock;
static uintptr_t seen_start[MAX_MODULES]; /* the lowest mapped address names an object */
static unsigned seen_count;
static struct range data_ranges[MAX_RANGES];
static unsigned data_count;
static struct range agent_text;

static bool already_seen_unlocked(uintptr_t start)
{
    for (unsigned i = 0; i < seen_count; i++)
        if (seen_start[i] == start)
            return true;
    return false;
}

static void journal_module(uintptr_t bias, uintptr_t start, uintptr_t end, const char *path)
{
    uint8_t rec[4200];
    size_t len = strnlen(path, 4096);
    uint8_t *p = jn_put_module_head(rec, bias, start, end);
    p = jn_put_str(p, path, (uint32_t)len);
    jw_write_record(rec, (size_t)(p - rec));
}

static void add_data_ranges_unlocked(const struct dl_phdr_info *info, uintptr_t owner)
{
    for (int i = 0; i < info->dlpi_phnum && data_count < MAX_RANGES; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        data_ranges[data_count] = (struct range){s, s + ph->p_memsz, owner};
        __atomic_store_n(&data_count, data_count + 1, __ATOMIC_RELEASE);
    }
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    uintptr_t start = UINTPTR_MAX, end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < start)
            start = s;
        if (s + ph->p_memsz > end)
            end = s + ph->p_memsz;
    }
    if (start >= end || already_seen_unlocked(start) || seen_count >= MAX_MODULES)
        return 0;
    seen_start[seen_count++] = start;
    add_data_ranges_unlocked(info, start);
    const char *path = info->dlpi_name;
    char exe[4096];
    if (!path || !*path) {
        /* The main program has no name in the link map. */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = 0;
        path = exe;
    }
    if (strncmp(path, "linux-vdso", 10) != 0)
        journal_module(info->dlpi_addr, start, end, path);
    if ((uintptr_t)&mod_scan >= start && (uintptr_t)&mod_scan < end)
        agent_text = (struct range){start, end, start};
    (void)arg;
    return 0;
}

/* protected by: atomic; counts finished scans */
static unsigned mod_scans;

void mod_scan(void)
{
    spin_lock(&mod_lock);
    dl_iterate_phdr(scan_one, NULL);
    spin_unlock(&mod_lock);
    __atomic_add_fetch(&mod_scans, 1, __ATOMIC_RELEASE);
}

unsigned mod_generation(void)
{
    return __atomic_load_n(&mod_scans, __ATOMIC_ACQUIRE);
}

bool mod_in_data(uintptr_t p)
{
    unsigned n = __atomic_load_n(&data_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (p >= data_ranges[i].start && p < data_ranges[i].end)
            return true;
    return false;
}

uintptr_t mod_owner(uintptr_t p)
{
    unsigned n = __atomic_load_n(&data_count, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (p >= data_ranges[i].start && p < data_ranges[i].end)
            return data_ranges[i].owner;
    return 0;
}

void mod_agent_range(uintptr_t *start, uintptr_t *end)
{
    *start = agent_text.start;
    *end = agent_text.end;
}

bool mod_in_agent(uintptr_t pc)
{
    return pc >= agent_text.start && pc < agent_text.end;
}
