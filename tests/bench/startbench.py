"""startbench.py: start to first reply of echo.cap under several caprun builds and natively, alternating.

    unshare -n sh -c 'ip link set lo up && python3 tests/bench/startbench.py \
        --native build/bench/native/echo /tmp/old/bin/caprun,/tmp/old/echo.cap build/bin/caprun'

Each round starts every variant once, in turn (a caprun, then the next, then the
native echo; which caprun goes first turns from round to round), so a burst of load on
the shared machine hits all of them alike;
it prints each one's median and its ratio to the native one's.  The measure is
bench.py's start_once (launch, "running", connect, one byte echoed back), and
beside it the CPU time the processes used until then (caprun and the capsule, or
the native echo: /proc/PID/schedstat), which load on the machine moves much less.
Each caprun uses the caploader next to it, and the image after its comma if one is
given (an image built by another capcc), else --image.  Below each caprun, the median
gaps between the CAPSULE_TRACE steps it writes (main, opened, linked, ...; a build
older than these marks writes fewer) and the reply.  Not part of make bench: it needs a
second build to be useful.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from caplib import IMAGES, Capsule  # noqa: E402
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("caprun", nargs="+", help="caprun binaries to compare, each CAPRUN[,IMAGE]")
    ap.add_argument("--native", required=True, help="the natively built echo")
    ap.add_argument("--image", default=os.path.join(IMAGES, "echo.cap"))
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    trace = tempfile.mktemp(prefix="startbench.trace.")
    env = dict(os.environ, CAPSULE_TRACE=trace)
    variants = [(v, lambda p=v.split(",")[0], i=(v.split(",") + [a.image])[1]:
                 Capsule("echo", argv=[p, "--ip", "198.18.0.9", i], env=env)) for v in a.caprun]
    variants.append(("native", lambda: Capsule("echo", native=a.native)))
    times = {name: [] for name, _ in variants}
    cpu = {name: [] for name, _ in variants}
    inner = {name: [] for name, _ in variants}
    steps = {name: {} for name, _ in variants}
    try:
        for name, make in variants:   # one unmeasured start each: page cache, binaries
            bench.start_once(make)
        for r in range(a.rounds):
            # The capruns' order turns each round: a caprun's teardown (its device, its
            # filter's hook) still costs the machine for a moment after it exits, and the
            # one started next would always be the one to pay.  The native one stays last.
            k = r % (len(variants) - 1)
            for name, make in variants[k:-1] + variants[:k] + variants[-1:]:
                if os.path.exists(trace):
                    os.unlink(trace)
                t0 = time.monotonic() * 1000
                wall, used, used_inner = bench.start_once(make)
                times[name].append(wall)
                cpu[name].append(used)
                inner[name].append(used_inner)
                if os.path.exists(trace):
                    add_steps(steps[name], trace, t0, t0 + wall)
    finally:
        if os.path.exists(trace):
            os.unlink(trace)
    nat = statistics.median(times["native"])
    nat_cpu = statistics.median(cpu["native"])
    print("start to first reply, medians of %d alternating rounds" % a.rounds)
    for name, _ in variants:
        med = statistics.median(times[name])
        q = statistics.quantiles(times[name], n=4)
        c = statistics.median(cpu[name])
        print("  %-32s %6.1f ms (quartiles %.1f-%.1f) %5.2fx native; CPU %5.1f ms %5.2fx"
              " (capsule process %.1f)" % (name, med, q[0], q[2], med / nat, c, c / nat_cpu,
                                           statistics.median(inner[name])))
        if steps[name]:
            print("      " + ", ".join("%s +%.2f" % (k, statistics.median(v))
                                       for k, v in steps[name].items()))


def add_steps(steps, trace, t0, t1):
    """The gaps between caprun's CAPSULE_TRACE marks of one start (ms, each from the one
    before; the first from the launch), and from the last to the echoed byte."""
    prev, seen = t0, set()
    for line in open(trace):
        t, _pid, what = line.split(None, 2)
        what = what.strip()
        if what not in seen:
            seen.add(what)
            steps.setdefault(what, []).append(float(t) - prev)
            prev = float(t)
    steps.setdefault("reply", []).append(t1 - prev)


if __name__ == "__main__":
    main()
