"""Forks from a thread three times. With "return" each child's only thread returns, so its
thread-end hooks run in the child; with "exit" the child leaves with os._exit and runs none.

The parent's thread goes on filling the journal block it had at the fork. A child must not mark
that block closed at its thread's end (the mapping is shared): a reader that believed it would stop
reading the block and lose the parent's later events. Both modes must therefore report the same
balance of allocations and frees. Prints "fork thread end MODE".
"""
import os
import sys
import threading

mode = sys.argv[1]


def work():
    for _ in range(3):
        keep = [str(i) * 3 for i in range(20_000)]
        pid = os.fork()
        if pid == 0:
            if mode == "exit":
                os._exit(0)
            return  # the child's only thread ends
        os.waitpid(pid, 0)
        del keep[:]
        more = [str(i) * 3 for i in range(20_000)]
        del more


t = threading.Thread(target=work)
t.start()
t.join()
print(f"fork thread end {mode}")
