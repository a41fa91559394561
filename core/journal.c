/* Journal record encoding and decoding; the layout is in docs/journal.md. */
#include "journal.h"

#include <stddef.h>
#include <string.h>

#include "varint.h"

void jn_delta_reset(struct jn_delta *d, const struct jn_block_header *b)
{
    d->seq = b->first_seq;
    d->tsc = b->tsc_base >> JN_TSC_SHIFT;
    d->addr = 0;
}

uint8_t *jn_put_varint(uint8_t *p, uint64_t v)
{
    return varint_put(p, v);
}

/* The fields every event starts with: tag, seq delta, time delta. */
static uint8_t *put_event_head(uint8_t *p, struct jn_delta *d, unsigned kind, uint8_t api,
                               uint64_t seq, uint64_t tsc)
{
    uint64_t t = tsc >> JN_TSC_SHIFT;
    *p++ = JN_EVENT_TAG(kind, api);
    p = varint_put(p, seq - d->seq);
    p = varint_put(p, zigzag((int64_t)(t - d->tsc)));
    d->seq = seq;
    d->tsc = t;
    return p;
}

static uint8_t *put_addr(uint8_t *p, uint64_t *prev, uint64_t addr)
{
    p = varint_put(p, zigzag((int64_t)(addr - *prev)));
    *prev = addr;
    return p;
}

uint8_t *jn_put_alloc(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                      uint64_t addr, uint64_t size, uint32_t stack)
{
    p = put_event_head(p, d, JN_K_ALLOC, api, seq, tsc);
    p = put_addr(p, &d->addr, addr);
    p = varint_put(p, size);
    return varint_put(p, stack);
}

uint8_t *jn_put_free(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                     uint64_t addr, uint32_t stack, uint32_t type)
{
    p = put_event_head(p, d, type ? JN_K_FREE_TYPED : JN_K_FREE, api, seq, tsc);
    p = put_addr(p, &d->addr, addr);
    p = varint_put(p, stack);
    return type ? varint_put(p, type) : p;
}

uint8_t *jn_put_realloc(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                        uint64_t old_addr, uint64_t new_addr, uint64_t size, uint32_t stack)
{
    p = put_event_head(p, d, JN_K_REALLOC, api, seq, tsc);
    p = put_addr(p, &d->addr, old_addr);
    p = put_addr(p, &d->addr, new_addr);
    p = varint_put(p, size);
    return varint_put(p, stack);
}

uint8_t *jn_put_stack_head(uint8_t *p, uint32_t id, uint32_t nframes)
{
    *p++ = JN_K_STACK;
    p = varint_put(p, id);
    return varint_put(p, nframes);
}

uint8_t *jn_put_stack_native(uint8_t *p, uint64_t *pc_state, uint64_t pc)
{
    uint64_t v = zigzag((int64_t)(pc - *pc_state)) << 1;
    *pc_state = pc;
    return varint_put(p, v);
}

uint8_t *jn_put_stack_python(uint8_t *p, uint32_t code_id, uint32_t line)
{
    p = varint_put(p, ((uint64_t)code_id << 1) | 1);
    return varint_put(p, line);
}

uint8_t *jn_put_str(uint8_t *p, const char *s, uint32_t len)
{
    p = varint_put(p, len);
    memcpy(p, s, len);
    return p + len;
}

uint8_t *jn_put_code_head(uint8_t *p, uint32_t id)
{
    *p++ = JN_K_CODE;
    return varint_put(p, id);
}

uint8_t *jn_put_type_head(uint8_t *p, uint32_t id)
{
    *p++ = JN_K_TYPE;
    return varint_put(p, id);
}

uint8_t *jn_put_module_head(uint8_t *p, uint64_t bias, uint64_t start, uint64_t end)
{
    *p++ = JN_K_MODULE;
    p = varint_put(p, bias);
    p = varint_put(p, start);
    return varint_put(p, end);
}

uint8_t *jn_put_thread_head(uint8_t *p, uint32_t tid, bool main)
{
    *p++ = JN_K_THREAD;
    p = varint_put(p, tid);
    return varint_put(p, main);
}

uint8_t *jn_put_process_head(uint8_t *p, uint32_t pid, uint32_t flags)
{
    *p++ = JN_K_PROCESS;
    p = varint_put(p, pid);
    return varint_put(p, flags);
}

