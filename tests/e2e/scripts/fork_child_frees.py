"""Builds objects, then forks: the child frees its copies of them, builds and frees many more,
and sends a checksum back; the parent frees its own afterwards.

A child records nothing, but its hooks stay and still check: a block from before the fork carries
redzones, which the child must recognize at its free, and from the fork on it gives freed blocks
back at once instead of through the quarantine. Prints "child 0 N" (the child's exit status and
checksum).
"""
import os

keep = [bytearray(i % 300) for i in range(20_000)] + [str(i) * 2 for i in range(20_000)]
big = [bytes(200_000) for _ in range(8)]
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    del keep, big
    total = 0
    for i in range(200_000):
        total += len(str(i) * 3)
    os.write(w, str(total).encode())
    os._exit(0)
os.close(w)
got = os.read(r, 100).decode()
_, status = os.waitpid(pid, 0)
del keep, big
print(f"child {os.waitstatus_to_exitcode(status)} {got}")
