"""The guarded pool: blocks on pages of their own, caught at the faulting access."""
import json
import textwrap

import pytest

import lifeline_harness as H

SCRIPT = textwrap.dedent("""
    import ctypes, sys
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def uaf_read():
        p = libc.malloc(48)
        libc.free(p)
        return ctypes.string_at(p, 4)

    def overflow_write():
        p = libc.malloc(64)
        ctypes.memset(p + 60, 0x41, 8)
        libc.free(p)

    def overflow_many():
        # One byte past 64 stays inside glibc's chunk: only a guard finds it.
        for _ in range(3000):
            p = libc.malloc(64)
            ctypes.memset(p + 64, 0x41, 1)
            libc.free(p)

    globals()[sys.argv[1]]()
    print("survived")
""")

# Every block is pooled while slots last; startup fills ~10k of them.
POOL = ["--pool-rate", "1", "--pool-slots", "20000"]


def run(interp, tmp_path, case, extra=POOL):
    script = tmp_path / "pool.py"
    script.write_text(SCRIPT)
    return H.run_lifeline(interp, [str(script), case], lifeline_args=extra)


def test_use_after_free_caught_at_the_read(release_interp, tmp_path):
    res = run(release_interp, tmp_path, "uaf_read")
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    assert "survived" not in stderr
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, res.describe()
    f = errors[0]
    assert f["kind"] == "use-after-free", res.describe()
    assert f["details"]["caught"] == "at-access" and f["details"]["access"] == "read", f["details"]
    assert f["block"]["size"] == 48 and f["block"]["domain"] == "libc", f["block"]
    H.assert_stack_order(f["stacks"]["access"], ["python:string_at", "python:uaf_read", "python:<module>"])
    H.assert_stack_order(f["stacks"]["free"], ["python:uaf_read", "python:<module>"])
    H.assert_stack_order(f["stacks"]["alloc"], ["python:uaf_read", "python:<module>"])


def test_overflow_caught_at_the_write_or_at_the_free(release_interp, tmp_path):
    res = run(release_interp, tmp_path, "overflow_write")
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, res.describe()
    f = errors[0]
    assert f["kind"] == "heap-buffer-overflow", res.describe()
    assert f["block"]["size"] == 64, f["block"]
    assert f["details"]["offset"] == 0, f["details"]  # the first byte past the end
    # A block placed against its page's end faults at the write; one placed at the start has
    # slack after it, checked at the free.
    if f["details"]["caught"] == "at-access":
        assert f["details"]["access"] == "write"
        H.assert_stack_order(f["stacks"]["access"], ["python:overflow_write", "python:<module>"])
    else:
        H.assert_stack_order(f["stacks"]["detected"], ["python:overflow_write", "python:<module>"])


def test_no_check_turns_the_pool_off_unless_asked(release_interp, tmp_path):
    """--no-check records only: the pool (1 in 256 blocks by default) is off with it, so 3000
    overflows go unseen (the default rate would have pooled about a dozen of them); an explicit
    --pool-rate brings it back."""
    res = run(release_interp, tmp_path, "overflow_many", extra=["--no-check"])
    rc, stderr, report = res
    assert rc == 0, res.describe()
    assert not [f for f in report["findings"] if f["severity"] == "error"], res.describe()
    res = run(release_interp, tmp_path, "overflow_many", extra=["--no-check"] + POOL)
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    assert [f["kind"] for f in report["findings"] if f["severity"] == "error"] == ["heap-buffer-overflow"]


def test_sampling_mode_is_quiet_on_clean_code(release_interp, tmp_path):
    script = tmp_path / "clean.py"
    script.write_text("import json\nfor i in range(2000):\n    json.loads(json.dumps({'i': [i] * 5}))\n")
    res = H.run_lifeline(release_interp, [str(script)], lifeline_args=["--sample", "10"])
    rc, stderr, report = res
    assert rc == 0, res.describe()
    assert [f for f in report["findings"] if f["severity"] == "error"] == [], res.describe()
    # Only the sample is recorded.
    full = H.run_lifeline(release_interp, [str(script)])
    assert 0 < report["stats"]["allocations"] < full.report["stats"]["allocations"] / 3


def test_use_after_free_caught_at_the_read_behind_faulthandler(release_interp, tmp_path):
    """faulthandler takes the fault first and raises SIGSEGV again; the agent finds the original
    fault address in the context saved for faulthandler and still reports it at the access."""
    res = run(release_interp, tmp_path, "uaf_read", extra=POOL)
    plain_findings = [f["kind"] for f in res.report["findings"] if f["severity"] == "error"]
    script = tmp_path / "pool.py"
    res = H.run_lifeline(release_interp, ["-X", "faulthandler", str(script), "uaf_read"], lifeline_args=POOL)
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["kind"] for f in errors] == plain_findings == ["use-after-free"], res.describe()
    f = errors[0]
    assert f["details"]["caught"] == "at-access" and f["details"]["access"] == "read", f["details"]
    H.assert_stack_order(f["stacks"]["access"], ["python:string_at", "python:uaf_read", "python:<module>"])