uint8_t *jn_put_note_head(uint8_t *p, uint32_t level)
{
    *p++ = JN_K_NOTE;
    return varint_put(p, level);
}

uint8_t *jn_put_crash_head(uint8_t *p, uint64_t seq, uint32_t tid, uint32_t signo, int32_t code,
                           uint64_t fault_addr, uint32_t nregs, const uint64_t *regs, uint32_t nsaved,
                           const struct jn_saved_reg *saved, uint32_t nframes)
{
    *p++ = JN_K_CRASH;
    p = varint_put(p, seq);
    p = varint_put(p, tid);
    p = varint_put(p, signo);
    p = varint_put(p, zigzag(code));
    p = varint_put(p, fault_addr);
    p = varint_put(p, nregs);
    for (uint32_t i = 0; i < nregs; i++)
        p = varint_put(p, regs[i]);
    p = varint_put(p, nsaved);
    for (uint32_t i = 0; i < nsaved; i++) {
        p = varint_put(p, saved[i].frame);
        p = varint_put(p, saved[i].reg);
        p = varint_put(p, saved[i].value);
    }
    return varint_put(p, nframes);
}

const char *jn_reg_name(unsigned i)
{
    static const char *const names[JN_MAX_REGS] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                                                   "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    return i < JN_MAX_REGS ? names[i] : "?";
}

uint8_t *jn_put_crash_native(uint8_t *p, uint64_t pc)
{
    return varint_put(p, pc << 1);
}

uint8_t *jn_put_crash_python(uint8_t *p, uint32_t line)
{
    return varint_put(p, ((uint64_t)line << 1) | 1);
}

uint8_t *jn_put_exit(uint8_t *p, int32_t status, uint64_t max_rss_kb, uint64_t cpu_ms)
{
    *p++ = JN_K_EXIT;
    p = varint_put(p, zigzag(status));
    p = varint_put(p, max_rss_kb);
    return varint_put(p, cpu_ms);
}

uint8_t *jn_put_error(uint8_t *p, uint64_t seq, uint32_t tid, enum jn_error error, const struct jn_error_info *e,
                      uint32_t stack)
{
    *p++ = JN_K_ERROR;
    p = varint_put(p, seq);
    p = varint_put(p, tid);
    p = varint_put(p, error);
    p = varint_put(p, e->api);
    p = varint_put(p, e->addr);
    p = varint_put(p, zigzag(e->offset));
    p = varint_put(p, e->access);
    p = varint_put(p, e->caught);
    p = varint_put(p, e->other_api);
    p = varint_put(p, stack);
    p = varint_put(p, e->type);
    p = varint_put(p, e->type_addr);
    p = varint_put(p, e->aux);
    p = varint_put(p, e->other_addr);
    return varint_put(p, e->other_type);
}

uint8_t *jn_put_leak(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type, uint32_t flags)
{
    *p++ = JN_K_LEAK;
    p = varint_put(p, seq);
    p = varint_put(p, addr);
    p = varint_put(p, type);
    return varint_put(p, flags);
}

uint8_t *jn_put_mark(uint8_t *p, uint64_t seq, uint32_t index, int64_t total_refs, uint64_t total_blocks)
{
    *p++ = JN_K_MARK;
    p = varint_put(p, seq);
    p = varint_put(p, index);
    p = varint_put(p, zigzag(total_refs));
    return varint_put(p, total_blocks);
}

uint8_t *jn_put_block_type(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type)
{
    *p++ = JN_K_BLOCK_TYPE;
    p = varint_put(p, seq);
    p = varint_put(p, addr);
    return varint_put(p, type);
}

uint8_t *jn_put_owner(uint8_t *p, uint64_t seq, uint32_t tid, enum jn_owner_event event, uint32_t func,
                      uint64_t addr, int64_t refcnt, uint32_t stack)
{
    *p++ = JN_K_OWNER;
    p = varint_put(p, seq);
    p = varint_put(p, tid);
    p = varint_put(p, event);
    p = varint_put(p, func);
    p = varint_put(p, addr);
    p = varint_put(p, zigzag(refcnt));
    return varint_put(p, stack);
}

uint8_t *jn_put_referrer(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type, int64_t offset)
{
    *p++ = JN_K_REFERRER;
    p = varint_put(p, seq);
    p = varint_put(p, addr);
    p = varint_put(p, type);
    return varint_put(p, zigzag(offset));
}

