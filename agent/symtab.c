#include "symtab.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spin.h"

#define SYM_OBJECTS 128    /* ELF objects remembered; later ones are read on every ask */
#define SYM_RANGES 8       /* ranges kept per object (a static name may exist in several files) */

struct sym_range {
    uintptr_t start, end;
    uint32_t names; /* bit i: names[i] */
};

struct sym_object {
    uintptr_t base; /* dli_fbase: the key */
    unsigned nranges;
    struct sym_range r[SYM_RANGES];
};

/* protected by: set once by sym_set_names at start */
static const char *const *sym_names;
static unsigned sym_count;

/* protected by sym_lock */
static int sym_lock;
static struct sym_object objects[SYM_OBJECTS];
static unsigned nobjects;

void sym_set_names(const char *const *names, unsigned n)
{
    sym_names = names;
    sym_count = n < SYM_MAX_NAMES ? n : SYM_MAX_NAMES;
}

/* The bits of the names equal to name. */
static uint32_t name_bits(const char *name, const char *limit)
{
    uint32_t bits = 0;
    for (unsigned i = 0; i < sym_count; i++) {
        size_t n = strlen(sym_names[i]);
        if (name + n < limit && !memcmp(name, sym_names[i], n) && name[n] == 0)
            bits |= 1u << i;
    }
    return bits;
}

/* The lowest p_vaddr of a loadable segment: the load bias of a shared
 * object is its base less this. */
static uintptr_t first_vaddr(const uint8_t *m, size_t size, const Elf64_Ehdr *eh)
{
    uintptr_t low = UINTPTR_MAX;
    if (eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > size)
        return 0;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(m + eh->e_phoff);
    for (unsigned i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr < low)
            low = ph[i].p_vaddr;
    return low == UINTPTR_MAX ? 0 : low & ~(uintptr_t)0xfff;
}

/* The symbol table section to read: .symtab when present, else .dynsym. */
static const Elf64_Shdr *symbol_section(const uint8_t *m, size_t size, const Elf64_Ehdr *eh)
{
    if (eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > size || eh->e_shentsize != sizeof(Elf64_Shdr))
        return NULL;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(m + eh->e_shoff), *dyn = NULL;
    for (unsigned i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type == SHT_SYMTAB && sh[i].sh_link < eh->e_shnum)
            return &sh[i];
        if (sh[i].sh_type == SHT_DYNSYM && sh[i].sh_link < eh->e_shnum)
            dyn = &sh[i];
    }
    return dyn;
}

/* Fills o with the ranges of the named functions in the mapped file m. */
static void scan_symbols(const uint8_t *m, size_t size, uintptr_t base, struct sym_object *o)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)m;
    if (size < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return;
    const Elf64_Shdr *ss = symbol_section(m, size, eh);
    if (!ss)
        return;
    const Elf64_Shdr *strs = (const Elf64_Shdr *)(m + eh->e_shoff) + ss->sh_link;
    if (ss->sh_offset + ss->sh_size > size || strs->sh_offset + strs->sh_size > size)
        return;
    uintptr_t bias = eh->e_type == ET_DYN ? base - first_vaddr(m, size, eh) : 0;
    const Elf64_Sym *sym = (const Elf64_Sym *)(m + ss->sh_offset);
    const char *str = (const char *)(m + strs->sh_offset), *str_end = str + strs->sh_size;
    for (size_t i = 0; i < ss->sh_size / sizeof *sym && o->nranges < SYM_RANGES; i++) {
        if (ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC || !sym[i].st_value || sym[i].st_name >= strs->sh_size)
            continue;
        uint32_t bits = name_bits(str + sym[i].st_name, str_end);
        if (bits)
            o->r[o->nranges++] = (struct sym_range){bias + sym[i].st_value,
                                                    bias + sym[i].st_value + (sym[i].st_size ? sym[i].st_size : 1),
                                                    bits};
    }
}

/* Reads the named functions' ranges of the object at base from path. */
static void load_object(const char *path, uintptr_t base, struct sym_object *o)
{
    *o = (struct sym_object){.base = base};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    void *m = fstat(fd, &st) == 0 && st.st_size > 0 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                                                    : MAP_FAILED;
    close(fd);
    if (m == MAP_FAILED)
        return;
    scan_symbols(m, (size_t)st.st_size, base, o);
    munmap(m, (size_t)st.st_size);
}

/* The names whose ranges in o hold pc. */
static uint32_t bits_at(const struct sym_object *o, uintptr_t pc)
{
    uint32_t bits = 0;
    for (unsigned i = 0; i < o->nranges; i++)
        if (pc >= o->r[i].start && pc < o->r[i].end)
            bits |= o->r[i].names;
    return bits;
}

uint32_t sym_match(uintptr_t pc)
{
    Dl_info info;
    if (!sym_count || !dladdr((void *)pc, &info) || !info.dli_fbase)
        return 0;
    uintptr_t base = (uintptr_t)info.dli_fbase;
    spin_lock(&sym_lock);
    for (unsigned i = 0; i < nobjects; i++) {
        if (objects[i].base == base) {
            uint32_t bits = bits_at(&objects[i], pc);
            spin_unlock(&sym_lock);
            return bits;
        }
    }
    spin_unlock(&sym_lock);
    /* Read outside the lock: two threads may both read it, the first to
     * store wins and the other result is the same. */
    struct sym_object o;
    const char *path = info.dli_fname && strchr(info.dli_fname, '/') ? info.dli_fname : "/proc/self/exe";
    load_object(path, base, &o);
    spin_lock(&sym_lock);
    bool known = false;
    for (unsigned i = 0; i < nobjects; i++)
        known |= objects[i].base == base;
    if (!known && nobjects < SYM_OBJECTS)
        objects[nobjects++] = o;
    spin_unlock(&sym_lock);
    return bits_at(&o, pc);
}
