"""CPython's own _sqlite3 extension (not written here) under lifeline: connections (heap types
made from the module's state, holding borrowed pointers to its exception classes), cursors, row
factories, user functions and aggregates (callbacks into Python), adapters and converters,
transactions, errors, dumps and backups, with collections while all of it is alive. Must give no
finding."""
import datetime
import gc
import sqlite3


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def adapt_point(p):
    return f"{p.x};{p.y}"


def convert_point(b):
    x, y = map(float, b.split(b";"))
    return Point(x, y)


class Median:
    def __init__(self):
        self.values = []

    def step(self, v):
        self.values.append(v)

    def finalize(self):
        v = sorted(self.values)
        return v[len(v) // 2] if v else None


def fill(conn):
    conn.execute("create table item(id integer primary key, name text unique, weight real, p point, seen timestamp)")
    now = datetime.datetime(2026, 11, 28, 12, 0, 0)
    rows = [(i, f"item{i}", i * 1.5, Point(i, -i), now) for i in range(500)]
    conn.executemany("insert into item values (?, ?, ?, ?, ?)", rows)
    conn.commit()


def queries(conn):
    conn.create_function("twice", 1, lambda v: v * 2)
    conn.create_aggregate("median", 1, Median)
    conn.row_factory = sqlite3.Row
    total = 0
    for row in conn.execute("select id, name, twice(weight) as w, p, seen from item where id % 7 = 0"):
        total += int(row["w"]) + len(row["name"]) + int(row["p"].x) + row["seen"].day
    total += int(conn.execute("select median(weight) from item").fetchone()[0])
    cur = conn.cursor()
    cur.execute("select count(*) from item")
    total += cur.fetchone()[0]
    try:
        conn.execute("insert into item(id, name) values (1, 'again')")
    except sqlite3.IntegrityError as e:
        total += len(str(e)) > 0
    try:
        conn.execute("select * from nowhere")
    except sqlite3.OperationalError:
        total += 1
    return total


def main():
    sqlite3.register_adapter(Point, adapt_point)
    sqlite3.register_converter("point", convert_point)
    sqlite3.register_converter("timestamp", lambda b: datetime.datetime.fromisoformat(b.decode()))
    keep = []
    total = 0
    for round_ in range(4):
        conn = sqlite3.connect(":memory:", detect_types=sqlite3.PARSE_DECLTYPES)
        fill(conn)
        total += queries(conn)
        with conn:
            conn.execute("update item set weight = weight + 1 where id < 10")
        dump = "\n".join(conn.iterdump())
        copy = sqlite3.connect(":memory:")
        conn.backup(copy)
        total += copy.execute("select count(*) from item").fetchone()[0] + len(dump) % 7
        keep.append((conn, copy, conn.cursor()))
        gc.collect()
    for conn, copy, cur in keep:
        cur.close()
        copy.close()
        conn.close()
    del keep
    gc.collect()
    print(f"sqlite3-ok {total}")


main()
