#include "watchspec.h"

#include <stdio.h>
#include <string.h>

/* Copies a reason into why. Always returns false, for `return say(...)`. */
static bool say(char *why, size_t cap, const char *text, const char *word, size_t wlen)
{
    if (cap)
        snprintf(why, cap, "%s '%.*s'", text, (int)(wlen > 200 ? 200 : wlen), word);
    return false;
}

/* Parses a decimal (or 0x hex when hex is allowed) number filling all of
 * [s, s+n). False on anything else, on overflow, and on no digits. */
static bool parse_u64(const char *s, size_t n, bool hex, uint64_t *out)
{
    unsigned base = 10;
    if (hex && n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        n -= 2;
    }
    uint64_t v = 0;
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : base == 16 && c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : base == 16 && c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 99;
        if (d >= base || v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
    }
    *out = v;
    return true;
}

/* Copies a value into a name field; false when empty or too long. */
static bool take_name(char *dst, const char *v, size_t n)
{
    if (!n || n >= WS_NAME_MAX)
        return false;
    memcpy(dst, v, n);
    dst[n] = 0;
    return true;
}

/* site=VALUE: FILE:LINE when the text after the last colon is a line
 * number, FUNCTION otherwise. False when the value is not usable. */
static bool parse_site(const char *v, size_t n, struct ws_spec *out)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i] == ':')
            colon = v + i;
    uint64_t line;
    if (colon && parse_u64(colon + 1, (size_t)(v + n - colon - 1), false, &line)) {
        if (!line || line > UINT32_MAX)
            return false;
        out->kind = WS_LINE;
        out->line = (uint32_t)line;
        return take_name(out->name, v, (size_t)(colon - v));
    }
    if (colon)
        return false; /* FILE:something that is no line */
    out->kind = WS_FUNCTION;
    return take_name(out->name, v, n);
}

/* One KEY=VALUE part into *out. */
static bool parse_part(const char *k, size_t kn, const char *v, size_t vn, struct ws_spec *out, char *why,
                       size_t cap)
{
    bool selector = (kn == 4 && (!memcmp(k, "type", 4) || !memcmp(k, "site", 4) || !memcmp(k, "addr", 4)));
    if (selector && out->kind)
        return say(why, cap, "--watch: a SPEC selects by one of type=, site=, addr=; a second one in", k, kn + vn + 1);
    if (kn == 4 && !memcmp(k, "type", 4)) {
        out->kind = WS_TYPE;
        return take_name(out->name, v, vn) || say(why, cap, "--watch: type= needs a type name (under 128 bytes), not", v, vn);
    }
    if (kn == 4 && !memcmp(k, "site", 4))
        return parse_site(v, vn, out) ||
               say(why, cap, "--watch: site= takes FUNCTION or FILE:LINE (a line from 1), not", v, vn);
    if (kn == 4 && !memcmp(k, "addr", 4)) {
        out->kind = WS_ADDR;
        return (parse_u64(v, vn, true, &out->addr) && out->addr) ||
               say(why, cap, "--watch: addr= takes an address like 0x7f0012345678, not", v, vn);
    }
    if ((kn == 5 && !memcmp(k, "limit", 5)) || (kn == 3 && !memcmp(k, "nth", 3))) {
        uint64_t *dst = kn == 5 ? &out->limit : &out->nth;
        return (parse_u64(v, vn, false, dst) && *dst >= 1) ||
               say(why, cap, kn == 5 ? "--watch: limit= takes a number from 1, not"
                                     : "--watch: nth= takes a number from 1, not", v, vn);
    }
    return say(why, cap, "--watch: unknown key (known: type=, site=, addr=, limit=, nth=) in", k, kn + vn + 1);
}

bool ws_parse(const char *text, size_t len, struct ws_spec *out, char *why, size_t cap)
{
    memset(out, 0, sizeof *out);
    out->nth = 1;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != ',')
            end++;
        const char *eq = memchr(text + i, '=', end - i);
        if (!eq)
            return say(why, cap, "--watch: expected KEY=VALUE, not", text + i, end - i);
        if (!parse_part(text + i, (size_t)(eq - text - i), eq + 1, (size_t)(text + end - eq - 1), out, why, cap))
            return false;
        i = end + 1;
    }
    if (!out->kind)
        return say(why, cap, "--watch: a SPEC needs type=NAME, site=FUNCTION, site=FILE:LINE or addr=0x..., not", text,
                   len);
    return true;
}

size_t ws_format(const struct ws_spec *s, char *buf, size_t cap)
{
    int n = 0;
    switch (s->kind) {
    case WS_TYPE: n = snprintf(buf, cap, "type=%s", s->name); break;
    case WS_FUNCTION: n = snprintf(buf, cap, "site=%s", s->name); break;
    case WS_LINE: n = snprintf(buf, cap, "site=%s:%u", s->name, s->line); break;
    case WS_ADDR: n = snprintf(buf, cap, "addr=0x%llx", (unsigned long long)s->addr); break;
    }
    if (n > 0 && (size_t)n < cap && s->nth > 1)
        n += snprintf(buf + n, cap - (size_t)n, ",nth=%llu", (unsigned long long)s->nth);
    if (n > 0 && (size_t)n < cap && s->limit)
        n += snprintf(buf + n, cap - (size_t)n, ",limit=%llu", (unsigned long long)s->limit);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

bool ws_file_line_match(const struct ws_spec *s, const char *file, uint32_t line)
{
    size_t fn = strlen(file), sn = strlen(s->name);
    if (s->kind != WS_LINE || line != s->line || sn > fn || strcmp(file + fn - sn, s->name) != 0)
        return false;
    return sn == fn || file[fn - sn - 1] == '/' || s->name[0] == '/';
}
