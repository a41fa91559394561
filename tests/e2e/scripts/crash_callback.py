# A crash at the bottom of a C -> Python -> C -> Python -> C chain. Expected access stack:
#   native crash_null_write, native zoo_null_deref, python innermost,
#   native invoke_callback, native zoo_with_callback, python middle,
#   native invoke_callback, native zoo_with_callback, python outer, python <module>
import zoo_crash


def innermost(value):
    zoo_crash.null_deref()
    return value


def middle(value):
    return zoo_crash.with_callback(innermost, value + 1)


def outer():
    return zoo_crash.with_callback(middle, 1)


outer()
