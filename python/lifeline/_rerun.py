"""Repetitions for `lifeline leaks` and `lifeline.leaks()`.

Something is run again and again in one interpreter; after each run the interpreter's caches are
cleaned up and the garbage collected the way CPython's regression tests do it with `-R`
(Lib/test/libregrtest/refleak.py, dash_R and dash_R_cleanup), and then `_lifeline.mark()` tells
lifeline's agent that a run ended. The agent journals a MARK; the cli compares the live heap at
consecutive marks.

The marks (agent/repeat.h): mark(0) before the first run and after each warm-up run (each resets the
baseline), mark(k) after measured run k, for k = 1..runs, and a final mark(0) that closes the series.
The number of warm-ups is then the number of leading zero marks minus one, and a series without its
final mark stopped early: nothing else has to be told to the cli.

Nothing here may leave more live objects after a run than before it: whatever this code keeps between
two marks would be counted as growing. So the loop keeps nothing per run: no lists appended to, and the
numbers it records go into preallocated arrays of machine integers (as regrtest preallocates its lists
and pools its ints).
"""
import gc
import os
import sys
import time
import warnings

USAGE_EXIT = 2


def agent():
    """The agent's `_lifeline` module.

    The agent creates it from a pending call that the interpreter runs between two bytecodes soon
    after it starts, so a program that asks for it at once may have to wait a moment. Raises
    RuntimeError when the process is not traced by lifeline."""
    deadline = time.monotonic() + 5.0
    while True:
        module = sys.modules.get("_lifeline")
        if module is not None:
            return module
        if time.monotonic() > deadline:
            raise RuntimeError("this process is not traced by lifeline (there is no _lifeline module): "
                               "run it under `lifeline run` or `lifeline leaks`")
        time.sleep(0.001)


def warm_caches():
    """Fills the interpreter's small caches before the first run, as regrtest does, so that they do not
    fill during the measured runs."""
    s = bytes(range(256))
    for i in range(256):
        s[i:i + 1]
    [chr(i) for i in range(256)]
    list(range(-5, 257))


def _abc_registries():
    """The registered subclasses of every concrete ABC of collections.abc, as weak references."""
    import collections.abc
    from inspect import isabstract
    try:
        from _abc import _get_dump
    except ImportError:      # the pure-Python abc module
        import weakref

        def _get_dump(cls):
            return (set(weakref.ref(obj) for obj in cls._abc_registry),)
    saved = {}
    for abc in [getattr(collections.abc, a) for a in collections.abc.__all__]:
        if not isabstract(abc):
            continue
        for obj in abc.__subclasses__() + [abc]:
            saved[obj] = _get_dump(obj)[0]
    return saved


def clear_caches():
    """The module caches regrtest clears after each run (libregrtest.utils.clear_caches), for the
    modules that are loaded."""
    for mod in list(sys.modules.values()):
        if hasattr(mod, "__warningregistry__"):
            del mod.__warningregistry__
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    m = sys.modules.get
    if m("distutils.dir_util"):
        m("distutils.dir_util")._path_created.clear()
    if m("re"):
        m("re").purge()
    if m("_strptime"):
        m("_strptime")._regex_cache.clear()
    if m("urllib.parse"):
        m("urllib.parse").clear_cache()
    if m("urllib.request"):
        m("urllib.request").urlcleanup()
    if m("linecache"):
        m("linecache").clearcache()
    if m("mimetypes"):
        m("mimetypes")._default_mime_types()
    if m("filecmp"):
        m("filecmp")._cache.clear()
    if m("struct"):
        m("struct")._clearcache()
    if m("doctest"):
        m("doctest").master = None
    if m("ctypes"):
        m("ctypes")._reset_cache()
    if m("typing"):
        for f in m("typing")._cleanups:
            f()


