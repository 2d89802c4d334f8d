"""snapbench.py: snapshot and resume: times, file sizes and the longest gap a client sees, for 4 and 64 MiB of touched heap and 1 or 100 connections; resume to first reply, lazy against --eager (and the same file as version 2); and --keep-running snapshots, pre-copied against copied frozen, 4 MiB to 1 GiB, idle or rewriting 16 MiB/s."""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import (Host, connect, host_snapshot_key, recv_line, request,  # noqa: E402
                    snap_as_version, snapshot, stop_all, tempdir)
from remotelib import remote_client  # noqa: E402
from talker import Talker  # noqa: E402

PORT = 9003   # images/memtouch


def one_config(mib, conns, cycles, local):
    host, d = Host(), tempdir()
    cap = host.capsule("memtouch", name="bench").start()
    # The talker on "another machine" (remotelib): its packets are lost while no caprun
    # runs, so its kernel backs off as a real client's would; a local one gets errors instead.
    remote = None if local else remote_client(cap.addr)
    ctl = connect(cap.addr, PORT, timeout=120)
    reply = request(ctl, "touch %d" % mib)
    if not reply.startswith("touched"):
        raise RuntimeError("memtouch: %r" % reply)
    idle = []
    for _ in range(max(0, conns - 2)):   # the late asker and the talker are the last two
        s = connect(cap.addr, PORT, timeout=120)
        request(s, "ping")
        idle.append(s)

    def dial():
        return (remote.connect(cap.addr, PORT, timeout=120) if remote else
                connect(cap.addr, PORT, timeout=120))
    late = dial()   # asks once per cycle, while the capsule is on disk: certainly lost
    request(late, "ping")
    idle.append(late)
    talker = Talker(dial())
    rows = []
    try:
        for i in range(cycles):
            talker.wait_replies(20)
            talker.reset_longest()
            path = os.path.join(d, "bench%d.snap" % i)
            t_snap = time.monotonic()
            snap = snapshot(host, cap, path)
            late.sendall(b"ping\n")
            t0 = time.monotonic()
            cap = host.resume(path)
            t1 = time.monotonic()
            recv_line(late)
            late_ms = (time.monotonic() - t1) * 1000
            resume_ms = (t1 - t0) * 1000
            talker.wait_replies(20)
            rows.append({"size": snap["bytes"], "snap_ms": snap["seconds"] * 1000,
                         "frozen_ms": snap["frozen_ms"], "written_ms": snap["written_ms"],
                         "resume_ms": resume_ms, "paused_ms": (t1 - t_snap) * 1000,
                         "gap_ms": talker.longest * 1000, "late_ms": late_ms,
                         "over_ms": talker.longest * 1000 - (t1 - t_snap) * 1000})
            os.unlink(path)
        for s in idle + [ctl]:   # every connection survived all the cycles
            request(s, "ping")
    finally:
        talker.close()
        for s in idle + [ctl]:
            s.close()
        stop_all()
    return rows


def as_version2(data):
    """The same snapshot as this host wrote it before format version 3: no chunk table, the
    checksum over the whole file, the MAC with this host's key (caplib's CAPSULE_HOST_KEY)."""
    return snap_as_version(data, 2, host_snapshot_key())


