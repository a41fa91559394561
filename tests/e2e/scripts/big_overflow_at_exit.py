"""Writes two bytes past the end of a 3 MiB PyMem_Malloc block and never frees it.

Only the check of live blocks at exit can find it. That check walks the live-block table without a
lock, and reads the redzones of a block too big for the quarantine through the kernel
(process_vm_readv): this is the block that path must still find. Prints "wrote".
"""
import ctypes

malloc = ctypes.pythonapi.PyMem_Malloc
malloc.restype = ctypes.c_void_p
malloc.argtypes = [ctypes.c_size_t]
SIZE = 3 << 20
block = malloc(SIZE)
ctypes.memset(block + SIZE + 1, 0x41, 2)
print("wrote")
