"""Helpers for lifeline's end-to-end tests: interpreters, test extensions, running lifeline, stacks.

Standard library only (plus pytest for skip/fail). Used by tests/e2e/conftest.py, the e2e tests
and the golden tests.

Environment:
  LIFELINE_BUILD         build directory holding `lifeline` (default <repo>/build)
  LIFELINE_CACHE         where tests/shared-python/build caches the shared-libpython launcher and
                         tests/python313/build the 3.13 interpreters
  LIFELINE_NO_PY313      set (to anything): the 3.13 interpreters are skipped, not built
  LIFELINE_TEST_TIMEOUT  seconds before a lifeline run counts as hung (default 240)
"""
import functools
import json
import os
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import List, Optional

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
E2E_DIR = os.path.join(REPO, "tests", "e2e")
EXT_SRC_DIR = os.path.join(E2E_DIR, "ext")
SCRIPTS_DIR = os.path.join(E2E_DIR, "scripts")
SHARED_PYTHON_BUILD = os.path.join(REPO, "tests", "shared-python", "build")
PYTHON313_BUILD = os.path.join(REPO, "tests", "python313", "build")
# Interpreters built by tests/python313/build: id -> its --variant.
PY313_VARIANTS = {"py313": "release", "py313d": "debug", "py313t": "freethreaded"}
# Interpreters lifeline refuses on purpose (docs/versions.md): the tests that need a traced target
# skip on them, saying why; tests/e2e/test_unsupported.py checks the refusal itself. None today.
REFUSED: dict = {}
# Free-threaded interpreters, and what lifeline cannot do on them (docs/versions.md, "Free-threaded
# 3.13"): a test of one of these capabilities skips there with the reason.
FREE_THREADED = {"py313t"}
FT_UNAVAILABLE = {
    "object-guard": "object blocks are not guarded on a free-threaded build (mimalloc's heaps are "
                    "what its collector walks): no redzones, freed-memory fill, quarantine or "
                    "guarded pool for the object domain",
    "gc-dangling-reference": "gc-dangling-reference needs the object domain's freed-memory pattern "
                             "and quarantine, which a free-threaded build does not have (its "
                             "lock-free readers touch objects just freed)",
    "huge-free-faults": "3.13t's PyMem allocator is mimalloc, which keeps a freed huge block mapped "
                        "for reuse (it decommits, it does not unmap): the stale access does not fault",
}


def list_items_array(interp: "Interpreter"):
    """(size, offset of item 0) of the PyMem block of a list's items: a free-threaded list's array
    starts with its capacity (_PyListArray)."""
    return (8, 8) if interp.id in FREE_THREADED else (0, 0)

def object_header_growth(interp: "Interpreter") -> int:
    """Bytes a free-threaded PyObject header has beyond the GIL build's 16 (ob_tid, the flags, the
    local and shared counts: 32 bytes, ob_type at 24): offsets in an object move by it."""
    return 16 if interp.id in FREE_THREADED else 0


ERROR_EXIT = 23       # lifeline run's default --error-exitcode
USAGE_EXIT = 2        # lifeline's own usage / input errors


def build_dir() -> str:
    return os.path.abspath(os.environ.get("LIFELINE_BUILD") or os.path.join(REPO, "build"))


def lifeline_path() -> str:
    return os.path.join(build_dir(), "lifeline")


def default_timeout() -> float:
    return float(os.environ.get("LIFELINE_TEST_TIMEOUT", "240"))


