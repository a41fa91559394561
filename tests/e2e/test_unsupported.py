"""An interpreter whose version or build lifeline does not know is refused with one clear line."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import lifeline_harness as H  # noqa: E402
from lifeline_harness import lifeline_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def build_fake(tmp_path, version_hex, *defines):
    exe = tmp_path / "python-fake"
    subprocess.run(
        ["cc", "-O1", "-rdynamic", f"-DFAKE_PY_VERSION={version_hex}", *defines, "-o", str(exe),
         os.path.join(HERE, "fake", "fakepy.c")],
        check=True,
    )
    return str(exe)


def refusal(argv):
    """Runs `lifeline run -- argv`; returns (its one error line, the target's stdout)."""
    proc = subprocess.run([lifeline_path(), "run", "--"] + argv,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lifeline: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0], proc.stdout


@pytest.mark.parametrize("version_hex,name", [("0x030a0cf0ul", "3.10"), ("0x030c07f0ul", "3.12"),
                                              ("0x030e00f0ul", "3.14")])
def test_unsupported_version_is_refused(tmp_path, version_hex, name):
    error, out = refusal([build_fake(tmp_path, version_hex)])
    assert "fake python ran" in out  # the command still ran, untraced
    assert f"Python {name} " in error and "not supported" in error
    assert "3.11, 3.13" in error


def test_free_threaded_without_a_table_is_refused(tmp_path):
    """A free-threaded build is told apart whatever its version: 3.14t has no table."""
    error, out = refusal([build_fake(tmp_path, "0x030e00f0ul", "-DFAKE_FREE_THREADED")])
    assert "fake python ran" in out
    assert "Python 3.14t (free-threaded) is not supported" in error, error
    assert "3.13t (free-threaded)" in error  # the supported list names it


def test_real_free_threaded_build_is_traced_with_its_note():
    """The free-threaded 3.13 that tests/python313/build made is traced; the report says once
    what lifeline cannot do there."""
    interp = H.require(H.interpreter("py313t"), traced=False)
    proc = subprocess.run([lifeline_path(), "run", "--", interp.path, "-c", "print('ran traced')"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran traced\n"
    notes = [line for line in proc.stderr.splitlines() if "free-threaded Python" in line]
    assert len(notes) == 1 and notes[0].startswith("lifeline: note:"), proc.stderr
    assert "gc-dangling-reference is off" in notes[0] and "not guarded" in notes[0], notes[0]
    assert "new object blocks get the new-memory fill" in notes[0], notes[0]
    assert "lifeline: error" not in proc.stderr
