"""Confirms, without lifeline, the leaks in Debian's packages that lifeline reports on the
realcode scripts (see KNOWN_REAL_LEAKS in tests/e2e/test_clean_real_code.py): the growth of
sys.getallocatedblocks() per call, after warm-up, with the collector run around each measure.

    /usr/bin/python3.11 tests/e2e/realcode/confirm_leaks.py
"""
import gc
import sys

import msgpack
import ujson


def document():
    return {"ints": list(range(100)), "text": ["x" * 50] * 20, "map": {f"k{i}": i for i in range(200)},
            "children": [{"a": [1, 2, {"b": "c"}]} for _ in range(20)]}


def blocks_per_call(fn, calls=2000):
    for _ in range(200):
        fn()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(calls):
        fn()
    gc.collect()
    return (sys.getallocatedblocks() - before) / calls


def main():
    packed = msgpack.packb(document(), use_bin_type=True)

    def truncated_unpack():
        try:
            msgpack.unpackb(packed[:-5])
        except Exception:
            pass

    def big_int_dumps():
        try:
            ujson.dumps(2**64 + 12345)
        except OverflowError:
            pass

    def complete_unpack():
        msgpack.unpackb(packed)

    for fn in (truncated_unpack, big_int_dumps, complete_unpack):
        print(f"{fn.__name__}: {blocks_per_call(fn):.2f} blocks per call")


if __name__ == "__main__":
    sys.exit(main())
