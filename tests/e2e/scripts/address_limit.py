"""Limits its own address space to 4 GiB, as a program guarding itself against runaway memory
does, then builds and drops many small objects.

Under lifeline that room must be enough: the shadow of the live-block table is reserved per range
that holds blocks (16 MiB per 64 MiB), where a shadow of the whole address space at once (32 TiB)
made every later mapping fail. Prints "address limit ok N".
"""
import resource

soft, hard = resource.getrlimit(resource.RLIMIT_AS)
limit = 4 << 30 if hard == resource.RLIM_INFINITY else min(4 << 30, hard)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
total = 0
for round_ in range(3):
    items = [{"k": str(i), "v": (i, i * 2.5)} for i in range(60_000)]
    total += sum(len(d["k"]) for d in items)
    del items
print(f"address limit ok {total}")
