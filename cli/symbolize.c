/* symbolize.c - offline symbolization of native PCs with elfutils libdwfl.
 *
 * Design:
 *  - One Dwfl session per registered module.  A journal may list modules
 *    whose ranges overlap (dlclose + dlopen at the same address), which a
 *    single Dwfl rejects; our own module list decides which module owns a pc
 *    and the Dwfl only has to describe that one file.
 *  - Results are cached per pc in an open-addressing hash table whose values
 *    index a growing frame arena.  Every string handed out points into libdw
 *    data (owned by the Dwfl sessions) or into our own module paths, so all of
 *    them live until sym_close, even when the cache is dropped.
 *  - Inline chains follow eu-addr2line -i (dwarf_getscopes +
 *    dwarf_getscopes_die): every function-like DIE from the innermost scope
 *    out to the concrete function becomes one frame, and an inlined DIE's
 *    DW_AT_call_file/DW_AT_call_line is the position in the *next outer*
 *    frame.  The scopes are found through a per-CU function index instead of
 *    dwarf_getscopes, which rescans the whole CU for every pc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deepest inline chain kept per pc; deeper chains lose middle frames. */
#define SYM_CHAIN_MAX 64
#define SYM_SLOTS_INIT 1024u

/* One function's pc range [lo,hi) in DWARF addresses (without the bias). */
struct sym_fn {
    Dwarf_Addr lo, hi;
    Dwarf_Die die;
};

/* The functions of one CU, sorted by lo; built on the CU's first lookup. */
struct sym_cu {
    Dwarf_Off off;          /* CU DIE offset: the key */
    struct sym_fn *fns;
    size_t nfns;
};

/* One ELF code symbol at its run-time address (see elfsyms_build). */
struct sym_elfsym {
    uint64_t lo, end;       /* [lo,end): its size, or its section's end if sizeless */
    bool sized;
    const char *name;
    int rank;               /* binding preference among aliases */
    int index;              /* symbol table order, the last tie-break */
};

/* One CU's pc range, for files without .debug_aranges (see cu_fallback). */
struct sym_curange {
    Dwarf_Addr lo, hi;
    Dwarf_Die cu;
};

struct sym_module {
    char *path;
    uint64_t start, end;
    Dwfl *dwfl;             /* NULL when the file could not be opened as ELF */
    Dwfl_Module *mod;
    struct sym_cu *cus;     /* sorted by off */
    size_t ncus, capcus;
    struct sym_curange *curanges;   /* sorted by lo; built on first need */
    size_t ncuranges;
    Dwarf_Addr dwbias;
    bool cu_scanned;
    struct sym_elfsym *syms;        /* sorted by lo, then rank; built on first need */
    size_t nsyms;
    bool syms_built;
};

/* Absolute form of a relative DWARF path, keyed by libdw's own string
   pointer (stable for the Dwfl's lifetime and unique per CU file entry), so
   each path is joined and allocated once.  key == NULL marks an empty slot. */
struct sym_path {
    const char *key;
    char *full;
};

/* n == 0 marks an empty slot: every cached result has at least one frame. */
struct sym_entry {
    uint64_t pc;
    uint32_t first;         /* index into sym_table.frames */
    uint32_t n;
    const char *module;
};

struct sym_table {
    struct sym_module *mods;
    size_t nmods, capmods;
    size_t last_mod;        /* PCs cluster by module: try this one first */
    bool overlap;           /* some ranges overlap: the hint may be wrong */

    struct sym_entry *slots;
    size_t nslots, nused;   /* nslots is a power of two */

    struct sym_frame *frames;
    size_t nframes, capframes;

    struct sym_path *paths;
    size_t npaths, pathslots;   /* pathslots is a power of two */

    Dwarf_Die *path;        /* scratch: function DIEs from outermost in */
    size_t npath, cappath;
};

/* Offline callbacks: the ELF is opened by dwfl_report_elf itself, debuginfo
   is searched in the default path (.build-id under /usr/lib/debug, then
   .gnu_debuglink next to the file and under /usr/lib/debug).  Must outlive
   every Dwfl, hence static. */
static const Dwfl_Callbacks sym_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = NULL,
};

/* ---------------------------------------------------------------- helpers */

/* Grows *arr (element size sz) so that it holds at least need elements.
   Returns 0, or -1 on overflow/allocation failure leaving *arr untouched. */
