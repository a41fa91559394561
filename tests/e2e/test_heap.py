"""End-to-end tests of lifeline's heap checking on the heap bug zoo (tests/e2e/ext/zoo_heap.c).

One test per scenario and interpreter: a small generated script calls one zoo_heap function from a
Python function; lifeline must stop the target (exit 23), report exactly the expected finding
first, with its block (domain, size, offset), its details (offset past/before the block, caught,
access, the APIs of a mismatch) and stacks that lead from the zoo's C function to the script's
Python function, at the right lines. Then --keep-going (two bugs, two findings, the script runs to
its end), a use after free found when its block leaves a small quarantine, an old quarantined block
that must keep its history, a quarantine eviction inside a free() made without the GIL, the
guarded pool (caught at the access), and the clean functions (correct code that looks suspicious:
exit 0, no finding, with the default pool draw and with every small block pooled).

The lifeline bugs this file found (a redzone reported twice under --keep-going, freed blocks that
outlived the report's window, the faulting frame symbolized as a return address, a guard page
blamed on the wrong neighbour) are fixed; their tests stand as regressions.
"""
import os
import re

import pytest

import lifeline_harness as H

ZOO_C = os.path.join(H.EXT_SRC_DIR, "zoo_heap.c")


def line_of(path, marker, function=None):
    """The 1-based line number of the line of path containing marker; with function, the first
    such line inside that function's body (its definition starts a line: `name(`, up to the first
    line that is just "}")."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    start, end = 0, len(lines)
    if function is not None:
        starts = [i for i, t in enumerate(lines) if t.startswith(function + "(")]
        assert len(starts) == 1, f"definition of {function} not found once in {path}"
        start = starts[0]
        end = next(i for i in range(start, len(lines)) if lines[i] == "}")
    for i in range(start, end + 1):
        if marker in lines[i]:
            return i + 1
    raise AssertionError(f"{marker!r} not found in {function or path}")


def C(function, marker=None):
    """An expected native frame of zoo_heap.c: (label, file, line of marker in function)."""
    return ("native:" + function, "zoo_heap.c", line_of(ZOO_C, marker, function) if marker else None)


# The generated script: the scenario's statement runs inside `trigger` (line TRIGGER_LINE), called
# from <module> (line MODULE_LINE). The last line prints, to tell whether the target ran to its end.
SCRIPT = """\
import zoo_heap

def trigger():
    {stmt}

