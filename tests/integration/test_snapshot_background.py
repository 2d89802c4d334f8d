"""test_snapshot_background.py: a --keep-running snapshot freezes the capsule only while its memory is copied; the file is written while the capsule serves, and holds the moment of the freeze."""
# caprun's writer is held back by a test hook (CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR:
# it waits for a file to exist), so "while the file is being written" is a state the
# test controls, not a race it hopes to win.
import os
import subprocess

from caplib import (CAPCTL, CAPRUN, Capsule, Host, Tap, check, check_eq, connect, next_count,
                    during_freeze, recv_line, request, snapshot, tempdir)

MEMTOUCH_PORT = 9003
BACK_TO_BACK = 12    # snapshots, each asked for the moment the one before answered
BACK_TO_BACK_MIB = 64


def serves_while_written():
    d = tempdir()
    go = os.path.join(d, "go")
    host = Host()
    host.env["CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR"] = go
    cap = host.capsule("counter", name="bg").start()
    s = connect(cap.addr, 9000)
    check_eq(next_count(s), 1, "first count")
    path = os.path.join(d, "bg.snap")
    # The next line arrives while the capsule freezes (caplib.during_freeze).
    ctl = during_freeze(
        cap, lambda: subprocess.Popen([CAPCTL, "snapshot", "bg", "-o", path, "--keep-running"],
                                      env=host.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL),
        lambda: s.sendall(b"n\n"))
    try:
        # The capsule answers although its snapshot is not written yet.
        check_eq(int(recv_line(s)), 2, "the count asked for as the capsule froze")
        for want in (3, 4):
            check_eq(next_count(s), want, "a count while the snapshot is being written")
        check(ctl.poll() is None, "capctl returned before the writer was let go (exit %s)" %
              ctl.returncode)
        check(not os.path.exists(path), "the snapshot file exists before it was written")
        # Nothing else may freeze it meanwhile: a second snapshot is refused, clearly.
        code, out, err = host.capctl(["snapshot", "bg", "-o", os.path.join(d, "two.snap"),
                                      "--keep-running"])
        check(code != 0 and "still being written" in err,
              "a second snapshot during the first: exit %d, %r %r" % (code, out, err))
        check_eq(next_count(s), 5, "a count after the refused snapshot")
    finally:
        open(go, "w").close()
    out, err = ctl.communicate(timeout=60)
    check(ctl.returncode == 0 and b"snapshot bg -> " in out,
          "capctl snapshot: exit %d, %r %r" % (ctl.returncode, out, err))
    check_eq(next_count(s), 6, "a count after the snapshot was written")
    s.close()
    cap.stop()
    # The file holds the moment of the freeze (count 1), not what came after.
    again = Capsule("bg", env=host.env, argv=[CAPRUN, path]).start()
    with connect(again.addr, 9000) as s2:
        check_eq(next_count(s2), 2, "the resumed capsule's next count")
    again.stop()


def back_to_back():
    """Once capctl has its answer, the next snapshot is taken, not refused as "still being
    written": the writer releases its copy of the memory (milliseconds for 64 MiB) before it
    answers, never after."""
    d = tempdir()
    host = Host()
    cap = host.capsule("memtouch", name="b2b").start()
    s = connect(cap.addr, MEMTOUCH_PORT, timeout=60)
    s.settimeout(60)
    check(request(s, "touch %d" % BACK_TO_BACK_MIB).startswith("touched"), "memtouch touched")
    for i in range(BACK_TO_BACK):
        path = os.path.join(d, "b2b.snap")
        snapshot(host, cap, path, keep_running=True, timeout=120)   # exit 0, or it fails here
        os.unlink(path)
    check_eq(request(s, "check"), "check ok %d 0" % (BACK_TO_BACK_MIB * 256),
             "memtouch's check after %d snapshots" % BACK_TO_BACK)
    s.close()
    cap.stop()


def main():
    tap = Tap()
    tap.run("background snapshot: the capsule serves while its --keep-running snapshot is written, "
            "a second one is refused meanwhile, and the file resumes at the freeze",
            serves_while_written)
    tap.run("background snapshot: %d taken back to back, each asked for as the one before "
            "answered, none refused" % BACK_TO_BACK, back_to_back)
    tap.done()


if __name__ == "__main__":
    main()