static int grow(void **arr, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sz)
            return -1;
        ncap *= 2;
    }
    void *p = realloc(*arr, ncap * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Fibonacci hashing: PCs share low alignment bits and high module bits, so
   multiply to spread them before masking. */
static size_t slot_of(uint64_t pc, size_t nslots)
{
    return (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 17) & (nslots - 1);
}

/* ------------------------------------------------------------------ cache */

/* Returns the slot holding pc, or the empty slot where it belongs. */
static struct sym_entry *cache_probe(struct sym_entry *slots, size_t nslots, uint64_t pc)
{
    size_t i = slot_of(pc, nslots);
    while (slots[i].n != 0 && slots[i].pc != pc)
        i = (i + 1) & (nslots - 1);
    return &slots[i];
}

/* Doubles the slot array (or creates it).  Returns 0, or -1 on allocation
   failure with the old table intact. */
static int cache_grow(struct sym_table *t)
{
    size_t n = t->nslots ? t->nslots * 2 : SYM_SLOTS_INIT;
    if (n > SIZE_MAX / sizeof(struct sym_entry))
        return -1;
    struct sym_entry *s = calloc(n, sizeof *s);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < t->nslots; i++)
        if (t->slots[i].n != 0)
            *cache_probe(s, n, t->slots[i].pc) = t->slots[i];
    free(t->slots);
    t->slots = s;
    t->nslots = n;
    return 0;
}

/* Finds the cached entry for pc, or NULL. */
static const struct sym_entry *cache_find(const struct sym_table *t, uint64_t pc)
{
    if (t->nslots == 0)
        return NULL;
    const struct sym_entry *e = cache_probe(t->slots, t->nslots, pc);
    return e->n != 0 ? e : NULL;
}

/* Stores frames[0..n) for pc.  Returns the entry, or NULL on allocation
   failure (the caller then answers uncached). */
static const struct sym_entry *cache_put(struct sym_table *t, uint64_t pc,
                                         const struct sym_frame *fr, uint32_t n,
                                         const char *module)
{
    /* Keep the load at or under 1/2 so linear probes stay short. */
    if ((t->nused + 1) * 2 > t->nslots && cache_grow(t) != 0)
        return NULL;
    if (t->nframes + n > UINT32_MAX ||
        grow((void **)&t->frames, &t->capframes, t->nframes + n, sizeof *fr) != 0)
        return NULL;
    memcpy(t->frames + t->nframes, fr, n * sizeof *fr);
    struct sym_entry *e = cache_probe(t->slots, t->nslots, pc);
    *e = (struct sym_entry){ .pc = pc, .first = (uint32_t)t->nframes, .n = n, .module = module };
    t->nframes += n;
    t->nused++;
    return e;
}

/* Forgets every cached pc.  Handed-out strings stay valid (they never live
   in the arena), so only the indexes are reset. */
static void cache_clear(struct sym_table *t)
{
    if (t->slots != NULL)
        memset(t->slots, 0, t->nslots * sizeof *t->slots);
    t->nused = 0;
    t->nframes = 0;
}

/* ------------------------------------------------------------------ paths */

/* Returns the slot holding key, or the empty slot where it belongs. */
static struct sym_path *path_probe(struct sym_path *slots, size_t n, const char *key)
{
    size_t i = slot_of((uint64_t)(uintptr_t)key, n);
    while (slots[i].key != NULL && slots[i].key != key)
        i = (i + 1) & (n - 1);
    return &slots[i];
}

/* Doubles the path map.  Returns 0, or -1 on allocation failure with the
   old map intact. */
static int path_grow(struct sym_table *t)
{
    size_t n = t->pathslots ? t->pathslots * 2 : 256;
    if (n > SIZE_MAX / sizeof(struct sym_path))
        return -1;
    struct sym_path *s = calloc(n, sizeof *s);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < t->pathslots; i++)
        if (t->paths[i].key != NULL)
            *path_probe(s, n, t->paths[i].key) = t->paths[i];
    free(t->paths);
    t->paths = s;
    t->pathslots = n;
    return 0;
}

/* Returns file made absolute against the CU's compilation directory (DWARF
   keeps paths as given on the compiler's command line).  Returns file
   unchanged when it is NULL or already absolute, when the CU records no
   comp_dir, or on allocation failure: a relative path beats none. */
static const char *full_path(struct sym_table *t, Dwarf_Die *cu, const char *file)
{
    Dwarf_Attribute a;
    if (file == NULL || file[0] == '/' || cu == NULL)
        return file;
    if (t->pathslots != 0) {
        struct sym_path *p = path_probe(t->paths, t->pathslots, file);
        if (p->key != NULL)
            return p->full;
    }
    const char *dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &a));
    char *full = NULL;
    if (dir == NULL || dir[0] != '/')
        return file;
    if ((t->npaths + 1) * 2 > t->pathslots && path_grow(t) != 0)
        return file;
    if (asprintf(&full, "%s/%s", dir, file) < 0)
        return file;
    *path_probe(t->paths, t->pathslots, file) = (struct sym_path){ file, full };
    t->npaths++;
    return full;
}

/* ---------------------------------------------------------------- modules */

/* Opens path in a fresh offline Dwfl positioned at bias.  Returns NULL when
   the file is missing, unreadable or not ELF.
   dwfl_report_elf's base with add_p_vaddr=false is the address the first
   PT_LOAD's (aligned) p_vaddr is mapped at, not the load bias; it equals the
   bias only when that p_vaddr is 0.  add_p_vaddr=true makes base mean exactly
   the bias the journal records, so no program header has to be read here. */