def first_reply_config(mib, runs):
    """caprun FILE launched -> the first reply on a new connection, for a stopped memtouch
    snapshot with mib MiB touched: lazily (the default), --eager (every chunk loaded and
    checked first: the baseline), and the same capsule as a version 2 file (eager, one
    checksum over all of it), alternated in one run."""
    host, d = Host(), tempdir()
    cap = host.capsule("memtouch", name="first").start()
    ctl = connect(cap.addr, PORT, timeout=300)
    ctl.settimeout(300)
    try:
        if not request(ctl, "touch %d" % mib).startswith("touched"):
            raise RuntimeError("memtouch did not touch %d MiB" % mib)
        ctl.close()
        written = os.path.join(d, "written.snap")   # as this build writes it (version 5)
        snapshot(host, cap, written, timeout=300)
        v2 = os.path.join(d, "v2.snap")
        with open(written, "rb") as f:
            data = f.read()
        with open(v2, "wb") as f:
            f.write(as_version2(data))
        del data
        rows = {"lazy": [], "eager": [], "v2": []}
        for _ in range(runs):
            for mode, path, extra in (("lazy", written, ()), ("eager", written, ("--eager",)), ("v2", v2, ())):
                t0 = time.monotonic()
                cap = host.resume(path, timeout=300, extra=extra)
                s = connect(cap.addr, PORT, timeout=300)
                if not request(s, "ping").startswith("pong "):
                    raise RuntimeError("no pong from the resumed capsule")
                rows[mode].append((time.monotonic() - t0) * 1000)
                s.close()
                cap.stop()
    finally:
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


def first_reply_table():
    print("\ncaprun FILE to the first reply (memtouch, stopped snapshot; medians of 5, the "
          "three ways alternated in one run)")
    print("%-16s %10s %10s %14s %10s" % ("touched", "lazy ms", "eager ms", "v2 eager ms",
                                         "eager/lazy"))
    for mib in (64, 1024):
        try:
            rows = first_reply_config(mib, 5)
        except Exception as e:   # benchmarks never gate
            print("%-16s failed: %s" % ("%d MiB" % mib, " ".join(str(e).split())[:200]))
            continue
        lazy, eager = statistics.median(rows["lazy"]), statistics.median(rows["eager"])
        print("%-16s %10.1f %10.1f %14.1f %9.1fx" % ("%d MiB" % mib, lazy, eager,
                                                   statistics.median(rows["v2"]), eager / lazy),
              flush=True)
    print("from launching caprun to memtouch's first pong on a new connection; lazy: caprun FILE "
          "(pages on demand and in the background, each chunk checked before use); eager: "
          "--eager, every chunk checked and loaded first (the baseline); v2 eager: the same "
          "capsule as a version 2 file (one checksum over all of it)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument("--local", action="store_true",
                    help="the talker in the capsule's own namespace (no back-off: local errors)")
    ap.add_argument("--first-reply-only", action="store_true",
                    help="only the resume-to-first-reply table")
    a = ap.parse_args()
    if a.first_reply_only:
        return first_reply_table()
    print("\nsnapshot / resume (memtouch capsule, 2 GiB arena, default snapshot = stop; "
          "medians of %d cycles; talker %s)" % (
              a.cycles, "local" if a.local else "behind a veth, packets lost while down"))
    print("%-22s %9s %11s %10s %11s %10s %10s %14s %10s %9s" % (
        "touched heap, conns", "file MiB", "capctl ms", "frozen ms", "written ms", "resume ms",
        "paused ms", "client gap ms", "gap-paused", "late ms"))
    for mib in (4, 64):
        for conns in (1, 100):
            try:
                rows = one_config(mib, conns, a.cycles, a.local)
            except Exception as e:   # benchmarks never gate: say what broke, go on
                print("%-22s failed: %s" % ("%d MiB, %d" % (mib, conns), e))
                continue

            def med(k):
                return statistics.median(r[k] for r in rows)
            print("%-22s %9.2f %11.1f %10.1f %11.1f %10.1f %10.1f %14.1f %10.1f %9.1f" % (
                "%d MiB, %d" % (mib, conns), med("size") / (1 << 20), med("snap_ms"),
                med("frozen_ms"), med("written_ms"), med("resume_ms"), med("paused_ms"),
                med("gap_ms"), med("over_ms"), med("late_ms")))
    print("capctl ms: capctl's wall time; resume ms: caprun launch to 'running'; paused ms: "
          "capctl's start to 'running' (the capsule serves nobody in between); client gap: "
          "longest wait for a reply across one cycle (includes the client's TCP retransmission); "
          "gap-paused: median of each cycle's gap minus its pause; late ms: a request sent "
          "once the snapshot is written (lost: no caprun), answered this long after 'running'")
    first_reply_table()
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
