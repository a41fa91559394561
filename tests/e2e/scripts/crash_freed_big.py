# A read of a large PyMem block after it was freed (and unmapped). The fault address lies inside the
# freed block: nearest_block must name it, state "freed", with its alloc and free stacks.
# Expected access stack: native sum_samples, native zoo_read_freed_big, python reread, python <module>.
import zoo_crash


def reread():
    return zoo_crash.read_freed_big()


reread()