static Dwfl *module_dwfl(const char *path, uint64_t bias, Dwfl_Module **mod)
{
    Dwfl *d = dwfl_begin(&sym_callbacks);
    if (d == NULL)
        return NULL;
    dwfl_report_begin(d);
    *mod = dwfl_report_elf(d, path, path, -1, bias, true);
    if (*mod == NULL || dwfl_report_end(d, NULL, NULL) != 0) {
        dwfl_end(d);
        return NULL;
    }
    return d;
}

/* Returns the module owning pc (latest registration wins), or NULL. */
static struct sym_module *module_find(struct sym_table *t, uint64_t pc)
{
    if (!t->overlap && t->last_mod < t->nmods) {
        struct sym_module *m = &t->mods[t->last_mod];
        if (pc >= m->start && pc < m->end)
            return m;
    }
    for (size_t i = t->nmods; i-- > 0;) {
        if (pc >= t->mods[i].start && pc < t->mods[i].end) {
            t->last_mod = i;
            return &t->mods[i];
        }
    }
    return NULL;
}

/* Forgets module_find's hint, whose module may have been superseded. */
static void module_hint_reset(struct sym_table *t)
{
    t->last_mod = SIZE_MAX;
}

/* True if [start,end) meets a module already registered.  With overlaps the
   hint could pick an older module, so module_find then always scans. */
static bool module_overlaps(const struct sym_table *t, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < t->nmods; i++)
        if (start < t->mods[i].end && t->mods[i].start < end)
            return true;
    return false;
}

/* Frees what a module owns (not the struct itself). */
static void module_free(struct sym_module *m)
{
    for (size_t i = 0; i < m->ncus; i++)
        free(m->cus[i].fns);
    free(m->cus);
    free(m->curanges);
    free(m->syms);
    if (m->dwfl != NULL)
        dwfl_end(m->dwfl);
    free(m->path);
}

/* ------------------------------------------------------------ CU lookup */

static int curange_cmp(const void *a, const void *b)
{
    const struct sym_curange *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Fills m->curanges from the CU DIEs' own ranges.  Best effort: on
   allocation failure the table keeps what it has. */
static void curanges_build(struct sym_module *m)
{
    size_t cap = 0;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &m->dwbias);
    Dwarf_CU *it = NULL;
    Dwarf_Die cu;
    m->cu_scanned = true;
    while (dw != NULL && dwarf_get_units(dw, it, &it, NULL, NULL, &cu, NULL) == 0) {
        Dwarf_Addr base, lo, hi;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(&cu, off, &base, &lo, &hi)) > 0) {
            if (lo >= hi)
                continue;
            if (grow((void **)&m->curanges, &cap, m->ncuranges + 1, sizeof *m->curanges) != 0)
                goto done;
            m->curanges[m->ncuranges++] = (struct sym_curange){ lo, hi, cu };
        }
    }
done:
    if (m->ncuranges > 1)       /* qsort's base must not be NULL, even for 0 */
        qsort(m->curanges, m->ncuranges, sizeof *m->curanges, curange_cmp);
}

/* Finds the CU holding pc when dwfl_module_addrdie cannot: elfutils 0.188
   finds CUs only through .debug_aranges, which clang (and rustc) do not
   emit by default.  Returns NULL if no CU covers pc. */