trigger()
print("script-finished")
"""
TRIGGER_LINE = 4
MODULE_LINE = 6


def P(function):
    line = {"trigger": TRIGGER_LINE, "<module>": MODULE_LINE}[function]
    return ("python:" + function, "scenario.py", line)


PY = [P("trigger"), P("<module>")]


def write_script(tmp_path, stmt, name="scenario.py"):
    path = tmp_path / name
    path.write_text(SCRIPT.format(stmt=stmt), encoding="utf-8")
    return str(path)


# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------

class S:
    """One scenario: the statement to run and everything the first finding must say."""

    def __init__(self, stmt, kind, domain, size, *, block_offset=None, details=None, stacks=None,
                 type=None, block=True):
        self.stmt = stmt
        self.kind = kind
        self.domain = domain
        self.size = size
        self.block_offset = block_offset
        self.details = details or {}
        self.stacks = stacks or {}
        self.type = type
        self.block = block


def overflow(stmt, domain, size, past, fn, alloc, detect, alloc_extra=()):
    return S(stmt, "heap-buffer-overflow", domain, size, block_offset=size + past,
             details={"offset": past, "caught": "later"},
             stacks={"alloc": list(alloc_extra) + [C(fn, alloc)] + PY,
                     "detected": [C(fn, detect)] + PY})


def underflow(stmt, domain, size, before, fn, alloc, detect):
    return S(stmt, "heap-buffer-underflow", domain, size, block_offset=-before,
             details={"offset": before, "caught": "later"},
             stacks={"alloc": [C(fn, alloc)] + PY, "detected": [C(fn, detect)] + PY})


def mismatch(stmt, domain, size, alloc_api, free_api, fn, alloc, helper, free, call):
    return S(stmt, "allocator-mismatch", domain, size, block_offset=0,
             details={"alloc_api": alloc_api, "free_api": free_api},
             stacks={"free": [C(helper, free), C(fn, call)] + PY,
                     "alloc": [C(fn, alloc)] + PY})


SCENARIOS = {
    # ---- heap-buffer-overflow --------------------------------------------------------------------
    "overflow_off_by_one": overflow(
        "zoo_heap.overflow_off_by_one()", "mem", 24, 0, "zoo_overflow_off_by_one",
        "unsigned char *buf = PyMem_Malloc(n);", "detected here"),
    "overflow_memcpy_name": overflow(
        "zoo_heap.overflow_memcpy_name('exactly16chars!!')", "obj", 24, 0, "zoo_overflow_memcpy_name",
        "struct label *l = PyObject_Malloc(sizeof *l);", "detected here"),
    "overflow_libc_loop": overflow(
        "zoo_heap.overflow_libc_loop()", "libc", 40, 4, "zoo_overflow_libc_loop",
        "struct pair *p = malloc(", "detected here"),
    # The 20-byte block was allocated by the PyMem_Realloc in strbuf_append.
    "overflow_realloc_grow": overflow(
        "zoo_heap.overflow_realloc_grow()", "mem", 20, 0, "zoo_overflow_realloc_grow",
        "if (strbuf_append(&sb, \"abcdefghijkl\", 12) < 0)", "detected here",
        alloc_extra=[C("strbuf_append", "char *grown = PyMem_Realloc(sb->data")]),

    # ---- heap-buffer-underflow -------------------------------------------------------------------
    "underflow_index_minus_one": underflow(
        "zoo_heap.underflow_index_minus_one()", "mem", 32, 1, "zoo_underflow_index_minus_one",
        "unsigned char *buf = PyMem_Malloc(32);", "detected here"),
    "underflow_ptrdiff": underflow(
        "zoo_heap.underflow_ptrdiff('ab:cdef')", "raw", 8, 2, "zoo_underflow_ptrdiff",
        "char *buf = PyMem_RawMalloc((size_t)n + 1);", "detected here"),

    # ---- use-after-free --------------------------------------------------------------------------
    "uaf_struct_member": S(
        "zoo_heap.uaf_struct_member()", "use-after-free", "mem", 32, block_offset=16,
        details={"access": "write", "caught": "later", "offset": 16},
        stacks={"free": [C("session_close", "PyMem_Free(s);"),
                         C("zoo_uaf_struct_member", "session_close(s);")] + PY,
                "alloc": [C("zoo_uaf_struct_member", "struct session *s = PyMem_Malloc(sizeof *s);")] + PY,
                "detected": None}),     # at exit: no scenario frame to expect
    "uaf_object_field": S(
        "zoo_heap.uaf_object_field()", "use-after-free", "obj", 40, block_offset=16,
        type="zoo_heap.Widget",
        details={"access": "write", "caught": "later", "offset": 16},
        stacks={"free": [C("widget_dealloc", "Py_TYPE(w)->tp_free((PyObject *)w);"),
                         C("zoo_uaf_object_field", "Py_DECREF(w);")] + PY,
                "alloc": [C("widget_new", "WidgetObject *w = (WidgetObject *)type->tp_alloc(type, 0);"),
                          C("zoo_uaf_object_field", "PyObject_CallNoArgs((PyObject *)&Widget_Type);")] + PY,
                "detected": None}),
    # A GC object: its block starts with the 16-byte PyGC_Head, offsets are from the block's start.
    "uaf_gc_object": S(
        "zoo_heap.uaf_gc_object()", "use-after-free", "obj", 48, block_offset=40,
        type="zoo_heap.Node",
        details={"access": "write", "caught": "later", "offset": 40},
        stacks={"free": [C("node_dealloc", "PyObject_GC_Del(n);"),
                         C("zoo_uaf_gc_object", "Py_DECREF(n);")] + PY,
                "alloc": [("native:_PyObject_GC_New", None, None),
                          C("zoo_uaf_gc_object", "PyObject_GC_New(NodeObject, &Node_Type);")] + PY,
                "detected": None}),
    # The old 4-slot item array (32 bytes, PyMem) freed by list_resize's PyMem_Realloc.
    "uaf_stale_list_items": S(
        "zoo_heap.uaf_stale_list_items()", "use-after-free", "mem", 32, block_offset=8,
        details={"access": "write", "caught": "later", "offset": 8},
        stacks={"free": [("native:list_resize", None, None), ("native:PyList_Append", None, None),
                         C("zoo_uaf_stale_list_items", "PyList_Append(list, five) < 0")] + PY,
                "alloc": [("native:PyList_New", None, None),
                          C("zoo_uaf_stale_list_items", "PyObject *list = PyList_New(4);")] + PY,
                "detected": None}),
    "uaf_realloc_freed": S(
        "zoo_heap.uaf_realloc_freed()", "use-after-free", "libc", 64, block_offset=0,
        details={"access": "read", "caught": "at-access"},
        stacks={"access": [C("grow_buffer", "return realloc(buf, n);"),
                           C("zoo_uaf_realloc_freed", "char *bigger = grow_buffer(buf, 256);")] + PY,
                "free": [C("parse_header", "free(buf);"),
                         C("zoo_uaf_realloc_freed", "if (parse_header(buf, 64) < 0)")] + PY,
                "alloc": [C("zoo_uaf_realloc_freed", "char *buf = malloc(64);")] + PY}),

    # ---- double-free -----------------------------------------------------------------------------
    "double_free_pymem": S(
        "zoo_heap.double_free_pymem()", "double-free", "mem", 64, block_offset=0,
        details={"free_api": "PyMem_Free", "first_free_api": "PyMem_Free"},
        stacks={"free": [C("cache_release", "PyMem_Free(c->entries);"),
                         C("zoo_double_free_pymem", "second free")] + PY,
                "first_free": [C("cache_release", "PyMem_Free(c->entries);"),
                               C("cache_reset", "cache_release(c);"),
                               C("zoo_double_free_pymem", "cache_reset(&c);")] + PY,
                "alloc": [C("zoo_double_free_pymem", "struct cache c = {PyMem_Malloc(64)};")] + PY}),
    "double_free_error_path": S(
        "zoo_heap.double_free_error_path('bad-record!')", "double-free", "libc", 12, block_offset=0,
        details={"free_api": "free", "first_free_api": "free"},
        stacks={"free": [C("decode_record", "second free"),
                         C("zoo_double_free_error_path", "return PyLong_FromLong(decode_record(")] + PY,
                "first_free": [C("decode_record", "first free"),
                               C("zoo_double_free_error_path", "return PyLong_FromLong(decode_record(")] + PY,
                "alloc": [C("decode_record", "char *tmp = malloc(HIDE(n) + 1);"),
                          C("zoo_double_free_error_path", "return PyLong_FromLong(decode_record(")] + PY}),
    # Widget.clear() frees the buffer, `del w` runs tp_dealloc, which frees it again. The second free
    # happens under the Python frame that executed `del w` (no zoo function in between).
    "double_free_clear_then_dealloc": S(
        "w = zoo_heap.Widget(); w.clear(); del w", "double-free", "mem", 48, block_offset=0,
        details={"free_api": "PyMem_Free", "first_free_api": "PyMem_Free"},
        stacks={"free": [C("widget_release_buffer", "PyMem_Free(w->buf);"),
                         C("widget_dealloc", "widget_release_buffer(w);")] + PY,
                "first_free": [C("widget_release_buffer", "PyMem_Free(w->buf);"),
                               C("widget_clear", "widget_release_buffer(w);")] + PY,
                "alloc": [C("widget_new", "w->buf = PyMem_Malloc(WIDGET_BUF);")] + PY}),

    # ---- invalid-free ----------------------------------------------------------------------------
    "invalid_free_interior": S(
        "zoo_heap.invalid_free_interior()", "invalid-free", "obj", 64, block_offset=16,
        details={"free_api": "PyObject_Free"},
        stacks={"free": [C("free_payload", "PyObject_Free(payload);"),
                         C("zoo_invalid_free_interior", "free_payload(m->payload);")] + PY,
                "alloc": [C("zoo_invalid_free_interior", "struct message *m = PyObject_Malloc(sizeof *m);")] + PY}),
    # A static buffer is in no block: the finding has no block, only the free stack.
    "invalid_free_static": S(
        "zoo_heap.invalid_free_static('')", "invalid-free", None, None, block=False,
        details={"free_api": "PyMem_Free"},
        stacks={"free": [C("unload_config", "PyMem_Free(config);"),
                         C("zoo_invalid_free_static", "unload_config(config);")] + PY}),

    # ---- allocator-mismatch ----------------------------------------------------------------------
    "mismatch_obj_mem": mismatch(
        "zoo_heap.mismatch_obj_mem()", "obj", 56, "PyObject_Malloc", "PyMem_Free", "zoo_mismatch_obj_mem",
        "void *p = PyObject_Malloc(56);", "release_with_pymem", "PyMem_Free(p);", "release_with_pymem(p);"),
    "mismatch_mem_libc": mismatch(
        "zoo_heap.mismatch_mem_libc()", "mem", 100, "PyMem_Malloc", "free", "zoo_mismatch_mem_libc",
        "char *text = PyMem_Malloc(100);", "clib_consume", "free(text);", "clib_consume(text);"),
    "mismatch_libc_raw": mismatch(
        "zoo_heap.mismatch_libc_raw()", "libc", 21, "malloc", "PyMem_RawFree", "zoo_mismatch_libc_raw",
        "char *copy = strdup(", "release_raw", "PyMem_RawFree(p);", "release_raw(copy);"),
    "mismatch_raw_obj": mismatch(
        "zoo_heap.mismatch_raw_obj()", "raw", 24, "PyMem_RawMalloc", "PyObject_Free", "zoo_mismatch_raw_obj",
        "long *p = PyMem_RawMalloc(3 * sizeof(long));", "release_obj", "PyObject_Free(p);", "release_obj(p);"),
}

def check_frames(frames, expected, what):
    assert isinstance(frames, list) and frames, f"{what}: missing or empty stack: {frames!r}"
    labels = [e[0] for e in expected]
    positions = H.assert_stack_order(frames, labels, contiguous_python=True)
    for (label, file_suffix, line), pos in zip(expected, positions):
        fr = frames[pos]
        where = f"{what}: frame #{pos} {label}\n{H.format_stack(frames)}"
        if file_suffix is not None:
            assert fr.get("file") and os.path.basename(fr["file"]) == file_suffix, where
        if line is not None:
            assert fr.get("line") == line, f"expected line {line}; {where}"
        if fr["kind"] == "native" and file_suffix == "zoo_heap.c":
            assert fr.get("module") and os.path.basename(fr["module"]).startswith("zoo_heap"), where
            assert isinstance(fr.get("pc"), str) and re.fullmatch(r"0x[0-9a-f]+", fr["pc"]), where
    # The first expected frame of a zoo stack is the innermost frame of the zoo (nothing of the
    # extension sits inside it).
    zoo_positions = [i for i, fr in enumerate(frames)
                     if fr.get("kind") == "native" and fr.get("file")
                     and os.path.basename(fr["file"]) == "zoo_heap.c"]
    if zoo_positions and expected[0][1] == "zoo_heap.c":
        assert zoo_positions[0] == positions[0], \
            f"{what}: a zoo_heap.c frame sits inside {expected[0][0]}:\n{H.format_stack(frames)}"


def check_finding(f, sc: S, name):
    assert f["kind"] == sc.kind, f
    assert f["severity"] == "error", f
    assert isinstance(f["summary"], str) and f["summary"], f
    assert f["thread"]["main"] is True, f["thread"]
    blk = f.get("block")
    if sc.block:
        assert blk is not None, f
        assert blk["domain"] == sc.domain, blk
        assert blk["size"] == sc.size, blk
        assert re.fullmatch(r"0x[0-9a-f]+", blk["address"]), blk
        if sc.block_offset is not None:
            assert blk["offset"] == sc.block_offset, blk
        assert blk["type"] == sc.type, blk
    else:
        assert blk is None, f"the address is in no block, yet the finding names one: {blk}"
    for key, want in sc.details.items():
        assert f["details"].get(key) == want, f"details[{key!r}]: want {want!r}, got {f['details']}"
    stacks = f["stacks"]
    for stack_name, expected in sc.stacks.items():
        assert stack_name in stacks, f"{name}: no {stack_name!r} stack; stacks: {sorted(stacks)}"
        if expected is None:
            assert stacks[stack_name], f"{name}: empty {stack_name!r} stack"
            continue
        check_frames(stacks[stack_name], expected, f"{name} stack {stack_name!r}")


# The guarded pool puts a random sample (about 1 in 256, seeded from the TSC) of small blocks on
# pages of their own, where an overflow or a use after free is caught at the access instead of
# later. The scenario tests pin the redzone/quarantine path with --pool-rate 0 so that what they
# assert (caught "later", the detected stack, the target running on) does not depend on the draw;
# the pool has its own tests below (--pool-rate 1: every small block pooled).
NO_POOL = ["--pool-rate", "0"]


def run_scenario(interp, tmp_path, stmt, lifeline_args=NO_POOL):
    script = write_script(tmp_path, stmt)
    return H.run_lifeline(interp, [script], extensions=["zoo_heap"], lifeline_args=lifeline_args)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_heap_error(interp, tmp_path, name):
    sc = SCENARIOS[name]
    if sc.domain == "obj":
        H.require_capability(interp, "object-guard")
    if name == "uaf_stale_list_items":
        grow, shift = H.list_items_array(interp)
        sc = S(sc.stmt, sc.kind, sc.domain, sc.size + grow, block_offset=sc.block_offset + shift,
               details=dict(sc.details, offset=sc.details["offset"] + shift), stacks=sc.stacks,
               type=sc.type, block=sc.block)
    res = run_scenario(interp, tmp_path, sc.stmt)
    rc, stderr, report = res
    H.assert_not_crashed(rc, name)
    assert rc == H.ERROR_EXIT, res.describe()
    assert report is not None, res.describe()
    findings = report["findings"]
    assert findings, res.describe()
    assert findings[0]["kind"] == sc.kind, res.describe()
    # Stopped at the first error: exactly one finding, and a use-after-free caught later is the only
    # kind where the script still ran to its end (the write is only seen at exit).
    assert len(findings) == 1, res.describe()
    if sc.kind == "use-after-free" and sc.details.get("caught") == "later":
        assert "script-finished" in res.stdout, res.describe()
    else:
        assert "script-finished" not in res.stdout, res.describe()
        assert report["target"]["exit"]["status"] == 1, report["target"]
    try:
        check_finding(findings[0], sc, name)
    except AssertionError as e:
        raise AssertionError(f"{e}\n\n{res.describe()}") from None
    # The text report: one stable line for it.
    lines = [l for l in stderr.splitlines() if l.startswith(f"lifeline: {sc.kind}: ")]
    assert len(lines) == 1, res.describe()
    assert report["target"]["python"]["debug_build"] is interp.debug


# --------------------------------------------------------------------------------------------------
# --keep-going
# --------------------------------------------------------------------------------------------------

KEEP_GOING = """\
import zoo_heap

