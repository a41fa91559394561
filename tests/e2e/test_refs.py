"""End-to-end tests of reference-count histories (include/lifeline_refs.h, `lifeline cflags`,
lifeline_ref_event in agent/boundary.c, cli/history.c) on the reference-count bug zoo
(tests/e2e/ext/zoo_refs.c, built with the flags `lifeline cflags` prints).

An extra Py_DECREF in a helper frees an item that is then written: the use-after-free finding must
carry a `history` whose decref to 0 (from 1) is at that helper's line, its summary must name it,
and `lifeline history JOURNAL ADDR` on the kept journal must print the same timeline. The same
source built with and without the header, run with and without lifeline, must compute the same
reference counts with every routed macro (NULL handling, Py_CLEAR, Py_SETREF order, Py_NewRef's
value)."""
import os
import re

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
