"""Allocation churn for bench/report_speed: N iterations, each allocating a fresh bytes object
(PyObject_Malloc) and freeing the previous one; the loop counter above 256 is a fresh int object
too. So at least 2 journal events (alloc + free) per iteration, about 4 in practice.

    /usr/bin/python3.11 bench/churn.py [ITERATIONS]      (default 5500000)
"""
import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_500_000
    keep = None
    total = 0
    for i in range(n):
        keep = bytes(16 + (i & 63))      # the previous object is freed on rebinding
        total += len(keep)
    print(f"churn iterations={n} bytes={total}")


if __name__ == "__main__":
    main()
