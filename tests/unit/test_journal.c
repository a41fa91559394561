/* Unit tests of the journal format: every record kind survives a round trip,
 * deltas work across signs, and damaged input is refused, never overread. */
#include <stdlib.h>
#include <string.h>

#include "../../core/journal.h"
#include "../../core/varint.h"
#include "check.h"

static void test_varint(void)
{
    uint8_t buf[VARINT_MAX];
    const uint64_t values[] = {0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        uint8_t *end = varint_put(buf, values[i]);
        uint64_t v = 0;
        CHECK(varint_get(buf, end, &v) == end);
        CHECK(v == values[i]);
        /* One byte short must fail, not read past the end. */
        CHECK(varint_get(buf, end - 1, &v) == NULL || end - buf == 1);
    }
    /* The one-byte fast path must not read at end. */
    uint64_t v = 7;
    CHECK(varint_get(buf, buf, &v) == NULL && v == 7);
    CHECK(unzigzag(zigzag(-5)) == -5);
    CHECK(unzigzag(zigzag(INT64_MIN)) == INT64_MIN);
    CHECK(zigzag(-1) == 1);
}

static struct jn_block_header block(uint64_t first_seq, uint64_t tsc)
{
    struct jn_block_header b;
    memset(&b, 0, sizeof b);
    b.magic = JN_BLOCK_MAGIC;
    b.first_seq = first_seq;
    b.tsc_base = tsc;
    return b;
}

static void test_events_round_trip(void)
{
    uint8_t buf[1024], *p = buf;
    struct jn_block_header b = block(100, 1 << 20);
    struct jn_delta w, r;
    jn_delta_reset(&w, &b);
    p = jn_put_alloc(p, &w, JN_API_OBJ_MALLOC, 100, (1 << 20) + 640, 0x7f0000001000, 56, 7);
    p = jn_put_free(p, &w, JN_API_OBJ_FREE, 105, (1 << 20) + 1280, 0x7f0000000ff0, 9, 3);
    p = jn_put_free(p, &w, JN_API_FREE, 106, (1 << 20) + 1280, 0x1000, 0, 0);
    p = jn_put_realloc(p, &w, JN_API_REALLOC, 200, (1 << 20) + 99999, 0x1000, 0x7fffffff0000, 1 << 30, 4);

    const uint8_t *q = buf;
    struct jn_record rec;
    jn_delta_reset(&r, &b);
    CHECK(jn_decode(&q, p, &r, &rec) == 1);
    CHECK(rec.kind == JN_K_ALLOC && rec.api == JN_API_OBJ_MALLOC && rec.seq == 100);
    CHECK(rec.addr == 0x7f0000001000 && rec.size == 56 && rec.stack == 7);
    CHECK(rec.tsc >> JN_TSC_SHIFT == ((1 << 20) + 640) >> JN_TSC_SHIFT);
    CHECK(jn_decode(&q, p, &r, &rec) == 1);
    CHECK(rec.kind == JN_K_FREE_TYPED && rec.addr == 0x7f0000000ff0 && rec.type == 3 && rec.seq == 105);
    /* Decoded into the record that held the allocation: what a free does
     * not carry is zero again. */
    CHECK(rec.size == 0 && rec.old_addr == 0);
    CHECK(jn_decode(&q, p, &r, &rec) == 1);
    CHECK(rec.kind == JN_K_FREE && rec.addr == 0x1000 && rec.stack == 0 && rec.type == 0);
    CHECK(jn_decode(&q, p, &r, &rec) == 1);
    CHECK(rec.kind == JN_K_REALLOC && rec.old_addr == 0x1000 && rec.addr == 0x7fffffff0000);
    CHECK(rec.size == 1u << 30 && rec.seq == 200);
    CHECK(jn_decode(&q, p, &r, &rec) == 0);
    /* Compactness: four events in well under 16 bytes each. */
    CHECK(p - buf < 4 * 16);
}

