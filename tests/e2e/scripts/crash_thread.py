# A crash in a thread that is not the main thread, while the main thread waits in join().
# Expected: thread named "zoo-worker" (Python name and OS name), not main; access stack
#   native crash_null_write, native zoo_null_deref, python crash_in_worker, python worker,
#   python run, python _bootstrap_inner, python _bootstrap -- and no python <module>.
import threading

import zoo_crash


def crash_in_worker():
    zoo_crash.null_deref()


def worker():
    zoo_crash.set_native_thread_name("zoo-worker")
    crash_in_worker()


t = threading.Thread(target=worker, name="zoo-worker")
t.start()
t.join()
