"""Shapes of the three output formats, checked against a small golden input."""
import json
import pathlib

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"
KIND_NAMES = {
    "leak", "decref-borrowed", "decref-after-steal", "double-free", "borrowed-after-mutation",
    "store-borrowed", "null-without-exception", "missing-null-check", "allocator-mismatch",
    "gc-untraversed-reference", "gc-clear-dangling", "dealloc-without-untrack",
    "gc-tracked-uninitialized", "uninitialized-field",
}


def test_text_matches_golden(run_check):
    res = run_check("cases.c", cwd=GOLDEN)
    assert res.returncode == 1
    assert res.stdout == (GOLDEN / "cases.txt").read_text()


def test_text_shape(run_check):
    res = run_check("cases.c", cwd=GOLDEN)
    blocks = res.stdout.split("\n\n")
    summary = blocks.pop().strip()
    assert summary == "lifeline check: 2 errors, 0 warnings in 1 file"
    for block in blocks:
        lines = block.splitlines()
        head = lines[0]
        assert head.startswith("cases.c:") and ": error: " in head and head.endswith("]")
        for note in lines[1:]:
            file, line, rest = note.split(":", 2)
            assert file == "cases.c" and line.isdigit() and rest.startswith(" note: ")


def test_json_report_shape(run_check, tmp_path):
    report = tmp_path / "r.json"
    res = run_check("--report", report, "--format", "json", "cases.c", cwd=GOLDEN)
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert json.loads(report.read_text()) == doc
    assert doc["schema"] == "lifeline-report/1"
    assert doc["tool"] == {"name": "lifeline", "version": "0.1.0"}
    target = doc["target"]
    assert target["argv"] == ["--report", str(report), "--format", "json", "cases.c"]
    assert target["pid"] is None
    assert target["exit"] == {"status": 1, "signal": None}
    assert set(target["python"]) == {"version", "debug_build", "executable"}
    assert target["python"]["version"].startswith("3.11")
    assert target["python"]["debug_build"] is False
    assert set(doc["stats"]) == {"files", "functions", "seconds"}
    assert doc["stats"]["files"] == 1 and doc["stats"]["functions"] == 2
    assert isinstance(doc["stats"]["seconds"], float)
    leak = doc["findings"][0]
    assert set(leak) == {"kind", "severity", "summary", "location", "path", "details"}
    assert leak["kind"] == "leak" and leak["severity"] == "error"
    assert leak["location"] == {"file": "cases.c", "line": 20, "column": 9, "function": "pair_or_fail"}
    assert leak["path"][0] == {"file": "cases.c", "line": 16, "note": "'label' receives a new reference"}
    assert {"file": "cases.c", "line": 19, "note": "taking the branch where n < 0"} in leak["path"]
    assert leak["path"][-1] == {"file": "cases.c", "line": 20, "note": "returning without releasing 'label'"}
    assert leak["details"] == {"variable": "label", "api": "PyUnicode_FromFormat"}
    for f in doc["findings"]:
        assert f["kind"] in KIND_NAMES


def test_sarif_shape(run_check):
    res = run_check("--format", "sarif", "cases.c", cwd=GOLDEN)
    assert res.returncode == 1
    doc = json.loads(res.stdout)
    assert doc["version"] == "2.1.0"
    assert "sarif-2.1.0" in doc["$schema"]
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "lifeline"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert set(rule_ids) == KIND_NAMES
    assert len(run["results"]) == 2
    for r in run["results"]:
        assert r["level"] == "error"
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
        loc = r["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "cases.c"
        assert loc["region"]["startLine"] > 0 and loc["region"]["startColumn"] > 0
        flow = r["codeFlows"][0]["threadFlows"][0]["locations"]
        assert flow and all("message" in step["location"] for step in flow)


def test_clean_input_exits_zero(run_check, tmp_path):
    src = tmp_path / "ok.c"
    src.write_text("#include <Python.h>\nstatic PyObject *f(PyObject *s, PyObject *a)\n"
                   "{\n    Py_RETURN_NONE;\n}\n")
    res = run_check(src)
    assert res.returncode == 0
    assert res.stdout.endswith("lifeline check: 0 errors, 0 warnings in 1 file\n")
