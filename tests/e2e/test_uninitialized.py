"""uninitialized-field: a field of an extension object never written before the object is freed."""
import lifeline_harness as H

SCRIPT_BUG = """
import zoo_uninit
def build():
    g = zoo_uninit.make()
    del g
build()
print("done")
"""

SCRIPT_CLEAN = """
import zoo_uninit
for _ in range(3):
    zoo_uninit.make_full()
print("done")
"""


def run(interp, tmp_path, text):
    script = tmp_path / "script.py"
    script.write_text(text)
    return H.run_lifeline(interp, [str(script)], extensions=["zoo_uninit"])


def test_forgotten_field_is_named(interp, tmp_path):
    res = run(interp, tmp_path, SCRIPT_BUG)
    rc, stderr, report = res
    assert rc == 0, res.describe()  # a warning: the target's own status
    found = [f for f in report["findings"] if f["kind"] == "uninitialized-field"]
    assert len(found) == 1, res.describe()  # cookie only: not the padding word, not the array tail
    f = found[0]
    assert f["severity"] == "warning"
    assert f["details"]["field"] == "cookie", f["details"]
    assert f["details"]["offset"] == 40 + H.object_header_growth(interp), f["details"]
    assert f["block"]["type"] == "zoo_uninit.Gadget" and f["block"]["domain"] == "obj", f["block"]
    H.assert_stack_order(f["stacks"]["alloc"], ["native:make", "python:build", "python:<module>"])
    assert "lifeline: uninitialized-field: field 'cookie'" in stderr


def test_fully_initialized_objects_are_clean(interp, tmp_path):
    res = run(interp, tmp_path, SCRIPT_CLEAN)
    rc, stderr, report = res
    assert rc == 0, res.describe()
    assert report["findings"] == [], res.describe()