uint8_t *jn_put_watch(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t offset, uint32_t spec, uint32_t flags,
                      int64_t refcnt, uint32_t type)
{
    *p++ = JN_K_WATCH;
    p = varint_put(p, seq);
    p = varint_put(p, addr);
    p = varint_put(p, offset);
    p = varint_put(p, spec);
    p = varint_put(p, flags);
    p = varint_put(p, zigzag(refcnt));
    return varint_put(p, type);
}

uint8_t *jn_put_site_head(uint8_t *p, uint32_t id, uint32_t line)
{
    *p++ = JN_K_SITE;
    p = varint_put(p, id);
    return varint_put(p, line);
}

/* ---- decoding ---- */

/* A bounds-checked cursor: once it fails, every later read fails too, so the
 * decoders check `ok` once at the end instead of after every field. */
struct cursor {
    const uint8_t *p, *end;
    bool ok;
};

static __attribute__((noinline)) uint64_t cur_u_slow(struct cursor *c)
{
    uint64_t v = 0;
    if (!c->ok)
        return 0;
    const uint8_t *n = varint_get(c->p, c->end, &v);
    if (!n) {
        c->ok = false;
        return 0;
    }
    c->p = n;
    return v;
}

/* Reads a varint. The one-byte case, most fields of a journal, is inline;
 * after a failure values are garbage, which the decoders' final check of
 * `ok` throws away, but nothing is read outside [p, end). */
static inline uint64_t cur_u(struct cursor *c)
{
    if (c->p < c->end && *c->p < 0x80)
        return *c->p++;
    return cur_u_slow(c);
}

/* Reads a varint that must fit in 32 bits. */
static uint32_t cur_u32(struct cursor *c)
{
    uint64_t v = cur_u(c);
    if (v > UINT32_MAX)
        c->ok = false;
    return (uint32_t)v;
}

static int64_t cur_s(struct cursor *c)
{
    return unzigzag(cur_u(c));
}

static struct jn_str cur_str(struct cursor *c)
{
    struct jn_str s = {"", 0};
    uint64_t len = cur_u(c);
    if (!c->ok || len > (uint64_t)(c->end - c->p)) {
        c->ok = false;
        return s;
    }
    s.ptr = (const char *)c->p;
    s.len = (uint32_t)len;
    c->p += len;
    return s;
}

static void decode_event(struct cursor *c, struct jn_delta *d, struct jn_record *r)
{
    d->seq += cur_u(c);
    d->tsc += (uint64_t)cur_s(c);
    r->seq = d->seq;
    r->tsc = d->tsc << JN_TSC_SHIFT;
    if (r->kind == JN_K_REALLOC) {
        d->addr += (uint64_t)cur_s(c);
        r->old_addr = d->addr;
    }
    d->addr += (uint64_t)cur_s(c);
    r->addr = d->addr;
    if (r->kind == JN_K_ALLOC || r->kind == JN_K_REALLOC)
        r->size = cur_u(c);
    r->stack = cur_u32(c);
    if (r->kind == JN_K_FREE_TYPED)
        r->type = cur_u32(c);
}

/* Skips over `n` stack frames so the record's end is known. */
static void skip_stack_frames(struct cursor *c, uint32_t n)
{
    for (uint32_t i = 0; i < n && c->ok; i++) {
        if (cur_u(c) & 1)
            cur_u(c);
    }
}

static void skip_crash_frames(struct cursor *c, uint32_t n)
{
    for (uint32_t i = 0; i < n && c->ok; i++) {
        if (cur_u(c) & 1) {
            cur_str(c);
            cur_str(c);
        }
    }
}

