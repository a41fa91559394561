"""Starts threads one after another, each allocating from a few places, and
prints the size of the process's anonymous mappings after the first batch and after the last:
memory the agent maps for one thread must be given back when it ends."""
import sys
import threading


def work():
    items = [str(i) * 3 for i in range(200)]
    {i: (i, s) for i, s in enumerate(items)}


def anon_kb():
    """Writable anonymous mappings only: the journal lifeline maps is a file and grows with the
    run, and malloc reserves address space (not writable) for the arenas of new threads."""
    total = 0
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 5 and fields[1].startswith("rw"):
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                total += hi - lo
    return total // 1024


def run(n):
    for _ in range(n):
        t = threading.Thread(target=work)
        t.start()
        t.join()


first, total = int(sys.argv[1]), int(sys.argv[2])
run(first)
before = anon_kb()
run(total - first)
after = anon_kb()
print(f"threads {total} anon_kb {before} {after}")
