"""test_forbidden.py: a capsule executing a raw syscall instruction is killed, and caprun names the call."""
import os

from caplib import IMAGES, Tap, check, check_eq, my_children, net_state, run_caprun, need_capsule_host


def killed_and_named():
    before = net_state()
    code, out = run_caprun([os.path.join(IMAGES, "forbidden.cap")], timeout=20)
    check(code is not None, "caprun still running after 20 s; output: %r" % out[-300:])
    check(code != 0, "caprun exited 0; output: %r" % out[-300:])
    check("still alive" not in out, "the raw syscall returned to the capsule: %r" % out[-300:])
    check("forbidden system call getppid" in out,
          "output does not name the forbidden call (exit %d): %r" % (code, out[-400:]))
    check_eq(my_children(), [], "processes left behind")
    check_eq(net_state(), before, "network state after the capsule died")


def main():
    tap = Tap()
    if not need_capsule_host(tap, "forbidden: raw getppid kills the capsule, named by caprun"):
        tap.run("forbidden: raw getppid kills the capsule, named by caprun", killed_and_named)
    tap.done()


main()
