"""pytest configuration for lifeline's end-to-end tests.

The `interp` fixture runs a test once per interpreter: `release` (/usr/bin/python3.11), `debug`
(/usr/bin/python3.11d), `shared` (the shared-libpython launcher from tests/shared-python/build),
`pyenv` when this machine has a pyenv-built shared 3.11, and `py313`, `py313d`, `py313t` (CPython
3.13 release, debug and free-threaded, built from Debian trixie's source package by
tests/python313/build). An interpreter is skipped only when it cannot exist here (its package is not
installed, or LIFELINE_NO_PY313 is set); one that should work but does not fails. Tests that need a
traced target skip on the interpreters lifeline refuses on purpose (py313t), saying why.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lifeline_harness as H  # noqa: E402


@pytest.fixture(params=H.interpreter_ids(), scope="session")
def interp(request):
    return H.require(H.interpreter(request.param))


@pytest.fixture(params=H.interpreter_ids(), scope="session")
def any_interp(request):
    """Every interpreter, the refused ones too: for tests of the interpreters themselves."""
    return H.require(H.interpreter(request.param), traced=False)


@pytest.fixture(scope="session")
def release_interp():
    """Just Debian's /usr/bin/python3.11, for tests whose subject is not the interpreter."""
    return H.require(H.interpreter("release"))


@pytest.fixture(scope="session")
def lifeline():
    exe = H.lifeline_path()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is not built (run `make`, or set LIFELINE_BUILD)", pytrace=False)
    return exe


def pytest_report_header(config):
    """Which interpreters and which lifeline this run tests, at the top of the pytest output."""
    lines = [f"lifeline: {H.lifeline_path()}"]
    for i in H.interpreters():
        if i.skip_reason:
            lines.append(f"interpreter {i.id}: skipped ({i.skip_reason})")
        elif i.id == "shared":
            lines.append("interpreter shared: the tests/shared-python launcher (built on first use)")
        elif i.id == "pyenv":
            lines.append(f"interpreter pyenv: {H.interpreter('pyenv').path}")
        elif i.id in H.PY313_VARIANTS:
            lines.append(f"interpreter {i.id}: tests/python313/build --variant "
                         f"{H.PY313_VARIANTS[i.id]} (built on first use)")
        else:
            lines.append(f"interpreter {i.id}: {i.path}")
    return lines