static Dwarf_Die *cu_fallback(struct sym_module *m, uint64_t pc, Dwarf_Addr *bias)
{
    if (!m->cu_scanned)
        curanges_build(m);
    Dwarf_Addr addr = pc - m->dwbias;
    size_t lo = 0, hi = m->ncuranges;
    while (lo < hi) {                   /* first entry with lo > addr */
        size_t mid = lo + (hi - lo) / 2;
        if (m->curanges[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || addr >= m->curanges[lo - 1].hi)
        return NULL;
    *bias = m->dwbias;
    return &m->curanges[lo - 1].cu;
}

/* Returns the CU DIE holding pc and its DWARF bias, or NULL. */
static Dwarf_Die *module_cu(struct sym_module *m, uint64_t pc, Dwarf_Addr *bias)
{
    Dwarf_Die *cu = dwfl_module_addrdie(m->mod, pc, bias);
    return cu != NULL ? cu : cu_fallback(m, pc, bias);
}

/* ------------------------------------------------------------- CU index */

/* Per-CU index: dwarf_getscopes walks every top-level DIE of the CU for each
   pc (and walks it again for abstract origins), which costs ~85us per pc on
   libc.  Instead the pc ranges of each CU's functions are collected once, and
   a lookup binary-searches them and descends only inside the one function. */

/* Collects into ci the ranges of d, a code-owning DIE.  DIEs without pc
   attributes (abstract instances, declarations) add nothing.  Returns 0, or
   -1 on allocation failure. */
static int index_die(struct sym_cu *ci, size_t *cap, Dwarf_Die *d)
{
    Dwarf_Addr base, lo, hi;
    ptrdiff_t off = 0;
    while ((off = dwarf_ranges(d, off, &base, &lo, &hi)) > 0) {
        if (lo >= hi)
            continue;
        if (grow((void **)&ci->fns, cap, ci->nfns + 1, sizeof *ci->fns) != 0)
            return -1;
        ci->fns[ci->nfns++] = (struct sym_fn){ .lo = lo, .hi = hi, .die = *d };
    }
    return 0;
}

/* Indexes the functions among parent's children, looking through the
   pc-less containers (namespaces, classes) that C++ nests definitions in.
   Returns 0, or -1 on allocation failure. */
static int index_children(struct sym_cu *ci, size_t *cap, Dwarf_Die *parent)
{
    Dwarf_Die c;
    if (dwarf_child(parent, &c) != 0)
        return 0;
    do {
        int rc = 0;
        switch (dwarf_tag(&c)) {
        case DW_TAG_subprogram:
            rc = index_die(ci, cap, &c);
            break;
        case DW_TAG_namespace:
        case DW_TAG_module:
        case DW_TAG_class_type:
        case DW_TAG_structure_type:
        case DW_TAG_union_type:
            rc = index_children(ci, cap, &c);
            break;
        default:
            break;
        }
        if (rc != 0)
            return -1;
    } while (dwarf_siblingof(&c, &c) == 0);
    return 0;
}

/* Orders by address, then by DIE order: assembler CUs describe aliases
   (kill and __GI_kill) as separate DIEs with equal ranges, and the first
   one is what dwarf_getscopes / eu-addr2line report. */
static int fn_cmp(const void *a, const void *b)
{
    const struct sym_fn *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    Dwarf_Off ox = dwarf_dieoffset((Dwarf_Die *)&x->die);
    Dwarf_Off oy = dwarf_dieoffset((Dwarf_Die *)&y->die);
    return ox < oy ? -1 : ox > oy;
}

/* Returns the function index of cudie's CU inside m->cus, building it
   on first use; NULL on allocation failure (callers then use ELF symbols). */
static struct sym_cu *cu_index(struct sym_module *m, Dwarf_Die *cudie)
{
    Dwarf_Off off = dwarf_dieoffset(cudie);
    size_t lo = 0, hi = m->ncus;
    while (lo < hi) {                   /* m->cus is sorted by offset */
        size_t mid = lo + (hi - lo) / 2;
        if (m->cus[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < m->ncus && m->cus[lo].off == off)
        return &m->cus[lo];
    struct sym_cu ci = { .off = off };
    size_t cap = 0;
    if (index_children(&ci, &cap, cudie) != 0 ||
        grow((void **)&m->cus, &m->capcus, m->ncus + 1, sizeof *m->cus) != 0) {
        free(ci.fns);
        return NULL;
    }
    if (ci.nfns > 1)
        qsort(ci.fns, ci.nfns, sizeof *ci.fns, fn_cmp);
    memmove(&m->cus[lo + 1], &m->cus[lo], (m->ncus - lo) * sizeof *m->cus);
    m->cus[lo] = ci;
    m->ncus++;
    return &m->cus[lo];
}

/* Returns the function of ci whose range holds addr (a DWARF address,
   i.e. without the module bias), or NULL. */
static struct sym_fn *cu_function(struct sym_cu *ci, Dwarf_Addr addr)
{
    size_t lo = 0, hi = ci->nfns;
    while (lo < hi) {                   /* first entry with lo > addr */
        size_t mid = lo + (hi - lo) / 2;
        if (ci->fns[mid].lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    /* Step back to the first (in DIE order) of the entries starting at the
       same address that holds addr. */
    size_t i = lo - 1, best = SIZE_MAX;
    Dwarf_Addr start = ci->fns[i].lo;
    for (;; i--) {
        if (addr < ci->fns[i].hi)
            best = i;
        if (i == 0 || ci->fns[i - 1].lo != start)
            break;
    }
    return best != SIZE_MAX ? &ci->fns[best] : NULL;
}

/* ------------------------------------------------------------------ DWARF */

/* Name of a subprogram or inlined instance; the name of an inlined or
   out-of-line instance lives on its abstract origin / specification, which
   dwarf_attr_integrate follows.  NULL if none. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &a));
}

/* Reads the call site of an inlined DIE into f->file/f->line (the position
   in the caller where it was inlined).  Leaves NULL/0 when absent. */
static void call_site(struct sym_table *t, Dwarf_Die *inl, struct sym_frame *f)
{
    Dwarf_Attribute a;
    Dwarf_Word v;
    Dwarf_Die cu;
    Dwarf_Files *files;
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &a), &v) == 0)
        f->line = (int)v;
    /* File indexes are relative to the line table of the DIE's own CU. */
    if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &a), &v) == 0 &&
        dwarf_diecu(inl, &cu, NULL, NULL) != NULL &&
        dwarf_getsrcfiles(&cu, &files, NULL) == 0)
        f->file = full_path(t, &cu, dwarf_filesrc(files, v, NULL, NULL));
}