def first_bug():
    zoo_heap.mismatch_obj_mem()

def second_bug():
    zoo_heap.double_free_pymem()

first_bug()
second_bug()
print("after-both-bugs", zoo_heap.clean_realloc_growth(10))
"""


def test_keep_going_reports_both(interp, tmp_path):
    """Two different bugs under --keep-going: two findings, in order, and the script runs to its end."""
    script = tmp_path / "two_bugs.py"
    script.write_text(KEEP_GOING, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], extensions=["zoo_heap"], lifeline_args=["--keep-going"] + NO_POOL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "keep-going")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "after-both-bugs 45" in res.stdout, res.describe()
    kinds = [f["kind"] for f in report["findings"]]
    assert kinds == ["allocator-mismatch", "double-free"], res.describe()
    mm, df = report["findings"]
    assert mm["block"]["size"] == 56 and mm["block"]["domain"] == "obj", mm["block"]
    assert mm["details"]["alloc_api"] == "PyObject_Malloc" and mm["details"]["free_api"] == "PyMem_Free", mm
    H.assert_stack_order(mm["stacks"]["free"], ["native:release_with_pymem", "native:zoo_mismatch_obj_mem",
                                                 "python:first_bug", "python:<module>"],
                         contiguous_python=True)
    assert df["block"]["size"] == 64 and df["block"]["domain"] == "mem", df["block"]
    H.assert_stack_order(df["stacks"]["free"], ["native:cache_release", "native:zoo_double_free_pymem",
                                                 "python:second_bug", "python:<module>"],
                         contiguous_python=True)
    H.assert_stack_order(df["stacks"]["first_free"], ["native:cache_release", "native:cache_reset",
                                                       "native:zoo_double_free_pymem", "python:second_bug",
                                                       "python:<module>"], contiguous_python=True)
    assert report["target"]["exit"]["status"] == 0, report["target"]
    for kind in kinds:
        assert sum(l.startswith(f"lifeline: {kind}: ") for l in stderr.splitlines()) == 1, res.describe()


KEEP_GOING_OVERFLOW = """\
import zoo_heap

