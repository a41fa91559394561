"""Shared helpers for the lifeline check tests."""
import os
import pathlib
import subprocess

import pytest


def _check_binary():
    repo = pathlib.Path(__file__).resolve().parents[2]
    build = pathlib.Path(os.environ.get("LIFELINE_BUILD", repo / "build"))
    if not build.is_absolute():
        build = repo / build
    return build / "lifeline-check"


@pytest.fixture(scope="session")
def check_bin():
    path = _check_binary()
    if not path.exists():
        pytest.fail(f"{path} is missing: run 'make' first (or set LIFELINE_BUILD)")
    return path


@pytest.fixture
def run_check(check_bin):
    def run(*args, cwd=None):
        return subprocess.run([str(check_bin), *map(str, args)], capture_output=True, text=True,
                              cwd=cwd, timeout=300)
    return run
