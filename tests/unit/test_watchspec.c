/* Unit tests of the --watch SPEC grammar (core/watchspec.c): every selector, limit and nth, the
 * errors a bad SPEC gets, the round trip through ws_format, and the file:line matching rule. */
#include <string.h>

#include "../../core/watchspec.h"
#include "check.h"

/* Parses s; returns whether it was accepted, the reason in why. */
static bool parse(const char *s, struct ws_spec *out, char *why)
{
    return ws_parse(s, strlen(s), out, why, 256);
}

static void test_selectors(void)
{
    struct ws_spec s;
    char why[256];
    CHECK(parse("type=zoo_refs.Item", &s, why) && s.kind == WS_TYPE && !strcmp(s.name, "zoo_refs.Item"));
    CHECK(s.nth == 1 && s.limit == 0);
    CHECK(parse("site=item_new", &s, why) && s.kind == WS_FUNCTION && !strcmp(s.name, "item_new"));
    CHECK(parse("site=scripts/x.py:12", &s, why) && s.kind == WS_LINE && !strcmp(s.name, "scripts/x.py") &&
          s.line == 12);
    CHECK(parse("addr=0x7f00DEADbe00", &s, why) && s.kind == WS_ADDR && s.addr == 0x7f00deadbe00ull);
    CHECK(parse("addr=4096", &s, why) && s.addr == 4096);
    CHECK(parse("type=list,limit=3,nth=2", &s, why) && s.limit == 3 && s.nth == 2);
    CHECK(parse("nth=5,type=dict", &s, why) && s.kind == WS_TYPE && s.nth == 5);
}

static void test_errors(void)
{
    struct ws_spec s;
    char why[256];
    const char *bad[] = {"", "list", "type=", "size=3", "type=a,site=b", "limit=2", "type=a,limit=0",
                         "type=a,nth=0", "type=a,nth=x", "addr=0xzz", "addr=0", "site=f.py:0", "site=f.py:x",
                         "site=", "type=a,,limit=1", "type=a,limit=-1", "addr=0x1ffffffffffffffff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = 0;
        bool ok = parse(bad[i], &s, why);
        CHECK(!ok);
        CHECK(!strncmp(why, "--watch: ", 9));
        if (ok)
            fprintf(stderr, "accepted: '%s'\n", bad[i]);
    }
    parse("colour=red", &s, why);
    CHECK(strstr(why, "unknown key") && strstr(why, "'colour=red'"));
    char long_name[300];
    memset(long_name, 'a', sizeof long_name);
    memcpy(long_name, "type=", 5);
    long_name[sizeof long_name - 1] = 0;
    CHECK(!parse(long_name, &s, why));
}

static void test_round_trip(void)
{
    const char *texts[] = {"type=list", "site=item_new,limit=2", "site=a/b.py:7,nth=3,limit=1", "addr=0x1000,nth=2"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct ws_spec a, b;
        char why[256], buf[300];
        CHECK(parse(texts[i], &a, why));
        CHECK(ws_format(&a, buf, sizeof buf) == strlen(buf));
        CHECK(parse(buf, &b, why) && !memcmp(&a, &b, sizeof a));
        CHECK(!strcmp(buf, texts[i]));
    }
    struct ws_spec a;
    char why[256], small[6];
    parse("type=list", &a, why);
    CHECK(ws_format(&a, small, sizeof small) == 0);
}

static void test_file_line(void)
{
    struct ws_spec s;
    char why[256];
    parse("site=x.py:3", &s, why);
    CHECK(ws_file_line_match(&s, "/tmp/t/x.py", 3));
    CHECK(ws_file_line_match(&s, "x.py", 3));
    CHECK(!ws_file_line_match(&s, "/tmp/t/x.py", 4));
    CHECK(!ws_file_line_match(&s, "/tmp/t/xx.py", 3)); /* not at a path boundary */
    CHECK(!ws_file_line_match(&s, "py", 3));
    parse("site=t/x.py:3", &s, why);
    CHECK(ws_file_line_match(&s, "/tmp/t/x.py", 3));
    parse("site=item_new", &s, why);
    CHECK(!ws_file_line_match(&s, "item_new", 0));
}

int main(void)
{
    test_selectors();
    test_errors();
    test_round_trip();
    test_file_line();
    return check_summary("watchspec");
}