def first_bug():
    zoo_heap.overflow_off_by_one()

def second_bug():
    zoo_heap.mismatch_mem_libc()

first_bug()
second_bug()
print("after-both-bugs", zoo_heap.clean_realloc_growth(10))
"""


def test_keep_going_overflow_reported_once(interp, tmp_path):
    script = tmp_path / "two_bugs.py"
    script.write_text(KEEP_GOING_OVERFLOW, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], extensions=["zoo_heap"], lifeline_args=["--keep-going"] + NO_POOL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "keep-going")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "after-both-bugs 45" in res.stdout, res.describe()
    ov = report["findings"][0]
    assert ov["kind"] == "heap-buffer-overflow", res.describe()
    assert ov["block"]["size"] == 24 and ov["details"]["offset"] == 0, ov
    H.assert_stack_order(ov["stacks"]["detected"], ["native:zoo_overflow_off_by_one", "python:first_bug",
                                                      "python:<module>"], contiguous_python=True)
    mm = report["findings"][1]
    assert mm["kind"] == "allocator-mismatch", res.describe()
    assert mm["details"]["alloc_api"] == "PyMem_Malloc" and mm["details"]["free_api"] == "free", mm
    # One bug, one finding: the overflow must not come back when its block leaves quarantine.
    kinds = [f["kind"] for f in report["findings"]]
    assert kinds == ["heap-buffer-overflow", "allocator-mismatch"], res.describe()


KEEP_GOING_UAF = """\
import zoo_heap

