"""test_stop.py: capctl stop's forced path: a caprun that does not end within --timeout (it waits for a --keep-running snapshot's writer, held by a test hook) is killed; capctl says so and exits 0, caprun and its capsule (computing, never waiting on its host) are gone, and the name is free again."""
import os
import subprocess
import time

from caplib import (CAPCTL, CAPRUN, IMAGES, Host, Tap, alive, check, check_eq, connect,
                    descendants, need_capsule_host, net_state, no_guard, recv_line, tempdir, TestFailure)


def wait_until(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TestFailure("timed out waiting for " + what)
        time.sleep(0.01)   # bounded look at another process's state


def threads(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return 0


def forced_stop():
    d = tempdir(prefix="stop.")
    go = os.path.join(d, "go")
    host = Host()
    before = no_guard(net_state())
    # caprun's snapshot writer waits for this file (CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR)
    host.env["CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR"] = go
    # copied while frozen, no pre-copy thread first: caprun's one other thread is the writer
    host.env["CAPSULE_SNAPSHOT_NO_PRECOPY"] = "1"
    cap = host.capsule("lifecycle", name="stuck", args=["spin"]).start(
        app_ready=r"lifecycle: spins at the first connection")
    capsule = [p for p in cap.capsule_pids() if open("/proc/%d/comm" % p).read() == "caploader\n"]
    check_eq(len(capsule), 1, "one capsule process under caprun %d" % cap.pid)
    snap = subprocess.Popen([CAPCTL, "snapshot", "stuck", "-o", os.path.join(d, "s.snap"),
                             "--keep-running"], env=host.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # The writer is a thread of caprun's own: once it exists, caprun's SIGTERM path
        # (which completes the file first) waits for it.
        wait_until(lambda: threads(cap.pid) >= 2, "caprun's snapshot writer thread")
        # Now the capsule computes without end: it never looks at its host again, so only
        # the parent-death signal can take it down with caprun.
        s = connect(cap.addr, 9200)
        check_eq(recv_line(s), b"spinning\n", "the capsule runs while its snapshot is written")
        s.close()
        t0 = time.monotonic()
        code, out, err = host.capctl(["stop", "--timeout", "1", "stuck"])
        took = time.monotonic() - t0
        check_eq((code, out, err), (0, "capsule stuck killed (it did not stop within 1 s)\n", ""),
                 "capctl stop --timeout 1 of a caprun that cannot stop yet")
        check(1.0 <= took < 6.0, "capctl stop took %.2f s" % took)
        check_eq(cap.wait_exit(10), -9, "caprun's end (SIGKILL)")
        wait_until(lambda: not alive(capsule[0]), "the capsule process %d to end" % capsule[0])
        sout, serr = snap.communicate(timeout=20)
        scode = snap.returncode
        check(scode == 1 and sout == b"" and len(serr.splitlines()) == 1,
              "capctl snapshot whose caprun was killed: exit %d, %r %r" % (scode, sout, serr))
        check(not os.path.exists(os.path.join(d, "s.snap")), "a snapshot file from a killed caprun")
    finally:
        open(go, "w").close()
        if snap.poll() is None:
            snap.kill()
            snap.wait()
    check_eq([p for p in descendants(os.getpid()) if alive(p)], [], "processes left")
    check_eq(no_guard(net_state()), before, "links, addresses, routes left by the killed caprun")
    code, out, err = host.capctl(["ps"])
    check_eq((code, out.splitlines()[1:]), (0, []), "capctl ps after the kill")
    # The name is free again: a new caprun replaces the stale socket.
    code, out, err = host.capctl(["stop", "stuck"])
    check_eq((code, err), (1, "capctl: stop: no capsule named stuck on this host\n"), "stop again")
    p = subprocess.run([CAPRUN, "-d", "--name", "stuck", os.path.join(IMAGES, "lifecycle.cap"),
                        "serve"], env=host.env, capture_output=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, b"stuck\n", b""), "caprun -d --name stuck again")
    code, out, err = host.capctl(["stop", "stuck"])
    check_eq((code, out, err), (0, "capsule stuck stopped\n", ""), "capctl stop of the new one")


def main():
    tap = Tap()
    if need_capsule_host(tap, "stop"):
        tap.done()
    tap.run("stop: a caprun still finishing a snapshot is killed after --timeout; it and its "
            "capsule are gone, the name is free", forced_stop)
    tap.done()


main()
