"""Objects made and freed in isolated subinterpreters (3.12+: each has its own pymalloc), then
in the main interpreter: blocks lifeline holds back after their free must go back to the
allocator that owns them, whichever interpreter runs when they leave."""
import _interpreters

for round_ in range(3):
    iid = _interpreters.create()  # isolated: its own obmalloc state
    _interpreters.run_string(iid, "x = [str(i) * 3 for i in range(20000)]\ndel x\n"
                                  "y = {i: (i, str(i)) for i in range(5000)}\n")
    _interpreters.destroy(iid)
    z = [str(i) * 5 for i in range(50000)]
    del z
print("subinterpreters-ok")