def stale():
    zoo_heap.uaf_stale_list_items()

def twice():
    zoo_heap.double_free_pymem()

stale()
twice()
print("script-finished")
"""


def test_keep_going_double_free_then_uaf(interp, tmp_path):
    """A double free is reported when it happens, the earlier use after free only at exit: both."""
    script = tmp_path / "uaf_df.py"
    script.write_text(KEEP_GOING_UAF, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], extensions=["zoo_heap"], lifeline_args=["--keep-going"] + NO_POOL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "keep-going")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "script-finished" in res.stdout, res.describe()
    kinds = sorted(f["kind"] for f in report["findings"])
    assert kinds == ["double-free", "use-after-free"], res.describe()
    df = H.only_finding(report, "double-free")
    H.assert_stack_order(df["stacks"]["free"], ["native:cache_release", "native:zoo_double_free_pymem",
                                                 "python:twice", "python:<module>"], contiguous_python=True)
    uaf = H.only_finding(report, "use-after-free")
    grow, shift = H.list_items_array(interp)
    assert uaf["block"]["size"] == 32 + grow and uaf["details"]["offset"] == 8 + shift, uaf
    H.assert_stack_order(uaf["stacks"]["free"], ["native:list_resize", "native:zoo_uaf_stale_list_items",
                                                  "python:stale", "python:<module>"], contiguous_python=True)


# --------------------------------------------------------------------------------------------------
# Clean code that looks suspicious
# --------------------------------------------------------------------------------------------------

CLEAN = {
    "clean_realloc_growth": "assert zoo_heap.clean_realloc_growth(5000) == 5000 * 4999 // 2",
    "clean_raw_pair": "zoo_heap.clean_raw_pair()",
    "clean_last_byte": "zoo_heap.clean_last_byte()",
    "clean_libc_helpers": "assert zoo_heap.clean_libc_helpers() == 3",
    "clean_list_and_widget": "assert len(zoo_heap.clean_list_and_widget()) == 100",
    # The non-buggy paths of buggy functions.
    "clean_paths_of_buggy_functions":
        "assert zoo_heap.invalid_free_static('mode=custom') == 'mode=custom'; "
        "assert zoo_heap.double_free_error_path('{\"a\": 1}') == 0",
    "clean_widget_lifecycle": "ws = [zoo_heap.Widget() for _ in range(1000)]; del ws",
}


@pytest.mark.parametrize("name", list(CLEAN))
@pytest.mark.parametrize("pool", ["default", "all-pooled"])
def test_clean(interp, tmp_path, name, pool):
    """Default options, and every small block in the guarded pool: correct code is clean either way."""
    args = [] if pool == "default" else POOL_ALL
    res = run_scenario(interp, tmp_path, CLEAN[name], lifeline_args=args)
    rc, stderr, report = res
    H.assert_not_crashed(rc, name)
    assert report is not None, res.describe()
    assert report["findings"] == [], res.describe()
    assert rc == 0, res.describe()
    assert "script-finished" in res.stdout, res.describe()
    assert not [l for l in stderr.splitlines()
                if l.startswith("lifeline: ") and not l.startswith(("lifeline: summary:", "lifeline: note:"))], \
        res.describe()


# --------------------------------------------------------------------------------------------------
# A use after free found when the block leaves a small quarantine (not at exit)
# --------------------------------------------------------------------------------------------------

EVICTION = """\
import zoo_heap