static void test_meta_round_trip(void)
{
    uint8_t buf[1024], *p = buf;
    uint64_t pcs = 0;
    p = jn_put_stack_head(p, 42, 3);
    p = jn_put_stack_native(p, &pcs, 0x401000);
    p = jn_put_stack_python(p, 5, 17);
    p = jn_put_stack_native(p, &pcs, 0x400ff0);
    p = jn_put_code_head(p, 5);
    p = jn_put_str(p, "repro.py", 8);
    p = jn_put_str(p, "<module>", 8);
    const uint64_t regs[3] = {1, 0xdddddddddddddddd, 3};
    const struct jn_saved_reg saved[2] = {{1, 1, 0x7fff0000}, {2, 12, 42}};
    p = jn_put_crash_head(p, 77, 1234, 11, 1, 0x10, 3, regs, 2, saved, 2);
    p = jn_put_crash_native(p, 0x401234);
    p = jn_put_crash_python(p, 3);
    p = jn_put_str(p, "a.py", 4);
    p = jn_put_str(p, "f", 1);
    p = jn_put_exit(p, -11, 15000, 92);
    struct jn_error_info info = {JN_API_MEM_FREE, JN_API_OBJ_MALLOC, 0x7f0000001230, -3, JN_ACCESS_WRITE,
                                 JN_CAUGHT_LATER, 12, 0x401000, 56, 0x7f0000004560, 13};
    p = jn_put_error(p, 99, 4321, JN_ERR_UNINIT, &info, 17);
    p = jn_put_leak(p, 100, 0x7f0000002000, 7, JN_LEAK_DIRECT);
    p = jn_put_mark(p, 101, 3, -1, 123456);
    p = jn_put_block_type(p, 102, 0x7f0000003000, 8);
    p = jn_put_owner(p, 103, 4321, JN_OWN_STEAL, 2, 0x7f0000004000, 1, 18);
    p = jn_put_referrer(p, 104, 0x7f0000005000, 9, 24);
    p = jn_put_watch(p, 105, 0x7f0000006000, 16, 2, JN_WATCH_NO_SLOT, 3, 11);
    p = jn_put_site_head(p, 6, 103);
    p = jn_put_str(p, "zoo.c", 5);

    struct jn_delta d = {0, 0, 0};
    struct jn_record r;
    struct jn_frame f;
    const uint8_t *q = buf;
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_STACK && r.u.stack.id == 42);
    const uint8_t *fp = r.u.stack.frames;
    uint64_t st = 0;
    CHECK(jn_stack_next(&fp, r.u.stack.end, &st, &f) == 1 && !f.python && f.pc == 0x401000);
    CHECK(jn_stack_next(&fp, r.u.stack.end, &st, &f) == 1 && f.python && f.code_id == 5 && f.line == 17);
    CHECK(jn_stack_next(&fp, r.u.stack.end, &st, &f) == 1 && f.pc == 0x400ff0);
    CHECK(jn_stack_next(&fp, r.u.stack.end, &st, &f) == 0);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_CODE && r.u.code.id == 5);
    CHECK(r.u.code.filename.len == 8 && !memcmp(r.u.code.filename.ptr, "repro.py", 8));
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_CRASH && r.u.crash.signo == 11);
    CHECK(r.u.crash.fault_addr == 0x10 && r.u.crash.tid == 1234 && r.seq == 77 && r.u.crash.nframes == 2);
    CHECK(r.u.crash.nregs == 3 && r.u.crash.regs[1] == 0xdddddddddddddddd);
    CHECK(r.u.crash.nsaved == 2 && r.u.crash.saved[0].value == 0x7fff0000 && r.u.crash.saved[1].reg == 12);
    CHECK(r.u.crash.saved[1].frame == 2 && r.u.crash.saved[1].value == 42);
    fp = r.u.crash.frames;
    CHECK(jn_crash_next(&fp, r.u.crash.end, &f) == 1 && f.pc == 0x401234);
    CHECK(jn_crash_next(&fp, r.u.crash.end, &f) == 1 && f.python && f.line == 3 && f.function.len == 1);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_EXIT && r.u.exit.status == -11);
    CHECK(r.u.exit.max_rss_kb == 15000 && r.u.exit.cpu_ms == 92);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_ERROR && r.u.error.error == JN_ERR_UNINIT);
    CHECK(r.seq == 99 && r.u.error.tid == 4321 && r.api == JN_API_MEM_FREE && r.u.error.other_api == JN_API_OBJ_MALLOC);
    CHECK(r.addr == 0x7f0000001230 && r.u.error.offset == -3 && r.u.error.access == JN_ACCESS_WRITE);
    CHECK(r.u.error.caught == JN_CAUGHT_LATER && r.stack == 17 && r.u.error.type == 12);
    CHECK(r.u.error.type_addr == 0x401000 && r.u.error.aux == 56);
    CHECK(r.u.error.other_addr == 0x7f0000004560 && r.u.error.other_type == 13);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_LEAK && r.seq == 100 && r.addr == 0x7f0000002000);
    CHECK(r.u.leak.type == 7 && r.u.leak.flags == JN_LEAK_DIRECT && jn_is_sequenced(r.kind));
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_MARK && r.seq == 101 && r.u.mark.index == 3);
    CHECK(r.u.mark.total_refs == -1 && r.u.mark.total_blocks == 123456);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_BLOCK_TYPE && r.addr == 0x7f0000003000);
    CHECK(r.u.block_type.type == 8);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_OWNER && r.u.owner.event == JN_OWN_STEAL);
    CHECK(r.u.owner.func == 2 && r.addr == 0x7f0000004000 && r.u.owner.refcnt == 1 && r.stack == 18);
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_REFERRER && r.seq == 104 && r.u.referrer.type == 9);
    CHECK(r.u.referrer.offset == 24 && !jn_is_sequenced(JN_K_STACK));
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_WATCH && r.seq == 105 && r.addr == 0x7f0000006000);
    CHECK(r.u.watch.offset == 16 && r.u.watch.spec == 2 && r.u.watch.flags == JN_WATCH_NO_SLOT);
    CHECK(r.u.watch.refcnt == 3 && r.u.watch.type == 11 && jn_is_sequenced(r.kind));
    CHECK(jn_decode(&q, p, &d, &r) == 1 && r.kind == JN_K_SITE && r.u.site.id == 6 && r.u.site.line == 103);
    CHECK(r.u.site.file.len == 5 && !memcmp(r.u.site.file.ptr, "zoo.c", 5) && !jn_is_sequenced(r.kind));
    CHECK(jn_decode(&q, p, &d, &r) == 0);
}

