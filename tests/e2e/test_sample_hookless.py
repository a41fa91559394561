"""Sampling mode at the rates big programs use (--sample N, N >= 100).

On an interpreter whose object and mem domains run plain pymalloc (release 3.11 and 3.13), nothing
is hooked there between samples: a thread of the agent's (named lifeline-sample) arms the domains
for one sample at a time, and the frees and reallocs of sampled blocks come back to the agent
through PyMem_RawFree/PyMem_RawRealloc, where pymalloc hands blocks it does not own
(agent/sampler.c, agent/hooks_py.c). On debug builds the per-call wrappers stay. Either way a
sampled block's errors are caught at the access.

The scripts allocate until a block comes from the guarded pool: a pooled block holds the
new-memory pattern (0xbe), a pymalloc block what its last user left (and never the pattern in its
first word, pymalloc's free-list link), so only the sampled block is then misused.
"""
import os
import textwrap

import pytest

import lifeline_harness as H

RATE = "200"

SCRIPT = textwrap.dedent("""
    import ctypes, os, sys, threading, time
    api = ctypes.pythonapi
    for name in ("PyMem_Malloc", "PyObject_Malloc", "PyObject_Calloc"):
        getattr(api, name).restype = ctypes.c_void_p
    api.PyMem_Malloc.argtypes = api.PyObject_Malloc.argtypes = [ctypes.c_size_t]
    api.PyObject_Calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
    api.PyObject_Realloc.restype = ctypes.c_void_p
    api.PyObject_Realloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    for name in ("PyMem_Free", "PyObject_Free"):
        getattr(api, name).argtypes = [ctypes.c_void_p]
    SIZE = 48
    PATTERN = b"\\xbe" * SIZE

    def hookless():
        tasks = os.listdir("/proc/self/task")
        return any(open(f"/proc/self/task/{t}/comm").read().strip() == "lifeline-sample" for t in tasks)

    def pooled(alloc, free):
        deadline = time.time() + 60
        while time.time() < deadline:
            p = alloc(SIZE)
            if ctypes.string_at(p, SIZE) == PATTERN:
                return p
            free(p)
        sys.exit("no sampled block in 60 s")

    def obj_uaf_read():
        p = pooled(api.PyObject_Malloc, api.PyObject_Free)
        api.PyObject_Free(p)
        return ctypes.string_at(p, 4)

    def mem_overflow_write():
        p = pooled(api.PyMem_Malloc, api.PyMem_Free)
        ctypes.memset(p + SIZE, 0x41, 1)
        api.PyMem_Free(p)

    def obj_double_free():
        p = pooled(api.PyObject_Malloc, api.PyObject_Free)
        api.PyObject_Free(p)
        api.PyObject_Free(p)

    def obj_realloc_then_read_old():
        p = pooled(api.PyObject_Malloc, api.PyObject_Free)
        ctypes.memmove(p, b"abcd", 4)
        q = api.PyObject_Realloc(p, 4000)
        assert ctypes.string_at(q, 4) == b"abcd"
        print("moved")
        return ctypes.string_at(p, 4)

    def free_elsewhere(p):
        api.PyObject_Free(p)

    def obj_freed_by_another_thread():
        p = pooled(api.PyObject_Malloc, api.PyObject_Free)
        t = threading.Thread(target=free_elsewhere, args=(p,))
        t.start()
        t.join()
        return ctypes.string_at(p, 4)

    def obj_uaf_read_after_filling_the_pool():
        # Long-lived objects: about a thousand samples that stay, twice the pool's start.
        keep = [str(i) * 3 for i in range(300000)]
        obj_uaf_read()

    def sampled_within(seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            p = api.PyObject_Malloc(SIZE)
            pooled_now = ctypes.string_at(p, SIZE) == PATTERN
            api.PyObject_Free(p)
            if pooled_now:
                return True
        return False

    def pool_full_then_freed():
        # Long-lived strings, a chunk at a time, until no sample comes for a second: every
        # slot of the pool (--pool-slots 1024) is held. About 1 in 2 samples of a chunk is a
        # kept string: 100000 of them fill 1024 slots in a few chunks.
        keep = []
        for chunk in range(30):
            keep.extend(str(i) * 3 for i in range(100000))
            if not sampled_within(1.0):
                break
        else:
            sys.exit("the pool never filled")
        print("nothing sampled while full")
        del keep
        obj_uaf_read()

    def churn(n):
        out = []
        for i in range(n):
            d = {"i": i, "s": str(i) * (i % 7), "l": [i] * (i % 40)}
            out.append(d)
            if len(out) > 300:
                out = out[150:]
            b = bytearray(i % 300)
            b.extend(b"x" * (i % 700))
        return len(out)

    def clean():
        # Samples freed by other threads, realloc'd (growing lists and bytearrays, big blocks
        # through the raw domain), calloc'd, and a forked child that allocates and exits.
        threads = [threading.Thread(target=churn, args=(40000,)) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(2000):
            p = api.PyObject_Calloc(3, 16)
            api.PyObject_Free(p)
        pid = os.fork()
        if pid == 0:
            churn(5000)
            os._exit(0)
        churn(40000)
        for t in threads:
            t.join()
        assert os.waitpid(pid, 0)[1] == 0

    print("hookless" if hookless() else "wrapped")
    globals()[sys.argv[1]]()
    print("survived")
""")


