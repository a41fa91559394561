# One zoo_repeat.Token leaked per run (one reference too many in leak_ref), from a Python function.
# Expected under `lifeline leaks`: a leak of 'zoo_repeat.Token' objects, per_run [1, 1, 1], allocated
# in leak_ref called from trigger.
import zoo_repeat


def trigger():
    zoo_repeat.leak_ref()


trigger()
