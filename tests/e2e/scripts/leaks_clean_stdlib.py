"""A clean, stdlib-heavy script for `lifeline leaks`: dataclasses, enums, ABCs, lru_cache, generators,
JSON, re, decimal, datetime, Counter, heapq, exceptions and tracebacks, textwrap, fractions, struct,
hashlib, pickle, deepcopy, weakrefs, a thread, asyncio with context variables. Nothing in it grows from one run to the next: the
no-false-alarm check of tests/e2e/test_leaks_repeat.py."""
import asyncio, contextvars, dataclasses, enum, json, re, decimal, datetime, functools, collections, itertools, typing, threading, traceback, io, textwrap, string, fractions, heapq, bisect, struct, hashlib, base64, pickle, copy, weakref, contextlib, abc

@dataclasses.dataclass
class Item:
    name: str
    price: decimal.Decimal
    tags: typing.List[str] = dataclasses.field(default_factory=list)

class Color(enum.Enum):
    RED = 1
    GREEN = 2

class Base(abc.ABC):
    @abc.abstractmethod
    def f(self): ...

class Impl(Base):
    def f(self):
        return 1

@functools.lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def gen(n):
    for i in range(n):
        yield i * i

def work():
    items = [Item(f"i{i}", decimal.Decimal(i) / 7, [Color.RED.name]) for i in range(200)]
    s = json.dumps([dataclasses.asdict(i) for i in items], default=str)
    back = json.loads(s)
    pat = re.compile(r"i(\d+)")
    n = sum(int(pat.match(d["name"]).group(1)) for d in back)
    d = datetime.datetime(2024, 1, 1) + datetime.timedelta(days=n % 100)
    c = collections.Counter(itertools.chain.from_iterable(x["tags"] for x in back))
    fib(80)
    h = []
    for x in gen(100):
        heapq.heappush(h, -x)
    try:
        raise ValueError("boom")
    except ValueError:
        tb = traceback.format_exc()
    out = io.StringIO()
    out.write(textwrap.fill(" ".join(string.ascii_letters) * 3, 40))
    fr = sum(fractions.Fraction(1, i) for i in range(1, 30))
    packed = struct.pack("<iid", 1, 2, 3.0)
    dig = hashlib.sha256(packed).hexdigest()
    b = base64.b64encode(pickle.dumps(copy.deepcopy(items[:10])))
    r = weakref.ref(Impl())
    t = threading.Thread(target=lambda: sum(range(1000)))
    t.start(); t.join()
    with contextlib.suppress(KeyError):
        {}["x"]
    return len(s) + n + d.day + len(c) + len(tb) + len(out.getvalue()) + int(fr) + len(dig) + len(b) + bisect.bisect(sorted(h), -5)

var = contextvars.ContextVar("var")


async def worker(i):
    var.set(i)
    await asyncio.sleep(0)
    return i * 2


async def gather():
    results = await asyncio.gather(*(worker(i) for i in range(50)))
    queue = asyncio.Queue()
    for x in results:
        await queue.put(x)
    return sum([await queue.get() for _ in range(queue.qsize())])


print(work() + asyncio.run(gather()))
