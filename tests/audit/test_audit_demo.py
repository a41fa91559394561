"""The bundled demo's bug, found without running it: the Py_DECREF of a reference borrowed from
PyList_GetItem() and handed to a helper first (a borrowed reference stays borrowed)."""
import json
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
WIDGETS = REPO / "examples" / "demo" / "widgets.c"


def test_demo_decref_of_borrowed_item(run_check, tmp_path):
    report = tmp_path / "r.json"
    res = run_check("--report", report, WIDGETS)
    assert res.returncode == 1, res.stdout + res.stderr
    findings = json.loads(report.read_text())["findings"]
    decref_line = [n for n, l in enumerate(WIDGETS.read_text().splitlines(), 1)
                   if l.strip() == "Py_DECREF(item);"]
    found = [(f["kind"], f["location"]["line"], f["location"]["function"]) for f in findings]
    assert found == [("decref-borrowed", decref_line[0], "widgets_total_weight")], found
