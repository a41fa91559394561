"""Writes a few hundred MiB of journal from one thread, then prints how much of the journal file
stays mapped in this process and how far its address space grew meanwhile.

The agent maps the journal in segments of up to 32 MiB and unmaps a segment once every block
carved from it is finished: a long run must not keep its whole journal in the target's address
space (a program capped by RLIMIT_AS would run out) nor a mapping per segment. Prints
"journal mapped: N mappings, M MiB; address space grew G MiB", or "no journal" when not traced.
"""
import os
import sys

path = os.environ.get("LIFELINE_JOURNAL")


def journal_mappings():
    count = size = 0
    real = os.path.realpath(path)
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and os.path.realpath(fields[5].strip()) == real:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                count += 1
                size += hi - lo
    return count, size


def vm_size():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


if not path:
    print("no journal")
    sys.exit(0)
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
before = vm_size()
for i in range(rounds):
    pair = [i, i]  # a list and its items array, an int: six events a round with the frees
count, size = journal_mappings()
grew = vm_size() - before
print(f"journal mapped: {count} mappings, {size >> 20} MiB; address space grew {grew >> 20} MiB")