/* Every truncation of a valid record must decode as an error or a clean
 * end, and random bytes must never read outside the buffer (run this
 * under valgrind or ASan to see the second half). */
static void test_damage(void)
{
    uint8_t buf[256], *p = buf;
    p = jn_put_code_head(p, 9);
    p = jn_put_str(p, "some/file.py", 12);
    p = jn_put_str(p, "function", 8);
    size_t len = (size_t)(p - buf);
    struct jn_delta d = {0, 0, 0};
    struct jn_record r;
    for (size_t cut = 1; cut < len; cut++) {
        uint8_t *copy = malloc(cut);
        memcpy(copy, buf, cut);
        const uint8_t *q = copy;
        CHECK(jn_decode(&q, copy + cut, &d, &r) == -1);
        free(copy);
    }
    srand(1);
    for (int i = 0; i < 20000; i++) {
        uint8_t junk[32];
        for (size_t k = 0; k < sizeof junk; k++)
            junk[k] = (uint8_t)rand();
        uint8_t *copy = malloc(sizeof junk);
        memcpy(copy, junk, sizeof junk);
        const uint8_t *q = copy;
        while (jn_decode(&q, copy + sizeof junk, &d, &r) == 1)
            ;
        CHECK(q >= copy && q <= copy + sizeof junk);
        free(copy);
    }
}

static void test_header(void)
{
    struct jn_file_header h;
    const char *why = NULL;
    memset(&h, 0, sizeof h);
    CHECK(!jn_header_valid(&h, sizeof h, &why) && why);
    memcpy(h.magic, JN_MAGIC, JN_MAGIC_LEN);
    h.version = JN_VERSION;
    h.header_size = JN_FILE_HEADER_SIZE;
    h.block_size = 16384;
    CHECK(jn_header_valid(&h, JN_FILE_HEADER_SIZE, &why));
    CHECK(!jn_header_valid(&h, sizeof h, &why)); /* cut inside the header page */
    h.block_size = 1000; /* not a power of two */
    CHECK(!jn_header_valid(&h, JN_FILE_HEADER_SIZE, &why));
    h.block_size = 16384;
    h.version = 2; /* the version before WATCH and SITE records: still read */
    CHECK(jn_header_valid(&h, JN_FILE_HEADER_SIZE, &why));
    h.version = 1;
    CHECK(!jn_header_valid(&h, JN_FILE_HEADER_SIZE, &why));
    h.version = 99;
    CHECK(!jn_header_valid(&h, JN_FILE_HEADER_SIZE, &why));
    CHECK(!jn_header_valid(&h, 4, &why));
}

static void test_api_names(void)
{
    CHECK(!strcmp(jn_api_name(JN_API_OBJ_MALLOC), "PyObject_Malloc"));
    CHECK(!strcmp(jn_api_name(JN_API_POSIX_MEMALIGN), "posix_memalign"));
    CHECK(jn_api_domain(JN_API_MEM_FREE) == JN_DOMAIN_MEM);
    CHECK(jn_api_domain(JN_API_RAW_CALLOC) == JN_DOMAIN_RAW);
    CHECK(jn_api_domain(JN_API_REALLOCARRAY) == JN_DOMAIN_LIBC);
    CHECK(!strcmp(jn_domain_name(JN_DOMAIN_OBJ), "obj"));
}

/* Every function of OWNER records has its own C-API name; the numbers are
 * part of the format (docs/journal.md lists them). */
static void test_capi_names(void)
{
    for (unsigned i = JN_CAPI_NONE + 1; i < JN_CAPI_COUNT; i++) {
        CHECK(!strncmp(jn_capi_name(i), "Py", 2) || !strncmp(jn_capi_name(i), "_Py", 3));
        for (unsigned k = JN_CAPI_NONE + 1; k < i; k++)
            CHECK(strcmp(jn_capi_name(i), jn_capi_name(k)) != 0);
    }
    CHECK(!strcmp(jn_capi_name(JN_CAPI_LIST_GETITEM), "PyList_GetItem") && JN_CAPI_LIST_GETITEM == 1);
    CHECK(!strcmp(jn_capi_name(JN_CAPI_GC_DEL), "PyObject_GC_Del") && JN_CAPI_GC_DEL == 25);
    CHECK(!strcmp(jn_capi_name(JN_CAPI_COUNT), "?"));
}

int main(void)
{
    test_varint();
    test_events_round_trip();
    test_meta_round_trip();
    test_damage();
    test_header();
    test_api_names();
    test_capi_names();
    return check_summary("test_journal");
}
