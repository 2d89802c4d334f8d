"""abbench.py: two builds side by side (e.g. before and after a change): round trip, calls and throughput, alternating.

    unshare -n sh -c 'ip link set lo up && python3 tests/bench/abbench.py OTHER_TREE'

OTHER_TREE is another checkout with its own build/ (its caprun, caploader and
echo.cap); "this" is the tree this script is in.  Both echo capsules run at
once and are measured in alternating slices, so a busy machine hits both
alike.  Not part of make bench: it needs a second build.
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from caplib import Capsule  # noqa: E402
import bench  # noqa: E402

THIS = os.path.abspath(os.path.join(HERE, "..", ".."))


def capsule(tree, name, ip, mtu):
    build = os.path.join(tree, "build")
    return Capsule("echo", argv=[os.path.join(build, "bin", "caprun"), "--mtu", str(mtu),
                                 "--ip", ip, "--name", name,
                                 os.path.join(build, "images", "echo.cap")]).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("other", help="the other tree (with a build/)")
    ap.add_argument("--rtts", type=int, default=20000)
    ap.add_argument("--count-rtts", type=int, default=5000)
    ap.add_argument("--mib", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    trees = (("other", os.path.abspath(a.other)), ("this", THIS))
    for mtu in (65000, 1500):
        caps = [capsule(tree, name, "198.18.0.%d" % (20 + i), mtu)
                for i, (name, tree) in enumerate(trees)]
        try:
            if mtu == 65000:
                r0, r1 = bench.round_trip_pair_us(caps[0].addr, caps[1].addr, a.rtts, slices=20)
                print("64-byte round trip, medians of %d: other %.1f us, this %.1f us" %
                      (a.rtts, r0, r1))
                for (name, _), c in zip(trees, caps):
                    bench.count_row(name + " caprun", bench.perf_counts(c.proc.pid, c.addr,
                                                                        a.count_rtts))
                    bench.count_row(name + " capsule", bench.perf_counts(c.inner[0][0], c.addr,
                                                                         a.count_rtts))
            tps = [[bench.throughput_mib_s(c.addr, a.mib << 20) for c in caps]
                   for _ in range(a.repeat)]
            print("echo throughput at MTU %d, medians of %d (%d MiB): other %.1f MiB/s, "
                  "this %.1f MiB/s" % (mtu, a.repeat, a.mib, statistics.median(t[0] for t in tps),
                                       statistics.median(t[1] for t in tps)))
        finally:
            for c in caps:
                c.stop()


if __name__ == "__main__":
    main()
