#!/usr/bin/python3
"""The cost of lifeline's whole-heap passes, measured inside a traced process.

    build/lifeline run -- /usr/bin/python3.11 bench/heapcheck.py [--objects N] [--heap-mib M]

1. Builds N live objects (default one million: a list of small tuples, dicts, floats and instances
   of a class, most of them GC objects) and times `lifeline.check_heap()` (the GC and
   reference-count verification) and `lifeline.scan_leaks()` (the leak scan) over them.
2. Adds M MiB of heap in 1 MiB buffers (default 1024: a heap of about 1 GiB in all) whose words
   are pseudo-random 64-bit values, the worst case for a conservative scan since every word has to
   be looked up, and times the leak scan again.

Prints one line per measurement, "name: seconds", for docs/performance.md.
"""
import argparse
import gc
import os
import sys
import time

import lifeline


class Point:
    def __init__(self, x):
        self.x = x
        self.y = (x, x + 1)


def build_objects(n):
    quarter = n // 4
    objs = []
    objs.extend((i, str(i)) for i in range(quarter))
    objs.extend({"k": i} for i in range(quarter))
    objs.extend(float(i) + 0.5 for i in range(quarter))
    objs.extend(Point(i) for i in range(quarter))
    return objs


def random_buffers(mib):
    # A bytes object per MiB from os.urandom: no pattern that a scan could skip.
    return [os.urandom(1 << 20) for _ in range(mib)]


def timed(name, fn):
    t0 = time.perf_counter()
    result = fn()
    dt = time.perf_counter() - t0
    print(f"{name}: {dt:.3f} s (result {result})", flush=True)
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--heap-mib", type=int, default=1024)
    args = ap.parse_args()
    gc.collect()
    gc.disable()  # the passes below are timed alone, not inside collections
    objs = build_objects(args.objects)
    print(f"live objects built: {len(objs)} (+ their parts)", flush=True)
    timed("check_heap, objects", lifeline.check_heap)
    timed("scan_leaks, objects", lifeline.scan_leaks)
    bufs = random_buffers(args.heap_mib)
    with open("/proc/self/status") as f:
        rss = [line.split()[1] for line in f if line.startswith("VmRSS")][0]
    print(f"heap: {args.heap_mib} MiB of random buffers added; RSS {int(rss) // 1024} MiB", flush=True)
    timed("scan_leaks, 1 GiB heap", lifeline.scan_leaks)
    del objs, bufs


if __name__ == "__main__":
    sys.exit(main())
