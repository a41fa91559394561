/* Unit tests of the repetition rule (cli/series.c): which groups grew on every measured run, the
 * warm-ups, series that stop early, several series in one journal, and groups keyed on the stack as
 * it reads (two code objects of the same line are one site) and on the type's name. The journal's
 * lookups (jr_stack, jr_code, jr_type) are stubbed here: stacks 1..9 are one Python frame of code id
 * = stack id at line 10, code ids 1 and 2 are the same function of the same file, and type id t is
 * named "T<t>" except that ids 7 and 8 share the name "Twin". */
#include <stdio.h>
#include <string.h>

#include "../../cli/series.h"
#include "check.h"

/* ---- the stubbed journal ------------------------------------------------------------------------ */

static uint8_t stack_bytes[16][32];

bool jr_stack(const struct jr_journal *j, uint32_t id, struct jn_record *out)
{
    if (id < 1 || id > 9)
        return false;
    uint8_t *p = jn_put_stack_python(stack_bytes[id], id, 10);
    memset(out, 0, sizeof *out);
    out->kind = JN_K_STACK;
    out->u.stack.id = id;
    out->u.stack.nframes = 1;
    out->u.stack.frames = stack_bytes[id];
    out->u.stack.end = p;
    return true;
}

bool jr_code(const struct jr_journal *j, uint32_t id, struct jn_str *filename, struct jn_str *name)
{
    static char names[16][16];
    *filename = (struct jn_str){"script.py", 9};
    if (id == 1 || id == 2) {
        *name = (struct jn_str){"trigger", 7};
        return true;
    }
    snprintf(names[id & 15], sizeof names[0], "f%u", id);
    *name = (struct jn_str){names[id & 15], (uint32_t)strlen(names[id & 15])};
    return true;
}

bool jr_type(const struct jr_journal *j, uint32_t id, struct jn_str *name)
{
    static char names[16][16];
    if (id == 7 || id == 8) {
        *name = (struct jn_str){"Twin", 4};
        return true;
    }
    snprintf(names[id & 15], sizeof names[0], "T%u", id);
    *name = (struct jn_str){names[id & 15], (uint32_t)strlen(names[id & 15])};
    return true;
}

/* ---- helpers ------------------------------------------------------------------------------------ */

/* A group to count at a mark: n blocks of `size` bytes from stack, of type. */
struct blocks {
    uint32_t stack, type, n;
    uint64_t size;
};

static uint64_t next_addr = 0x10000;

/* One MARK with these live blocks. */
static void mark(struct sr_state *s, uint32_t index, int64_t refs, const struct blocks *b, int nb)
{
    struct jn_record r = {.kind = JN_K_MARK};
    r.u.mark.index = index;
    r.u.mark.total_refs = refs;
    r.u.mark.total_blocks = 1000;
    sr_mark_begin(s);
    for (int i = 0; i < nb; i++)
        for (uint32_t k = 0; k < b[i].n; k++)
            sr_mark_block(s, b[i].stack, b[i].type, next_addr += 64, b[i].size, 1, JN_API_OBJ_MALLOC);
    sr_mark_end(s, &r);
}

static bool per_run_is(const struct sr_growth *g, const int64_t *want, uint32_t n)
{
    if (g->per_run.n != n)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (g->per_run.v[i] != want[i])
            return false;
    return true;
}

/* ---- tests -------------------------------------------------------------------------------------- */

/* W = 1, M = 3: a group growing 1 a run is reported, one that grew once ([3, 0, 0]) and one that
 * grew only during the warm-up are not, nor one that shrinks. */
