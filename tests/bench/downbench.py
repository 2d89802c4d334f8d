"""downbench.py: where a live migration's downtime goes, two builds side by side: memtouch moving A <-> B under pre-copy, the downtime and its phases, the longest gap of an ordinary client (through the gateway) and of a capsule peer, the builds alternated within one run."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

PORT = 9003   # images/memtouch
CONFIGS = {   # name: (MiB touched, MiB/s rewritten)
    "64-idle": (64, 0), "1024-idle": (1024, 0), "64-16": (64, 16), "1024-16": (1024, 16),
    "4-idle": (4, 0), "256-idle": (256, 0),
}


def one_topology(mib, churn, moves):
    """Child process: one topology with the build caplib found (CAPTEST_BIN); prints a JSON
    line per migration: downtime, phases, the ordinary client's and the capsule peer's gap."""
    import tempfile
    from miglib import Topology, migrate, request, stop_all   # noqa: E402
    from talker import Talker, freeze_window   # noqa: E402
    # The hosts' marks say when each move froze the capsule and when it ran again.
    own_trace = not os.environ.get("CAPSULE_TRACE")   # else the caller's, kept as it grows
    trace = os.environ.get("CAPSULE_TRACE") or tempfile.mktemp(prefix="downbench.trace.")
    os.environ["CAPSULE_TRACE"] = trace
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    try:
        cap = topo["A"].capsule("memtouch", name="bench").start()
        ctl = topo.client.connect(cap.addr, PORT, timeout=120)
        ctl.settimeout(120)
        if not request(ctl, "touch %d" % mib).startswith("touched"):
            raise RuntimeError("memtouch would not touch %d MiB" % mib)
        if churn:
            request(ctl, "churn %d" % churn)
        talker = Talker(topo.client.connect(cap.addr, PORT, timeout=120))
        # The capsule peer: a relayer capsule on C whose own connection to memtouch carries
        # a second client's pings (its longest wait is what that capsule peer saw, plus a hop).
        relay = topo["C"].capsule("relayer", name="peer", args=["9100", cap.addr, str(PORT)]).start()
        peer = Talker(topo.client.connect(relay.addr, 9100, timeout=120))
        here, there = topo["A"], topo["B"]
        for _ in range(moves):
            for t in (talker, peer):
                t.wait_replies(20)
                t.reset_longest()
            j = migrate(topo, "bench", here, there, timeout=300)
            for t in (talker, peer):
                t.wait_replies(20)
            conns = j.get("connections", [])
            window = freeze_window(trace) or (float("nan"), float("nan"))
            print("ROW " + json.dumps({
                "gap_ms": talker.longest * 1000, "peer_gap_ms": peer.longest * 1000,
                "freeze_gap_ms": talker.longest_across(*window),
                "peer_freeze_gap_ms": peer.longest_across(*window),
                "downtime_ms": j["downtime_ms"],
                "phases": j["phases"], "frozen_kib": j["bytes"] / 1024,
                "rounds": j["precopy"]["rounds"],
                "host_gap_ms": max([c["gap_ms"] for c in conns] or [-1])}), flush=True)
            here, there = there, here
        talker.close()
        peer.close()
        if request(ctl, "check") != "check ok %d 0" % (mib * 256):
            raise RuntimeError("memtouch's memory check failed after the moves")
        ctl.close()
    finally:
        stop_all()
        if own_trace and os.path.exists(trace):
            os.unlink(trace)


def run_child(bin_dir, mib, churn, moves):
    env = dict(os.environ, CAPTEST_BIN=bin_dir)
    p = subprocess.run([sys.executable, "-u", __file__, "--child", str(mib), str(churn), str(moves)],
                       env=env, capture_output=True, text=True, timeout=1800)
    rows = [json.loads(line[4:]) for line in p.stdout.splitlines() if line.startswith("ROW ")]
    if p.returncode != 0 and not rows:
        raise RuntimeError((p.stderr or p.stdout)[-400:])
    return rows


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        one_topology(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="bin directory of the baseline build")
    ap.add_argument("--after", required=True, help="bin directory of the build measured")
    ap.add_argument("--rounds", type=int, default=3, help="topologies per build and config")
    ap.add_argument("--moves", type=int, default=3, help="migrations per topology")
    ap.add_argument("--configs", default="64-idle,1024-idle,64-16,1024-16")
    a = ap.parse_args()
    print("pre-copy live migration, two builds alternated (%d x %d migrations each); medians; "
          "load average at start %.1f" % (a.rounds, a.moves, os.getloadavg()[0]))
    print("%-22s %-7s %9s %12s %10s %10s %10s %9s   %s" % (
          "touched, writing", "build", "downtime", "freeze gaps", "client gap", "peer gap",
          "host gap", "frozen", "phases ms: sync freeze transfer restore directory flush"))
    for name in a.configs.split(","):
        mib, churn = CONFIGS[name]
        rows = {"before": [], "after": []}
        for _ in range(a.rounds):
            for build in ("before", "after"):   # alternated: the machine's load hits both alike
                try:
                    rows[build] += run_child(getattr(a, build), mib, churn, a.moves)
                except Exception as e:   # benchmarks never gate: say what broke, go on
                    print("%s %s: failed: %s" % (name, build, " ".join(str(e).split())[:300]))
        for build in ("before", "after"):
            r = rows[build]
            if not r:
                continue

            def med(f):
                return statistics.median(f(x) for x in r)
            phases = " ".join("%4.0f" % med(lambda x, p=p: x["phases"][p + "_ms"]) for p in
                              ("sync", "freeze", "transfer", "restore", "directory", "flush"))
            print("%-22s %-7s %6.0f ms %4.1f/%4.1f ms %7.1f ms %7.1f ms %7.0f ms %5.0f KiB   %s"
                  "   (n=%d)" % (
                "%d MiB, %s" % (mib, "%d MiB/s" % churn if churn else "idle"), build,
                med(lambda x: x["downtime_ms"]), med(lambda x: x["freeze_gap_ms"]),
                med(lambda x: x["peer_freeze_gap_ms"]), med(lambda x: x["gap_ms"]),
                med(lambda x: x["peer_gap_ms"]),
                med(lambda x: x["host_gap_ms"]), med(lambda x: x["frozen_kib"]), phases, len(r)),
                flush=True)
    print("downtime: capctl migrate's (the source's sync done to the target's STARTED); freeze "
          "gaps: the longest wait of the client's and the capsule peer's pings outstanding between "
          "the source's SYNC and the moved capsule's READY (CAPSULE_TRACE marks); client "
          "gap: the longest wait for one ping reply through the gateway across the whole "
          "migration, pre-copy rounds included; peer gap: the same through a "
          "relayer capsule on a third host (a capsule peer); host gap: the longest "
          "silence a host measured on a capsule connection (capctl migrate's gaps); load average "
          "at the end %.1f" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