def bug():
    zoo_heap.uaf_struct_member()

def churn():
    for i in range(50000):
        b = [i] * 25

bug()
churn()
print("script-finished")
"""


def test_uaf_found_at_quarantine_eviction(interp, tmp_path):
    """With a 1 MiB quarantine, the written freed block is verified when churn() pushes it out
    (its list item arrays are PyMem blocks, the family of the freed struct): the finding is made
    there (detected stack in churn), and the target is stopped there."""
    script = tmp_path / "evict.py"
    script.write_text(EVICTION, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], extensions=["zoo_heap"], lifeline_args=["--quarantine-mb", "1"] + NO_POOL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "eviction")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "script-finished" not in res.stdout, res.describe()
    f = H.only_finding(report, "use-after-free")
    assert len(report["findings"]) == 1, res.describe()
    assert f["block"] is not None, res.describe()
    assert f["block"]["domain"] == "mem" and f["block"]["size"] == 32, f["block"]
    assert f["details"] == {**f["details"], "access": "write", "caught": "later", "offset": 16}, f["details"]
    H.assert_stack_order(f["stacks"]["detected"], ["native:list_dealloc", "python:churn", "python:<module>"],
                         contiguous_python=True)
    H.assert_stack_order(f["stacks"]["free"], ["native:session_close", "native:zoo_uaf_struct_member",
                                                "python:bug", "python:<module>"], contiguous_python=True)
    H.assert_stack_order(f["stacks"]["alloc"], ["native:zoo_uaf_struct_member", "python:bug",
                                                 "python:<module>"], contiguous_python=True)


OLD_BLOCK = """\
import zoo_heap

