"""End-to-end tests of `lifeline leaks -R W:M` and `lifeline.leaks()` on the repetition bug zoo
(tests/e2e/ext/zoo_repeat.c) and on clean code.

Each leaking shape runs on every interpreter: a generated script calls one zoo_repeat function from
a Python function; `lifeline leaks` must report a `leak` finding for the allocation site and type
that grows, with the zoo's C function and the script's function in its alloc stack, `per_run` of
length M holding exactly what each run leaked, and, on a debug build, the reference-count deltas
regrtest shows. Then: a pure-Python leak, a module run with -m and arguments, other -R values, the
warm-ups (a cache that fills during them is no leak; with no warm-up it is), clean code that must
report nothing (the zoo's clean functions, a stdlib-heavy script), the Python API under `lifeline
run`, lifeline's usage errors, and real code: Debian's numpy, simplejson and CPython's _ctypes
must report nothing; Debian's ujson and msgpack have real leaks that must be found.
"""
import json
import os
import textwrap

import pytest

import lifeline_harness as H

SCRIPT = """\
import zoo_repeat

def trigger():
    {stmt}

trigger()
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def leaks(interp, args, *, repeat=None, extensions=("zoo_repeat",), cwd=None, extra=()):
    lifeline_args = (["-R", repeat] if repeat else []) + list(extra)
    return H.run_lifeline(interp, args, extensions=extensions, lifeline_args=lifeline_args,
                          subcommand="leaks", cwd=cwd)


def leak_findings(res):
    """The repetition's leak findings (with per_run); the exit scan's (with reachability) are
    another matter, tested in test_leaks.py."""
    found = [f for f in H.findings(res.report, "leak") if "reachability" not in f["details"]]
    for f in found:
        assert f["severity"] == "error", res.describe()
        assert isinstance(f["details"]["per_run"], list), res.describe()
    return found


def pick(res, type_, domain, function):
    """The single leak finding of this type and domain whose alloc stack has `function`."""
    found = [f for f in leak_findings(res)
             if f["block"]["type"] == type_ and f["block"]["domain"] == domain
             and any(fr["function"] == function for fr in f["stacks"]["alloc"])]
    assert len(found) == 1, (f"expected one leak of {type_!r} ({domain}) allocated in {function}, got "
                             f"{len(found)}\n{res.describe()}")
    return found[0]


def check_growth(res, finding, per_run, stack):
    d = finding["details"]
    assert d["per_run"] == per_run, res.describe()
    assert d["count"] == sum(per_run), res.describe()
    assert d["bytes"] >= d["count"] * 8, res.describe()
    H.assert_stack_order(finding["stacks"]["alloc"], stack)


# --------------------------------------------------------------------------------------------------
# The zoo's leaks, on every interpreter
# --------------------------------------------------------------------------------------------------

# name: (statement, calls per run, [(type, domain, C function)], references leaked per run)
SHAPES = {
    "new-reference": ("zoo_repeat.leak_ref()", 1, [("zoo_repeat.Token", "obj", "leak_ref")], 1),
    "two-references": ("zoo_repeat.leak_ref(); zoo_repeat.leak_ref()", 2,
                       [("zoo_repeat.Token", "obj", "leak_ref")], 2),
    "pymem-buffer": ("zoo_repeat.leak_buffer()", 1, [(None, "mem", "leak_buffer")], 0),
    # the list (its item array is the mem block) and the bytes object it holds
    "list-with-item": ("zoo_repeat.leak_list()", 1,
                       [("bytes", "obj", "leak_list"), (None, "mem", "leak_list")], 2),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_zoo_leak(interp, tmp_path, shape):
    stmt, calls, expected, refs = SHAPES[shape]
    res = leaks(interp, [write(tmp_path, "scenario.py", SCRIPT.format(stmt=stmt))])
    assert res.returncode == H.ERROR_EXIT, res.describe()
    for type_, domain, function in expected:
        f = pick(res, type_, domain, function)
        check_growth(res, f, [calls] * 3, ["native:" + function, "python:trigger", "python:<module>"])
    rep = res.report["repetitions"]
    assert rep["warmups"] == 3 and rep["runs"] == 3 and rep["complete"] is True, res.describe()
    assert all(d >= calls for d in rep["block_deltas"]), res.describe()
    if interp.debug:
        # exactly what the zoo leaked: the runner itself leaves no reference behind
        assert rep["refcount_deltas"] == [refs] * 3, res.describe()
        assert rep["refcount_leaked"] == (refs > 0), res.describe()
        assert ("leaked [%d, %d, %d] references, sum=%d" % (refs, refs, refs, 3 * refs) in res.stderr) == (refs > 0)
    else:
        assert rep["refcount_deltas"] is None and rep["refcount_leaked"] is False, res.describe()
    assert "lifeline: leaked [" in res.stderr and "memory blocks, sum=" in res.stderr, res.describe()


def test_reference_leak_without_memory(interp, tmp_path):
    """One reference to None too many per run: no memory grows, so there is no site to show; a debug
    build counts references and fails the run as regrtest would, a release build cannot see it."""
    res = leaks(interp, [write(tmp_path, "scenario.py", SCRIPT.format(stmt="zoo_repeat.leak_none()"))])
    assert leak_findings(res) == [], res.describe()
    rep = res.report["repetitions"]
    if interp.debug and interp.id in H.PY313_VARIANTS:
        # None is immortal from 3.12 on: Py_INCREF leaves its count and the total alone, so the
        # extra reference is no leak at all, and lifeline says nothing.
        assert res.returncode == 0, res.describe()
        assert rep["refcount_deltas"] == [0, 0, 0] and rep["refcount_leaked"] is False, res.describe()
    elif interp.debug:
        assert res.returncode == H.ERROR_EXIT, res.describe()
        assert rep["refcount_deltas"] == [1, 1, 1] and rep["refcount_leaked"] is True, res.describe()
        assert "lifeline: leaked [1, 1, 1] references, sum=3" in res.stderr, res.describe()
    else:
        assert res.returncode == 0, res.describe()
        assert rep["refcount_deltas"] is None, res.describe()


def test_other_counts(release_interp, tmp_path):
    """-R 1:5: five measured runs, each in per_run."""
    res = leaks(release_interp, [write(tmp_path, "scenario.py", SCRIPT.format(stmt="zoo_repeat.leak_buffer()"))],
                repeat="1:5")
    assert res.returncode == H.ERROR_EXIT, res.describe()
    f = pick(res, None, "mem", "leak_buffer")
    assert f["details"]["per_run"] == [1] * 5, res.describe()
    assert res.report["repetitions"]["warmups"] == 1 and res.report["repetitions"]["runs"] == 5


def test_pure_python_leak(interp, tmp_path):
    """A module-level list in an imported module that every run appends to: instances of a class that
    lives as long as the module (the imported module runs once, the script each run)."""
    write(tmp_path, "store.py", """\
        class Node:
            pass
        nodes = []
    """)
    script = write(tmp_path, "grow.py", """\
        import store

        def trigger():
            for _ in range(2):
                store.nodes.append(store.Node())
            temporary = [store.Node() for _ in range(50)]   # freed at once: no leak
            return len(temporary)

        trigger()
    """)
    res = leaks(interp, [script], extensions=(), cwd=str(tmp_path))
    assert res.returncode == H.ERROR_EXIT, res.describe()
    nodes = [f for f in leak_findings(res) if f["block"]["type"] == "Node"]
    assert len(nodes) == 1, res.describe()
    check_growth(res, nodes[0], [2, 2, 2], ["python:trigger", "python:<module>"])


def test_module_with_arguments(release_interp, tmp_path):
    """-m: the module runs as __main__ with its arguments in sys.argv, in fresh globals each run, and
    the package it is in is imported once."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.pkg_imports = getattr(sys, 'pkg_imports', 0) + 1\n")
    write(pkg, "tool.py", """\
        import sys
        import zoo_repeat
        assert __name__ == "__main__", __name__
        assert sys.argv[1:] == ["alpha", "--beta"], sys.argv
        assert sys.argv[0].endswith("tool.py"), sys.argv
        assert "seen" not in globals(), "globals were not fresh"
        assert sys.pkg_imports == 1, sys.pkg_imports
        seen = True
        for _ in range(int(len(sys.argv[1]) / 5)):
            zoo_repeat.leak_ref()
        print("tool ran")
    """)
    res = leaks(release_interp, ["-m", "pkg.tool", "alpha", "--beta"], cwd=str(tmp_path))
    assert res.returncode == H.ERROR_EXIT, res.describe()
    assert res.stdout.count("tool ran") == 6, res.describe()
    f = pick(res, "zoo_repeat.Token", "obj", "leak_ref")
    check_growth(res, f, [1, 1, 1], ["native:leak_ref", "python:<module>"])
    assert res.report["target"]["argv"][-4:] == ["-m", "pkg.tool", "alpha", "--beta"], res.describe()


