"""Command line behaviour: usage and input errors exit 2 with one clear line."""
import json
import pathlib

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden"


def one_line_error(res, needle):
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("lifeline check: ") and needle in lines[0], lines[0]


def test_help(run_check):
    res = run_check("--help")
    assert res.returncode == 0
    assert res.stdout.startswith("usage: lifeline check")
    assert "--format" in res.stdout and "-p BUILD_DIR" in res.stdout


def test_missing_file(run_check, tmp_path):
    one_line_error(run_check(tmp_path / "nope.c"), "cannot read")


def test_unparsable_file(run_check, tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("int f( {\n")
    one_line_error(run_check(bad), "cannot parse")


def test_bad_flag(run_check):
    one_line_error(run_check("--bogus", "x.c"), "unknown option '--bogus'")


def test_bad_format(run_check):
    one_line_error(run_check("--format", "xml", "x.c"), "unknown format 'xml'")


def test_no_input(run_check):
    one_line_error(run_check(), "no input files")


def test_missing_value(run_check):
    one_line_error(run_check("--report"), "needs a value")


def test_missing_compile_commands(run_check, tmp_path):
    one_line_error(run_check("-p", tmp_path), "no compile_commands.json")


def test_bad_python(run_check):
    one_line_error(run_check("--python", "/nonexistent/python9", GOLDEN / "cases.c"), "cannot run Python")


def test_compile_commands(run_check, tmp_path):
    src = tmp_path / "cases.c"
    src.write_text((GOLDEN / "cases.c").read_text())
    db = [{"directory": str(tmp_path), "file": "cases.c",
           "arguments": ["cc", "-c", "-o", "cases.o", "-DFOO=1", "cases.c"]}]
    (tmp_path / "compile_commands.json").write_text(json.dumps(db))
    res = run_check("-p", tmp_path, "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert [f["kind"] for f in doc["findings"]] == ["leak", "decref-borrowed"]
    assert doc["stats"]["files"] == 1
    assert not (tmp_path / "cases.o").exists()


def test_flags_after_double_dash(run_check, tmp_path):
    src = tmp_path / "m.c"
    src.write_text("#include <Python.h>\n#ifndef NEED\n#error NEED not set\n#endif\n")
    assert run_check(src).returncode == 2
    assert run_check(src, "--", "-DNEED").returncode == 0


def test_debug_python_headers(run_check):
    res = run_check("--python", "python3.11d", "--format", "json", "cases.c", cwd=GOLDEN)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["target"]["python"]["debug_build"] is True
    assert [f["kind"] for f in doc["findings"]] == ["leak", "decref-borrowed"]


def test_parallel_jobs_same_result(run_check):
    corpus = sorted(str(p) for p in (GOLDEN.parent / "corpus").glob("*.c"))
    one = run_check("-j", "1", "--format", "json", *corpus)
    two = run_check("-j", "2", "--format", "json", *corpus)
    strip = lambda doc: [(f["location"], f["kind"]) for f in json.loads(doc)["findings"]]
    assert strip(one.stdout) == strip(two.stdout)