# --------------------------------------------------------------------------------------------------
# Interpreters
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interpreter:
    id: str                 # pytest id: release, debug, shared, pyenv, py313, py313d, py313t
    path: str               # the executable lifeline runs
    config: str             # its python3.X-config, for headers
    debug: bool             # a Py_DEBUG build
    shared: bool            # interpreter lives in libpython3.X.so
    skip_reason: Optional[str] = None
    notes: List[str] = field(default_factory=list, compare=False)

    @functools.cached_property
    def _sysconfig(self):
        out = subprocess.run(
            [self.path, "-I", "-c",
             "import json, sys, sysconfig; print(json.dumps({"
             "'ext_suffix': sysconfig.get_config_var('EXT_SUFFIX'),"
             "'version': '%d.%d.%d' % sys.version_info[:3],"
             "'debug': hasattr(sys, 'gettotalrefcount'),"
             "'executable': sys.executable}))"],
            capture_output=True, text=True, timeout=60, env=clean_env())
        if out.returncode != 0:
            raise RuntimeError(f"{self.path} does not start: {out.stderr.strip()}")
        return json.loads(out.stdout)

    @property
    def ext_suffix(self) -> str:
        return self._sysconfig["ext_suffix"]

    @property
    def version(self) -> str:
        return self._sysconfig["version"]

    @property
    def executable(self) -> str:
        return self._sysconfig["executable"]

    def includes(self) -> List[str]:
        out = subprocess.run([self.config, "--includes"], capture_output=True, text=True,
                             timeout=60, check=True)
        return shlex.split(out.stdout)


def _shared_launcher() -> Interpreter:
    """The shared-libpython launcher, built (or taken from the cache) by tests/shared-python/build.

    Skipped only when it cannot exist here (no libpython3.11.so.1.0 or no headers). When it could
    exist but the build fails, the interpreter is returned with its error in notes and the fixture
    fails the tests: a broken launcher is a bug to see, not a reason to test less."""
    libpython = "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0"
    cfg = "/usr/bin/python3.11-config"
    reason = None
    if not os.path.exists(libpython):
        import glob
        if not glob.glob("/usr/lib/*/libpython3.11.so.1.0"):
            reason = "libpython3.11.so.1.0 is not installed (package libpython3.11)"
    if not os.access(cfg, os.X_OK) or not os.path.exists("/usr/include/python3.11/Python.h"):
        reason = "python3.11-dev is not installed"
    if reason:
        return Interpreter("shared", "", cfg, False, True, skip_reason=reason)
    out = subprocess.run([SHARED_PYTHON_BUILD, "--quiet"], capture_output=True, text=True,
                         timeout=300)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return Interpreter("shared", "", cfg, False, True,
                           notes=[f"tests/shared-python/build failed ({out.returncode}):\n"
                                  f"{out.stdout}{out.stderr}"])
    return Interpreter("shared", lines[-1], cfg, False, True)


def _pyenv_shared() -> Optional[Interpreter]:
    """A pyenv-built shared-libpython 3.11 (another patch release) when this machine has one."""
    root = os.path.expanduser("~/.pyenv/versions")
    if not os.path.isdir(root):
        return None
    for name in sorted(os.listdir(root), reverse=True):
        if not name.startswith("3.11."):
            continue
        exe = os.path.join(root, name, "bin", "python3.11")
        cfg = os.path.join(root, name, "bin", "python3.11-config")
        libdir = os.path.join(root, name, "lib")
        if (os.access(exe, os.X_OK) and os.access(cfg, os.X_OK)
                and os.path.exists(os.path.join(libdir, "libpython3.11.so.1.0"))):
            return Interpreter("pyenv", exe, cfg, False, True)
    return None


def _python313(interp_id: str) -> Interpreter:
    """A CPython 3.13 built from Debian trixie's source package by tests/python313/build (cached
    outside the clone; the first build takes minutes). Skipped only when LIFELINE_NO_PY313 is set;
    a failed build fails the tests, like the shared launcher's."""
    variant = PY313_VARIANTS[interp_id]
    debug = variant == "debug"
    if os.environ.get("LIFELINE_NO_PY313"):
        return Interpreter(interp_id, "", "", debug, False, skip_reason="LIFELINE_NO_PY313 is set")
    out = subprocess.run([PYTHON313_BUILD, "--variant", variant, "--quiet"], capture_output=True,
                         text=True, timeout=3600)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        return Interpreter(interp_id, "", "", debug, False,
                           notes=[f"tests/python313/build --variant {variant} failed "
                                  f"({out.returncode}):\n{out.stdout}{out.stderr[-4000:]}"])
    exe = lines[-1]
    config = exe + "-config"          # python3.13d-config, python3.13t-config
    if not os.access(config, os.X_OK):
        config = os.path.join(os.path.dirname(exe), "python3.13-config")
    return Interpreter(interp_id, exe, config, debug, False)


