# A clean workload: JSON round trips of nested data. Must produce no finding.
import json
import sys

doc = {"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b", str(i)], "price": i * 1.25}
                 for i in range(2000)],
       "meta": {"count": 2000, "source": "lifeline-test"}}
for _ in range(5):
    doc = json.loads(json.dumps(doc, sort_keys=True))
assert doc["meta"]["count"] == 2000 and doc["items"][1999]["name"] == "item-1999"
sys.stdout.write("roundtrip ok %d\n" % len(doc["items"]))
