"""A reproducible, allocation-heavy Python workload for lifeline's benchmarks.

Deterministic (fixed seed, no time or hash dependent output): the same allocation pattern on every
run. A mix of what real programs churn through: dicts, lists, tuples, strings, small class
instances (with __dict__ and with __slots__), and JSON encode/decode. About 2-4 s under plain
/usr/bin/python3.11 at --scale 1.

    /usr/bin/python3.11 bench/workload.py [--scale S]

Prints one line: a checksum of the work done (identical for every run at the same scale).
"""
import argparse
import json
import random


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
        self.label = f"p{x}:{y}"


class Slotted:
    __slots__ = ("key", "value", "next")

    def __init__(self, key, value, nxt):
        self.key = key
        self.value = value
        self.next = nxt


def dict_churn(rng, rounds):
    acc = 0
    for r in range(rounds):
        d = {}
        for i in range(200):
            k = f"k{rng.randrange(1000)}"
            d[k] = d.get(k, 0) + i
        merged = {**d, "round": r}
        acc += len(merged) + sum(v for v in d.values() if v & 1)
        for k in list(d)[::3]:
            del d[k]
        acc += len(d)
    return acc


def list_tuple_churn(rng, rounds):
    acc = 0
    for r in range(rounds):
        rows = [(i, rng.random(), str(i)) for i in range(300)]
        rows.sort(key=lambda t: t[1])
        pairs = list(zip(rows[::2], rows[1::2]))
        flat = [x for pair in pairs for x in pair]
        acc += len(flat) + rows[0][0]
        acc += sum(len(t[2]) for t in flat[:50])
    return acc


def string_churn(rng, rounds):
    acc = 0
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
    for r in range(rounds):
        parts = [words[rng.randrange(8)] * (1 + rng.randrange(4)) for _ in range(120)]
        s = "-".join(parts)
        up = s.upper().replace("A", "4")
        pieces = up.split("-")
        acc += len(s) + len(pieces) + sum(1 for p in pieces if p.startswith("B"))
        acc += len(f"{r}:{s[:40]}:{len(up)}")
    return acc


def object_churn(rng, rounds):
    acc = 0
    for r in range(rounds):
        pts = [Point(rng.randrange(100), rng.randrange(100)) for _ in range(150)]
        chain = None
        for p in pts:
            chain = Slotted(p.label, p.x * p.y, chain)
        n = 0
        while chain is not None:
            n += chain.value & 7
            chain = chain.next
        acc += n + len(pts[-1].label)
    return acc


def json_churn(rng, rounds):
    acc = 0
    for r in range(rounds):
        doc = {"id": r, "tags": [f"t{rng.randrange(50)}" for _ in range(20)],
               "items": [{"n": i, "w": rng.random(), "name": f"item{i}"} for i in range(40)]}
        text = json.dumps(doc, sort_keys=True)
        back = json.loads(text)
        acc += len(text) + len(back["items"]) + back["id"]
    return acc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0,
                    help="amount of work (1.0: about 2-4 s under plain python3.11)")
    args = ap.parse_args()
    rounds = max(1, int(7000 * args.scale))
    rng = random.Random(20240611)
    total = 0
    for part in (dict_churn, list_tuple_churn, string_churn, object_churn, json_churn):
        total += part(rng, rounds)
    print(f"workload scale={args.scale:g} rounds={rounds} checksum={total}")


if __name__ == "__main__":
    main()