def test_script_sees_its_own_argv_and_path(release_interp, tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "helper_mod.py", "VALUE = 7\n")
    script = write(sub, "main.py", """\
        import os, sys
        import helper_mod   # found through sys.path[0], the script's directory
        assert __name__ == "__main__"
        assert sys.argv == [sys.argv[0], "one", "two"] and sys.argv[0].endswith("main.py"), sys.argv
        assert sys.path[0] == os.path.dirname(os.path.realpath(__file__)), sys.path[:2]
        assert "seen" not in globals()
        seen = True
        os.chdir("/")   # the next run must still find the script
        if helper_mod.VALUE == 7:
            raise SystemExit(0)   # a clean exit ends the run, not the repetitions
    """)
    res = leaks(release_interp, [script, "one", "two"], extensions=(), cwd=str(tmp_path))
    assert res.returncode == 0, res.describe()
    assert leak_findings(res) == [], res.describe()
    assert res.report["repetitions"]["runs"] == 3


# --------------------------------------------------------------------------------------------------
# Warm-ups and clean code: no false alarms
# --------------------------------------------------------------------------------------------------

def test_cache_filled_during_warmups_is_clean(interp, tmp_path):
    res = leaks(interp, [write(tmp_path, "scenario.py",
                               SCRIPT.format(stmt="zoo_repeat.cached(); zoo_repeat.clean()"))])
    assert res.returncode == 0, res.describe()
    assert leak_findings(res) == [], res.describe()
    rep = res.report["repetitions"]
    assert not all(d >= 1 for d in rep["block_deltas"]), res.describe()
    if interp.debug:
        assert rep["refcount_leaked"] is False, res.describe()


