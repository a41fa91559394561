"""Debian's python3-numpy under lifeline: creation, arithmetic, reshape, fancy indexing, linalg,
sorting, string arrays. Must give no finding."""
import numpy as np


def creation():
    a = np.arange(10000, dtype=np.int64)
    z = np.zeros((64, 64))
    o = np.ones(1000, dtype=np.float32)
    e = np.empty((3, 5, 7))
    e[...] = 1.5
    f = np.full((10, 10), 7, dtype=np.int16)
    l = np.linspace(0.0, 1.0, 257)
    i = np.eye(12)
    frm = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8)
    c = np.concatenate([a[:10], a[-10:]])
    s = np.stack([o[:5], o[5:10]])
    assert a.sum() == 10000 * 9999 // 2
    assert z.shape == (64, 64) and e.sum() == 1.5 * 105 and f.sum() == 700
    assert abs(l[-1] - 1.0) < 1e-12 and i.trace() == 12 and frm.T.shape == (3, 2)
    assert c.size == 20 and s.shape == (2, 5)
    return a


def arithmetic(a):
    b = a * 2 + 1
    c = np.sqrt(b.astype(np.float64))
    d = (c - c.mean()) / c.std()
    e = np.where(a % 3 == 0, a, -a)
    m = np.maximum(a, 5000) - np.minimum(a, 5000)
    cum = np.cumsum(a[:100])
    dot = np.dot(a[:100].astype(float), a[:100].astype(float))
    x = np.random.default_rng(1234).standard_normal((200, 200))
    y = x @ x.T
    assert b[10] == 21 and abs(d.mean()) < 1e-9 and e[3] == 3 and e[4] == -4
    assert m[0] == 5000 and cum[-1] == 4950 and dot == sum(i * i for i in range(100))
    assert np.allclose(y, y.T)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.array([1.0, 0.0, -1.0]) / 0.0
    assert np.isinf(r[0]) and np.isnan(r[1])
    try:
        np.ones(3) + np.ones(4)
    except ValueError:
        pass
    else:
        raise AssertionError("broadcast error expected")


def reshape_and_index(a):
    m = a[:600].reshape(20, 30)
    t = m.T.copy()
    r = m.reshape(-1, 6).ravel()
    assert t.shape == (30, 20) and r.size == 600
    rows = m[[0, 5, 19]]
    picked = m[np.array([1, 2, 3]), np.array([4, 5, 6])]
    mask = m[m % 7 == 0]
    m2 = m.copy()
    m2[m2 > 300] = -1
    m2[:, ::2] += 1
    sl = m[2:18:3, ::-4]
    assert rows.shape == (3, 30) and list(picked) == [34, 65, 96]
    assert (mask % 7 == 0).all() and (m2 <= 301).all() and sl.shape == (6, 8)
    big = np.arange(1 << 20, dtype=np.float64)
    big = big.reshape(1024, 1024)[::3, ::5].copy()
    assert big.shape == (342, 205)
    # grow and shrink through resize/append (realloc inside numpy)
    g = np.array([], dtype=np.int64)
    for k in range(200):
        g = np.append(g, k)
    g2 = np.resize(g, 1000)
    assert g.sum() == 19900 and g2.size == 1000


def linalg():
    rng = np.random.default_rng(7)
    for n in (2, 3, 8, 32):
        a = rng.standard_normal((n, n)) + n * np.eye(n)
        b = rng.standard_normal(n)
        x = np.linalg.solve(a, b)
        assert np.allclose(a @ x, b)
        inv = np.linalg.inv(a)
        assert np.allclose(inv @ a, np.eye(n))
        assert abs(np.linalg.det(a)) > 0
    try:
        np.linalg.solve(np.zeros((3, 3)), np.ones(3))
    except np.linalg.LinAlgError:
        pass
    else:
        raise AssertionError("singular matrix must raise")


def sorting():
    rng = np.random.default_rng(99)
    v = rng.integers(-10**6, 10**6, size=50000)
    for kind in ("quicksort", "mergesort", "heapsort", "stable"):
        s = np.sort(v, kind=kind)
        assert (s[1:] >= s[:-1]).all()
    order = np.argsort(v)
    assert v[order][0] == v.min()
    u, counts = np.unique(v % 100, return_counts=True)
    assert u.size == 100 and counts.sum() == v.size
    f = rng.random(10001)
    assert np.median(f) == np.sort(f)[5000]
    p = np.partition(f, 100)
    assert p[100] == np.sort(f)[100]


def strings():
    words = np.array(["delta", "alpha", "charlie", "bravo", "échelle", "日本語", ""])
    s = np.sort(words)
    assert s[0] == "" and s[1] == "alpha"
    up = np.char.upper(words)
    joined = np.char.add(words, "-x")
    lens = np.char.str_len(words)
    assert up[0] == "DELTA" and joined[2] == "charlie-x" and lens[5] == 3
    b = np.array([b"abc", b"de", b"f"], dtype="S5")
    assert b.itemsize == 5 and b[1] == b"de"
    obj = np.array(["x" * i for i in range(100)], dtype=object)
    assert obj[99].count("x") == 99
    cmp = words == "bravo"
    assert cmp.sum() == 1
    rec = np.zeros(3, dtype=[("name", "U10"), ("age", "i4"), ("score", "f8")])
    rec["name"] = ["ann", "bob", "cyd"]
    rec["age"] = [30, 40, 50]
    assert rec[rec["age"] > 35]["name"].tolist() == ["bob", "cyd"]
    t = np.array2string(np.arange(12).reshape(3, 4))
    assert "11" in t
    txt = ",".join(str(i) for i in range(100))
    parsed = np.array(txt.split(","), dtype=np.int64)
    assert parsed.sum() == 4950


def main():
    a = creation()
    arithmetic(a)
    reshape_and_index(a)
    linalg()
    sorting()
    strings()
    print("numpy-ok", np.__version__)


main()
