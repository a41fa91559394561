#include "elfpatch.h"

#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spin.h"

/* Objects are told apart by the address of their dynamic section: unique
 * among the objects loaded at one time. An object unloaded and replaced by
 * another at the same address would be taken for the old one; CPython
 * never unloads extension modules. */
#define EP_MAX_OBJECTS 4096

/* protected by ep_lock: the objects already looked at (or never to patch) */
static int ep_lock;
static uintptr_t ep_seen[EP_MAX_OBJECTS];
static unsigned ep_nseen;

/* What the patcher needs to know of one loaded object. */
struct object {
    uintptr_t base;               /* load bias */
    uintptr_t lo, hi;             /* its lowest and highest mapped address */
    uintptr_t relro_lo, relro_hi; /* the pages the loader made read-only after relocating */
    const ElfW(Phdr) *phdr;
    int phnum;
    const ElfW(Sym) *symtab;
    const char *strtab;
    const ElfW(Rela) *rela, *jmprel;
    size_t nrela, njmprel;
};

/* The targets, and what one pass over an object found. */
struct pass {
    const struct ep_target *targets;
    size_t n;
    bool apply;    /* false: only look */
    bool defines;  /* the object defines a target itself */
    unsigned hits; /* words that are (or would be) rewritten */
};

/* The address of an object's dynamic section, or 0 if it has none. */
static uintptr_t dynamic_of(const struct dl_phdr_info *info)
{
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            return info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
    return 0;
}

/* True if key was looked at before. Called with ep_lock held. */
static bool seen_unlocked(uintptr_t key)
{
    for (unsigned i = 0; i < ep_nseen; i++)
        if (ep_seen[i] == key)
            return true;
    return false;
}

/* Remembers key; when the table is full the object is simply looked at
 * again next time (patching is idempotent). Called with ep_lock held. */
static void remember_unlocked(uintptr_t key)
{
    if (ep_nseen < EP_MAX_OBJECTS)
        ep_seen[ep_nseen++] = key;
}

/* glibc relocates the pointers of a dynamic section in place unless the
 * section is read-only; either way this gives the address. */
static uintptr_t absolute(uintptr_t v, uintptr_t base)
{
    return v < base ? v + base : v;
}

/* The extent of the object's segments and its RELRO pages (rounded as the
 * loader rounds them: only whole pages are protected). */
static void read_segments(const struct dl_phdr_info *info, struct object *o)
{
    uintptr_t page = (uintptr_t)getpagesize();
    o->lo = UINTPTR_MAX;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s < o->lo)
            o->lo = s;
        if (ph->p_type == PT_LOAD && s + ph->p_memsz > o->hi)
            o->hi = s + ph->p_memsz;
        if (ph->p_type == PT_GNU_RELRO) {
            o->relro_lo = s & ~(page - 1);
            o->relro_hi = (s + ph->p_memsz) & ~(page - 1);
        }
    }
}

/* Fills *o from the object's dynamic section. False when it lacks a symbol
 * table or uses REL relocations (not x86-64's RELA). */
static bool read_dynamic(const struct dl_phdr_info *info, uintptr_t dynamic, struct object *o)
{
    memset(o, 0, sizeof *o);
    o->base = info->dlpi_addr;
    o->phdr = info->dlpi_phdr;
    o->phnum = info->dlpi_phnum;
    read_segments(info, o);
    size_t relasz = 0, pltrelsz = 0, relaent = sizeof(ElfW(Rela));
    bool plt_rela = true;
    for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)dynamic; d->d_tag != DT_NULL; d++) {
        uintptr_t v = absolute(d->d_un.d_ptr, o->base);
        switch (d->d_tag) {
        case DT_SYMTAB: o->symtab = (const ElfW(Sym) *)v; break;
        case DT_STRTAB: o->strtab = (const char *)v; break;
        case DT_RELA: o->rela = (const ElfW(Rela) *)v; break;
        case DT_JMPREL: o->jmprel = (const ElfW(Rela) *)v; break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        case DT_RELAENT: relaent = d->d_un.d_val; break;
        case DT_PLTREL: plt_rela = d->d_un.d_val == DT_RELA; break;
        default: break;
        }
    }
    o->nrela = o->rela ? relasz / sizeof(ElfW(Rela)) : 0;
    o->njmprel = o->jmprel ? pltrelsz / sizeof(ElfW(Rela)) : 0;
    return o->symtab && o->strtab && plt_rela && relaent == sizeof(ElfW(Rela));
}

/* True if where lies in a segment the program may write (after relocation). */
static bool in_writable_segment(const struct object *o, uintptr_t where)
{
    for (int i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        uintptr_t s = o->base + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && where >= s && where + 8 <= s + ph->p_memsz)
            return true;
    }
    return false;
}