# Sampling mode has wrappers of its own for the Python domains (agent/hooks_py.c, sp_*): the
# sampled call and every free of a pooled block take the full path, the rest pass straight on.
SAMPLED = textwrap.dedent("""
    import ctypes, sys
    api = ctypes.pythonapi
    for name in ("PyMem_Malloc", "PyObject_Malloc", "PyMem_RawMalloc"):
        getattr(api, name).restype = ctypes.c_void_p
        getattr(api, name).argtypes = [ctypes.c_size_t]
    for name in ("PyMem_Free", "PyObject_Free", "PyMem_RawFree"):
        getattr(api, name).argtypes = [ctypes.c_void_p]

    def mem_uaf_read():
        p = api.PyMem_Malloc(40)
        api.PyMem_Free(p)
        return ctypes.string_at(p, 4)

    def mem_freed_by_object_free():
        p = api.PyMem_Malloc(40)
        api.PyObject_Free(p)

    def big_object_blocks():
        # Above 512 bytes pymalloc takes its blocks from PyMem_RawMalloc: the nested raw call
        # must never be the sampled one, or the block would be recorded under the raw domain
        # and its PyObject_Free taken for a mismatch.
        for i in range(20000):
            p = api.PyObject_Malloc(600 + i % 3000)
            api.PyObject_Free(p)
        for i in range(2000):
            bytes(700 + i)

    def overflow_many():
        # One byte past 64 stays inside glibc's chunk: only a guard finds it.
        for _ in range(3000):
            p = libc.malloc(64)
            ctypes.memset(p + 64, 0x41, 1)
            libc.free(p)

    globals()[sys.argv[1]]()
    print("survived")
""")


def run_sampled(interp, tmp_path, case, rate, slots=20000):
    """Sampling mode's own pool is 512 slots, which the interpreter's start fills at rate 1."""
    script = tmp_path / "sampled.py"
    script.write_text(SAMPLED)
    return H.run_lifeline(interp, [str(script), case],
                          lifeline_args=["--sample", str(rate), "--pool-slots", str(slots)])


def test_sampling_catches_use_after_free_of_a_pymem_block_at_the_read(release_interp, tmp_path):
    res = run_sampled(release_interp, tmp_path, "mem_uaf_read", 1)
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["kind"] for f in errors] == ["use-after-free"], res.describe()
    f = errors[0]
    assert f["details"]["caught"] == "at-access" and f["details"]["access"] == "read", f["details"]
    assert f["block"]["size"] == 40 and f["block"]["domain"] == "mem", f["block"]
    H.assert_stack_order(f["stacks"]["free"], ["python:mem_uaf_read", "python:<module>"])


def test_sampling_sees_the_interface_of_a_pooled_blocks_free(release_interp, tmp_path):
    res = run_sampled(release_interp, tmp_path, "mem_freed_by_object_free", 1)
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["kind"] for f in errors] == ["allocator-mismatch"], res.describe()
    assert errors[0]["details"]["alloc_api"] == "PyMem_Malloc", errors[0]["details"]
    assert errors[0]["details"]["free_api"] == "PyObject_Free", errors[0]["details"]


# A pool over 4 MiB gives freed pages back; a smaller one keeps them resident (agent/guardpool.c),
# so that its slots are reused with the last block's bytes still in their page.
@pytest.mark.parametrize("rate,slots,least", [(2, 20000, 10000), (20, 1024, 1000)])
def test_sampling_never_samples_the_allocation_under_an_allocator(release_interp, tmp_path, rate, slots, least):
    res = run_sampled(release_interp, tmp_path, "big_object_blocks", rate, slots=slots)
    rc, stderr, report = res
    assert rc == 0, res.describe()
    assert [f for f in report["findings"] if f["severity"] == "error"] == [], res.describe()
    # The loop's own blocks were sampled too (not only the interpreter's start).
    assert report["stats"]["allocations"] > least, report["stats"]


def test_sampling_forgets_nothing_of_aligned_blocks(release_interp, tmp_path):
    """Sampling records pooled blocks only; an aligned block (posix_memalign), which the pool never
    holds, must leave no record behind once freed: none is reported leaked at exit."""
    script = tmp_path / "aligned.py"
    script.write_text(textwrap.dedent("""
        import ctypes
        libc = ctypes.CDLL(None)
        libc.posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        for i in range(2000):
            p = ctypes.c_void_p()
            assert libc.posix_memalign(ctypes.byref(p), 64, 100 + i) == 0
            libc.free(p)
    """))
    # A recorded aligned block's free would pass the agent by (sampling frees only what the pool
    # holds) and leave its record behind, reported leaked at exit: the check below.
    res = H.run_lifeline(release_interp, [str(script)], lifeline_args=["--sample", "3"])
    rc, stderr, report = res
    assert rc == 0, res.describe()
    aligned = [f for f in report["findings"] if "posix_memalign" in json.dumps(f)]
    assert aligned == [], res.describe()
