#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "../core/os.h"

#define LOG_LIMIT 50

/* protected by: atomic increments */
static unsigned log_count;

struct out {
    char *p, *end;
};

static void put_char(struct out *o, char c)
{
    if (o->p < o->end)
        *o->p++ = c;
}

static void put_str(struct out *o, const char *s)
{
    for (s = s ? s : "(null)"; *s; s++)
        put_char(o, *s);
}

static void put_unsigned(struct out *o, uint64_t v, unsigned base)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        put_char(o, tmp[--n]);
}

static void put_signed(struct out *o, int64_t v)
{
    if (v < 0) {
        put_char(o, '-');
        put_unsigned(o, (uint64_t)0 - (uint64_t)v, 10);
    } else {
        put_unsigned(o, (uint64_t)v, 10);
    }
}

/* One conversion; returns the format position after it. */
static const char *put_conv(struct out *o, const char *f, va_list *ap)
{
    bool is_long = false;
    if (*f == 'l' || *f == 'z') {
        is_long = true;
        f++;
    }
    switch (*f) {
    case 's': put_str(o, va_arg(*ap, const char *)); break;
    case 'd': put_signed(o, is_long ? va_arg(*ap, long) : va_arg(*ap, int)); break;
    case 'u': put_unsigned(o, is_long ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 10); break;
    case 'x': put_unsigned(o, is_long ? va_arg(*ap, unsigned long) : va_arg(*ap, unsigned), 16); break;
    case 'p': put_str(o, "0x"); put_unsigned(o, (uintptr_t)va_arg(*ap, void *), 16); break;
    case '%': put_char(o, '%'); break;
    default: put_char(o, '?'); break;
    }
    return *f ? f + 1 : f;
}

static unsigned vformat(char *buf, unsigned cap, const char *fmt, va_list ap)
{
    struct out o = {buf, buf + cap - 1};
    va_list copy;
    va_copy(copy, ap);
    for (const char *f = fmt; *f;) {
        if (*f != '%')
            put_char(&o, *f++);
        else
            f = put_conv(&o, f + 1, &copy);
    }
    va_end(copy);
    *o.p = 0;
    return (unsigned)(o.p - buf);
}

unsigned log_format(char *buf, unsigned cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    unsigned n = vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}

void log_msg(const char *fmt, ...)
{
    unsigned n = __atomic_add_fetch(&log_count, 1, __ATOMIC_RELAXED);
    if (n > LOG_LIMIT + 1)
        return;
    char buf[512];
    unsigned len = log_format(buf, sizeof buf, "lifeline: ");
    if (n == LOG_LIMIT + 1) {
        len += log_format(buf + len, sizeof buf - len, "(further agent messages suppressed)");
    } else {
        va_list ap;
        va_start(ap, fmt);
        len += vformat(buf + len, sizeof buf - len, fmt, ap);
        va_end(ap);
    }
    buf[len++] = '\n';
    os_write_all(2, buf, len);
}
