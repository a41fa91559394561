"""End-to-end tests of reference-count histories (include/lifeline_refs.h, `lifeline cflags`,
lifeline_ref_event in agent/boundary.c, cli/history.c) on the reference-count bug zoo
(tests/e2e/ext/zoo_refs.c, built with the flags `lifeline cflags` prints).

An extra Py_DECREF in a helper frees an item that is then written: the use-after-free finding must
carry a `history` whose decref to 0 (from 1) is at that helper's line, its summary must name it,
and `lifeline history JOURNAL ADDR` on the kept journal must print the same timeline. The same
source built with and without the header, run with and without lifeline, must compute the same
reference counts with every routed macro (NULL handling, Py_CLEAR, Py_SETREF order, Py_NewRef's
value)."""
import json
import os
import re

import pytest

import lifeline_harness as H

ZOO_C = os.path.join(H.EXT_SRC_DIR, "zoo_refs.c")

SCRIPT = """\
import zoo_refs

def trigger():
    {stmt}

trigger()
print("script-finished")
"""

# What zoo_refs.clean_refs() returns when every macro does what CPython's does.
CLEAN_COUNTS = (3, 1, 3, 1, 12, 11, 1, 1)


def line_of(marker):
    """The 1-based line of zoo_refs.c holding marker (once)."""
    with open(ZOO_C, encoding="utf-8") as f:
        hits = [i + 1 for i, t in enumerate(f.read().splitlines()) if marker in t]
    assert len(hits) == 1, f"{marker!r} is not on exactly one line of {ZOO_C}"
    return hits[0]


def routed_dir(interp):
    return H.build_extension(interp, "zoo_refs", extra_flags=H.lifeline_cflags(), variant="refs")


def plain_dir(interp):
    return H.build_extension(interp, "zoo_refs", variant="plain")


def write_script(tmp_path, stmt):
    path = tmp_path / "scenario.py"
    path.write_text(SCRIPT.format(stmt=stmt))
    return path


def site(event):
    """(function, file basename, line) of an event's innermost frame."""
    fr = event["stack"][0]
    return fr.get("function"), os.path.basename(fr.get("file") or ""), fr.get("line")


def test_cflags_names_the_installed_header():
    rc, out, err = H.run_command([H.lifeline_path(), "cflags"])
    assert rc == 0, err
    words = out.split()
    assert words[0] == "-include" and len(words) == 2, out
    assert os.path.isabs(words[1]) and words[1].endswith("lifeline_refs.h") and os.path.isfile(words[1])


def test_release_twice_history_shows_the_extra_decref(interp, tmp_path):
    H.require_capability(interp, "object-guard")  # the use after free of an object
    script = write_script(tmp_path, "zoo_refs.release_twice()")
    journal = tmp_path / "run.lljournal"
    res = H.run_lifeline(interp, [str(script)], lifeline_args=["--pool-rate", "0"], keep_journal=journal,
                         env={"PYTHONPATH": routed_dir(interp)})
    f = H.only_finding(res.report, "use-after-free")
    hist = f.get("history")
    assert hist, res.describe()
    names = [e["event"] for e in hist]
    assert names == ["alloc", "incref", "decref", "decref", "free"], res.describe()
    assert [e["refcnt"] for e in hist] == [None, 2, 1, 0, 0], res.describe()
    assert site(hist[1]) == ("share_item", "zoo_refs.c", line_of("/* shared: +1 */")), hist[1]["stack"][:3]
    assert site(hist[2]) == ("unshare_item", "zoo_refs.c", line_of("/* unshared: -1 */")), hist[2]["stack"][:3]
    bad = line_of("/* released: never owned */")
    assert site(hist[3]) == ("forget_entry", "zoo_refs.c", bad), hist[3]["stack"][:3]
    assert hist[3]["stack"][1]["function"] == "zoo_release_twice"
    assert "item_dealloc" in [fr.get("function") for fr in hist[4]["stack"][:4]], hist[4]["stack"][:4]
    assert f"dropped by a decref in forget_entry() at zoo_refs.c:{bad}" in f["summary"], f["summary"]
    # The text report prints the timeline too.
    assert re.search(r"decref\s+refcnt 0", res.stderr), res.stderr[-3000:]

    rc, out, err = H.run_lifeline_cmd(["history", journal, f["block"]["address"]])
    assert rc == 0, err
    assert "history (5 events, oldest first)" in out, out
    at = out.index("decref  refcnt 0")
    assert "forget_entry" in out[at:].splitlines()[1], out
    assert f"zoo_refs.c:{bad}" in out[at:].splitlines()[1], out


