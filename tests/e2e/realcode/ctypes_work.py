"""CPython's own _ctypes extension (not written here) under lifeline: calls into libc with
declared argument types, callbacks, structures, arrays, buffers, errors. Must give no finding."""
import ctypes
import ctypes.util


class Point(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double), ("name", ctypes.c_char * 8)]


class Either(ctypes.Union):
    _fields_ = [("i", ctypes.c_int64), ("d", ctypes.c_double)]


def libc_calls(libc):
    libc.strlen.argtypes = [ctypes.c_char_p]
    libc.strlen.restype = ctypes.c_size_t
    assert libc.strlen(b"hello") == 5
    assert libc.strlen(b"x" * 1000) == 1000
    libc.snprintf.restype = ctypes.c_int
    buf = ctypes.create_string_buffer(64)
    n = libc.snprintf(buf, 64, b"%d-%s-%.2f", 42, b"abc", ctypes.c_double(3.14159))
    assert buf.value == b"42-abc-3.14" and n == 11
    libc.abs.argtypes = [ctypes.c_int]
    assert libc.abs(-17) == 17
    wbuf = ctypes.create_unicode_buffer("ünïcödé")
    assert wbuf.value == "ünïcödé"
    try:
        libc.strlen(12345)
    except ctypes.ArgumentError:
        pass
    else:
        raise AssertionError("ArgumentError expected")


def callbacks(libc):
    CMP = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))

    def cmp(a, b):
        return a[0] - b[0]

    values = [5, 3, 9, 1, 7, 2, 8, 6, 4, 0] * 20
    arr = (ctypes.c_int * len(values))(*values)
    libc.qsort.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, CMP]
    libc.qsort.restype = None
    libc.qsort(arr, len(arr), ctypes.sizeof(ctypes.c_int), CMP(cmp))
    assert list(arr) == sorted(values)


def structures():
    pts = (Point * 100)()
    for i, p in enumerate(pts):
        p.x, p.y, p.name = i, i / 2, b"p%d" % i
    assert pts[99].x == 99 and pts[99].name == b"p99"
    e = Either(d=1.0)
    assert e.i == 0x3FF0000000000000
    ptr = ctypes.pointer(pts[5])
    assert ptr.contents.x == 5
    raw = ctypes.cast(ptr, ctypes.POINTER(ctypes.c_int))
    assert raw[0] == 5
    dst = ctypes.create_string_buffer(32)
    ctypes.memmove(dst, b"0123456789", 10)
    ctypes.memset(ctypes.byref(dst, 10), ord("z"), 5)
    assert dst.raw[:15] == b"0123456789zzzzz"
    big = ctypes.create_string_buffer(1 << 20)
    ctypes.resize(big, 2 << 20)
    assert ctypes.sizeof(big) == 2 << 20


def main():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
    for _ in range(20):
        libc_calls(libc)
        callbacks(libc)
        structures()
    print("ctypes-ok", ctypes.sizeof(Point))


main()