def bug():
    zoo_heap.uaf_struct_member()

def churn():
    for i in range(80000):
        b = bytes(100)

bug()
churn()
print("script-finished")
"""


def test_uaf_in_old_quarantined_block_keeps_its_history(interp, tmp_path):
    """The written block stays in the PyMem quarantine while churn() frees ~80000 PyObject blocks;
    the use after free is found at exit and must still name the block and its stacks. (bytes, a
    single PyObject block on every version: 3.13's bytearray keeps its buffer in PyMem, whose
    quarantine it would fill, checking the block during the run.)"""
    script = tmp_path / "old_block.py"
    script.write_text(OLD_BLOCK, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], extensions=["zoo_heap"], lifeline_args=NO_POOL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "old block")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "script-finished" in res.stdout, res.describe()
    f = H.only_finding(report, "use-after-free")
    assert f["details"].get("offset") == 16, f["details"]
    assert f["block"] is not None, res.describe()
    assert f["block"]["domain"] == "mem" and f["block"]["size"] == 32, f["block"]
    H.assert_stack_order(f["stacks"]["free"], ["native:session_close", "native:zoo_uaf_struct_member",
                                                "python:bug", "python:<module>"], contiguous_python=True)
    H.assert_stack_order(f["stacks"]["alloc"], ["native:zoo_uaf_struct_member", "python:bug",
                                                 "python:<module>"], contiguous_python=True)


# --------------------------------------------------------------------------------------------------
# Quarantine eviction from a libc free() made without the GIL
# --------------------------------------------------------------------------------------------------

NO_GIL_FREE = """\
import os

def work():
    for i in range(200):
        junk = [str(j) * 3 for j in range(2000)]
        del junk
        os.listdir("/usr/lib")