def test_leak_history_shows_the_extra_incref(interp, tmp_path):
    script = write_script(tmp_path, "zoo_refs.leak_extra_incref()")
    res = H.run_lifeline(interp, [str(script)], env={"PYTHONPATH": routed_dir(interp)})
    leaks = [f for f in H.findings(res.report, "leak") if f["block"].get("type") == "zoo_refs.Item"]
    assert len(leaks) == 1, res.describe()
    hist = leaks[0].get("history")
    assert hist, res.describe()
    assert [e["event"] for e in hist] == ["alloc", "incref"], hist
    assert hist[1]["refcnt"] == 2
    assert site(hist[1]) == ("remember", "zoo_refs.c", line_of("/* kept: never released */")), hist[1]["stack"][:3]


def test_history_of_an_unknown_address(tmp_path, release_interp):
    script = write_script(tmp_path, "pass")
    journal = tmp_path / "run.lljournal"
    H.run_lifeline(release_interp, [str(script)], keep_journal=journal, report=False)
    rc, out, err = H.run_lifeline_cmd(["history", journal, "0x10"])
    assert rc == 1 and "no live or recently freed block holds 0x10" in err, (rc, out, err)
    rc, out, err = H.run_lifeline_cmd(["history", journal, "nowhere"])
    assert rc == 2 and "not an address" in err, (rc, out, err)


def test_routed_macros_behave_as_cpythons_without_lifeline(interp, tmp_path):
    script = tmp_path / "clean.py"
    script.write_text("import zoo_refs\nprint(zoo_refs.routed(), zoo_refs.clean_refs())\n")
    seen = {}
    for name, d in (("routed", routed_dir(interp)), ("plain", plain_dir(interp))):
        rc, out, err = H.run_command([interp.path, str(script)], env=H.clean_env({"PYTHONPATH": d}))
        assert rc == 0, err
        seen[name] = out.strip()
    assert seen["routed"] == f"1 {CLEAN_COUNTS}", seen
    assert seen["plain"] == f"0 {CLEAN_COUNTS}", seen


def test_routed_macros_under_lifeline_are_clean(interp, tmp_path):
    script = tmp_path / "clean.py"
    script.write_text("import zoo_refs\nprint(zoo_refs.clean_refs())\n")
    res = H.run_lifeline(interp, [str(script)], env={"PYTHONPATH": routed_dir(interp)})
    assert res.returncode == 0, res.describe()
    assert str(CLEAN_COUNTS) in res.stdout, res.describe()
    assert not [f for f in res.report["findings"] if f["kind"] != "leak"], res.describe()


INCLUDE_ORDERS = {
    # forced first (what `lifeline cflags` does), then the source's own Python.h
    "forced": ("#include <Python.h>\n", True),
    # the common source: PY_SSIZE_T_CLEAN first (the header defined it already, identically)
    "forced-ssize-clean": ("#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n", True),
    # included by the source after Python.h
    "after": ('#include <Python.h>\n#include "lifeline_refs.h"\n', False),
}
USES = """\
PyObject *uses(PyObject *a, PyObject *b)
{
    Py_INCREF(a); Py_XINCREF(b); PyObject *c = Py_NewRef(a); Py_XDECREF(c);
    Py_CLEAR(b); Py_SETREF(a, Py_XNewRef(b)); Py_XSETREF(a, NULL); Py_DECREF(c);
    return LIFELINE_REF_DECREF == 2 ? NULL : a;
}
"""


