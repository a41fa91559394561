# A NULL dereference in C, two Python calls deep. Expected access stack (innermost first):
# native crash_null_write, native zoo_null_deref, python trigger, python main, python <module>.
import zoo_crash


def trigger():
    zoo_crash.null_deref()


def main():
    trigger()


main()
