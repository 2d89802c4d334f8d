"""test_calls.py: eventfd, timerfd, signalfd, itimers, descriptor flags, epoll ET/ONESHOT and prctl: the same program natively and in a capsule prints the same checks; timers and an eventfd carry on across a snapshot."""
import os
import re
import subprocess
import time

from caplib import (CAPRUN, IMAGES, ROOT, Host, Tap, check, check_eq, need_capsule_host, snapshot,
                    tempdir)

CHECK_RE = re.compile(r"^(ok|FAIL) ")
TICK_RE = re.compile(r"^tick (\d+) timerfd (\d+) itimer (\d+) eventfd (\d+)$")


def checks_of(text):
    return [l for l in text.splitlines() if CHECK_RE.match(l)]


def run(argv, timeout=60):
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def native_calls():
    """images/calls/calls.c built with the host's gcc: what Linux itself answers."""
    exe = os.path.join(tempdir("capsule-calls."), "calls")
    code, out, err = run(["gcc", "-std=c11", "-O2", "-pthread", "-o", exe,
                          os.path.join(ROOT, "images", "calls", "calls.c")])
    check(code == 0, "gcc calls.c: %s" % err[-400:])
    return exe


def same_as_linux():
    code, native, err = run([native_calls()])
    check_eq(code, 0, "native calls exit code (output: %s %s)" % (native[-600:], err[-300:]))
    want = checks_of(native)
    check(len(want) > 100, "native run printed only %d checks" % len(want))
    code, out, err = run([CAPRUN, os.path.join(IMAGES, "calls.cap")], timeout=120)
    got = checks_of(out)
    failed = [l for l in got if l.startswith("FAIL")]
    check(not failed, "in the capsule: %s" % "; ".join(failed[:5]))
    check_eq(got, want, "checks in the capsule against the native run")
    check_eq(code, 0, "caprun exit code (stderr %s)" % err[-300:])


def ticks(cap, start=0):
    with cap.cond:
        lines = cap.lines[start:]
    return [tuple(int(x) for x in m.groups())
            for m in (TICK_RE.match(t) for s, t in lines if s == "out") if m]


def wait_ticks(cap, n, timeout=30):
    """Wait for n tick lines; returns them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = ticks(cap)
        if len(got) >= n:
            return got
        cap.wait_for(r"^tick %d " % (len(got) + 1), 1)
    check(False, "only %d ticks within %ds: %s" % (len(ticks(cap)), timeout, cap.output_text()[-400:]))


def timers_survive_snapshot():
    host, d = Host(), tempdir()
    cap = host.capsule("timers", name="timers").start(app_ready=r"^tick 3 ")
    path = os.path.join(d, "timers.snap")
    snapshot(host, cap, path)
    before = ticks(cap)
    last = before[-1]
    check_eq(last[3], 42, "eventfd counter before the snapshot")
    code, out, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect exit code (stderr %s)" % err)
    check(re.search(r"eventfd\s+count 42\b", out), "inspect shows no eventfd with count 42: %s" % out)
    check(re.search(r"timerfd\s+monotonic, next in \d+ ns, interval 100000000 ns", out),
          "inspect shows no armed 100 ms timerfd: %s" % out)
    check(re.search(r"signalfd\s+mask 0x200 ", out), "inspect shows no SIGUSR1 signalfd: %s" % out)
    time.sleep(1.5)   # on disk: the capsule's clock stands still meanwhile
    again = host.resume(path, plain=True)
    after = wait_ticks(again, 5)
    first = after[0]
    check_eq(first[0], last[0] + 1, "first tick number after resume (the last before was %d)" % last[0])
    # Both timers continue on the virtual clock: counts go on from where they were, with no
    # burst for the 1.5 s the capsule spent on disk (15 periods of 100 ms).
    check(last[1] < first[1] <= last[1] + 5, "timerfd count %d after resume, %d before" % (first[1], last[1]))
    check(last[2] <= first[2] <= last[2] + 5, "itimer count %d after resume, %d before" % (first[2], last[2]))
    check(after[-1][1] >= last[1] + 4 and after[-1][2] >= last[2] + 3,
          "timers stopped after resume: %s" % after)
    check(all(t[3] == 42 for t in after), "eventfd counter after resume: %s" % after)
    again.stop()


def timers_survive_migration():
    from miglib import Topology, migrate
    topo = Topology(hosts=("A", "B"), client=False).start()
    a, b = topo["A"], topo["B"]
    cap = a.capsule("timers", name="tm").start(app_ready=r"^tick 3 ")
    mark = b.daemon.mark()
    migrate(topo, "tm", a, b)
    check_eq(cap.wait_exit(10), 0, "exit status of the source caprun")
    last = ticks(cap)[-1]
    # On host B the capsule's console is caphostd's (it started the target caprun).
    want = re.compile(r"tick %d timerfd (\d+) itimer (\d+) eventfd (\d+)" % (last[0] + 5))
    m = b.daemon.wait_for(want, 30, mark)
    check(m, "no tick %d on host B: %s" % (last[0] + 5, b.daemon.output_text()[-600:]))
    timerfd, itimer, count = (int(x) for x in m.groups())
    check(last[1] + 4 <= timerfd <= last[1] + 12 and last[2] + 3 <= itimer <= last[2] + 12,
          "timers after the move: timerfd %d itimer %d; before: %s" % (timerfd, itimer, last))
    check_eq(count, 42, "eventfd counter after the move")


def main():
    tap = Tap()
    if not need_capsule_host(tap, "calls: the capsule answers as Linux does"):
        tap.run("calls: the capsule answers as Linux does (eventfd, timerfd, signalfd, itimers, "
                "pipe2/dup3/accept4 flags, SO_REUSEPORT, epoll ET and ONESHOT)", same_as_linux)
    name = "calls: timerfd and itimer keep firing and an eventfd keeps its count across a snapshot"
    if not need_capsule_host(tap, name):
        tap.run(name, timers_survive_snapshot)
    name = "calls: timerfd, itimer and eventfd carry on across a live migration"
    if not need_capsule_host(tap, name):
        tap.run(name, timers_survive_migration)
    tap.done()


main()