def test_header_compiles_cleanly_in_either_order(interp, tmp_path):
    header = H.lifeline_cflags()[-1]
    for name, (head, forced) in INCLUDE_ORDERS.items():
        src = tmp_path / f"{name}.c"
        src.write_text(head + USES)
        flags = ["-include", header] if forced else ["-I", os.path.dirname(header)]
        cmd = ["cc", "-std=gnu11", "-c", "-O1", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter"] + \
            flags + interp.includes() + ["-o", str(tmp_path / f"{name}.o"), str(src)]
        rc, out, err = H.run_command(cmd)
        assert rc == 0, f"{name}: {' '.join(cmd)}\n{err}"


# ---- lifeline run --watch SPEC ------------------------------------------------------------------
# Objects chosen by --watch get every reference-count change recorded: from any code through hardware
# watchpoints (perf_event_open breakpoints on ob_refcnt), and from extensions built with `lifeline
# cflags`. The report lists them (`watched`), with their history and its balance.

WATCH_SCRIPT = """\
import threading
import zoo_refs

class Box:
    pass

def make_box():
    return Box()

a = Box()                                   # box 1
b = Box()                                   # box 2
c = make_box()                              # box 3
d = Box()                                   # box 4
drain = [[] for _ in range(300)]            # empties the interpreter's list free list
held = [1, 2, 3]                            # the held list
alias = held                                # +1 by the interpreter
del alias                                   # -1 by the interpreter
print("script-finished")
"""


def watch_lines():
    """Line numbers of WATCH_SCRIPT's marked lines."""
    lines = WATCH_SCRIPT.splitlines()
    return {m: next(i + 1 for i, t in enumerate(lines) if f"# {m}" in t)
            for m in ("box 1", "box 2", "box 3", "box 4", "the held list", "+1 by", "-1 by")}


def run_watch(interp, tmp_path, specs, script=WATCH_SCRIPT, env=None, extra=(), keep_journal=None):
    path = tmp_path / "watch_scenario.py"
    path.write_text(script)
    args = [a for s in specs for a in ("--watch", s)] + list(extra)
    e = {"PYTHONPATH": routed_dir(interp)}
    e.update(env or {})
    return H.run_lifeline(interp, [str(path)], lifeline_args=args, env=e, keep_journal=keep_journal)


def watched(res):
    assert res.report is not None, res.describe()
    return res.report.get("watched", [])


def module_line(stack):
    """The line of the `<module>` frame of a stack, None without one."""
    return next((fr["line"] for fr in stack if fr["kind"] == "python" and fr["function"] == "<module>"), None)


def python_line(stack):
    """The line of the innermost Python frame of a stack, None without one."""
    return next((fr["line"] for fr in stack if fr["kind"] == "python"), None)


def test_watch_type_records_the_interpreters_own_changes(interp, tmp_path):
    """type=list,nth=..: the list held in Python code; a hardware watchpoint records the increment and
    decrement the interpreter itself makes at `alias = held` / `del alias`."""
    ln = watch_lines()
    res = run_watch(interp, tmp_path, [f"site=watch_scenario.py:{ln['the held list']}"])
    assert res.returncode == 0 and "script-finished" in res.stdout, res.describe()
    ws = watched(res)
    assert len(ws) == 1, res.describe()
    w = ws[0]
    assert w["hardware"] is True and w["block"]["type"] == "list", w
    assert w["spec"] == f"site=watch_scenario.py:{ln['the held list']}"
    assert python_line(w["history"][0]["stack"]) == ln["the held list"], w["history"][0]
    incs = [e for e in w["history"] if e["event"] == "incref" and python_line(e["stack"]) == ln["+1 by"]]
    decs = [e for e in w["history"] if e["event"] == "decref" and python_line(e["stack"]) == ln["-1 by"]]
    at = [(e["event"], e["refcnt"], python_line(e["stack"])) for e in w["history"]]
    assert incs and decs, at
    # what `alias = held` added, `del alias` took back: the count before one equals the count after the other
    before = [e for e in at if e[2] == ln["the held list"]][-1][1]
    assert [e for e in at if e[2] == ln["-1 by"]][-1][1] == before, at
    assert res.report["stats"]["watched"] == 1
    assert "lifeline: watched: 'list' object" in res.stderr


def test_watch_type_nth_limit_and_python_function_site(interp, tmp_path):
    ln = watch_lines()
    res = run_watch(interp, tmp_path, ["type=Box,nth=2,limit=2", "site=make_box"])
    ws = watched(res)
    got = sorted((w["spec_index"], module_line(w["history"][0]["stack"])) for w in ws)
    # SPEC 0 takes the 2nd and 3rd Box (box 3 is also make_box's, but the first SPEC that matches chooses);
    # SPEC 1 then has nothing left that the first did not take.
    assert got == [(0, ln["box 2"]), (0, ln["box 3"])], (got, res.describe())
    res = run_watch(interp, tmp_path, ["site=make_box"])
    got = [module_line(w["history"][0]["stack"]) for w in watched(res)]
    assert got == [ln["box 3"]], res.describe()
    make_box_return = WATCH_SCRIPT.splitlines().index("    return Box()") + 1
    assert python_line(watched(res)[0]["history"][0]["stack"]) == make_box_return


def test_watch_native_function_site_and_the_zoo_use_after_free(interp, tmp_path):
    """site=item_new (a static function of the extension, from its symbol table): the bug zoo's
    use-after-free, whose history shows the extra decref the buggy helper made, recorded by the
    hardware watchpoint, and whose summary names it."""
    H.require_capability(interp, "object-guard")  # the use after free of an object
    script = "import zoo_refs\nzoo_refs.release_twice()\n"
    res = run_watch(interp, tmp_path, ["site=item_new"], script=script, extra=["--pool-rate", "0"])
    f = H.only_finding(res.report, "use-after-free")
    hist = f["history"]
    assert [e["event"] for e in hist] == ["alloc", "incref", "decref", "decref", "free"], res.describe()
    assert [e["refcnt"] for e in hist] == [None, 2, 1, 0, 0]
    bad = line_of("/* released: never owned */")
    assert site(hist[3]) == ("forget_entry", "zoo_refs.c", bad), hist[3]["stack"][:3]
    assert f"dropped by a decref in forget_entry() at zoo_refs.c:{bad}" in f["summary"], f["summary"]
    ws = watched(res)
    assert len(ws) == 1 and ws[0]["hardware"] and ws[0]["spec"] == "site=item_new", ws
    assert f["balance"]["complete"] is True, f["balance"]


def test_watch_c_file_line_site(interp, tmp_path):
    """site=FILE:LINE on the extension's own C line (PyObject_New in item_new), matched through
    the DWARF the extension carries: the same object and history as site=item_new; a line of the
    same file that allocates nothing chooses nothing."""
    H.require_capability(interp, "object-guard")  # the use after free of an object
    script = "import zoo_refs\nzoo_refs.release_twice()\n"
    alloc = line_of("ItemObject *it = PyObject_New(ItemObject, &Item_Type);")
    res = run_watch(interp, tmp_path, [f"site=zoo_refs.c:{alloc}"], script=script, extra=["--pool-rate", "0"])
    f = H.only_finding(res.report, "use-after-free")
    assert [e["event"] for e in f["history"]] == ["alloc", "incref", "decref", "decref", "free"], res.describe()
    ws = watched(res)
    assert len(ws) == 1 and ws[0]["spec"] == f"site=zoo_refs.c:{alloc}", ws
    assert ws[0]["block"]["type"] == "zoo_refs.Item", ws[0]
    other = line_of("it->hits = 0;")
    res = run_watch(interp, tmp_path, [f"site=ext/zoo_refs.c:{other}"], script=script, extra=["--pool-rate", "0"])
    assert watched(res) == [], watched(res)


def test_watch_balance_names_the_unpaired_incref_of_a_leak(interp, tmp_path):
    """The leak's history is complete with the hardware watchpoint (the interpreter's release of the
    returned reference is recorded), so the pairing is exact: remember()'s +1 has no -1."""
    script = "import zoo_refs\ndef trigger():\n    zoo_refs.leak_extra_incref()\ntrigger()\n"
    res = run_watch(interp, tmp_path, ["type=zoo_refs.Item"], script=script)
    leaks = [f for f in H.findings(res.report, "leak") if f["block"].get("type") == "zoo_refs.Item"]
    assert len(leaks) == 1, res.describe()
    f = leaks[0]
    kept = line_of("/* kept: never released */")
    assert [e["event"] for e in f["history"]] == ["alloc", "incref", "decref"], f["history"]
    assert python_line(f["history"][2]["stack"]) == 3  # the interpreter's own decref, in trigger()
    bl = f["balance"]
    assert bl["complete"] is True and bl["paired"] == 1, bl
    assert [(u["delta"], u["site"]) for u in bl["unpaired"]] == [(1, f"zoo_refs.c:{kept} (remember)")], bl
    assert f"+1 at zoo_refs.c:{kept} (remember) has no matching -1" in f["summary"], f["summary"]
    assert f"+1 at zoo_refs.c:{kept} (remember) has no matching -1 (event 2)" in res.stderr


def test_watch_balance_without_watch_is_marked_incomplete(interp, tmp_path):
    """Without --watch only the extension's changes are recorded: the Python caller's release is
    missing, the balance says it is incomplete (and still names both open increments)."""
    script = write_script(tmp_path, "zoo_refs.leak_extra_incref()")
    res = H.run_lifeline(interp, [str(script)], env={"PYTHONPATH": routed_dir(interp)})
    f = [f for f in H.findings(res.report, "leak") if f["block"].get("type") == "zoo_refs.Item"][0]
    assert f["balance"]["complete"] is False, f["balance"]
    assert len(f["balance"]["unpaired"]) == 2, f["balance"]
    assert "(incomplete: some changes were not recorded" in res.stderr
    assert "watched" not in res.report


THREADS_SCRIPT = """\
import threading

class Box:
    pass

go = threading.Event()
def early_worker():
    go.wait()
    t = box                                 # early thread
    del t

early = threading.Thread(target=early_worker)
early.start()                               # started before the box is chosen
box = Box()
x = [0]                                     # an allocation: the box is decided on here
go.set()
early.join()
def late_worker():
    t = box                                 # late thread
    del t
late = threading.Thread(target=late_worker) # created after the box is watched
late.start()
late.join()
print("script-finished")
"""


def test_watch_hardware_in_threads_started_before_and_after(interp, tmp_path):
    lines = THREADS_SCRIPT.splitlines()
    early = next(i + 1 for i, t in enumerate(lines) if "# early thread" in t)
    late = next(i + 1 for i, t in enumerate(lines) if "# late thread" in t)
    res = run_watch(interp, tmp_path, ["type=Box"], script=THREADS_SCRIPT)
    assert "script-finished" in res.stdout, res.describe()
    ws = watched(res)
    assert len(ws) == 1 and ws[0]["hardware"], res.describe()
    at = [(e["event"], python_line(e["stack"])) for e in ws[0]["history"]]
    assert ("incref", early) in at and ("decref", early + 1) in at, at
    assert ("incref", late) in at and ("decref", late + 1) in at, at


TOO_MANY_SCRIPT = """\
class Box:
    pass

boxes = [Box() for _ in range(6)]
for b in boxes:
    c = b
print("script-finished")
"""


def test_watch_more_objects_than_debug_registers(interp, tmp_path):
    res = run_watch(interp, tmp_path, ["type=Box"], script=TOO_MANY_SCRIPT)
    ws = watched(res)
    cap = H.hw_watch_capacity(interp)
    assert len(ws) == 6, res.describe()
    assert [w["hardware"] for w in ws] == [True] * cap + [False] * (6 - cap), [w["hardware"] for w in ws]
    # (at exit the first boxes die and their registers go to the waiting ones: "..., until one was freed")
    assert ws[5]["no_hardware"].startswith("all 4 debug registers were watching objects chosen earlier")
    assert res.report["stats"]["watched_without_hardware"] == 6 - cap
    note = f"{6 - cap} of the 6 objects --watch chose got no hardware watchpoint"
    assert any(note in n for n in res.report["notes"]), res.report["notes"]
    assert f"lifeline: note: {note}" in res.stderr
    # the ones with a watchpoint saw the loop's increment
    assert all(any(e["event"] == "incref" for e in w["history"]) for w in ws[:cap])
    assert not any(any(e["event"] == "incref" for e in w["history"]) for w in ws[cap:])


FD_BUDGET_SCRIPT = """\
import threading

class Box:
    pass

go = threading.Event()
def waiter():
    go.wait()
    t = box                                 # a waiting thread
    del t

threads = [threading.Thread(target=waiter) for _ in range(40)]
for t in threads:
    t.start()
box = Box()
x = [0]                                     # an allocation: the box is decided on here
files = [open("/dev/null") for _ in range(30)]  # the program's own files still open
go.set()
for t in threads:
    t.join()
print("script-finished", len(files))
"""


def test_watch_leaves_the_program_most_of_its_open_files_limit(interp, tmp_path):
    """Under `ulimit -n 64`, 41 threads alive when the object is chosen: watchpoints take at most
    16 descriptors (a quarter of the limit), the program still opens its 30 files, and the note
    says how many threads went unwatched."""
    path = tmp_path / "fds.py"
    path.write_text(FD_BUDGET_SCRIPT)
    res = H.run_lifeline(interp, [], command=["/bin/sh", "-c", f'ulimit -n 64 && exec "$0" "$1"',
                                                interp.path, str(path)],
                         lifeline_args=["--watch", "type=Box"])
    assert "script-finished 30" in res.stdout, res.describe()
    ws = watched(res)
    assert len(ws) == 1 and ws[0]["hardware"], res.describe()
    note = [n for n in res.report["notes"] if "threads could not get a hardware watchpoint" in n]
    assert note and "a quarter of the open-files limit" in note[0], res.report["notes"]
    unwatched = int(note[0].split()[0])
    assert 41 - 16 <= unwatched <= 41, note[0]


# A seccomp filter that makes perf_event_open fail with EACCES (x86-64 syscall 298), then execs
# argv[1:]: what a container that forbids perf does. Installed with ctypes, no compiler needed.
SECCOMP_EXEC = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(F))]
prog = (F * 4)(F(0x20, 0, 0, 0),            # ld [nr]
               F(0x15, 0, 1, 298),          # jeq perf_event_open
               F(0x06, 0, 0, 0x00050000 | 13),  # ret ERRNO(EACCES)
               F(0x06, 0, 0, 0x7fff0000))   # ret ALLOW
