"""Debian's python3-msgpack, python3-ujson and python3-simplejson (with its C speedups) under
lifeline: round trips of nested data, small and big ints, unicode, errors raised and caught.
Usage: serializers_work.py msgpack|ujson|simplejson. Must give no finding."""
import sys


def sample(depth=0):
    data = {
        "ints": [0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**31 - 1, -2**31,
                 2**32, 2**53 + 1, 2**63 - 1, -2**63],
        "floats": [0.0, -0.5, 1e300, -1e-300, 3.141592653589793],
        "text": ["", "ascii", "ünïcödé", "日本語テキスト", "emoji 🐍✓", "x" * 5000, "\u0000\u001f\"\\"],
        "bools": [True, False, None],
        "map": {f"key{i}": i * i for i in range(200)},
    }
    if depth < 4:
        data["children"] = [sample(depth + 1) for _ in range(3)]
    return data


def check_msgpack():
    import msgpack
    obj = sample()
    packed = msgpack.packb(obj, use_bin_type=True)
    assert msgpack.unpackb(packed, raw=False, strict_map_key=False) == obj
    blob = {"bin": b"\x00\xff" * 1000, "tuple": (1, 2, 3)}
    back = msgpack.unpackb(msgpack.packb(blob), raw=False, use_list=False)
    assert back["bin"] == blob["bin"] and back["tuple"] == (1, 2, 3)
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    stream = b"".join(msgpack.packb(sample(3)) for _ in range(50))
    for i in range(0, len(stream), 997):
        unpacker.feed(stream[i:i + 997])
    assert sum(1 for _ in unpacker) == 50
    for bad, exc in ((b"\xc1", Exception), (packed[:-5], Exception), (b"\x92\x01", Exception)):
        try:
            msgpack.unpackb(bad)
        except exc:
            pass
        else:
            raise AssertionError(f"{bad!r} must not unpack")
    try:
        msgpack.packb(2**64)
    except OverflowError:
        pass
    try:
        msgpack.packb(object())
    except TypeError:
        pass
    ext = msgpack.packb(msgpack.ExtType(5, b"payload"))
    assert msgpack.unpackb(ext) == msgpack.ExtType(5, b"payload")
    return msgpack.version


def check_ujson():
    import ujson
    obj = sample()
    text = ujson.dumps(obj)
    assert ujson.loads(text) == obj
    pretty = ujson.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False)
    assert ujson.loads(pretty) == obj
    big = 2**64 + 12345
    for bad in ('{"a": ', "[1, 2", "nul", '"\\ud800"x', "{'a': 1}", "1e99999"):
        try:
            ujson.loads(bad)
        except (ValueError, OverflowError):
            pass
    try:
        ujson.dumps(big)
    except OverflowError:
        pass
    try:
        ujson.dumps({"a": object()})
    except (TypeError, OverflowError):
        pass
    assert ujson.loads(ujson.dumps([float(i) / 7 for i in range(1000)]))[7] == 1.0
    return ujson.__version__


def check_simplejson():
    import simplejson
    import simplejson.scanner
    assert simplejson.scanner.c_make_scanner is not None, "C speedups expected"
    obj = sample()
    text = simplejson.dumps(obj)
    assert simplejson.loads(text) == obj
    assert simplejson.loads(simplejson.dumps(obj, indent="  ", sort_keys=True)) == obj
    big = {"big": 2**200, "neg": -(3**150)}
    assert simplejson.loads(simplejson.dumps(big)) == big
    from decimal import Decimal
    d = simplejson.loads('{"x": 1.10000000000000000001}', use_decimal=True)
    assert d["x"] == Decimal("1.10000000000000000001")
    for bad in ('{"a": ', "[1, 2", "nul", "{'a': 1}", '{"a" 1}', '"\\x"'):
        try:
            simplejson.loads(bad)
        except simplejson.JSONDecodeError as e:
            assert e.pos >= 0
        else:
            raise AssertionError(f"{bad!r} must not parse")
    try:
        simplejson.dumps({"a": object()})
    except TypeError:
        pass
    try:
        simplejson.dumps(float("nan"), allow_nan=False)
    except ValueError:
        pass
    enc = simplejson.JSONEncoder(separators=(",", ":"))
    chunks = list(enc.iterencode(obj))
    assert simplejson.loads("".join(chunks)) == obj
    return simplejson.__version__


def main(which):
    version = {"msgpack": check_msgpack, "ujson": check_ujson, "simplejson": check_simplejson}[which]()
    print(f"{which}-ok", version)


main(sys.argv[1])