/* Pushes d on the table's scratch path of function DIEs (outermost first).
   A nested (non-inlined) subprogram restarts the path: at run time it is a
   function of its own, not part of its parent's frame.  Returns false when
   the path cannot grow (the chain then ends at the last pushed DIE). */
static bool path_push(struct sym_table *t, Dwarf_Die *d)
{
    if (dwarf_tag(d) == DW_TAG_subprogram)
        t->npath = 0;
    if (grow((void **)&t->path, &t->cappath, t->npath + 1, sizeof *t->path) != 0)
        return false;
    t->path[t->npath++] = *d;
    return true;
}

/* Descends from parent to the innermost scope containing addr, pushing the
   function-like DIEs met on the way.  Lexical blocks are looked through:
   one without pc attributes (GCC emits some for pure variable scoping) may
   still hold code scopes, and GCC sometimes gives sibling blocks overlapping
   ranges, so a block that holds addr but no function below it does not end
   the search.  Returns true once a function DIE below parent was pushed. */
static bool descend(struct sym_table *t, Dwarf_Die *parent, Dwarf_Addr addr)
{
    Dwarf_Die c;
    if (dwarf_child(parent, &c) != 0)
        return false;
    do {
        int tag = dwarf_tag(&c);
        bool fn = tag == DW_TAG_inlined_subroutine || tag == DW_TAG_subprogram ||
                  tag == DW_TAG_entry_point;
        bool block = tag == DW_TAG_lexical_block || tag == DW_TAG_try_block ||
                     tag == DW_TAG_catch_block || tag == DW_TAG_with_stmt;
        if (fn && dwarf_haspc(&c, addr) == 1) {
            if (path_push(t, &c))
                descend(t, &c, addr);
            return true;
        }
        if (block && (dwarf_haspc(&c, addr) == 1 ||
                      (!dwarf_hasattr(&c, DW_AT_low_pc) && !dwarf_hasattr(&c, DW_AT_ranges))) &&
            descend(t, &c, addr))
            return true;
    } while (dwarf_siblingof(&c, &c) == 0);
    return false;
}

/* Appends one frame, overwriting the last slot once cap is reached so that
   the outermost (real) function always ends the chain. */
static int chain_push(struct sym_frame *fr, int n, int cap, struct sym_frame f)
{
    if (n == cap)
        n--;
    fr[n] = f;
    return n + 1;
}

/* Builds the inline chain for pc from DWARF into fr[0..cap), innermost
   first, like eu-addr2line -i: each inlined DIE names its frame through its
   abstract origin, and its DW_AT_call_file/line is the position in the next
   outer frame.  Frame 0 gets no file/line (the line table fills it).
   addr is pc in cudie's DWARF addresses.  Returns the frame count, 0 when
   there is no DWARF function at addr. */
static int dwarf_chain(struct sym_table *t, struct sym_module *m, Dwarf_Die *cudie,
                       Dwarf_Addr addr, struct sym_frame *fr, int cap)
{
    struct sym_cu *ci = cu_index(m, cudie);
    struct sym_fn *fn = ci ? cu_function(ci, addr) : NULL;
    if (fn == NULL)
        return 0;
    t->npath = 0;
    path_push(t, &fn->die);
    descend(t, &fn->die, addr);
    int n = 0;
    for (size_t i = t->npath; i-- > 0;) {
        Dwarf_Die *d = &t->path[i];
        struct sym_frame f = { .function = die_name(d),
                               .inlined = dwarf_tag(d) == DW_TAG_inlined_subroutine };
        if (i + 1 < t->npath)
            call_site(t, &t->path[i + 1], &f);
        n = chain_push(fr, n, cap, f);
    }
    return n;
}

/* Fills f->file/line from the line table, which describes the innermost
   (most deeply inlined) position.  cudie (may be NULL) is the CU found for
   pc, used directly when dwfl cannot map pc to a CU itself (no aranges). */
static void line_info(struct sym_table *t, struct sym_module *m, uint64_t pc,
                      Dwarf_Die *cudie, Dwarf_Addr bias, struct sym_frame *f)
{
    Dwfl_Line *l = dwfl_module_getsrc(m->mod, pc);
    int line = 0;
    const char *file = l ? dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL) : NULL;
    if (file != NULL) {
        f->file = full_path(t, dwfl_linecu(l), file);
        f->line = line;
        return;
    }
    Dwarf_Line *dl = cudie ? dwarf_getsrc_die(cudie, pc - bias) : NULL;
    file = dl ? dwarf_linesrc(dl, NULL, NULL) : NULL;
    if (file != NULL && dwarf_lineno(dl, &line) == 0) {
        f->file = full_path(t, cudie, file);
        f->line = line;
    }
}