assert libc.prctl(38, 1, 0, 0, 0) == 0      # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.byref(P(4, prog)), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_watch_without_perf_says_so_and_goes_on(interp, tmp_path):
    """perf_event_open refused (a seccomp filter): one clear message, and the cflags header still
    records the watched object's changes in the extension."""
    path = tmp_path / "s.py"
    path.write_text("import zoo_refs\ndef trigger():\n    zoo_refs.leak_extra_incref()\ntrigger()\n")
    report = tmp_path / "r.json"
    argv = ["/usr/bin/python3", "-c", SECCOMP_EXEC, H.lifeline_path(), "run", "--report", str(report),
            "--watch", "type=zoo_refs.Item", "--", interp.path, str(path)]
    rc, out, err = H.run_command(argv, env=H.clean_env({"PYTHONPATH": routed_dir(interp)}))
    msg = "hardware watchpoints are not available (perf_event_open: Permission denied: not permitted"
    assert err.count(msg) == 1, err[-3000:]  # once, as the report's note
    rep = json.loads(report.read_text())
    assert any(msg in n for n in rep["notes"]), rep["notes"]
    ws = rep["watched"]
    assert len(ws) == 1 and ws[0]["hardware"] is False, ws
    assert ws[0]["no_hardware"] == "hardware watchpoints are not available"
    assert [e["event"] for e in ws[0]["history"]] == ["alloc", "incref"], ws[0]["history"]
    assert site(ws[0]["history"][1])[0] == "remember"