static void decode_meta(struct cursor *c, struct jn_record *r)
{
    switch (r->kind) {
    case JN_K_STACK:
        r->u.stack.id = cur_u32(c);
        r->u.stack.nframes = cur_u32(c);
        r->u.stack.frames = c->p;
        skip_stack_frames(c, r->u.stack.nframes);
        r->u.stack.end = c->p;
        break;
    case JN_K_CODE:
        r->u.code.id = cur_u32(c);
        r->u.code.filename = cur_str(c);
        r->u.code.name = cur_str(c);
        break;
    case JN_K_TYPE:
        r->u.type.id = cur_u32(c);
        r->u.type.name = cur_str(c);
        break;
    case JN_K_MODULE:
        r->u.module.bias = cur_u(c);
        r->u.module.start = cur_u(c);
        r->u.module.end = cur_u(c);
        r->u.module.path = cur_str(c);
        break;
    case JN_K_THREAD:
        r->u.thread.tid = cur_u32(c);
        r->u.thread.main = cur_u(c) != 0;
        r->u.thread.name = cur_str(c);
        break;
    case JN_K_PROCESS:
        r->u.process.pid = cur_u32(c);
        r->u.process.flags = cur_u32(c);
        r->u.process.version = cur_str(c);
        r->u.process.executable = cur_str(c);
        r->u.process.argc = cur_u32(c);
        r->u.process.argv = c->p;
        for (uint32_t i = 0; i < r->u.process.argc && c->ok; i++)
            cur_str(c);
        r->u.process.end = c->p;
        break;
    case JN_K_NOTE:
        r->u.note.level = cur_u32(c);
        r->u.note.text = cur_str(c);
        break;
    case JN_K_CRASH:
        r->seq = cur_u(c);
        r->u.crash.tid = cur_u32(c);
        r->u.crash.signo = cur_u32(c);
        r->u.crash.code = (int32_t)cur_s(c);
        r->u.crash.fault_addr = cur_u(c);
        r->u.crash.nregs = cur_u32(c);
        if (r->u.crash.nregs > JN_MAX_REGS)
            c->ok = false;
        for (uint32_t i = 0; i < r->u.crash.nregs && c->ok; i++)
            r->u.crash.regs[i] = cur_u(c);
        r->u.crash.nsaved = cur_u32(c);
        if (r->u.crash.nsaved > JN_MAX_SAVED_REGS)
            c->ok = false;
        for (uint32_t i = 0; i < r->u.crash.nsaved && c->ok; i++) {
            r->u.crash.saved[i].frame = cur_u32(c);
            r->u.crash.saved[i].reg = cur_u32(c);
            r->u.crash.saved[i].value = cur_u(c);
        }
        r->u.crash.nframes = cur_u32(c);
        r->u.crash.frames = c->p;
        skip_crash_frames(c, r->u.crash.nframes);
        r->u.crash.end = c->p;
        break;
    case JN_K_EXIT:
        r->u.exit.status = (int32_t)cur_s(c);
        r->u.exit.max_rss_kb = cur_u(c);
        r->u.exit.cpu_ms = cur_u(c);
        break;
    case JN_K_ERROR:
        r->seq = cur_u(c);
        r->u.error.tid = cur_u32(c);
        r->u.error.error = cur_u32(c);
        r->api = (uint8_t)cur_u32(c);
        r->addr = cur_u(c);
        r->u.error.offset = cur_s(c);
        r->u.error.access = cur_u32(c);
        r->u.error.caught = cur_u32(c);
        r->u.error.other_api = cur_u32(c);
        r->stack = cur_u32(c);
        r->u.error.type = cur_u32(c);
        r->u.error.type_addr = cur_u(c);
        r->u.error.aux = cur_u(c);
        r->u.error.other_addr = cur_u(c);
        r->u.error.other_type = cur_u32(c);
        if (r->api >= JN_API_COUNT || r->u.error.other_api >= JN_API_COUNT || !r->u.error.error ||
            r->u.error.error > JN_ERR_LAST)
            c->ok = false;
        break;
    case JN_K_LEAK:
        r->seq = cur_u(c);
        r->addr = cur_u(c);
        r->u.leak.type = cur_u32(c);
        r->u.leak.flags = cur_u32(c);
        break;
    case JN_K_MARK:
        r->seq = cur_u(c);
        r->u.mark.index = cur_u32(c);
        r->u.mark.total_refs = cur_s(c);
        r->u.mark.total_blocks = cur_u(c);
        break;
    case JN_K_BLOCK_TYPE:
        r->seq = cur_u(c);
        r->addr = cur_u(c);
        r->u.block_type.type = cur_u32(c);
        break;
    case JN_K_OWNER:
        r->seq = cur_u(c);
        r->u.owner.tid = cur_u32(c);
        r->u.owner.event = cur_u32(c);
        r->u.owner.func = cur_u32(c);
        r->addr = cur_u(c);
        r->u.owner.refcnt = cur_s(c);
        r->stack = cur_u32(c);
        if (!r->u.owner.event || r->u.owner.event > JN_OWN_LAST)
            c->ok = false;
        break;
    case JN_K_REFERRER:
        r->seq = cur_u(c);
        r->addr = cur_u(c);
        r->u.referrer.type = cur_u32(c);
        r->u.referrer.offset = cur_s(c);
        break;
    case JN_K_WATCH:
        r->seq = cur_u(c);
        r->addr = cur_u(c);
        r->u.watch.offset = cur_u32(c);
        r->u.watch.spec = cur_u32(c);
        r->u.watch.flags = cur_u32(c);
        r->u.watch.refcnt = cur_s(c);
        r->u.watch.type = cur_u32(c);
        break;
    case JN_K_SITE:
        r->u.site.id = cur_u32(c);
        r->u.site.line = cur_u32(c);
        r->u.site.file = cur_str(c);
        break;
    default:
        c->ok = false;
    }
}

