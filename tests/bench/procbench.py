"""procbench.py: fork + exit + wait latency and a pipe's throughput between two processes, in a capsule and natively, alternating.

    python3 tests/bench/procbench.py --native build/bench/native/procs [--rounds 5] [--forks 100]

Both sides run the very same program, images/procs/procs.c's "bench N" mode: N times
fork + _exit + waitpid, then 64 MiB from a child to its parent through a pipe. The
capsule is build/images/procs.cap under `caprun --no-net` (a capsule process per fork,
supervised by one caprun: docs/PROCESSES.md); the baseline is the same source built
with gcc for Linux. Each round runs the capsule, then the native program, so a burst of
load on the shared machine hits both alike; it prints each one's median and the ratio.
Prints numbers, asserts nothing (a failed run is reported and skipped).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from caplib import CAPRUN, IMAGES  # noqa: E402

LINE = re.compile(r"bench: fork\+exit\+wait (\d+) us \((\d+) rounds\); pipe (\d+) MiB/s \((\d+) bytes\)")


def run_once(argv):
    """One run of "bench N": (fork us, pipe MiB/s), or None with the reason printed."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        print("  %s: timed out" % argv[0])
        return None
    m = LINE.search(p.stdout)
    if p.returncode != 0 or not m or int(m.group(4)) != 64 << 20:
        print("  %s: exit %d, %r %r" % (argv[0], p.returncode, p.stdout[-200:], p.stderr[-200:]))
        return None
    return int(m.group(1)), int(m.group(3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True, help="images/procs/procs.c built with gcc")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--forks", type=int, default=100)
    a = ap.parse_args()
    variants = {
        "capsule": [CAPRUN, "--no-net", os.path.join(IMAGES, "procs.cap"), "bench", str(a.forks)],
        "native": [a.native, "bench", str(a.forks)],
    }
    fork_us = {k: [] for k in variants}
    pipe_mib = {k: [] for k in variants}
    for _ in range(a.rounds):
        for name, argv in variants.items():
            r = run_once(argv)
            if r:
                fork_us[name].append(r[0])
                pipe_mib[name].append(r[1])
    print()
    print("processes in a capsule (images/procs bench %d), medians of %d alternating rounds"
          % (a.forks, a.rounds))
    if not all(fork_us.values()):
        print("  not enough runs to compare")
        return
    cf, nf = statistics.median(fork_us["capsule"]), statistics.median(fork_us["native"])
    cp, np_ = statistics.median(pipe_mib["capsule"]), statistics.median(pipe_mib["native"])
    print("  %-34s %8s %8s %7s" % ("", "capsule", "native", "ratio"))
    print("  %-34s %8.0f %8.0f %6.2fx" % ("fork + exit + wait (us)", cf, nf, cf / nf))
    print("  %-34s %8.0f %8.0f %6.2fx" % ("pipe, child -> parent (MiB/s)", cp, np_, cp / np_))


if __name__ == "__main__":
    main()
