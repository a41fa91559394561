"""Every `/* expect: KIND */` marker in the corpus must be reported with that
kind on that line, and nothing else may be reported (clean.c expects nothing)."""
import json
import pathlib
import re

import pytest

CORPUS = pathlib.Path(__file__).resolve().parent / "corpus"

EXPECT = re.compile(r"/\* expect: ([a-z-]+) \*/")
KINDS = {
    "leak", "decref-borrowed", "decref-after-steal", "double-free", "borrowed-after-mutation",
    "store-borrowed", "null-without-exception", "missing-null-check", "allocator-mismatch",
    "gc-untraversed-reference", "gc-clear-dangling", "dealloc-without-untrack",
    "gc-tracked-uninitialized", "uninitialized-field",
}
FILES = sorted(p.name for p in CORPUS.glob("*.c"))


def expectations(path):
    out = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        for kind in EXPECT.findall(line):
            out.add((lineno, kind))
    return out


@pytest.mark.parametrize("python", ["python3.11", "python3.11d"])
@pytest.mark.parametrize("name", FILES)
def test_corpus_file(run_check, name, python):
    """Release and debug headers expand Py_INCREF/Py_DECREF differently; both must agree."""
    path = CORPUS / name
    res = run_check("--python", python, "--format", "json", path)
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    got = {(f["location"]["line"], f["kind"]) for f in doc["findings"]}
    want = expectations(path)
    assert got == want, f"missing {sorted(want - got)}, unexpected {sorted(got - want)}"
    assert res.returncode == (1 if any(f["severity"] == "error" for f in doc["findings"]) else 0)


def test_every_kind_has_buggy_cases():
    seen = {}
    for p in CORPUS.glob("*.c"):
        for _line, kind in expectations(p):
            seen[kind] = seen.get(kind, 0) + 1
    assert set(seen) == KINDS
    thin = {k: n for k, n in seen.items() if n < 2}
    assert not thin, thin


def test_clean_file_is_clean(run_check):
    res = run_check(CORPUS / "clean.c")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip().splitlines()[-1] == "lifeline check: 0 errors, 0 warnings in 1 file"