int jn_decode(const uint8_t **pp, const uint8_t *end, struct jn_delta *d, struct jn_record *r)
{
    struct cursor c = {*pp, end, true};
    if (c.p >= end || *c.p == 0)
        return 0;
    uint8_t tag = *c.p++;
    if (tag < JN_K_STACK) {
        /* Events are nearly every record: they clear only the fields they
         * use, not the union (760 bytes with a crash's registers). */
        memset(r, 0, offsetof(struct jn_record, u));
        r->kind = (enum jn_kind)(tag >> 5);
        r->api = tag & 31;
        if (r->kind < JN_K_ALLOC || r->kind > JN_K_REALLOC || r->api >= JN_API_COUNT)
            return -1;
        decode_event(&c, d, r);
    } else {
        memset(r, 0, sizeof *r);
        r->kind = (enum jn_kind)tag;
        decode_meta(&c, r);
    }
    if (!c.ok)
        return -1;
    *pp = c.p;
    return 1;
}

int jn_stack_next(const uint8_t **pp, const uint8_t *end, uint64_t *pc_state, struct jn_frame *f)
{
    struct cursor c = {*pp, end, true};
    if (c.p >= end)
        return 0;
    memset(f, 0, sizeof *f);
    uint64_t v = cur_u(&c);
    if (v & 1) {
        f->python = true;
        f->code_id = (uint32_t)(v >> 1);
        f->line = cur_u32(&c);
    } else {
        *pc_state += (uint64_t)unzigzag(v >> 1);
        f->pc = *pc_state;
    }
    if (!c.ok)
        return -1;
    *pp = c.p;
    return 1;
}

int jn_crash_next(const uint8_t **pp, const uint8_t *end, struct jn_frame *f)
{
    struct cursor c = {*pp, end, true};
    if (c.p >= end)
        return 0;
    memset(f, 0, sizeof *f);
    uint64_t v = cur_u(&c);
    if (v & 1) {
        f->python = true;
        f->line = (uint32_t)(v >> 1);
        f->filename = cur_str(&c);
        f->function = cur_str(&c);
    } else {
        f->pc = v >> 1;
    }
    if (!c.ok)
        return -1;
    *pp = c.p;
    return 1;
}

int jn_argv_next(const uint8_t **pp, const uint8_t *end, struct jn_str *s)
{
    struct cursor c = {*pp, end, true};
    if (c.p >= end)
        return 0;
    *s = cur_str(&c);
    if (!c.ok)
        return -1;
    *pp = c.p;
    return 1;
}

static const char *const api_names[JN_API_COUNT] = {
    "PyMem_RawMalloc", "PyMem_RawCalloc", "PyMem_RawRealloc", "PyMem_RawFree",
    "PyMem_Malloc", "PyMem_Calloc", "PyMem_Realloc", "PyMem_Free",
    "PyObject_Malloc", "PyObject_Calloc", "PyObject_Realloc", "PyObject_Free",
    "malloc", "calloc", "realloc", "free",
    "posix_memalign", "aligned_alloc", "memalign", "valloc", "pvalloc", "reallocarray",
};

const char *jn_api_name(unsigned api)
{
    return api < JN_API_COUNT ? api_names[api] : "?";
}