/* ------------------------------------------------------------ ELF symbols */

/* ELF symbols name code without DWARF.  dwfl_module_addrinfo scans the
   whole symbol table per call (~300us on libpython's 40k symbols), which a
   stripped module would pay for every pc; the same table (.symtab, else
   .dynsym plus .gnu_debugdata) is therefore read once through
   dwfl_module_getsym_info and binary-searched. */

/* Alias preference, as dwfl_module_addrinfo: global, then weak, then local. */
static int elfsym_rank(const GElf_Sym *s)
{
    switch (GELF_ST_BIND(s->st_info)) {
    case STB_GLOBAL: return 2;
    case STB_WEAK: return 1;
    default: return 0;
    }
}

static int elfsym_cmp(const void *a, const void *b)
{
    const struct sym_elfsym *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->rank != y->rank)
        return y->rank - x->rank;
    return x->index - y->index;
}

/* True for symbols that can name a pc: defined code or untyped labels
   (assembler functions are often STT_NOTYPE). */
static bool elfsym_is_code(const GElf_Sym *s, GElf_Word shndx, const char *name)
{
    int type = GELF_ST_TYPE(s->st_info);
    return name != NULL && name[0] != '\0' && shndx != SHN_UNDEF && shndx != SHN_ABS &&
           (type == STT_FUNC || type == STT_GNU_IFUNC || type == STT_NOTYPE);
}

/* Returns the run-time end of the section holding a symbol (the limit of a
   sizeless symbol, so _init does not name the .plt after it), or 0 if the
   header is unavailable.  *exec is cleared for non-code sections: a pc is
   never in data or notes, so their symbols must not name one. */
static uint64_t section_end(Elf *elf, GElf_Word shndx, Dwarf_Addr bias, bool *exec)
{
    GElf_Shdr mem;
    GElf_Shdr *sh = elf ? gelf_getshdr(elf_getscn(elf, shndx), &mem) : NULL;
    if (sh == NULL)
        return 0;
    *exec = (sh->sh_flags & SHF_EXECINSTR) != 0;
    return bias + sh->sh_addr + sh->sh_size;
}

/* Fills m->syms.  Best effort: on allocation failure it keeps what it has. */
static void elfsyms_build(struct sym_module *m)
{
    size_t cap = 0;
    int n = dwfl_module_getsymtab(m->mod);
    m->syms_built = true;
    for (int i = 1; i < n; i++) {
        GElf_Sym s;
        GElf_Addr addr;
        GElf_Word shndx;
        Elf *elf = NULL;
        Dwarf_Addr bias = 0;
        const char *name = dwfl_module_getsym_info(m->mod, i, &s, &addr, &shndx, &elf, &bias);
        if (!elfsym_is_code(&s, shndx, name))
            continue;
        bool exec = true;
        uint64_t send = section_end(elf, shndx, bias, &exec);
        uint64_t end = s.st_size ? addr + s.st_size : send;
        if (!exec || end <= addr)
            continue;
        if (grow((void **)&m->syms, &cap, m->nsyms + 1, sizeof *m->syms) != 0)
            break;
        m->syms[m->nsyms++] = (struct sym_elfsym){ addr, end, s.st_size != 0, name,
                                                   elfsym_rank(&s), i };
    }
    if (m->nsyms > 1)
        qsort(m->syms, m->nsyms, sizeof *m->syms, elfsym_cmp);
}

/* Does symbol s name pc?  It must span pc, and a sizeless one (spanning
   to its section's end) also has to be the closest symbol at or below pc. */
static bool elfsym_covers(const struct sym_elfsym *s, uint64_t pc, uint64_t closest)
{
    return pc < s->end && (s->sized || s->lo == closest);
}

/* Name of the ELF symbol covering pc, or NULL.  Looks back a few entries
   past the closest one because sized symbols can nest (a local label
   symbol inside a larger function). */
