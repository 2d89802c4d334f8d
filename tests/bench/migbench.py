"""migbench.py: live migration figures, pre-copy against stop-and-copy in the same run: the longest gap a client sees across the freeze and during the whole migration against an equal period without one, capctl's downtime and total time, bytes moved while running and frozen, for 4 MiB to 1 GiB of touched heap, idle or rewriting 16 MiB/s, 1 or 100 connections."""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from miglib import Topology, migrate, request, stop_all   # noqa: E402
from talker import Talker, freeze_window   # noqa: E402

PORT = 9003   # images/memtouch


def one_config(mib, conns, runs, churn=0, extra=()):
    """Two capsule hosts A and B, a gateway G and the client; memtouch moves A <-> B
    (churn: MiB/s it keeps rewriting; extra: capctl migrate options).  The hosts write
    CAPSULE_TRACE marks, which say when each move froze the capsule and when it ran again."""
    trace = os.environ["CAPSULE_TRACE"] = tempfile.mktemp(prefix="migbench.trace.")
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    cap = topo["A"].capsule("memtouch", name="bench").start()
    ctl = topo.client.connect(cap.addr, PORT, timeout=120)
    ctl.settimeout(120)
    reply = request(ctl, "touch %d" % mib)
    if not reply.startswith("touched"):
        raise RuntimeError("memtouch: %r" % reply)
    if churn:
        request(ctl, "churn %d" % churn)
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
            open(trace, "w").close()
            t0 = time.monotonic()
            j = migrate(topo, "bench", here, there, extra=extra, timeout=300)
            talker.wait_replies(20)
            period = time.monotonic() - t0
            gap = talker.longest
            window = freeze_window(trace)
            freeze_gap = talker.longest_across(*window) if window else float("nan")
            # The baseline: the same clients over an equal period with no migration.
            talker.reset_longest()
            time.sleep(period)   # measuring a period of normal service is the point here
            rows.append({"gap_ms": gap * 1000, "base_ms": talker.longest * 1000,
                         "freeze_gap_ms": freeze_gap,
                         "downtime_ms": j["downtime_ms"], "total_ms": j["total_ms"],
                         "mib": j["bytes"] / (1 << 20), "period_ms": period * 1000,
                         "pre_mib": j["precopy"]["bytes"] / (1 << 20),
                         "rounds": j["precopy"]["rounds"], "pre_ms": j["precopy"]["ms"]})
            here, there = there, here
        for s in idle + [ctl]:   # every connection survived all the moves
            request(s, "ping")
        if request(ctl, "check") != "check ok %d 0" % (mib * 256):
            raise RuntimeError("memtouch's memory check failed after the moves")
    finally:
        talker.close()
        for s in idle + [ctl]:
            s.close()
        stop_all()
        os.environ.pop("CAPSULE_TRACE", None)
        if os.path.exists(trace):
            os.unlink(trace)
    return rows


CONFIGS = [   # (MiB touched, connections, MiB/s rewritten)
    (4, 1, 0), (64, 1, 0), (64, 100, 0), (256, 1, 0), (1024, 1, 0),
    (4, 1, 16), (64, 1, 16), (256, 1, 16), (1024, 1, 16),
]
MODES = [("stop-and-copy", ["--no-precopy"]), ("pre-copy", [])]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--max-mib", type=int, default=1024)
    a = ap.parse_args()
    print("\nlive migration (memtouch capsule moving A <-> B, client through gateway G; medians "
          "of %d migrations; both modes in the same run)" % a.runs)
    print("%-26s %-13s %6s %9s %9s %11s %11s %11s %9s %10s %11s" % (
        "touched, conns, writing", "mode", "rounds", "MiB run", "MiB frozen", "freeze gap",
        "client gap", "downtime", "total", "window", "baseline"))
    for mib, conns, churn in CONFIGS:
        if mib > a.max_mib:
            continue
        for mode, extra in MODES:
            label = "%d MiB, %d, %s" % (mib, conns, "%d MiB/s" % churn if churn else "idle")
            try:
                rows = one_config(mib, conns, a.runs, churn, extra)
            except Exception as e:   # benchmarks never gate: say what broke, go on
                print("%-26s %-13s failed: %s" % (label, mode, " ".join(str(e).split())[:300]))
                stop_all()
                continue

            def med(k):
                return statistics.median(r[k] for r in rows)
            print("%-26s %-13s %6.0f %9.1f %9.2f %8.1f ms %8.1f ms %8.0f ms %6.0f ms %7.0f ms "
                  "%8.1f ms" % (
                label, mode, med("rounds"), med("pre_mib"), med("mib"), med("freeze_gap_ms"),
                med("gap_ms"),
                med("downtime_ms"), med("total_ms"), med("period_ms"), med("base_ms")), flush=True)
    print("rounds, MiB run: pre-copy rounds and what they sent while the capsule ran; MiB "
          "frozen: what moved after the freeze; freeze gap: the longest wait for one ping "
          "reply outstanding between the source's SYNC (its peers hold their packets) and the "
          "moved capsule's READY on the target (the hosts' CAPSULE_TRACE marks); client gap: "
          "the longest wait for one ping reply across the whole migration, pre-copy rounds "
          "included (on this machine every host shares its two CPUs with them); downtime, total: capctl migrate --json; window: from "
          "capctl's start to 20 replies after it; baseline: the longest wait over an equal "
          "window with no migration")


if __name__ == "__main__":
    main()