def test_without_warmups_the_cache_grows(release_interp, tmp_path):
    """The same script with -R 0:3: the cache's three entries are made in the measured runs."""
    res = leaks(release_interp, [write(tmp_path, "scenario.py", SCRIPT.format(stmt="zoo_repeat.cached()"))],
                repeat="0:3")
    assert res.returncode == H.ERROR_EXIT, res.describe()
    f = pick(res, "bytes", "obj", "cached")
    check_growth(res, f, [1, 1, 1], ["native:cached", "python:trigger"])
    assert res.report["repetitions"]["warmups"] == 0


def test_clean_stdlib_script(interp):
    res = leaks(interp, [H.script("leaks_clean_stdlib.py")], extensions=())
    if interp.id in H.FREE_THREADED:
        # The script starts a thread: from then on 3.13t makes every new function and code object
        # immortal (gh-117783), and each run's stay. lifeline says so in a note.
        assert any("immortal" in n and "gh-117783" in n for n in res.report["notes"]), res.describe()
        pytest.skip(f"{interp.id}: once a thread has started, 3.13t immortalizes each run's functions "
                    "and code objects (CPython gh-117783): the growth is real, and noted")
    assert res.returncode == 0, res.describe()
    assert res.report["findings"] == [], res.describe()
    if interp.debug:
        assert res.report["repetitions"]["refcount_deltas"] == [0, 0, 0], res.describe()


# --------------------------------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------------------------------

API_SCRIPT = """\
import json, sys
import lifeline, zoo_repeat

def leaky():
    zoo_repeat.leak_buffer()

results = [lifeline.leaks(leaky), lifeline.leaks(zoo_repeat.clean, warmups=2, runs=4)]
print(json.dumps([r._asdict() for r in results]))
"""


def test_python_api(interp, tmp_path):
    res = H.run_lifeline(interp, [write(tmp_path, "api.py", API_SCRIPT)], extensions=["zoo_repeat"])
    assert res.returncode == H.ERROR_EXIT, res.describe()
    leaky, clean = json.loads(res.stdout.strip().splitlines()[-1])
    assert (leaky["warmups"], leaky["runs"], leaky["block_deltas"], leaky["leaked"]) == (3, 3, [1, 1, 1], True)
    assert (clean["warmups"], clean["runs"], clean["leaked"]) == (2, 4, False), clean
    assert clean["block_deltas"] == [0, 0, 0, 0], clean
    if interp.debug:
        assert leaky["refcount_deltas"] == [0, 0, 0] and clean["refcount_deltas"] == [0, 0, 0, 0]
    else:
        assert leaky["refcount_deltas"] is None
    f = pick(res, None, "mem", "leak_buffer")
    check_growth(res, f, [1, 1, 1], ["native:leak_buffer", "python:leaky", "python:repeat", "python:leaks"])
    assert f["details"]["series"] == 0, res.describe()
    assert len(leak_findings(res)) == 1, res.describe()
    rep = res.report["repetitions"]
    assert (rep["warmups"], rep["runs"], rep["block_deltas"]) == (3, 3, [1, 1, 1]), res.describe()
    later = rep["later_series"]
    assert len(later) == 1 and (later[0]["warmups"], later[0]["runs"]) == (2, 4), res.describe()


