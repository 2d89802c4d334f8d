"""migbench.py: live migration figures: the longest gap a client sees during a migration against an equal period without one, capctl's downtime and total time, bytes moved, for 4 and 64 MiB of touched heap and 1 or 100 connections."""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from miglib import Topology, migrate, request, stop_all   # noqa: E402
from talker import Talker   # noqa: E402

PORT = 9003   # images/memtouch


def one_config(mib, conns, runs):
    """Two capsule hosts A and B, a gateway G and the client; memtouch moves A <-> B."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    cap = topo["A"].capsule("memtouch", name="bench").start()
    ctl = topo.client.connect(cap.addr, PORT, timeout=120)
    ctl.settimeout(120)
    reply = request(ctl, "touch %d" % mib)
    if not reply.startswith("touched"):
        raise RuntimeError("memtouch: %r" % reply)
    idle = []
    for _ in range(conns - 1):   # the talker is the last one
        s = topo.client.connect(cap.addr, PORT, timeout=120)
        s.settimeout(120)
        request(s, "ping")
        idle.append(s)
    talker = Talker(topo.client.connect(cap.addr, PORT, timeout=120))
    rows = []
    here, there = topo["A"], topo["B"]
    try:
        for _ in range(runs):
            talker.wait_replies(20)
            talker.reset_longest()
            t0 = time.monotonic()
            j = migrate(topo, "bench", here, there)
            talker.wait_replies(20)
            period = time.monotonic() - t0
            gap = talker.longest
            # The baseline: the same clients over an equal period with no migration.
            talker.reset_longest()
            time.sleep(period)   # measuring a period of normal service is the point here
            rows.append({"gap_ms": gap * 1000, "base_ms": talker.longest * 1000,
                         "downtime_ms": j["downtime_ms"], "total_ms": j["total_ms"],
                         "mib": j["bytes"] / (1 << 20), "period_ms": period * 1000})
            here, there = there, here
        for s in idle + [ctl]:   # every connection survived all the moves
            request(s, "ping")
    finally:
        talker.close()
        for s in idle + [ctl]:
            s.close()
        stop_all()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    print("\nlive migration (memtouch capsule moving A <-> B, client through gateway G; medians "
          "of %d migrations)" % a.runs)
    print("%-20s %9s %14s %12s %11s %10s %13s" % (
        "touched heap, conns", "MiB sent", "client gap ms", "downtime ms", "total ms",
        "window ms", "baseline ms"))
    for mib in (4, 64):
        for conns in (1, 100):
            label = "%d MiB, %d" % (mib, conns)
            try:
                rows = one_config(mib, conns, a.runs)
            except Exception as e:   # benchmarks never gate: say what broke, go on
                print("%-20s failed: %s" % (label, " ".join(str(e).split())[:300]))
                stop_all()
                continue

            def med(k):
                return statistics.median(r[k] for r in rows)
            print("%-20s %9.2f %14.1f %12.0f %11.0f %10.0f %13.1f" % (
                label, med("mib"), med("gap_ms"), med("downtime_ms"), med("total_ms"),
                med("period_ms"), med("base_ms")), flush=True)
    print("client gap: the longest wait for one ping reply across a migration; downtime, total: "
          "capctl migrate --json; window: from capctl's start to 20 replies after it; "
          "baseline: the longest wait over an equal window with no migration")


if __name__ == "__main__":
    main()
