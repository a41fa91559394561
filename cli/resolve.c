#include "resolve.h"

#include <string.h>

#include "symbolize.h"

#define MAX_FRAMES 256
#define MAX_INLINE 16

static void add_module(void *arg, const struct jn_record *r)
{
    struct rs_ctx *c = arg;
    char *path = arena_strndup(c->arena, r->u.module.path.ptr, r->u.module.path.len);
    sym_add_module(c->sym, path, r->u.module.bias, r->u.module.start, r->u.module.end);
}

bool rs_init(struct rs_ctx *c, struct jr_journal *j, struct arena *a)
{
    c->journal = j;
    c->arena = a;
    c->sym = sym_open();
    if (!c->sym)
        return false;
    jr_each_module(j, add_module, c);
    return true;
}

void rs_close(struct rs_ctx *c)
{
    if (c->sym)
        sym_close(c->sym);
    c->sym = NULL;
}

static const char *keep(struct rs_ctx *c, const char *s)
{
    return s ? arena_strndup(c->arena, s, strlen(s)) : NULL;
}

/* Appends the frames of one native pc. A return address points after the
 * call, so it is looked up one byte earlier; the faulting pc of a crash is
 * exact. */
static int add_native(struct rs_ctx *c, struct fd_frame *out, int room, uint64_t pc, bool exact)
{
    struct sym_frame sf[MAX_INLINE];
    const char *module = NULL;
    int n = sym_lookup(c->sym, exact ? pc : pc - 1, sf, room < MAX_INLINE ? room : MAX_INLINE, &module);
    /* The symbolizer's strings die with it; the report outlives it. */
    const char *mod = keep(c, module);
    for (int i = 0; i < n; i++) {
        out[i] = (struct fd_frame){
            .python = false,
            .function = keep(c, sf[i].function),
            .file = keep(c, sf[i].file),
            .module = mod,
            .line = sf[i].line,
            .pc = pc,
        };
    }
    return n;
}

static void add_python(struct rs_ctx *c, struct fd_frame *f, struct jn_str file, struct jn_str func,
                       uint32_t line)
{
    *f = (struct fd_frame){
        .python = true,
        .function = func.len ? arena_strndup(c->arena, func.ptr, func.len) : NULL,
        .file = file.len ? arena_strndup(c->arena, file.ptr, file.len) : NULL,
        .line = (int)line,
    };
}

static void finish(struct rs_ctx *c, const char *name, struct fd_frame *tmp, int n, struct fd_stack *out)
{
    out->name = name;
    out->n = n;
    out->frames = arena_alloc(c->arena, (size_t)(n ? n : 1) * sizeof *tmp);
    memcpy(out->frames, tmp, (size_t)n * sizeof *tmp);
}

bool rs_stack(struct rs_ctx *c, uint32_t id, const char *name, struct fd_stack *out)
{
    struct fd_frame tmp[MAX_FRAMES];
    struct jn_record r;
    struct jn_frame jf;
    int n = 0;
    bool ok = id && jr_stack(c->journal, id, &r);
    if (ok) {
        const uint8_t *p = r.u.stack.frames;
        uint64_t pc_state = 0;
        while (n < MAX_FRAMES && jn_stack_next(&p, r.u.stack.end, &pc_state, &jf) == 1) {
            if (jf.python) {
                struct jn_str file = {"", 0}, func = {"", 0};
                jr_code(c->journal, jf.code_id, &file, &func);
                add_python(c, &tmp[n++], file, func, jf.line);
            } else {
                n += add_native(c, &tmp[n], MAX_FRAMES - n, jf.pc, false);
            }
        }
    }
    finish(c, name, tmp, n, out);
    return ok;
}

bool rs_crash_stack(struct rs_ctx *c, const struct jn_record *crash, struct fd_stack *out)
{
    struct fd_frame tmp[MAX_FRAMES];
    struct jn_frame jf;
    int n = 0;
    bool first_native = true;
    const uint8_t *p = crash->u.crash.frames;
    while (n < MAX_FRAMES && jn_crash_next(&p, crash->u.crash.end, &jf) == 1) {
        if (jf.python) {
            add_python(c, &tmp[n++], jf.filename, jf.function, jf.line);
        } else {
            n += add_native(c, &tmp[n], MAX_FRAMES - n, jf.pc, first_native);
            first_native = false;
        }
    }
    finish(c, "access", tmp, n, out);
    return n > 0;
}
