# An item released once more than it was owned (tests/e2e/ext/zoo_refs.c, built with
# `lifeline cflags`), then written: a use-after-free with a reference-count history.
import zoo_refs


def trigger():
    zoo_refs.release_twice()


trigger()
print("script-finished")