def run(interp, tmp_path, case, rate=RATE):
    script = tmp_path / "sample_script.py"
    script.write_text(SCRIPT)
    return H.run_lifeline(interp, [str(script), case], lifeline_args=["--sample", rate], timeout=300)


def expect_mode(interp, res):
    """Release builds run without hooks between samples; debug builds keep the wrappers, and so
    does the free-threaded build (its object allocator is mimalloc, not pymalloc)."""
    want = "wrapped" if interp.debug or interp.id in H.FREE_THREADED else "hookless"
    assert res.stdout.startswith(want), res.describe()


def one_error(interp, res, kind):
    expect_mode(interp, res)
    rc, stderr, report = res
    assert rc == H.ERROR_EXIT, res.describe()
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["kind"] for f in errors] == [kind], res.describe()
    return errors[0]


def test_sample_catches_object_use_after_free_at_the_read(interp, tmp_path):
    H.require_capability(interp, "object-guard")
    res = run(interp, tmp_path, "obj_uaf_read")
    f = one_error(interp, res, "use-after-free")
    assert f["details"]["caught"] == "at-access" and f["details"]["access"] == "read", f["details"]
    assert f["block"]["size"] == 48 and f["block"]["domain"] == "obj", f["block"]
    H.assert_stack_order(f["stacks"]["free"], ["python:obj_uaf_read", "python:<module>"])
    H.assert_stack_order(f["stacks"]["alloc"], ["python:pooled", "python:obj_uaf_read"])


def test_sample_catches_mem_overflow(interp, tmp_path):
    res = run(interp, tmp_path, "mem_overflow_write")
    f = one_error(interp, res, "heap-buffer-overflow")
    assert f["block"]["size"] == 48 and f["block"]["domain"] == "mem", f["block"]
    assert f["details"]["offset"] == 0, f["details"]
    stack = f["stacks"]["access" if f["details"]["caught"] == "at-access" else "detected"]
    H.assert_stack_order(stack, ["python:mem_overflow_write", "python:<module>"])


def test_sample_catches_object_double_free(interp, tmp_path):
    H.require_capability(interp, "object-guard")
    res = run(interp, tmp_path, "obj_double_free")
    f = one_error(interp, res, "double-free")
    assert f["block"]["domain"] == "obj", f["block"]
    assert f["details"]["free_api"] == "PyObject_Free", f["details"]


def test_sample_realloc_moves_a_sampled_block(interp, tmp_path):
    H.require_capability(interp, "object-guard")
    res = run(interp, tmp_path, "obj_realloc_then_read_old")
    f = one_error(interp, res, "use-after-free")
    assert f["details"]["caught"] == "at-access", f["details"]
    assert f["block"]["domain"] == "obj", f["block"]
    H.assert_stack_order(f["stacks"]["free"], ["python:obj_realloc_then_read_old"])


def test_sample_sees_a_free_from_another_thread(interp, tmp_path):
    H.require_capability(interp, "object-guard")
    res = run(interp, tmp_path, "obj_freed_by_another_thread")
    f = one_error(interp, res, "use-after-free")
    assert f["details"]["caught"] == "at-access", f["details"]
    H.assert_stack_order(f["stacks"]["free"], ["python:free_elsewhere"])
    H.assert_stack_order(f["stacks"]["access"], ["python:obj_freed_by_another_thread"])


def test_sample_pool_grows_past_long_lived_samples(interp, tmp_path):
    """The samples of a program's long-lived objects hold their slots for good; the pool doubles
    when they fill it, so that later samples still find a slot (before, one run in two of these
    scenarios on a shared-libpython 3.11 sampled nothing after start-up)."""
    H.require_capability(interp, "object-guard")
    res = run(interp, tmp_path, "obj_uaf_read_after_filling_the_pool")
    f = one_error(interp, res, "use-after-free")
    assert f["details"]["caught"] == "at-access", f["details"]
    H.assert_stack_order(f["stacks"]["free"], ["python:obj_uaf_read", "python:obj_uaf_read_after_filling_the_pool"])
    grown = [n for n in res.report["notes"] if n.startswith("the guarded pool grew from 512 to ")]
    assert len(grown) == 1, res.describe()


def test_sample_pauses_while_the_pool_is_full_and_resumes(interp, tmp_path):
    """At --pool-slots, with every slot held by a live sample, the thread stops arming (the armed
    calls would only cost time), says so once, and arms again once samples are freed."""
    H.require_capability(interp, "object-guard")
    script = tmp_path / "sample_script.py"
    script.write_text(SCRIPT)
    res = H.run_lifeline(interp, [str(script), "pool_full_then_freed"], timeout=300,
                         lifeline_args=["--sample", RATE, "--pool-slots", "1024"])
    f = one_error(interp, res, "use-after-free")
    assert "nothing sampled while full" in res.stdout, res.describe()
    assert f["details"]["caught"] == "at-access", f["details"]
    paused = res.stderr.count("sampling paused: every slot of the guarded pool holds a live sample")
    assert paused == (1 if res.stdout.startswith("hookless") else 0), res.describe()
    assert "the guarded pool grew from 512 to 1024 slots: long-lived guarded blocks held it (its limit, " \
           "--pool-slots)" in res.report["notes"], res.describe()