def test_watch_by_address(release_interp, tmp_path):
    """addr=: with address randomization off, the guarded pool off (its sampling is random) and the
    same command, a run allocates at the address a first run reported; watching that address (or one
    inside the block) chooses the first object allocated there (watching other objects changes what
    the program allocates first, so not necessarily the same object)."""
    interp = release_interp
    script = "class Box:\n    pass\nb = Box()\nc = b\n"
    path = tmp_path / "a.py"
    path.write_text(script)
    env = {"PYTHONHASHSEED": "0"}

    def run(spec):
        report = tmp_path / "r.json"
        argv = ["setarch", "-R", H.lifeline_path(), "run", "--pool-rate", "0", "--report", str(report),
                "--watch", spec, "--", interp.path, str(path)]
        rc, out, err = H.run_command(argv, env=H.clean_env(env))
        assert rc == 0, err[-3000:]
        return json.loads(report.read_text())

    first = run("type=Box")["watched"]
    assert len(first) == 1
    addr = int(first[0]["block"]["address"], 16)
    for target in (addr, addr + 8):
        second = run(f"addr={target:#x},limit=1")["watched"]
        assert [int(w["block"]["address"], 16) for w in second] == [addr], (hex(target), second)
        assert second[0]["spec"] == f"addr={target:#x},limit=1" and second[0]["hardware"]


