"""lifeline's Python side, importable in every process `lifeline run` or `lifeline leaks` traces.

The agent creates the C module `_lifeline` in the traced interpreter and puts this package's
directory at the end of sys.path.

    import lifeline
    result = lifeline.leaks(func, warmups=3, runs=3)

runs func() again and again in this interpreter, cleaning up after each call as CPython's
`regrtest -R` does, and marks the end of each call for lifeline. The allocation sites and types
whose live count grows on every measured call come as `leak` findings in lifeline's report when the
process ends; the result returned here has the interpreter's own counters (see LeakResult).
"""
import sys
from array import array
from collections import namedtuple

from . import _rerun

LeakResult = namedtuple("LeakResult", "warmups runs refcount_deltas block_deltas leaked")
LeakResult.__doc__ = """What lifeline.leaks() measured, as regrtest -R shows it.

refcount_deltas: the change of sys.gettotalrefcount() over each measured call (a list of `runs`
    ints), None on a release build, which does not count references;
block_deltas: the change of the live memory blocks of the PyMem and PyObject allocators over each
    measured call, as lifeline counts them: what sys.getallocatedblocks() shows in regrtest
    (which cannot be used under lifeline: it also counts the freed blocks lifeline's quarantine
    holds back);
leaked: True when refcount_deltas (on a debug build) or block_deltas were all >= 1, regrtest's rule.
The allocation sites and types that grew are in lifeline's report, not here."""


class _Totals:
    """The interpreter's counters read after each mark, kept as machine integers: a list of int objects
    filled during the calls would itself grow by one object per call."""

    def __init__(self, runs):
        self.live_blocks = _rerun.agent().live_blocks
        self.refs = array("q", bytes(8 * runs))
        self.blocks = array("q", bytes(8 * runs))
        self.gettotalrefcount = getattr(sys, "gettotalrefcount", None)
        self.refs_before = 0
        self.blocks_before = 0

    def __call__(self, k):
        refs = self.gettotalrefcount() if self.gettotalrefcount else 0
        blocks = self.live_blocks()
        if k:
            self.refs[k - 1] = refs - self.refs_before
            self.blocks[k - 1] = blocks - self.blocks_before
        self.refs_before = refs
        self.blocks_before = blocks


def _all_grew(deltas):
    return bool(deltas) and all(d >= 1 for d in deltas)


def leaks(func, warmups=3, runs=3):
    """Calls func() `warmups` times, then `runs` measured times, in this interpreter, cleaning up
    after each call like regrtest -R (caches cleared, three garbage collections) and marking its end
    for lifeline. Returns a LeakResult with the reference and block deltas of the measured calls.

    lifeline's report (at the end of the `lifeline run` or `lifeline leaks` that traces this
    process) has a `leak` finding for each allocation site and type whose live count grew on every
    measured call, with its allocation stack and `per_run` counts. Raises RuntimeError when the
    process is not traced by lifeline, ValueError for a bad count."""
    if not callable(func):
        raise TypeError("lifeline.leaks() needs a callable")
    if not isinstance(warmups, int) or not isinstance(runs, int) or warmups < 0 or runs < 1:
        raise ValueError("lifeline.leaks() needs warmups >= 0 and runs >= 1")
    totals = _Totals(runs)
    _rerun.repeat(func, warmups, runs, totals)
    refs = list(totals.refs) if totals.gettotalrefcount else None
    blocks = list(totals.blocks)
    leaked = _all_grew(refs) or _all_grew(blocks)
    return LeakResult(warmups, runs, refs, blocks, leaked)


def scan_leaks():
    """Runs the leak scan now; returns the number of leaked blocks found. They are reported at exit."""
    return _rerun.agent().scan_leaks()


def check_heap():
    """Runs the GC and reference-count checks over the whole heap now; returns the number of
    problems found. They are reported at exit."""
    return _rerun.agent().check_heap()
