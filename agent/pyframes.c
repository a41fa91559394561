#include "pyframes.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

const struct pyver_layout *pf_layout;

/* Set once by pf_init, before any hook is installed. */
static void *(*get_tstate)(void);
static int (*addr2line)(void *code, int addrq);
static uintptr_t eval_start, eval_end;
static uintptr_t code_type; /* &PyCode_Type: what a frame's code object must be */

#define AT(base, off, type) (*(type *)((const char *)(base) + (off)))

/* Finds the extent of a function symbol, so that pcs can be tested against it. */
static bool symbol_range(const char *name, uintptr_t *start, uintptr_t *end)
{
    void *addr = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    if (!addr || !dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
        return false;
    *start = (uintptr_t)addr;
    *end = *start + (sym->st_size ? sym->st_size : 1);
    return true;
}

bool pf_init(const struct pyver_layout *layout)
{
    pf_layout = layout;
    get_tstate = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyGILState_GetThisThreadState");
    addr2line = (int (*)(void *, int))dlsym(RTLD_DEFAULT, "PyCode_Addr2Line");
    code_type = (uintptr_t)dlsym(RTLD_DEFAULT, "PyCode_Type");
    bool ok = symbol_range("_PyEval_EvalFrameDefault", &eval_start, &eval_end);
    if (!get_tstate || !addr2line || !ok) {
        get_tstate = NULL;
        return false;
    }
    return true;
}

/* The frame the thread runs now: in the thread state itself, or behind
 * its C frame in versions that have one. */
static const void *current_frame(const void *ts)
{
    const struct pyver_layout *L = pf_layout;
    if (L->tstate_cframe == PYVER_ABSENT)
        return AT(ts, L->current_frame, const void *);
    const void *cframe = AT(ts, L->tstate_cframe, const void *);
    return cframe ? AT(cframe, L->current_frame, const void *) : NULL;
}

/* True for a shim frame the C stack owns (pushed where C enters the
 * evaluation loop): it runs no code and marks the frame above it as an
 * entry frame. Never true in versions that flag entry frames themselves. */
static bool is_shim(const void *f)
{
    const struct pyver_layout *L = pf_layout;
    return L->frame_owned_by_cstack && AT(f, L->frame_owner, char) == (char)L->frame_owned_by_cstack;
}

int pf_walk(struct pf_frame *out, int max)
{
    const struct pyver_layout *L = pf_layout;
    if (!get_tstate)
        return 0;
    const void *ts = get_tstate();
    if (!ts)
        return 0;
    int n = 0;
    for (const void *f = current_frame(ts); f && n < max; f = AT(f, L->frame_previous, const void *)) {
        if (is_shim(f)) {
            if (n > 0)
                out[n - 1].entry = true;
            continue;
        }
        const void *code = AT(f, L->frame_code, const void *);
        const char *instr = AT(f, L->frame_instr, const char *);
        if (!code || (code_type && AT(code, L->ob_type, uintptr_t) != code_type))
            break;
        out[n].code = code;
        out[n].lasti = (int32_t)(instr - ((const char *)code + L->code_bytecode));
        out[n].entry = L->frame_is_entry != PYVER_ABSENT && AT(f, L->frame_is_entry, bool);
        n++;
    }
    return n;
}

bool pf_is_eval_pc(uintptr_t pc)
{
    return pc >= eval_start && pc < eval_end;
}

int pf_line(const void *code, int32_t lasti)
{
    return addr2line((void *)code, lasti < 0 ? -1 : lasti);
}

uint64_t pf_code_identity(const void *code)
{
    const struct pyver_layout *L = pf_layout;
    return AT(code, L->code_name, uintptr_t) * 31 + AT(code, L->code_filename, uintptr_t);
}

/* Appends one code point as UTF-8 if it fits. */
static unsigned put_utf8(char *buf, unsigned pos, unsigned cap, uint32_t c)
{
    char tmp[4];
    unsigned n;
    if (c < 0x80) {
        tmp[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        tmp[0] = (char)(0xc0 | (c >> 6));
        tmp[1] = (char)(0x80 | (c & 0x3f));
        n = 2;
    } else if (c < 0x10000) {
        tmp[0] = (char)(0xe0 | (c >> 12));
        tmp[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[2] = (char)(0x80 | (c & 0x3f));
        n = 3;
    } else {
        tmp[0] = (char)(0xf0 | (c >> 18));
        tmp[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        tmp[2] = (char)(0x80 | ((c >> 6) & 0x3f));
        tmp[3] = (char)(0x80 | (c & 0x3f));
        n = 4;
    }
    if (pos + n >= cap)
        return pos;
    memcpy(buf + pos, tmp, n);
    return pos + n;
}

unsigned pf_str_utf8(const void *str, char *buf, unsigned cap)
{
    const struct pyver_layout *L = pf_layout;
    unsigned pos = 0;
    if (!cap)
        return 0;
    if (str) {
        uint32_t state = AT(str, L->str_state, uint32_t);
        int64_t len = AT(str, L->str_length, int64_t);
        unsigned kind = (state >> L->str_kind_shift) & 7;
        bool compact = (state >> L->str_compact_bit) & 1;
        bool ascii = (state >> L->str_ascii_bit) & 1;
        /* Only compact strings keep their text inline; every identifier and
         * file name of a code object is one. */
        if (compact && len >= 0) {
            const uint8_t *data = (const uint8_t *)str + (ascii ? L->str_ascii_data : L->str_compact_data);
            for (int64_t i = 0; i < len && pos + 1 < cap; i++) {
                uint32_t c = kind == 1 ? data[i] : kind == 2 ? ((const uint16_t *)data)[i]
                                                             : ((const uint32_t *)data)[i];
                unsigned next = put_utf8(buf, pos, cap, c);
                if (next == pos)
                    break;
                pos = next;
            }
        }
    }
    buf[pos] = 0;
    return pos;
}

unsigned pf_code_filename(const void *code, char *buf, unsigned cap)
{
    return pf_str_utf8(AT(code, pf_layout->code_filename, const void *), buf, cap);
}

unsigned pf_code_name(const void *code, char *buf, unsigned cap)
{
    return pf_str_utf8(AT(code, pf_layout->code_name, const void *), buf, cap);
}
