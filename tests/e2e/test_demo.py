"""The bundled demo (examples/demo): lifeline must turn a crash far from its cause into its cause.

The demo crashes in heaviest() -> widget_weight(), reading the sample buffer of a widget that
total_weight() freed one call earlier by a Py_DECREF on a borrowed reference. The report must show
the faulting stack and name the freed block with its free stack through widgets_total_weight, and
(the C-API boundary) where total_weight() borrowed the widget: its PyList_GetItem() call.
"""
import os

import pytest

import lifeline_harness as H

DEMO = os.path.join(H.REPO, "examples", "demo", "demo.py")
WIDGETS_C = os.path.join(H.REPO, "examples", "demo", "widgets.c")


def demo_ext_dir(interp):
    d = os.path.join(H.build_dir(), "examples")
    if not os.path.exists(os.path.join(d, "widgets" + interp.ext_suffix)):
        pytest.fail(f"the demo extension is not built in {d} (run `make`)", pytrace=False)
    return d


def test_demo_crashes_without_lifeline(release_interp):
    rc, out, err = H.run_command([release_interp.path, DEMO],
                                 env=H.clean_env(pythonpath=[demo_ext_dir(release_interp)]),
                                 timeout=120)
    assert rc == -11, f"exit {rc}\n{out}\n{err}"
    assert out == "loaded 4 widgets\n", out


def decref_lines():
    return [n for n, l in enumerate(open(WIDGETS_C, encoding="utf-8"), 1) if l.strip() == "Py_DECREF(item);"]


def getitem_lines():
    return [n for n, l in enumerate(open(WIDGETS_C, encoding="utf-8"), 1) if "= PyList_GetItem(list, i);" in l]


def assert_borrow_named(f):
    """The crash's freed widget was borrowed by total_weight() from PyList_GetItem, and the same
    function released it: the summary, the borrow stack and the detail say so."""
    assert f["details"].get("borrowed_by") == "PyList_GetItem", f["details"]
    borrow = f["stacks"].get("borrow")
    H.assert_stack_order(borrow, ["native:widgets_total_weight", "python:summarize", "python:main",
                                  "python:<module>"], contiguous_python=True)
    assert borrow[0]["function"] == "widgets_total_weight", H.format_stack(borrow)
    assert [borrow[0]["line"]] == getitem_lines(), H.format_stack(borrow)
    assert (f"the extension borrowed it from PyList_GetItem() at widgets.c:{getitem_lines()[0]} "
            f"and released it at widgets.c:{decref_lines()[0]}") in f["summary"], f["summary"]


def test_demo_explained(release_interp):
    """With heap checking (the default) the freed widget is poisoned, so the first touch of it
    crashes: in heaviest(), checking the type of a list item that total_weight() freed."""
    res = H.run_lifeline(release_interp, [DEMO], env={"PYTHONPATH": demo_ext_dir(release_interp)})
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    assert report["target"]["exit"]["signal"] == "SIGSEGV"
    crashes = [f for f in report["findings"] if f["kind"] == "crash"]
    assert len(crashes) == 1, res.describe()
    f = crashes[0]
    H.assert_stack_order(f["stacks"]["access"],
                         ["native:widgets_heaviest", "python:summarize", "python:main", "python:<module>"],
                         contiguous_python=True)
    # The dangling pointer is found in a caller's saved register and named as the freed widget.
    block = f["details"]["nearest_block"]
    assert block is not None and block["state"] == "freed", f["details"]
    assert block["type"] == "widgets.Widget" and block["domain"] == "obj", block
    assert f["details"]["freed_pattern_in"], f["details"]
    assert "freed 'widgets.Widget' object" in f["summary"], f["summary"]
    H.assert_stack_order(block["free"], ["native:Widget_dealloc", "native:widgets_total_weight",
                                         "python:summarize", "python:main", "python:<module>"])
    H.assert_stack_order(block["alloc"], ["python:<listcomp>", "python:load_fleet", "python:main",
                                          "python:<module>"])
    assert [fr["line"] for fr in block["free"] if fr.get("function") == "widgets_total_weight"] == \
        decref_lines()
    assert_borrow_named(f)
    assert "  borrowed at:" in stderr
    assert stderr.count("lifeline: crash: SIGSEGV") == 1


def test_demo_explained_without_checking(release_interp):
    """Recording only (--no-check): the widget's memory is reused as usual and the crash comes
    later, reading the freed 1.6 MB sample buffer; the report still names that buffer."""
    res = H.run_lifeline(release_interp, [DEMO], lifeline_args=["--no-check"],
                         env={"PYTHONPATH": demo_ext_dir(release_interp)})
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    assert report is not None, res.describe()
    assert report["target"]["exit"]["signal"] == "SIGSEGV"
    found = [f for f in report["findings"] if f["kind"] == "crash"]
    assert found, res.describe()
    f = found[0]
    H.assert_stack_order(f["stacks"]["access"],
                         ["native:widget_weight", "native:widgets_heaviest", "python:summarize",
                          "python:main", "python:<module>"], contiguous_python=True)
    block = f["details"]["nearest_block"]
    assert block is not None and block["state"] == "freed", f["details"]
    alloc, free = block["alloc"], block["free"]
    assert block["size"] == 200_000 * 8 and block["domain"] == "mem", block
    H.assert_stack_order(free, ["native:Widget_dealloc", "native:widgets_total_weight",
                                "python:summarize", "python:main", "python:<module>"])
    H.assert_stack_order(alloc, ["native:Widget_init", "python:<listcomp>", "python:load_fleet",
                                 "python:main", "python:<module>"])
    assert [fr["line"] for fr in free if fr.get("function") == "widgets_total_weight"] == decref_lines()
    # The block is the widget's sample buffer, which no C-API call handed out: nothing borrowed.
    assert "borrowed_by" not in f["details"] and "borrow" not in f["stacks"], f


def test_demo_explained_under_faulthandler(release_interp):
    """faulthandler handles the fault first and raises SIGSEGV again: lifeline still reports the
    frame that faulted, with its registers, not faulthandler's raise()."""
    res = H.run_lifeline(release_interp, ["-X", "faulthandler", DEMO],
                         env={"PYTHONPATH": demo_ext_dir(release_interp)})
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    crashes = [f for f in report["findings"] if f["kind"] == "crash"]
    assert len(crashes) == 1, res.describe()
    f = crashes[0]
    names = [fr.get("function") for fr in f["stacks"]["access"]]
    assert "raise" not in names and "__pthread_kill_implementation" not in names, names
    H.assert_stack_order(f["stacks"]["access"],
                         ["native:widgets_heaviest", "python:summarize", "python:main", "python:<module>"])
    assert f["details"]["fault_address"] is None, f["details"]  # a raised signal has none
    block = f["details"]["nearest_block"]
    assert block is not None and block["type"] == "widgets.Widget" and block["state"] == "freed", block
    assert_borrow_named(f)
    assert "Fatal Python error: Segmentation fault" in stderr  # faulthandler still had its say
