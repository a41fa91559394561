/* `lifeline dump JOURNAL`: every record of a journal, one per line, in file
 * order. For people debugging lifeline itself and the journal format. */
#include <inttypes.h>
#include <stdio.h>

#include "../core/journal.h"
#include "jreader.h"

static void print_str(const char *label, struct jn_str s)
{
    printf(" %s=%.*s", label, (int)s.len, s.ptr);
}

/* The sequenced records that are not allocator events. */
static void print_other(const struct jn_record *r, uint32_t tid)
{
    printf("seq=%" PRIu64 " tid=%u ", r->seq, tid);
    switch (r->kind) {
    case JN_K_ERROR:
        printf("error %u addr=0x%" PRIx64 " offset=%" PRId64 " stack=%u other=0x%" PRIx64 "\n", r->u.error.error,
               r->addr, r->u.error.offset, r->stack, r->u.error.other_addr);
        break;
    case JN_K_LEAK:
        printf("leak addr=0x%" PRIx64 " type=%u flags=%u\n", r->addr, r->u.leak.type, r->u.leak.flags);
        break;
    case JN_K_MARK:
        printf("mark index=%u refs=%" PRId64 " blocks=%" PRIu64 "\n", r->u.mark.index, r->u.mark.total_refs,
               r->u.mark.total_blocks);
        break;
    case JN_K_BLOCK_TYPE:
        printf("block-type addr=0x%" PRIx64 " type=%u\n", r->addr, r->u.block_type.type);
        break;
    case JN_K_OWNER:
        if (r->u.owner.event == JN_OWN_INCREF || r->u.owner.event == JN_OWN_DECREF)
            printf("owner event=%u site=%u", r->u.owner.event, r->u.owner.func);
        else
            printf("owner event=%u func=%s", r->u.owner.event,
                   r->u.owner.func ? jn_capi_name(r->u.owner.func) : "-");
        printf(" addr=0x%" PRIx64 " refcnt=%" PRId64 " stack=%u\n", r->addr, r->u.owner.refcnt, r->stack);
        break;
    case JN_K_REFERRER:
        printf("referrer addr=0x%" PRIx64 " type=%u offset=%" PRId64 "\n", r->addr, r->u.referrer.type,
               r->u.referrer.offset);
        break;
    case JN_K_WATCH:
        printf("watch addr=0x%" PRIx64 " offset=%u spec=%u flags=%u refcnt=%" PRId64 " type=%u\n", r->addr,
               r->u.watch.offset, r->u.watch.spec, r->u.watch.flags, r->u.watch.refcnt, r->u.watch.type);
        break;
    default:
        printf("kind=%u\n", r->kind);
    }
}

static bool print_event(void *arg, const struct jn_record *r, uint32_t tid)
{
    (void)arg;
    static const char *const names[] = {"?", "alloc", "free", "free", "realloc"};
    if (r->kind > JN_K_REALLOC) {
        print_other(r, tid);
        return true;
    }
    printf("seq=%" PRIu64 " tid=%u %s %s addr=0x%" PRIx64, r->seq, tid, names[r->kind], jn_api_name(r->api),
           r->addr);
    if (r->kind == JN_K_REALLOC)
        printf(" old=0x%" PRIx64, r->old_addr);
    if (r->kind == JN_K_ALLOC || r->kind == JN_K_REALLOC)
        printf(" size=%" PRIu64, r->size);
    printf(" stack=%u", r->stack);
    if (r->type)
        printf(" type=%u", r->type);
    putchar('\n');
    return true;
}

static void print_module(void *arg, const struct jn_record *r)
{
    (void)arg;
    printf("module bias=0x%" PRIx64 " [0x%" PRIx64 ", 0x%" PRIx64 ")", r->u.module.bias, r->u.module.start,
           r->u.module.end);
    print_str("path", r->u.module.path);
    putchar('\n');
}

static void print_stacks(struct jr_journal *j)
{
    struct jn_record r;
    for (uint32_t id = 1; jr_stack(j, id, &r); id++) {
        printf("stack %u:", id);
        const uint8_t *p = r.u.stack.frames;
        uint64_t pc = 0;
        struct jn_frame f;
        while (jn_stack_next(&p, r.u.stack.end, &pc, &f) == 1) {
            if (f.python) {
                struct jn_str file = {"", 0}, name = {"", 0};
                jr_code(j, f.code_id, &file, &name);
                printf(" py:%.*s@%.*s:%u", (int)name.len, name.ptr, (int)file.len, file.ptr, f.line);
            } else {
                printf(" 0x%" PRIx64, f.pc);
            }
        }
        putchar('\n');
    }
}

int dump_journal(const char *path)
{
    const char *why;
    struct jr_journal *j = jr_open(path, &why);
    if (!j) {
        fprintf(stderr, "lifeline: error: cannot read the journal '%s': %s\n", path, why);
        return 2;
    }
    struct jn_record r;
    if (jr_process(j, &r)) {
        printf("process pid=%u flags=%u", r.u.process.pid, r.u.process.flags);
        print_str("version", r.u.process.version);
        print_str("exe", r.u.process.executable);
        putchar('\n');
    }
    jr_each_module(j, print_module, NULL);
    print_stacks(j);
    struct jn_str tname;
    for (uint32_t id = 1; jr_type(j, id, &tname); id++)
        printf("type %u: %.*s\n", id, (int)tname.len, tname.ptr);
    uint32_t line;
    for (uint32_t id = 1; jr_site(j, id, &tname, &line); id++)
        printf("site %u: %.*s:%u\n", id, (int)tname.len, tname.ptr, line);
    uint64_t n = jr_replay(j, print_event, NULL);
    printf("events=%" PRIu64 " damaged=%d\n", n, jr_damaged(j));
    jr_close(j);
    return 0;
}