NOOP_SCRIPT = """\
import json
import lifeline

def noop():
    pass

print(json.dumps([lifeline.leaks(noop, 0, 1)._asdict(), lifeline.leaks(noop, 0, 3)._asdict()]))
"""


def test_runner_leaves_nothing_behind(interp, tmp_path):
    """The repetitions themselves (the loop, the cleanup, the marks, lifeline.leaks()'s own counters)
    keep nothing more alive at one mark than at the one before, even with no warm-up to hide it:
    a function that does nothing shows no growth, no reference, no finding."""
    res = H.run_lifeline(interp, [write(tmp_path, "noop.py", NOOP_SCRIPT)])
    assert res.returncode == 0, res.describe()
    one, three = json.loads(res.stdout.strip().splitlines()[-1])
    assert one["block_deltas"] == [0] and three["block_deltas"] == [0, 0, 0], res.describe()
    if interp.debug:
        assert one["refcount_deltas"] == [0] and three["refcount_deltas"] == [0, 0, 0], res.describe()
    assert H.findings(res.report) == [], res.describe()
    assert res.report["repetitions"]["block_deltas"] == [0], res.describe()


def test_script_runner_leaves_nothing_behind(interp, tmp_path):
    """The same for the script runner of `lifeline leaks` (sys.argv, runpy), with no warm-up."""
    res = leaks(interp, [write(tmp_path, "nothing.py", "x = 1\n"), "arg"], repeat="0:2", extensions=())
    assert res.returncode == 0, res.describe()
    assert res.report["findings"] == [], res.describe()
    assert res.report["repetitions"]["block_deltas"] == [0, 0], res.describe()


def test_python_api_outside_lifeline(release_interp):
    """Without the agent there is no _lifeline module: a clear RuntimeError, not a hang."""
    code = "import lifeline\ntry:\n    lifeline.leaks(print)\nexcept RuntimeError as e:\n    print('refused:', e)\n"
    rc, out, err = H.run_command([release_interp.path, "-c", code],
                                 env=H.clean_env(pythonpath=[os.path.join(H.build_dir(), "python")]))
    assert rc == 0 and "refused: this process is not traced by lifeline" in out, (rc, out, err)


# --------------------------------------------------------------------------------------------------
# Runs that end early, and usage errors
# --------------------------------------------------------------------------------------------------

def test_failing_run_stops_the_repetitions(release_interp, tmp_path):
    script = write(tmp_path, "fails.py", """\
        import sys
        sys.runs = getattr(sys, "runs", 0) + 1
        if sys.runs == 3:
            sys.exit(5)
    """)
    res = leaks(release_interp, [script], repeat="1:3", extensions=())
    assert res.returncode == 5, res.describe()
    assert "only 1 of the 3 measured runs ended" in res.stderr, res.describe()
    assert "stopped after 1 measured run, before their end" in res.stderr, res.describe()
    assert leak_findings(res) == [], res.describe()
    rep = res.report["repetitions"]
    assert rep["runs"] == 1 and rep["complete"] is False, res.describe()