static const char *elf_symbol(struct sym_module *m, uint64_t pc)
{
    if (!m->syms_built)
        elfsyms_build(m);
    size_t lo = 0, hi = m->nsyms;
    while (lo < hi) {                   /* first entry with lo > pc */
        size_t mid = lo + (hi - lo) / 2;
        if (m->syms[mid].lo <= pc)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    uint64_t closest = m->syms[lo - 1].lo;
    for (size_t i = lo, k = 0; i-- > 0 && k < 16; k++) {
        if (!elfsym_covers(&m->syms[i], pc, closest))
            continue;
        /* The best-ranked alias at this address sorts first. */
        while (i > 0 && m->syms[i - 1].lo == m->syms[i].lo &&
               elfsym_covers(&m->syms[i - 1], pc, closest))
            i--;
        return m->syms[i].name;
    }
    return NULL;
}

/* Resolves pc inside module m into fr[0..cap) (cap >= 1).  Always returns
   at least one frame. */
static int resolve_in(struct sym_table *t, struct sym_module *m, uint64_t pc,
                      struct sym_frame *fr, int cap)
{
    if (m->mod == NULL) {
        fr[0] = (struct sym_frame){ 0 };
        return 1;
    }
    Dwarf_Addr bias = 0;
    Dwarf_Die *cudie = module_cu(m, pc, &bias);
    int n = cudie ? dwarf_chain(t, m, cudie, pc - bias, fr, cap) : 0;
    if (n == 0) {
        /* No DWARF for pc: one frame, named from the ELF symbols. */
        n = 1;
        fr[0] = (struct sym_frame){ 0 };
    }
    /* The outermost frame is the real function, so its ELF symbol is a
       valid stand-in when DWARF gave no name. */
    if (fr[n - 1].function == NULL)
        fr[n - 1].function = elf_symbol(m, pc);
    line_info(t, m, pc, cudie, bias, &fr[0]);
    return n;
}

/* Copies a cached chain into out[0..max), keeping the outermost frame last
   when the chain does not fit. */
static int copy_out(const struct sym_frame *fr, int n, struct sym_frame *out, int max)
{
    if (n <= max) {
        memcpy(out, fr, (size_t)n * sizeof *out);
        return n;
    }
    memcpy(out, fr, (size_t)(max - 1) * sizeof *out);
    out[max - 1] = fr[n - 1];
    return max;
}

/* -------------------------------------------------------------------- API */

struct sym_table *sym_open(void)
{
    struct sym_table *t = calloc(1, sizeof *t);
    if (t != NULL)
        module_hint_reset(t);
    return t;
}

int sym_add_module(struct sym_table *t, const char *path, uint64_t bias,
                   uint64_t start, uint64_t end)
{
    if (t == NULL || path == NULL)
        return -1;
    if (grow((void **)&t->mods, &t->capmods, t->nmods + 1, sizeof *t->mods) != 0)
        return -1;
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    if (module_overlaps(t, start, end))
        t->overlap = true;
    struct sym_module *m = &t->mods[t->nmods++];
    *m = (struct sym_module){ .path = copy, .start = start, .end = end };
    m->dwfl = module_dwfl(path, bias, &m->mod);
    if (m->dwfl == NULL)
        m->mod = NULL;
    /* PCs cached as "no module" (or owned by an overlapped module) may now
       resolve differently. */
    cache_clear(t);
    module_hint_reset(t);
    return m->dwfl != NULL ? 0 : -1;
}

int sym_lookup(struct sym_table *t, uint64_t pc, struct sym_frame *out, int max,
               const char **module)
{
    if (module != NULL)
        *module = NULL;
    if (t == NULL || out == NULL || max < 1)
        return 0;
    const struct sym_entry *e = cache_find(t, pc);
    if (e == NULL) {
        struct sym_frame fr[SYM_CHAIN_MAX];
        struct sym_module *m = module_find(t, pc);
        int n = 1;
        fr[0] = (struct sym_frame){ 0 };
        if (m != NULL)
            n = resolve_in(t, m, pc, fr, SYM_CHAIN_MAX);
        const char *path = m ? m->path : NULL;
        e = cache_put(t, pc, fr, (uint32_t)n, path);
        if (e == NULL) {        /* out of memory: answer without caching */
            if (module != NULL)
                *module = path;
            return copy_out(fr, n, out, max);
        }
    }
    if (module != NULL)
        *module = e->module;
    return copy_out(t->frames + e->first, (int)e->n, out, max);
}

void sym_close(struct sym_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nmods; i++)
        module_free(&t->mods[i]);
    for (size_t i = 0; i < t->pathslots; i++)
        free(t->paths[i].full);
    free(t->paths);
    free(t->path);
    free(t->mods);
    free(t->slots);
    free(t->frames);
    free(t);
}

/* ---- struct layouts, for naming the field at an offset of an object ---- */

/* The byte size of a member's type, or -1. */
static int64_t member_size(Dwarf_Die *member)
{
    Dwarf_Attribute at;
    Dwarf_Die type;
    Dwarf_Word size;
    if (!dwarf_attr_integrate(member, DW_AT_type, &at) || !dwarf_formref_die(&at, &type))
        return -1;
    if (dwarf_aggregate_size(&type, &size) != 0)
        return -1;
    return (int64_t)size;
}

static int64_t member_offset(Dwarf_Die *member)
{
    Dwarf_Attribute at;
    Dwarf_Word v;
    if (!dwarf_attr(member, DW_AT_data_member_location, &at) || dwarf_formudata(&at, &v) != 0)
        return -1;
    return (int64_t)v;
}

/* True if die is a struct of `size` bytes whose first member is the object
 * header (`ob_base`, as PyObject_HEAD declares it). */