BAD_SPECS = [
    ("type=", "type= needs a type name"),
    ("size=3", "unknown key"),
    ("type=Box,limit=0", "limit= takes a number from 1"),
    ("type=Box,nth=x", "nth= takes a number from 1"),
    ("site=f.py:0", "site= takes FUNCTION or FILE:LINE"),
    ("addr=0xnope", "addr= takes an address"),
    ("limit=2", "a SPEC needs type=NAME"),
    ("type=a,site=b", "a second one"),
]


def test_bad_watch_spec_is_refused_before_running(tmp_path):
    marker = tmp_path / "ran"
    for spec, why in BAD_SPECS:
        rc, out, err = H.run_lifeline_cmd(["run", "--watch", spec, "--", "touch", str(marker)])
        assert rc == 2, (spec, rc, err)
        line = H.assert_one_line(err, "lifeline: error: --watch: ")
        assert why in line, (spec, line)
    rc, out, err = H.run_lifeline_cmd(["run", "--", "true"], env={"LIFELINE_OPTIONS": "watch=type=a,nth=0"})
    assert rc == 2 and "nth= takes a number from 1, not '0'" in err, err
    rc, out, err = H.run_lifeline_cmd(["run", "--watch"])
    assert rc == 2 and "--watch needs a SPEC" in err, err
    assert not marker.exists()


