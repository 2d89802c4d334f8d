"""hostbench.py: round trip, echo and one-way bulk throughput through caphostd (capsule to capsule across two hosts, a client through the gateway) beside loopback and two plain processes over the same veth link."""
import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import topolib  # noqa: E402
from topolib import CAPRUN, IMAGES, Capsule, Topology, stop_all  # noqa: E402

NATIVE = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bench", "native")
RTT_RE = re.compile(r"pingpong: rtt_us=([\d.]+)")
MIB_RE = re.compile(r"pingpong: echo_mib_s=([\d.]+)")
TO_RE = re.compile(r"pingpong: to_mib_s=([\d.]+)")
FROM_RE = re.compile(r"pingpong: from_mib_s=([\d.]+)")


def pingpong(argv, env=None, timeout=180):
    """Run one pingpong (capsule or native) to the end; (rtt us, echo MiB/s, MiB/s one way to
    and from images/bulk)."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    r, m, t, f = RTT_RE.search(out), MIB_RE.search(out), TO_RE.search(out), FROM_RE.search(out)
    if p.returncode != 0 or not r or not m or not t or not f:
        who = next((x for x in argv if "pingpong" in x), argv[0])
        raise RuntimeError("%s: exit %d: %s" % (os.path.basename(who), p.returncode,
                                                " ".join(out.split())[-300:]))
    return float(r.group(1)), float(m.group(1)), float(t.group(1)), float(f.group(1))


def per_round_trip(pids, run, rounds):
    """perf stat on each process while run() makes rounds round trips (+50 warm-up):
    {name: (system calls, context switches, CPU us) per round trip}, or None without perf."""
    perfs = {}
    try:
        for name, pid in pids.items():
            perfs[name] = subprocess.Popen(
                ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter,context-switches,task-clock",
                 "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError:
        return None
    time.sleep(0.5)   # perf attaches; nothing to observe
    run()
    out = {}
    for name, p in perfs.items():
        p.send_signal(signal.SIGINT)
        got = {}
        for line in p.communicate(timeout=30)[1].decode().splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
                got[f[2]] = float(f[0])
        if len(got) == 3:
            n = rounds + 50
            out[name] = (got["raw_syscalls:sys_enter"] / n, got["context-switches"] / n,
                         got["task-clock"] * 1000 / n)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--mib", type=int, default=50)
    ap.add_argument("--bulk-mib", type=int, default=50, help="one way to and from images/bulk")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--caphostd", help="another caphostd binary (a before/after comparison)")
    a = ap.parse_args()
    if a.caphostd:
        topolib.CAPHOSTD = os.path.abspath(a.caphostd)
    nat_echo = os.path.join(NATIVE, "echo")
    nat_pp = os.path.join(NATIVE, "pingpong")
    nat_bulk = os.path.join(NATIVE, "bulk")
    args = [str(a.rounds), str(a.mib)]
    bulk = [str(a.bulk_mib)]
    try:
        topo = Topology(hosts=("A", "B"), gateway="A").start()
        A, B, C = topo["A"], topo["B"], topo.client
        y = B.capsule("echo", name="y").start()                 # the capsule everyone talks to
        # Baselines: a native echo on host B's own address (its kernel, over the veth and the
        # bridge caphostd's wire uses too) and one on the client's loopback.
        nb = Capsule("echo", native=nat_echo, args=["7"], prefix=B.prefix).start()
        nl = Capsule("echo", native=nat_echo, args=["7"], prefix=C.prefix).start()
        # The same for one-way transfers: images/bulk as a capsule on B, natively on B and C.
        z = B.capsule("bulk", name="z").start()
        bb = Capsule("bulk", native=nat_bulk, prefix=B.prefix).start()
        bl = Capsule("bulk", native=nat_bulk, prefix=C.prefix).start()
        paths = [
            ("capsule A -> capsule B (caphostd wire)", lambda i: pingpong(
                A.prefix + [CAPRUN, "--name", "pp%d" % i, os.path.join(IMAGES, "pingpong.cap"),
                            "--", y.addr, "7"] + args + [z.addr] + bulk, env=A.env)),
            ("client -> gateway A -> capsule B", lambda i: pingpong(
                C.prefix + [nat_pp, y.addr, "7"] + args + [z.addr] + bulk)),
            ("plain A -> plain B, same veth link", lambda i: pingpong(
                A.prefix + [nat_pp, B.ip, "7"] + args + [B.ip] + bulk)),
            ("plain, Linux loopback", lambda i: pingpong(
                C.prefix + [nat_pp, "127.0.0.1", "7"] + args + ["127.0.0.1"] + bulk)),
        ]
        got = {name: [] for name, _ in paths}
        for i in range(a.repeat):   # alternating: a busy machine hits every path alike
            for name, fn in paths:
                got[name].append(fn(i))
        print("\nthrough caphostd: 64-byte round trip (median of %d, then median of %d runs) and "
              "echo throughput (%d MiB), images/pingpong as client" % (a.rounds, a.repeat, a.mib))
        print("%-40s %9s %8s %8s %10s %8s %8s" % ("path", "rtt us", "/veth", "/lo", "MiB/s",
                                                  "/veth", "/lo"))
        med = {n: tuple(statistics.median(x[k] for x in v) for k in range(4)) for n, v in got.items()}
        veth, lo = med[paths[2][0]], med[paths[3][0]]
        for name, _ in paths:
            r, m = med[name][:2]
            print("%-40s %9.1f %7.2fx %7.2fx %10.1f %7.2fx %7.2fx" % (
                name, r, r / veth[0], r / lo[0], m, m / veth[1], m / lo[1]))
        print("one way, %d MiB to and from images/bulk on one connection each (median of %d runs)"
              % (a.bulk_mib, a.repeat))
        print("%-40s %10s %8s %8s %10s %8s %8s" % ("path", "to MiB/s", "/veth", "/lo",
                                                  "from MiB/s", "/veth", "/lo"))
        for name, _ in paths:
            t, f = med[name][2:]
            print("%-40s %10.1f %7.2fx %7.2fx %10.1f %7.2fx %7.2fx" % (
                name, t, t / veth[2], t / lo[2], f, f / veth[3], f / lo[3]))
        for h in (A, B):
            s = h.stats()
            print("  caphostd %s: up_pkts/wire counters: %s" % (h.name, " ".join(
                "%s=%d" % (k, v) for k, v in sorted(s.items())
                if k in ("up_pkts_in", "up_pkts_out", "data_in", "data_out", "wire_ok") and v)))
        counts = per_round_trip(
            {"caphostd A (gateway)": A.daemon.proc.pid, "caphostd B": B.daemon.proc.pid,
             "caprun on B": y.proc.pid, "capsule on B": y.inner[0][0]},
            lambda: subprocess.run(C.prefix + [nat_pp, y.addr, "7", str(a.rounds), "0"],
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=180),
            a.rounds)
        print("per 64-byte round trip client -> gateway A -> capsule B (perf stat, %d round trips)"
              % a.rounds)
        for name, c in (counts or {}).items():
            print("  %-24s %6.2f system calls %6.2f context switches %7.1f us CPU" % ((name,) + c))
        if not counts:
            print("  (perf stat unavailable)")
        for c in (nb, nl, bb, bl):
            c.stop()
    except Exception as e:   # benchmarks never gate: say what broke
        print("hostbench failed: %s" % " ".join(str(e).split())[:400])
    finally:
        stop_all()


if __name__ == "__main__":
    main()