static const char *const capi_names[JN_CAPI_COUNT] = {
    [JN_CAPI_NONE] = "?",
    [JN_CAPI_LIST_GETITEM] = "PyList_GetItem",
    [JN_CAPI_TUPLE_GETITEM] = "PyTuple_GetItem",
    [JN_CAPI_DICT_GETITEM] = "PyDict_GetItem",
    [JN_CAPI_DICT_GETITEMSTRING] = "PyDict_GetItemString",
    [JN_CAPI_DICT_GETITEMWITHERROR] = "PyDict_GetItemWithError",
    [JN_CAPI_DICT_SETDEFAULT] = "PyDict_SetDefault",
    [JN_CAPI_DICT_NEXT] = "PyDict_Next",
    [JN_CAPI_WEAKREF_GETOBJECT] = "PyWeakref_GetObject",
    [JN_CAPI_SYS_GETOBJECT] = "PySys_GetObject",
    [JN_CAPI_MODULE_GETDICT] = "PyModule_GetDict",
    [JN_CAPI_IMPORT_ADDMODULE] = "PyImport_AddModule",
    [JN_CAPI_IMPORT_ADDMODULEOBJECT] = "PyImport_AddModuleObject",
    [JN_CAPI_IMPORT_GETMODULEDICT] = "PyImport_GetModuleDict",
    [JN_CAPI_STRUCTSEQUENCE_GETITEM] = "PyStructSequence_GetItem",
    [JN_CAPI_TUPLE_SETITEM] = "PyTuple_SetItem",
    [JN_CAPI_LIST_SETITEM] = "PyList_SetItem",
    [JN_CAPI_MODULE_ADDOBJECT] = "PyModule_AddObject",
    [JN_CAPI_EXCEPTION_SETCAUSE] = "PyException_SetCause",
    [JN_CAPI_EXCEPTION_SETCONTEXT] = "PyException_SetContext",
    [JN_CAPI_ERR_RESTORE] = "PyErr_Restore",
    [JN_CAPI_ERR_SETEXCINFO] = "PyErr_SetExcInfo",
    [JN_CAPI_STRUCTSEQUENCE_SETITEM] = "PyStructSequence_SetItem",
    [JN_CAPI_GC_TRACK] = "PyObject_GC_Track",
    [JN_CAPI_GC_UNTRACK] = "PyObject_GC_UnTrack",
    [JN_CAPI_GC_DEL] = "PyObject_GC_Del",
    [JN_CAPI_LIST_NEW] = "PyList_New",
    [JN_CAPI_TUPLE_NEW] = "PyTuple_New",
    [JN_CAPI_DICT_NEW] = "PyDict_New",
    [JN_CAPI_FLOAT_FROMDOUBLE] = "PyFloat_FromDouble",
    [JN_CAPI_BUILDVALUE] = "Py_BuildValue",
    [JN_CAPI_BUILDVALUE_SIZET] = "_Py_BuildValue_SizeT",
    [JN_CAPI_NEW_REFERENCE] = "_Py_NewReference",
};

const char *jn_capi_name(unsigned func)
{
    return func < JN_CAPI_COUNT ? capi_names[func] : "?";
}

enum jn_domain jn_api_domain(unsigned api)
{
    if (api <= JN_API_RAW_FREE)
        return JN_DOMAIN_RAW;
    if (api <= JN_API_MEM_FREE)
        return JN_DOMAIN_MEM;
    if (api <= JN_API_OBJ_FREE)
        return JN_DOMAIN_OBJ;
    return JN_DOMAIN_LIBC;
}

const char *jn_domain_name(unsigned domain)
{
    static const char *const names[JN_DOMAIN_COUNT] = {"raw", "mem", "obj", "libc"};
    return domain < JN_DOMAIN_COUNT ? names[domain] : "?";
}

bool jn_header_valid(const struct jn_file_header *h, size_t file_size, const char **why)
{
    if (file_size < sizeof *h || memcmp(h->magic, JN_MAGIC, JN_MAGIC_LEN) != 0) {
        *why = "not a lifeline journal (bad magic)";
        return false;
    }
    if (file_size < JN_FILE_HEADER_SIZE) {
        *why = "the journal is truncated (shorter than its header)";
        return false;
    }
    if (h->version < JN_VERSION_OLDEST || h->version > JN_VERSION) {
        *why = "journal format version is not supported by this lifeline";
        return false;
    }
    if (h->header_size != JN_FILE_HEADER_SIZE || h->block_size < 1024 ||
        h->block_size > (64u << 20) || (h->block_size & (h->block_size - 1))) {
        *why = "journal header is corrupted";
        return false;
    }
    return true;
}