@functools.lru_cache(maxsize=None)
def interpreters() -> List[Interpreter]:
    """Every interpreter the e2e tests run on, in a fixed order; unavailable ones carry skip_reason."""
    found = []
    if os.access("/usr/bin/python3.11", os.X_OK):
        found.append(Interpreter("release", "/usr/bin/python3.11", "/usr/bin/python3.11-config",
                                 False, False))
    else:
        found.append(Interpreter("release", "", "", False, False,
                                 skip_reason="/usr/bin/python3.11 is not installed"))
    if os.access("/usr/bin/python3.11d", os.X_OK) and os.access("/usr/bin/python3.11d-config", os.X_OK):
        found.append(Interpreter("debug", "/usr/bin/python3.11d", "/usr/bin/python3.11d-config",
                                 True, False))
    else:
        found.append(Interpreter("debug", "", "", True, False,
                                 skip_reason="python3.11-dbg is not installed"))
    found.append(Interpreter("shared", "", "", False, True))   # resolved lazily, see interpreter()
    if _pyenv_shared() is not None:
        found.append(Interpreter("pyenv", "", "", False, True))
    for interp_id in PY313_VARIANTS:     # resolved lazily (built on first use)
        found.append(Interpreter(interp_id, "", "", PY313_VARIANTS[interp_id] == "debug", False))
    return found


def interpreter_ids() -> List[str]:
    return [i.id for i in interpreters()]


@functools.lru_cache(maxsize=None)
def interpreter(interp_id: str) -> Interpreter:
    """The Interpreter for an id, resolving the ones that are expensive to find (the launcher build)
    only when a test first asks for them."""
    if interp_id == "shared":
        return _shared_launcher()
    if interp_id == "pyenv":
        return _pyenv_shared()
    if interp_id in PY313_VARIANTS:
        return _python313(interp_id)
    for i in interpreters():
        if i.id == interp_id:
            return i
    raise KeyError(interp_id)


def require(interp: Interpreter, *, traced=True) -> Interpreter:
    """Skip when the interpreter cannot exist here, fail when it should exist but does not work.
    traced: the test needs lifeline to trace this interpreter; skips (saying why) on the ones
    lifeline refuses on purpose. traced=False for tests of the refusal itself."""
    if interp.skip_reason:
        pytest.skip(f"{interp.id}: {interp.skip_reason}")
    if not interp.path:
        pytest.fail(f"{interp.id} interpreter unavailable: " + "\n".join(interp.notes), pytrace=False)
    if traced and interp.id in REFUSED:
        pytest.skip(f"{interp.id}: {REFUSED[interp.id]}")
    return interp


def hw_watch_capacity(interp: "Interpreter") -> int:
    """Objects the four debug registers watch at once: 2 on a free-threaded build, whose count
    is split over two words (ob_ref_local, ob_ref_shared), each needing a register."""
    return 2 if interp.id in FREE_THREADED else 4


def gc_head_size(interp: Interpreter) -> int:
    """Bytes of PyGC_Head before a GC object in a block: none on a free-threaded build."""
    return 0 if interp.id in FREE_THREADED else 16