BAD = {
    "R without colon": (["-R", "3", "--", "PY", "S"], "-R takes W:M"),
    "R not numbers": (["-R", "a:b", "--", "PY", "S"], "-R takes W:M"),
    "R no measured run": (["-R", "3:0", "--", "PY", "S"], "-R takes W:M"),
    "R negative": (["-R", "-1:3", "--", "PY", "S"], "-R takes W:M"),
    "R three parts": (["-R", "3:3:x", "--", "PY", "S"], "-R takes W:M"),
    "R too many": (["-R", "1001:3", "--", "PY", "S"], "-R takes W:M"),
    "R missing value": (["-R"], "-R takes W:M"),
    "missing command": (["-R", "3:3", "--"], "missing the command"),
    "not python": (["--", "/bin/echo", "S"], "is no Python interpreter"),
    "script not found": (["--", "PY", "no-such-script.py"], "cannot find the script 'no-such-script.py'"),
    "dash c": (["--", "PY", "-c", "pass"], "not a -c command"),
    "stdin": (["--", "PY", "-"], "not the standard input"),
    "no script": (["--", "PY", "-X", "dev"], "missing the script"),
    "m without module": (["--", "PY", "-m"], "-m needs a module name"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_usage_errors(release_interp, lifeline, case):
    args, message = BAD[case]
    args = [release_interp.path if a == "PY" else H.script("leaks_clean_stdlib.py") if a == "S" else a
            for a in args]
    rc, out, err = H.run_lifeline_cmd(["leaks"] + args)
    assert rc == H.USAGE_EXIT, (rc, err)
    line = H.assert_one_line(err, "lifeline: error: ")
    assert message in line, line


def test_module_not_found(release_interp):
    res = leaks(release_interp, ["-m", "no_such_module_for_lifeline"], extensions=())
    assert res.returncode == H.USAGE_EXIT, res.describe()
    assert "lifeline: error: no module named 'no_such_module_for_lifeline'" in res.stderr, res.describe()
    assert "no repetition was measured" in res.stderr, res.describe()


def test_help_describes_leaks(lifeline):
    rc, out, err = H.run_lifeline_cmd(["--help"])
    assert rc == 0 and "lifeline leaks [-R W:M]" in out and "lifeline.leaks(func" in out, out


# --------------------------------------------------------------------------------------------------
# Real code (Debian's extensions, release interpreter)
# --------------------------------------------------------------------------------------------------

REALCODE_DIR = os.path.join(H.E2E_DIR, "realcode")


def require_module(interp, module):
    rc, out, err = H.run_command([interp.path, "-c", f"import {module}"], env=H.clean_env(), timeout=120)
    if rc != 0:
        pytest.skip(f"{module} does not import: {err.strip().splitlines()[-1] if err.strip() else rc}")


# id -> (script, args, module that must import)
CLEAN_REALCODE = {
    "numpy": ("numpy_work.py", [], "numpy.core._multiarray_umath"),
    "simplejson": ("serializers_work.py", ["simplejson"], "simplejson._speedups"),
    "ctypes": ("ctypes_work.py", [], "_ctypes"),
}


@pytest.mark.parametrize("name", sorted(CLEAN_REALCODE))
def test_clean_real_code(release_interp, name):
    script, args, module = CLEAN_REALCODE[name]
    require_module(release_interp, module)
    res = leaks(release_interp, [os.path.join(REALCODE_DIR, script)] + args, extensions=())
    assert res.returncode == 0, res.describe()
    assert leak_findings(res) == [], res.describe()
    assert res.report["repetitions"]["complete"] is True, res.describe()


def test_real_leak_in_ujson(release_interp):
    """Debian's ujson 5.7.0 leaks the decimal string it makes of an int beyond 64 bits at each
    dumps() of one (checked without lifeline: 1000 calls, 1000 more blocks)."""
    require_module(release_interp, "ujson")
    res = leaks(release_interp, [os.path.join(REALCODE_DIR, "serializers_work.py"), "ujson"], extensions=())
    assert res.returncode == H.ERROR_EXIT, res.describe()
    found = [f for f in leak_findings(res) if f["block"]["type"] == "str"
             and any("ujson" in (fr.get("module") or "") for fr in f["stacks"]["alloc"])]
    assert len(found) == 1 and found[0]["details"]["per_run"] == [1, 1, 1], res.describe()
    H.assert_stack_order(found[0]["stacks"]["alloc"], ["native:_PyLong_Format", "native:objToJSON",
                                                       "python:check_ujson"])


def test_real_leak_in_msgpack(release_interp):
    """Debian's msgpack 1.0.3 leaks what it had unpacked when unpackb() meets truncated data
    (checked without lifeline: 26004 blocks a call)."""
    require_module(release_interp, "msgpack._cmsgpack")
    res = leaks(release_interp, [os.path.join(REALCODE_DIR, "serializers_work.py"), "msgpack"], extensions=())
    assert res.returncode == H.ERROR_EXIT, res.describe()
    found = leak_findings(res)
    in_msgpack = [f for f in found if any("msgpack" in (fr.get("module") or "") for fr in f["stacks"]["alloc"])]
    assert sum(f["details"]["count"] for f in in_msgpack) >= 3 * 20000, res.describe()
