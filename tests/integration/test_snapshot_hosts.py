"""test_snapshot_hosts.py: a snapshot taken on one "host" (namespace + run directory) resumes on another; a --keep-running snapshot gives two independent capsules."""
import json
import os

from caplib import (Host, Tap, check_eq, connect, need_capsule_host, net_state, next_count,
                    no_guard, snapshot, tempdir)


def resume_on_another_host():
    d = tempdir()
    before = net_state()
    a = Host()                 # this test's namespace, run directory A
    b = Host(netns=True)       # a namespace of its own, run directory B
    cap = a.capsule("counter", name="mover").start()
    with connect(cap.addr, 9000) as s:
        check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies on host A")
    path = os.path.join(d, "mover.snap")
    snapshot(a, cap, path)
    check_eq(no_guard(net_state()), no_guard(before),
             "host A's links, addresses and routes after the capsule left")
    b_before = b.net_state()
    moved = b.resume(path, name="mover-b")   # --name: known by another name on host B
    check_eq((moved.name, moved.addr), ("mover-b", cap.addr), "name and address on host B")
    code, out, err = b.capctl(["ps", "--json"])
    check_eq((code, [(r.get("name"), r.get("ip")) for r in json.loads(out)] if code == 0 else out),
             (0, [("mover-b", cap.addr)]), "host B's capctl ps --json (stderr %r)" % err)
    s = b.connect(moved.addr, 9000)
    check_eq([next_count(s) for _ in range(2)], [4, 5], "a new connection on host B")
    s.close()
    code, out, err = a.capctl(["ps", "--json"])
    check_eq((code, json.loads(out) if code == 0 else out), (0, []),
             "host A's capctl ps --json (stderr %r)" % err)
    moved.stop()
    check_eq(no_guard(b.net_state()), no_guard(b_before),
             "host B's links, addresses and routes after caprun stopped")


def keep_running_and_clone():
    d = tempdir()
    a, b = Host(), Host(netns=True)
    cap = a.capsule("counter", name="twin").start()
    s = connect(cap.addr, 9000)
    check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies before the snapshot")
    path = os.path.join(d, "twin.snap")
    snapshot(a, cap, path, keep_running=True)
    check_eq(next_count(s), 4, "host A's capsule after --keep-running")
    clone = b.resume(path)
    check_eq(clone.addr, cap.addr, "the clone's address")
    s2 = b.connect(clone.addr, 9000)
    check_eq(next_count(s2), 4, "the clone continues from the snapshot's count")
    check_eq(next_count(s), 5, "host A's capsule is not affected by the clone")
    check_eq(next_count(s2), 5, "the clone is not affected by host A's capsule")
    check_eq(cap.proc.poll(), None, "host A's caprun still running")
    s.close()
    s2.close()


def main():
    tap = Tap()
    tests = [
        ("snapshot: resume in another namespace with its own run directory, count continues",
         resume_on_another_host),
        ("snapshot: --keep-running original and a clone on another host both continue",
         keep_running_and_clone),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