work()
print("script-finished")
"""


def test_eviction_in_free_without_gil(interp, tmp_path):
    """os.listdir() calls closedir() -> free() with the GIL released, while the quarantine is full
    of PyMem/PyObject blocks. Releasing those there would call the Python allocators without the
    GIL (python3.11d's debug hooks abort: 'Python memory allocator called without holding the
    GIL'). Found in the build of c31561d (the debug regrtest run and several realcode runs died
    of it); fixed by d690850 ('one quarantine per family'). Must stay clean."""
    script = tmp_path / "nogil.py"
    script.write_text(NO_GIL_FREE, encoding="utf-8")
    res = H.run_lifeline(interp, [str(script)], lifeline_args=["--quarantine-mb", "1"])
    rc, stderr, report = res
    H.assert_not_crashed(rc, "free without the GIL")
    assert "without holding the GIL" not in stderr, res.describe()
    assert report is not None and report["findings"] == [], res.describe()
    assert rc == 0 and "script-finished" in res.stdout, res.describe()


# --------------------------------------------------------------------------------------------------
# The guarded pool: caught at the access
# --------------------------------------------------------------------------------------------------

# Every small block pooled, as long as guarded pages last (vm.max_map_count allows about 28000 here;
# the interpreter's startup keeps about 10000 blocks live).
POOL_ALL = ["--pool-rate", "1", "--pool-slots", "20000"]


def test_pool_uaf_caught_at_access(interp, tmp_path):
    res = run_scenario(interp, tmp_path, "zoo_heap.uaf_struct_member()", lifeline_args=POOL_ALL)
    rc, stderr, report = res
    H.assert_not_crashed(rc, "pool uaf")
    assert rc == H.ERROR_EXIT, res.describe()
    assert "script-finished" not in res.stdout, res.describe()      # stopped at the access
    f = H.only_finding(report, "use-after-free")
    assert f["details"]["caught"] == "at-access" and f["details"]["access"] == "write", f["details"]
    assert f["block"]["domain"] == "mem" and f["block"]["size"] == 32 and f["block"]["offset"] == 16, f["block"]
    check_frames(f["stacks"]["free"], [C("session_close", "PyMem_Free(s);"),
                                       C("zoo_uaf_struct_member", "session_close(s);")] + PY, "free")
    check_frames(f["stacks"]["alloc"], [C("zoo_uaf_struct_member", "PyMem_Malloc(sizeof *s)")] + PY, "alloc")
    check_frames(f["stacks"]["access"], [C("session_count_hit", "s->hits += 1;"),
                                         C("zoo_uaf_struct_member", "session_count_hit(s);")] + PY, "access")


def test_pool_underflow_names_its_own_block(interp, tmp_path):
    """20 underflows by one byte of 32-byte PyMem blocks, every block pooled (both page sides), with
    --keep-going: every finding must be an underflow of such a block, never an overflow of a
    neighbour."""
    res = run_scenario(interp, tmp_path, "[zoo_heap.underflow_index_minus_one() for _ in range(20)]",
                       lifeline_args=POOL_ALL + ["--keep-going"])
    rc, stderr, report = res
    H.assert_not_crashed(rc, "pool underflow")
    assert rc == H.ERROR_EXIT, res.describe()
    assert report["findings"], res.describe()
    summary = [(f["kind"], f["block"] and f["block"]["size"], f["summary"]) for f in report["findings"]]
    for f in report["findings"]:
        assert f["kind"] == "heap-buffer-underflow", summary
        assert f["block"]["size"] == 32 and f["block"]["domain"] == "mem", summary
        assert f["details"]["offset"] == 1, summary
        H.assert_stack_order(f["stacks"]["alloc"], ["native:zoo_underflow_index_minus_one", "python:trigger"])


def test_overflow_of_a_big_block_found_at_exit(interp):
    """A 3 MiB block never freed, its right redzone written: found by the check at exit, which
    reads the redzones of blocks too big for the quarantine through the kernel."""
    res = H.run_lifeline(interp, [H.script("big_overflow_at_exit.py")])
    rc, stderr, report = res
    H.assert_not_crashed(rc, "big_overflow_at_exit")
    assert rc == H.ERROR_EXIT and res.stdout == "wrote\n", res.describe()
    found = H.findings(report, "heap-buffer-overflow")
    assert len(found) == 1, res.describe()
    f = found[0]
    assert f["block"]["size"] == 3 << 20 and f["block"]["domain"] == "mem", f
    assert f["details"] == {"offset": 1, "access": "write", "caught": "later"}, f
