"""A workload for bench/boundary_cost that spends its time in extensions' C-API calls:
round trips of nested data through msgpack or ujson (Debian's python3-msgpack, python3-ujson),
ROUNDS times. msgpack's packer walks dicts with PyDict_Next; ujson's encoder and decoder use
PyList_GetItem, PyTuple_GetItem, PyDict_GetItem and PyList_SetItem.

    python3.11 bench/boundary_work.py msgpack|ujson ROUNDS
"""
import sys


def data():
    rows = [{"id": i, "name": f"row{i}", "tags": ["a", "b", "c"], "score": i * 0.5,
             "pair": [i, -i], "nested": {"k": i, "v": [1, 2, 3]}} for i in range(2000)]
    return {"rows": rows, "count": len(rows)}


def main():
    name, rounds = sys.argv[1], int(sys.argv[2])
    obj = data()
    if name == "msgpack":
        import msgpack
        for _ in range(rounds):
            assert msgpack.unpackb(msgpack.packb(obj), strict_map_key=False) == obj
    else:
        import ujson
        for _ in range(rounds):
            assert ujson.loads(ujson.dumps(obj)) == obj
    print(f"{name}-ok")


main()