class Cleanup:
    """What regrtest saves before the runs and restores after each (dash_R_cleanup): warning filters,
    copyreg's dispatch table, the path importer cache, zipimport's directory cache, the ABC
    registries; then the caches, the type cache, and three garbage collections."""

    def __init__(self):
        import copyreg
        self.filters = warnings.filters[:]
        self.dispatch = copyreg.dispatch_table.copy()
        self.importers = sys.path_importer_cache.copy()
        try:
            import zipimport
        except ImportError:
            self.zip_cache = None
        else:
            self.zip_cache = zipimport._zip_directory_cache.copy()
        self.abcs = _abc_registries()

    def __call__(self):
        import copyreg
        import collections.abc
        from inspect import isabstract
        warnings.filters[:] = self.filters
        copyreg.dispatch_table.clear()
        copyreg.dispatch_table.update(self.dispatch)
        sys.path_importer_cache.clear()
        sys.path_importer_cache.update(self.importers)
        if self.zip_cache is not None:
            import zipimport
            zipimport._zip_directory_cache.clear()
            zipimport._zip_directory_cache.update(self.zip_cache)
        for abc in filter(isabstract, [getattr(collections.abc, a) for a in collections.abc.__all__]):
            for obj in abc.__subclasses__() + [abc]:
                for ref in self.abcs.get(obj, set()):
                    if ref() is not None:
                        obj.register(ref())
                obj._abc_caches_clear()
        clear_caches()
        sys._clear_type_cache()
        gc.collect()
        gc.collect()
        gc.collect()


def repeat(func, warmups, runs, after_mark=None):
    """Calls func() warmups + runs times, cleaning up and marking after each call (see the module's
    docstring); after_mark(k), when given, is called after each mark with the mark's index."""
    mark = agent().mark
    warm_caches()
    cleanup = Cleanup()
    # Every mark comes out of the same statements, and two rounds run them before the first run:
    # the first (no mark) makes what they leave alive (the loop's iterator and variables, the
    # caches the cleanup fills, a tuple that a call leaves in a free list), the second is the
    # baseline. Whatever this loop keeps alive is then the same at every mark, even with no
    # warm-up at all.
    for i in range(-2, warmups + runs):
        if i >= 0:
            func()
        cleanup()
        k = max(0, i + 1 - warmups)
        if i >= -1:
            mark(k)
        if after_mark:
            after_mark(k)
    mark(0)


# ---- `lifeline leaks`: the command the cli runs ---------------------------------------------------

def _fail(message):
    print(f"lifeline: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USAGE_EXIT)


def _set_path0(directory):
    """What `python script.py` or `python -m module` would have put first on sys.path; the runner was
    started with -c, which put '' there. Nothing when the interpreter runs with -P or -I."""
    if not sys.flags.safe_path and sys.path and sys.path[0] == "":
        sys.path[0] = directory


def _exit_ok(code):
    return code is None or code == 0


class _Target:
    """One run of the script or module, with sys.argv as it expects it, in fresh globals each time."""

    def __init__(self, kind, name, args):
        import runpy
        import pkgutil  # noqa: F401 -- what run_path imports on its first call, imported before the baseline
        self.runpy = runpy
        self.kind = kind
        self.name = name
        self.argv = tuple([name] + list(args))

    def __call__(self):
        # In place: a new list each run would be a list more at every mark than at the baseline.
        sys.argv[:] = self.argv
        try:
            if self.kind == "script":
                self.runpy.run_path(self.name, run_name="__main__")
            else:
                self.runpy.run_module(self.name, run_name="__main__", alter_sys=True)
        except SystemExit as e:
            if not _exit_ok(e.code):
                raise


def _prepare(kind, name):
    """Checks the target and sets sys.path up for it; exits with status 2 when it cannot run."""
    if kind == "script":
        if not os.path.exists(name):
            _fail(f"cannot find the script '{name}'")
        _set_path0(os.path.dirname(os.path.realpath(name)))
        return
    _set_path0(os.getcwd())
    import importlib.util
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as e:
        _fail(f"cannot find the module '{name}': {e}")
    if spec is None:
        _fail(f"no module named '{name}'")


def main(argv):
    """The entry of `lifeline leaks`: argv is WARMUPS RUNS script|module NAME [ARGS...], as the cli
    writes it (cli/leaks.c)."""
    if len(argv) < 4 or argv[2] not in ("script", "module"):
        _fail("the lifeline leaks runner was started with bad arguments: " + " ".join(argv))
    warmups, runs, kind, name, args = int(argv[0]), int(argv[1]), argv[2], argv[3], argv[4:]
    _prepare(kind, name)
    if kind == "script":
        # Absolute, as Python 3.11 makes a script's __file__, and so that a script that changes
        # directory still finds itself on its next run.
        name = os.path.abspath(name)
    sys.argv[:] = [name] + args
    repeat(_Target(kind, name, args), warmups, runs)
