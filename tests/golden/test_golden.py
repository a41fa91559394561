"""Golden test of the text report's shape, for crash scenarios on the release interpreter.

The text lifeline prints on stderr is compared, after normalisation, with
tests/golden/<name>.txt. Normalised: hex addresses (longer than 3 digits), numbers of 4+ digits
(pids, thread ids, counters, sizes), line numbers in files outside tests/ (the interpreter's,
libc's), timings, lifeline's version, and the paths of the repository, the build directory and
the extension cache. Line numbers in the test's own files (zoo_crash.c, the scenario scripts) are
kept: they are part of what the report must get right.

Regenerate after an intended change of the report format, and review the diff:

    LIFELINE_UPDATE_GOLDEN=1 /usr/bin/python3 -m pytest -q tests/golden
"""
import difflib
import os
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

import lifeline_harness as H  # noqa: E402

UPDATE = os.environ.get("LIFELINE_UPDATE_GOLDEN") == "1"

# name -> scenario script under tests/e2e/scripts
GOLDEN = {
    "crash_null": "crash_null.py",
    "crash_callback": "crash_callback.py",
}


def normalise(text: str) -> str:
    repls = [(H.build_dir(), "<BUILD>"), (H.REPO, "<REPO>")]
    shared = H.interpreter("shared")
    if shared.path:
        repls.append((os.path.dirname(os.path.dirname(shared.path)), "<SHARED-PYTHON>"))
    for old, new in sorted(repls, key=lambda r: -len(r[0])):
        text = text.replace(old, new)

    def line_no(m):
        path = m.group(1)
        keep = path.startswith("<REPO>/tests/") or path.startswith("<BUILD>/tests/") or \
            ("/" not in path and (path.startswith("crash_") or path.startswith("zoo_")))
        return m.group(0) if keep else f"{path}:N"

    # file:line, as "file.c:123" or "file.py:123"
    text = re.sub(r"([\w<>./+-]+\.(?:c|h|cc|cpp|py|pyx|S|s)):(\d+)", line_no, text)
    # "line 123" (Python traceback style) in files outside tests/
    text = re.sub(r'(File "(?!<REPO>/tests/)[^"]+", line )\d+', r"\1N", text)
    text = re.sub(r"\b0x[0-9a-fA-F]{4,}\b", "0xADDR", text)
    text = re.sub(r"\blifeline v?\d+\.\d+(\.\d+)?([-+~][\w.]+)?", "lifeline VERSION", text)
    text = re.sub(r"\b\d+(\.\d+)?\s?(ms|s|us|µs)\b", "TIME", text)
    # pids and thread ids can be short in a fresh container: normalise them by context too
    text = re.sub(r"\b(pid|tid|thread:?|process)(\s+)\d+\b", r"\1\2N", text)
    text = re.sub(r"\b\d{4,}\b", "N", text)
    # byte counts printed with units (e.g. "1.2 MiB") vary with the environment
    text = re.sub(r"\b\d+(\.\d+)?\s?(B|KiB|MiB|GiB|kB|MB|GB)\b", "SIZE", text)
    return "".join(l.rstrip() + "\n" for l in text.splitlines())


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_text_report_shape(name):
    interp = H.require(H.interpreter("release"))
    res = H.run_lifeline(interp, [H.script(GOLDEN[name])], extensions=["zoo_crash"])
    assert res.returncode == H.ERROR_EXIT, res.describe()
    compare(name, normalise(res.stderr))


def compare(name, got):
    """Compares got with tests/golden/<name>.txt (or writes it, with LIFELINE_UPDATE_GOLDEN=1)."""
    golden = os.path.join(HERE, name + ".txt")
    if UPDATE:
        with open(golden, "w", encoding="utf-8") as f:
            f.write(got)
        return
    if not os.path.exists(golden):
        pytest.fail(f"{golden} does not exist: review the output below, then create it with\n"
                    f"  LIFELINE_UPDATE_GOLDEN=1 /usr/bin/python3 -m pytest -q tests/golden\n\n{got}",
                    pytrace=False)
    with open(golden, encoding="utf-8") as f:
        want = f.read()
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                            f"golden/{name}.txt", "this run"))
        pytest.fail(f"text report differs from the golden file (LIFELINE_UPDATE_GOLDEN=1 to accept):\n"
                    f"{diff}", pytrace=False)


# name -> scenario script under tests/e2e/scripts run with `lifeline leaks -R 3:3`
GOLDEN_LEAKS = {
    "leaks_ref": "leaks_ref.py",
}


@pytest.mark.parametrize("name", sorted(GOLDEN_LEAKS))
def test_leaks_report_shape(name):
    """`lifeline leaks`: the leak finding and the repetitions' lines."""
    interp = H.require(H.interpreter("release"))
    res = H.run_lifeline(interp, [H.script(GOLDEN_LEAKS[name])], extensions=["zoo_repeat"],
                         lifeline_args=["-R", "3:3"], subcommand="leaks")
    assert res.returncode == H.ERROR_EXIT, res.describe()
    compare(name, normalise(res.stderr))


def test_history_timeline_shape(tmp_path):
    """`lifeline history JOURNAL ADDR`: the timeline of an over-released item of zoo_refs (built
    with `lifeline cflags`), from the journal its use-after-free run kept."""
    interp = H.require(H.interpreter("release"))
    ext = H.build_extension(interp, "zoo_refs", extra_flags=H.lifeline_cflags(), variant="refs")
    journal = tmp_path / "run.lljournal"
    res = H.run_lifeline(interp, [H.script("refs_release_twice.py")], keep_journal=journal,
                         lifeline_args=["--pool-rate", "0"], env={"PYTHONPATH": ext})
    assert res.returncode == H.ERROR_EXIT, res.describe()
    addr = H.only_finding(res.report, "use-after-free")["block"]["address"]
    rc, out, err = H.run_lifeline_cmd(["history", journal, addr])
    assert rc == 0, err
    compare("history_release_twice", normalise(out.replace(ext, "<EXT>")))


def test_normalise_keeps_what_matters():
    """The normaliser itself: test-file lines stay, interpreter lines, addresses and pids go."""
    sample = (f"lifeline: crash: SIGSEGV at 0x18 in crash_null_write (pid 48213)\n"
              f"  thread: 77 (python3.11, main)\n"
              f"  #0 crash_null_write {H.REPO}/tests/e2e/ext/zoo_crash.c:40 0x7f12ab34cd56\n"
              f"  #5 _PyEval_EvalFrameDefault ../Python/ceval.c:5379\n"
              f"  #6 trigger {H.REPO}/tests/e2e/scripts/crash_null.py:7\n"
              f"lifeline 0.3.0: 123456 allocations in 1.25s\n")
    got = normalise(sample)
    assert got == ("lifeline: crash: SIGSEGV at 0x18 in crash_null_write (pid N)\n"
                   "  thread: N (python3.11, main)\n"
                   "  #0 crash_null_write <REPO>/tests/e2e/ext/zoo_crash.c:40 0xADDR\n"
                   "  #5 _PyEval_EvalFrameDefault ../Python/ceval.c:N\n"
                   "  #6 trigger <REPO>/tests/e2e/scripts/crash_null.py:7\n"
                   "lifeline VERSION: N allocations in TIME\n"), got
