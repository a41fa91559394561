/* The SPEC of `lifeline run --watch SPEC`: which objects get a reference-count
 * history. Parsed by the cli (to refuse a bad SPEC before the target starts)
 * and by the agent (from LIFELINE_WATCH, which the cli fills with the SPECs
 * it accepted). Pure: no allocation, no I/O. Prefix: ws_.
 *
 * Grammar: SELECTOR[,limit=N][,nth=K] with SELECTOR one of
 *   type=NAME        the object's tp_name, exactly ("list", "zoo_refs.Item")
 *   site=FUNCTION    a frame of the allocation stack runs FUNCTION (a Python
 *                    function's name or a native symbol)
 *   site=FILE:LINE   a Python frame of the allocation stack is at LINE of a
 *                    file whose path ends with FILE
 *   addr=0xHEX       the object lies at (or its block holds) that address
 * The objects a SPEC matches are numbered from 1 in allocation order; nth=K
 * skips the first K-1 and limit=N watches at most N (default: no limit). */
#ifndef LL_WATCHSPEC_H
#define LL_WATCHSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_NAME_MAX 128
#define WS_MAX_SPECS 16 /* --watch given more often is refused */

enum ws_kind { WS_TYPE = 1, WS_FUNCTION, WS_LINE, WS_ADDR };

struct ws_spec {
    enum ws_kind kind;
    char name[WS_NAME_MAX]; /* WS_TYPE: tp_name; WS_FUNCTION: function; WS_LINE: file */
    uint32_t line;          /* WS_LINE */
    uint64_t addr;          /* WS_ADDR */
    uint64_t nth;           /* 1 = from the first match */
    uint64_t limit;         /* 0 = no limit */
};

/* Parses text[0, len) into *out. Returns false with a one-line reason in
 * why (cap bytes, NUL-terminated) when it is not a SPEC of the grammar
 * above: unknown key, empty or too long value, a number that is not one,
 * nth or limit of 0, a selector missing or given twice. */
bool ws_parse(const char *text, size_t len, struct ws_spec *out, char *why, size_t cap);

/* Writes spec back as text ws_parse accepts (at most cap bytes, NUL
 * included); returns the length, or 0 if cap is too small. */
size_t ws_format(const struct ws_spec *spec, char *buf, size_t cap);

/* True if a frame at line of a file named file matches a WS_LINE spec:
 * same line, and file ends with the spec's file at a path boundary. */
bool ws_file_line_match(const struct ws_spec *spec, const char *file, uint32_t line);

#endif