static void test_rule(void)
{
    struct sr_state s;
    sr_init(&s, NULL);
    struct blocks b[4] = {{3, 1, 0, 16}, {4, 2, 0, 32}, {5, 3, 0, 48}, {6, 4, 5, 8}};
    mark(&s, 0, 100, b, 4);                  /* the series starts */
    b[2].n = 9;                              /* grows during the warm-up only */
    mark(&s, 0, 102, b, 4);                  /* end of the warm-up */
    int64_t grow[] = {1, 2, 1};
    for (uint32_t k = 1; k <= 3; k++) {
        b[0].n += (uint32_t)grow[k - 1];     /* a leak */
        b[1].n = 3;                          /* [3, 0, 0]: a cache */
        b[3].n -= 1;                         /* shrinks */
        mark(&s, k, 102 + k, b, 4);
    }
    b[0].n = 0;                              /* the closing mark's counts are not the series' */
    mark(&s, 0, 106, b, 4);                  /* the series ends */
    sr_finish(&s);
    CHECK(s.nseries == 1);
    CHECK(s.series[0].warmups == 1 && s.series[0].runs == 3 && s.series[0].complete);
    CHECK(s.series[0].refs_known && s.series[0].refs.n == 3 && s.series[0].refs.v[0] == 1);
    CHECK(s.ngrowth == 1);
    if (s.ngrowth == 1) {
        const struct sr_growth *g = &s.growth[0];
        CHECK(g->stack == 3 && g->type == 1 && g->count == 4 && g->bytes == 64);
        CHECK(per_run_is(g, grow, 3));
    }
    sr_free(&s);
}

/* A series that never gets its closing zero mark (the target stopped) reports no growth. */
static void test_incomplete(void)
{
    struct sr_state s;
    sr_init(&s, NULL);
    struct blocks b = {3, 1, 0, 16};
    mark(&s, 0, -1, &b, 1);
    for (uint32_t k = 1; k <= 2; k++) {
        b.n++;
        mark(&s, k, -1, &b, 1);
    }
    sr_finish(&s);
    CHECK(s.nseries == 1 && !s.series[0].complete && s.series[0].runs == 2 && !s.series[0].refs_known);
    CHECK(s.ngrowth == 0);
    sr_free(&s);
}

/* Two series in one journal (two lifeline.leaks() calls): warm-ups counted per series, growth
 * attributed to its series. */
static void test_two_series(void)
{
    struct sr_state s;
    sr_init(&s, NULL);
    struct blocks b = {3, 1, 0, 16};
    mark(&s, 0, -1, &b, 1);
    mark(&s, 0, -1, &b, 1);
    mark(&s, 0, -1, &b, 1);                  /* 2 warm-ups */
    mark(&s, 1, -1, &b, 1);
    mark(&s, 2, -1, &b, 1);
    mark(&s, 0, -1, &b, 1);                  /* closes series 0: nothing grew */
    mark(&s, 0, -1, &b, 1);                  /* series 1, no warm-up */
    for (uint32_t k = 1; k <= 4; k++) {
        b.n += 2;
        mark(&s, k, -1, &b, 1);
    }
    mark(&s, 0, -1, &b, 1);
    sr_finish(&s);
    CHECK(s.nseries == 2);
    CHECK(s.series[0].warmups == 2 && s.series[0].runs == 2 && s.series[0].complete);
    CHECK(s.series[1].warmups == 0 && s.series[1].runs == 4 && s.series[1].complete);
    CHECK(s.ngrowth == 1 && s.growth[0].series == 1 && s.growth[0].count == 8);
    sr_free(&s);
}

/* Stacks 1 and 2 read the same (code ids 1 and 2 are one function at one line), and types 7 and 8
 * share a name: a leak whose run-k block has another stack id and type id is still one site. */
static void test_canonical_keys(void)
{
    struct sr_state s;
    sr_init(&s, NULL);
    struct blocks b[2] = {{1, 7, 0, 16}, {2, 8, 0, 16}};
    mark(&s, 0, -1, b, 2);
    for (uint32_t k = 1; k <= 3; k++) {
        b[k & 1].n++;                        /* alternately under stack 1/type 7 and stack 2/type 8 */
        mark(&s, k, -1, b, 2);
    }
    mark(&s, 0, -1, b, 2);
    sr_finish(&s);
    int64_t ones[] = {1, 1, 1};
    CHECK(s.ngrowth == 1 && s.growth[0].count == 3 && per_run_is(&s.growth[0], ones, 3));
    sr_free(&s);
}

/* A measured mark with no series under way is ignored. */
static void test_stray_mark(void)
{
    struct sr_state s;
    sr_init(&s, NULL);
    struct blocks b = {3, 1, 1, 16};
    mark(&s, 1, -1, &b, 1);
    mark(&s, 2, -1, &b, 1);
    sr_finish(&s);
    CHECK(s.nseries == 0 && s.ngrowth == 0);
    sr_free(&s);
}

int main(void)
{
    test_rule();
    test_incomplete();
    test_two_series();
    test_canonical_keys();
    test_stray_mark();
    return check_summary("test_series");
}
