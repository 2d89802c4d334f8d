"""snapbench.py: snapshot and resume: times, file sizes and the longest gap a client sees, for 4 and 64 MiB of touched heap and 1 or 100 connections; and --keep-running snapshots, pre-copied against copied frozen, 4 MiB to 1 GiB, idle or rewriting 16 MiB/s."""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import Host, connect, request, snapshot, stop_all, tempdir  # noqa: E402
from talker import Talker  # noqa: E402

PORT = 9003   # images/memtouch


def one_config(mib, conns, cycles):
    host, d = Host(), tempdir()
    cap = host.capsule("memtouch", name="bench").start()
    ctl = connect(cap.addr, PORT, timeout=120)
    reply = request(ctl, "touch %d" % mib)
    if not reply.startswith("touched"):
        raise RuntimeError("memtouch: %r" % reply)
    idle = []
    for _ in range(conns - 1):   # the talker is the last one
        s = connect(cap.addr, PORT, timeout=120)
        request(s, "ping")
        idle.append(s)
    talker = Talker(connect(cap.addr, PORT, timeout=120))
    rows = []
    try:
        for i in range(cycles):
            talker.wait_replies(20)
            talker.reset_longest()
            path = os.path.join(d, "bench%d.snap" % i)
            snap = snapshot(host, cap, path)
            t0 = time.monotonic()
            cap = host.resume(path)
            resume_ms = (time.monotonic() - t0) * 1000
            talker.wait_replies(20)
            rows.append({"size": snap["bytes"], "snap_ms": snap["seconds"] * 1000,
                         "frozen_ms": snap["frozen_ms"], "written_ms": snap["written_ms"],
                         "resume_ms": resume_ms, "gap_ms": talker.longest * 1000})
            os.unlink(path)
        for s in idle + [ctl]:   # every connection survived all the cycles
            request(s, "ping")
    finally:
        talker.close()
        for s in idle + [ctl]:
            s.close()
        stop_all()
    return rows


def keep_running_config(mib, churn, precopy, runs):
    """--keep-running snapshots of a memtouch capsule; precopy False: the copy made frozen
    (CAPSULE_SNAPSHOT_NO_PRECOPY=1 in caprun's environment), as before pre-copy."""
    host, d = Host(), tempdir()
    if not precopy:
        host.env["CAPSULE_SNAPSHOT_NO_PRECOPY"] = "1"
    cap = host.capsule("memtouch", name="keep").start()
    ctl = connect(cap.addr, PORT, timeout=120)
    ctl.settimeout(120)
    rows = []
    try:
        if not request(ctl, "touch %d" % mib).startswith("touched"):
            raise RuntimeError("memtouch did not touch %d MiB" % mib)
        if churn:
            request(ctl, "churn %d" % churn)
        talker = Talker(connect(cap.addr, PORT, timeout=120))
        for i in range(runs):
            talker.wait_replies(20)
            talker.reset_longest()
            path = os.path.join(d, "keep%d.snap" % i)
            snap = snapshot(host, cap, path, keep_running=True, timeout=300)
            talker.wait_replies(20)
            rows.append({"frozen_ms": snap["frozen_ms"], "seconds": snap["seconds"],
                         "gap_ms": talker.longest * 1000})
            os.unlink(path)
        talker.close()
        if request(ctl, "check") != "check ok %d 0" % (mib * 256):
            raise RuntimeError("memtouch's memory check failed after the snapshots")
    finally:
        ctl.close()
        stop_all()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=5)
    a = ap.parse_args()
    print("\nsnapshot / resume (memtouch capsule, 1 GiB arena, default snapshot = stop; "
          "medians of %d cycles)" % a.cycles)
    print("%-22s %9s %11s %10s %11s %10s %14s" % (
        "touched heap, conns", "file MiB", "capctl ms", "frozen ms", "written ms", "resume ms",
        "client gap ms"))
    for mib in (4, 64):
        for conns in (1, 100):
            try:
                rows = one_config(mib, conns, a.cycles)
            except Exception as e:   # benchmarks never gate: say what broke, go on
                print("%-22s failed: %s" % ("%d MiB, %d" % (mib, conns), e))
                continue

            def med(k):
                return statistics.median(r[k] for r in rows)
            print("%-22s %9.2f %11.1f %10.1f %11.1f %10.1f %14.1f" % (
                "%d MiB, %d" % (mib, conns), med("size") / (1 << 20), med("snap_ms"),
                med("frozen_ms"), med("written_ms"), med("resume_ms"), med("gap_ms")))
    print("capctl ms: capctl's wall time; resume ms: caprun launch to 'running'; client gap: "
          "longest wait for a reply across one cycle (includes the client's TCP retransmission)")
    print("\nsnapshot --keep-running (memtouch; medians of 3; both ways in the same run)")
    print("%-22s %-14s %10s %11s %14s" % ("touched, writing", "copy", "frozen ms", "capctl ms",
                                           "client gap ms"))
    for mib in (4, 64, 256, 1024):
        for churn in (0, 16):
            for precopy in (False, True):
                label = "%d MiB, %s" % (mib, "%d MiB/s" % churn if churn else "idle")
                mode = "pre-copied" if precopy else "frozen"
                try:
                    rows = keep_running_config(mib, churn, precopy, 3)
                except Exception as e:   # benchmarks never gate
                    print("%-22s %-14s failed: %s" % (label, mode, " ".join(str(e).split())[:200]))
                    continue

                def med(k):
                    return statistics.median(r[k] for r in rows)
                print("%-22s %-14s %10.1f %11.0f %14.1f" % (label, mode, med("frozen_ms"),
                                                            med("seconds") * 1000, med("gap_ms")),
                      flush=True)
    print("frozen ms: caprun's own figure, from FREEZE to THAW; capctl ms: until the file is "
          "written; client gap: longest wait for a ping reply across one snapshot")


if __name__ == "__main__":
    main()
