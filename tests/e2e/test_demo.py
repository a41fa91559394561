"""The bundled demo (examples/demo): lifeline must turn a crash far from its cause into its cause.

The demo crashes in heaviest() -> widget_weight(), reading the sample buffer of a widget that
total_weight() freed one call earlier by a Py_DECREF on a borrowed reference. The report must show
the faulting stack and name the freed block with its free stack through widgets_total_weight.
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


def test_demo_explained(release_interp):
    res = H.run_lifeline(release_interp, [DEMO],
                         env={"PYTHONPATH": demo_ext_dir(release_interp)})
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    assert report is not None, res.describe()
    assert report["target"]["exit"]["signal"] == "SIGSEGV"
    found = [f for f in report["findings"] if f["kind"] in ("crash", "use-after-free")]
    assert found, res.describe()
    f = found[0]
    # Where it died: correct code reading a freed widget's samples.
    H.assert_stack_order(f["stacks"]["access"],
                         ["native:widget_weight", "native:widgets_heaviest", "python:summarize",
                          "python:main", "python:<module>"], contiguous_python=True)
    # Why: the sample buffer (1.6 MB, PyMem) was freed by Widget_dealloc, run by the Py_DECREF in
    # total_weight() on a reference it had borrowed from the list.
    if f["kind"] == "crash":
        block = f["details"]["nearest_block"]
        assert block is not None and block["state"] == "freed", f["details"]
        alloc, free = block["alloc"], block["free"]
    else:
        block = f["block"]
        alloc, free = f["stacks"]["alloc"], f["stacks"]["free"]
    assert block["size"] == 200_000 * 8 and block["domain"] == "mem", block
    H.assert_stack_order(free, ["native:Widget_dealloc", "native:widgets_total_weight",
                                "python:summarize", "python:main", "python:<module>"])
    H.assert_stack_order(alloc, ["native:Widget_init", "python:<listcomp>", "python:load_fleet",
                                 "python:main", "python:<module>"])
    decref_line = [n for n, l in enumerate(open(WIDGETS_C, encoding="utf-8"), 1)
                   if l.strip() == "Py_DECREF(item);"]
    assert [fr["line"] for fr in free if fr.get("function") == "widgets_total_weight"] == decref_line