def test_watch_from_lifeline_options(interp, tmp_path):
    """watch= in LIFELINE_OPTIONS runs to the next space (its commas and colons are the SPEC's)."""
    ln = watch_lines()
    res = run_watch(interp, tmp_path, [], env={
        "LIFELINE_OPTIONS": f"keep_going=1 watch=type=Box,nth=4,limit=1 watch=site=watch_scenario.py:{ln['the held list']}"})
    got = [(w["spec"], w["block"]["type"]) for w in watched(res)]
    assert got == [("type=Box,nth=4,limit=1", "Box"), (f"site=watch_scenario.py:{ln['the held list']}", "list")], \
        res.describe()


def test_macro_file_and_line_without_debug_information(release_interp, tmp_path):
    """The header passes each macro's __FILE__ and __LINE__; the journal keeps them (SITE records), so an
    extension built without -g still shows the line of each change, in the history and the summary."""
    interp = release_interp
    d = H.build_extension(interp, "zoo_refs", extra_flags=H.lifeline_cflags() + ["-g0"], variant="refs-nodebug")
    script = write_script(tmp_path, "zoo_refs.release_twice()")
    res = H.run_lifeline(interp, [str(script)], lifeline_args=["--pool-rate", "0"], env={"PYTHONPATH": d})
    f = H.only_finding(res.report, "use-after-free")
    hist = f["history"]
    assert [e["event"] for e in hist] == ["alloc", "incref", "decref", "decref", "free"], res.describe()
    # no line from DWARF: the frames only have the function names of the symbol table
    assert hist[3]["stack"][0]["function"] == "forget_entry" and hist[3]["stack"][0]["line"] is None
    marks = ["/* shared: +1 */", "/* unshared: -1 */", "/* released: never owned */"]
    assert [(os.path.basename(e["site"]["file"]), e["site"]["line"]) for e in hist[1:4]] == \
        [("zoo_refs.c", line_of(m)) for m in marks], hist[1:4]
    bad = line_of("/* released: never owned */")
    assert f"dropped by a decref in forget_entry() at zoo_refs.c:{bad}" in f["summary"], f["summary"]
    assert f"decref  refcnt 0 at zoo_refs.c:{bad}" in res.stderr


def test_watch_keeps_the_header_to_watched_objects(release_interp, tmp_path):
    """With --watch the header's changes of unwatched objects are not journaled (only checked);
    without it every change of every object of the extension is, as before."""
    interp = release_interp
    script = write_script(tmp_path, "zoo_refs.clean_refs(); zoo_refs.leak_extra_incref()")
    counts = {}
    for name, args in (("none", []), ("watch", ["--watch", "type=NoSuchType"]), ("item", ["--watch", "type=zoo_refs.Item,limit=1"])):
        journal = tmp_path / f"{name}.lljournal"
        H.run_lifeline(interp, [str(script)], lifeline_args=args, keep_journal=journal, report=False,
                       env={"PYTHONPATH": routed_dir(interp)})
        rc, out, err = H.run_lifeline_cmd(["dump", journal])
        assert rc == 0, err
        counts[name] = sum(1 for l in out.splitlines() if " owner event=5 " in l or " owner event=6 " in l)
    assert counts["none"] >= 10, counts   # clean_refs and leak_extra_incref make 11 routed changes of live objects
    assert counts["watch"] == 0, counts
    # the first Item (clean_refs' a) is watched: a hardware watchpoint records its changes
    assert 0 < counts["item"] < counts["none"], counts


PROMOTE_SCRIPT = """\
class Box:
    pass

boxes = [Box() for _ in range({n})]
c = boxes[{last}]                                # header only: no register yet
del boxes[0]                                # the first box's register comes free
b = boxes[{shifted}]                                # now by the hardware watchpoint
del b
print("script-finished")
"""


