"""lifeline's Python side, importable in every process `lifeline run` traces.

The agent creates the C module `_lifeline` in the traced interpreter and puts this package's
directory at the end of sys.path.
"""
import _lifeline


def scan_leaks():
    """Runs the leak scan now; returns the number of leaked blocks found. They are reported at exit."""
    return _lifeline.scan_leaks()


def check_heap():
    """Runs the GC and reference-count checks over the whole heap now; returns the number of
    problems found. They are reported at exit."""
    return _lifeline.check_heap()
