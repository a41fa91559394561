#!/usr/bin/env python3
"""Generate audit/api_table_311.c, the C API reference-semantics table.

Sources (both authoritative, both from Debian):
  * Doc/data/refcounts.dat of the python3.11 source package: return-value
    reference effect (+1 new, 0 borrowed, null) and stolen arguments (-1).
  * the python3.11-doc HTML pages under /usr/share/doc/python3.11/html/c-api:
    "Return value: New/Borrowed reference." annotations (for entries missing
    from refcounts.dat) and the prose that says whether a NULL/-1 result sets
    an exception, never happens, or means "not found".

Usage: gen_api_table.py REFCOUNTS.DAT HTML_DIR OUTPUT.c
The output is committed so that building lifeline needs neither source.
"""
import html
import os
import re
import sys

RET_OTHER, RET_NEW, RET_BORROWED, RET_NULL = 0, 1, 2, 3
F_CAN_NULL, F_SETS_EXC, F_NEG_FAIL, F_ZERO_OK, F_RET_PTR, F_RET_INT = 1, 2, 4, 8, 16, 32
F_STEAL_ON_SUCCESS = 64
F_NO_FAIL = 128
STEAL_RE = re.compile(r"(does not |doesn't )?[\u201c\"]?steals?[\u201d\"]? (?:a |the )?references? (?:to|of) (?:the )?(\w+)(.{0,30})")


def sig_params(sig):
    """[(ctype, name)] of a signature text like 'int f ( PyObject * p , Py_ssize_t i ) \u00b6'."""
    m = re.search(r"\((.*)\)", sig)
    if not m:
        return []
    out = []
    for part in m.group(1).split(","):
        words = part.replace("*", " * ").split()
        if words:
            out.append((" ".join(words[:-1]), words[-1]))
    return out


def prose_steals(sig, desc):
    """Steal mask and steal-on-success flag from 'steals a reference to X' sentences."""
    params = sig_params(sig)
    mask, cond = 0, 0
    for m in STEAL_RE.finditer(desc):
        if m.group(1):
            continue
        target = m.group(2)
        objs = [i for i, (t, _n) in enumerate(params) if "PyObject" in t]
        idx = [i for i, (_t, n) in enumerate(params) if n == target]
        if target == "arguments":
            idx = objs
        elif not idx and objs:
            idx = objs[-1:]   # prose names the value differently from the signature
        for i in idx:
            if i < 16:
                mask |= 1 << i
        if "on success" in m.group(3):
            cond = F_STEAL_ON_SUCCESS
    return mask, cond


def parse_refcounts(path):
    """Map function name -> {'ret': ctype, 'rc': str, 'args': [(ctype, name, rc)]}."""
    funcs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split(":")
            if len(parts) < 4:
                continue
            name, ctype, arg, rc = parts[0], parts[1], parts[2], parts[3]
            ent = funcs.get(name)
            if ent is None:
                # first line of an entry describes the return value
                funcs[name] = {"ret": ctype.strip(), "rc": rc.strip(), "args": []}
            else:
                ent["args"].append((ctype.strip(), arg.strip(), rc.strip()))
    return funcs


SIG_RE = re.compile(r'<dt class="sig sig-object c" id="c\.([A-Za-z_0-9]+)">(.*?)</dt>\s*<dd>(.*?)</dd>', re.S)


def text_of(fragment):
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def parse_html(doc_dir):
    """Map name -> (signature text, description text) for every documented C function/macro."""
    docs = {}
    for fn in sorted(os.listdir(doc_dir)):
        if not fn.endswith(".html"):
            continue
        with open(os.path.join(doc_dir, fn), encoding="utf-8") as f:
            page = f.read()
        for m in SIG_RE.finditer(page):
            docs.setdefault(m.group(1), (text_of(m.group(2)), text_of(m.group(3))))
    return docs


def classify(name, rc_ent, doc):
    sig, desc = doc if doc else ("", "")
    ret_type = rc_ent["ret"] if rc_ent else sig.split(name)[0].strip()
    rc = rc_ent["rc"] if rc_ent else ""
    ret = RET_OTHER
    if rc == "+1" or "Return value: New reference" in desc:
        ret = RET_NEW
    elif rc == "0" or "Return value: Borrowed reference" in desc:
        ret = RET_BORROWED
    elif rc == "null":
        ret = RET_NULL
    flags = 0
    is_ptr = "*" in ret_type
    if is_ptr:
        flags |= F_RET_PTR
    elif re.search(r"\b(int|Py_ssize_t|long)\b", ret_type):
        flags |= F_RET_INT
    low = desc.lower()
    no_exc = ("without setting an exception" in low or "does not set an exception" in low
              or "without an exception" in low or "no exception set" in low)
    if no_exc and re.search(r"\b(sets \w+error|raises? \w+error|sets an exception)", low):
        no_exc = False   # some failures set an exception, some do not: treat as may-set
    never = ("never fails" in low or "no checking" in low or "cannot fail" in low or "always succeeds" in low
             or "no error checking" in low or "not checked" in low and "bounds" in low)
    if is_ptr and ret in (RET_NEW, RET_BORROWED, RET_NULL) and not never:
        flags |= F_CAN_NULL
    # C API convention: a NULL or -1 result means failure with an exception
    # set; only the pages that say otherwise (or that the call cannot fail) opt out.
    if ret == RET_NULL or (not no_exc and not never and (is_ptr or flags & F_RET_INT)):
        flags |= F_SETS_EXC
    if "-1 on failure" in low or "-1 on error" in low or "return -1" in low or "returns -1" in low:
        flags |= F_NEG_FAIL
    if never:
        flags |= F_NO_FAIL
    if "0 on success" in low:
        flags |= F_ZERO_OK
    steal = 0
    if rc_ent:
        for i, (_ctype, _arg, arc) in enumerate(rc_ent["args"]):
            if arc == "-1" and i < 16:
                steal |= 1 << i
    pmask, cond = prose_steals(sig, desc)
    return ret, flags | cond, steal | pmask


# refcounts.dat marks these arguments -1 although neither the prose nor the
# implementation steals them (e.g. set_discard_key only borrows the key).
NOT_STOLEN = {"PySet_Discard", "Py_ReprLeave", "PyContext_Exit", "PyContextVar_Reset"}


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    rcs = parse_refcounts(argv[1])
    docs = parse_html(argv[2])
    names = sorted(set(rcs) | {n for n, (s, d) in docs.items() if "(" in s or "Return value" in d})
    rows = []
    for name in names:
        if not re.match(r"^_?Py", name):
            continue
        ret, flags, steal = classify(name, rcs.get(name), docs.get(name))
        if name in NOT_STOLEN:
            steal = 0
        rows.append('    {"%s", %d, %d, 0x%x},' % (name, ret, flags, steal))
    rows.sort()
    out = ["/* Generated by audit/gen/gen_api_table.py from Python 3.11's Doc/data/refcounts.dat",
           " * and the python3.11-doc C API pages. Do not edit by hand: regenerate. */",
           '#include "apitab.h"', "",
           "const struct api_entry api_table_311[] = {"] + rows + ["};", "",
           "const unsigned api_table_311_len = sizeof api_table_311 / sizeof api_table_311[0];", ""]
    with open(argv[3], "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    sys.stderr.write("gen_api_table: %d entries\n" % len(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