def test_watch_gives_a_freed_debug_register_to_a_waiting_object(interp, tmp_path):
    cap = H.hw_watch_capacity(interp)
    script = PROMOTE_SCRIPT.format(n=cap + 1, last=cap, shifted=cap - 1)
    lines = script.splitlines()
    after = next(i + 1 for i, t in enumerate(lines) if "# now by the hardware" in t)
    before = next(i + 1 for i, t in enumerate(lines) if "# header only" in t)
    res = run_watch(interp, tmp_path, ["type=Box"], script=script)
    ws = watched(res)
    assert len(ws) == cap + 1 and [w["hardware"] for w in ws] == [True] * cap + [False], res.describe()
    w = ws[cap]
    assert w["no_hardware"] == "all 4 debug registers were watching objects chosen earlier, until one was freed"
    at = [(e["event"], python_line(e["stack"])) for e in w["history"]]
    assert ("incref", after) in at, at
    assert ("incref", before) not in at, at  # the interpreter's change came before the register
    first = w["hardware_from_event"]
    assert first is not None and at[first] == ("incref", after), (first, at)
    assert w["balance"]["complete"] is False  # its first changes were not all seen
    assert any(f"1 of the {cap + 1} objects --watch chose got no hardware watchpoint" in n and
               "(1 got one later)" in n for n in res.report["notes"]), res.report["notes"]


def test_help_names_watch():
    rc, out, err = H.run_lifeline_cmd(["--help"])
    assert rc == 0
    assert "--watch SPEC" in out and "type=NAME" in out and "site=FILE:LINE" in out and "watch=SPEC" in out


def test_watch_explains_the_demo_without_cflags(release_interp):
    """The README's demo (examples/demo, built plainly: no header): the hardware watchpoint records
    the Py_DECREF total_weight() makes on a widget it only borrowed, and the balance names it."""
    ext = os.path.join(H.build_dir(), "examples")
    widgets_c = os.path.join(H.REPO, "examples", "demo", "widgets.c")
    decref = [n for n, l in enumerate(open(widgets_c, encoding="utf-8"), 1) if l.strip() == "Py_DECREF(item);"]
    res = H.run_lifeline(release_interp, [os.path.join(H.REPO, "examples", "demo", "demo.py")],
                         lifeline_args=["--watch", "type=widgets.Widget"], env={"PYTHONPATH": ext})
    crash = H.only_finding(res.report, "crash")
    want = f"-1 at widgets.c:{decref[0]} (widgets_total_weight) has no matching +1 (that function only borrowed the object)"
    assert want in crash["summary"], crash["summary"]
    hist = crash["history"]
    assert [e["event"] for e in hist] == ["alloc", "borrow", "decref", "free"], hist
    assert hist[2]["refcnt"] == 0 and hist[2]["stack"][0]["function"] == "widgets_total_weight"
    assert hist[2]["stack"][0]["line"] == decref[0] and "site" not in hist[2]  # a watchpoint's: no macro site
    assert crash["balance"]["unpaired"][0]["borrowed"] is True
    assert all(w["hardware"] for w in res.report["watched"]) and len(res.report["watched"]) == 4


MERGE_SCRIPT = """\
import threading, queue
class Box:
    pass
q = queue.Queue()
def worker():
    b = q.get()
    del b                       # another thread's drop: queued for the owner to merge
box = Box()
x = [0]                         # an allocation: the box is decided on here
keep = [box, box, box]
t = threading.Thread(target=worker)
t.start()
q.put(box)
t.join()
for i in range(200000):         # the owner reaches its merge at an eval breaker
    pass
import gc; gc.collect()
print("script-finished", len(keep))
"""


def test_watch_split_count_merge_is_one_change(interp, tmp_path):
    """Free-threaded builds merge the two parts of a count by zeroing the owner's part, then writing
    the sum into the shared part: the history shows the net change, never a count of 0 while the
    object lives (it showed "-1 -> 0" then "+1 -> 4" before)."""
    if interp.id not in H.FREE_THREADED:
        pytest.skip(f"{interp.id}: reference counts are one word here (no merge)")
    res = run_watch(interp, tmp_path, ["type=Box"], script=MERGE_SCRIPT)
    assert "script-finished 3" in res.stdout, res.describe()
    ws = watched(res)
    assert len(ws) == 1 and ws[0]["hardware"], res.describe()
    hist = ws[0]["history"]
    counts = [e["refcnt"] for e in hist if e["event"] in ("incref", "decref")]
    last_alive = next(i for i in range(len(hist) - 1, -1, -1) if hist[i]["event"] == "free")
    alive_counts = [e["refcnt"] for e in hist[:last_alive] if e["event"] in ("incref", "decref")]
    assert 0 not in alive_counts[:-1], [(e["event"], e.get("refcnt")) for e in hist]
    assert counts, hist
