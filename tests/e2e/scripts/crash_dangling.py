# A write to a freed PyMem block, then a write through a wild pointer computed from it.
# Expected access stack: native record_append, native zoo_dangling_write, python corrupt, python <module>.
import zoo_crash


def corrupt():
    zoo_crash.dangling_write()


corrupt()
