# abort() from C. Expected access stack: native abort, native give_up, native zoo_abort_now,
# python bail_out, python <module>; signal SIGABRT.
import zoo_crash


def bail_out():
    zoo_crash.abort_now()


bail_out()
