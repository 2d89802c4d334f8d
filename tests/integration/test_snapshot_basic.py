"""test_snapshot_basic.py: snapshot and resume of the counter capsule: the same client connection continues, ten cycles in a row, --keep-running, capctl ps."""
import json
import os
import socket
import threading

from caplib import (Host, TestFailure, Tap, check, check_eq, connect, need_capsule_host,
                    next_count, snapshot, tempdir)


def same_connection_continues():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="count").start()
    s = connect(cap.addr, 9000)
    check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies before the snapshot")
    path = os.path.join(d, "count.snap")
    snapshot(host, cap, path)   # default: the capsule stops, caprun exits 0
    check_eq(cap.capsule_pids(), [], "capsule processes left after the snapshot")
    code, out, err = host.capctl(["ps", "--json"])
    check_eq((code, json.loads(out) if code == 0 else out), (0, []),
             "capctl ps after the capsule stopped (stderr %r)" % err)
    again = host.resume(path, plain=True)   # `caprun FILE`: a snapshot, known by its magic
    check_eq((again.name, again.addr), ("count", cap.addr), "name and address after resume")
    check_eq([next_count(s) for _ in range(3)], [4, 5, 6], "same socket after resume")
    with connect(again.addr, 9000) as s2:
        check_eq(next_count(s2), 7, "a new connection after resume")
    check_eq(next_count(s), 8, "the old connection once more")
    s.close()


def ten_cycles_while_talking():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="cycles").start()
    s = connect(cap.addr, 9000, timeout=60)
    got, errors, stop = [], [], threading.Event()
    progress = threading.Condition()

    def client():   # one line, one reply, as fast as it goes, through every cycle
        try:
            while not stop.is_set():
                n = next_count(s)
                with progress:
                    got.append(n)
                    progress.notify_all()
        except Exception as e:
            errors.append(repr(e))
            with progress:
                progress.notify_all()

    def wait_for_more(than):   # the client is really talking to this incarnation
        with progress:
            ok = progress.wait_for(lambda: len(got) > than + 5 or errors, 60)
        check(ok and not errors, "client stalled at %d replies: %s" % (len(got), errors[:1]))

    t = threading.Thread(target=client, daemon=True)
    t.start()
    try:
        for i in range(10):
            wait_for_more(len(got))
            path = os.path.join(d, "cycle%d.snap" % i)
            snapshot(host, cap, path)
            cap = host.resume(path)
            os.unlink(path)
        wait_for_more(len(got))
    except BaseException:
        s.shutdown(socket.SHUT_RDWR)   # unblocks the client; the failure is reported
        raise
    finally:
        stop.set()
        t.join(60)
    check(not errors, "client: %s" % errors[:1])
    check_eq(got, list(range(1, len(got) + 1)), "replies over 10 cycles (%d of them)" % len(got))
    print("# %d replies over 10 snapshot/resume cycles" % len(got))
    s.close()


def keep_running_continues():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="keep").start()
    s = connect(cap.addr, 9000)
    check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies before the snapshot")
    path = os.path.join(d, "keep.snap")
    seen = len(cap.lines)
    snapshot(host, cap, path, keep_running=True)
    check_eq(cap.proc.poll(), None, "caprun still running after --keep-running")
    check(not cap.wait_for("saved to", 0, seen), "caprun said 'saved' with --keep-running")
    check_eq(next_count(s), 4, "same connection after a --keep-running snapshot")
    with connect(cap.addr, 9000) as s2:
        check_eq(next_count(s2), 5, "a new connection after a --keep-running snapshot")
    # a second snapshot of the same capsule works too (it really thawed)
    snapshot(host, cap, os.path.join(d, "keep2.snap"), keep_running=True)
    check_eq(next_count(s), 6, "same connection after a second --keep-running snapshot")
    s.close()


def ps_lists_two():
    host = Host()
    a = host.capsule("counter", name="ps-a", ip="198.18.0.2").start()
    b = host.capsule("echo", name="ps-b", ip="198.18.0.3").start()
    code, out, err = host.capctl(["ps", "--json"])
    check_eq(code, 0, "capctl ps --json exit code (stderr %r)" % err)
    try:
        rows = json.loads(out)
    except ValueError as e:
        raise TestFailure("capctl ps --json is not JSON (%s): %r" % (e, out[:300]))
    check(isinstance(rows, list), "capctl ps --json: not an array: %r" % out[:300])
    by_name = {r.get("name"): r for r in rows}
    check_eq(sorted(by_name), ["ps-a", "ps-b"], "names in capctl ps --json")
    for cap, app in ((a, "counter"), (b, "echo")):
        r = by_name[cap.name]
        missing = {"name", "ip", "state", "memory_bytes", "pid", "processes", "image"} - set(r)
        check(not missing, "%s's row lacks %s: %r" % (cap.name, sorted(missing), r))
        check_eq(r["ip"], cap.addr, "%s ip" % cap.name)
        check_eq(r["processes"], 1, "%s processes" % cap.name)
        check_eq(str(r["state"]).lower(), "running", "%s state" % cap.name)
        check(isinstance(r["memory_bytes"], int) and r["memory_bytes"] > 0,
              "%s memory_bytes: %r" % (cap.name, r["memory_bytes"]))
        pids = [cap.pid] + cap.capsule_pids()
        check(r["pid"] in pids, "%s pid %r is not caprun %d or its capsule %s" % (
            cap.name, r["pid"], cap.pid, cap.capsule_pids()))
        check(app in str(r["image"]), "%s image %r does not name %s" % (cap.name, r["image"], app))
    code, out, err = host.capctl(["ps"])
    check_eq(code, 0, "capctl ps exit code (stderr %r)" % err)
    lines = out.splitlines()
    check_eq(lines[0].split() if lines else [], ["NAME", "IP", "STATE", "MEMORY", "PID", "PROCS",
                                                     "IMAGE"],
             "capctl ps header")
    rows = sorted(l.split()[:3] for l in lines[1:])
    check_eq([[n, ip, st.lower()] for n, ip, st in rows],
             [["ps-a", a.addr, "running"], ["ps-b", b.addr, "running"]], "capctl ps rows")
    # A capsule in another run directory is another host's: not listed here.
    other = Host()
    code, out, err = other.capctl(["ps", "--json"])
    check_eq((code, json.loads(out) if code == 0 else out), (0, []),
             "capctl ps --json in an empty run directory (stderr %r)" % err)


def main():
    tap = Tap()
    tests = [
        ("snapshot: counter stops, resumes, same client socket continues 4, 5, 6",
         same_connection_continues),
        ("snapshot: ten snapshot/resume cycles while a client talks, replies consecutive",
         ten_cycles_while_talking),
        ("snapshot: --keep-running capsule keeps answering", keep_running_continues),
        ("snapshot: capctl ps lists two capsules of one run directory", ps_lists_two),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