static bool is_object_struct(Dwarf_Die *die, uint64_t size)
{
    Dwarf_Word bytes;
    Dwarf_Die child;
    if (dwarf_tag(die) != DW_TAG_structure_type || dwarf_aggregate_size(die, &bytes) != 0 || bytes != size)
        return false;
    if (dwarf_child(die, &child) != 0 || dwarf_tag(&child) != DW_TAG_member)
        return false;
    const char *name = dwarf_diename(&child);
    return name && !strcmp(name, "ob_base") && member_offset(&child) == 0;
}

/* True if the member's type is an array (through typedefs and qualifiers). */
static bool member_is_array(Dwarf_Die *member)
{
    Dwarf_Attribute at;
    Dwarf_Die type;
    if (!dwarf_attr_integrate(member, DW_AT_type, &at) || !dwarf_formref_die(&at, &type))
        return false;
    for (int depth = 0; depth < 8; depth++) {
        int tag = dwarf_tag(&type);
        if (tag == DW_TAG_array_type)
            return true;
        if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type)
            return false;
        if (!dwarf_attr_integrate(&type, DW_AT_type, &at) || !dwarf_formref_die(&at, &type))
            return false;
    }
    return false;
}

/* Names the member of struct `st` that covers `offset` (descending into
 * nested structs as "outer.inner"). Returns 1 with the name, 0 when the
 * offset falls in padding or in an array member (a buffer whose tail an
 * object may never need). */
static int member_at(Dwarf_Die *st, uint64_t offset, char *out, size_t cap)
{
    Dwarf_Die m;
    if (dwarf_child(st, &m) != 0)
        return 0;
    do {
        if (dwarf_tag(&m) != DW_TAG_member)
            continue;
        int64_t off = member_offset(&m), size = member_size(&m);
        if (off < 0 || size <= 0 || offset < (uint64_t)off || offset >= (uint64_t)(off + size))
            continue;
        if (member_is_array(&m))
            return 0;
        const char *name = dwarf_diename(&m);
        snprintf(out, cap, "%s", name ? name : "?");
        Dwarf_Attribute at;
        Dwarf_Die type;
        if (dwarf_attr_integrate(&m, DW_AT_type, &at) && dwarf_formref_die(&at, &type) &&
            dwarf_tag(&type) == DW_TAG_structure_type) {
            size_t used = strlen(out);
            if (used + 2 < cap) {
                out[used] = '.';
                if (member_at(&type, offset - (uint64_t)off, out + used + 1, cap - used - 1) == 0)
                    return 0; /* padding or an array inside the nested struct */
            }
        }
        return 1;
    } while (dwarf_siblingof(&m, &m) == 0);
    return 0;
}

/* The struct a typedef names (`typedef struct { PyObject_HEAD ... }
 * PairObject;`, the usual way to declare an object struct, gives the struct
 * no name of its own). False when die is no typedef of a struct. */
static bool typedef_struct(Dwarf_Die *die, Dwarf_Die *out)
{
    Dwarf_Attribute at;
    return dwarf_tag(die) == DW_TAG_typedef && dwarf_attr_integrate(die, DW_AT_type, &at) &&
           dwarf_formref_die(&at, out) && dwarf_tag(out) == DW_TAG_structure_type;
}

/* Looks through the module's compilation units for object structs of the
 * given size; prefers one whose name, or the name of a typedef of it,
 * contains the hint. */
static bool find_object_struct(Dwarf *dw, uint64_t size, const char *hint, Dwarf_Die *found)
{
    Dwarf_Off off = 0, next;
    size_t hsize;
    bool any = false;
    while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
        Dwarf_Die cu, child;
        if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_child(&cu, &child) == 0) {
            do {
                Dwarf_Die die = child;
                const char *name = dwarf_diename(&child);
                if (dwarf_tag(&child) == DW_TAG_typedef && !typedef_struct(&child, &die))
                    continue;
                if (!is_object_struct(&die, size))
                    continue;
                if (!any || (name && hint && *hint && strstr(name, hint))) {
                    *found = die;
                    any = true;
                    if (name && hint && *hint && strstr(name, hint))
                        return true;
                }
            } while (dwarf_siblingof(&child, &child) == 0);
        }
        off = next;
    }
    return any;
}

int sym_struct_member(struct sym_table *t, uint64_t addr, uint64_t struct_size, const char *hint,
                      uint64_t offset, char *member, size_t cap)
{
    struct sym_module *m = module_find(t, addr);
    Dwarf_Addr bias;
    Dwarf_Die st;
    if (!m || !m->mod || cap == 0)
        return -1;
    Dwarf *dw = dwfl_module_getdwarf(m->mod, &bias);
    if (!dw || !find_object_struct(dw, struct_size, hint, &st))
        return -1;
    member[0] = 0;
    return member_at(&st, offset, member, cap);
}