def require_capability(interp: Interpreter, capability: str) -> Interpreter:
    """Skips, with the reason, when lifeline cannot do `capability` (a key of FT_UNAVAILABLE) on
    this interpreter: today only on a free-threaded build."""
    if interp.id in FREE_THREADED:
        pytest.skip(f"{interp.id}: {FT_UNAVAILABLE[capability]}")
    return interp


# --------------------------------------------------------------------------------------------------
# Test extensions
# --------------------------------------------------------------------------------------------------

# -O1 -g: like a real extension, still readable. No sibling-call optimisation: the tests assert on
# exact call chains and a tail call would remove a caller's frame.
EXT_CFLAGS = ["-std=gnu11", "-shared", "-fPIC", "-O1", "-g", "-fno-optimize-sibling-calls",
              "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Wno-unused-parameter",
              "-Wno-missing-field-initializers", "-Wno-cast-function-type"]


def ext_dir(interp: Interpreter) -> str:
    return os.path.join(build_dir(), "tests", "ext", interp.id)


def lifeline_cflags():
    """The flags `lifeline cflags` prints, as a list."""
    rc, out, err = run_command([lifeline_path(), "cflags"])
    assert rc == 0, f"lifeline cflags failed ({rc}): {err}"
    return shlex.split(out)


def build_extension(interp: Interpreter, name: str, *, extra_flags=(), variant=None) -> str:
    """Build tests/e2e/ext/<name>.c for `interp` into build/tests/ext/<id>/ (cached: rebuilt when
    the source or this file is newer). Returns the directory, to put on PYTHONPATH.
    extra_flags: more compiler flags (e.g. lifeline_cflags()); variant: a subdirectory of its own for
    a build with other flags, so that differently built copies of one module can coexist."""
    src = os.path.join(EXT_SRC_DIR, name + ".c")
    out_dir = ext_dir(interp) if variant is None else os.path.join(ext_dir(interp), variant)
    out = os.path.join(out_dir, name + interp.ext_suffix)
    inputs = [src, os.path.abspath(__file__)] + [f for f in extra_flags if os.path.isfile(f)]
    newest_input = max(os.path.getmtime(f) for f in inputs)
    if os.path.exists(out) and os.path.getmtime(out) >= newest_input:
        return out_dir
    os.makedirs(out_dir, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    fd, tmp = tempfile.mkstemp(prefix="." + name, suffix=".so", dir=out_dir)
    os.close(fd)
    cmd = [cc] + EXT_CFLAGS + list(extra_flags) + interp.includes() + ["-o", tmp, src]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise AssertionError(f"building {name} for {interp.id} failed:\n$ {shlex.join(cmd)}\n"
                             f"{proc.stdout}{proc.stderr}")
    os.replace(tmp, out)      # atomic: a concurrent test run never imports half a file
    return out_dir


# --------------------------------------------------------------------------------------------------
# Running things
# --------------------------------------------------------------------------------------------------

_SCRUB = ("PYTHONPATH", "PYTHONHOME", "PYTHONMALLOC", "PYTHONSTARTUP", "PYTHONTRACEMALLOC",
          "PYTHONFAULTHANDLER", "PYTHONDEVMODE", "PYTHONASYNCIODEBUG", "PYTHONMALLOCSTATS",
          "PYTHONWARNINGS", "PYTHONUSERBASE", "PYTHONSAFEPATH", "LD_PRELOAD", "LD_LIBRARY_PATH",
          "MALLOC_CHECK_", "MALLOC_PERTURB_")


def clean_env(extra=None, pythonpath=None):
    """The environment for a target: none of the variables that change allocation or paths, a fixed
    hash seed (reproducible allocation sequences), no bytecode files written into the repository."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LC_ALL"] = "C.UTF-8"
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    if extra:
        env.update(extra)
    return env


class LifelineRun(tuple):
    """(returncode, stderr, report) -- unpacks as a 3-tuple; also has .stdout, .argv, .report_path."""

    def __new__(cls, returncode, stderr, report, stdout="", argv=(), report_path=None):
        self = super().__new__(cls, (returncode, stderr, report))
        self.stdout = stdout
        self.argv = list(argv)
        self.report_path = report_path
        return self

    returncode = property(lambda self: self[0])
    stderr = property(lambda self: self[1])
    report = property(lambda self: self[2])

    def describe(self) -> str:
        """Everything worth seeing when an assertion about this run fails."""
        rep = "none" if self.report is None else json.dumps(self.report, indent=1)[:6000]
        return (f"$ {shlex.join(self.argv)}\nexit status: {self.returncode}\n"
                f"--- stderr ---\n{self.stderr[-6000:]}\n--- stdout ---\n{self.stdout[-2000:]}\n"
                f"--- report ---\n{rep}")


def run_command(argv, *, env=None, cwd=None, timeout=None, stdin=subprocess.DEVNULL):
    """Run argv; a hang is a test failure (the process group is killed), not a stuck test run."""
    timeout = timeout or default_timeout()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin,
                            env=env, cwd=cwd or REPO, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        raise AssertionError(f"timed out after {timeout}s: {shlex.join(map(str, argv))}\n"
                             f"--- stderr ---\n{err.decode(errors='replace')[-4000:]}")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def run_lifeline(interp: Optional[Interpreter], args, *, report=True, extensions=(),
                 lifeline_args=(), env=None, cwd=None, timeout=None, keep_journal=None,
                 command=None, subcommand="run") -> LifelineRun:
    """Run `build/lifeline run --report <tmp>.json [lifeline_args] -- <interp> <args...>`.

    subcommand: "leaks" runs `lifeline leaks` instead (lifeline_args then carry -R W:M).
    extensions: names of tests/e2e/ext/*.c to build for interp and put on PYTHONPATH.
    command: run this argv instead of `<interp> <args>` (e.g. /bin/true).
    Returns LifelineRun(returncode, stderr, report dict or None when no report was written)."""
    exe = lifeline_path()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is not built (run `make`, or set LIFELINE_BUILD)", pytrace=False)
    pythonpath = [build_extension(interp, name) for name in extensions]
    with tempfile.TemporaryDirectory(prefix="lifeline-test-") as tmp:
        report_path = os.path.join(tmp, "report.json")
        argv = [exe, subcommand]
        if report:
            argv += ["--report", report_path]
        if keep_journal:
            argv += ["--keep-journal", str(keep_journal)]
        argv += list(lifeline_args) + ["--"]
        argv += list(command) if command is not None else [interp.path] + [str(a) for a in args]
        rc, out, err = run_command(argv, env=clean_env(env, pythonpath), cwd=cwd, timeout=timeout)
        parsed = None
        if report and os.path.exists(report_path):
            with open(report_path, encoding="utf-8") as f:
                text = f.read()
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as e:
                raise AssertionError(f"lifeline wrote a report that is not JSON ({e}):\n{text[:3000]}"
                                     f"\n--- stderr ---\n{err[-3000:]}")
        return LifelineRun(rc, err, parsed, out, argv, report_path)


def run_lifeline_cmd(args, *, timeout=None, env=None, cwd=None):
    """Run `build/lifeline <args>` as given (report subcommand, usage errors). Returns (rc, out, err)."""
    exe = lifeline_path()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is not built (run `make`, or set LIFELINE_BUILD)", pytrace=False)
    return run_command([exe] + [str(a) for a in args], env=clean_env(env), cwd=cwd, timeout=timeout)


def run_plain(interp: Interpreter, args, *, extensions=(), env=None, timeout=120):
    """Run the interpreter without lifeline (to check that a scenario does what it claims)."""
    pythonpath = [build_extension(interp, name) for name in extensions]
    return run_command([interp.path] + [str(a) for a in args], env=clean_env(env, pythonpath),
                       timeout=timeout)


def script(name: str) -> str:
    return os.path.join(SCRIPTS_DIR, name)


# --------------------------------------------------------------------------------------------------
# Reports and stacks
# --------------------------------------------------------------------------------------------------

def findings(report, kind=None):
    assert report is not None, "lifeline wrote no report"
    return [f for f in report["findings"] if kind is None or f["kind"] == kind]


def only_finding(report, kind):
    """The single finding of `kind`; fails listing what the report does contain otherwise."""
    found = findings(report, kind)
    assert len(found) == 1, (f"expected exactly one {kind!r} finding, got {len(found)}; all findings: "
                             f"{[(f['kind'], f.get('summary')) for f in report['findings']]}")
    return found[0]


def frame_label(frame) -> str:
    return f"{frame.get('kind')}:{frame.get('function')}"


def format_stack(frames) -> str:
    lines = []
    for i, fr in enumerate(frames or []):
        where = f"{fr.get('file')}:{fr.get('line')}"
        extra = f" [{fr.get('module')}]" if fr.get("kind") == "native" else ""
        lines.append(f"  #{i:<2} {fr.get('kind'):6} {fr.get('function')}  {where}{extra}")
    return "\n".join(lines) or "  (empty stack)"


def _matches(frame, want: str) -> bool:
    """want: "[native:|python:]NAME[|OTHER...]" -- alternatives for symbols known under several
    names, e.g. glibc's "abort|__GI_abort" (dynamic symbol vs. debug-info name)."""
    kind = None
    if ":" in want and want.split(":", 1)[0] in ("native", "python"):
        kind, want = want.split(":", 1)
    if kind is not None and frame.get("kind") != kind:
        return False
    return frame.get("function") in want.split("|")


def assert_stack_order(frames, expected, *, contiguous_python=False):
    """Assert that `frames` (innermost first) contains the `expected` frames in this order.

    Each expected entry is "native:NAME", "python:NAME" or just "NAME" (either kind); NAME may list
    alternatives separated by "|" (a libc symbol and its internal alias). Frames in
    between are allowed (interpreter internals, libc), except that with contiguous_python=True no
    other Python frame may sit between two expected ones: then the Python call chain must be exact.
    Returns the indices of the matched frames."""
    assert isinstance(frames, list) and frames, f"empty or missing stack: {frames!r}"
    for fr in frames:
        assert fr.get("kind") in ("native", "python"), f"bad frame kind: {fr!r}"
    positions = []
    start = 0
    for want in expected:
        for i in range(start, len(frames)):
            if _matches(frames[i], want):
                positions.append(i)
                start = i + 1
                break
        else:
            got = [frame_label(f) for f in frames]
            raise AssertionError(
                f"stack does not contain {expected!r} in order (innermost first); "
                f"matched {expected[:len(positions)]!r}, then no {want!r} after frame #{start - 1}.\n"
                f"labels: {got}\nstack:\n{format_stack(frames)}")
    if contiguous_python:
        for a, b in zip(positions, positions[1:]):
            between = [frames[i] for i in range(a + 1, b) if frames[i].get("kind") == "python"]
            assert not between, (f"unexpected Python frames between {frame_label(frames[a])} and "
                                 f"{frame_label(frames[b])}: {[frame_label(f) for f in between]}\n"
                                 f"{format_stack(frames)}")
    return positions


def assert_one_line(stderr: str, prefix: str):
    """lifeline's own errors: exactly one non-empty line on stderr, starting with prefix."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr[-3000:]}"
    assert lines[0].startswith(prefix), f"expected a line starting with {prefix!r}, got {lines[0]!r}"
    return lines[0]


def assert_not_crashed(rc: int, what: str):
    """lifeline itself must exit normally: not killed by a signal (negative) nor 128+signal."""
    assert rc >= 0, f"{what}: lifeline was killed by {signal.Signals(-rc).name}"
    assert rc < 128, f"{what}: exit status {rc} looks like death by a signal"