@pytest.mark.parametrize("rate", ["200", "5000"])
def test_sample_is_quiet_on_clean_threaded_code(interp, tmp_path, rate):
    res = run(interp, tmp_path, "clean", rate)
    expect_mode(interp, res)
    rc, stderr, report = res
    assert rc == 0, res.describe()
    assert [f for f in report["findings"] if f["severity"] == "error"] == [], res.describe()
    assert [f for f in report["findings"] if f["kind"] == "leak"] == [], res.describe()
    assert report["stats"]["allocations"] > 0, report["stats"]


def test_sample_thread_does_not_make_fork_warn(interp, tmp_path):
    """3.12 and later warn when a multi-threaded process forks; the agent's thread ends before a
    fork and starts again afterwards, so a program that forks stays as quiet as without lifeline."""
    script = tmp_path / "fork.py"
    script.write_text(textwrap.dedent("""
        import os
        for i in range(20):
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            assert os.waitpid(pid, 0)[1] == 0
            [str(j) for j in range(2000)]
        print("forked")
    """))
    res = H.run_lifeline(interp, ["-W", "error", str(script)], lifeline_args=["--sample", "1000"])
    rc, stderr, report = res
    assert rc == 0 and "forked" in res.stdout, res.describe()
    assert "DeprecationWarning" not in stderr, res.describe()


def test_sample_resumes_after_tracemalloc(interp, tmp_path):
    """tracemalloc installs its hooks over the interpreter's allocators: sampling without hooks
    pauses while they are there (the agent must not overwrite them) and resumes after stop()."""
    H.require_capability(interp, "object-guard")  # the script waits for a pooled object block
    script = tmp_path / "tracemalloc_script.py"
    script.write_text(SCRIPT.replace('globals()[sys.argv[1]]()', textwrap.dedent('''
        def sampled_now():
            p = pooled(api.PyObject_Malloc, api.PyObject_Free)
            api.PyObject_Free(p)
        import tracemalloc
        tracemalloc.start()
        churn(20000)
        assert tracemalloc.get_traced_memory()[1] > 0
        tracemalloc.stop()
        sampled_now()
    ''')))
    res = H.run_lifeline(interp, [str(script)], lifeline_args=["--sample", RATE], timeout=300)
    expect_mode(interp, res)
    rc, stderr, report = res
    assert rc == 0 and "survived" in res.stdout, res.describe()
    assert [f for f in report["findings"] if f["severity"] == "error"] == [], res.describe()


RATE_SCRIPT = textwrap.dedent("""
    import os, runpy, sys
    workload = sys.argv[1]
    sys.argv = [workload, "--scale", "0.3"]
    runpy.run_path(workload, run_name="__main__")
    tasks = os.listdir("/proc/self/task")
    sampler = any(open(f"/proc/self/task/{t}/comm").read().strip() == "lifeline-sample" for t in tasks)
    print("hookless" if sampler else "wrapped")
""")


def test_sample_takes_about_one_block_in_n(release_interp, tmp_path):
    """Without hooks between samples the rate comes from the time between allocations that the
    agent's thread measures: on bench/workload.py `--sample 2000` must take about 1 in 2000 of the
    blocks the same program allocates in all (counted by a recording run). The estimate before took
    1 in 2450-2700 (0.75-0.82 of what N says): it settled on the median of windows slowed by the
    hook's cold cache, and spent its first armings coming down from the imports' slow windows.

    The thread's wake-ups come late on a loaded machine, and samples are then lost (about 0.7 of
    N's with one other busy process on the 2 cores, the old estimate too): a run that misses the
    mark is tried once more, and a machine loaded throughout skips the test, saying so."""
    script = tmp_path / "run_workload.py"
    script.write_text(RATE_SCRIPT)
    workload = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "workload.py")
    counted = H.run_lifeline(release_interp, [str(script), workload], lifeline_args=["--no-check", "--no-leaks"],
                             timeout=300)
    assert counted.returncode == 0, counted.describe()
    ratios = []
    for attempt in range(2):
        sampled = H.run_lifeline(release_interp, [str(script), workload], lifeline_args=["--sample", "2000"],
                                 timeout=300)
        assert sampled.returncode == 0, sampled.describe()
        assert sampled.stdout.rstrip().endswith("hookless"), sampled.describe()
        ratios.append(sampled.report["stats"]["allocations"] * 2000 / counted.report["stats"]["allocations"])
        if 0.88 <= ratios[-1] <= 1.2:
            return
    load = os.getloadavg()[0]
    if load > 1.5:
        pytest.skip(f"the machine is loaded (load average {load:.1f}); samples taken per N: {ratios}")
    pytest.fail(f"samples taken per N out of 0.88-1.2: {ratios} (load average {load:.1f})")