/* Stores value at where, lifting the loader's write protection for the
 * moment of the store. False (nothing written) when where lies in no
 * segment the program could have written, or mprotect refuses. */
static bool put_word(const struct object *o, uintptr_t where, uintptr_t value)
{
    if (where >= o->relro_lo && where < o->relro_hi) {
        uintptr_t page = where & ~((uintptr_t)getpagesize() - 1);
        if (mprotect((void *)page, (size_t)getpagesize(), PROT_READ | PROT_WRITE) != 0)
            return false;
        __atomic_store_n((uintptr_t *)where, value, __ATOMIC_RELAXED);
        mprotect((void *)page, (size_t)getpagesize(), PROT_READ);
        return true;
    }
    if (!in_writable_segment(o, where))
        return false;
    __atomic_store_n((uintptr_t *)where, value, __ATOMIC_RELAXED);
    return true;
}

/* The target a relocation's symbol names, or NULL. Sets p->defines when the
 * object defines that symbol itself. */
static const struct ep_target *target_of(const struct object *o, const ElfW(Rela) *r, struct pass *p)
{
    const ElfW(Sym) *sym = &o->symtab[ELF64_R_SYM(r->r_info)];
    const char *name = o->strtab + sym->st_name;
    if (name[0] == '_')
        name++; /* _Py_BuildValue_SizeT and the like */
    if (name[0] != 'P' || name[1] != 'y')
        return NULL;
    name = o->strtab + sym->st_name;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(name, p->targets[i].name) != 0)
            continue;
        if (sym->st_shndx != SHN_UNDEF)
            p->defines = true;
        return &p->targets[i];
    }
    return NULL;
}

/* True if the word a relocation filled in is bound to the target: to its
 * definition, or (an import not yet bound lazily) to the object's own PLT. */
static bool bound_to(const struct object *o, const ElfW(Rela) *r, uintptr_t cur, const struct ep_target *t)
{
    switch (ELF64_R_TYPE(r->r_info)) {
    case R_X86_64_JUMP_SLOT:
        return cur == t->real || (cur >= o->lo && cur < o->hi);
    case R_X86_64_GLOB_DAT:
        return cur == t->real;
    case R_X86_64_64:
        return r->r_addend == 0 && cur == t->real;
    default:
        return false;
    }
}

/* One pass over a relocation table. */
static void patch_table(const struct object *o, const ElfW(Rela) *rel, size_t count, struct pass *p)
{
    for (size_t i = 0; i < count; i++) {
        const ElfW(Rela) *r = &rel[i];
        if (!ELF64_R_SYM(r->r_info))
            continue;
        const struct ep_target *t = target_of(o, r, p);
        uintptr_t where = o->base + r->r_offset;
        if (!t || !t->real || !t->to || !bound_to(o, r, *(const uintptr_t *)where, t))
            continue;
        if (!p->apply || put_word(o, where, t->to))
            p->hits++;
    }
}

/* Patches one object in two passes: the first finds out whether it defines
 * a target (then it is left alone), the second rewrites. */
static void patch_object(const struct object *o, struct pass *p)
{
    struct pass look = *p;
    look.apply = false;
    look.defines = false;
    look.hits = 0;
    patch_table(o, o->jmprel, o->njmprel, &look);
    patch_table(o, o->rela, o->nrela, &look);
    if (look.defines || !look.hits)
        return;
    patch_table(o, o->jmprel, o->njmprel, p);
    patch_table(o, o->rela, o->nrela, p);
}

/* dl_iterate_phdr callback of ep_patch_new. */
static int on_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct pass *p = arg;
    struct object o;
    uintptr_t dynamic = dynamic_of(info);
    if (!dynamic || seen_unlocked(dynamic))
        return 0;
    remember_unlocked(dynamic);
    if (read_dynamic(info, dynamic, &o))
        patch_object(&o, p);
    return 0;
}

/* dl_iterate_phdr callback of ep_init. */
static int on_startup_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t dynamic = dynamic_of(info);
    if (dynamic && !seen_unlocked(dynamic))
        remember_unlocked(dynamic);
    return 0;
}

void ep_init(void)
{
    spin_lock(&ep_lock);
    dl_iterate_phdr(on_startup_object, NULL);
    spin_unlock(&ep_lock);
}

unsigned ep_patch_new(const struct ep_target *targets, size_t n)
{
#if defined(__x86_64__)
    struct pass p = {targets, n, true, false, 0};
    spin_lock(&ep_lock);
    dl_iterate_phdr(on_object, &p);
    spin_unlock(&ep_lock);
    return p.hits;
#else
    (void)targets;
    (void)n;
    return 0;
#endif
}
