"""resumebench.py: lazy resume (`caprun FILE`) of one memtouch snapshot to its first reply, under several caprun builds, alternating.

    unshare -n sh -c 'ip link set lo up && python3 tests/bench/resumebench.py \
        /work/main/build/bin/caprun build/bin/caprun --mib 1024 --rounds 25'

snapbench.py's first-reply table compares lazy, --eager and version 2 for one build;
this one compares builds on the same file, as startbench.py does for a fresh start: each
round resumes the snapshot once with every caprun in turn (so a burst of load on the
shared machine hits all alike), from launching caprun to memtouch's first pong on a new
connection, and prints each one's median, with the median gaps between the
CAPSULE_TRACE steps it writes (spawned, started-sent, ready) and the reply.  The
snapshot is made once by the first caprun (--snap FILE keeps it between runs; its host
key must then stay too: CAPSULE_HOST_KEY).  Not part of make bench: it needs a second
build to be useful.

With --each, every caprun resumes a snapshot of its own, made by itself from its own
image (CAPRUN,IMAGE as in startbench.py; memtouch.cap of this build if no image is
given): for builds whose image or snapshot formats differ, so an old caprun cannot read
the new files.  --snap is then a directory, where the files stay as 0.snap, 1.snap, ...
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import IMAGES, Capsule, Host, connect, request, snapshot, stop_all, tempdir  # noqa: E402

PORT = 9003   # images/memtouch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("caprun", nargs="+", help="caprun binaries to compare (CAPRUN[,IMAGE] with --each)")
    ap.add_argument("--mib", type=int, default=1024, help="memory touched before the snapshot")
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--snap", help="the snapshot file (with --each: directory): made if missing, kept")
    ap.add_argument("--each", action="store_true", help="a snapshot per caprun, made by it")
    a = ap.parse_args()
    host = Host()
    trace = tempfile.mktemp(prefix="resumebench.trace.")
    try:
        if a.each:
            where = a.snap or tempdir()
            os.makedirs(where, exist_ok=True)
            paths = {c: os.path.join(where, "%d.snap" % i) for i, c in enumerate(a.caprun)}
        else:
            paths = dict.fromkeys(a.caprun, a.snap or os.path.join(tempdir(), "m.snap"))
        for c, path in paths.items():
            if not os.path.exists(path):
                caprun, image = (c.split(",") + [os.path.join(IMAGES, "memtouch.cap")])[:2]
                argv = [caprun, "--name", "first", image] if a.each else None
                cap = host.capsule("memtouch", name="first", argv=argv).start()
                ctl = connect(cap.addr, PORT, timeout=300)
                ctl.settimeout(300)
                if not request(ctl, "touch %d" % a.mib).startswith("touched"):
                    raise RuntimeError("memtouch did not touch %d MiB" % a.mib)
                ctl.close()
                snapshot(host, cap, path, timeout=300)
        times = {c: [] for c in a.caprun}
        steps = {c: {} for c in a.caprun}
        for r in range(a.rounds + 1):   # round 0 unmeasured: page cache, binaries
            for c in a.caprun:
                if os.path.exists(trace):
                    os.unlink(trace)
                t0 = time.monotonic()
                cap = Capsule("first", env=dict(host.env, CAPSULE_TRACE=trace),
                              argv=[c.split(",")[0], paths[c]]).start(timeout=300)
                s = connect(cap.addr, PORT, timeout=300)
                if not request(s, "ping").startswith("pong "):
                    raise RuntimeError("no pong from the resumed capsule")
                t1 = time.monotonic()
                s.close()
                cap.stop()
                if r == 0:
                    continue
                times[c].append((t1 - t0) * 1000)
                prev, seen = t0 * 1000, set()
                for line in open(trace):
                    t, _pid, what = line.split(None, 2)
                    what = what.strip()
                    if what not in seen:
                        seen.add(what)
                        steps[c].setdefault(what, []).append(float(t) - prev)
                        prev = float(t)
                steps[c].setdefault("reply", []).append(t1 * 1000 - prev)
        print("caprun FILE (%d MiB touched) to the first pong, medians of %d alternating rounds"
              % (a.mib, a.rounds))
        first = statistics.median(times[a.caprun[0]])
        for c in a.caprun:
            med = statistics.median(times[c])
            q = statistics.quantiles(times[c], n=4)
            print("  %-36s %6.1f ms (quartiles %.1f-%.1f) %5.2fx the first" % (c, med, q[0], q[2],
                                                                              med / first))
            print("      " + ", ".join("%s +%.2f" % (k, statistics.median(v))
                                       for k, v in steps[c].items()))
    finally:
        if os.path.exists(trace):
            os.unlink(trace)
        stop_all()


if __name__ == "__main__":
    main()
