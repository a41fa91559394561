"""An interpreter whose version lifeline does not know is refused with one clear line."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from lifeline_harness import lifeline_path  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def build_fake(tmp_path, version_hex):
    exe = tmp_path / "python-fake"
    subprocess.run(
        ["cc", "-O1", "-rdynamic", f"-DFAKE_PY_VERSION={version_hex}", "-o", str(exe),
         os.path.join(HERE, "fake", "fakepy.c")],
        check=True,
    )
    return str(exe)


@pytest.mark.parametrize("version_hex,name", [("0x030a0cf0ul", "3.10"), ("0x030e00f0ul", "3.14")])
def test_unsupported_version_is_refused(tmp_path, version_hex, name):
    exe = build_fake(tmp_path, version_hex)
    proc = subprocess.run([lifeline_path(), "run", "--", exe],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "fake python ran" in proc.stdout  # the command still ran, untraced
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lifeline: error:")]
    assert len(errors) == 1, proc.stderr
    assert f"Python {name}" in errors[0] and "not supported" in errors[0]
    assert "3.11" in errors[0]
