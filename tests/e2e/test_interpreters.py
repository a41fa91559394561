"""The test interpreters themselves: if one of these fails, every lifeline test on it is suspect.

No lifeline here: these check the ground the other e2e tests stand on (the shared-libpython
launcher really is one, the debug interpreter really is a debug build, the test extension
builds and imports on each).
"""
import json
import os
import subprocess

import lifeline_harness as H

PROBE = ("import sys, json, ctypes, _decimal, sysconfig; print(json.dumps({"
         "'prefix': sys.prefix, 'path': sys.path, 'debug': hasattr(sys, 'gettotalrefcount'),"
         "'version': sys.version_info[:2]}))")


def probe(interp):
    rc, out, err = H.run_command([interp.path, "-c", PROBE], env=H.clean_env(), timeout=60)
    assert rc == 0, err
    return json.loads(out)


def expected_version(interp):
    return [3, 13] if interp.id in H.PY313_VARIANTS else [3, 11]


def test_interpreter_basics(any_interp):
    interp = any_interp
    info = probe(interp)
    assert info["version"] == expected_version(interp)
    assert info["debug"] is interp.debug
    # Whether the interpreter lives in libpython3.X.so: ask the dynamic linker, not sysconfig
    # (Debian's static /usr/bin/python3.11 reports Py_ENABLE_SHARED=1 too).
    deps = subprocess.run(["ldd", interp.path], capture_output=True, text=True).stdout
    assert ("libpython%d.%d" % tuple(info["version"]) in deps) is interp.shared, deps
    assert any(p.endswith("lib-dynload") for p in info["path"]), info["path"]


def test_shared_launcher_links_libpython():
    interp = H.require(H.interpreter("shared"))
    deps = subprocess.run(["ldd", interp.path], capture_output=True, text=True, check=True).stdout
    assert "libpython3.11.so.1.0 => " in deps, deps
    # Outside the repository, in the cache.
    assert not os.path.realpath(interp.path).startswith(H.REPO + os.sep), interp.path
    info = probe(interp)
    assert info["prefix"] == "/usr", info
    assert "/usr/lib/python3/dist-packages" in info["path"], info["path"]
    # Debian's dist-packages, including an extension module, load in the launcher.
    rc, out, err = H.run_command([interp.path, "-c", "import numpy; print(numpy.arange(4).sum())"],
                                 env=H.clean_env(), timeout=60)
    assert (rc, out) == (0, "6\n"), err


def test_python313_outside_the_clone_and_its_variant():
    """tests/python313/build's interpreters: in the cache, each the build its id says."""
    code = "import sys, sysconfig; print(bool(sysconfig.get_config_var('Py_GIL_DISABLED')))"
    for interp_id, variant in H.PY313_VARIANTS.items():
        interp = H.interpreter(interp_id)
        if interp.skip_reason:
            continue
        H.require(interp, traced=False)
        assert not os.path.realpath(interp.path).startswith(H.REPO + os.sep), interp.path
        rc, out, err = H.run_command([interp.path, "-c", code], env=H.clean_env(), timeout=60)
        assert (rc, out) == (0, f"{variant == 'freethreaded'}\n"), (interp_id, err)


def test_zoo_extension_imports(any_interp):
    interp = any_interp
    rc, out, err = H.run_plain(interp, ["-c", "import zoo_crash; print(zoo_crash.touch_pymem(1000))"],
                               extensions=["zoo_crash"])
    assert rc == 0, err
    assert int(out) > 0
