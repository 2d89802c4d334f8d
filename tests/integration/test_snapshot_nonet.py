"""test_snapshot_nonet.py: a capsule linked without lwIP (ticker, capcc --cap-no-net) freezes and resumes: its count continues exactly."""
import os
import re

from caplib import Host, Tap, check, check_eq, need_capsule_host, snapshot, tempdir

TICK_RE = re.compile(r"^tick (\d+)$")


def ticks(cap, start=0):
    """The numbers the ticker printed, in order (from output line index start)."""
    with cap.cond:
        lines = cap.lines[start:]
    return [int(m.group(1)) for m in (TICK_RE.match(t) for s, t in lines if s == "out") if m]


def wait_tick(cap, n, start=0, timeout=30):
    """Wait until the ticker printed number n (after line index start); returns the ticks."""
    check(cap.wait_for(r"^tick %d$" % n, timeout, start) is not None,
          "no tick %d within %ds; output: %s" % (n, timeout, cap.output_text()[-400:]))
    return ticks(cap, start)


def consecutive(got, first, what):
    check_eq(got, list(range(first, first + len(got))), what)


def to_disk_and_back():
    host, d = Host(), tempdir()
    cap = host.capsule("ticker", name="tick").start(app_ready=r"^tick 3$")
    check(cap.wait_for(r"^ticker: no network \(", 0) is not None,
          "socket() did not fail in a capsule without a network stack; output: %s" % (
              cap.output_text()[-400:]))
    path = os.path.join(d, "tick.snap")
    snapshot(host, cap, path)   # caprun exits once the capsule is on disk
    before = ticks(cap)
    consecutive(before, 1, "ticks before the snapshot")
    last = before[-1]
    again = host.resume(path, plain=True)
    check_eq(again.name, "tick", "name after resume")
    after = wait_tick(again, last + 5)
    consecutive(after, last + 1, "ticks after resume (the last before it was %d)" % last)
    # And once more, from the resumed process.
    path2 = os.path.join(d, "tick2.snap")
    snapshot(host, again, path2)
    last = ticks(again)[-1]
    third = host.resume(path2)
    consecutive(wait_tick(third, last + 5), last + 1, "ticks after a second resume")
    third.stop()


def keep_running_thaws():
    host, d = Host(), tempdir()
    cap = host.capsule("ticker", name="tick-keep").start(app_ready=r"^tick 3$")
    snapshot(host, cap, os.path.join(d, "keep.snap"), keep_running=True)
    check_eq(cap.proc.poll(), None, "caprun still running after --keep-running")
    n = ticks(cap)[-1]
    got = wait_tick(cap, n + 5)
    consecutive(got, 1, "ticks across a --keep-running snapshot")
    cap.stop()


def main():
    tap = Tap()
    tests = [
        ("snapshot without lwIP: ticker to disk and back twice, the count continues exactly",
         to_disk_and_back),
        ("snapshot without lwIP: --keep-running thaws, the count continues", keep_running_thaws),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
